#!/bin/sh
# Install what linesvr needs to build and test, from the distribution's
# packages, only when something is missing. Idempotent: with everything
# present it only runs one compile test and exits 0.
set -eu

PKGS="build-essential pkg-config libev-dev libinih-dev libcmocka-dev"

have_all() {
	command -v pkg-config >/dev/null 2>&1 || return 1
	command -v cc >/dev/null 2>&1 || return 1
	tmp=$(mktemp -d) || return 1
	cat > "$tmp/t.c" <<'C'
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <ev.h>
#include <ini.h>
#include <cmocka.h>
int main(void) { return ev_version_major() > 0 ? 0 : 1; }
C
	ok=0
	cc -o "$tmp/t" "$tmp/t.c" -lev -linih -lcmocka >/dev/null 2>&1 || ok=1
	rm -rf "$tmp"
	return $ok
}

have_all && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: no apt-get here; install: a C compiler, make," \
	    "pkg-config, libev, inih and cmocka (with their headers)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages; run as root: apt-get install $PKGS" >&2
	exit 1
fi
echo "install-deps: installing $PKGS" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
have_all || { echo "install-deps: still missing after install" >&2; exit 1; }
