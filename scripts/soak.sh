#!/usr/bin/env bash
# make soak: a long, mixed, verified load against one linesvr, watching its
# memory and descriptors for growth.
#
# usage: scripts/soak.sh [-m MINUTES] [-o DIR] [--warmup S] [--lines N]
#                        [--slice S] [--interval S] [--rate R] [--keep]
#
#   -m, --minutes N  minutes of load (default $SOAK_MINUTES, else 10)
#   -o, --out DIR    results directory (default $SOAK_OUT, else
#                    loadtest/results/soak in the repo)
#   --warmup S       seconds of warm-up: the growth checks compare the end
#                    with its maximum (default $SOAK_WARMUP, else 20 % of
#                    the run, at least 10)
#   --lines N        lines in the generated text file (default 2000000)
#   --slice S        seconds of one linesvr-bench run (default 30)
#   --interval S     seconds between samples (default 10)
#   --rate R         requests/s of each linesvr-bench group (default 0:
#                    closed loop, as fast as they go)
#   --keep           keep the generated file and index in DIR/data, and
#                    reuse them next time
#
# Generates a text file (linesvr-gendata, ~100-byte lines) and its index
# with 64 lines a page, and serves it with one linesvr on 127.0.0.1, port
# 0, with a 256 KiB cache (about 3 % of the index: pages are evicted and
# reloaded all the time), idle_timeout 5 s and max_output 64 KiB. For the
# whole run, at once, every client on 127.0.0.1 and bounded by its own
# deadline:
#   - linesvr-bench, c=20 P=16, and linesvr-bench, c=20 P=1, both with
#     --verify, in runs of --slice seconds whose --json results are summed;
#   - scripts/soak-clients.py: reconnecting clients (connect, 1-5 GETs,
#     close; 50 connections/s), idle clients (silent until idle_timeout
#     closes them, then again) and slow readers (1000 pipelined GETs, read
#     256 bytes every 50 ms); every answer checked against the file.
# Every --interval seconds it samples the server's RssAnon, open
# descriptors and STATS counters into DIR/soak.csv and plots DIR/soak.png.
#
# Exit status 0 when every answer matched, no client had an error, the
# server stayed up and stopped cleanly, RssAnon at the end is within 10 %
# + 2 MB of its maximum during the warm-up, descriptors never exceeded the
# clients' connections plus a margin and went back to where they started
# once the clients left; 1 otherwise; 2 on usage errors.
set -euo pipefail

. "$(dirname "$0")/benchlib.sh"
bench_root

say() { printf 'soak: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }

minutes=${SOAK_MINUTES:-10} out=${SOAK_OUT:-$here/loadtest/results/soak}
warmup=${SOAK_WARMUP:-} lines=2000000 slice=30 interval=10 rate=0 keep=0
while [ $# -gt 0 ]; do
	case $1 in
	-m|--minutes) [ $# -ge 2 ] || usage; minutes=$2; shift ;;
	--minutes=*) minutes=${1#*=} ;;
	-o|--out) [ $# -ge 2 ] || usage; out=$2; shift ;;
	--warmup) [ $# -ge 2 ] || usage; warmup=$2; shift ;;
	--lines) [ $# -ge 2 ] || usage; lines=$2; shift ;;
	--slice) [ $# -ge 2 ] || usage; slice=$2; shift ;;
	--interval) [ $# -ge 2 ] || usage; interval=$2; shift ;;
	--rate) [ $# -ge 2 ] || usage; rate=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) usage 0 ;;
	*) say "unknown argument '$1'"; usage ;;
	esac
	shift
done
whole() {	# NAME VALUE MIN: VALUE is a whole number >= MIN
	case $2 in ''|*[!0-9]*) say "$1 wants a whole number, not '$2'"; exit 2 ;; esac
	[ "$2" -ge "$3" ] || { say "$1 must be at least $3"; exit 2; }
}
whole --minutes "$minutes" 1
[ -n "$warmup" ] || warmup=$((minutes * 60 / 5 > 10 ? minutes * 60 / 5 : 10))
whole --lines "$lines" 1000
whole --slice "$slice" 5
whole --interval "$interval" 1
whole --warmup "$warmup" "$interval"	# at least one sample under load
whole --rate "$rate" 0
run_s=$((minutes * 60))
[ "$warmup" -lt "$run_s" ] || { say "--warmup must be shorter than the run ($run_s s)"; exit 2; }

# The load. The descriptor limit below is computed from these.
C_PIPE=20 P_PIPE=16	# linesvr-bench, pipelined
C_P1=20	# linesvr-bench, one request in flight
N_CHURN=2 CHURN_RATE=50	# reconnecting clients: threads, connections/s
N_IDLE=20 IDLE_TIMEOUT=5	# idle clients; the server's idle_timeout
N_SLOW=4	# slow readers
CACHE=256K M=64	# [cache] size, [index] lines_per_page
FD_MARGIN=16

# ------------------------------------------------------------ dependencies
need_cmd gnuplot gnuplot-nox
need_cmd python3 python3
need_cmd timeout coreutils
install_need ": install gnuplot-nox and python3 first"
build_bins
CLIENTS=$here/scripts/soak-clients.py

mkdir -p "$out"
out=$(cd "$out" && pwd)
data=$out/data logs=$out/logs slices=$out/slices
csv=$out/soak.csv png=$out/soak.png summary=$out/summary.txt
mkdir -p "$data" "$logs" "$slices"
rm -f "$logs"/* "$slices"/* "$csv" "$png" "$summary"

LOADS=()	# background load processes: PID NAME pairs, in order
cleanup() {
	local st=$?
	trap - EXIT INT TERM
	bench_stop_all
	[ "$keep" = 1 ] || rm -f "$data"/soak-*.txt "$data"/soak-*.txt.lidx
	rmdir "$data" 2>/dev/null || true
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -------------------------------------------------------- data and server
F=$data/soak-$lines.txt
if [ "$keep" = 1 ] && [ -s "$F" ] && "$B/linesvr-index" --check "$F" >/dev/null 2>&1; then
	say "reusing $F"
else
	say "generating $F ($lines lines, seed 7) and its index ($M lines a page)"
	"$B/linesvr-gendata" -n "$lines" -s 7 -o "$F"
	"$B/linesvr-index" -q -m "$M" "$F"
fi
ini=$logs/linesvr.ini
linesvr_ini "$ini" "$F" "workers = 2" "idle_timeout = $IDLE_TIMEOUT" \
    "max_output = 64K" "drain_timeout = 5" \
    "[index]" "lines_per_page = $M" "build = never" \
    "[cache]" "size = $CACHE"
launch_linesvr "$ini" "$logs/linesvr.log"
SRV=$SPID
say "linesvr: pid $SRV, 127.0.0.1:$PORT, index $(du -k "$F.lidx" | cut -f1) kB, cache $CACHE"

# stats: the server's STATS as shell assignments st_NAME=VALUE (empty when
# it does not answer within 5 s).
stats() {
	local out_ k
	for k in requests_get requests_err connections_current connections_total \
	    cache_hits cache_misses cache_evictions cache_bytes index_errors; do
		eval "st_$k="
	done
	out_=$(timeout -k 1 6 python3 "$CLIENTS" stats -p "$PORT" 2>/dev/null) || return 0
	eval "$(printf '%s\n' "$out_" | awk '$1 ~ /^[a-z_]+$/ && $2 ~ /^[0-9]+$/ { print "st_" $1 "=" $2 }')"
}
fds() { find "/proc/$SRV/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
alive() { kill -0 "$SRV" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$SRV/stat" 2>/dev/null)" != Z ]; }

echo "time_s,rss_anon_kb,fds,requests_ok_total,requests_err_total,connections_current,connections_total,cache_hits,cache_misses,cache_evictions,cache_bytes,index_errors,phase" >"$csv"
nstat_fail=0
# sample T PHASE: one row of the CSV. Descriptors are counted before the
# STATS connection opens; connections_current includes it.
sample() {
	local rss fd
	rss=$(rss_kb "$SRV") fd=$(fds)
	stats
	[ -n "$st_requests_get" ] || nstat_fail=$((nstat_fail + 1))
	echo "$1,$rss,$fd,$st_requests_get,$st_requests_err,$st_connections_current,$st_connections_total,$st_cache_hits,$st_cache_misses,$st_cache_evictions,$st_cache_bytes,$st_index_errors,$2" >>"$csv"
	LAST_RSS=$rss LAST_FDS=$fd
	printf 'soak: [%4ds] RssAnon %s kB, fds %s, GETs ok %s, connections %s\n' \
	    "$1" "$rss" "$fd" "${st_requests_get:-?}" "${st_connections_current:-?}" >&2
}

# ---------------------------------------------------------------- the load
# bench_loop NAME ARGS...: linesvr-bench runs of $slice s (the last one
# shorter) until $load_end, each --verify'd; one line per run in
# $slices/NAME.tsv: run seconds requests verified mismatches errors status.
bench_loop() {
	local name=$1 i=0 left d st child= res
	shift
	trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null; exit 143' TERM
	while :; do
		left=$((load_end - $(date +%s)))
		[ "$left" -ge 2 ] || break
		d=$((left < slice ? left : slice)) i=$((i + 1)) st=0
		timeout -k 5 $((d + 60)) "$BENCH" -h 127.0.0.1 -p "$PORT" \
		    --verify "$F" --timeout 10 --json -q --label "$name-$i" \
		    --server-pid "$SRV" -d "$d" "$@" \
		    >"$slices/$name-$i.json" 2>>"$logs/$name.stderr" &
		child=$!
		wait "$child" || st=$?
		child=
		res=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["requests"], d["verified"], d["mismatches"], sum(d["errors"].values()), d["status"])' \
		    "$slices/$name-$i.json" 2>/dev/null) || res="0 0 0 1 $st"
		echo "$i $d $res $st" >>"$slices/$name.tsv"
		read -r _ ver mis err bst <<<"$res"
		say "$name run $i ($d s): $ver verified, $mis mismatches, $err errors, status $bst (exit $st)"
	done
}

# The last sample is taken at $end, the clients stop 2 s later.
t0=$(date +%s)
end=$((t0 + run_s)) load_end=$((t0 + run_s + 2))
say "$minutes min of load from $(date -d "@$t0" '+%H:%M:%S') to $(date -d "@$end" '+%H:%M:%S'), warm-up $warmup s, a sample every $interval s"
sample 0 start
FDS0=$LAST_FDS
rate_args=()
[ "$rate" = 0 ] || rate_args=(--rate "$rate")

start_load() {	# NAME CMD...: run CMD in the background as a load process
	local name=$1
	shift
	"$@" &
	PIDS+=("$!")
	LOADS+=("$!" "$name")
}
start_load bench-p16 bench_loop bench-p16 -c "$C_PIPE" -P "$P_PIPE" "${rate_args[@]+"${rate_args[@]}"}"
start_load bench-p1 bench_loop bench-p1 -c "$C_P1" -P 1 "${rate_args[@]+"${rate_args[@]}"}"
client() {	# MODE ARGS...: soak-clients.py MODE, bounded, output in $logs
	local mode=$1
	shift
	exec timeout -k 5 $((run_s + 120)) python3 "$CLIENTS" "$mode" -p "$PORT" \
	    -f "$F" --until "$load_end" "$@" >"$logs/$mode.out" 2>"$logs/$mode.stderr"
}
start_load churn client churn --clients "$N_CHURN" --rate "$CHURN_RATE"
start_load idle client idle --clients "$N_IDLE" --idle-timeout "$IDLE_TIMEOUT"
start_load slow client slow --clients "$N_SLOW" --batch 1000 --chunk 256 --pause 0.05

# The descriptors the server may hold: what it had before any client, two
# of each bench connection (a run's connections may still be closing while
# the next run's open), every client of ours, the STATS sample, a margin.
FD_LIMIT=$((FDS0 + 2 * (C_PIPE + C_P1) + N_CHURN + N_IDLE + N_SLOW + 1 + FD_MARGIN))

# -------------------------------------------------------------- sampling
fail=()
next=$((t0 + interval))
while :; do
	now=$(date +%s)
	alive || { fail+=("the server died at $((now - t0)) s"); break; }
	if [ "$now" -ge "$next" ] || [ "$now" -ge "$end" ]; then
		t=$((now - t0))
		if [ "$t" -le "$warmup" ]; then ph=warmup; else ph=load; fi
		sample "$t" "$ph"
		[ "$LAST_FDS" -le "$FD_LIMIT" ] ||
		    fail+=("$LAST_FDS descriptors at $t s, more than $FD_LIMIT")
		next=$((next + interval))
		[ "$now" -lt "$end" ] || break
		[ "$next" -le "$end" ] || next=$end
	fi
	sleep 1
done
END_RSS=$LAST_RSS END_FDS=$LAST_FDS

# Wait for the load processes (each bounded by its own deadline and
# timeout), then for the server to let go of their connections.
set -- "${LOADS[@]}"
while [ $# -ge 2 ]; do
	st=0
	if alive; then
		wait "$1" || st=$?
		forget_pid "$1"
	else	# no use waiting for their deadline
		stop_pid "$1" 3
	fi
	[ "$st" = 0 ] || fail+=("$2 exited with status $st")
	shift 2
done
if alive; then
	for _ in $(seq $((IDLE_TIMEOUT + 10))); do
		[ "$(fds)" -le "$FDS0" ] && break
		sleep 1
	done
	sample $(($(date +%s) - t0)) after
	[ "$LAST_FDS" -le "$FDS0" ] ||
	    fail+=("$LAST_FDS descriptors after the clients left, $FDS0 before they came")
	[ "${st_connections_current:-}" = 1 ] ||
	    fail+=("connections_current ${st_connections_current:-?} after the clients left (1: the STATS one)")
	[ "${st_index_errors:-0}" = 0 ] || fail+=("index_errors $st_index_errors")
	AFTER_FDS=$LAST_FDS
	# SIGTERM drains and stops it; 0 is its clean exit.
	st=0
	kill -TERM "$SRV"
	for _ in $(seq 150); do alive || break; sleep 0.1; done
	if alive; then
		fail+=("linesvr still running 15 s after SIGTERM")
		kill -KILL "$SRV" 2>/dev/null || true
	fi
	wait "$SRV" || st=$?
	forget_pid "$SRV"
	[ "$st" = 0 ] || fail+=("linesvr exited with status $st on SIGTERM")
else
	AFTER_FDS=?
	say "server log (last lines):"
	tail -n 20 "$logs/linesvr.log" >&2
fi
[ "$nstat_fail" = 0 ] || say "warning: $nstat_fail samples without STATS (no answer in 5 s)"

# ------------------------------------------------------------ the results
# Sum of the bench runs: requests, verified, mismatches, errors, runs whose
# status or exit was not 0.
bench_sum() {
	[ -s "$slices/$1.tsv" ] || { echo 0 0 0 0 0 0; return 0; }
	awk '{ r += $3; v += $4; m += $5; e += $6; if ($7 != 0 || $8 != 0) bad++; n++ }
	    END { printf "%d %d %d %d %d %d\n", n, r, v, m, e, bad }' "$slices/$1.tsv"
}
read -r p16_runs _ p16_ver p16_mis p16_err p16_bad <<<"$(bench_sum bench-p16)"
read -r p1_runs _ p1_ver p1_mis p1_err p1_bad <<<"$(bench_sum bench-p1)"
[ "$p16_runs" -gt 0 ] || fail+=("no pipelined linesvr-bench run completed")
[ "$p1_runs" -gt 0 ] || fail+=("no P=1 linesvr-bench run completed")
[ "$p16_bad" = 0 ] || fail+=("$p16_bad pipelined linesvr-bench runs did not end with status 0")
[ "$p1_bad" = 0 ] || fail+=("$p1_bad P=1 linesvr-bench runs did not end with status 0")
# client MODE KEY: a counter from soak-clients.py's last line (0 if none).
cval() { sed -n 's/.* '"$2"'=\([0-9]*\).*/\1/p' "$logs/$1.out" 2>/dev/null | tail -n1 | grep . || echo 0; }
for m in churn idle slow; do
	grep -q "^mode=$m " "$logs/$m.out" 2>/dev/null || fail+=("$m clients gave no summary")
done
ver=$((p16_ver + p1_ver + $(cval churn verified) + $(cval idle verified) + $(cval slow verified)))
mis=$((p16_mis + p1_mis + $(cval churn mismatches) + $(cval idle mismatches) + $(cval slow mismatches)))
err=$((p16_err + p1_err + $(cval churn errors) + $(cval idle errors) + $(cval slow errors)))
[ "$mis" = 0 ] || fail+=("$mis mismatches")
[ "$err" = 0 ] || fail+=("$err client errors")
[ "$ver" -gt 0 ] || fail+=("no verified requests")

# Growth: RssAnon at the end against the warm-up's maximum.
read -r rss_first rss_max fds_first fds_max warm_max <<<"$(awk -F, -v w="$warmup" '
    NR == 2 { rf = $2; ff = $3 }
    NR > 1 && $13 != "after" { if ($2 > rm) rm = $2; if ($3 > fm) fm = $3 }
    NR > 1 && $13 != "after" && $1 <= w { if ($2 > wm) wm = $2 }
    END { print rf, rm, ff, fm, wm }' "$csv")"
rss_limit=$((warm_max + warm_max / 10 + 2048))
[ "$END_RSS" -le "$rss_limit" ] ||
    fail+=("RssAnon grew: $END_RSS kB at the end, more than $rss_limit kB (warm-up maximum $warm_max kB + 10 % + 2 MB)")

# ------------------------------------------------------------------- plot
# Columns: seconds, RssAnon MB, descriptors, GETs and evictions (thousand
# a second since the sample before; none for the sample after the load).
awk -F, 'NR > 1 {
	ok = NR > 2 && $1 > t && $13 != "after"
	r = (ok && $4 != "" && g != "") ? ($4 - g) / ($1 - t) / 1000 : "NaN"
	e = (ok && $10 != "" && ev != "") ? ($10 - ev) / ($1 - t) / 1000 : "NaN"
	print $1, $2 / 1024, $3, r, e
	t = $1; g = $4; ev = $10
}' "$csv" >"$out/.soak.dat"
gnuplot <<EOF || fail+=("gnuplot failed")
set terminal pngcairo size 900,700 font "DejaVu Sans,10" noenhanced
set output '$png'
set grid
set key outside bottom center horizontal samplen 2
set multiplot layout 2,1 title 'linesvr soak: $minutes min, $lines lines, cache $CACHE, lines_per_page $M (warm-up shaded)'
set object 1 rect from 0, graph 0 to $warmup, graph 1 fc rgb '#eeeeee' fs solid behind
set xrange [0:*]
set xlabel 'seconds'
set ylabel 'RssAnon (MB)'
set y2label 'open descriptors'
set ytics nomirror
set y2tics
set yrange [0:$rss_limit * 1.3 / 1024]
set y2range [0:$FD_LIMIT * 1.15]
plot '$out/.soak.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#4477aa' title 'RssAnon', \
     $rss_limit / 1024.0 with lines dt 2 lc rgb '#4477aa' title 'RssAnon limit at the end', \
     '$out/.soak.dat' using 1:3 axes x1y2 with linespoints lw 2 pt 5 lc rgb '#ee7733' title 'descriptors (right axis)', \
     $FD_LIMIT axes x1y2 with lines dt 2 lc rgb '#ee7733' title 'descriptor limit'
set ylabel 'thousand a second'
unset y2label
unset y2tics
set y2range [*:*]
set yrange [0:*]
plot '$out/.soak.dat' using 1:4 with linespoints lw 2 pt 7 title 'GETs answered OK', \
     '' using 1:5 with linespoints lw 2 pt 5 title 'cache evictions'
unset multiplot
EOF
rm -f "$out/.soak.dat"

# ---------------------------------------------------------------- summary
num() { printf '%s' "$1" | sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/; ta'; }
{
	echo "soak: $minutes min ($(date -d "@$t0" '+%F %H:%M')), warm-up $warmup s; $lines lines, cache $CACHE, lines_per_page $M, idle_timeout $IDLE_TIMEOUT s"
	echo "soak: verified requests $(num "$ver"): bench c=$C_PIPE P=$P_PIPE $(num "$p16_ver") ($p16_runs runs)," \
	    "bench c=$C_P1 P=1 $(num "$p1_ver") ($p1_runs runs), reconnecting $(num "$(cval churn verified)") over $(num "$(cval churn connections)") connections," \
	    "slow readers $(num "$(cval slow verified)"), idle $(num "$(cval idle verified)") ($(cval idle closed_by_server) closed for idleness)"
	echo "soak: mismatches $mis, errors $err; the server answered $(num "$(( ${st_requests_get:-0} + ${st_requests_err:-0} ))") GETs (OK and ERR), the clients checked $(num "$ver")"
	echo "soak: server: GETs ok $(num "${st_requests_get:-?}"), ERR $(num "${st_requests_err:-?}"), connections $(num "${st_connections_total:-?}"), cache misses $(num "${st_cache_misses:-?}") of $(num "$(( ${st_cache_hits:-0} + ${st_cache_misses:-0} ))"), evictions $(num "${st_cache_evictions:-?}")"
	echo "soak: RssAnon kB: first $rss_first, last $END_RSS, max $rss_max (warm-up max $warm_max, limit $rss_limit)"
	echo "soak: fds: first $fds_first, last $END_FDS, max $fds_max (limit $FD_LIMIT), after the clients left $AFTER_FDS"
	echo "soak: CSV $csv"
	echo "soak: PNG $png"
	echo "soak: logs $logs, bench runs $slices"
	if [ ${#fail[@]} -eq 0 ]; then
		echo "soak: PASS"
	else
		echo "soak: FAIL:"
		printf 'soak:   %s\n' "${fail[@]}"
	fi
} | tee "$summary" >&2
[ ${#fail[@]} -eq 0 ]
