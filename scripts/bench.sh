#!/usr/bin/env bash
# make bench: the benchmark matrix, start to finish.
#
# usage: scripts/bench.sh [--with-redis] [--with-memcached] [--keep]
#                         [-o DIR] [-d SECONDS] [--no-plot] [--no-targets]
#
#   --with-redis      also run the matrix against redis-server (and
#                     redis-benchmark against the same Redis, for comparison)
#   --with-memcached  also run the matrix against memcached
#   --keep            keep the generated 100 MB and 1 GB files in DIR/data
#   -o, --out DIR     work and output directory (default: results/ in the repo)
#   -d SECONDS        length of most runs (default 4; sweep and scaling steps
#                     are shorter)
#   --no-plot         do not call scripts/plot.sh
#   --workers N       linesvr worker threads (default 1: the client needs
#                     the other core of a 2-core machine; see README)
#   --with-10g        also the large-file scenarios: scripts/sweep-pages.sh
#                     generates a 10 GB file (removed afterwards unless
#                     --keep), serves it with a 64 MB cache and measures
#                     req/s against lines_per_page, uniform and zipf keys
#                     (about 8 more minutes), and the 10 GB target rows
#   --no-targets      do not run scripts/targets.sh afterwards
#
# Then the target table (scripts/targets.sh -o DIR, 3 to 9 minutes):
# linesvr against the limit server (linesvr-null), with Redis and
# memcached when asked for above, the same --workers, --with-10g, --keep
# and --no-plot; more targets.sh options from the environment variable
# TARGETS_ARGS (make bench TARGETS_ARGS="--pin --with-index-build").
#
# On a fresh Debian machine it installs what is missing with apt-get
# (gnuplot-nox; redis-server, redis-tools and memcached only when asked for).
# Generates deterministic files with linesvr-gendata into DIR/data, indexes
# them, starts a fresh linesvr per scenario on 127.0.0.1 with port 0, and
# runs linesvr-bench against it: every run has --verify, --csv, a --label,
# --server-pid, is bounded by -d or -n, by linesvr-bench's own deadline and
# by timeout(1). Everything listens on and talks to 127.0.0.1 only. Servers
# are stopped by PID; a trap kills whatever is left on exit.
#
# Output: DIR/results.csv (columns: scenario, server, linesvr-bench's CSV
# columns, server_private_kb), DIR/results.md (tables), DIR/*.png (plot.sh),
# DIR/logs/ (server logs, bench stderr), DIR/targets.* (targets.sh). Exit
# status 0 when every run exited 0 (no mismatches, no errors), 1
# otherwise, 2 on usage errors.
set -euo pipefail

. "$(dirname "$0")/benchlib.sh"
bench_root

with_redis=0 with_memcached=0 with_big=0 keep=0 plot=1 targets=1 D=4 out=$here/results W=1
cmdline="scripts/bench.sh${*:+ $*}"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--with-redis) with_redis=1 ;;
	--with-memcached) with_memcached=1 ;;
	--with-10g) with_big=1 ;;
	--keep) keep=1 ;;
	--no-plot) plot=0 ;;
	--no-targets) targets=0 ;;
	-o|--out) [ $# -ge 2 ] || usage; out=$2; shift ;;
	-d) [ $# -ge 2 ] || usage; D=$2; shift ;;
	--workers) [ $# -ge 2 ] || usage; W=$2; shift ;;
	-h|--help) usage 0 ;;
	*) echo "bench: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
case $D in ''|*[!0-9]*|0) echo "bench: -d wants whole seconds > 0" >&2; exit 2 ;; esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
data=$out/data logs=$out/logs conf=$out/conf
t_start=$SECONDS

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------- cleanup
cleanup() {
	local st=$? p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	[ -z "$policy_rc" ] || rm -f "$policy_rc"
	if [ "$keep" = 0 ]; then
		rm -f "$data"/f100m.txt* "$data"/f1g.txt*
	fi
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------- dependencies
need_cmd gnuplot gnuplot-nox
need_cmd timeout coreutils
need_cmd awk mawk
if [ "$with_redis" = 1 ]; then
	need_cmd redis-server redis-server
	need_cmd redis-benchmark redis-tools
fi
if [ "$with_memcached" = 1 ]; then
	need_cmd memcached memcached
fi
install_need " here: install them first"
build_bins

mkdir -p "$data" "$logs" "$conf"
rm -f "$logs"/*.log "$conf"/*.ini "$out"/*.png "$out/results.csv" "$out/results.md"
csv=$out/results.csv
nrun=0 nfail=0
failed=()

# ------------------------------------------------------------------- data
gen() {	# NAME SIZE SEED
	local f=$data/$1.txt
	say "generating $f ($2, seed $3) and its index"
	"$B/linesvr-gendata" -b "$2" -s "$3" -o "$f"
	"$B/linesvr-index" -q "$f"
}
gen f1m 1M 1
gen f100m 100M 2
gen f1g 1G 3
F1M=$data/f1m.txt F100M=$data/f100m.txt F1G=$data/f1g.txt

# --------------------------------------------------------------- servers
# start_linesvr NAME FILE [INI LINES...]: writes $conf/NAME.ini, starts
# linesvr on 127.0.0.1 port 0, sets PORT and SPID from its log line.
start_linesvr() {
	local name=$1 file=$2 ini=$conf/$1.ini
	shift 2
	linesvr_ini "$ini" "$file" "drain_timeout = 1" "workers = $W" "$@"
	launch_linesvr "$ini" "$logs/linesvr-$name.log" "linesvr ($name)"
	say "linesvr $name: pid $SPID, 127.0.0.1:$PORT, $(basename "$file")"
}

# ------------------------------------------------------------------- runs
# run SCENARIO SERVER LABEL [linesvr-bench args...]: one bounded run against
# 127.0.0.1:$PORT (server $SPID); appends one row to results.csv.
run() {
	local scen=$1 server=$2 label=$3 st=0 row rss tmo=90
	shift 3
	nrun=$((nrun + 1))
	timeout -k 5 "$tmo" "$BENCH" -h 127.0.0.1 -p "$PORT" --csv -q \
	    --label "$label" --server-pid "$SPID" "$@" \
	    >"$out/.run.csv" 2>>"$logs/bench-stderr.log" || st=$?
	rss=$(rss_kb "$SPID")
	if [ "$(wc -l <"$out/.run.csv")" -lt 2 ]; then
		say "run $nrun $scen/$label on $server: no result (exit $st)"
		nfail=$((nfail + 1)); failed+=("$scen/$server/$label: no result, exit $st")
		return 0
	fi
	[ -s "$csv" ] || echo "scenario,server,$(head -n1 "$out/.run.csv"),server_private_kb" >"$csv"
	row=$(sed -n 2p "$out/.run.csv")
	echo "$scen,$server,$row,$rss" >>"$csv"
	LAST=$(echo "$row" | awk -F, -v h="$(head -n1 "$out/.run.csv")" '
	    BEGIN { n = split(h, k, ","); for (i = 1; i <= n; i++) c[k[i]] = i }
	    { printf "%s %s %s %s", $c["req_per_s"], $c["lat_p99_ns"], $c["mismatches"], $c["status"] }')
	set -- $LAST
	LAST_RPS=${1%.*}
	printf 'bench: [%3ds] %-8s %-9s %-28s %9s req/s  p99 %8.3f ms  mismatches %s  status %s\n' \
	    $((SECONDS - t_start)) "$scen" "$server" "$label" "$LAST_RPS" \
	    "$(awk -v n="$2" 'BEGIN { print n / 1e6 }')" "$3" "$4" >&2
	if [ "$st" -ne 0 ] || [ "$4" != 0 ]; then
		nfail=$((nfail + 1)); failed+=("$scen/$server/$label: status $4 (exit $st)")
	fi
}

# 1. Redis and memcached first (when asked for), loaded with the 100 MB
# file's lines as keys 1..N, so that the matrix below can interleave the
# servers row by row: on a shared machine, background load then hits them
# alike.
servers=(linesvr)
if [ "$with_redis" = 1 ]; then
	start_redis "$logs/redis.log"
	r_pid=$SPID r_port=$PORT
	load_kv redis "$F100M"
	servers+=(redis)
fi
if [ "$with_memcached" = 1 ]; then
	# -c 4096: with memcached's default of 1024 connections (file
	# descriptors, in fact) part of the c = 1000 run is refused with
	# "ERROR Too many open connections".
	start_memcached "$logs/memcached.log" -c 4096
	m_kv_pid=$SPID m_kv_port=$PORT
	load_kv memcached "$F100M"
	servers+=(memcached)
fi

# 2. File sizes, c = 50, P = 16, default cache (256M).
for f in "1M:$F1M" "100M:$F100M" "1G:$F1G"; do
	start_linesvr "size-${f%%:*}" "${f#*:}"
	run size linesvr "${f%%:*} c=50 P=16" -c 50 -P 16 -d "$D" --verify "${f#*:}"
	[ "${f%%:*}" = 1G ] && { big_pid=$SPID big_port=$PORT; continue; }
	[ "${f%%:*}" = 100M ] && { l_pid=$SPID l_port=$PORT; continue; }
	stop_pid "$SPID"
done

# 3. The matrix on the 100 MB file, closed loop, each row against every
# server in turn.
on() {	# SERVER: point PORT, SPID and PROTO at it
	case $1 in
	linesvr) PORT=$l_port SPID=$l_pid PROTO=(--proto lines) ;;
	redis) PORT=$r_port SPID=$r_pid PROTO=(--proto redis) ;;
	memcached) PORT=$m_kv_port SPID=$m_kv_pid PROTO=(--proto memcached) ;;
	esac
}
for row in "1 1" "50 1" "1000 1" "50 16"; do
	set -- $row
	for s in "${servers[@]}"; do
		on "$s"
		run matrix "$s" "c=$1 P=$2" -c "$1" -P "$2" -d "$D" \
		    --verify "$F100M" "${PROTO[@]}"
		[ "$s" = linesvr ] && max=$LAST_RPS
	done
done

# 4. linesvr-bench vs redis-benchmark, c = 50, P = 1, 200,000 GETs each,
# one after the other against the same Redis.
if [ "$with_redis" = 1 ]; then
	on redis
	run vs-rb redis "linesvr-bench c=50 P=1 n=200k" -c 50 -P 1 -n 200000 \
	    --proto redis --verify "$F100M"
	tck=$(getconf CLK_TCK)
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$SPID/stat")
	TIMEFORMAT='%U %S %R'
	nrun=$((nrun + 1))
	{ time timeout -k 5 120 redis-benchmark -h 127.0.0.1 -p "$PORT" -c 50 \
	    -n 200000 -P 1 -t get --csv >"$out/.rb.csv" 2>>"$logs/bench-stderr.log"; } \
	    2>"$out/.rb.time" || { nfail=$((nfail + 1)); failed+=("redis-benchmark failed"); }
	cpu1=$(awk '{ print $14 + $15 }' "/proc/$SPID/stat")
	rss=$(rss_kb "$SPID")
	# redis-benchmark --csv: "GET","rps","avg_ms","min_ms","p50_ms","p95_ms","p99_ms","max_ms"
	tr '\r' '\n' <"$out/.rb.csv" | tr -d '"' | awk -F, -v h="$(head -n1 "$csv")" \
	    -v t="$(cat "$out/.rb.time")" -v srv=$(( cpu1 - cpu0 )) -v tck="$tck" -v rss="$rss" '
	    BEGIN { n = split(h, k, ","); split(t, tm, " ") }
	    $1 == "GET" {
		for (i = 1; i <= n; i++) v[k[i]] = ""
		v["scenario"] = "vs-rb"; v["server"] = "redis"
		v["label"] = "\"redis-benchmark c=50 P=1 n=200k -t get\""
		v["proto"] = "redis"; v["connections"] = 50; v["pipeline"] = 1
		v["threads"] = 1; v["rate"] = "0.000"; v["requests"] = 200000
		v["req_per_s"] = $2; v["lat_mean_ns"] = $3 * 1e6
		v["lat_min_ns"] = $4 * 1e6; v["lat_p50_ns"] = $5 * 1e6
		v["lat_p99_ns"] = $7 * 1e6; v["lat_max_ns"] = $8 * 1e6
		v["duration_s"] = 200000 / $2
		v["cpu_user_s"] = tm[1]; v["cpu_sys_s"] = tm[2]; v["wall_s"] = tm[3]
		v["cpu_percent"] = sprintf("%.1f", 100 * (tm[1] + tm[2]) / tm[3])
		v["server_cpu_s"] = sprintf("%.3f", srv / tck)
		v["status"] = 0; v["server_private_kb"] = rss
		line = v[k[1]]
		for (i = 2; i <= n; i++) line = line "," v[k[i]]
		print line; found = 1
	    }
	    END { exit !found }' >>"$csv" ||
	    { nfail=$((nfail + 1)); failed+=("redis-benchmark: no result"); }
	say "redis-benchmark: $(tr '\r' '\n' <"$out/.rb.csv" | grep '^"GET"' || echo none)"
	stop_pid "$r_pid"
fi
[ "$with_memcached" = 0 ] || stop_pid "$m_kv_pid"

# 5. Open-loop sweep on the 100 MB file: fractions of the closed-loop
# maximum at c = 50, P = 16 measured above.
on linesvr
say "closed-loop maximum at c=50 P=16: $max req/s; open-loop sweep at 0.1..1.2 of it"
for frac in 0.1 0.25 0.4 0.5 0.6 0.75 0.9 1.0 1.1 1.2; do
	rate=$(awk -v m="$max" -v f="$frac" 'BEGIN { r = int(m * f / 1000 + 0.5) * 1000; print (r < 1000 ? 1000 : r) }')
	run sweep linesvr "rate=$((rate / 1000))k (${frac}x)" -c 50 -P 16 \
	    --rate "$rate" -d 3 --verify "$F100M"
done
stop_pid "$SPID"

# 6. Cache smaller than the index (1 GB file: 42 MB of index) vs default.
SPID=$big_pid PORT=$big_port
run cache linesvr "1G cache=256M (default)" -c 50 -P 16 -d "$D" --verify "$F1G"
stop_pid "$SPID"
start_linesvr cache-1m "$F1G" "[cache]" "size = 1M"
run cache linesvr "1G cache=1M" -c 50 -P 16 -d "$D" --verify "$F1G"
stop_pid "$SPID"

# 7. 10,000 connections at once, then P = 1 over all of them; then clients
# scaling up to 10,000 and back down (connect times and round trips).
start_linesvr storm "$F100M" "max_connections = 12000"
run storm linesvr "storm 10000 P=1" --connect-storm 10000 -P 1 -d "$D" --verify "$F100M"
for n in 1 10 100 1000 5000 10000; do
	run scale linesvr "up c=$n" --connect-storm "$n" -P 1 -d 2 --verify "$F100M"
done
for n in 5000 1000 100 10 1; do
	run scale linesvr "down c=$n" --connect-storm "$n" -P 1 -d 2 --verify "$F100M"
done
stop_pid "$SPID"

# 8. Nagle vs TCP_NODELAY vs server-side coalescing: 1,000,000 requests.
for co in yes no; do
	start_linesvr "coalesce-$co" "$F100M" "coalesce = $co"
	for nd in 0 1; do
		run nagle linesvr "nodelay=$nd coalesce=$co" -c 50 -P 16 -n 1000000 \
		    --nodelay "$nd" --verify "$F100M"
	done
	stop_pid "$SPID"
done
rm -f "$out/.run.csv" "$out/.rb.csv" "$out/.rb.time"

# ---------------------------------------------------------------- report
# results.csv -> Markdown tables.
MD_AWK=$(cat <<'AWK'
function ms(ns) { return ns == "" ? "" : sprintf("%.3f", ns / 1e6) }
function num(x,   s, r) {
	s = sprintf("%d", x + 0.5); r = ""
	while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
	return s r
}
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
{
	row[NR] = $0
	if (NR == 2) {
		print "| scenario | run | server | req/s | p50 ms | p99 ms | p99.9 ms | client CPU % | server CPU s | server private MB | mismatches | status |"
		print "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	}
	lab = $c["label"]; gsub(/"/, "", lab)
	printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
	    $c["scenario"], lab, $c["server"], num($c["req_per_s"]),
	    ms($c["lat_p50_ns"]), ms($c["lat_p99_ns"]), ms($c["lat_p99_9_ns"]),
	    $c["cpu_percent"], $c["server_cpu_s"],
	    $c["server_private_kb"] == "" ? "" : sprintf("%.1f", $c["server_private_kb"] / 1024),
	    $c["mismatches"], $c["status"]
	if ($c["scenario"] == "matrix") {
		key = lab; srv = $c["server"]
		if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
		if (!(srv in sseen)) { sseen[srv] = 1; srvs[++ns] = srv }
		m[key, srv] = num($c["req_per_s"]) " (" ms($c["lat_p99_ns"]) ")"
	}
	if ($c["scenario"] == "nagle")
		nag[++nn] = sprintf("| %s | %s | %s / %s / %s | %s | %s |", lab,
		    num($c["req_per_s"]), ms($c["lat_min_ns"]), ms($c["lat_mean_ns"]),
		    ms($c["lat_max_ns"]), ms($c["lat_p99_ns"]), ms($c["lat_p99_99_ns"]))
	if ($c["scenario"] == "vs-rb") {
		if (lab ~ /^redis-benchmark/) rb = $c["req_per_s"]; else lb = $c["req_per_s"]
	}
}
END {
	if (nk > 0) {
		print ""
		print "## The matrix side by side (100 MB file, closed loop): req/s (p99 ms)"
		print ""
		h = "| run |"; s = "|---|"
		for (j = 1; j <= ns; j++) { h = h " " srvs[j] " |"; s = s "--:|" }
		print h; print s
		for (i = 1; i <= nk; i++) {
			l = "| " keys[i] " |"
			for (j = 1; j <= ns; j++) l = l " " m[keys[i], srvs[j]] " |"
			print l
		}
	}
	if (nn > 0) {
		print ""
		print "## Nagle vs TCP_NODELAY vs server-side coalescing (1,000,000 requests, c=50 P=16)"
		print ""
		print "| run | req/s | min / avg / max ms | p99 ms | p99.99 ms |"
		print "|---|--:|--:|--:|--:|"
		for (i = 1; i <= nn; i++) print nag[i]
	}
	if (rb != "" && lb != "") {
		print ""
		printf "linesvr-bench vs redis-benchmark against the same Redis, c=50 P=1, 200,000 GETs each: %s vs %s req/s, ratio %.2f. (redis-benchmark -t get asks for one absent key, \"key:__rand_int__\", so its answers are 5-byte nils; linesvr-bench asks for random keys 1..N and verifies ~100-byte values.)\n", num(lb), num(rb), lb / rb
	}
}
AWK
)
elapsed=$((SECONDS - t_start))
{
	echo "# linesvr benchmark results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)."
	echo "\`$cmdline\`: $nrun runs in $((elapsed / 60)) min $((elapsed % 60)) s;" \
	    "every linesvr-bench run with --verify. Client and servers share" \
	    "the cores, with whatever else runs: load average (1, 5, 15 min)" \
	    "$load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo "client CPU % is linesvr-bench's user + system time over its wall time" \
	    "(100 = one core); server CPU s is the server process's CPU seconds" \
	    "during the run (all its threads); server private MB is its RssAnon" \
	    "after the run. linesvr runs with workers = $W."
	echo
	awk -F, "$MD_AWK" "$csv"
	if [ ${#failed[@]} -gt 0 ]; then
		echo
		echo "Runs that did not exit 0:"
		printf -- '- %s\n' "${failed[@]}"
	fi
	echo
	echo "Plots: throughput-connections.png, latency-rate.png, connect-scaling.png, nagle.png."
} >"$out/results.md"

if [ "$plot" = 1 ]; then
	scripts/plot.sh "$out" || { say "plot.sh failed"; nfail=$((nfail + 1)); }
fi
if [ "$with_big" = 1 ]; then
	big_args=(-o "$out")
	[ "$keep" = 0 ] || big_args+=(--keep)
	scripts/sweep-pages.sh "${big_args[@]}" ||
	    { say "sweep-pages.sh failed"; nfail=$((nfail + 1)); failed+=("sweep-pages.sh"); }
fi
if [ "$targets" = 1 ]; then
	t_args=(-o "$out" --workers "$W")
	[ "$with_redis" = 1 ] || t_args+=(--no-redis)
	[ "$with_memcached" = 1 ] || t_args+=(--no-memcached)
	[ "$with_big" = 0 ] || t_args+=(--with-10g)
	[ "$keep" = 0 ] || t_args+=(--keep-data "$data")
	[ "$plot" = 1 ] || t_args+=(--no-plot)
	# shellcheck disable=SC2206 # TARGETS_ARGS: words, as on a command line
	t_args+=(${TARGETS_ARGS:-})
	say "the target table: scripts/targets.sh ${t_args[*]}"
	scripts/targets.sh "${t_args[@]}" >/dev/null ||
	    { say "targets.sh failed"; nfail=$((nfail + 1)); failed+=("targets.sh"); }
fi
say "wrote $csv ($nrun runs), $out/results.md and plots in $((SECONDS - t_start)) s"
if [ "$nfail" -gt 0 ]; then
	say "$nfail runs did not exit 0:"
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
exit 0
