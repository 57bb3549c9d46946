#!/bin/sh
# bench/run.sh BUILD_DIR -- `make bench`: sshmuxd side by side with OpenSSH
# in one run (bench/bench.py says what is measured and how), written to
# docs/benchmarks.md and docs/benchmarks.png.  Not part of `make check`.
#
#   BENCH_ONLY="warm jump"   run a subset (warm jump rss delay bulk sftp many
#                            stability proof); other knobs: bench/bench.py
#   BENCH_NICE=10            the niceness everything runs at (shared machine)
set -eu
B=${1:?usage: bench/run.sh BUILD_DIR}
for p in /usr/sbin/sshd ssh ssh-keygen sftp python3 "$B/bench/timeit" \
  "$B/bench/delay-proxy" "$B/sshmuxd" "$B/examples/echo-server"; do
  command -v "$p" >/dev/null || { echo "bench: $p is missing" >&2; exit 1; }
done
exec nice -n "${BENCH_NICE:-10}" python3 "$(dirname "$0")/bench.py" "$B"
