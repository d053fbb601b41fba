/* SPDX-License-Identifier: MIT */
/* The service watchdog on the application's loop, the part every platform
 * shares: a timer that pings while the loop turns. Whether anybody asked
 * for pings is each platform's (dk__watchdog_asked). */
#include "internal.h"

static void on_tick(uv_timer_t *timer) {
  dk_watchdog_t *wd = timer->data;
  int err = dk_notify("WATCHDOG=1");
  wd->last_error = err < 0 ? err : 0;
}

int dk_watchdog_init(uv_loop_t *loop, dk_watchdog_t *wd) {
  int err;
  if (loop == NULL || wd == NULL)
    return UV_EINVAL;
  wd->close_cb = NULL;
  wd->usec = 0;
  wd->last_error = 0;
  err = uv_timer_init(loop, &wd->timer);
  if (err < 0)
    return err;
  wd->timer.data = wd;
  /* Pings are owed only while the application runs its loop for some
   * other reason; they are never a reason to keep it running. */
  uv_unref((uv_handle_t *)&wd->timer);
  return 0;
}

int dk_watchdog_start(dk_watchdog_t *wd) {
  unsigned long long usec, half_ms;
  int asked, err;

  if (wd == NULL || uv_is_closing((uv_handle_t *)&wd->timer))
    return UV_EINVAL;
  asked = dk__watchdog_asked(&usec);
  if (asked <= 0) {
    uv_timer_stop(&wd->timer);
    wd->usec = 0;
    return asked;
  }
  /* Half the interval, rounded down so that a ping is never late; a
   * sub-millisecond interval (nobody sets one) still gets 1 ms. */
  half_ms = usec / 2000;
  if (half_ms == 0)
    half_ms = 1;
  /* From now, not from the loop's last update: the first ping is half
   * an interval after this call, not sooner. */
  uv_update_time(wd->timer.loop);
  err = uv_timer_start(&wd->timer, on_tick, half_ms, half_ms);
  if (err < 0)
    return err;
  wd->usec = usec;
  return 1;
}

int dk_watchdog_stop(dk_watchdog_t *wd) {
  if (wd == NULL)
    return UV_EINVAL;
  wd->usec = 0;
  return uv_timer_stop(&wd->timer);
}

static void on_closed(uv_handle_t *handle) {
  dk_watchdog_t *wd = handle->data;
  if (wd->close_cb != NULL)
    wd->close_cb(wd);
}

void dk_watchdog_close(dk_watchdog_t *wd, dk_watchdog_close_cb close_cb) {
  if (wd == NULL || uv_is_closing((uv_handle_t *)&wd->timer))
    return;
  wd->close_cb = close_cb;
  wd->usec = 0;
  uv_close((uv_handle_t *)&wd->timer, on_closed);
}
