#!/bin/sh
# make run: generate a sample file if missing, index it, serve it in the
# foreground on port 10497 with conf/linesvr.ini. Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
mkdir -p data
if [ ! -f data/sample.txt ]; then
	echo "run: generating data/sample.txt (1,000,000 lines)"
	"$B/linesvr-gendata" -n 1000000 -s 1 --numbered -o data/sample.txt
fi
if ! "$B/linesvr-index" --check data/sample.txt >/dev/null 2>&1; then
	"$B/linesvr-index" data/sample.txt
fi
cat <<'MSG'
run: serving data/sample.txt on 127.0.0.1:10497 — in another terminal:
  printf 'GET 1\r\n' | nc -q1 localhost 10497
  telnet localhost 10497        (then type: GET 42, STATS, QUIT)
MSG
exec "$B/linesvr" -c conf/linesvr.ini
