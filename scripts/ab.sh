#!/usr/bin/env bash
# Compare two linesvr binaries side by side on one file: runs of
# linesvr-bench alternate between them, and the median req/s of each is
# printed with the ratio. Stays on 127.0.0.1; every run is bounded by -d.
# usage: [SERVER_ARGS="-w 1"] scripts/ab.sh BIN_A BIN_B FILE [RUNS] [bench options...]
set -euo pipefail
a=$1 b=$2 file=$3 runs=${4:-3}
shift 4 || shift $#
bench=${BENCH:-build/linesvr-bench}
tmp=$(mktemp -d)
cleanup() {
	kill $(cat "$tmp"/*.pid 2>/dev/null) 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

start() { # BIN NAME -> prints port; the server's output goes to its log
	"$1" -p 0 ${SERVER_ARGS:-} "$file" >"$tmp/$2.log" 2>&1 &
	echo $! >"$tmp/$2.pid"
	for _ in $(seq 500); do
		port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$tmp/$2.log")
		[ -n "$port" ] && { echo "$port"; return; }
		sleep 0.01
	done
	echo "ab: $1 did not start" >&2; exit 1
}
pa=$(start "$a" a); pb=$(start "$b" b)
# Columns of interest, by name, from the CSV header.
pick='NR==1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { print side, $col["pipeline"], $col["req_per_s"], $col["lat_p50_ns"],
      $col["lat_p99_ns"], $col["mismatches"], $col["status"] }'
for i in $(seq "$runs"); do
	for side in a b; do
		port=$pa; [ $side = b ] && port=$pb
		"$bench" -p "$port" --verify "$file" --csv -q "$@" |
		    awk -F, -v side=$side "$pick" >>"$tmp/runs.txt"
	done
done
echo "side P req/s p50_ns p99_ns mismatches status"
cat "$tmp/runs.txt"
med() { awk -v s="$1" '$1 == s { print $3 }' "$tmp/runs.txt" | sort -n |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ma=$(med a); mb=$(med b)
echo "median req/s: a=$ma ($a) b=$mb ($b) b/a=$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", b / a }')"
