/* SPDX-License-Identifier: MIT */
/* The benchmarks' dk daemon: a real dk_daemonize'd process that holds its
 * pid file and gets USR1 and USR2 through dk_signals on a libuv loop, the
 * way an application would. See bench_dk_receiver in bench.h. */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemoniker.h"

static struct bench_counters *counters;
static int answer_fd = -1;
static struct sigaction uv_handler[2]; /* what libuv installed, per signal */

static int slot_of(int host_signum) {
  return host_signum == SIGUSR1 ? 0 : 1;
}

/* The application's callback: count, and answer the sender if it waits. */
static void on_usr(dk_signals_t *s, int dk_signum) {
  char c = 'x';
  int i = dk_signum == DK_SIGUSR1 ? 0 : 1;
  (void)s;
  atomic_store(&counters->callback_saw[i], atomic_load(&counters->send_started));
  atomic_fetch_add(&counters->callbacks[i], 1);
  if (answer_fd >= 0)
    while (write(answer_fd, &c, 1) < 0 && errno == EINTR)
      ;
}

/* The receiver's dk_signals_t, for the instrumented handler below. */
static dk_signals_t sig;
static uv_signal_t *uv_handle[2];

/* Runs in signal context in place of libuv's handler, and calls it:
 * atomics only. libuv's handler queues the signal to the loop through a
 * pipe and, if that pipe is full, drops it (its own comment: "the user is
 * out of luck"); the handle's caught_signals counter, a private libuv
 * field read here for this purpose only, goes up only when it was queued.
 * So bench-burst can tell the deliveries libuv dropped from those that
 * reached the loop (each of which must become a callback). */
static void counting_handler(int signo, siginfo_t *info, void *ctx) {
  int i = slot_of(signo);
  unsigned queued = uv_handle[i]->caught_signals;
  atomic_store(&counters->last_delivery[i], atomic_load(&counters->send_started));
  atomic_fetch_add(&counters->deliveries[i], 1);
  if (uv_handler[i].sa_flags & SA_SIGINFO)
    uv_handler[i].sa_sigaction(signo, info, ctx);
  else
    uv_handler[i].sa_handler(signo);
  queued = uv_handle[i]->caught_signals != queued;
  if (!queued)
    atomic_fetch_add(&counters->dropped[i], 1);
  atomic_store(&counters->last_dropped[i], !queued);
}

/* libuv installs its handler when the first uv_signal_t of a signal starts
 * and leaves it alone after that, so wrapping it once is enough. */
static void wrap_libuv_handler(int host_signum) {
  struct sigaction sa;
  int i = slot_of(host_signum), k;
  for (k = 0; k < (int)(sizeof(sig.handles) / sizeof(sig.handles[0])); k++)
    if (sig.handles[k].signum == host_signum)
      uv_handle[i] = &sig.handles[k];
  BENCH_CHECK(uv_handle[i] != NULL, "no uv_signal_t for signal %d", host_signum);
  BENCH_CHECK(sigaction(host_signum, NULL, &uv_handler[i]) == 0, "sigaction: %s", strerror(errno));
  BENCH_CHECK(uv_handler[i].sa_handler != SIG_DFL && uv_handler[i].sa_handler != SIG_IGN,
              "libuv installed no handler for signal %d", host_signum);
  sa = uv_handler[i];
  sa.sa_flags |= SA_SIGINFO;
  sa.sa_sigaction = counting_handler;
  BENCH_CHECK(sigaction(host_signum, &sa, NULL) == 0, "sigaction: %s", strerror(errno));
}

static void run_receiver(dk_daemonizer_t *dz, const char *pidfile, enum bench_rx_mode mode) {
  uv_loop_t *loop = uv_default_loop();
  int err;

  err = dk_signals_init(loop, &sig, pidfile);
  if (mode == BENCH_RX_PARKED) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
  } else {
    if (err == 0)
      err = dk_signals_set(&sig, DK_SIGUSR1, on_usr);
    if (err == 0)
      err = dk_signals_set(&sig, DK_SIGUSR2, on_usr);
  }
  if (err == 0)
    err = dk_signals_start(&sig);
  if (err < 0) {
    dk_ready(dz, err); /* the parent's dk_daemonize returns the error */
    exit(1);
  }
  if (mode == BENCH_RX_INSTRUMENT) {
    wrap_libuv_handler(SIGUSR1);
    wrap_libuv_handler(SIGUSR2);
  }
  /* Only now may a signal come: the sender starts once the parent returns. */
  dk_ready(dz, 0);
  uv_run(loop, UV_RUN_DEFAULT); /* until TERM: dk's default handler stops it */
  dk_signals_close(&sig, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  exit(dk_signals_received(&sig) == DK_SIGTERM ? 0 : 3); /* atexit removes the pid file */
}

pid_t bench_dk_receiver(const char *pidfile, int fd, struct bench_counters *c,
                        enum bench_rx_mode mode) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int keep[1], r;
  pid_t pid;

  counters = c;
  answer_fd = fd;
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = pidfile;
  opts.timeout_ms = 10000;
  opts.flags = DK_WAIT_READY;
  if (fd >= 0) {
    keep[0] = fd;
    opts.keep_fds = keep;
    opts.keep_fds_count = 1;
  }
  r = dk_daemonize(&dz, &opts, NULL, 0);
  BENCH_CHECK(r >= 0, "dk_daemonize: %s", dk_strerror(r));
  if (r == DK_DAEMON)
    run_receiver(&dz, pidfile, mode); /* does not return */
  pid = dk_daemon_pid(&dz);
  BENCH_CHECK(bench_pidfile_pid(pidfile) == pid && bench_is_our_child(pid),
              "receiver %ld is not up after dk_daemonize returned", (long)pid);
  return pid;
}

void bench_dk_receiver_stop(pid_t pid, const char *pidfile) {
  int err = dk_send(pidfile, DK_SIGTERM), status;
  BENCH_CHECK(err == 0, "dk_send(TERM): %s", dk_strerror(err));
  if (!bench_wait_timeout(pid, &status, 5000)) {
    bench_kill_daemon(pid, pidfile);
    bench_fail("receiver %ld did not stop on TERM", (long)pid);
  }
  BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "receiver %ld ended with status 0x%x", (long)pid, status);
  BENCH_CHECK(access(pidfile, F_OK) < 0 && errno == ENOENT,
              "receiver %ld left its pid file behind", (long)pid);
}
