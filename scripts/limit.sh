#!/usr/bin/env bash
# limit.sh: linesvr against the limit server (linesvr-null, which answers
# every GET with a fixed line and does nothing else) with the same client,
# side by side in one run: the four rows of scripts/targets.sh that compare
# with the limit, without Redis, memcached and the other rows.
#
# usage: scripts/limit.sh [--runs N] [-d SECONDS] [--csv FILE]
#                         [--keep-data DIR] [--pin] [--table CSV]
#
#   --runs N      runs per row and server (default 5; the median is shown)
#   -d SECONDS    length of each measured run (default 3)
#   --csv FILE    raw runs (default results/limit.csv; the table in
#                 results/limit.md, plots results/limit-*.png)
#   --keep-data DIR  generate the 1,000,000-line file in DIR and keep it
#                 (default: a temporary directory, removed on exit)
#   --pin         also the rows with 2 workers pinned to CPU 1, the client
#                 to CPU 0
#   --table CSV   only print the table of an earlier run's CSV
#
# It is `scripts/targets.sh --limit-only --csv results/limit.csv ARGS`:
# every option of targets.sh works here too (see its header).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
case ${1-} in -h|--help) sed -n '7,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;; esac
exec "$here/scripts/targets.sh" --limit-only --csv "$here/results/limit.csv" "$@"
