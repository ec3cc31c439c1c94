#!/bin/sh
# load-kv.sh: store a text file's lines in Redis and/or memcached as keys
# 1..N (the value of key n is line n without its LF), so that
# `linesvr-bench --proto redis|memcached --verify FILE` asks them the same
# questions it asks linesvr and checks the same answers.
#
# usage: scripts/load-kv.sh FILE [--redis PORT] [--memcached PORT]
#                           [--host HOST] [--flush]
#
# The loading itself is `linesvr-bench --load FILE --proto P -p PORT`: one
# connection, pipelined binary-safe SETs (RESP multi-bulk for Redis,
# `set n 0 0 len` for memcached) written straight from the mapped file,
# every reply counted; it fails (non-zero) if any SET is refused or the
# server stops answering. --flush empties the server first (FLUSHALL /
# flush_all), so no stale keys beyond N change DBSIZE / curr_items, which
# the bench reads as the key count when -k is not given. Use it only on a
# server started for the benchmark.
#
# memcached refuses values over its item size limit (1 MB by default, -I
# raises it) and evicts when its memory (-m, 64 MB by default) is full:
# start it with room for the file, e.g. -m $((2 * MB + 64)) -I 16m.
set -eu

usage() {
	echo "usage: $0 FILE [--redis PORT] [--memcached PORT] [--host HOST]" \
	    "[--flush]" >&2
	exit 2
}

here=$(cd "$(dirname "$0")/.." && pwd)
bench=${LINESVR_BENCH_BIN:-$here/build/linesvr-bench}
host=127.0.0.1
redis=
memcached=
flush=0
[ $# -ge 1 ] || usage
file=$1
shift
while [ $# -gt 0 ]; do
	case $1 in
	--redis) [ $# -ge 2 ] || usage; redis=$2; shift 2 ;;
	--memcached) [ $# -ge 2 ] || usage; memcached=$2; shift 2 ;;
	--host) [ $# -ge 2 ] || usage; host=$2; shift 2 ;;
	--flush) flush=1; shift ;;
	*) usage ;;
	esac
done
[ -r "$file" ] || { echo "$0: cannot read $file" >&2; exit 2; }
[ -n "$redis$memcached" ] || usage
[ -x "$bench" ] || { echo "$0: no $bench (run make)" >&2; exit 2; }

# One command, its reply awaited for at most 5 s.
say() {
	printf '%s\r\n' "$3" | timeout 5 nc -q1 "$1" "$2" | head -n1
}

load() {	# proto port flush-command
	if [ "$flush" = 1 ]; then
		reply=$(say "$host" "$2" "$3" | tr -d '\r')
		case $reply in
		+OK|OK) ;;
		*) echo "$0: $1 on $host:$2: $3 answered '$reply'" >&2
		   return 1 ;;
		esac
	fi
	"$bench" --load "$file" --proto "$1" -h "$host" -p "$2"
}

status=0
[ -z "$redis" ] || load redis "$redis" FLUSHALL || status=1
[ -z "$memcached" ] || load memcached "$memcached" flush_all || status=1
exit $status
