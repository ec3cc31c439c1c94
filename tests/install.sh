#!/bin/sh
# make install and make uninstall into scratch DESTDIRs: exactly the
# expected files, stripped binaries (and unstripped with STRIP=), a config
# that names files the install put there and passes linesvr --check, a
# changed config kept by a second install and by uninstall, nothing else
# left behind. Run by `make test`; B is the build directory (default
# build).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
name=install.sh
. tests/lib.sh

# inst DIR TARGET [VAR=VALUE...]: make TARGET with DESTDIR=DIR, quietly
# unless it fails; its output is in DIR.log.
inst() {
	d=$1
	shift
	if ! make --no-print-directory B="$B" DESTDIR="$d" "$@" \
	    >"$d.log" 2>&1; then
		cat "$d.log" >&2
		fail "make $* DESTDIR=$d failed"
	fi
}

# tree DIR: every file and directory under DIR, relative to it.
tree() {
	(cd "$1" && find . -mindepth 1 | sort)
}

has_symbols() {
	readelf -S "$1" | grep -q '\.symtab'
}

d=$tmp/a
mkdir "$d"
inst "$d" install
cat > "$tmp/want" <<'EOF'
./etc
./etc/linesvr
./etc/linesvr/linesvr.ini
./usr
./usr/local
./usr/local/bin
./usr/local/bin/linesvr
./usr/local/bin/linesvr-bench
./usr/local/bin/linesvr-gendata
./usr/local/bin/linesvr-index
./usr/local/lib
./usr/local/lib/systemd
./usr/local/lib/systemd/system
./usr/local/lib/systemd/system/linesvr.service
./usr/local/share
./usr/local/share/linesvr
./usr/local/share/linesvr/sample.txt
./usr/local/share/man
./usr/local/share/man/man1
./usr/local/share/man/man1/linesvr-bench.1
./usr/local/share/man/man1/linesvr-gendata.1
./usr/local/share/man/man1/linesvr-index.1
./usr/local/share/man/man5
./usr/local/share/man/man5/linesvr.ini.5
./usr/local/share/man/man8
./usr/local/share/man/man8/linesvr.8
./var
./var/lib
./var/lib/linesvr
EOF
tree "$d" > "$tmp/got"
diff -u "$tmp/want" "$tmp/got" >&2 || fail "installed files differ"
for p in linesvr linesvr-index linesvr-bench linesvr-gendata; do
	has_symbols "$d/usr/local/bin/$p" && fail "$p installed unstripped"
done

# Every path the unit's ExecStart names was installed, and the config it
# names (its paths under DESTDIR) passes --check with the installed binary.
unit=$d/usr/local/lib/systemd/system/linesvr.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
case $exec_start in
"/usr/local/bin/linesvr "*" /etc/linesvr/linesvr.ini"*) ;;
*) fail "unit: ExecStart=$exec_start" ;;
esac
sed -e "s,^file = /,file = $d/," -e "s,^path = /,path = $d/," \
    "$d/etc/linesvr/linesvr.ini" > "$tmp/check.ini"
if ! out=$("$d/usr/local/bin/linesvr" --check -c "$tmp/check.ini" 2>&1); then
	echo "$out" >&2
	fail "linesvr --check with the installed config"
fi

# A second install keeps a changed config; uninstall keeps it and an
# index built in the state directory, and removes everything else.
echo '; changed by its user' >> "$d/etc/linesvr/linesvr.ini"
cp "$d/etc/linesvr/linesvr.ini" "$tmp/changed.ini"
: > "$d/var/lib/linesvr/sample.txt.lidx"
inst "$d" install
cmp -s "$tmp/changed.ini" "$d/etc/linesvr/linesvr.ini" ||
    fail "a second install overwrote a changed config"
grep -q "keeping $d/etc/linesvr/linesvr.ini" "$d.log" ||
    fail "a second install did not say it kept the config"
inst "$d" uninstall
printf '%s\n' ./etc ./etc/linesvr ./etc/linesvr/linesvr.ini ./usr \
    ./usr/local ./usr/local/bin ./usr/local/lib ./usr/local/lib/systemd \
    ./usr/local/lib/systemd/system ./usr/local/share ./usr/local/share/man \
    ./usr/local/share/man/man1 ./usr/local/share/man/man5 \
    ./usr/local/share/man/man8 ./var ./var/lib ./var/lib/linesvr \
    ./var/lib/linesvr/sample.txt.lidx > "$tmp/want"
tree "$d" > "$tmp/got"
diff -u "$tmp/want" "$tmp/got" >&2 ||
    fail "uninstall left or removed the wrong files"

# STRIP= installs binaries with their symbols; an unchanged config goes
# with uninstall.
d=$tmp/b
mkdir "$d"
inst "$d" install STRIP=
has_symbols "$d/usr/local/bin/linesvr" || fail "STRIP= stripped linesvr"
inst "$d" uninstall STRIP=
left=$(cd "$d" && find . -type f)
[ -z "$left" ] || fail "uninstall left: $left"
[ -e "$d/etc/linesvr" ] && fail "uninstall left /etc/linesvr"

finish
