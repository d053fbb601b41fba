#!/bin/sh
# SPDX-License-Identifier: MIT
# What `make bench` and `make bench-smoke` run: every benchmark in turn,
# each checking that what it timed really happened (a failure stops the
# run with a non-zero status), then the one table of ratios.
#
#   bench/run.sh BUILDDIR SRCDIR full|smoke
#
# Results: BUILDDIR/bench/results.tsv (rows as written) and
# BUILDDIR/bench/results.json (the table, for machines).
set -eu

build=$1
src=$2
mode=$3

BENCH_BUILDDIR=$build
BENCH_SRCDIR=$src
BENCH_RESULTS=$build/bench/results.tsv
case $mode in
  smoke) BENCH_SMOKE=1 ;;
  full) BENCH_SMOKE= ;;
  *) echo "usage: $0 BUILDDIR SRCDIR full|smoke" >&2; exit 2 ;;
esac
export BENCH_BUILDDIR BENCH_SRCDIR BENCH_RESULTS BENCH_SMOKE

: > "$BENCH_RESULTS"
start=$(date +%s)
for b in latency daemonize idle burst send-tool; do
  echo "bench: $b ($mode)" >&2
  if ! "$build/bench/bench-$b"; then
    echo "bench: $b FAILED; no table" >&2
    exit 1
  fi
done
"$build/bench/bench-report" "$BENCH_RESULTS" "$build/bench/results.json"
echo "bench: $mode run took $(( $(date +%s) - start )) s"
