/* Signals on the loop, the part every platform shares: what a delivered
 * signal does (the application's callback, nothing, or the default), and
 * the hand-over from a waiter thread to the loop. How signals are caught
 * is each platform's (uv_signal_t on POSIX, named events on Windows). */
#include "internal.h"

/* INT, TERM and ABRT are watched from the start; the others only once the
 * application said what to do with them, so that until then their own
 * default stays (on POSIX: terminate). */
int dk__signals_is_watched(const dk_signals_t *sig, int index) {
  int dk = dk__signal_at(index);
  if (dk == DK_SIGINT || dk == DK_SIGTERM || dk == DK_SIGABRT)
    return 1;
  return sig->modes[index] != DK__MODE_DEFAULT;
}

/* The C form of the Python library raising the signal in the main thread:
 * uv_run returns, and main cleans up. */
static void run_default(dk_signals_t *sig, int dk_signum) {
  sig->received = dk_signum;
  dk_signals_stop(sig);
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
    if (dk == DK_SIGINT || dk == DK_SIGTERM || dk == DK_SIGABRT)
      run_default(sig, dk);
    break;
  }
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

/* The waiter marks a signal pending and wakes the loop; the loop takes
 * each mark once. uv_async_send may coalesce wake-ups, the marks may not:
 * two different signals each keep their own. */
void dk__pending_mark(long *pending, int index) {
  __atomic_store_n(&pending[index], 1, __ATOMIC_RELEASE);
}

int dk__pending_take(long *pending, int index) {
  return __atomic_exchange_n(&pending[index], 0, __ATOMIC_ACQ_REL) != 0;
}

void dk__signals_dispatch_pending(dk_signals_t *sig, long *pending) {
  int i;
  for (i = 0; i < DK__NSIGNALS; i++)
    if (dk__pending_take(pending, i) && !sig->closing)
      dk__signals_dispatch(sig, i);
}
