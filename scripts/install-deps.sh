#!/bin/sh
# Install what linesvr needs to build and test, from the distribution's
# packages, only when something is missing. Idempotent: with everything
# present it only runs its compile tests (cc with the libraries, clang
# with libFuzzer) and exits 0.
set -eu

# clang and its runtimes (libclang-rt-14-dev holds libFuzzer, which clang
# only recommends) build the fuzz targets that `make test` smoke-runs.
PKGS="build-essential pkg-config libev-dev libinih-dev libcmocka-dev"
PKGS="$PKGS clang libclang-rt-14-dev"

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
	cat > "$tmp/f.c" <<'C'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{ return data == NULL && size > 0; }
C
	ok=0
	cc -o "$tmp/t" "$tmp/t.c" -lev -linih -lcmocka >/dev/null 2>&1 || ok=1
	if [ $ok -eq 0 ]; then
		command -v clang >/dev/null 2>&1 &&
		    clang -fsanitize=fuzzer,address,undefined -o "$tmp/f" \
		    "$tmp/f.c" >/dev/null 2>&1 || ok=1
	fi
	rm -rf "$tmp"
	return $ok
}

have_all && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: no apt-get here; install: a C compiler, make," \
	    "pkg-config, libev, inih and cmocka (with their headers)," \
	    "and clang with libFuzzer" >&2
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
