#!/usr/bin/env bash
# Time from exec to "listening on" for linesvr with a prebuilt index.
# usage: scripts/startup-time.sh FILE [RUNS]   (prints one ms value per run,
# then the median). Builds FILE.lidx first if it is missing.
set -euo pipefail
B=${B:-build}
file=$1
runs=${2:-5}
"$B/linesvr-index" --check "$file" >/dev/null 2>&1 || "$B/linesvr-index" -q "$file"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
times=()
for _ in $(seq "$runs"); do
	mkfifo "$tmp/log"
	t0=$(date +%s%N)
	"$B/linesvr" -p 0 -w 1 "$file" 2>"$tmp/log" &
	pid=$!
	while IFS= read -r line; do
		case $line in *"listening on"*) break ;; esac
	done <"$tmp/log"
	t1=$(date +%s%N)
	kill -TERM "$pid"; wait "$pid" || true
	rm -f "$tmp/log"
	ms=$(( (t1 - t0) / 1000 ))
	times+=("$ms")
	printf '%d.%03d ms\n' $((ms / 1000)) $((ms % 1000))
done
med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
printf 'median %d.%03d ms (%s)\n' $((med / 1000)) $((med % 1000)) "$file"
