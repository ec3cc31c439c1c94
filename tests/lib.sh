# Helpers for the shell tests, sourced after setting `name`: a scratch
# directory $tmp removed on exit, fail (record a failure, carry on) and
# finish (exit 1 if anything failed, else say ok).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
	echo "$name: FAIL: $*" >&2
	failed=1
}

finish() {
	if [ "$failed" -ne 0 ]; then
		exit 1
	fi
	echo "$name: ok${1:+ ($1)}"
}
