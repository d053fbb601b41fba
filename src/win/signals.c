/* SPDX-License-Identifier: MIT */
/* Signals on the loop, Windows. libuv's uv_signal_t can not do this here:
 * its SIGTERM and SIGABRT watchers never fire, and nothing another process
 * does reaches them. Instead each daemon owns one named event per signal
 * (names.c); a waiter thread blocks on them and on a stop event, with no
 * timeout, marks what fired and wakes the loop with uv_async_send. The
 * async callback, on the loop's thread, dispatches each mark once. The
 * console's control events take the same way in (console.c). */
#include <string.h>

#include "win.h"

enum { STOP_EVENT = DK__NSIGNALS };

static void on_async(uv_async_t *async) {
  dk_signals_t *sig = async->data;
  int acted = sig->acted;
  dk__signals_dispatch_pending(sig, sig->pending);
  if (!acted && sig->acted)
    dk__service_stopping();
}

static void waiter(void *arg) {
  dk_signals_t *sig = arg;
  HANDLE *events = (HANDLE *)sig->events;
  DWORD r;
  int i;

  for (;;) {
    r = WaitForMultipleObjects(DK__NSIGNALS + 1, events, FALSE, INFINITE);
    if (r == WAIT_FAILED || r == WAIT_OBJECT_0 + STOP_EVENT)
      return;
    if (r >= WAIT_OBJECT_0 + DK__NSIGNALS)
      continue;
    dk__pending_mark(sig->pending, (int)(r - WAIT_OBJECT_0));
    /* The wait reports the lowest event set; collect the others too, so a
     * signal sent over and over can not starve another. */
    for (i = 0; i < DK__NSIGNALS; i++)
      if (WaitForSingleObject(events[i], 0) == WAIT_OBJECT_0)
        dk__pending_mark(sig->pending, i);
    uv_async_send(&sig->async);
  }
}

/* The events are the daemon's own, created when it claimed its pid file.
 * A process that holds no pid file (dk_signals before, or without,
 * dk_daemonize: it wrote its own) creates them here, named after the file
 * it was given, with ALIVE, so that dk_pid_file_check agrees with dk_send
 * that it is there. Given no file either (DK_FOREGROUND or DK_SERVICE
 * without one), they have no name: only the console and the SCM reach
 * the process. */
static int open_events(dk_signals_t *sig, const char *pid_file) {
  HANDLE made[DK__NCHANNELS];
  dk__file_id id;
  long named;
  int held, i, err;

  memset(&id, 0, sizeof(id));
  held = dk__pidfile_held(&id, (HANDLE *)sig->events) == 0;
  if (!held && pid_file != NULL) {
    err = dk__pidfile_read(pid_file, &named, &id);
    if (err < 0)
      return err;
  }
  err = dk__signals_register(sig, &id);
  for (i = 0; err == 0 && !held && pid_file == NULL && i < DK__NSIGNALS; i++)
    if ((sig->events[i] = CreateEventW(NULL, FALSE, FALSE, NULL)) == NULL)
      err = DK__WIN_ERR(GetLastError());
  if (err == 0 && !held && pid_file != NULL) {
    err = dk__channels_create(GetCurrentProcessId(), &id, made, DK__NCHANNELS);
    for (i = 0; err == 0 && i < DK__NSIGNALS; i++)
      sig->events[i] = made[i];
    if (err == 0)
      sig->alive = made[DK__ALIVE];
  }
  if (err == 0) {
    sig->events[STOP_EVENT] = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (sig->events[STOP_EVENT] == NULL)
      err = DK__WIN_ERR(GetLastError());
  }
  if (err < 0 && err != UV_EBUSY)
    dk__signals_unregister(sig);
  return err;
}

static void close_events(dk_signals_t *sig) {
  dk__channels_close((HANDLE *)sig->events, DK__NSIGNALS + 1);
  if (sig->alive != NULL)
    CloseHandle(sig->alive);
  sig->alive = NULL;
}

int dk_signals_init(uv_loop_t *loop, dk_signals_t *sig, const char *pid_file) {
  int err;
  if (loop == NULL || sig == NULL)
    return UV_EINVAL;
  memset(sig, 0, sizeof(*sig));
  sig->loop = loop;
  err = open_events(sig, pid_file);
  if (err == 0) {
    err = uv_async_init(loop, &sig->async, on_async);
    if (err < 0)
      dk__signals_unregister(sig);
  }
  if (err < 0) {
    close_events(sig);
    return err;
  }
  sig->async.data = sig;
  /* Like an unstarted uv_signal_t, an unstarted dk_signals_t does not keep
   * the loop alive. */
  uv_unref((uv_handle_t *)&sig->async);
  return 0;
}

/* Which signals are watched only matters when one is delivered: the
 * waiter waits on all six, and dispatch does what the mode says. */
int dk__signals_sync(dk_signals_t *sig, int index) {
  (void)sig;
  (void)index;
  return 0;
}

int dk_signals_start(dk_signals_t *sig) {
  int err;
  if (sig == NULL || sig->closing)
    return UV_EINVAL;
  if (sig->thread_running)
    return 0;
  ResetEvent(sig->events[STOP_EVENT]);
  err = uv_thread_create(&sig->thread, waiter, sig);
  if (err < 0)
    return err;
  sig->thread_running = 1;
  dk__signals_set_started(sig, 1);
  uv_ref((uv_handle_t *)&sig->async);
  return 0;
}

int dk_signals_stop(dk_signals_t *sig) {
  if (sig == NULL)
    return UV_EINVAL;
  dk__signals_set_started(sig, 0);
  if (!sig->thread_running)
    return 0;
  SetEvent(sig->events[STOP_EVENT]);
  uv_thread_join(&sig->thread);
  sig->thread_running = 0;
  uv_unref((uv_handle_t *)&sig->async);
  return 0;
}

/* The waiter is joined (dk_signals_stop): nothing uses the events now. The
 * async handle may have been closed already, by the application's uv_walk;
 * close_cb comes once libuv is done with it either way (../signals.c). */
void dk_signals_close(dk_signals_t *sig, dk_signals_close_cb close_cb) {
  if (sig == NULL || sig->closing)
    return;
  dk_signals_stop(sig);
  /* Out of the console handler's reach before the async handle goes. */
  dk__signals_unregister(sig);
  sig->closing = 1;
  sig->close_cb = close_cb;
  close_events(sig);
  if (!uv_is_closing((uv_handle_t *)&sig->async))
    uv_close((uv_handle_t *)&sig->async, NULL);
  dk__signals_close_later(sig);
}
