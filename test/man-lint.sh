#!/bin/sh
# SPDX-License-Identifier: MIT
# The manual pages, linted: `mandoc -T lint` must find nothing at all
# (style notes included, but for references to pages that are not installed
# on this machine), and groff, through man(1) where it is installed, must
# not warn either. Without mandoc the test is skipped (77), unless
# DK_REQUIRE_MANDOC is set, as `./bootstrap test` does.
srcdir=${srcdir:-.}
status=0
found=0

if ! command -v mandoc >/dev/null 2>&1; then
  if [ -n "${DK_REQUIRE_MANDOC:-}" ]; then
    echo "FAIL: mandoc is not installed (Debian: apt-get install mandoc)"
    exit 1
  fi
  echo "SKIP: mandoc is not installed"
  exit 77
fi

for page in "$srcdir"/man/*.[1-9]; do
  [ -f "$page" ] || continue
  found=$((found + 1))
  out=$(mandoc -T lint -W all "$page" 2>&1 |
        grep -v -e 'referenced manual not found' -e 'mandoc\.db' -e 'run makewhatis')
  if [ -n "$out" ]; then
    echo "FAIL: mandoc -T lint $page:"
    echo "$out"
    status=1
  else
    echo "ok: mandoc -T lint $page"
  fi
  if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
    out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
    if [ -n "$out" ]; then
      echo "FAIL: man --warnings -l $page:"
      echo "$out"
      status=1
    else
      echo "ok: man --warnings -l $page"
    fi
  fi
done

if [ "$found" -eq 0 ]; then
  echo "FAIL: no manual pages in $srcdir/man"
  exit 1
fi
exit $status
