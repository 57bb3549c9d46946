#!/bin/sh
# fuzz-run.sh -- run libFuzzer targets for a bounded time and fail on any
# finding.  Used by `make fuzz-run`; the targets must be built (make fuzz).
#   scripts/fuzz-run.sh SECONDS [NAME...]     (default: every target)
# Each target runs on build-fuzz/corpus/NAME (kept between runs), seeded
# from tests/fuzz/corpus/NAME, under `nice -n 10`, with a 10 s per-input
# timeout (FUZZ_TIMEOUT=N: a loaded machine can stretch an input of the
# networked fuzz-pool-upstream, 0.8 s alone, past 10 s) and a 2 GiB RSS limit; leaks are reported by ASan at exit.  A
# crash, leak, timeout or out-of-memory ends that target with a non-zero
# status and its reproducer in build-fuzz/artifacts/; the script goes on
# with the others and exits 1 at the end if any failed.  One line per
# target: executions, coverage (cov: edges, ft: features) and corpus size,
# as recorded in docs/testing.md.
set -u
secs=${1:?usage: fuzz-run.sh SECONDS [NAME...]}
shift
[ $# -gt 0 ] || set -- $(cd build-fuzz/fuzz && ls)
mkdir -p build-fuzz/artifacts build-fuzz/logs
failed=
for f in "$@"; do
	bin=build-fuzz/fuzz/$f
	[ -x "$bin" ] || { echo "fuzz: $f: not built (make fuzz)" >&2; failed="$failed $f"; continue; }
	mkdir -p build-fuzz/corpus/$f
	seeds=; [ -d tests/fuzz/corpus/$f ] && seeds=tests/fuzz/corpus/$f
	log=build-fuzz/logs/$f.log
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		nice -n 10 "$bin" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/$f- \
		build-fuzz/corpus/$f $seeds >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	units=$(ls build-fuzz/corpus/$f | wc -l)
	if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: ' "$log"; then
		echo "fuzz: $f FAILED (status $rc) after ${execs:-?} runs; see $log"
		grep -E 'ERROR:|runtime error:|SUMMARY:|Test unit written' "$log" | head -5
		failed="$failed $f"
	else
		echo "fuzz: $f ${secs}s: ${execs:-?} runs, cov ${cov:-?}, ft ${ft:-?}, corpus $units"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
echo "fuzz: every target ran clean"
