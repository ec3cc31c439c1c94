#!/bin/sh
# What linesvr needs, in three groups, from the distribution's packages:
#
#   scripts/install-deps.sh [build|test|run]          install what is missing
#   scripts/install-deps.sh --check [build|test|run]  only say what is missing
#
#   build  a C compiler, pkg-config, libev, inih, libsystemd: `make`,
#          `make install` and `make deb`'s compile (`make deps`)
#   test   build + cmocka, clang with libFuzzer, mandoc, debhelper, lintian,
#          systemd-analyze, haproxy, openssl, nc and python3: everything
#          `make test` runs
#   run    build + nc and telnet, the clients `make run` tells you to use
#   cluster  run + haproxy: `make cluster`
#
# and two parts of test that the Makefile checks before compiling test
# programs: unit (build + cmocka) and fuzz (build + clang with libFuzzer).
#
# Each dependency is probed (libraries by compiling and linking a test
# program, since libev ships no .pc file; tools with command -v), so
# libraries built from source count too. Idempotent: with everything
# present it installs nothing and exits 0. Only `make deps`, `make test`
# and `make run` install; a plain `make` only checks (--check) and says
# which command installs what is missing. Exit: 0 all present, 1 missing
# (or the install failed), 2 usage.
set -eu

check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
group=${1:-build}
case $group in
build|test|run|cluster|unit|fuzz) ;;
*)
	echo "usage: $0 [--check] [build|test|run|cluster|unit|fuzz]" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# links HEADER [CC] [FLAGS...]: a program including HEADER compiles and
# links with FLAGS. cmocka.h needs the standard headers before it.
links() {
	h=$1
	shift
	printf '#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n'\
'#include <setjmp.h>\n#include <%s>\nint main(void) { return 0; }\n' \
	    "$h" > "$tmp/t.c"
	"$@" -o "$tmp/t" "$tmp/t.c"
}

fuzzer_links() {
	printf '#include <stddef.h>\n#include <stdint.h>\n'\
'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n'\
'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)\n'\
'{ return d == NULL && n > 0; }\n' > "$tmp/f.c"
	clang -fsanitize=fuzzer,address,undefined -o "$tmp/f" "$tmp/f.c"
}

systemd_libs() {
	pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd
}

missing=""
what=""
# want PACKAGES WHAT PROBE...: PACKAGES provide WHAT unless PROBE succeeds.
want() {
	pkgs=$1
	name=$2
	shift 2
	if ! "$@" >/dev/null 2>&1; then
		missing="$missing $pkgs"
		what="$what, $name"
	fi
}

probe() {
	missing=""
	what=""
	cc=${CC:-cc}
	want build-essential "C compiler $cc" command -v "$cc"
	want build-essential make command -v make
	want pkg-config pkg-config command -v pkg-config
	want libev-dev libev links ev.h "$cc" -lev
	want libinih-dev inih links ini.h "$cc" -linih
	want libsystemd-dev libsystemd links systemd/sd-daemon.h "$cc" \
	    $(systemd_libs)
	case $group in
	test|unit)
		want libcmocka-dev cmocka links cmocka.h "$cc" -lcmocka
		;;
	esac
	case $group in
	test|fuzz)
		# libFuzzer is in libclang-rt-14-dev, which clang only recommends.
		want "clang libclang-rt-14-dev" "clang with libFuzzer" fuzzer_links
		;;
	esac
	case $group in
	test)
		want mandoc mandoc command -v mandoc
		want debhelper debhelper command -v dh
		want lintian lintian command -v lintian
		want systemd systemd-analyze command -v systemd-analyze
		want haproxy haproxy command -v haproxy
		want openssl openssl command -v openssl
		want netcat-openbsd nc command -v nc
		want python3 python3 test -x /usr/bin/python3
		;;
	run|cluster)
		want netcat-openbsd nc command -v nc
		want telnet telnet command -v telnet
		;;
	esac
	if [ "$group" = cluster ]; then
		want haproxy haproxy command -v haproxy
	fi
}

probe
[ -z "$missing" ] && exit 0

if [ "$check" -eq 1 ]; then
	case $group in
	build) how="make deps" ;;
	run) how="make run" ;;
	cluster) how="make cluster" ;;
	*) how="make test" ;;
	esac
	echo "linesvr: missing ${what#, } (Debian:$missing); run '$how' as" \
	    "root to install them (or: scripts/install-deps.sh $group)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing ${what#, }; no apt-get here: install" \
	    "them with the system's package manager" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${what#, }; as root: apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null
probe
if [ -n "$missing" ]; then
	echo "install-deps: still missing after apt-get: ${what#, }" >&2
	exit 1
fi
