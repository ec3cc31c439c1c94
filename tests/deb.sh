#!/bin/sh
# make deb, then check the package without installing it: lintian finds no
# error, the files and the conffile are exactly the expected ones, the
# changelog's version is the programs' version, and the packaged linesvr
# passes --check with the packaged config (unpacked into a scratch root,
# its paths under it). Skipped, saying so, without debhelper or lintian
# (`make test` installs both). Run by `make test`; B is the build
# directory (default build).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
for tool in dh dpkg-buildpackage lintian; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "deb.sh: SKIPPED: no $tool (apt-get install debhelper lintian)"
		exit 0
	fi
done
name=deb.sh
. tests/lib.sh

version=$(sed -n 's/^#define LINESVR_VERSION "\(.*\)"$/\1/p' include/version.h)
[ "$(dpkg-parsechangelog -S Version)" = "$version" ] ||
    fail "debian/changelog's version is not $version (include/version.h)"

if ! make --no-print-directory B="$B" deb > "$tmp/build.log" 2>&1; then
	cat "$tmp/build.log" >&2
	fail "make deb"
	exit 1
fi
deb=$(ls "$B"/deb/linesvr_*.deb)

lintian "$deb" > "$tmp/lintian" 2>&1
grep -v 'running with root privileges' "$tmp/lintian"
grep -q '^E:' "$tmp/lintian" && fail "lintian reports errors"

dpkg-deb -c "$deb" | awk '{ print $6 }' | sort > "$tmp/got"
cat > "$tmp/want" <<'LIST'
./
./etc/
./etc/linesvr/
./etc/linesvr/linesvr.ini
./lib/
./lib/systemd/
./lib/systemd/system/
./lib/systemd/system/linesvr.service
./usr/
./usr/bin/
./usr/bin/linesvr
./usr/bin/linesvr-bench
./usr/bin/linesvr-gendata
./usr/bin/linesvr-index
./usr/share/
./usr/share/doc/
./usr/share/doc/linesvr/
./usr/share/doc/linesvr/README.md.gz
./usr/share/doc/linesvr/changelog.gz
./usr/share/doc/linesvr/copyright
./usr/share/linesvr/
./usr/share/linesvr/sample.txt
./usr/share/man/
./usr/share/man/man1/
./usr/share/man/man1/linesvr-bench.1.gz
./usr/share/man/man1/linesvr-gendata.1.gz
./usr/share/man/man1/linesvr-index.1.gz
./usr/share/man/man5/
./usr/share/man/man5/linesvr.ini.5.gz
./usr/share/man/man8/
./usr/share/man/man8/linesvr.8.gz
LIST
diff -u "$tmp/want" "$tmp/got" >&2 || fail "the package's files differ"
[ "$(dpkg-deb -f "$deb" Package)" = linesvr ] || fail "package name"
dpkg-deb -e "$deb" "$tmp/control"
[ "$(cat "$tmp/control/conffiles")" = /etc/linesvr/linesvr.ini ] ||
    fail "conffiles: $(cat "$tmp/control/conffiles")"
grep -q deb-systemd-invoke "$tmp/control/postinst" ||
    fail "postinst does not start the unit (dh_installsystemd)"

# postinst makes /var/lib/linesvr; here the scratch root stands in for /.
root=$tmp/root
dpkg-deb -x "$deb" "$root"
mkdir -p "$root/var/lib/linesvr"
sed -e "s,^file = /,file = $root/," -e "s,^path = /,path = $root/," \
    "$root/etc/linesvr/linesvr.ini" > "$tmp/check.ini"
if ! out=$("$root/usr/bin/linesvr" --check -c "$tmp/check.ini" 2>&1); then
	echo "$out" >&2
	fail "the packaged linesvr --check with the packaged config"
fi

finish "$deb"
