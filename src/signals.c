/* SPDX-License-Identifier: MIT */
/* Signals on the loop, the part every platform shares: what a delivered
 * signal does (the application's callback, nothing, or the default). How
 * signals are caught is each platform's (uv_signal_t on POSIX, named
 * events on Windows). */
#include "internal.h"

static int stops_by_default(int dk_signum) {
  return dk_signum == DK_SIGINT || dk_signum == DK_SIGTERM || dk_signum == DK_SIGABRT;
}

/* INT, TERM and ABRT are watched from the start; the others only once the
 * application said what to do with them, so that until then their own
 * default stays (on POSIX: terminate). */
int dk__signals_is_watched(const dk_signals_t *sig, int index) {
  if (stops_by_default(dk__signal_at(index)))
    return 1;
  return sig->modes[index] != DK__MODE_DEFAULT;
}

int dk__signals_after_default(const dk_signals_t *sig, int index) {
  return sig->acted && sig->modes[index] == DK__MODE_DEFAULT &&
         stops_by_default(dk__signal_at(index));
}

/* The C form of the Python library raising the signal in the main thread:
 * uv_run returns, and main cleans up. Once: the cleanup runs the loop again
 * to finish its closes, and a second TERM that stopped that run, or killed
 * the process, would leave the cleanup (and the pid file) half done. */
static void run_default(dk_signals_t *sig, int dk_signum) {
  sig->received = dk_signum;
  sig->acted = 1;
  dk_signals_stop(sig);
  /* The supervisor, if one asked (NOTIFY_SOCKET), learns the service is
   * going; a failure to tell it must not keep the process from going. */
  dk_notify_stopping();
  uv_stop(sig->loop);
}

void dk__signals_dispatch(dk_signals_t *sig, int index) {
  int dk = dk__signal_at(index);
  switch (sig->modes[index]) {
  case DK__MODE_CALLBACK:
    sig->cbs[index](sig, dk);
    break;
  case DK__MODE_IGNORE:
    break;
  default:
    if (stops_by_default(dk) && !sig->acted)
      run_default(sig, dk);
    break;
  }
}

/* Every handle of sig closed before dk_signals_close returned (by it, or
 * by the application's uv_walk, whose close callbacks are the
 * application's and tell us nothing) is done with after the next closing
 * phase of the loop. The idle handle's first pass comes in that phase's
 * iteration or later, its second after it; its own close callback is the
 * last thing libuv does with sig, which the application may then free. */
static void on_idle_closed(uv_handle_t *handle) {
  dk_signals_t *sig = handle->data;
  if (sig->close_cb != NULL)
    sig->close_cb(sig);
}

static void on_idle(uv_idle_t *idle) {
  dk_signals_t *sig = idle->data;
  if (++sig->idle_passes == 2)
    uv_close((uv_handle_t *)idle, on_idle_closed);
}

void dk__signals_close_later(dk_signals_t *sig) {
  sig->idle_passes = 0;
  uv_idle_init(sig->loop, &sig->idle); /* fails on no platform */
  sig->idle.data = sig;
  uv_idle_start(&sig->idle, on_idle);
}

static int set_mode(dk_signals_t *sig, int dk_signum, int mode, dk_signal_cb cb) {
  int i = dk__signal_index(dk_signum);
  if (sig == NULL || i < 0 || sig->closing)
    return UV_EINVAL;
  sig->modes[i] = mode;
  sig->cbs[i] = cb;
  return dk__signals_sync(sig, i);
}

int dk_signals_set(dk_signals_t *sig, int dk_signum, dk_signal_cb cb) {
  return set_mode(sig, dk_signum, cb != NULL ? DK__MODE_CALLBACK : DK__MODE_DEFAULT, cb);
}

int dk_signals_ignore(dk_signals_t *sig, int dk_signum) {
  return set_mode(sig, dk_signum, DK__MODE_IGNORE, NULL);
}

int dk_signals_received(const dk_signals_t *sig) {
  return sig == NULL ? 0 : sig->received;
}
