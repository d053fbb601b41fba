#!/bin/sh
# SPDX-License-Identifier: MIT
# Syscalls per call of dk_send, dk_sender_send and dk_daemonize, as
# docs/benchmarks.md shows them: strace -c over N calls, divided by N.
#   bench/strace-calls.sh BUILDDIR   (after make; needs strace and cc)
set -eu
B=$(cd "$1" && pwd); S=$(cd "$(dirname "$0")/.." && pwd); D=$(mktemp -d); N=200
trap 'rm -rf "$D"' EXIT
cc -O2 -I"$S/include" "$S/bench/strace-calls.c" -o "$D/sc" -L"$B/.libs" -ldaemoniker -luv \
  -Wl,-rpath,"$B/.libs"
"$D/sc" rx "$D/r.pid" 0
per_call() { # strace output, calls
  sort -k4 -n -r "$1" | awk -v n="$2" 'NF>=5 && $NF!="total" && $NF!="syscall" && $4 ~ /^[0-9]+$/ {
    s+=$4; if ($4/n >= 0.5) printf "   %s %.2f\n", $NF, $4/n } END { printf "   total %.1f\n", s/n }'
}
for m in send sender; do
  echo "$m:"; strace -c -o "$D/out" "$D/sc" $m "$D/r.pid" $N; per_call "$D/out" $N
done
kill "$(cat "$D/r.pid")"
N=50
echo "daemonize (all processes, with the wait for each daemon's exit):"
strace -f -c -o "$D/out" "$D/sc" daemonize "$D/d.pid" $N >/dev/null 2>&1
per_call "$D/out" $N
