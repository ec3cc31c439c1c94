#!/usr/bin/env bash
# How lines_per_page trades the cost of a cache miss against the cache's
# reach: req/s at c = 50, P = 16 for several lines_per_page values, on a
# large file with a small cache, uniform and zipf keys. Writes
# DIR/sweep-pages.csv and DIR/sweep-pages.png.
#
# usage: scripts/sweep-pages.sh [-o DIR] [-s SIZE] [-c CACHE] [-d SECONDS]
#                               [--keep] [M...]
#   -s SIZE    text file size for linesvr-gendata -b (default 10G)
#   -c CACHE   [cache] size (default 64M)
#   -d S       seconds measured per run, after as many of warm-up (default 3)
#   -r RUNS    runs per point (default 3); the plot shows their median
#   --keep     keep the generated file and indexes in DIR/data
#   M...       lines_per_page values (default 16 64 256 1024 4096)
# Every answer is checked (--verify). Loopback only; every run is bounded
# by -d and by timeout(1).
set -euo pipefail
. "$(dirname "$0")/benchlib.sh"
bench_root

say() { printf 'sweep: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

out=$here/results size=10G cache=64M D=3 RUNS=3 keep=0 ms=()
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift ;;
	-s) size=$2; shift ;;
	-c) cache=$2; shift ;;
	-d) D=$2; shift ;;
	-r) RUNS=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) ms+=("$1") ;;
	esac
	shift
done
[ ${#ms[@]} -gt 0 ] || ms=(16 64 256 1024 4096)
need_cmd gnuplot gnuplot-nox
install_need ": install gnuplot-nox first"
build_bins
mkdir -p "$out/data" "$out/logs"
data=$out/data file=$out/data/sweep-$size.txt csv=$out/sweep-pages.csv
cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p"; done
	[ "$keep" = 1 ] || rm -f "$file" "$file".m*.lidx
}
trap cleanup EXIT

[ -s "$file" ] || { say "generating $file"; "$B/linesvr-gendata" -b "$size" -s 3 -o "$file"; }
lines=$(wc -l <"$file")
echo "lines_per_page,keys,rep,req_per_s,lat_p99_ns,mismatches,status" >"$csv"
for m in "${ms[@]}"; do
	idx=$file.m$m.lidx
	[ -s "$idx" ] || "$B/linesvr-index" -q -m "$m" "$file" -o "$idx"
	linesvr_ini "$data/sweep.ini" "$file" "workers = 1" "[index]" \
	    "path = $idx" "lines_per_page = $m" "build = never" "[cache]" \
	    "size = $cache"
	launch_linesvr "$data/sweep.ini" "$out/logs/sweep-m$m.log" "linesvr m=$m"
	for rep in $(seq "$RUNS"); do
		for keys in uniform zipf:0.99; do
			row=$(timeout -k 5 $((2 * D + 90)) "$BENCH" -h 127.0.0.1 -p "$PORT" \
			    -c 50 -P 16 -d "$D" --warmup "$D" --keys "$keys" --verify "$file" \
			    --csv -q | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
			    { print $c["req_per_s"] "," $c["lat_p99_ns"] "," $c["mismatches"] "," $c["status"] }')
			echo "$m,$keys,$rep,$row" >>"$csv"
			say "lines_per_page $m, $keys, run $rep: ${row%%,*} req/s"
		done
	done
	stop_pid "$SPID"
done

# Median req/s per point, for the plot and the summary.
med=$out/sweep-pages-median.csv
echo "lines_per_page,keys,median_req_per_s" >"$med"
for m in "${ms[@]}"; do
	for keys in uniform zipf:0.99; do
		awk -F, -v m="$m" -v k="$keys" '$1 == m && $2 == k { print $4 }' "$csv" |
		    sort -g | awk -v p="$m,$keys" '{ v[NR] = $1 }
		    END { if (NR) print p "," (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }' >>"$med"
	done
done
sed "s/,/\t/g" "$med" >&2
gnuplot <<GP
set terminal pngcairo size 800,500 font "sans,10"
set output "$out/sweep-pages.png"
set title "req/s vs lines_per_page ($size file, cache $cache, c=50 P=16)" noenhanced
set xlabel "lines per page (log scale)"
set ylabel "thousand requests/s"
set logscale x 2
set grid
set key top left
set datafile separator ","
plot "< grep ',uniform,' $med" using 1:(\$3/1000) with linespoints title "uniform keys (median of $RUNS)", \
     "< grep ',zipf' $med" using 1:(\$3/1000) with linespoints title "zipf 0.99 keys (median of $RUNS)"
GP
say "wrote $csv, $med and $out/sweep-pages.png"
