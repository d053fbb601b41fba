#!/bin/sh
# SPDX-License-Identifier: MIT
# The installed copy, as a user of it gets it: `make install DESTDIR=...`
# from the build directory BUILD_DIR, then
#  - the files are where they belong: header, shared and static library,
#    daemoniker.pc, the tool, the manual pages and a page per function;
#  - a program built with nothing but `pkg-config --cflags --libs
#    daemoniker` (pointed into the staged tree with PKG_CONFIG_SYSROOT_DIR)
#    compiles, links against the staged library and runs; so does one
#    linked with the static library;
#  - a CMake project's find_package(daemoniker) finds it, and its program
#    built with daemoniker::daemoniker runs;
#  - the installed tool runs, and the manual pages render;
#  - `make uninstall` removes every file again.
# Usage: test/install-test.sh BUILD_DIR
set -eu

build=${1:?usage: install-test.sh BUILD_DIR}
build=$(cd "$build" && pwd)
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/dk-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/root
fail() { echo "install-test: FAIL: $*" >&2; exit 1; }
step() { echo "install-test: $*"; }

step "make install DESTDIR=$dest"
make -C "$build" --no-print-directory install DESTDIR="$dest" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "make install"; }

# Where configure put things, found in the staged tree.
one() { # one PATTERN: the single staged file whose path matches
  found=$(find "$dest" -path "$1" \( -type f -o -type l \) | head -n 1)
  [ -n "$found" ] || fail "nothing installed matches $1"
  echo "$found"
}
header=$(one '*/include/daemoniker.h')
pc=$(one '*/pkgconfig/daemoniker.pc')
shared=$(one '*/libdaemoniker.so.0')
static=$(one '*/libdaemoniker.a')
tool=$(one '*/bin/daemoniker')
man1=$(one '*/man1/daemoniker.1')
libdir=$(dirname "$shared")
mandir=$(dirname "$(dirname "$man1")")
for page in dk_daemonize dk_signals dk_send dk_strerror; do
  one "*/man3/$page.3" >/dev/null
done
step "installed: $header $pc $shared $static $tool $man1"

# The versions agree (README "Versioning"): the header's DK_VERSION_* are
# the package's, and the soname's number is DK_VERSION_MAJOR.
hv=$(sed -n 's/^#define DK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$header" | paste -sd . -)
[ "$hv" = "$(sed -n 's/^Version: //p' "$pc")" ] || fail "the header says $hv, daemoniker.pc $(sed -n 's/^Version: //p' "$pc")"
soname=$(readelf -d "$shared" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libdaemoniker.so.${hv%%.*}" ] || fail "soname $soname, not libdaemoniker.so.${hv%%.*}"
step "versions agree: header $hv, daemoniker.pc, soname $soname"

# The public functions: the header's DK_EXTERN declarations.
sed -n 's/^DK_EXTERN [^(]*[ *]\(dk_[a-z0-9_]*\)(.*/\1/p' "$header" | sort -u >"$work/functions"
[ -s "$work/functions" ] || fail "no DK_EXTERN functions found in $header"
# A function declared without DK_EXTERN would be hidden from users.
bare=$(grep -E '^[a-z_][a-z0-9_ *]*[ *]dk_[a-z0-9_]*\(' "$header" | grep -v '^typedef' || true)
[ -z "$bare" ] || fail "declared without DK_EXTERN in $header: $bare"

# The shared library exports those and nothing else: no dk__ internals.
step "the symbols $shared exports are the header's $(wc -l <"$work/functions") functions"
nm -D --defined-only "$shared" | awk '$2 ~ /^[A-Z]$/ && $2 != "A" { print $3 }' | sed 's/@.*//' |
  sort -u >"$work/exported"
if ! diff "$work/functions" "$work/exported" >"$work/exported.diff"; then
  sed -n 's/^> /  exported, not in the header: /p; s/^< /  in the header, not exported: /p' \
    "$work/exported.diff" | head -n 20 >&2
  fail "$shared exports $(wc -l <"$work/exported") symbols, not the header's $(wc -l <"$work/functions") functions"
fi

# Every function of the header has a page of its name.
while read -r fn; do
  [ -f "$mandir/man3/$fn.3" ] || fail "no manual page for $fn"
done <"$work/functions"

step "pkg-config --cflags --libs daemoniker, into $dest"
# PKG_CONFIG_LIBDIR is left alone: libuv's own .pc is the system's.
PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$(dirname "$pc") \
  pkg-config --exists --print-errors daemoniker || fail "pkg-config does not find daemoniker"
flags=$(PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs daemoniker)
cflags=$(PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags daemoniker)
step "flags: $flags"
case " $flags " in
  *" -I$dest/"*) ;;
  *) fail "the flags do not point into the staged tree: $flags" ;;
esac
case " $flags " in
  *" -L$dest/"*) ;;
  *) fail "the flags do not point into the staged tree: $flags" ;;
esac

cat >"$work/prog.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <daemoniker.h>

int main(void) {
  char want[32];
  snprintf(want, sizeof(want), "%d.%d.%d", DK_VERSION_MAJOR, DK_VERSION_MINOR, DK_VERSION_PATCH);
  if (strcmp(dk_version_string(), want) != 0) {
    fprintf(stderr, "library %s, header %s\n", dk_version_string(), want);
    return 1;
  }
  if (dk_signal_from_name("TERM") != DK_SIGTERM || dk_signal_from_name("sigterm") != DK_SIGTERM ||
      dk_signal_from_name("15") != DK_SIGTERM || dk_signal_from_name("KILL") != UV_EINVAL ||
      strcmp(dk_signal_name(DK_SIGHUP), "SIGHUP") != 0) {
    fprintf(stderr, "signal names are wrong\n");
    return 1;
  }
  printf("libdaemoniker %s: %s\n", dk_version_string(), dk_strerror(DK_ESTALE));
  return 0;
}
PROG

step "build and run a program against the shared library"
# shellcheck disable=SC2086 # the flags are words
$cc -Wall -Werror -o "$work/prog" "$work/prog.c" $flags || fail "compiling with: $flags"
out=$(LD_LIBRARY_PATH=$libdir "$work/prog") || fail "the program failed"
echo "  $out"
LD_LIBRARY_PATH=$libdir ldd "$work/prog" | grep -q "libdaemoniker.so.0 => $libdir/" ||
  fail "the program does not load the staged library: $(LD_LIBRARY_PATH=$libdir ldd "$work/prog")"

step "build and run a program against the static library"
uv_libs=$(pkg-config --libs libuv)
# shellcheck disable=SC2086
$cc -Wall -Werror -o "$work/prog-static" "$work/prog.c" $cflags "$static" $uv_libs ||
  fail "linking the static library"
"$work/prog-static" >/dev/null || fail "the statically linked program failed"
if ldd "$work/prog-static" | grep -q libdaemoniker; then
  fail "the static program loads libdaemoniker.so"
fi

# A CMake project, as its users write one: find_package(daemoniker) and
# the imported target daemoniker::daemoniker, from the staged prefix. Its
# libuv comes through pkg-config, and again without pkg-config (the plain
# find of uv.h and libuv). Without cmake this part is skipped, unless
# DK_REQUIRE_CMAKE is set, as `./bootstrap test` does.
if command -v cmake >/dev/null 2>&1; then
  prefix=$dest$(sed -n 's/^prefix=//p' "$pc")
  mkdir -p "$work/cmake"
  cp "$work/prog.c" "$work/cmake/prog.c"
  cat >"$work/cmake/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(dk_consumer C)
find_package(daemoniker ${DK_WANT} REQUIRED)
add_executable(prog prog.c)
target_link_libraries(prog PRIVATE daemoniker::daemoniker)
get_target_property(dk_lib daemoniker::daemoniker IMPORTED_LOCATION)
get_target_property(dk_inc daemoniker::daemoniker INTERFACE_INCLUDE_DIRECTORIES)
get_target_property(dk_uv daemoniker::libuv INTERFACE_LINK_LIBRARIES)
get_target_property(dk_uv_lib daemoniker::libuv IMPORTED_LOCATION)
message(STATUS "consumer: daemoniker ${daemoniker_VERSION} ${dk_lib} ${dk_inc}; libuv ${dk_uv} ${dk_uv_lib}")
CMAKE
  cmake_consumer() { # cmake_consumer NAME WANT [CMAKE ARGS...]
    name=$1 want=$2; shift 2
    cmake -S "$work/cmake" -B "$work/cmake/$name" -DCMAKE_PREFIX_PATH="$prefix" \
      -DDK_WANT="$want" -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="-Wall -Werror" "$@" \
      >"$work/cmake-$name.log" 2>&1
  }
  for how in pkg-config plain; do
    step "build and run a CMake project: find_package(daemoniker), libuv $( [ "$how" = plain ] && echo without || echo through) pkg-config"
    args=
    [ "$how" = plain ] && args=-DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=TRUE
    # shellcheck disable=SC2086
    cmake_consumer "$how" "$(sed -n 's/^Version: //p' "$pc")" $args ||
      { cat "$work/cmake-$how.log"; fail "cmake does not configure the consumer ($how)"; }
    line=$(sed -n 's/^-- consumer: //p' "$work/cmake-$how.log")
    echo "  $line"
    case "$line" in
      *" $libdir/libdaemoniker."*" $dest/"*) ;;
      *) fail "daemoniker::daemoniker is not the staged copy: $line" ;;
    esac
    case "$how:$line" in
      pkg-config:*"libuv PkgConfig::"*) ;;
      plain:*"libuv dk_uv-NOTFOUND /"*) ;;
      *) fail "libuv was not found by $how: $line" ;;
    esac
    cmake --build "$work/cmake/$how" >"$work/cmake-$how-build.log" 2>&1 ||
      { cat "$work/cmake-$how-build.log"; fail "the CMake consumer does not build ($how)"; }
    "$work/cmake/$how/prog" >/dev/null || fail "the CMake consumer failed ($how)"
    # CMake links the imported library by its path, with an rpath to it.
    ldd "$work/cmake/$how/prog" | grep -q "libdaemoniker.so.0 => $libdir/" ||
      fail "the CMake consumer does not load the staged library: $(ldd "$work/cmake/$how/prog")"
  done
  step "find_package(daemoniker) refuses a version of another major"
  major=$(sed -n 's/^#define DK_VERSION_MAJOR //p' "$header")
  if cmake_consumer newer "$((major + 1)).0"; then
    fail "find_package(daemoniker $((major + 1)).0) accepted $(sed -n 's/^Version: //p' "$pc")"
  fi
  grep -q 'compatible with requested version' "$work/cmake-newer.log" ||
    { cat "$work/cmake-newer.log"; fail "find_package failed, but not on the version"; }
elif [ -n "${DK_REQUIRE_CMAKE:-}" ]; then
  fail "cmake is not installed (Debian: apt-get install cmake)"
else
  step "SKIP the CMake consumer: cmake is not installed"
fi

step "run the installed tool"
version=$(LD_LIBRARY_PATH=$libdir "$tool" --version) || fail "$tool --version"
echo "  $version"
[ "$version" = "daemoniker $(sed -n 's/^Version: //p' "$pc")" ] || fail "tool version '$version' is not the .pc's"
status=0
LD_LIBRARY_PATH=$libdir "$tool" status "$work/none.pid" >/dev/null || status=$?
[ "$status" -eq 3 ] || fail "daemoniker status on no pid file: $status, not 3"

if command -v mandoc >/dev/null 2>&1; then
  step "render the installed manual pages (.so links resolved)"
  for page in "$mandir"/man1/*.1 "$mandir"/man3/*.3; do
    rel=${page#"$mandir"/}
    name=$(basename "$page" | sed 's/\.[0-9]$//')
    text=$(cd "$mandir" && mandoc -T html "$rel" 2>&1) || fail "mandoc $rel"
    echo "$text" | grep -q "$name" || fail "$rel does not render a page that names $name"
  done
fi

step "make uninstall DESTDIR=$dest"
make -C "$build" --no-print-directory uninstall DESTDIR="$dest" >"$work/uninstall.log" 2>&1 ||
  { cat "$work/uninstall.log"; fail "make uninstall"; }
left=$(find "$dest" \( -type f -o -type l \) -print)
[ -z "$left" ] || fail "make uninstall left: $left"
step "PASS"
