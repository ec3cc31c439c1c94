#!/bin/sh
# Run libFuzzer targets, one after the other, each for SECONDS from a
# scratch copy of its seed corpus (tests/fuzz/corpus/NAME) in
# DIR/run/NAME: what a run adds to the corpus never lands in the source
# tree. With tests/fuzz/NAME.dict, the fuzzer uses it; with
# tests/fuzz/NAME.options, the libFuzzer flags in it (one a line). Prints each
# target's executions; fails if any target crashed or broke an invariant.
# A failing input is kept as DIR/run/NAME/crash-* (or leak-, timeout-,
# oom-), its log beside it; reproduce with: DIR/fuzz_NAME FILE.
#
# usage: tests/fuzz/run.sh DIR SECONDS TARGET...
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 DIR SECONDS TARGET..." >&2
	exit 2
fi
dir=$1
secs=$2
shift 2
failed=""
for bin in "$@"; do
	name=${bin##*/fuzz_}
	work=$dir/run/$name
	rm -rf "$work"
	mkdir -p "$work/corpus"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp tests/fuzz/corpus/"$name"/* "$work/corpus/"
	fi
	set --
	if [ -f "tests/fuzz/$name.dict" ]; then
		set -- -dict="tests/fuzz/$name.dict"
	fi
	# Per-target libFuzzer flags, one a line (e.g. a smaller -max_len
	# for a parser whose inputs are short: more executions a second).
	if [ -f "tests/fuzz/$name.options" ]; then
		while read -r opt; do
			[ -n "$opt" ] && set -- "$@" "$opt"
		done <"tests/fuzz/$name.options"
	fi
	"$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
	    -artifact_prefix="$work/" "$@" "$work/corpus" >"$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	if [ "$rc" -eq 0 ]; then
		printf 'fuzz_%-8s %10s execs in %s s, ok\n' "$name" \
		    "${execs:-?}" "$secs"
	else
		printf 'fuzz_%-8s FAILED (exit %d) after %s execs\n' "$name" \
		    "$rc" "${execs:-?}"
		grep -v '^#[0-9]' "$work/log" | tail -n 40
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
		    "$work"/oom-* 2>/dev/null
		echo "log: $work/log"
		failed="$failed fuzz_$name"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
