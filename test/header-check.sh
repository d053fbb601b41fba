#!/bin/sh
# SPDX-License-Identifier: MIT
# The public header on its own, as every user's compiler meets it: a file
# that includes nothing but daemoniker.h, and uses each of its types and
# functions, compiles with -pedantic -Wall -Wextra -Werror
#  - as C, -std=gnu99 and -std=gnu11 (libuv's uv.h itself needs the GNU
#    dialects), with configure's compiler, gcc and clang;
#  - as C++, -std=c++98 and -std=c++11, with g++ and clang++.
# A compiler that is not installed is skipped, and said so; with no C++
# compiler at all the test fails if DK_REQUIRE_CXX is set, as `./bootstrap
# test` does, and is skipped (77) otherwise.
#   DK_TEST_CC    configure's C compiler (make check sets it)
#   UV_CFLAGS     the flags that find uv.h (make check sets it)
#   DK_HEADER_CC  the C compilers, instead of "$DK_TEST_CC gcc clang"
#   DK_HEADER_CXX the C++ compilers, instead of "g++ clang++"
srcdir=${srcdir:-.}
include=$srcdir/include
[ -f "$include/daemoniker.h" ] || { echo "FAIL: no $include/daemoniker.h"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dk-header-check.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
status=0
ran_cxx=0

cat >"$work/use.c" <<'SRC'
#include <daemoniker.h>

/* Every public type, and every function through a pointer of its declared
 * type: the declarations must parse, not only the include. */
static void on_signal(dk_signals_t *sig, int dk_signum) { (void)sig; (void)dk_signum; }
static void on_close(dk_signals_t *sig) { (void)sig; }
static void on_wd_close(dk_watchdog_t *wd) { (void)wd; }

int dk_header_check(uv_loop_t *loop);
int dk_header_check(uv_loop_t *loop) {
  dk_options_t opts;
  dk_daemonizer_t dz;
  dk_signals_t sig;
  dk_sender_t sender;
  dk_watchdog_t wd;
  dk_listen_fd_t fds[2];
  size_t count = 2;
  uv_pid_t pid = 0;
  char *argv[2];
  argv[0] = (char *)"true";
  argv[1] = NULL;
  dk_options_init(&opts);
  opts.flags = DK_WAIT_READY | DK_FOREGROUND | DK_SERVICE;
  if (dk_daemonizer_init(&dz) < 0 || dk_daemonize(&dz, &opts, NULL, 0) < 0)
    return dk_daemonizer_failed_step(&dz);
  if (dk_daemon_pid(&dz) == 0 || dk_daemonizer_pid_file(&dz) == NULL)
    return dk_ready(&dz, 0);
  if (dk_exec(&dz, argv) < 0)
    dk_daemonizer_cleanup(&dz);
  if (dk_signals_init(loop, &sig, NULL) < 0 || dk_signals_set(&sig, DK_SIGTERM, on_signal) < 0 ||
      dk_signals_ignore(&sig, DK_SIGHUP) < 0 || dk_signals_start(&sig) < 0 ||
      dk_signals_stop(&sig) < 0 || dk_signals_received(&sig) < 0)
    return DK_ERUNNING;
  dk_signals_close(&sig, on_close);
  if (dk_send("x.pid", DK_SIGUSR1) < 0 || dk_pid_file_check("x.pid", &pid) < 0 ||
      dk_kill("x.pid", 0) < 0)
    return DK_ESTALE;
  if (dk_sender_init(&sender, "x.pid") < 0 || dk_sender_send(&sender, DK_SIGUSR2) < 0 ||
      dk_sender_check(&sender, &pid) < 0)
    return DK_EBADPIDFILE;
  dk_sender_close(&sender);
  if (dk_notify("READY=1") < 0 || dk_notify_reloading() < 0 || dk_notify_stopping() < 0)
    return DK_EDIED;
  if (dk_watchdog_init(loop, &wd) < 0 || dk_watchdog_start(&wd) < 0 || dk_watchdog_stop(&wd) < 0)
    return DK_ENOUSER;
  dk_watchdog_close(&wd, on_wd_close);
  if (dk_listen_fds(fds, &count) < 0 || fds[0].name[0] == '\0')
    return DK_STEP_EXEC;
  return dk_signal_from_name(dk_signal_name(DK_SIGINT)) +
         (int)(dk_strerror(DK_EDIED)[0] + dk_err_name(DK_PARENT)[0] + dk_version_string()[0]) +
         DK_VERSION_MAJOR + DK_VERSION_MINOR + DK_VERSION_PATCH + DK_DAEMON + DK_SIGABRT;
}
SRC
cp "$work/use.c" "$work/use.cc"

# One row of the matrix: COMPILER STD FILE.
row() {
  # shellcheck disable=SC2086 # UV_CFLAGS are words
  if "$1" -std="$2" -pedantic -Wall -Wextra -Werror -I"$include" ${UV_CFLAGS:-} \
       -c "$3" -o "$work/use.o" >"$work/out" 2>&1; then
    echo "ok: $1 -std=$2 -pedantic -Wall -Wextra -Werror"
  else
    echo "FAIL: $1 -std=$2 -pedantic -Wall -Wextra -Werror:"
    sed 's/^/  /' "$work/out"
    status=1
  fi
}

seen=
for cc in ${DK_HEADER_CC-${DK_TEST_CC:-cc} gcc clang}; do
  case " $seen " in *" $cc "*) continue ;; esac
  seen="$seen $cc"
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "skip: $cc is not installed"
    continue
  fi
  for std in gnu99 gnu11; do row "$cc" "$std" "$work/use.c"; done
done

for cxx in ${DK_HEADER_CXX-g++ clang++}; do
  if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "skip: $cxx is not installed"
    continue
  fi
  ran_cxx=1
  for std in c++98 c++11; do row "$cxx" "$std" "$work/use.cc"; done
done

if [ "$ran_cxx" -eq 0 ]; then
  if [ -n "${DK_REQUIRE_CXX:-}" ]; then
    echo "FAIL: no C++ compiler to check the header with (Debian: apt-get install g++)"
    exit 1
  fi
  [ "$status" -eq 0 ] && { echo "SKIP: no C++ compiler (the C rows passed)"; exit 77; }
fi
exit $status
