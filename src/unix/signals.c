/* SPDX-License-Identifier: MIT */
/* Signals on the loop, POSIX: one uv_signal_t per DK signal. libuv turns
 * the signal into a callback on the loop's thread; what that callback does
 * is decided in ../signals.c, the same on every platform. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"

int dk__host_signal(int dk_signum) {
  switch (dk_signum) {
  case DK_SIGINT: return SIGINT;
  case DK_SIGTERM: return SIGTERM;
  case DK_SIGABRT: return SIGABRT;
  case DK_SIGHUP: return SIGHUP;
  case DK_SIGUSR1: return SIGUSR1;
  case DK_SIGUSR2: return SIGUSR2;
  default: return -1;
  }
}

static void on_signal(uv_signal_t *handle, int host_signum) {
  dk_signals_t *sig = handle->data;
  (void)host_signum;
  dk__signals_dispatch(sig, (int)(handle - sig->handles));
}

/* sig->active[i]: not watched and its disposition untouched; watched by
 * libuv; or not watched and left ignored by us (below). */
enum { UNWATCHED = 0, WATCHED = 1, PARKED = 2 };

/* A signal the application handles (a callback, or ignored) must not get
 * its system default back while nothing watches it: for HUP, USR1 and USR2
 * (and TERM, INT with a callback) that default kills. A HUP from logrotate
 * that comes after the default TERM handler stopped the watching, while
 * main cleans up, would kill the daemon before it removed its pid file; a
 * USR1 that races dk_signals_stop likewise. So when its watching stops, such
 * a signal is left ignored instead (SIG_IGN discards it, pending or not),
 * until it is watched again or set back to the default. uv_signal_stop sets
 * SIG_DFL before we can set SIG_IGN, so the signal is blocked in this (the
 * loop's) thread in between; other threads of the process should block
 * these signals anyway, as libuv advises. Only SIG_DFL is replaced: another
 * watcher's handler, or an ignoring that was not ours, is left alone. */
static int park(int host) {
  struct sigaction sa;
  if (sigaction(host, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
    return UNWATCHED;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  return sigaction(host, &sa, NULL) == 0 ? PARKED : UNWATCHED;
}

static void unpark(int host) {
  struct sigaction sa;
  if (sigaction(host, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN)
    return;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  sigaction(host, &sa, NULL);
}

/* Brings handle i in line with its mode while started. Once the default
 * acted, INT, TERM and ABRT stay caught until dk_signals_close, but keep no
 * loop alive: the cleanup's uv_run ends when its own handles are closed.
 * A handle the application closed (uv_walk) is left to libuv, which gave
 * the signal its system default back; it is ignored instead where we would
 * have left it ignored. */
int dk__signals_sync(dk_signals_t *sig, int i) {
  uv_signal_t *handle = &sig->handles[i];
  int caught = !sig->closing && dk__signals_after_default(sig, i);
  int want = (sig->started && dk__signals_is_watched(sig, i)) || caught;
  int keep_ignored = sig->modes[i] != DK__MODE_DEFAULT || dk__signals_after_default(sig, i);
  int host = dk__host_signal(dk__signal_at(i));
  int err = 0;
  if (uv_is_closing((uv_handle_t *)handle)) {
    if (sig->active[i] == WATCHED)
      sig->active[i] = keep_ignored ? park(host) : UNWATCHED;
    return want && !sig->closing ? UV_EINVAL : 0;
  }
  if (caught)
    uv_unref((uv_handle_t *)handle);
  if (want && sig->active[i] != WATCHED) {
    err = uv_signal_start(handle, on_signal, host);
    if (err == 0)
      sig->active[i] = WATCHED;
  } else if (!want && sig->active[i] == WATCHED) {
    sigset_t one, saved;
    sigemptyset(&one);
    sigaddset(&one, host);
    pthread_sigmask(SIG_BLOCK, &one, &saved);
    err = uv_signal_stop(handle);
    if (err == 0)
      sig->active[i] = keep_ignored ? park(host) : UNWATCHED;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
  } else if (!want && sig->active[i] == PARKED && !keep_ignored) {
    unpark(host);
    sig->active[i] = UNWATCHED;
  }
  return err;
}

/* The daemon's start, on uv_now's clock (CLOCK_MONOTONIC, in ms); -1 in a
 * process that did not detach. Set after fork: clock_gettime is
 * async-signal-safe. */
static long long daemon_started_ms = -1;

void dk__note_daemonized(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
    daemon_started_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* uv_now may read a coarse clock that lags CLOCK_MONOTONIC by up to a tick
 * (libuv takes it on Linux only when it is 1 ms or finer; a BSD's may be
 * 10 ms): a loop made just after the daemon started must not look older. */
#define LOOP_AGE_SLACK_MS 50

/* A loop made before dk_daemonize detached the process can not work in the
 * daemon: its descriptors (the epoll or kqueue one, libuv's signal pipe)
 * were closed by the daemon's setup, or are the parent's, shared. Its
 * signal watchers would start and never fire, and the daemon would be
 * reported as started while deaf to TERM. uv_loop_fork can not repair it:
 * it would close whatever descriptor now has the old backend's number. */
static int check_loop(uv_loop_t *loop) {
  int fd = uv_backend_fd(loop);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0)
    return UV_EBADF;
#if DK__LINUX_EXTRAS
  {
    char path[40], target[64];
    ssize_t n;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n >= 0) { /* without /proc, the age below must do */
      target[n] = '\0';
      if (strcmp(target, "anon_inode:[eventpoll]") != 0)
        return UV_EBADF;
    }
  }
#endif
  if (daemon_started_ms >= 0 && (long long)uv_now(loop) + LOOP_AGE_SLACK_MS < daemon_started_ms)
    return UV_EBADF;
  return 0;
}

int dk_signals_init(uv_loop_t *loop, dk_signals_t *sig, const char *pid_file) {
  int i, err;
  (void)pid_file; /* names the Windows channels; POSIX needs none */

  if (loop == NULL || sig == NULL)
    return UV_EINVAL;
  err = check_loop(loop);
  if (err < 0)
    return err;
  memset(sig, 0, sizeof(*sig));
  sig->loop = loop;
  for (i = 0; i < DK__NSIGNALS; i++) {
    err = uv_signal_init(loop, &sig->handles[i]);
    if (err < 0)
      return err; /* uv_signal_init fails only before it registers anything */
    sig->handles[i].data = sig;
  }
  return 0;
}

/* libuv writes to sockets and pipes with write(2), not send(MSG_NOSIGNAL):
 * a peer that went away would kill the daemon with SIGPIPE (and leave its
 * pid file) instead of failing that one write with UV_EPIPE. A handler the
 * application installed is its own and stays. Never undone: a daemon that
 * stops watching still writes. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
    return;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
}

/* dk_signals_init in the parent, start in the daemon: the loop is checked
 * again where it has to work. */
int dk_signals_start(dk_signals_t *sig) {
  int i, err;
  if (sig == NULL || sig->closing)
    return UV_EINVAL;
  err = check_loop(sig->loop);
  if (err < 0)
    return err;
  ignore_sigpipe();
  sig->started = 1;
  for (i = 0; i < DK__NSIGNALS; i++) {
    err = dk__signals_sync(sig, i);
    if (err < 0) {
      dk_signals_stop(sig);
      return err;
    }
  }
  return 0;
}

int dk_signals_stop(dk_signals_t *sig) {
  int i;
  if (sig == NULL)
    return UV_EINVAL;
  sig->started = 0;
  for (i = 0; i < DK__NSIGNALS; i++)
    dk__signals_sync(sig, i);
  return 0;
}

/* closing is set first: the watchers kept after the default acted stop too
 * (and leave their signal ignored, for what remains of the cleanup). */
void dk_signals_close(dk_signals_t *sig, dk_signals_close_cb close_cb) {
  int i;
  if (sig == NULL || sig->closing)
    return;
  sig->closing = 1;
  dk_signals_stop(sig);
  sig->close_cb = close_cb;
  for (i = 0; i < DK__NSIGNALS; i++)
    if (!uv_is_closing((uv_handle_t *)&sig->handles[i]))
      uv_close((uv_handle_t *)&sig->handles[i], NULL);
  dk__signals_close_later(sig);
}
