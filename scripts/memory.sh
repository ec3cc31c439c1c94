#!/usr/bin/env bash
# Private memory (RssAnon) of linesvr serving FILE: at start, after N random
# GETs, and while HOLD idle connections are open. Loopback only, bounded.
# usage: scripts/memory.sh FILE [N] [HOLD]
set -euo pipefail
B=${B:-build}
file=$1 n=${2:-1000000} hold=${3:-9990}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$B/linesvr-index" --check "$file" >/dev/null 2>&1 || "$B/linesvr-index" -q "$file"
"$B/linesvr" -p 0 "$file" >"$tmp/log" 2>&1 &
pid=$!
echo $pid >"$tmp/pid"
for _ in $(seq 500); do
	port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$tmp/log")
	[ -n "$port" ] && break
	sleep 0.01
done
anon() { awk '/^RssAnon/ { print $2 }' "/proc/$pid/status"; }
echo "RssAnon at start:                    $(anon) kB"
"$B/linesvr-bench" -p "$port" -c 50 -P 16 -n "$n" --verify "$file" -q --csv |
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { printf "bench: %s requests, %s mismatches, status %s\n",
      $c["requests"], $c["mismatches"], $c["status"] }'
before=$(anon)
echo "RssAnon after $n random GETs:  $before kB"
"$B/linesvr-bench" -p "$port" --connect-storm "$hold" -k 1000 --rate 1000 \
    -d 4 -q --csv >"$tmp/storm.csv" &
bench=$!
peak=0
while kill -0 $bench 2>/dev/null; do
	a=$(anon); [ "$a" -gt "$peak" ] && peak=$a
	sleep 0.2
done
wait $bench || echo "storm run exited with status $?"
echo "RssAnon peak with $hold connections: $peak kB (+$((peak - before)) kB," \
    "$(( (peak - before) * 1024 / hold )) bytes per connection)"
