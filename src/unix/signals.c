/* Signals on the loop, POSIX: one uv_signal_t per DK signal. libuv turns
 * the signal into a callback on the loop's thread; what that callback does
 * is decided in ../signals.c, the same on every platform. */
#include <pthread.h>
#include <signal.h>
#include <string.h>

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

/* Brings handle i in line with its mode while started. */
int dk__signals_sync(dk_signals_t *sig, int i) {
  int want = sig->started && dk__signals_is_watched(sig, i);
  int host = dk__host_signal(dk__signal_at(i));
  int err = 0;
  if (want && sig->active[i] != WATCHED) {
    err = uv_signal_start(&sig->handles[i], on_signal, host);
    if (err == 0)
      sig->active[i] = WATCHED;
  } else if (!want && sig->active[i] == WATCHED) {
    sigset_t one, saved;
    sigemptyset(&one);
    sigaddset(&one, host);
    pthread_sigmask(SIG_BLOCK, &one, &saved);
    err = uv_signal_stop(&sig->handles[i]);
    if (err == 0)
      sig->active[i] = sig->modes[i] != DK__MODE_DEFAULT ? park(host) : UNWATCHED;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
  } else if (!want && sig->active[i] == PARKED && sig->modes[i] == DK__MODE_DEFAULT) {
    unpark(host);
    sig->active[i] = UNWATCHED;
  }
  return err;
}

int dk_signals_init(uv_loop_t *loop, dk_signals_t *sig, const char *pid_file) {
  int i, err;
  (void)pid_file; /* names the Windows channels; POSIX needs none */

  if (loop == NULL || sig == NULL)
    return UV_EINVAL;
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

int dk_signals_start(dk_signals_t *sig) {
  int i, err;
  if (sig == NULL || sig->closing)
    return UV_EINVAL;
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

static void on_handle_closed(uv_handle_t *handle) {
  dk_signals_t *sig = handle->data;
  if (--sig->pending_closes == 0 && sig->close_cb != NULL)
    sig->close_cb(sig);
}

void dk_signals_close(dk_signals_t *sig, dk_signals_close_cb close_cb) {
  int i;
  if (sig == NULL || sig->closing)
    return;
  dk_signals_stop(sig);
  sig->closing = 1;
  sig->close_cb = close_cb;
  sig->pending_closes = DK__NSIGNALS;
  for (i = 0; i < DK__NSIGNALS; i++)
    uv_close((uv_handle_t *)&sig->handles[i], on_handle_closed);
}
