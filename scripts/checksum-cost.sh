#!/usr/bin/env bash
# What per-line checksums cost, and what this version costs against an
# older build: linesvr with line checksums, linesvr without, and
# optionally an older linesvr binary, each serving FILE with one worker
# and its own index; linesvr-bench runs alternate between them (every run
# with --verify) at c=50 P=1 and c=50 P=16, and the median req/s of each
# is printed with ratios. Stays on 127.0.0.1; every run is bounded by -d.
#
# usage: scripts/checksum-cost.sh FILE [RUNS] [OLD_LINESVR]
set -euo pipefail
file=$(realpath "$1") runs=${2:-5} old=${3:-}
bin=${LINESVR:-build/linesvr}
bench=${BENCH:-build/linesvr-bench}
dur=${DURATION:-5}
tmp=$(mktemp -d)
cleanup() {
	kill $(cat "$tmp"/*.pid 2>/dev/null) 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# NAME BIN [INI LINES] -> starts it, writes its port to $tmp/NAME.port
start() {
	local name=$1 exe=$2 conf=$tmp/$1.ini
	printf '[server]\nfile = %s\nport = 0\nworkers = 1\n[index]\npath = %s\n%s\n' \
	    "$file" "$tmp/$name.lidx" "${3:-}" >"$conf"
	"$exe" -c "$conf" >"$tmp/$name.log" 2>&1 &
	echo $! >"$tmp/$name.pid"
	for _ in $(seq 3000); do
		port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$tmp/$name.log")
		[ -n "$port" ] && { echo "$port" >"$tmp/$name.port"; return; }
		sleep 0.01
	done
	echo "checksum-cost: $exe did not start" >&2
	cat "$tmp/$name.log" >&2
	exit 1
}

names="crc nocrc"
start crc "$bin" "line_checksums = yes"
start nocrc "$bin" "line_checksums = no"
if [ -n "$old" ]; then
	names="$names old"
	start old "$old"  # an older build may not know line_checksums
fi

pick='NR==1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { print name, $col["pipeline"], $col["req_per_s"], $col["lat_p50_ns"],
      $col["mismatches"], $col["status"] }'
for i in $(seq "$runs"); do
	for p in 1 16; do
		for name in $names; do
			"$bench" -p "$(cat "$tmp/$name.port")" -c 50 -P "$p" \
			    -d "$dur" --verify "$file" --csv -q |
			    awk -F, -v name=$name "$pick" >>"$tmp/runs.txt"
		done
	done
done
echo "server P req/s p50_ns mismatches status"
cat "$tmp/runs.txt"
med() { awk -v n="$1" -v p="$2" '$1 == n && $2 == p { print $3 }' \
    "$tmp/runs.txt" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "medians of $runs runs of ${dur} s, c=50:"
for p in 1 16; do
	c=$(med crc $p) n=$(med nocrc $p)
	line="P=$p  with checksums $c  without $n  with/without $(awk -v a="$c" -v b="$n" 'BEGIN { printf "%.3f", a / b }')"
	if [ -n "$old" ]; then
		o=$(med old $p)
		line="$line  old $o  with/old $(awk -v a="$c" -v b="$o" 'BEGIN { printf "%.3f", a / b }')  without/old $(awk -v a="$n" -v b="$o" 'BEGIN { printf "%.3f", a / b }')"
	fi
	echo "$line"
done
awk '$5 != 0 || $6 != 0 { bad = 1 } END { exit bad }' "$tmp/runs.txt" ||
    { echo "checksum-cost: a run had mismatches or failed" >&2; exit 1; }
