#!/usr/bin/env bash
# Plots of a `make bench` run: gnuplot -> 800x500 PNGs next to results.csv.
#
# usage: scripts/plot.sh [DIR]        (default: results/ in the repo)
#        scripts/plot.sh --targets NAME-summary.csv
#
#   DIR/throughput-connections.png  req/s vs connections (P = 1, closed loop)
#   DIR/latency-rate.png            p50/p90/p99/p99.9 vs offered rate (open loop)
#   DIR/connect-scaling.png         connect time and median round trip as
#                                   clients scale up to 10,000 and back down
#   DIR/nagle.png                   Nagle vs TCP_NODELAY vs server coalescing
#
# Columns are found by name in the CSV header, so a plot whose rows are
# missing (e.g. no --with-redis) is drawn without them, or skipped.
#
# With --targets, the table of scripts/targets.sh (its NAME-summary.csv),
# next to it:
#
#   NAME-ratio.png   each row's ratio against its target: linesvr / limit
#                    server, the 10 GB rows' share of the 1M-line rate,
#                    the index build's multiple of `wc -l` (lower is better)
#   NAME-rates.png   req/s of every server in the rows against the limit
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
summary=
if [ "${1-}" = --targets ]; then
	summary=${2:?usage: plot.sh --targets NAME-summary.csv}
	[ -r "$summary" ] || { echo "plot: no $summary (run scripts/targets.sh)" >&2; exit 2; }
else
	dir=${1:-$here/results}
	csv=$dir/results.csv
	[ -r "$csv" ] || { echo "plot: no $csv (run scripts/bench.sh)" >&2; exit 2; }
fi
command -v gnuplot >/dev/null 2>&1 ||
    { echo "plot: no gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# pick SCENARIO [SERVER] [LABEL-REGEX] -- COLUMNS...: rows of results.csv as
# whitespace-separated columns (the label with spaces turned into _).
pick() {
	local scen=$1 srv=$2 re=$3
	shift 3
	[ "${1-}" != -- ] || shift
	awk -F, -v scen="$scen" -v srv="$srv" -v re="$re" -v cols="$*" '
	NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; n = split(cols, k, " "); next }
	$c["scenario"] == scen && (srv == "" || $c["server"] == srv) {
		lab = $c["label"]; gsub(/"/, "", lab)
		if (re != "" && lab !~ re) next
		gsub(/ /, "_", lab)
		line = ""
		for (i = 1; i <= n; i++) {
			v = (k[i] == "label") ? lab : $c[k[i]]
			if (v == "") v = "NaN"
			line = line (i > 1 ? " " : "") v
		}
		print line
	}' "$csv"
}
nonempty() { [ -s "$1" ]; }

common='set terminal pngcairo size 800,500 font "DejaVu Sans,10" noenhanced
set grid
set key top left box opaque'

# targets SUMMARY: the two plots of a targets.sh table.
targets() {
	local base=${1%-summary.csv}
	# row label (short), ratio, target, bar colour: green when met.
	awk -F, 'NR > 1 && $9 != "" && $7 != "" {
		l = $1; p = ""
		if (sub(/^pin-/, "", l)) p = "pinned "
		if (l == "rt") l = "c=1 P=1"; else if (l == "c50p1") l = "c=50 P=1"
		else if (l == "c50p16") l = "c=50 P=16"; else if (l == "c1000") l = "c=1000 P=1"
		else if (l == "bigu") l = "10 GB uniform"; else if (l == "bigz") l = "10 GB zipf"
		else if (l == "index") l = "index build (x wc -l)"
		met = ($9 == "higher") ? $7 >= $8 : $7 <= $8
		printf "\"%s%s\" %s %s %d\n", p, l, $7, $8, met ? 2924588 : 14034728
	}' "$1" >"$tmp/ratio.dat"
	if nonempty "$tmp/ratio.dat"; then
		gnuplot <<EOF
$common
set output '$base-ratio.png'
set title 'Targets: measured ratio (bar; green = met) against the target (black)'
set ylabel 'ratio'
set yrange [0:*]
set style fill solid 0.8 border -1
set boxwidth 0.6
set xtics rotate by -30 font ',9'
set key top right
plot '$tmp/ratio.dat' using 0:2:4:xtic(1) with boxes lc rgb variable title 'measured', \
     '' using 0:3 with points pt 5 ps 1.5 lc rgb 'black' title 'target', \
     '' using 0:(\$2/2):(sprintf('%.2f', \$2)) with labels notitle
EOF
	fi
	# row label, then req/s of limit, linesvr, Redis, memcached (NaN: none).
	awk -F, 'NR > 1 && $3 != "" {
		l = $1; sub(/^pin-/, "pinned ", l)
		sub(/rt$/, "c=1 P=1", l); sub(/c50p16$/, "c=50 P=16", l)
		sub(/c50p1$/, "c=50 P=1", l); sub(/c1000$/, "c=1000 P=1", l)
		printf "\"%s\"", l
		for (i = 3; i <= 6; i++) printf " %s", $i == "" ? "NaN" : $i
		printf "\n"
	}' "$1" >"$tmp/rates.dat"
	# One bar per server that has any result.
	local bars=() i srv=('limit server' linesvr Redis memcached) col=('#888888' '#4477aa' '#cc3311' '#ee7733')
	for i in 0 1 2 3; do
		awk -v c=$((3 - i)) '$(NF - c) != "NaN" { f = 1 } END { exit !f }' "$tmp/rates.dat" &&
		    bars+=("'$tmp/rates.dat' using (\$$((i + 2))/1000):xtic(1) title '${srv[$i]}' lc rgb '${col[$i]}'")
	done
	if [ ${#bars[@]} -gt 0 ]; then
		gnuplot <<EOF
$common
set output '$base-rates.png'
set title 'Throughput by server (median req/s; same client; every answer verified but on the limit server)'
set ylabel 'thousand requests/s (log scale)'
set logscale y
set format y '%g'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30 font ',9'
set key top right horizontal
plot $(IFS=,; echo "${bars[*]}")
EOF
	fi
	ls "$base"-ratio.png "$base"-rates.png 2>/dev/null | sed 's/^/plot: wrote /' >&2
}
if [ -n "$summary" ]; then
	targets "$summary"
	exit 0
fi

# 1. Throughput vs connections.
pick scale linesvr '^up' -- connections req_per_s >"$tmp/up.dat"
pick scale linesvr '^down' -- connections req_per_s >"$tmp/down.dat"
plots=()
nonempty "$tmp/up.dat" && plots+=("'$tmp/up.dat' using 1:(\$2/1000) with linespoints lw 2 pt 7 title 'linesvr, clients scaling up (P=1)'")
nonempty "$tmp/down.dat" && plots+=("'$tmp/down.dat' using 1:(\$2/1000) with linespoints lw 2 pt 5 dt 2 title 'linesvr, scaling back down (P=1)'")
for s in linesvr redis memcached; do
	pick matrix "$s" 'P=1$' -- connections req_per_s | sort -n >"$tmp/m-$s.dat"
	nonempty "$tmp/m-$s.dat" && plots+=("'$tmp/m-$s.dat' using 1:(\$2/1000) with linespoints lw 2 pt 9 title '$s, matrix rows (P=1)'")
done
if [ ${#plots[@]} -gt 0 ]; then
	gnuplot <<EOF
$common
set output '$dir/throughput-connections.png'
set title 'Throughput vs connections (closed loop, 1 request in flight per connection)'
set logscale x
set xlabel 'connections'
set ylabel 'throughput (thousand requests/s)'
set yrange [0:*]
set xrange [0.7:15000]
set key bottom right
plot $(IFS=,; echo "${plots[*]}")
EOF
fi

# 2. Latency percentiles vs offered rate (open loop, c = 50, P = 16).
pick sweep linesvr '' -- rate req_per_s lat_p50_ns lat_p90_ns lat_p99_ns lat_p99_9_ns |
    sort -g >"$tmp/sweep.dat"
if nonempty "$tmp/sweep.dat"; then
	gnuplot <<EOF
$common
set output '$dir/latency-rate.png'
set title 'Latency vs offered load (open loop, c=50, P=16, coordinated omission corrected)'
set xlabel 'offered rate (thousand requests/s)'
set ylabel 'latency (ms, log scale)'
set logscale y
set format y '%g'
set y2label 'achieved throughput (thousand requests/s)'
set y2tics
set y2range [0:*]
set ytics nomirror
set key outside top center horizontal maxrows 1 samplen 2
plot '$tmp/sweep.dat' using (\$1/1000):(\$3/1e6) with linespoints lw 2 pt 7 title 'p50', \
     '' using (\$1/1000):(\$4/1e6) with linespoints lw 2 pt 5 title 'p90', \
     '' using (\$1/1000):(\$5/1e6) with linespoints lw 2 pt 9 title 'p99', \
     '' using (\$1/1000):(\$6/1e6) with linespoints lw 2 pt 11 title 'p99.9', \
     '' using (\$1/1000):(\$2/1000) axes x1y2 with linespoints lw 1 dt 2 pt 1 lc rgb 'black' title 'achieved req/s (right axis)'
EOF
fi

# 3. Connect time and median round trip as clients scale up and back down.
pick scale linesvr '' -- connections connect_p50_ns connect_p99_ns lat_p50_ns >"$tmp/scale.dat"
if nonempty "$tmp/scale.dat"; then
	gnuplot <<EOF
$common
set output '$dir/connect-scaling.png'
set title 'Connect time and median round trip: clients 1 -> 10,000 -> 1 (P=1)'
set xlabel 'clients opened at once (step by step: up to 10,000, then back down)'
set ylabel 'time (ms, log scale)'
set logscale y
set format y '%g'
set xtics rotate by -30
set key top left
plot '$tmp/scale.dat' using 0:(\$2/1e6):xtic(1) with linespoints lw 2 pt 7 title 'connect time p50', \
     '' using 0:(\$3/1e6) with linespoints lw 2 pt 5 title 'connect time p99', \
     '' using 0:(\$4/1e6) with linespoints lw 2 pt 9 title 'round trip p50 (GET n)'
EOF
fi

# 4. Nagle vs TCP_NODELAY vs server-side coalescing.
pick nagle linesvr '' -- label req_per_s lat_p99_ns lat_p99_99_ns |
    awk '{ l = $1
	   sub(/nodelay=0/, "Nagle", l); sub(/nodelay=1/, "NODELAY", l)
	   sub(/_coalesce=yes/, "\\ncoalesce", l)
	   sub(/_coalesce=no/, "\\nno coalesce", l)
	   printf "\"%s\" %s %s %s\n", l, $2, $3, $4 }' >"$tmp/nagle.dat"
if nonempty "$tmp/nagle.dat"; then
	gnuplot <<EOF
$common
set output '$dir/nagle.png'
set multiplot layout 1,2 title 'Client Nagle vs TCP_NODELAY, server coalescing on/off: 1,000,000 GETs, c=50, P=16'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics font ',8'
set key top right horizontal
set offsets 0, 0, graph 0.15, 0
set title 'throughput'
set ylabel 'thousand requests/s'
set yrange [0:*]
plot '$tmp/nagle.dat' using (\$2/1000):xtic(1) title 'req/s' lc rgb '#4477aa'
set title 'tail latency'
set ylabel 'ms'
plot '$tmp/nagle.dat' using (\$3/1e6):xtic(1) title 'p99' lc rgb '#ee7733', \
     '' using (\$4/1e6) title 'p99.99' lc rgb '#cc3311'
unset multiplot
EOF
fi
ls "$dir"/*.png 2>/dev/null | sed 's/^/plot: wrote /' >&2
