#!/bin/sh
# SPDX-License-Identifier: MIT
# Every systemd unit in examples/ passes `systemd-analyze verify` with
# nothing to say: no error, and no warning either (an unknown key or a
# value systemd can not parse is only a warning, and the unit would run
# without it). No running systemd is needed: the units are verified in a
# throw-away root that holds them in /etc/systemd/system, this system's
# own units, and the built programs where the units say they are
# installed (README: /usr/local/libexec/echo-server,
# /usr/local/bin/daemoniker), so that a wrong ExecStart= path fails too.
# Without systemd-analyze (Debian's systemd package) the test is skipped
# (77), unless DK_REQUIRE_SYSTEMD is set, as `./bootstrap test` does.
srcdir=${srcdir:-.}
builddir=${builddir:-.}
status=0

if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ -n "${DK_REQUIRE_SYSTEMD:-}" ]; then
    echo "FAIL: systemd-analyze is not installed (Debian: apt-get install systemd)"
    exit 1
  fi
  echo "SKIP: systemd-analyze is not installed"
  exit 77
fi
version=$(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')

root=$(mktemp -d "${TMPDIR:-/tmp}/dk-units.XXXXXX") || exit 1
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" || exit 1
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/" || exit 1

units=
for unit in "$srcdir"/examples/*.service "$srcdir"/examples/*.socket; do
  [ -f "$unit" ] || continue
  cp "$unit" "$root/etc/systemd/system/" || exit 1
  units="$units ${unit##*/}"
done
if [ -z "$units" ]; then
  echo "FAIL: no unit in $srcdir/examples"
  exit 1
fi

# Each Exec*= program where the unit expects it: ours built, the others
# this system's (absent if they are absent here).
for prog in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$root"/etc/systemd/system/*); do
  case $prog in
    /usr/local/libexec/echo-server) from=$builddir/examples/echo-server ;;
    /usr/local/bin/daemoniker) from=$builddir/tools/daemoniker ;;
    *) from=$prog ;;
  esac
  [ -e "$from" ] || continue
  mkdir -p "$root${prog%/*}" && cp "$from" "$root$prog" || exit 1
done

for unit in $units; do
  out=$(systemd-analyze verify --man=no --root="$root" "/etc/systemd/system/$unit" 2>&1)
  rc=$?
  # systemd before 253 does not know Type=notify-reload: the unit says
  # Type=notify first for it (see examples/echo-server.service).
  if [ -n "$version" ] && [ "$version" -lt 253 ] &&
     printf '%s\n' "$out" | grep -q 'Failed to parse service type, ignoring: notify-reload'; then
    echo "note: systemd $version does not know Type=notify-reload (253 does): $unit is Type=notify here"
    out=$(printf '%s\n' "$out" | grep -v 'Failed to parse service type, ignoring: notify-reload')
  fi
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify $unit (exit $rc):"
    printf '%s\n' "$out"
    status=1
  else
    echo "ok: systemd-analyze verify $unit"
  fi
done
exit $status
