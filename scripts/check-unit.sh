#!/bin/sh
# check-unit.sh: check linesvr's systemd unit with systemd's own tools.
#
#   scripts/check-unit.sh [BUILD_DIR]      (BUILD_DIR defaults to build)
#
# 1. systemd-analyze verify, on a copy of scripts/linesvr.service whose
#    ExecStart names BUILD_DIR/linesvr (the unit names /usr/bin/linesvr,
#    where the package installs it) and with man/ on MANPATH, so that
#    Documentation= is checked too. It must say nothing.
# 2. systemd-analyze security --offline=yes: the exposure level must be
#    at most MAX_EXPOSURE (default 2.0).
#
# Exits 0 when both pass, 1 when either fails. systemd-analyze comes with
# Debian's systemd package, installed here when missing (as root, with
# apt-get); where it cannot be installed the check is skipped, saying so,
# with exit 0. PID 1 need not be systemd: nothing is started.

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
unit=$top/scripts/linesvr.service
max=${MAX_EXPOSURE:-2.0}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
		echo "check-unit: installing systemd for systemd-analyze" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends systemd >/dev/null
	fi
	if ! command -v systemd-analyze >/dev/null 2>&1; then
		echo "check-unit: SKIPPED: systemd-analyze is not installed" \
		    "and cannot be installed here (Debian: apt-get install" \
		    "systemd)" >&2
		exit 0
	fi
fi
bin=$(cd "$build" 2>/dev/null && pwd)/linesvr
if [ ! -x "$bin" ]; then
	echo "check-unit: $build/linesvr not built (make first)" >&2
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/unit" "$tmp/man/man5" "$tmp/man/man8"
sed "s|^ExecStart=/usr/bin/linesvr |ExecStart=$bin |" "$unit" \
    > "$tmp/unit/linesvr.service"
ln -s "$top/man/linesvr.8" "$tmp/man/man8/linesvr.8"
ln -s "$top/man/linesvr.ini.5" "$tmp/man/man5/linesvr.ini.5"

fail=0
if out=$(MANPATH="$tmp/man" systemd-analyze verify \
    "$tmp/unit/linesvr.service" 2>&1) && [ -z "$out" ]; then
	echo "check-unit: systemd-analyze verify: clean"
else
	echo "check-unit: systemd-analyze verify linesvr.service:" >&2
	echo "$out" >&2
	fail=1
fi

out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
level=$(echo "$out" |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
	echo "check-unit: no exposure level in the output of" \
	    "systemd-analyze security:" >&2
	echo "$out" >&2
	fail=1
elif awk -v l="$level" -v m="$max" 'BEGIN { exit !(l > m) }'; then
	echo "$out" | grep '✗' >&2
	echo "check-unit: exposure $level is over $max" >&2
	fail=1
else
	echo "check-unit: systemd-analyze security: exposure $level" \
	    "(at most $max)"
fi
exit $fail
