/* Signals on the loop, POSIX: one uv_signal_t per DK signal. libuv turns
 * the signal into a callback on the loop's thread; this file decides what
 * that callback does (the user's function, nothing, or the default). */
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

/* INT, TERM and ABRT are watched from the start; the others only once the
 * application said what to do with them, so that their default action
 * (terminate) stays until then. */
static int is_watched(const dk_signals_t *sig, int i) {
  int dk = dk__signal_at(i);
  if (dk == DK_SIGINT || dk == DK_SIGTERM || dk == DK_SIGABRT)
    return 1;
  return sig->modes[i] != DK__MODE_DEFAULT;
}

static void run_default(dk_signals_t *sig, int dk_signum) {
  sig->received = dk_signum;
  dk_signals_stop(sig);
  uv_stop(sig->loop);
}

static void on_signal(uv_signal_t *handle, int host_signum) {
  dk_signals_t *sig = handle->data;
  int i = (int)(handle - sig->handles);
  int dk = dk__signal_at(i);
  (void)host_signum;

  switch (sig->modes[i]) {
  case DK__MODE_CALLBACK:
    sig->cbs[i](sig, dk);
    break;
  case DK__MODE_IGNORE:
    break;
  default:
    run_default(sig, dk);
    break;
  }
}

/* Brings handle i in line with its mode while started. */
static int sync_handle(dk_signals_t *sig, int i) {
  int want = sig->started && is_watched(sig, i);
  int err = 0;
  if (want && !sig->active[i])
    err = uv_signal_start(&sig->handles[i], on_signal, dk__host_signal(dk__signal_at(i)));
  else if (!want && sig->active[i])
    err = uv_signal_stop(&sig->handles[i]);
  if (err == 0)
    sig->active[i] = want;
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

static int set_mode(dk_signals_t *sig, int dk_signum, int mode, dk_signal_cb cb) {
  int i = dk__signal_index(dk_signum);
  if (sig == NULL || i < 0 || sig->closing)
    return UV_EINVAL;
  sig->modes[i] = mode;
  sig->cbs[i] = cb;
  return sync_handle(sig, i);
}

int dk_signals_set(dk_signals_t *sig, int dk_signum, dk_signal_cb cb) {
  return set_mode(sig, dk_signum, cb != NULL ? DK__MODE_CALLBACK : DK__MODE_DEFAULT, cb);
}

int dk_signals_ignore(dk_signals_t *sig, int dk_signum) {
  return set_mode(sig, dk_signum, DK__MODE_IGNORE, NULL);
}

int dk_signals_start(dk_signals_t *sig) {
  int i, err;
  if (sig == NULL || sig->closing)
    return UV_EINVAL;
  sig->started = 1;
  for (i = 0; i < DK__NSIGNALS; i++) {
    err = sync_handle(sig, i);
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
    sync_handle(sig, i);
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

int dk_signals_received(const dk_signals_t *sig) {
  return sig == NULL ? 0 : sig->received;
}
