#!/usr/bin/env bash
# Direct vs through HAProxy, and a failover time series, on this machine.
#
# usage: scripts/cluster-bench.sh [-o DIR] [-d S] [-r ROUNDS] [-F S]
#                                 [--no-failover] [--failover-only] [--keep]
#   -o DIR     output directory (default results/)
#   -d S       seconds measured per run, after 1 s of warm-up (default 4)
#   -r ROUNDS  rounds; every configuration runs once per round, the order
#              rotating from round to round (default 3); medians reported
#   -F S       length of the failover run (default 20): r2 is SIGKILLed at
#              S/4 and brought back (cluster.sh restart-rolling 2) at S/2
#   --keep     keep the generated file and its index in DIR/data
#   --table CSV  only print the Markdown table of an earlier run's CSV
#
# One 1,000,000-line file (linesvr-gendata -n 1000000 -s 1), indexed once.
# Three configurations, all up for the whole run, all on 127.0.0.1:
#   direct  one linesvr -w 1, the bench connects to it
#   h1      HAProxy with 1 replica (scripts/cluster.sh start 1, -w 1)
#   h3      HAProxy with 3 replicas (scripts/cluster.sh start 3, -w 1)
# each at c=50 P=1 and c=50 P=16, every run with --verify (0 mismatches and
# status 0 required). For every run, CPU seconds per second of HAProxy, of
# each replica and of the bench, from /proc/PID/stat (utime + stime) before
# and after the run. Writes DIR/cluster.csv (a row per run) and prints the
# medians as a Markdown table on stdout.
#
# Then the failover run: 3 replicas, c=50 P=16 --retry 3 --verify, with
# --series DIR/failover-series.csv; r2 SIGKILLed, then restarted. Writes
# DIR/failover-series.csv, DIR/failover-events.csv (what happened when) and
# DIR/failover.png; lost = 0 and 0 mismatches required.
#
# Bounded: every bench has -d and timeout(1); every process started here
# (the direct linesvr, both clusters' HAProxy and replicas) is stopped by
# PID from the EXIT trap.
set -euo pipefail
. "$(dirname "$0")/benchlib.sh"
bench_root

say() { printf 'cluster-bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

out=$here/results D=4 ROUNDS=3 FS=20 keep='' do_matrix=1 do_failover=1 table_only=''
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift ;;
	-d) D=$2; shift ;;
	-r) ROUNDS=$2; shift ;;
	-F) FS=$2; shift ;;
	--keep) keep=1 ;;
	--no-failover) do_failover= ;;
	--failover-only) do_matrix= ;;
	--table) table_only=$2; shift ;;
	-h | --help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (--help)" ;;
	esac
	shift
done
case $out in /*) ;; *) out=$PWD/$out ;; esac

# table CSV: the medians per configuration and depth, as a Markdown table.
table() {
	python3 - "$1" <<'PY'
import csv, statistics as s, sys
rows = list(csv.DictReader(open(sys.argv[1])))
names = {"direct": "direct, 1 linesvr", "h1": "HAProxy, 1 replica", "h3": "HAProxy, 3 replicas"}
def med(rs, k):
    v = [float(r[k]) for r in rs if r[k] != ""]
    return s.median(v) if v else None
def f3(x): return "–" if x is None else f"{x:.2f}"
print("| configuration | P | req/s (median) | req/s (min–max) | p99 ms | HAProxy CPU s/s | linesvr CPU s/s (per replica) | bench CPU s/s | HAProxy µs/req | linesvr µs/req |")
print("|---|--:|--:|--:|--:|--:|---|--:|--:|--:|")
for cfg in ("direct", "h1", "h3"):
    for P in ("1", "16"):
        rs = [r for r in rows if r["config"] == cfg and r["pipeline"] == P]
        if not rs: continue
        rate = med(rs, "req_per_s"); hp = med(rs, "cpu_haproxy"); ls = med(rs, "cpu_linesvr")
        per = " + ".join(f3(med(rs, f"cpu_r{i}")) for i in range(1, int(rs[0]["replicas"]) + 1)) if cfg == "h3" else ""
        # CPU per request, each run's own ratio, then the median
        hpr = s.median([float(r["cpu_haproxy"]) / float(r["req_per_s"]) * 1e6 for r in rs]) if hp is not None else None
        lsr = s.median([float(r["cpu_linesvr"]) / float(r["req_per_s"]) * 1e6 for r in rs])
        lo = min(float(r["req_per_s"]) for r in rs); hi = max(float(r["req_per_s"]) for r in rs)
        print(f"| {names[cfg]} | {P} | {rate:,.0f} | {lo / 1000:,.0f}k–{hi / 1000:,.0f}k | {med(rs, 'lat_p99_ns') / 1e6:.2f} | {f3(hp)} | {f3(ls)}{' (' + per + ')' if per else ''} | {f3(med(rs, 'cpu_bench'))} | {f3(hpr)} | {f3(lsr)} |")
n = len(rows); v = sum(int(r["verified"]) for r in rows); m = sum(int(r["mismatches"]) for r in rows)
print(f"\n{n} runs, medians of {len({r['round'] for r in rows})}; {v:,} answers verified, {m} mismatches.")
PY
}
if [ -n "$table_only" ]; then table "$table_only"; exit 0; fi

need_cmd haproxy haproxy
need_cmd gnuplot gnuplot-nox
install_need ": install haproxy and gnuplot-nox first"
build_bins
mkdir -p "$out/data" "$out/logs"
data=$out/data keepdir=$keep
tmp=$(mktemp -d)
CLUSTER=$here/scripts/cluster.sh
RUN1=$tmp/c1 RUN3=$tmp/c3
HZ=$(getconf CLK_TCK)

# Stop both clusters (cluster.sh stop: by PID, checked against the command
# line), then anything still alive from their pidfiles, then our own PIDS.
cleanup() {
	local st=$? d f p
	trap - EXIT INT TERM
	for d in "$RUN1" "$RUN3"; do
		[ -f "$d/cluster.env" ] || continue
		"$CLUSTER" -r "$d" stop >/dev/null 2>&1 || true
		for f in "$d"/*.pid; do
			[ -f "$f" ] || continue
			p=$(cat "$f")
			if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF "$d/"; then
				kill -KILL "$p" 2>/dev/null || true
			fi
		done
	done
	bench_stop_all
	[ -n "$keep" ] || rm -f "$data/cluster-1m.txt" "$data/cluster-1m.txt.lidx"
	rm -rf "$tmp"
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cpu_ticks PID: utime + stime of PID in clock ticks (empty when gone).
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true
}
now_ns() { date +%s%N; }

# free_block N: a port P such that P..P+N are all free (P for HAProxy,
# P+1..P+N for the replicas).
free_block() {
	local p i ok
	for _ in $(seq 50); do
		p=$(free_port)
		ok=1
		for i in $(seq 1 "$1"); do listening $((p + i)) && ok= && break; done
		[ -n "$ok" ] && { echo "$p"; return; }
	done
	die "no block of $(($1 + 1)) free ports"
}

# start_cluster RUN N: cluster.sh start N (-w 1) of $F in RUN; sets CPORT.
start_cluster() {
	local run=$1 n=$2 p
	p=$(free_block "$n")
	"$CLUSTER" -f "$F" -r "$run" -p "$p" -b "$p" -w 1 start "$n" >"$tmp/start.log" 2>&1 ||
	    { cat "$tmp/start.log" >&2; die "cluster.sh start $n failed"; }
	CPORT=$p
}
pidof_run() { cat "$1/$2.pid"; }	# pidof_run RUN NAME (haproxy, r1, ...)

sample_1m cluster-1m.txt

# ---------------------------------------------------------------- matrix
csv=$out/cluster.csv
if [ -n "$do_matrix" ]; then
	# (a) direct: one linesvr -w 1
	linesvr_ini "$tmp/direct.ini" "$F" "workers = 1" "[index]" "path = $F.lidx" "build = never"
	launch_linesvr "$tmp/direct.ini" "$out/logs/direct.log"
	DPID=$SPID DPORT=$PORT
	# (b) a 1-replica cluster of its own (not r2/r3 of (c) in maint: both
	# clusters stay up, idle but for their health checks, 5 a second per
	# replica); (c) 3 replicas
	start_cluster "$RUN1" 1
	P1=$CPORT
	start_cluster "$RUN3" 3
	P3=$CPORT
	say "direct linesvr :$DPORT (pid $DPID); HAProxy+1 :$P1 (pid $(pidof_run "$RUN1" haproxy)); HAProxy+3 :$P3 (pid $(pidof_run "$RUN3" haproxy))"

	echo "round,config,replicas,connections,pipeline,duration_s,req_per_s,lat_p50_ns,lat_p99_ns,verified,mismatches,status,wall_s,cpu_haproxy,cpu_linesvr,cpu_r1,cpu_r2,cpu_r3,cpu_bench,cpu_total" >"$csv"
	configs=(direct h1 h3)
	bad=0
	for round in $(seq 1 "$ROUNDS"); do
		for k in 0 1 2; do
			cfg=${configs[$(((k + round - 1) % 3))]}
			case $cfg in
			direct) port=$DPORT hp='' reps=("$DPID") ;;
			h1) port=$P1 hp=$(pidof_run "$RUN1" haproxy) reps=("$(pidof_run "$RUN1" r1)") ;;
			h3) port=$P3 hp=$(pidof_run "$RUN3" haproxy)
			    reps=("$(pidof_run "$RUN3" r1)" "$(pidof_run "$RUN3" r2)" "$(pidof_run "$RUN3" r3)") ;;
			esac
			for P in 1 16; do
				h0=0; [ -z "$hp" ] || h0=$(cpu_ticks "$hp")
				r0=(); for p in "${reps[@]}"; do r0+=("$(cpu_ticks "$p")"); done
				t0=$(now_ns)
				st=0
				timeout $((D + 20)) "$B/linesvr-bench" -p "$port" -c 50 -P "$P" \
				    -d "$D" --warmup 1 --verify "$F" --json -q \
				    >"$tmp/run.json" 2>"$tmp/run.err" || st=$?
				t1=$(now_ns)
				h1c=0; [ -z "$hp" ] || h1c=$(cpu_ticks "$hp")
				r1=(); for p in "${reps[@]}"; do r1+=("$(cpu_ticks "$p")"); done
				rcpu=(); for i in "${!reps[@]}"; do rcpu+=($((r1[i] - r0[i]))); done
				row=$(python3 - "$tmp/run.json" "$round" "$cfg" "${#reps[@]}" "$P" \
				    "$t0" "$t1" "$HZ" "$((h1c - h0))" "$st" "$([ -n "$hp" ] && echo 1 || echo 0)" \
				    "${rcpu[@]}" <<'PY'
import json, sys
a = sys.argv[1:]
j = json.load(open(a[0]))
rnd, cfg, n, P = a[1], a[2], int(a[3]), a[4]
wall = (int(a[6]) - int(a[5])) / 1e9
hz = float(a[7]); hticks = int(a[8]); st = int(a[9]); has_hp = a[10] == "1"
reps = [int(x) / hz / wall for x in a[11:]]
hap = hticks / hz / wall if has_hp else None
bench = (j["client_cpu"]["user_s"] + j["client_cpu"]["sys_s"]) / j["wall_s"]
per = [f"{reps[i]:.3f}" if i < len(reps) else "" for i in range(3)]
total = sum(reps) + (hap or 0) + bench
status = max(st, j["status"])
print(",".join([rnd, cfg, str(n), str(j["connections"]), P, f'{j["duration_s"]:.3f}',
    f'{j["req_per_s"]:.0f}', str(j["latency_ns"]["p50"]), str(j["latency_ns"]["p99"]),
    str(j["verified"]), str(j["mismatches"]), str(status), f"{wall:.3f}",
    f"{hap:.3f}" if hap is not None else "", f"{sum(reps):.3f}", *per,
    f"{bench:.3f}", f"{total:.3f}"]))
PY
				) || { cat "$tmp/run.err" >&2; die "round $round $cfg P=$P: no result (status $st)"; }
				echo "$row" >>"$csv"
				say "round $round $cfg P=$P: $(echo "$row" | awk -F, '{ printf "%s req/s, p99 %.2f ms, %s mismatches, status %s", $7, $9 / 1e6, $11, $12 }')"
				echo "$row" | awk -F, '$11 != 0 || $12 != 0 { exit 1 }' || bad=1
			done
		done
	done
	"$CLUSTER" -r "$RUN1" stop >/dev/null
	stop_pid "$DPID"
	[ "$bad" = 0 ] || die "a run had mismatches or a non-zero status: see $csv"

	table "$csv"
else
	start_cluster "$RUN3" 3
	P3=$CPORT
fi

# --------------------------------------------------------------- failover
[ -n "$do_failover" ] || exit 0
series=$out/failover-series.csv events=$out/failover-events.csv
kill_at=$((FS / 4)) back_at=$((FS / 2))
say "failover: ${FS} s through HAProxy+3 (:$P3), SIGKILL r2 at ${kill_at} s, restart-rolling 2 at ${back_at} s"
rm -f "$series"
tb=$(now_ns)
timeout $((FS + 30)) "$B/linesvr-bench" -p "$P3" -c 50 -P 16 -d "$FS" --retry 3 \
    --series "$series" --verify "$F" --json -q >"$tmp/fo.json" 2>"$tmp/fo.err" &
BPID=$!
PIDS+=("$BPID")
rel() { awk -v a="$tb" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
state_of() { "$CLUSTER" -r "$RUN3" status 2>/dev/null | awk -v s="$1" '$1 == s { print $3 }' || true; }
wait_until() { while [ "$(awk -v a="$tb" -v b="$(now_ns)" 'BEGIN { print (b - a) / 1e9 < '"$1"' }')" = 1 ]; do sleep 0.01; done; }
echo "event,t_s" >"$events"
wait_until "$kill_at"
r2=$(pidof_run "$RUN3" r2)
tr '\0' ' ' <"/proc/$r2/cmdline" | grep -qF "$RUN3/r2.ini" || die "r2 pid $r2 is not our replica"
kill -KILL "$r2"
echo "sigkill_r2,$(rel)" >>"$events"
for _ in $(seq 300); do
	[ "$(awk -v a="$tb" -v b="$(now_ns)" 'BEGIN { print (b - a) / 1e9 < '"$back_at"' - 0.1 }')" = 1 ] || break
	[ "$(state_of r2)" = DOWN ] && { echo "r2_down,$(rel)" >>"$events"; break; }
	sleep 0.01
done
wait_until "$back_at"
echo "restart_r2,$(rel)" >>"$events"
"$CLUSTER" -r "$RUN3" -W 1 restart-rolling 2 >"$tmp/roll.log" 2>&1 ||
    { cat "$tmp/roll.log" >&2; die "restart-rolling 2 failed"; }
echo "r2_up,$(rel)" >>"$events"
fst=0
wait "$BPID" || fst=$?
forget_pid "$BPID"
echo "bench_end,$(rel)" >>"$events"
cat "$tmp/roll.log" >&2
python3 - "$tmp/fo.json" "$fst" "$events" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
ev = dict(l.strip().split(",") for l in open(sys.argv[3]).readlines()[1:])
print(f"\nFailover run: {j['duration_s']:.1f} s, {j['req_per_s']:,.0f} req/s; sent {j['sent']:,}, "
      f"answers {j['answers']:,}, verified {j['verified']:,}, mismatches {j['mismatches']}, "
      f"retries {j['retries']:,}, reconnects {j['reconnects']:,}, abandoned {j['abandoned']}, "
      f"lost {j['lost']}, status {max(j['status'], int(sys.argv[2]))}; "
      f"r2 SIGKILLed at {ev['sigkill_r2']} s, DOWN at {ev.get('r2_down', '?')} s, "
      f"restart at {ev['restart_r2']} s, UP at {ev['r2_up']} s")
sys.exit(0 if j["lost"] == 0 and j["mismatches"] == 0 and j["status"] == 0 and sys.argv[2] == "0" else 1)
PY
cp "$tmp/fo.json" "$out/failover.json"

ev() { awk -F, -v e="$1" '$1 == e { print $2 }' "$events"; }
gnuplot <<EOF
set terminal pngcairo size 800,500 font "DejaVu Sans,10" noenhanced
set grid
set key top left box opaque
set output '$out/failover.png'
set title 'Through HAProxy, 3 replicas, c=50 P=16 --retry 3 --verify: r2 SIGKILLed, then restarted'
set datafile separator ','
set xlabel 'seconds since the start (a point: the second that ends there)'
set ylabel 'answers per second (thousands)'
set yrange [0:*]
set y2label 'errors, retries, lost per second'
set y2tics
set ytics nomirror
set y2range [0:*]
set key outside top center horizontal maxrows 1 samplen 2
set arrow from $(ev sigkill_r2), graph 0 to $(ev sigkill_r2), graph 1 nohead lw 2 lc rgb '#cc3311' dt 2
set label 'SIGKILL r2' at $(ev sigkill_r2), graph 0.06 offset 0.5,0 tc rgb '#cc3311'
set arrow from $(ev restart_r2), graph 0 to $(ev restart_r2), graph 1 nohead lw 2 lc rgb '#228833' dt 2
set label 'restart-rolling 2' at $(ev restart_r2), graph 0.06 offset 0.5,0 tc rgb '#228833'
$(d=$(ev r2_down); [ -z "$d" ] || printf "set arrow from %s, graph 0 to %s, graph 0.9 nohead lw 1 lc rgb '#cc3311' dt 3\nset label 'r2 DOWN' at %s, graph 0.92 center tc rgb '#cc3311'\n" "$d" "$d" "$d")
set arrow from $(ev r2_up), graph 0 to $(ev r2_up), graph 0.9 nohead lw 1 lc rgb '#228833' dt 3
set label 'r2 UP' at $(ev r2_up), graph 0.92 center tc rgb '#228833'
plot '$series' using 1:(\$2/1000) skip 1 with linespoints lw 2 pt 7 lc rgb '#4477aa' title 'req/s (left)', \
     '' using 1:3 skip 1 axes x1y2 with linespoints lw 1 pt 5 lc rgb '#ee7733' title 'errors', \
     '' using 1:4 skip 1 axes x1y2 with linespoints lw 1 pt 9 lc rgb '#aa3377' title 'retries', \
     '' using 1:6 skip 1 axes x1y2 with linespoints lw 1 pt 11 lc rgb 'black' title 'lost'
EOF
say "wrote $csv $series $events $out/failover.png"
