#!/usr/bin/env bash
# limit.sh: linesvr against the limit server (linesvr-null, which answers
# every GET with a fixed line and does nothing else) with the same client,
# side by side in one run: the target rows of the "Performance II" work.
#
# usage: scripts/limit.sh [--runs N] [-d SECONDS] [--csv FILE]
#                         [--keep-data DIR]
#
#   --runs N      runs per row and server (default 5; the median is shown)
#   -d SECONDS    length of each measured run (default 3)
#   --csv FILE    raw runs (default results/limit.csv)
#   --keep-data DIR  generate the 1,000,000-line file in DIR and keep it
#                 (default: a temporary directory, removed on exit)
#   --table CSV   only print the table of an earlier run's CSV
#
# Both servers run one worker thread on 127.0.0.1 (linesvr-null -t 1 -l
# 100: its line is as long as the file's average), started fresh and
# stopped by PID from a trap. Rows alternate the servers (L N, N L, ...)
# so that background noise hits both; every linesvr run has --verify FILE
# (linesvr-null's fixed line cannot be verified). Rows: c=1 P=1, c=50 P=1,
# c=50 P=16, c=1000 P=1, uniform keys over the 1,000,000 lines.
#
# Output: a Markdown table on stdout (row, limit req/s and p50, linesvr
# req/s and p50, ratio, target, met), progress on stderr, raw runs in the
# CSV (row, server, rep, then linesvr-bench's CSV columns). Exit status 0
# when every run exited 0 with 0 mismatches, 1 otherwise, 2 on usage.
set -euo pipefail

. "$(dirname "$0")/benchlib.sh"
bench_root

RUNS=5 D=3 csv=$here/results/limit.csv keepdir= table_only=
usage() { sed -n '6,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || usage; RUNS=$2; shift ;;
	-d) [ $# -ge 2 ] || usage; D=$2; shift ;;
	--csv) [ $# -ge 2 ] || usage; csv=$2; shift ;;
	--keep-data) [ $# -ge 2 ] || usage; keepdir=$2; shift ;;
	--table) [ $# -ge 2 ] || usage; table_only=$2; shift ;;
	-h|--help) usage 0 ;;
	*) echo "limit: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
case $csv in /*) ;; *) csv=$PWD/$csv ;; esac

t0=$SECONDS
say() { printf 'limit: [%3ds] %s\n' $((SECONDS - t0)) "$*" >&2; }
die() { say "$*"; exit 1; }

# table CSV: the Markdown table of a run's CSV: medians by row and server,
# columns found by name. Exit 1 if any run failed or mismatched.
table() {
awk -F, '
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
	k = $1 SUBSEP $2
	n[k]++; rate[k, n[k]] = $col["req_per_s"]; p50[k, n[k]] = $col["lat_p50_ns"]
	if ($col["mismatches"] != 0 || $col["status"] != 0) bad = 1
	if (!($1 in seen)) { seen[$1] = 1; order[++rows] = $1 }
}
function median(a, k, cnt,   i, j, t, v) {
	for (i = 1; i <= cnt; i++) v[i] = a[k, i] + 0
	for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++)
		if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
}
END {
	target["c=1 P=1"] = 0.97; target["c=50 P=1"] = 0.97
	target["c=50 P=16"] = 0.85; target["c=1000 P=1"] = 0.95
	print "| row | limit req/s | limit p50 µs | linesvr req/s | linesvr p50 µs | ratio | target | met |"
	print "|---|--:|--:|--:|--:|--:|--:|---|"
	for (i = 1; i <= rows; i++) {
		r = order[i]; kl = r SUBSEP "linesvr"; kn = r SUBSEP "null"
		rl = median(rate, kl, n[kl]); rn = median(rate, kn, n[kn])
		pl = median(p50, kl, n[kl]) / 1000; pn = median(p50, kn, n[kn]) / 1000
		ratio = rn > 0 ? rl / rn : 0
		met = (ratio >= target[r]) ? "yes" : "no"
		printf "| %s | %.0f | %.1f | %.0f | %.1f | %.2f | %.2f | %s |\n", r, rn,
		    pn, rl, pl, ratio, target[r], met
	}
	if (bad) exit 1
}' "$1"
}

if [ -n "$table_only" ]; then
	table "$table_only"
	exit
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/limit.XXXXXX")
bench_traps
build_bins
data=${keepdir:-$tmp}
mkdir -p "$data" "$(dirname "$csv")"
sample_1m limit-1m.txt

linesvr_ini "$tmp/l.ini" "$F" "workers = 1" "max_connections = 12000"
launch_linesvr "$tmp/l.ini" "$tmp/l.log"
LPORT=$PORT
launch "$tmp/n.log" 10 "$B/linesvr-null" -b 127.0.0.1 -p 0 -t 1 -l 100
NPORT=$PORT

# run ROW SERVER REP C P: one bench run, its CSV row appended to $csv.
failed=0
run() {
	local row=$1 srv=$2 rep=$3 c=$4 p=$5 port=$LPORT out
	local args=(-c "$c" -P "$p" -d "$D" -k 1000000 --csv -q)
	if [ "$srv" = linesvr ]; then
		args+=(--verify "$F")
	else
		port=$NPORT
	fi
	out=$(timeout $((D + 30)) "$BENCH" -p "$port" "${args[@]}") ||
	    failed=1
	[ -s "$csv" ] || echo "row,server,rep,$(echo "$out" | head -n1)" >"$csv"
	echo "$out" | tail -n1 | sed "s/^/$row,$srv,$rep,/" >>"$csv"
}

: >"$csv"
rows=("c=1 P=1:1:1" "c=50 P=1:50:1" "c=50 P=16:50:16" "c=1000 P=1:1000:1")
for r in "${rows[@]}"; do
	IFS=: read -r row c p <<<"$r"
	say "$row: $RUNS runs each, alternating"
	for rep in $(seq "$RUNS"); do
		if [ $((rep % 2)) = 1 ]; then
			run "$row" linesvr "$rep" "$c" "$p"; run "$row" null "$rep" "$c" "$p"
		else
			run "$row" null "$rep" "$c" "$p"; run "$row" linesvr "$rep" "$c" "$p"
		fi
	done
done

table "$csv" || failed=1
say "raw runs in $csv"
exit "$failed"
