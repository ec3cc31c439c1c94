#!/usr/bin/env bash
# targets.sh: the target table of the performance issue, linesvr against
# Redis on this machine with the same client (linesvr-bench), side by side
# in one run.
#
# usage: scripts/targets.sh [--workers N] [--runs N] [-d SECONDS]
#                           [--csv FILE] [--keep-data DIR]
#
#   --workers N   linesvr worker threads (default 1: client and server
#                 share the cores; Redis serves from one thread too)
#   --runs N      runs per row and server (default 5, at least 3 wanted;
#                 the median is shown; 5 runs take about 4 minutes)
#   -d SECONDS    length of each measured run (default 3)
#   --csv FILE    raw runs (default results/targets.csv)
#   --keep-data DIR  generate the 1,000,000-line file in DIR and keep it
#                 (default: a temporary directory, removed on exit)
#   --with-10g    also measure the large-file rows: a 10 GB file (about
#                 40 s to generate), [cache] size = 64M, lines_per_page 64
#   --big-size S, --big-m M, --big-cache C   change those three
#
# Data: `linesvr-gendata -n 1000000 -s 1` (~100-byte lines), indexed; Redis
# holds the same lines as keys 1..N (scripts/load-kv.sh). Both servers are
# started fresh on 127.0.0.1 (linesvr on port 0, Redis on a free port, both
# allowing 12,000 clients) and stopped by PID from a trap. Every row runs
# linesvr and Redis in alternation (L R, R L, L R, ...) so that background
# noise hits both, every linesvr-bench run has --verify FILE, -d and
# timeout(1). Rows not measured here (10 GB files) are printed as such.
#
# Output: a Markdown table on stdout (row, linesvr, Redis, ratio, target,
# met), progress on stderr, raw runs in the CSV (columns: row, server, rep,
# linesvr-bench's CSV columns, server_private_kb). Exit status 0 when every
# run exited 0 with 0 mismatches (whether the targets are met or not), 1
# otherwise, 2 on usage errors.
set -euo pipefail

. "$(dirname "$0")/benchlib.sh"
bench_root

W=1 RUNS=5 D=3 csv=$here/results/targets.csv keepdir=
BIG=0 BIG_SIZE=10G BIG_M=64 BIG_CACHE=64M
usage() { sed -n '6,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--workers) [ $# -ge 2 ] || usage; W=$2; shift ;;
	--runs) [ $# -ge 2 ] || usage; RUNS=$2; shift ;;
	-d) [ $# -ge 2 ] || usage; D=$2; shift ;;
	--csv) [ $# -ge 2 ] || usage; csv=$2; shift ;;
	--keep-data) [ $# -ge 2 ] || usage; keepdir=$2; shift ;;
	--with-10g) BIG=1 ;;
	--big-size) [ $# -ge 2 ] || usage; BIG_SIZE=$2; BIG=1; shift ;;
	--big-m) [ $# -ge 2 ] || usage; BIG_M=$2; BIG=1; shift ;;
	--big-cache) [ $# -ge 2 ] || usage; BIG_CACHE=$2; BIG=1; shift ;;
	-h|--help) usage 0 ;;
	*) echo "targets: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
for v in "$W" "$RUNS" "$D"; do
	case $v in ''|*[!0-9]*) echo "targets: --workers, --runs, -d want whole numbers" >&2; exit 2 ;; esac
done
[ "$RUNS" -ge 1 ] && [ "$D" -ge 1 ] || { echo "targets: --runs and -d must be > 0" >&2; exit 2; }

t0=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say() { printf 'targets: [%3ds] %s\n' $((SECONDS - t0)) "$*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------- cleanup
tmp=$(mktemp -d "${TMPDIR:-/tmp}/targets.XXXXXX")
bench_traps

# ----------------------------------------------------------- dependencies
need_cmd redis-server redis-server
need_cmd redis-cli redis-tools
need_cmd timeout coreutils
install_need ""
build_bins

# ------------------------------------------------------------------- data
if [ -n "$keepdir" ]; then mkdir -p "$keepdir"; data=$(cd "$keepdir" && pwd); else data=$tmp; fi
sample_1m targets-1m.txt
NLINES=$(wc -l <"$F")
VF=$F	# the file linesvr's answers are verified against

# --------------------------------------------------------------- servers
# linesvr: generated configuration, port 0, address from its log line.
linesvr_ini "$tmp/linesvr.ini" "$F" "workers = $W" "max_connections = 12000" "drain_timeout = 1"
launch_linesvr "$tmp/linesvr.ini" "$tmp/linesvr.log" linesvr
L_PID=$SPID L_PORT=$PORT
say "linesvr: pid $L_PID, 127.0.0.1:$L_PORT, workers = $W, RssAnon $(rss_kb "$L_PID") kB"

start_kv redis-server "$tmp/redis.log" redis-server --port @PORT@ --bind 127.0.0.1 \
    --save '' --appendonly no --maxclients 12000 --daemonize no
R_PID=$SPID R_PORT=$PORT
# The practical limit: a server that answers every request with a fixed
# line of the file's mean length and does nothing else.
MEANLEN=$(( $(stat -c %s "$F") / NLINES ))
start_kv linesvr-null "$tmp/null.log" "$B/linesvr-null" -b 127.0.0.1 -p @PORT@ -l "$MEANLEN"
N_PID=$SPID N_PORT=$PORT
say "limit: linesvr-null, pid $N_PID, 127.0.0.1:$N_PORT, fixed $MEANLEN-byte lines"
say "redis: pid $R_PID, 127.0.0.1:$R_PORT, $(redis-server --version | awk '{ print $3 }'); loading $NLINES lines as keys 1..N"
LINESVR_BENCH_BIN=$BENCH timeout -k 5 120 scripts/load-kv.sh "$F" --redis "$R_PORT" >&2 ||
    die "loading Redis failed"
say "redis: loaded, RssAnon $(rss_kb "$R_PID") kB"

# ------------------------------------------------------------------- runs
mkdir -p "$(dirname "$csv")"
rm -f "$csv"
nrun=0 nbad=0 bad=()
# run ROW SERVER REP [linesvr-bench args...]: one bounded, verified run.
run() {
	local row=$1 srv=$2 rep=$3 st=0 port pid proto rss hdr line check
	shift 3
	check=(--verify "$VF")
	case $srv in
	linesvr) port=$L_PORT pid=$L_PID proto=lines ;;
	redis) port=$R_PORT pid=$R_PID proto=redis ;;
	# Its answers are all the same line: nothing to verify.
	limit) port=$N_PORT pid=$N_PID proto=lines check=(-k "$NLINES") ;;
	esac
	nrun=$((nrun + 1))
	timeout -k 5 $((D + 40)) "$BENCH" -h 127.0.0.1 -p "$port" --proto "$proto" \
	    "${check[@]}" --csv -q --label "$row" --server-pid "$pid" "$@" \
	    >"$tmp/run.csv" 2>>"$tmp/bench-stderr.log" || st=$?
	rss=$(rss_kb "$pid")
	if [ "$(wc -l <"$tmp/run.csv")" -lt 2 ]; then
		nbad=$((nbad + 1)); bad+=("$row/$srv/$rep: no result (exit $st)")
		say "$row $srv #$rep: no result (exit $st)"
		return 0
	fi
	hdr=$(head -n1 "$tmp/run.csv")
	[ -s "$csv" ] || echo "row,server,rep,$hdr,server_private_kb" >"$csv"
	line=$(sed -n 2p "$tmp/run.csv")
	echo "$row,$srv,$rep,$line,$rss" >>"$csv"
	set -- $(echo "$line" | awk -F, -v h="$hdr" '
	    BEGIN { n = split(h, k, ","); for (i = 1; i <= n; i++) c[k[i]] = i }
	    { printf "%d %.1f %.1f %s %s %d %s", $c["req_per_s"], $c["lat_p50_ns"] / 1e3,
	      $c["lat_p99_ns"] / 1e3, $c["mismatches"], $c["status"],
	      $c["err_connect_refused"] + $c["err_connect_timeout"] + $c["err_connect_other"],
	      $c["behind"] }')
	say "$(printf '%-7s %-7s #%d %9s req/s  p50 %8s us  p99 %9s us  mism %s  connfail %s  behind %s  status %s  RssAnon %s kB' \
	    "$row" "$srv" "$rep" "$1" "$2" "$3" "$4" "$6" "$7" "$5" "$rss")"
	if [ "$st" -ne 0 ] || [ "$5" != 0 ] || [ "$4" != 0 ]; then
		nbad=$((nbad + 1)); bad+=("$row/$srv/$rep: mismatches $4, status $5 (exit $st)")
	fi
}
# row ROW [args...]: RUNS runs per server, order alternating L R N,
# N R L, ... (N: the limit server, only for rows in LIMIT_ROWS).
LIMIT_ROWS=" rt c50p1 c50p16 c1000 "
row() {
	local r=$1 i order srv
	shift
	for i in $(seq "$RUNS"); do
		order="linesvr redis"
		case $LIMIT_ROWS in *" $r "*) order="$order limit" ;; esac
		case $r in big*) order=linesvr ;; esac
		[ $((i % 2)) = 1 ] || order=$(echo "$order" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
		for srv in $order; do run "$r" "$srv" "$i" "$@"; done
	done
}
# big_rows: the large-file rows, against a linesvr of their own serving a
# generated file of BIG_SIZE with a BIG_CACHE cache; the file is removed
# afterwards unless --keep-data was given.
big_rows() {
	local g=$data/targets-$BIG_SIZE.txt gi save_port=$L_PORT save_pid=$L_PID
	gi=$g.m$BIG_M.lidx
	if [ ! -s "$g" ]; then
		say "generating $g ($BIG_SIZE, seed 3)"
		"$B/linesvr-gendata" -b "$BIG_SIZE" -s 3 -o "$g"
	fi
	[ -s "$gi" ] || "$B/linesvr-index" -q -m "$BIG_M" "$g" -o "$gi"
	linesvr_ini "$tmp/big.ini" "$g" "workers = $W" "drain_timeout = 1" \
	    "[index]" "path = $gi" "lines_per_page = $BIG_M" "build = never" \
	    "[cache]" "size = $BIG_CACHE"
	launch_linesvr "$tmp/big.ini" "$tmp/big.log" "linesvr ($BIG_SIZE)"
	L_PID=$SPID L_PORT=$PORT VF=$g
	say "linesvr ($BIG_SIZE): pid $L_PID, 127.0.0.1:$L_PORT; one unrecorded warm-up run"
	timeout -k 5 $((D + 120)) "$BENCH" -h 127.0.0.1 -p "$L_PORT" -c 50 -P 16 \
	    -d "$D" -q >/dev/null 2>>"$tmp/bench-stderr.log" || true
	row bigu -c 50 -P 16 -d "$D"
	row bigz -c 50 -P 16 --keys zipf:0.99 -d "$D"
	stop_pid "$L_PID"
	L_PORT=$save_port L_PID=$save_pid VF=$F
	[ -n "$keepdir" ] || rm -f "$g" "$gi"
}
# median ROW SERVER COLUMN
median() {
	awk -F, -v r="$1" -v s="$2" -v col="$3" '
	    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	    $1 == r && $2 == s && $c[col] != "" { print $c[col] }' "$csv" |
	    sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

row rt    -c 1 -P 1 -d "$D"
row c50p1 -c 50 -P 1 -d "$D"
row c50p16 -c 50 -P 16 -d "$D"
max=$(median c50p16 linesvr req_per_s)
[ -n "$max" ] || die "no linesvr result at c=50 P=16"
RATE=$(awk -v m="$max" 'BEGIN { r = int(m / 2); print (r < 1000 ? 1000 : r) }')
say "linesvr closed-loop max at c=50 P=16 (median): ${max%.*} req/s; open loop at $RATE req/s"
row open  -c 50 -P 16 --rate "$RATE" -d "$D"
row c1000 -c 1000 -P 1 -d "$D"
row storm --connect-storm 10000 -P 1 -d "$D"
[ "$BIG" = 0 ] || big_rows

# ---------------------------------------------------------------- report
elapsed=$((SECONDS - t0))
echo "linesvr vs Redis $(redis-server --version | awk '{ print $3 }' | sed 's/^v=//'), $NLINES lines of ~100 bytes (linesvr-gendata -n 1000000 -s 1), uniform keys;" \
    "median of $RUNS alternating runs of ${D} s per row and server, same client (linesvr-bench, --verify on every run);" \
    "linesvr workers = $W; $(nproc) CPUs shared by client and servers; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $nrun runs in $elapsed s."
echo
awk -F, -v rate="$RATE" -v dur="$D" -v big_name="$BIG_SIZE" -v big_cache="$BIG_CACHE" -v big_m="$BIG_M" '
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
function bad(r,   i) {	# any run of row r with mismatches or a non-zero status?
	for (i = 1; i <= nr; i++) if (R[i] == r && (V[i, "mismatches"] != 0 || V[i, "status"] != 0)) return 1
	return 0
}
function out(name, l, r, ratio, target, ok, rowid, lim, lq) {
	if (l == "" || r == "") { ok = "no (no result)" }
	else if (rowid != "" && bad(rowid)) ok = ok " (run errors or mismatches, see below)"
	printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, l, r, ratio, target, ok, lim, lq
}
function tput(name, rowid, factor,   l, r, q, n) {
	l = med(rowid, "linesvr", "req_per_s"); r = med(rowid, "redis", "req_per_s")
	n = med(rowid, "limit", "req_per_s")
	q = (l != "" && r > 0) ? l / r : 0
	out(name, num(l) " req/s", num(r) " req/s", sprintf("%.2f×", q),
	    sprintf("≥ %s× Redis", factor), q >= factor ? "yes" : "no", rowid,
	    n == "" ? "" : num(n) " req/s", n > 0 ? sprintf("%.2f", l / n) : "")
}
function big(name, rowid, factor,   l, b, q) {
	l = med("c50p16", "linesvr", "req_per_s"); b = med(rowid, "linesvr", "req_per_s")
	if (b == "") {
		printf "| %s | not measured (--with-10g) | | | ≥ %s× the 1M-line rate | | | |\n", name, factor
		return
	}
	q = l > 0 ? b / l : 0
	out(name, num(b) " req/s", "(1M lines: " num(l) " req/s)", sprintf("%.2f× the 1M-line rate", q),
	    sprintf("≥ %s× the 1M-line rate", factor), q >= factor ? "yes" : "no", rowid, "", "")
}
NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; nf = NF; next }
{
	nr++; R[nr] = $1; S[nr] = $2
	for (i = 1; i <= nf; i++) V[nr, h[i]] = $i
}
END {
	print "| row | linesvr | Redis | ratio (linesvr / Redis) | target | met | limit server | linesvr / limit |"
	print "|---|--:|--:|--:|---|---|--:|--:|"
	l = med("rt", "linesvr", "lat_p50_ns"); r = med("rt", "redis", "lat_p50_ns")
	n = med("rt", "limit", "lat_p50_ns")
	out("c=1 P=1 round trip p50", sprintf("%.1f µs", l / 1e3), sprintf("%.1f µs", r / 1e3),
	    sprintf("%.2f× (%+.1f µs)", r > 0 ? l / r : 0, (l - r) / 1e3),
	    "≤ Redis + 3 µs", l <= r + 3000 ? "yes" : "no", "rt",
	    n == "" ? "" : sprintf("%.1f µs", n / 1e3), n > 0 ? sprintf("%+.1f µs", (l - n) / 1e3) : "")
	tput("c=50 P=1", "c50p1", 1.25)
	tput("c=50 P=16", "c50p16", 4.5)
	tput("c=1000 P=1", "c1000", 1.3)
	l = med("storm", "linesvr", "req_per_s"); r = med("storm", "redis", "req_per_s")
	lf = sum("storm", "linesvr", "err_connect_refused") + sum("storm", "linesvr", "err_connect_timeout") + sum("storm", "linesvr", "err_connect_other")
	rf = sum("storm", "redis", "err_connect_refused") + sum("storm", "redis", "err_connect_timeout") + sum("storm", "redis", "err_connect_other")
	q = r > 0 ? l / r : 0
	out("10,000-connection storm, then P=1 over all", num(l) " req/s, " lf " failed connects",
	    num(r) " req/s, " rf " failed connects", sprintf("%.2f×", q),
	    "0 failed connects, ≥ 1.3× Redis", (lf == 0 && q >= 1.3) ? "yes" : "no", "storm", "", "")
	# A server "holds" the rate when, by the medians, it answered >= 95%
	# of it and left under 1% of the requests unsent for want of a free
	# pipeline slot (linesvr-bench "behind").
	l = med("open", "linesvr", "lat_p99_ns"); r = med("open", "redis", "lat_p99_ns")
	la = med("open", "linesvr", "req_per_s"); ra = med("open", "redis", "req_per_s")
	lb = med("open", "linesvr", "behind"); rb = med("open", "redis", "behind")
	lh = (la >= 0.95 * rate && lb <= 0.01 * rate * dur)
	rh = (ra >= 0.95 * rate && rb <= 0.01 * rate * dur)
	ok = l <= r ? "yes" : "no"
	if (!lh) ok = ok ", but linesvr did not hold the rate"
	out(sprintf("open loop at %s req/s (50%% of linesvr max, c=50 P=16): p99", num(rate)),
	    sprintf("%.3f ms (%s req/s answered%s)", l / 1e6, num(la), lh ? "" : ", saturated"),
	    sprintf("%.3f ms (%s req/s answered%s)", r / 1e6, num(ra), rh ? "" : ", saturated"),
	    sprintf("%.2f×", r > 0 ? l / r : 0), "p99 ≤ Redis p99", ok, "open", "", "")
	l = med("c50p16", "linesvr", "server_private_kb"); r = med("c50p16", "redis", "server_private_kb")
	out("private memory (RssAnon) serving 1,000,000 lines", sprintf("%.1f MB", l / 1024),
	    sprintf("%.1f MB", r / 1024), sprintf("%.3f×", r > 0 ? l / r : 0),
	    "≤ 1/10 of Redis", (r > 0 && l <= r / 10) ? "yes" : "no", "c50p16", "", "")
	big(big_name " file, cache " big_cache ", lines_per_page " big_m ", uniform keys, c=50 P=16", "bigu", 0.5)
	big(big_name " file, zipf 0.99 keys, same cache", "bigz", 0.8)
}' "$csv"
echo
echo "Private memory: the servers' RssAnon after each c=50 P=16 run (median); linesvr's mapped file is page cache, not counted."
echo "Open loop: latency counts from each request's scheduled send time; \"saturated\" = by the medians, under 95% of the rate answered or over 1% of the requests left unsent (linesvr-bench \"behind\")."
if [ "$nbad" -gt 0 ]; then
	echo
	echo "Runs with mismatches or a non-zero status:"
	printf -- '- %s\n' "${bad[@]}"
	say "raw runs: $csv; $nbad of $nrun runs failed; $elapsed s"
	exit 1
fi
echo "All $nrun runs: 0 mismatches, status 0."
say "raw runs: $csv; total $((SECONDS - t0)) s"
exit 0
