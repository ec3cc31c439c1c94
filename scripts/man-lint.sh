#!/bin/sh
# man-lint.sh: check linesvr's man pages with mandoc.
#
#   scripts/man-lint.sh [DIR]      (DIR defaults to man/ beside scripts/)
#
# Runs `mandoc -Tlint -W warning` on every DIR/*.1, *.5 and *.8, and
# renders each with -Tutf8. Prints whatever mandoc says and exits 1 if it
# said anything, or failed, on any page; exits 2 if mandoc is missing or
# there is no page to check; 0 when every page is clean.
#
# Needs: a POSIX sh and mandoc (Debian: apt-get install mandoc).
# Style-level messages (-W style, e.g. "referenced manual not found" for
# pages that are not installed yet) are not checked.

set -u

dir=${1:-$(dirname "$0")/../man}

if ! command -v mandoc >/dev/null 2>&1; then
	echo "man-lint: mandoc not found (apt-get install mandoc)" >&2
	exit 2
fi

pages=0
bad=0
for f in "$dir"/*.1 "$dir"/*.5 "$dir"/*.8; do
	[ -e "$f" ] || continue
	pages=$((pages + 1))
	out=$(mandoc -Tlint -W warning "$f" 2>&1)
	rc=$?
	if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out"
		echo "man-lint: $f: mandoc -Tlint: status $rc" >&2
		bad=1
	fi
	out=$(mandoc -Tutf8 -W warning "$f" 2>&1 >/dev/null)
	rc=$?
	if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out"
		echo "man-lint: $f: mandoc -Tutf8: status $rc" >&2
		bad=1
	fi
done

if [ "$pages" -eq 0 ]; then
	echo "man-lint: no man pages in $dir" >&2
	exit 2
fi
if [ "$bad" -ne 0 ]; then
	exit 1
fi
echo "man-lint: $pages pages clean"
exit 0
