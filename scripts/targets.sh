#!/usr/bin/env bash
# targets.sh: the target table of the "Performance II" work in one run:
# linesvr against the limit server (linesvr-null: a fixed answer and
# nothing else), Redis and memcached, with the same client (linesvr-bench)
# side by side, and the instructions, index-build and 10 GB rows.
#
# usage: scripts/targets.sh [options]
#
#   --runs N      runs per row and server (default 5, the median is shown)
#   -d SECONDS    length of each measured run (default 3)
#   --workers N   linesvr worker threads (default 1: client and server
#                 share the cores; Redis serves from one thread too)
#   -o DIR        output directory (default results/): targets.csv (raw
#                 runs), targets.md (the table), targets-summary.csv (the
#                 table as CSV), targets-ratio.png, targets-rates.png
#   --csv FILE    raw runs in FILE instead; the other outputs are named
#                 after it (FILE without .csv, then .md, -summary.csv, ...)
#   --keep-data DIR  generate the data files in DIR and keep them
#                 (default: a temporary directory, removed on exit)
#   --no-redis, --no-memcached  leave that server out (otherwise it is
#                 installed with apt-get when missing)
#   --no-budget   leave out the instructions row (scripts/budget.sh
#                 --callgrind-only: about 2 minutes of callgrind)
#   --pin         also the four limit rows with 2 workers, the servers
#                 pinned to CPU 1 (taskset -c 1: linesvr workers = 2,
#                 linesvr-null -t 2) and the client to CPU 0
#   --with-index-build  also the index-build row: hyperfine, `wc -l F`
#                 against linesvr-index on a page-cache-hot 1 GiB file
#                 (linesvr-gendata -b 1G -s 7; 1 GiB of disk in the data
#                 directory, about a minute); --index-runs N (default 15)
#   --with-10g    also the large-file rows: a 10 GB file (about 40 s to
#                 generate), [cache] size = 64M, lines_per_page 16
#   --big-size S, --big-m M, --big-cache C   change those three
#   --limit-only  only linesvr and the limit server, only their four rows
#                 (and --pin's): what scripts/limit.sh runs
#   --no-plot     do not draw the plots (scripts/plot.sh --targets)
#   --table CSV   only print the table of an earlier run's raw CSV
#
# Data: `linesvr-gendata -n 1000000 -s 1` (~100-byte lines), indexed;
# Redis and memcached hold the same lines as keys 1..N (scripts/load-kv.sh).
# All servers are started fresh on 127.0.0.1 (allowing 12,000 clients) and
# stopped by PID from a trap. Each row runs every server once per round, in
# an order rotated by one each round (L N R M, N R M L, ...) so that
# background noise hits all of them; every linesvr, Redis and memcached
# run has --verify FILE (the limit server's answers are all the same line:
# nothing to verify), every run -d and timeout(1).
#
# Rows: c=1 P=1, c=50 P=1, c=50 P=16, c=1000 P=1 (ratio linesvr / limit
# against 0.97, 0.97, 0.85, 0.95; the first two also p50 within 1.5 µs of
# the limit's); with Redis: open loop at half of linesvr's c=50 P=16
# rate, the 10,000-connection storm and private memory, against Redis;
# instructions per cached GET at P=16 (<= 400); --with-index-build (<= 1.3
# x wc -l); --with-10g (uniform >= 0.6, zipf 0.99 >= 0.85 of the 1M-line
# rate); --pin (the four rows again, same targets).
#
# Output: the Markdown table on stdout and in targets.md (row, limit,
# linesvr, Redis, memcached, ratio, target, met), progress on stderr, raw
# runs in the CSV (columns: row, server, rep, value, linesvr-bench's CSV
# columns, server_private_kb; value holds what is not a linesvr-bench
# run: instructions per GET, an index build's seconds). Exit status 0 when
# every run exited 0 with 0 mismatches (whether the targets are met or
# not), 1 otherwise, 2 on usage errors.
set -euo pipefail

. "$(dirname "$0")/benchlib.sh"
bench_root

W=1 RUNS=5 D=3 out=$here/results csv= keepdir= table_only=
with_redis=1 with_memcached=1 budget=1 pin=0 index_build=0 IDX_RUNS=15 plot=1 limit_only=0
BIG=0 BIG_SIZE=10G BIG_M=16 BIG_CACHE=64M
PIN_SERVER=1 PIN_CLIENT=0
usage() { sed -n '7,37p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--workers) [ $# -ge 2 ] || usage; W=$2; shift ;;
	--runs) [ $# -ge 2 ] || usage; RUNS=$2; shift ;;
	-d) [ $# -ge 2 ] || usage; D=$2; shift ;;
	-o) [ $# -ge 2 ] || usage; out=$2; shift ;;
	--csv) [ $# -ge 2 ] || usage; csv=$2; shift ;;
	--keep-data) [ $# -ge 2 ] || usage; keepdir=$2; shift ;;
	--no-redis) with_redis=0 ;;
	--no-memcached) with_memcached=0 ;;
	--no-budget) budget=0 ;;
	--pin) pin=1 ;;
	--with-index-build) index_build=1 ;;
	--index-runs) [ $# -ge 2 ] || usage; IDX_RUNS=$2; index_build=1; shift ;;
	--with-10g) BIG=1 ;;
	--big-size) [ $# -ge 2 ] || usage; BIG_SIZE=$2; BIG=1; shift ;;
	--big-m) [ $# -ge 2 ] || usage; BIG_M=$2; BIG=1; shift ;;
	--big-cache) [ $# -ge 2 ] || usage; BIG_CACHE=$2; BIG=1; shift ;;
	--limit-only) limit_only=1 ;;
	--no-plot) plot=0 ;;
	--table) [ $# -ge 2 ] || usage; table_only=$2; shift ;;
	-h|--help) usage 0 ;;
	*) echo "targets: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
for v in "$W" "$RUNS" "$D" "$IDX_RUNS"; do
	case $v in ''|*[!0-9]*) echo "targets: --workers, --runs, -d, --index-runs want whole numbers" >&2; exit 2 ;; esac
done
[ "$RUNS" -ge 1 ] && [ "$D" -ge 1 ] || { echo "targets: --runs and -d must be > 0" >&2; exit 2; }
if [ "$limit_only" = 1 ]; then with_redis=0 with_memcached=0 budget=0 index_build=0 BIG=0; fi
[ -n "$csv" ] || csv=$out/targets.csv
case $csv in /*) ;; *) csv=$PWD/$csv ;; esac
base=${csv%.csv}

t0=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say() { printf 'targets: [%3ds] %s\n' $((SECONDS - t0)) "$*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------- report
# report CSV SUMMARY: the Markdown table of a raw CSV on stdout, the same
# rows as CSV in SUMMARY (for plot.sh). Medians by row and server, columns
# found by name, row names from the runs' labels. Exit 1 if any run failed
# or mismatched.
report() {
awk -F, -v sumf="$2" '
function num(x,   s, r) {
	s = sprintf("%d", x + 0.5); r = ""
	while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
	return s r
}
function med(r, s, col,   n, i, j, t, a) {
	n = 0
	for (i = 1; i <= nr; i++) if (R[i] == r && S[i] == s && V[i, col] != "") a[++n] = V[i, col] + 0
	if (n == 0) return ""
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function sum(r, s, col,   i, t) {
	t = 0
	for (i = 1; i <= nr; i++) if (R[i] == r && S[i] == s) t += V[i, col]
	return t
}
function failed(i) {	# a linesvr-bench run with mismatches or a non-zero status?
	return V[i, "status"] != "" && (V[i, "mismatches"] != 0 || V[i, "status"] != 0)
}
function bad(r,   i) {
	for (i = 1; i <= nr; i++) if (R[i] == r && failed(i)) return 1
	return 0
}
function fails(r, s) {
	return sum(r, s, "err_connect_refused") + sum(r, s, "err_connect_timeout") + sum(r, s, "err_connect_other")
}
# out ROWID CELLS...: one table row and one summary row; better is
# "higher" or "lower" (the ratio against the target), "" for no plot.
function out(id, cl, cn, cr, cm, ratio, target, ok, q, tq, better,   name) {
	name = (id in L) ? L[id] : id
	if (ok != "" && bad(id)) ok = ok " (run errors or mismatches, see below)"
	printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, cl, cn, cr, cm, ratio, target, ok
	gsub(/,/, "", name)
	printf "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", id, name, f1(med(id, "limit", "req_per_s")),
	    f1(med(id, "linesvr", "req_per_s")), f1(med(id, "redis", "req_per_s")),
	    f1(med(id, "memcached", "req_per_s")), q == "" ? "" : sprintf("%.4f", q), tq, better >sumf
}
function f1(x) { return x == "" ? "" : sprintf("%.1f", x) }
function cell(r, s,   q, p) {
	q = med(r, s, "req_per_s"); p = med(r, s, "lat_p50_ns")
	return q == "" ? "—" : sprintf("%s req/s, p50 %.1f µs", num(q), p / 1e3)
}
# limit ROWID TARGET P50: a row against the limit server; P50 = 1 adds
# "p50 within 1.5 µs of the limit".
function limit(id, target, p50,   l, n, ln, nn, q, ok, d, t) {
	if (!(id in L)) return
	l = med(id, "linesvr", "req_per_s"); n = med(id, "limit", "req_per_s")
	ln = med(id, "linesvr", "lat_p50_ns"); nn = med(id, "limit", "lat_p50_ns")
	q = (l != "" && n > 0) ? l / n : ""
	d = (ln - nn) / 1e3
	ok = (q != "" && q >= target) ? "yes" : "no"
	if (p50 && d > 1.5) ok = "no"
	t = sprintf("≥ %.2f", target) (p50 ? "; p50 ≤ limit + 1.5 µs" : "")
	out(id, cell(id, "limit"), cell(id, "linesvr"), cell(id, "redis"), cell(id, "memcached"),
	    q == "" ? "—" : sprintf("%.2f", q) (p50 ? sprintf(" (p50 %+.1f µs)", d) : ""),
	    t, q == "" ? "no (no result)" : ok, q, target, "higher")
}
function rate(r, s,   q) { q = med(r, s, "req_per_s"); return q == "" ? "—" : num(q) " req/s" }
function big(id, factor,   l, b, q) {
	if (!(id in L)) return
	l = med("c50p16", "linesvr", "req_per_s"); b = med(id, "linesvr", "req_per_s")
	q = (b != "" && l > 0) ? b / l : ""
	out(id, "(1M lines: " rate("c50p16", "linesvr") ")", rate(id, "linesvr"), "", "",
	    q == "" ? "—" : sprintf("%.2f of the 1M-line rate", q),
	    sprintf("≥ %.2f of the 1M-line rate", factor),
	    q == "" ? "no (no result)" : (q >= factor ? "yes" : "no"), q, factor, "higher")
}
NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; nf = NF; next }
{
	nr++; R[nr] = $1; S[nr] = $2
	for (i = 1; i <= nf; i++) V[nr, h[i]] = $i
	lab = V[nr, "label"]; gsub(/"/, "", lab)
	if (lab != "") L[$1] = lab
	else if ($1 == "instr") L[$1] = "instructions per cached GET, P=16 (callgrind)"
	else if ($1 == "index") L[$1] = "index build on a hot 1 GiB file (hyperfine): linesvr-index against wc -l"
}
END {
	print "row,name,limit_rps,linesvr_rps,redis_rps,memcached_rps,ratio,target,better" >sumf
	print "| row | limit server | linesvr | Redis | memcached | ratio (linesvr / limit) | target | met |"
	print "|---|--:|--:|--:|--:|--:|---|---|"
	limit("rt", 0.97, 1); limit("c50p1", 0.97, 1); limit("c50p16", 0.85, 0); limit("c1000", 0.95, 0)
	limit("pin-rt", 0.97, 1); limit("pin-c50p1", 0.97, 1); limit("pin-c50p16", 0.85, 0); limit("pin-c1000", 0.95, 0)
	if ("instr" in L) {
		v = med("instr", "linesvr", "value")
		out("instr", "", sprintf("%.0f", v), "", "", "", "≤ 400", v != "" && v <= 400 ? "yes" : "no", v, 400, "")
	}
	if ("index" in L) {
		w = med("index", "wc", "value"); x = med("index", "linesvr-index", "value")
		q = w > 0 ? x / w : ""
		out("index", sprintf("wc -l %.1f ms", w * 1e3), sprintf("%.1f ms", x * 1e3), "", "",
		    q == "" ? "—" : sprintf("%.2f × wc -l", q), "≤ 1.30 × wc -l",
		    q != "" && q <= 1.3 ? "yes" : "no", q, 1.3, "lower")
	}
	big("bigu", 0.6); big("bigz", 0.85)
	if ("storm" in L) {
		l = med("storm", "linesvr", "req_per_s"); r = med("storm", "redis", "req_per_s")
		q = (l != "" && r > 0) ? l / r : ""
		out("storm", "", rate("storm", "linesvr") ", " fails("storm", "linesvr") " failed connects",
		    rate("storm", "redis") ", " fails("storm", "redis") " failed connects",
		    rate("storm", "memcached") ", " fails("storm", "memcached") " failed connects",
		    q == "" ? "—" : sprintf("%.2f × Redis", q), "0 failed connects, ≥ 1.3 × Redis",
		    (q != "" && fails("storm", "linesvr") == 0 && q >= 1.3) ? "yes" : "no", "", "", "")
	}
	if ("open" in L) {
		# A server "holds" the rate when, by the medians, it answered >= 95%
		# of it and left under 1% of the requests unsent for want of a
		# free pipeline slot (linesvr-bench "behind").
		rt = med("open", "linesvr", "rate"); dur = med("open", "linesvr", "duration_s")
		for (k = 1; k <= 3; k++) {
			s = k == 1 ? "linesvr" : k == 2 ? "redis" : "memcached"
			p[s] = med("open", s, "lat_p99_ns"); a = med("open", s, "req_per_s")
			hold[s] = (a >= 0.95 * rt && med("open", s, "behind") <= 0.01 * rt * dur)
			oc[s] = a == "" ? "—" : sprintf("p99 %.3f ms (%s req/s answered%s)", p[s] / 1e6, num(a), hold[s] ? "" : ", saturated")
		}
		ok = p["linesvr"] <= p["redis"] ? "yes" : "no"
		if (!hold["linesvr"]) ok = ok ", but linesvr did not hold the rate"
		L["open"] = sprintf("open loop at %s req/s (half of linesvr c=50 P=16): p99", num(rt))
		out("open", "", oc["linesvr"], oc["redis"], oc["memcached"],
		    p["redis"] > 0 ? sprintf("%.2f × Redis", p["linesvr"] / p["redis"]) : "—",
		    "p99 ≤ Redis p99", p["redis"] == "" ? "no (no result)" : ok, "", "", "")
	}
	if (med("c50p16", "redis", "server_private_kb") != "") {
		for (k = 1; k <= 4; k++) {
			s = k == 1 ? "limit" : k == 2 ? "linesvr" : k == 3 ? "redis" : "memcached"
			m[s] = med("c50p16", s, "server_private_kb")
			mc[s] = m[s] == "" ? "—" : sprintf("%.1f MB", m[s] / 1024)
		}
		L["mem"] = "private memory (RssAnon) serving 1,000,000 lines"
		out("mem", mc["limit"], mc["linesvr"], mc["redis"], mc["memcached"],
		    sprintf("%.3f × Redis", m["linesvr"] / m["redis"]), "≤ 0.1 × Redis",
		    m["linesvr"] <= m["redis"] / 10 ? "yes" : "no", "", "", "")
	}
	for (i = 1; i <= nr; i++) if (failed(i)) exit 1
}' "$1"
}

if [ -n "$table_only" ]; then
	report "$table_only" /dev/null
	exit
fi

# ---------------------------------------------------------------- cleanup
tmp=$(mktemp -d "${TMPDIR:-/tmp}/targets.XXXXXX")
bench_traps

# ----------------------------------------------------------- dependencies
[ "$with_redis" = 0 ] || { need_cmd redis-server redis-server; need_cmd redis-cli redis-tools; }
[ "$with_memcached" = 0 ] || need_cmd memcached memcached
[ "$index_build" = 0 ] || need_cmd hyperfine hyperfine
[ "$plot" = 0 ] || need_cmd gnuplot gnuplot-nox
[ "$pin" = 0 ] || need_cmd taskset util-linux
need_cmd timeout coreutils
install_need ""
build_bins
if [ "$pin" = 1 ] && [ "$(nproc)" -lt 2 ]; then die "--pin needs 2 CPUs, this machine has $(nproc)"; fi

# ------------------------------------------------------------------- data
if [ -n "$keepdir" ]; then mkdir -p "$keepdir"; data=$(cd "$keepdir" && pwd); else data=$tmp; fi
sample_1m targets-1m.txt
NLINES=$(wc -l <"$F")
VF=$F	# the file linesvr's answers are verified against

# --------------------------------------------------------------- servers
declare -A PORT_OF PID_OF
SERVERS="linesvr limit"
# linesvr: generated configuration, port 0, address from its log line.
linesvr_ini "$tmp/linesvr.ini" "$F" "workers = $W" "max_connections = 12000" "drain_timeout = 1"
launch_linesvr "$tmp/linesvr.ini" "$tmp/linesvr.log"
PID_OF[linesvr]=$SPID PORT_OF[linesvr]=$PORT
say "linesvr: pid $SPID, 127.0.0.1:$PORT, workers = $W, RssAnon $(rss_kb "$SPID") kB"
# The limit: a server that answers every request with a fixed line of the
# file's mean length and does nothing else, with as many threads.
MEANLEN=$(( $(stat -c %s "$F") / NLINES ))
launch "$tmp/null.log" 10 "$B/linesvr-null" -b 127.0.0.1 -p 0 -t "$W" -l "$MEANLEN"
PID_OF[limit]=$SPID PORT_OF[limit]=$PORT
say "limit: linesvr-null -t $W, pid $SPID, 127.0.0.1:$PORT, fixed $MEANLEN-byte lines"
if [ "$with_redis" = 1 ]; then
	start_redis "$tmp/redis.log" --maxclients 12000
	PID_OF[redis]=$SPID PORT_OF[redis]=$PORT SERVERS="$SERVERS redis"
	load_kv redis "$F"
fi
if [ "$with_memcached" = 1 ]; then
	start_memcached "$tmp/memcached.log" -c 12000
	PID_OF[memcached]=$SPID PORT_OF[memcached]=$PORT SERVERS="$SERVERS memcached"
	load_kv memcached "$F"
fi
KV=${SERVERS/ limit/}	# the servers that hold the lines

# ------------------------------------------------------------------- runs
mkdir -p "$(dirname "$csv")"
rm -f "$csv"
nrun=0 nbad=0 bad=() CLIENT=()
# run ROW SERVER REP LABEL [linesvr-bench args...]: one bounded, verified
# run (the client prefixed with CLIENT, e.g. taskset).
run() {
	local row=$1 srv=$2 rep=$3 label=$4 st=0 pid=${PID_OF[$2]} rss hdr line check
	shift 4
	check=(--proto "$srv" --verify "$VF")
	case $srv in
	linesvr) check[1]=lines ;;
	# Its answers are all the same line: nothing to verify.
	limit) check=(--proto lines -k "$NLINES") ;;
	esac
	nrun=$((nrun + 1))
	"${CLIENT[@]}" timeout -k 5 $((D + 40)) "$BENCH" -h 127.0.0.1 -p "${PORT_OF[$srv]}" \
	    "${check[@]}" --csv -q --label "$label" --server-pid "$pid" "$@" \
	    >"$tmp/run.csv" 2>>"$tmp/bench-stderr.log" || st=$?
	rss=$(rss_kb "$pid")
	if [ "$(wc -l <"$tmp/run.csv")" -lt 2 ]; then
		nbad=$((nbad + 1)); bad+=("$row/$srv/$rep: no result (exit $st)")
		say "$row $srv #$rep: no result (exit $st)"
		return 0
	fi
	hdr=$(head -n1 "$tmp/run.csv")
	[ -s "$csv" ] || echo "row,server,rep,value,$hdr,server_private_kb" >"$csv"
	line=$(sed -n 2p "$tmp/run.csv")
	echo "$row,$srv,$rep,,$line,$rss" >>"$csv"
	set -- $(echo "$line" | awk -F, -v h="$hdr" '
	    BEGIN { n = split(h, k, ","); for (i = 1; i <= n; i++) c[k[i]] = i }
	    { printf "%d %.1f %.1f %s %s %d %s", $c["req_per_s"], $c["lat_p50_ns"] / 1e3,
	      $c["lat_p99_ns"] / 1e3, $c["mismatches"], $c["status"],
	      $c["err_connect_refused"] + $c["err_connect_timeout"] + $c["err_connect_other"],
	      $c["behind"] }')
	say "$(printf '%-10s %-9s #%d %9s req/s  p50 %8s us  p99 %9s us  mism %s  connfail %s  behind %s  status %s  RssAnon %s kB' \
	    "$row" "$srv" "$rep" "$1" "$2" "$3" "$4" "$6" "$7" "$5" "$rss")"
	if [ "$st" -ne 0 ] || [ "$5" != 0 ] || [ "$4" != 0 ]; then
		nbad=$((nbad + 1)); bad+=("$row/$srv/$rep: mismatches $4, status $5 (exit $st)")
	fi
}
# extra ROW SERVER REP VALUE: a raw row that is not a linesvr-bench run.
extra() {
	[ -s "$csv" ] || die "no runs in $csv before the $1 row"
	echo "$1,$2,$3,$4" >>"$csv"
}
# row ROW LABEL "SERVERS" [linesvr-bench args...]: RUNS rounds, each
# running every server once; the order rotates by one server per round.
row() {
	local r=$1 label=$2 i j srv=($3)
	shift 3
	say "$label: $RUNS rounds of ${srv[*]}"
	for i in $(seq "$RUNS"); do
		for j in $(seq 0 $((${#srv[@]} - 1))); do
			run "$r" "${srv[$(((i - 1 + j) % ${#srv[@]}))]}" "$i" "$label" "$@"
		done
	done
}
# limit_rows PREFIX LABEL: the four rows against the limit server.
limit_rows() {
	row "${1}rt" "${2}c=1 P=1" "$SERVERS" -c 1 -P 1 -d "$D"
	row "${1}c50p1" "${2}c=50 P=1" "$SERVERS" -c 50 -P 1 -d "$D"
	row "${1}c50p16" "${2}c=50 P=16" "$SERVERS" -c 50 -P 16 -d "$D"
	row "${1}c1000" "${2}c=1000 P=1" "$SERVERS" -c 1000 -P 1 -d "$D"
}
# pin_rows: the four rows with a linesvr of 2 workers and a linesvr-null of
# 2 threads, both on CPU PIN_SERVER, the client on CPU PIN_CLIENT.
pin_rows() {
	local save="$SERVERS" lp=${PID_OF[linesvr]} lq=${PORT_OF[linesvr]} np=${PID_OF[limit]} nq=${PORT_OF[limit]}
	linesvr_ini "$tmp/pin.ini" "$F" "workers = 2" "max_connections = 12000" "drain_timeout = 1"
	launch "$tmp/pin-linesvr.log" 10 taskset -c "$PIN_SERVER" "$B/linesvr" -c "$tmp/pin.ini" -p 0 -b 127.0.0.1
	PID_OF[linesvr]=$SPID PORT_OF[linesvr]=$PORT
	launch "$tmp/pin-null.log" 10 taskset -c "$PIN_SERVER" "$B/linesvr-null" -b 127.0.0.1 -p 0 -t 2 -l "$MEANLEN"
	PID_OF[limit]=$SPID PORT_OF[limit]=$PORT
	say "pinned to CPU $PIN_SERVER: linesvr (workers = 2) pid ${PID_OF[linesvr]}, linesvr-null -t 2 pid $SPID; client on CPU $PIN_CLIENT"
	SERVERS="linesvr limit" CLIENT=(taskset -c "$PIN_CLIENT")
	limit_rows pin- "2 workers on CPU $PIN_SERVER and client on CPU $PIN_CLIENT: "
	stop_pid "${PID_OF[linesvr]}"; stop_pid "${PID_OF[limit]}"
	SERVERS=$save CLIENT=()
	PID_OF[linesvr]=$lp PORT_OF[linesvr]=$lq PID_OF[limit]=$np PORT_OF[limit]=$nq
}
# big_rows: the large-file rows, against a linesvr of their own serving a
# generated file of BIG_SIZE with a BIG_CACHE cache; the file is removed
# afterwards unless --keep-data was given.
big_rows() {
	local g=$data/targets-$BIG_SIZE.txt gi save_port=${PORT_OF[linesvr]} save_pid=${PID_OF[linesvr]}
	local what="$BIG_SIZE file (cache $BIG_CACHE; lines_per_page $BIG_M; c=50 P=16)"
	gi=$g.m$BIG_M.lidx
	if [ ! -s "$g" ]; then
		say "generating $g ($BIG_SIZE, seed 3)"
		"$B/linesvr-gendata" -b "$BIG_SIZE" -s 3 -o "$g"
	fi
	[ -s "$gi" ] || "$B/linesvr-index" -q -m "$BIG_M" "$g" -o "$gi"
	linesvr_ini "$tmp/big.ini" "$g" "workers = $W" "drain_timeout = 1" \
	    "[index]" "path = $gi" "lines_per_page = $BIG_M" "build = never" \
	    "[cache]" "size = $BIG_CACHE"
	launch_linesvr "$tmp/big.ini" "$tmp/big.log"
	PID_OF[linesvr]=$SPID PORT_OF[linesvr]=$PORT VF=$g
	say "linesvr ($BIG_SIZE): pid $SPID, 127.0.0.1:$PORT; one unrecorded warm-up run"
	timeout -k 5 $((D + 120)) "$BENCH" -h 127.0.0.1 -p "$PORT" -c 50 -P 16 \
	    -d "$D" -q >/dev/null 2>>"$tmp/bench-stderr.log" || true
	row bigu "$what: uniform keys" linesvr -c 50 -P 16 -d "$D"
	row bigz "$what: zipf 0.99 keys" linesvr -c 50 -P 16 --keys zipf:0.99 -d "$D"
	stop_pid "$SPID"
	PORT_OF[linesvr]=$save_port PID_OF[linesvr]=$save_pid VF=$F
	[ -n "$keepdir" ] || rm -f "$g" "$gi"
}
# median ROW SERVER COLUMN
median() {
	awk -F, -v r="$1" -v s="$2" -v col="$3" '
	    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	    $1 == r && $2 == s && $c[col] != "" { print $c[col] }' "$csv" |
	    sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# budget_row: instructions per cached GET at P=16, from scripts/budget.sh
# on the same file (callgrind counts are exact whatever else runs).
budget_row() {
	local b=$tmp/budget.csv ir req
	say "instructions per GET: scripts/budget.sh --callgrind-only (its table in $base-budget.md)"
	B=$B scripts/budget.sh --callgrind-only --data "$F" --csv "$b" >"$base-budget.md" ||
	    { nbad=$((nbad + 1)); bad+=("budget.sh failed"); return 0; }
	ir=$(awk -F, '$2 == "callgrind" && $4 == 16 && $5 == "Ir" { print $6 }' "$b")
	req=$(awk -F, '$2 == "callgrind" && $4 == 16 && $5 == "requests_server" { print $6 }' "$b")
	extra instr linesvr 1 "$(awk -v i="$ir" -v r="$req" 'BEGIN { printf "%.1f", i / r }')"
}
# index_row: hyperfine, `wc -l` against linesvr-index on a hot 1 GiB file;
# every timed run is a raw row (seconds).
index_row() {
	local g=$data/targets-1G.txt
	[ -s "$g" ] || { say "generating $g (1G, seed 7)"; "$B/linesvr-gendata" -b 1G -s 7 -o "$g"; }
	say "index build: hyperfine -w 3 -r $IDX_RUNS, wc -l against linesvr-index (fsync included)"
	timeout -k 5 900 hyperfine -N -w 3 -r "$IDX_RUNS" --prepare "rm -f $g.lidx" \
	    --export-json "$tmp/index.json" "wc -l $g" "$B/linesvr-index -q $g -o $g.lidx" >&2 ||
	    { nbad=$((nbad + 1)); bad+=("hyperfine failed"); return 0; }
	awk '/"command":/ { k++ } /"times":/ { t = 1; n = 0; next } t && /\]/ { t = 0 }
	    t { gsub(/[ ,]/, ""); printf "index,%s,%d,%s\n", k == 1 ? "wc" : "linesvr-index", ++n, $0 }' \
	    "$tmp/index.json" >>"$csv"
	[ -n "$keepdir" ] || rm -f "$g" "$g.lidx"
}

limit_rows "" ""
if [ "$limit_only" = 0 ] && [ "$with_redis" = 1 ]; then
	max=$(median c50p16 linesvr req_per_s)
	[ -n "$max" ] || die "no linesvr result at c=50 P=16"
	RATE=$(awk -v m="$max" 'BEGIN { r = int(m / 2); print (r < 1000 ? 1000 : r) }')
	say "linesvr closed-loop max at c=50 P=16 (median): ${max%.*} req/s; open loop at $RATE req/s"
	row open "open loop" "$KV" -c 50 -P 16 --rate "$RATE" -d "$D"
	row storm "10000-connection storm then P=1 over all" "$KV" --connect-storm 10000 -P 1 -d "$D"
fi
[ "$pin" = 0 ] || pin_rows
[ "$BIG" = 0 ] || big_rows
[ "$index_build" = 0 ] || index_row
[ "$budget" = 0 ] || budget_row

# ---------------------------------------------------------------- output
elapsed=$((SECONDS - t0))
{
	echo "linesvr (commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ', modified')) against the limit server (linesvr-null)$([ "$with_redis" = 0 ] || echo ", $(redis-server --version | awk '{ print $3 }' | sed 's/^v=/Redis /')")$([ "$with_memcached" = 0 ] || echo ", $(memcached -V)"): $NLINES lines of ~100 bytes (linesvr-gendata -n 1000000 -s 1), uniform keys;" \
	    "median of $RUNS rounds of ${D} s runs per row and server, the order rotating, same client (linesvr-bench, --verify on every run but the limit server's);" \
	    "linesvr workers = $W; $(nproc) CPUs shared by client and servers; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $nrun runs in $elapsed s."
	echo
	st=0
	report "$csv" "$base-summary.csv" || st=$?
	echo
	echo "Cells: median req/s and p50 round trip."
	[ "$with_redis" = 0 ] || echo "Private memory: the servers' RssAnon after each c=50 P=16 run (median); linesvr's mapped file is page cache, not counted."
	[ "$with_redis" = 0 ] || echo "Open loop: latency counts from each request's scheduled send time; \"saturated\" = by the medians, under 95% of the rate answered or over 1% of the requests left unsent (linesvr-bench \"behind\")."
	if [ "$nbad" -gt 0 ] || [ "$st" != 0 ]; then
		echo
		echo "Runs with mismatches or a non-zero status:"
		printf -- '- %s\n' "${bad[@]+"${bad[@]}"}"
	else
		echo "All $nrun runs: 0 mismatches, status 0."
	fi
} | tee "$base.md"
plotted=0
if [ "$plot" = 1 ]; then scripts/plot.sh --targets "$base-summary.csv" || plotted=$?; fi
say "raw runs: $csv; table: $base.md; $nbad of $nrun runs failed; total $((SECONDS - t0)) s"
[ "$plotted" = 0 ] || die "plot.sh failed"
[ "$nbad" = 0 ]
