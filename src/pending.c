/* SPDX-License-Identifier: MIT */
/* The hand-over from a thread that catches signals to the loop that
 * dispatches them (the Windows waiter thread, src/win/signals.c). Portable
 * and built everywhere, so that test-pending proves it with a real thread
 * on every platform. The waiter marks a signal pending and wakes the loop;
 * the loop takes each mark once. uv_async_send may coalesce wake-ups, the
 * marks may not: two different signals each keep their own. The marks are
 * plain longs in the public struct (its header is C99 and C++), used here
 * as atomics of the same size. */
#include <stdatomic.h>

#include "internal.h"

static atomic_long *mark_at(long *pending, int index) {
  return (atomic_long *)&pending[index];
}

void dk__pending_mark(long *pending, int index) {
  atomic_store_explicit(mark_at(pending, index), 1, memory_order_release);
}

int dk__pending_take(long *pending, int index) {
  return atomic_exchange_explicit(mark_at(pending, index), 0, memory_order_acq_rel) != 0;
}

void dk__signals_dispatch_pending(dk_signals_t *sig, long *pending) {
  int i;
  for (i = 0; i < DK__NSIGNALS; i++)
    if (dk__pending_take(pending, i) && !sig->closing)
      dk__signals_dispatch(sig, i);
}
