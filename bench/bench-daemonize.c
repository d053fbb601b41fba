/* SPDX-License-Identifier: MIT */
/* Benchmark 2: daemonizing until confirmed.
 *
 * In-process, the wall time from the call in the parent to its return:
 *   dk         dk_daemonize: double fork, fds closed, signals reset, stdio,
 *              pid file locked and written, and the parent returns only
 *              once the daemon reported that all of it worked
 *   raw        floor: fork, setsid, fork, stdio to /dev/null, chdir, pid
 *              file written; the parent returns when the middle process is
 *              reaped, without knowing whether the daemon got anywhere
 *   raw confirmed  the same, but the daemon writes one byte to a pipe
 *              once its pid file is written, and the parent returns after
 *              reading it: the floor for confirmation itself, so that
 *              dk/raw-confirmed is what the library adds to it
 *   daemon(3)  floor: fork, then glibc's daemon() and a pid file write in
 *              the child; same shape, same lack of confirmation
 *   libdaemon  peer: daemon_fork + daemon_retval_wait, the daemon closing
 *              fds, resetting signals, creating its pid file and sending 0
 * As whole processes, from exec to exit (and pid file up, for daemons):
 *   dk          bench/idle-dk PIDFILE (a dk daemon with signals started)
 *   C floor     bench/idle-dk --noop (same binary and libraries, exits)
 *   python-daemon  /usr/bin/python3 bench/pydaemon.py PIDFILE
 *   python floor   /usr/bin/python3 -c pass
 *
 * The in-process variants dk, raw, raw confirmed and libdaemon run again
 * with the caller holding 1 GiB of touched memory (in 4 KiB pages: no
 * transparent huge pages), where copying the page tables is what a fork
 * costs most.
 *
 * Runs are interleaved: each round runs every variant once, in an order
 * shuffled per round (bench_order_next: no variant keeps its place, or
 * its predecessor, from one round to the next). Each daemon is checked to be up (the pid file names a
 * live process, reparented to us because we are a subreaper), then
 * SIGKILLed and reaped, and no process of ours may be left between runs.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <libdaemon/dfork.h>
#include <libdaemon/dpid.h>
#include <libdaemon/dsignal.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemoniker.h"

enum { V_DK, V_RAW, V_RAWC, V_DAEMON3, V_LIBDAEMON, W_DK, W_C, W_PY, W_PYFLOOR, NVARIANTS };
static const char *const variant_name[NVARIANTS] = {
  "dk_daemonize (confirmed)", "raw double fork + pid file", "the same, confirmed by a pipe",
  "fork + daemon(3) + pid file",
  "libdaemon fork+retval_wait", "dk daemon, whole process", "C program, whole process",
  "python-daemon, whole process", "python3 -c pass"
};

static const char *pidfile;
static char idle_dk[4096], pydaemon[4096];

/* What every floor's daemon does once detached: the pid file, then (if
 * confirm_fd >= 0) one byte to say so, then idle until the benchmark kills
 * it. */
static void write_pidfile_and_idle(int confirm_fd) {
  char text[32];
  int fd = open(pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
  if (fd < 0 || write(fd, text, (size_t)len) != len)
    _exit(1);
  close(fd);
  if (confirm_fd >= 0 && write(confirm_fd, "", 1) != 1)
    _exit(1);
  for (;;)
    pause();
}

static void redirect_to_null(void) {
  int fd = open("/dev/null", O_RDWR);
  dup2(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  if (fd > 2)
    close(fd);
}

/* Each returns the daemon's pid if the parent learns it, 0 if not (the
 * floors), after the timed part. */
static pid_t run_dk(void) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int r;
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = pidfile;
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r == DK_DAEMON)
    for (;;)
      pause();
  BENCH_CHECK(r == DK_PARENT, "dk_daemonize: %s", dk_strerror(r));
  return dk_daemon_pid(&dz);
}

static pid_t run_raw(int confirmed) {
  int pipefd[2] = { -1, -1 };
  pid_t middle;
  char c;

  if (confirmed)
    BENCH_CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  middle = fork();
  BENCH_CHECK(middle >= 0, "fork: %s", strerror(errno));
  if (middle == 0) {
    setsid();
    if (fork() != 0)
      _exit(0);
    umask(027);
    if (chdir("/") < 0)
      _exit(1);
    redirect_to_null();
    write_pidfile_and_idle(pipefd[1]);
  }
  BENCH_CHECK(bench_wait(middle) == 0, "raw: the middle process failed");
  if (confirmed) {
    close(pipefd[1]);
    BENCH_CHECK(read(pipefd[0], &c, 1) == 1, "raw: the daemon did not confirm");
    close(pipefd[0]);
  }
  return 0;
}

static pid_t run_daemon3(void) {
  pid_t child = fork();
  BENCH_CHECK(child >= 0, "fork: %s", strerror(errno));
  if (child == 0) {
    if (daemon(0, 0) < 0) /* forks; this process _exit(0)s in it */
      _exit(1);
    write_pidfile_and_idle(-1);
  }
  BENCH_CHECK(bench_wait(child) == 0, "daemon(3) failed");
  return 0;
}

static const char *libdaemon_pidfile(void) {
  return pidfile;
}

static pid_t run_libdaemon(void) {
  pid_t pid;
  int ret;
  BENCH_CHECK(daemon_retval_init() == 0, "daemon_retval_init failed");
  pid = daemon_fork();
  BENCH_CHECK(pid >= 0, "daemon_fork failed");
  if (pid == 0) {
    /* The daemon, as libdaemon's own example sets itself up. */
    if (daemon_close_all(-1) < 0 || daemon_reset_sigs(-1) < 0 || daemon_unblock_sigs(-1) < 0 ||
        daemon_pid_file_create() < 0) {
      daemon_retval_send(1);
      _exit(1);
    }
    daemon_retval_send(0);
    for (;;)
      pause();
  }
  ret = daemon_retval_wait(20);
  BENCH_CHECK(ret == 0, "libdaemon: the daemon reported %d", ret);
  return pid;
}

/* A whole process: exec it, wait for its exit, and for a daemon until the
 * pid file names it. Returns the daemon's pid, or 0. */
static pid_t run_whole(char *const argv[], int is_daemon) {
  int status = bench_wait(bench_spawn(argv, NULL));
  BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exited with status 0x%x",
              argv[0], status);
  return is_daemon ? bench_wait_daemon(pidfile, 10000) : 0;
}

static pid_t run_variant(int v) {
  char *dk_argv[] = { idle_dk, (char *)pidfile, NULL };
  char *c_argv[] = { idle_dk, "--noop", NULL };
  char *py_argv[] = { "/usr/bin/python3", pydaemon, (char *)pidfile, NULL };
  char *pyfloor_argv[] = { "/usr/bin/python3", "-c", "pass", NULL };
  switch (v) {
  case V_DK: return run_dk();
  case V_RAW: return run_raw(0);
  case V_RAWC: return run_raw(1);
  case V_DAEMON3: return run_daemon3();
  case V_LIBDAEMON: return run_libdaemon();
  case W_DK: return run_whole(dk_argv, 1);
  case W_C: return run_whole(c_argv, 0);
  case W_PY: return run_whole(py_argv, 1);
  default: return run_whole(pyfloor_argv, 0);
  }
}

static int is_daemon_variant(int v) {
  return v != W_C && v != W_PYFLOOR;
}

/* One timed run, then the proof that the daemon is up, then its end. */
static uint64_t one_run(int v) {
  uint64_t t0, t;
  pid_t pid, named;

  fflush(NULL); /* nothing buffered may be written twice by a child */
  t0 = bench_now_ns();
  pid = run_variant(v);
  t = bench_now_ns() - t0;

  if (is_daemon_variant(v)) {
    /* The floors do not wait: their daemon may still be on its way. */
    named = pid != 0 ? bench_pidfile_pid(pidfile) : bench_wait_daemon(pidfile, 10000);
    BENCH_CHECK(named > 0 && (pid == 0 || named == pid) && bench_is_our_child(named),
                "%s: returned, but the pid file names %ld, not the live daemon %ld",
                variant_name[v], (long)named, (long)pid);
    bench_kill_daemon(named, pidfile);
  }
  bench_reap_all(5000); /* middle processes, and proof that nothing is left */
  BENCH_CHECK(access(pidfile, F_OK) < 0, "%s: a pid file is left", variant_name[v]);
  return t;
}

#define BIG ((size_t)1 << 30)
/* The variants run with 1 GiB: dk first, libdaemon last (the rows). */
#define NBIG 4
static const int big_variant[NBIG] = { V_DK, V_RAW, V_RAWC, V_LIBDAEMON };

int main(void) {
  long n = bench_count(200, 10), n_big = bench_count(60, 2), warm = bench_count(5, 1), i;
  bench_samples_t t[NVARIANTS], tb[NBIG];
  double p50[NVARIANTS], p99[NVARIANTS], b50[NBIG], b99[NBIG];
  bench_order_t order;
  int v, k, seq[NVARIANTS];
  char *big;

  bench_init("daemonize");
  bench_become_subreaper();
  memset(t, 0, sizeof(t));
  memset(tb, 0, sizeof(tb));
  pidfile = bench_path(0, "daemon.pid");
  daemon_pid_file_proc = libdaemon_pidfile;
  snprintf(idle_dk, sizeof(idle_dk), "%s/bench/idle-dk", bench_builddir());
  snprintf(pydaemon, sizeof(pydaemon), "%s/bench/pydaemon.py", bench_srcdir());
  {
    char *check[] = { "/usr/bin/python3", "-c", "import daemon.pidfile", NULL };
    int status = bench_wait(bench_spawn(check, NULL));
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "/usr/bin/python3 cannot import daemon: install python3-daemon");
  }

  bench_note("%ld runs of each of %d variants, interleaved, shuffled per round (+%ld warm-up)",
             n, NVARIANTS, warm);
  bench_order_init(&order, NVARIANTS, 2);
  for (i = 0; i < warm; i++)
    for (v = 0; v < NVARIANTS; v++)
      one_run(v);
  for (i = 0; i < n; i++) {
    bench_order_next(&order, seq);
    for (k = 0; k < NVARIANTS; k++)
      bench_samples_add(&t[seq[k]], one_run(seq[k]));
  }

  for (v = 0; v < NVARIANTS; v++) {
    p50[v] = bench_quantile(&t[v], 0.50) / 1e6;
    p99[v] = bench_quantile(&t[v], 0.99) / 1e6;
    bench_samples_free(&t[v]);
  }

  /* The same with 1 GiB of the caller's memory touched. */
  big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BENCH_CHECK(big != MAP_FAILED, "mmap of 1 GiB: %s", strerror(errno));
  BENCH_CHECK(madvise(big, BIG, MADV_NOHUGEPAGE) == 0, "madvise: %s", strerror(errno));
  memset(big, 1, BIG);
  BENCH_CHECK(bench_status_field(getpid(), "VmRSS", 10) >= BIG / 1024,
              "1 GiB touched, but VmRSS is %llu kB", bench_status_field(getpid(), "VmRSS", 10));
  bench_note("%ld runs of each of %d variants with 1 GiB touched, shuffled per round", n_big,
             NBIG);
  bench_order_init(&order, NBIG, 3);
  for (i = 0; i < warm; i++)
    for (k = 0; k < NBIG; k++)
      one_run(big_variant[k]);
  for (i = 0; i < n_big; i++) {
    bench_order_next(&order, seq);
    for (k = 0; k < NBIG; k++)
      bench_samples_add(&tb[seq[k]], one_run(big_variant[seq[k]]));
  }
  for (k = 0; k < NBIG; k++) {
    b50[k] = bench_quantile(&tb[k], 0.50) / 1e6;
    b99[k] = bench_quantile(&tb[k], 0.99) / 1e6;
    bench_samples_free(&tb[k]);
  }
  munmap(big, BIG);

#define ROW(a, b, target)                                                                  \
  bench_row_ratio("2 daemonize", variant_name[a], variant_name[b], n, "ms", p50[a], p50[b],  \
                  p99[a], p99[b], target)
  ROW(V_DK, V_RAW, "p50<=1.3");
  ROW(V_DK, V_RAWC, NULL);
  ROW(V_DK, V_DAEMON3, NULL);
  ROW(V_DK, V_LIBDAEMON, "p50<=0.75");
  ROW(W_DK, W_C, NULL);
  ROW(W_PY, W_PYFLOOR, NULL);
  ROW(W_PY, W_DK, NULL);
#undef ROW
#define ROW(a, b, target)                                                                  \
  bench_row_ratio("2 daemonize, caller holding 1 GiB", variant_name[big_variant[a]],         \
                  variant_name[big_variant[b]], n_big, "ms", b50[a], b50[b], b99[a], b99[b],    \
                  target)
  ROW(0, 3, "p50<=0.70");
  ROW(0, 1, NULL);
  ROW(0, 2, NULL);
#undef ROW
  return 0;
}
