#!/usr/bin/env bash
# Memory and descriptors per connection through HAProxy, on this machine.
#
# usage: scripts/cluster-memory.sh [-k K] [FILE]
#   -k K   idle client connections to hold (default 8000; HAProxy's maxconn
#          is 9,900 and every process here is limited to 20,000 descriptors)
#   FILE   file to serve (default: a 100,000-line file generated in a
#          temporary directory; the file does not matter here)
#
# Starts one replica (linesvr -w 1) behind HAProxy (scripts/cluster.sh
# start 1), then a Python client that opens K connections through HAProxy
# (every one reaching linesvr: TCP mode connects to the server at accept),
# and afterwards sends one GET on each and reads its answer. At each step
# it prints, for HAProxy and for linesvr, RssAnon (private memory: the
# pools, the connection structures) and open descriptors, and for the
# kernel the TCP sockets in use, /proc/net/sockstat's TCP "mem" (pages
# held by socket buffers) and Slab (kernel objects: sockets, files) from
# /proc/meminfo; then the differences divided by K. Loopback only; bounded
# (every wait has a limit); everything started here is stopped by PID.
set -euo pipefail
. "$(dirname "$0")/benchlib.sh"
bench_root

say() { printf 'cluster-memory: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

K=8000 file=
while [ $# -gt 0 ]; do
	case $1 in
	-k) K=$2; shift ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1 (--help)" ;;
	*) file=$1 ;;
	esac
	shift
done
[ "$K" -le 9800 ] || die "-k $K: at most 9,800 (HAProxy maxconn 9,900)"
need_cmd haproxy haproxy
install_need ": install haproxy first"
build_bins
tmp=$(mktemp -d)
RUN=$tmp/c
CLUSTER=$here/scripts/cluster.sh
cleanup() {
	local st=$? f p
	trap - EXIT INT TERM
	[ -z "${CPID:-}" ] || { kill -TERM "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true; }
	if [ -f "$RUN/cluster.env" ]; then
		"$CLUSTER" -r "$RUN" stop >/dev/null 2>&1 || true
		for f in "$RUN"/*.pid; do
			[ -f "$f" ] || continue
			p=$(cat "$f")
			if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF "$RUN/"; then
				kill -KILL "$p" 2>/dev/null || true
			fi
		done
	fi
	rm -rf "$tmp"
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$file" ]; then
	file=$tmp/mem.txt
	"$B/linesvr-gendata" -n 100000 -s 1 -o "$file"
fi
port=$(free_port)
for _ in $(seq 20); do listening $((port + 1)) || break; port=$(free_port); done
"$CLUSTER" -f "$file" -r "$RUN" -p "$port" -b "$port" -w 1 start 1 >"$tmp/start.log" 2>&1 ||
    { cat "$tmp/start.log" >&2; die "cluster.sh start 1 failed"; }
hp=$(cat "$RUN/haproxy.pid") lp=$(cat "$RUN/r1.pid")
say "HAProxy :$port (pid $hp), linesvr :$((port + 1)) (pid $lp), $K connections"

anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# snap NAME: one line of numbers, kept in $tmp/NAME
snap() {
	local ss
	ss=$(awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) v[$i] = $(i + 1); print v["inuse"], v["mem"] }' /proc/net/sockstat)
	echo "$(anon "$hp") $(fds "$hp") $(anon "$lp") $(fds "$lp") $ss $(awk '/^Slab:/ { print $2 }' /proc/meminfo)" >"$tmp/$1"
}

# The client: K connections, then one GET on each, a step at a time (it
# waits for a line on stdin before each step and says "ok" after it).
cat >"$tmp/client.py" <<'PY'
import socket, sys
port, k = int(sys.argv[1]), int(sys.argv[2])
socks = []
sys.stdin.readline()
for _ in range(k):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    socks.append(s)
print("ok connected", k)
sys.stdin.readline()
bad = 0
for i, s in enumerate(socks):
    n = i % 100000 + 1
    s.sendall(b"GET %d\r\n" % n)
    buf = b""
    while buf.count(b"\n") < 2:
        b = s.recv(4096)
        if not b:
            break
        buf += b
    bad += not buf.startswith(b"OK\r\n")
print("ok answered", k, "bad", bad)
sys.stdin.readline()
PY
coproc CLIENT { exec python3 -u "$tmp/client.py" "$port" "$K"; }
CPID=$CLIENT_PID
step() {	# step NAME: let the client take its next step, then snap NAME
	local line
	echo go >&"${CLIENT[1]}"
	read -r -t 120 line <&"${CLIENT[0]}" || die "client: no answer"
	say "client: $line"
	case $line in *"bad 0"* | "ok connected"*) ;; *) die "client: $line" ;; esac
	sleep 1	# let HAProxy's and linesvr's accepts and the answers settle
	snap "$1"
}
sleep 1
snap before
step connected
step answered
echo go >&"${CLIENT[1]}"
wait "$CPID" || true
CPID=

python3 - "$K" "$tmp/before" "$tmp/connected" "$tmp/answered" <<'PY'
import sys
k = int(sys.argv[1])
names = ["HAProxy RssAnon kB", "HAProxy descriptors", "linesvr RssAnon kB", "linesvr descriptors",
         "kernel TCP sockets in use", "kernel TCP socket buffers (pages)", "kernel Slab kB"]
v = [list(map(int, open(f).read().split())) for f in sys.argv[2:]]
print(f"| {k:,} idle connections through HAProxy | before | connected | after one GET each | per connection (connected) | per connection (after a GET) |")
print("|---|--:|--:|--:|--:|--:|")
for i, n in enumerate(names):
    d1 = (v[1][i] - v[0][i]) / k
    d2 = (v[2][i] - v[0][i]) / k
    if n.endswith("kB"):
        p1, p2 = f"{d1 * 1024:,.0f} bytes", f"{d2 * 1024:,.0f} bytes"
    elif "pages" in n:
        p1, p2 = f"{d1 * 4096:,.0f} bytes", f"{d2 * 4096:,.0f} bytes"
    else:
        p1, p2 = f"{d1:.2f}", f"{d2:.2f}"
    print(f"| {n} | {v[0][i]:,} | {v[1][i]:,} | {v[2][i]:,} | {p1} | {p2} |")
PY
