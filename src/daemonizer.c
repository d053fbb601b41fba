/* SPDX-License-Identifier: MIT */
/* The daemonizer's life, the part every platform shares: argument checks,
 * the exit-time removal of the pid file, and what dk_ready promises. How a
 * daemon comes to be, and how it reports, is each platform's. */
#include <stdlib.h>

#include "internal.h"

static void remove_pidfile_at_exit(void) {
  dk__pidfile_drop();
}

int dk__daemonize_begin(dk_daemonizer_t *dz, const void *payload, size_t payload_len) {
  static int atexit_registered;

  if (dz == NULL || (payload == NULL && payload_len > 0))
    return UV_EINVAL;
  if (dz->role != 0)
    return UV_EALREADY;
  /* Registered before any fork or relaunch: atexit() may allocate, and the
   * daemon inherits the registration. */
  if (!atexit_registered) {
    if (atexit(remove_pidfile_at_exit) != 0)
      return UV_ENOMEM;
    atexit_registered = 1;
  }
  return 0;
}

uv_pid_t dk_daemon_pid(const dk_daemonizer_t *dz) {
  return dz->daemon_pid;
}

const char *dk_daemonizer_pid_file(const dk_daemonizer_t *dz) {
  return dz == NULL || dz->pid_path[0] == '\0' ? NULL : dz->pid_path;
}

int dk_daemonizer_failed_step(const dk_daemonizer_t *dz) {
  return dz == NULL ? DK_STEP_NONE : dz->failed_step;
}

int dk_ready(dk_daemonizer_t *dz, int status) {
  if (dz == NULL || dz->role != DK_DAEMON || status > 0)
    return UV_EINVAL;
  if (dz->ready_sent)
    return UV_EALREADY;
  dz->ready_sent = 1;
  /* A daemon that failed is about to exit: its pid file must not outlive
   * the parent's return. */
  if (status < 0)
    dk__pidfile_drop();
  return dk__report_ready(dz, status);
}

void dk_daemonizer_cleanup(dk_daemonizer_t *dz) {
  (void)dz;
  dk__pidfile_drop();
}
