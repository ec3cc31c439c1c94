#!/usr/bin/env bash
# budget.sh: linesvr's per-request budget on this machine: system calls per
# request (strace -c) and user-space instructions per cached GET
# (valgrind --tool=callgrind), at pipeline depth 1 and 16.
#
# usage: scripts/budget.sh [--bin PATH] [--csv FILE] [--keep-data DIR]
#                          [--data FILE] [--quick] [--no-line-checksums]
#                          [--callgrind-only]
#
#   --bin PATH    the linesvr binary to measure (default build/linesvr);
#                 the client, generator and indexer are this tree's build/
#   --csv FILE    raw numbers (default results/budget.csv)
#   --keep-data DIR  generate the 1,000,000-line file in DIR and keep it
#                 (default: a temporary directory, removed on exit)
#   --data FILE   serve FILE (indexed here if FILE.lidx is missing)
#                 instead of generating the 1,000,000-line file
#   --quick       a tenth of the requests in every run (a smoke test)
#   --no-line-checksums  serve with [index] line_checksums = no (what
#                 checking every line costs is the difference)
#   --callgrind-only  only the instructions (part 2 below), no strace
#                 (what scripts/targets.sh runs for its instructions row)
#
# Data: `linesvr-gendata -n 1000000 -s 1` (~100-byte lines), indexed. The
# server runs with workers = 1 on 127.0.0.1 port 0 and the default cache
# (256M, which holds the whole index). Every phase first warms the cache
# with one sequential pass over all lines (-k 1000000 --keys seq), so the
# measured runs (uniform keys over all lines, --verify FILE) are all cache
# hits; STATS before and after each measured run checks that
# (cache_misses) and gives the request count (requests_get).
#
# 1. System calls: linesvr on its own; strace -c -f -p PID is attached
#    after the warm-up and detached (SIGINT) after each measured run:
#    c=50 P=1 200,000 requests, then c=50 P=16 1,000,000 requests. strace
#    slows every system call, so the server is slower than without it and
#    P=16 batches may be larger than at full speed.
# 2. Instructions: linesvr under callgrind with --instr-atstart=no (the
#    warm-up runs uninstrumented); `callgrind_control -i on` after the
#    warm-up, -z, the measured run, `callgrind_control --dump`, and the
#    dump's total Ir (callgrind_annotate) / requests: c=50 P=16 200,000
#    requests, then (-z, run, dump) c=50 P=1 50,000 requests. Callgrind
#    counts user-space instructions only, the server's threads summed.
#    (--collect-atstart=no with -i on collects nothing: -i switches
#    instrumentation, not collection.)
#
# Output: a Markdown table (metric, value) and the top 10 functions by Ir
# at P=16 on stdout, progress on stderr, raw numbers in the CSV (columns:
# bin, phase, connections, pipeline, name, value). Every server is bounded
# and stopped by PID from a trap. Exit status 0 when every run exited 0
# with 0 mismatches, 1 otherwise, 2 on usage errors.
set -euo pipefail

. "$(dirname "$0")/benchlib.sh"
bench_root

BIN=$B/linesvr csv=$here/results/budget.csv keepdir= quick=0 crc= file= strace=1
usage() { sed -n '6,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--bin) [ $# -ge 2 ] || usage; BIN=$2; shift ;;
	--csv) [ $# -ge 2 ] || usage; csv=$2; shift ;;
	--keep-data) [ $# -ge 2 ] || usage; keepdir=$2; shift ;;
	--data) [ $# -ge 2 ] || usage; file=$2; shift ;;
	--quick) quick=1 ;;
	--callgrind-only) strace=0 ;;
	--no-line-checksums) crc="line_checksums = no" ;;
	-h|--help) usage 0 ;;
	*) echo "budget: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
[ -x "$BIN" ] || { echo "budget: --bin $BIN: not an executable" >&2; exit 2; }
case $csv in /*) ;; *) csv=$PWD/$csv ;; esac

t0=$SECONDS
say() { printf 'budget: [%3ds] %s\n' $((SECONDS - t0)) "$*" >&2; }
die() { say "$*"; exit 1; }

# Requests per measured run.
N_S1=200000 N_S16=1000000 N_C16=200000 N_C1=50000 CONNS=50
if [ "$quick" = 1 ]; then
	N_S1=$((N_S1 / 10)) N_S16=$((N_S16 / 10)) N_C16=$((N_C16 / 10)) N_C1=$((N_C1 / 10))
fi

# ---------------------------------------------------------------- cleanup
tmp=$(mktemp -d "${TMPDIR:-/tmp}/budget.XXXXXX")
bench_traps

# ----------------------------------------------------------- dependencies
[ "$strace" = 0 ] || need_cmd strace strace
need_cmd valgrind valgrind
need_cmd callgrind_control valgrind
need_cmd callgrind_annotate valgrind
need_cmd timeout coreutils
install_need ""
build_bins

# ------------------------------------------------------------------- data
if [ -n "$keepdir" ]; then mkdir -p "$keepdir"; data=$(cd "$keepdir" && pwd); else data=$tmp; fi
if [ -n "$file" ]; then
	F=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
	[ -s "$F.lidx" ] || "$B/linesvr-index" -q "$F"
else
	sample_1m budget-1m.txt
fi
NLINES=$(wc -l <"$F")
linesvr_ini "$tmp/linesvr.ini" "$F" "workers = 1" "drain_timeout = 1" \
    ${crc:+"[index]" "$crc"}

mkdir -p "$(dirname "$csv")"
echo "bin,phase,connections,pipeline,name,value" >"$csv"
# raw PHASE PIPELINE NAME VALUE: one CSV row.
raw() { echo "$BIN,$1,$CONNS,$2,$3,$4" >>"$csv"; }

# ----------------------------------------------------------------- helpers

# stats PORT: STATS into ST_REQ (requests_get), ST_HIT (cache_hits), ST_MISS (cache_misses).
stats() {
	local out
	out=$(timeout -k 2 20 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
	    printf "STATS\r\nQUIT\r\n" >&3 && cat <&3' _ "$1" | tr -d '\r') ||
	    die "STATS on port $1 failed"
	out=$(echo "$out" | awk '$1 == "requests_get" { r = $2 } $1 == "cache_hits" { h = $2 }
	    $1 == "cache_misses" { m = $2 } END { if (r == "" || h == "" || m == "") exit 1; print r, h, m }') ||
	    die "STATS on port $1: no requests_get/cache_hits/cache_misses"
	read -r ST_REQ ST_HIT ST_MISS <<<"$out"
}

nbad=0 bad=()
# bench PORT LABEL TIMEOUT_S [linesvr-bench args...]: one bounded run; its
# CSV in $tmp/LABEL.csv; sets RPS (req/s) and RQ (requests).
bench() {
	local port=$1 label=$2 bound=$3 st=0 line
	shift 3
	timeout -k 5 "$bound" "$BENCH" -h 127.0.0.1 -p "$port" -c "$CONNS" --timeout 30 \
	    --csv -q --label "$label" "$@" >"$tmp/$label.csv" 2>>"$tmp/bench-stderr.log" || st=$?
	RPS=0 RQ=0
	if [ "$(wc -l <"$tmp/$label.csv")" -lt 2 ]; then
		nbad=$((nbad + 1)); bad+=("$label: no result (exit $st)")
		say "$label: no result (exit $st)"
		return 0
	fi
	line=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	    { printf "%d %.0f %s %s", $c["requests"], $c["req_per_s"], $c["mismatches"], $c["status"] }' "$tmp/$label.csv")
	set -- $line
	RQ=$1 RPS=$2
	say "$label: $1 requests, $2 req/s, mismatches $3, status $4 (exit $st)"
	if [ "$st" -ne 0 ] || [ "$3" != 0 ] || [ "$4" != 0 ]; then
		nbad=$((nbad + 1)); bad+=("$label: mismatches $3, status $4 (exit $st)")
	fi
}

# warm PORT LABEL: one sequential pass over every line, so that every index
# page is in the cache.
warm() {
	bench "$1" "$2" 600 -P 16 -n "$NLINES" -k "$NLINES" --keys seq --verify "$F"
}

declare -A M	# results by name, for the table

# ------------------------------------------------------ 1. system calls
# strace_run P N: syscalls of the server during one measured run.
strace_run() {
	local p=$1 n=$2 label=strace-p$1 req0 miss0 tpid out=$tmp/strace-p$1.out ok=0
	stats "$L_PORT"
	req0=$ST_REQ miss0=$ST_MISS
	: >"$tmp/$label.err"
	strace -c -f -p "$L_PID" -o "$out" 2>"$tmp/$label.err" &
	tpid=$!
	PIDS+=("$tpid")
	for _ in $(seq 100); do
		grep -q attached "$tmp/$label.err" && { ok=1; break; }
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	[ "$ok" = 1 ] || { cat "$tmp/$label.err" >&2; die "strace did not attach to $L_PID"; }
	say "$label: strace attached; c=$CONNS P=$p, $n requests"
	bench "$L_PORT" "$label" 900 -P "$p" -n "$n" --verify "$F"
	kill -INT "$tpid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$tpid" 2>/dev/null && die "strace $tpid did not detach within 10 s"
	wait "$tpid" 2>/dev/null || true
	forget_pid "$tpid"
	kill -0 "$L_PID" 2>/dev/null || die "linesvr died under strace"
	stats "$L_PORT"
	local req=$((ST_REQ - req0)) miss=$((ST_MISS - miss0))
	[ "$req" -gt 0 ] || die "$label: no GETs counted by the server"
	[ -s "$out" ] || die "$label: strace wrote no summary"
	# calls is the 4th column of every row, errors the 5th when there are
	# six (it is empty otherwise), the name the last.
	awk '$1 ~ /^[0-9.]+$/ && NF >= 5 { print $NF, $4, (NF >= 6 ? $5 : 0) }' "$out" |
	    sort -k2,2nr >"$tmp/$label.calls"
	raw strace "$p" requests_server "$req"
	raw strace "$p" requests_client "$RQ"
	raw strace "$p" req_per_s_under_strace "$RPS"
	raw strace "$p" cache_misses "$miss"
	local name calls errs total=0 other=0 others=
	M[s$p.read]=0 M[s$p.write]=0 M[s$p.epoll_wait]=0
	while read -r name calls errs; do
		raw strace "$p" "syscall:$name" "$calls"
		raw strace "$p" "syscall_errors:$name" "$errs"
		case $name in
		total) total=$calls ;;
		read|write|epoll_wait) M[s$p.$name]=$calls ;;
		*) other=$((other + calls))
		   others="$others${others:+, }$name $calls"
		   [ "$errs" = 0 ] || others="$others ($errs failed)" ;;
		esac
	done <"$tmp/$label.calls"
	M[s$p.req]=$req M[s$p.total]=$total M[s$p.other]=$other M[s$p.others]=${others:-none}
	M[s$p.miss]=$miss M[s$p.rps]=$RPS
	say "$label: $total system calls for $req GETs ($(awk -v t="$total" -v r="$req" 'BEGIN { printf "%.3f", t / r }') per request), cache misses $miss"
}
if [ "$strace" = 1 ]; then
	say "strace: starting $BIN (workers = 1)"
	launch "$tmp/linesvr.log" 10 "$BIN" -c "$tmp/linesvr.ini" -p 0 -b 127.0.0.1
	L_PID=$SPID L_PORT=$PORT
	say "strace: pid $L_PID, 127.0.0.1:$L_PORT; warming the cache"
	warm "$L_PORT" warm-strace
	strace_run 1 "$N_S1"
	strace_run 16 "$N_S16"
	stop_pid "$L_PID" 10
fi

# ------------------------------------------------------- 2. instructions
say "callgrind: starting $BIN under valgrind --tool=callgrind --instr-atstart=no (up to 60 s)"
CG=$tmp/callgrind.out
launch "$tmp/callgrind.log" 60 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$CG" "$BIN" -c "$tmp/linesvr.ini" -p 0 -b 127.0.0.1
V_PID=$SPID V_PORT=$PORT
say "callgrind: pid $V_PID, 127.0.0.1:$V_PORT; warming the cache (uninstrumented)"
warm "$V_PORT" warm-callgrind

# cgctl ARGS...: callgrind_control on the server, bounded; output in the log.
cgctl() {
	timeout -k 2 30 callgrind_control "$@" "$V_PID" >>"$tmp/callgrind_control.log" 2>&1 ||
	    { cat "$tmp/callgrind_control.log" >&2; die "callgrind_control $* failed"; }
}
ndump=0
# callgrind_run P N: Ir of the server during one measured run.
callgrind_run() {
	local p=$1 n=$2 label=callgrind-p$1 req0 miss0 f ir
	stats "$V_PORT"
	req0=$ST_REQ miss0=$ST_MISS
	cgctl -i on
	cgctl -z
	say "$label: instrumentation on; c=$CONNS P=$p, $n requests"
	bench "$V_PORT" "$label" 900 -P "$p" -n "$n" --verify "$F"
	cgctl --dump="$label"
	ndump=$((ndump + 1))
	f=$CG.$ndump
	for _ in $(seq 300); do [ -s "$f" ] && grep -q '^totals:\|^summary:' "$f" && break; sleep 0.1; done
	[ -s "$f" ] || die "$label: no callgrind dump $f"
	cgctl -i off
	kill -0 "$V_PID" 2>/dev/null || die "linesvr died under callgrind"
	stats "$V_PORT"
	local req=$((ST_REQ - req0)) miss=$((ST_MISS - miss0))
	[ "$req" -gt 0 ] || die "$label: no GETs counted by the server"
	callgrind_annotate --auto=no "$f" >"$tmp/$label.annotate" 2>&1 || die "callgrind_annotate $f failed"
	ir=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$tmp/$label.annotate")
	[ -n "$ir" ] || die "$label: no PROGRAM TOTALS in callgrind_annotate's output"
	raw callgrind "$p" requests_server "$req"
	raw callgrind "$p" requests_client "$RQ"
	raw callgrind "$p" req_per_s_under_callgrind "$RPS"
	raw callgrind "$p" cache_misses "$miss"
	raw callgrind "$p" Ir "$ir"
	# Functions by exclusive Ir, as callgrind_annotate lists them:
	# "12,345 (12.34%)  file:function [object]".
	awk 'f == 1 && /^-+$/ { f = 2; next }
	    f == 2 && NF == 0 { exit }
	    f == 2 && $1 ~ /^[0-9,]+$/ {
		ir = $1; gsub(",", "", ir)
		rest = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", rest)
		obj = ""
		if (match(rest, / \[[^]]*\]$/)) { obj = substr(rest, RSTART + 2, RLENGTH - 3); rest = substr(rest, 1, RSTART - 1) }
		i = index(rest, ":"); file = substr(rest, 1, i - 1); fn = substr(rest, i + 1)
		sub(/.*\//, "", file); sub(/.*\//, "", obj)
		print ir "\t" fn "\t" file "\t" obj
		next }
	    /file:function/ { f = 1 }' "$tmp/$label.annotate" >"$tmp/$label.fns"
	local fir fn file obj
	while IFS=$'\t' read -r fir fn file obj; do
		raw callgrind "$p" "fn:$fn ($file; $obj)" "$fir"
	done <"$tmp/$label.fns"
	M[c$p.req]=$req M[c$p.ir]=$ir M[c$p.miss]=$miss M[c$p.rps]=$RPS
	say "$label: $ir Ir for $req GETs ($(awk -v t="$ir" -v r="$req" 'BEGIN { printf "%.0f", t / r }') per request), cache misses $miss"
}
callgrind_run 16 "$N_C16"
callgrind_run 1 "$N_C1"
say "callgrind: stopping $V_PID"
stop_pid "$V_PID" 30

# ---------------------------------------------------------------- report
elapsed=$((SECONDS - t0))
raw all 0 elapsed_s "$elapsed"
per() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf f, (b > 0 ? a / b : 0) }'; }
num() { echo "$1" | awk '{ s = sprintf("%.0f", $1); r = ""
	while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r }'; }

echo "linesvr per-request budget: $BIN (built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M:%S UTC'), its tree at $(cd "$(dirname "$BIN")" && git rev-parse --short HEAD 2>/dev/null || echo "?")), workers = 1, c=$CONNS;" \
    "$NLINES lines (linesvr-gendata -n 1000000 -s 1), uniform keys, cache warmed with one sequential pass;" \
    "$(nproc) CPUs shared by client, server and tracer; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $elapsed s."
echo
echo "| metric | value |"
echo "|---|--:|"
for p in 1 16; do
	[ "$strace" = 1 ] || break
	r=${M[s$p.req]}
	echo "| P=$p: system calls / request (strace, $(num "$r") GETs) | $(per "${M[s$p.total]}" "$r" %.3f) |"
	echo "| P=$p: read / request | $(per "${M[s$p.read]}" "$r" %.3f) |"
	echo "| P=$p: write / request | $(per "${M[s$p.write]}" "$r" %.3f) |"
	echo "| P=$p: epoll_wait / request | $(per "${M[s$p.epoll_wait]}" "$r" %.4f) |"
	echo "| P=$p: other system calls / request | $(per "${M[s$p.other]}" "$r" %.5f) |"
	echo "| P=$p: other system calls (calls in the run) | ${M[s$p.others]} |"
	echo "| P=$p: req/s under strace (context only) | $(num "${M[s$p.rps]}") |"
done
for p in 16 1; do
	echo "| P=$p: instructions (Ir) / cached GET (callgrind, $(num "${M[c$p.req]}") GETs) | $(num "$(per "${M[c$p.ir]}" "${M[c$p.req]}" %.1f)") |"
done
echo "| cache misses in the measured runs (strace P=1, P=16; callgrind P=16, P=1) | ${M[s1.miss]-}, ${M[s16.miss]-}, ${M[c16.miss]}, ${M[c1.miss]} |"
echo
echo "Top 10 functions by exclusive Ir, P=16 (callgrind, $(num "${M[c16.req]}") GETs):"
echo
echo "| # | function | file | object | Ir | % | Ir / request |"
echo "|--:|---|---|---|--:|--:|--:|"
head -n 10 "$tmp/callgrind-p16.fns" | awk -F'\t' -v t="${M[c16.ir]}" -v r="${M[c16.req]}" '
function num(x,   s, o) {
	s = sprintf("%.0f", x); o = ""
	while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
	return s o
}
    { printf "| %d | `%s` | %s | %s | %s | %.1f%% | %.1f |\n", NR, $2, $3, $4, num($1), 100 * $1 / t, $1 / r }'
if [ "$nbad" -gt 0 ]; then
	echo
	echo "Runs with mismatches or a non-zero status:"
	printf -- '- %s\n' "${bad[@]}"
	say "raw numbers: $csv; $nbad runs failed; $elapsed s"
	exit 1
fi
say "raw numbers: $csv; total $elapsed s"
exit 0
