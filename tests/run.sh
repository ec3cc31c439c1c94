#!/bin/sh
# Run every test binary of each build directory given; fail if any fails.
# Integration tests find the server under test through LINESVR_BIN.
set -u
passed=0
failed=0
failures=""
for b in "$@"; do
	for t in "$b"/tests/test_* "$b"/tests/it_*; do
		[ -x "$t" ] || continue
		echo "== $t"
		if LINESVR_BIN="$b/linesvr" LINESVR_INDEX_BIN="$b/linesvr-index" \
		    LINESVR_GENDATA_BIN="build/linesvr-gendata" \
		    LINESVR_BENCH_BIN="$b/linesvr-bench" "$t"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures="$failures $t"
		fi
	done
done
echo
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
