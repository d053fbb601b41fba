/* SPDX-License-Identifier: MIT */
/* systemd's protocols on Windows: there is no such supervisor, so nobody
 * asks for notifications, a watchdog or socket activation. These exist so
 * that portable programs need no #ifdef. */
#include "win.h"

int dk_notify(const char *state) {
  return state == NULL ? UV_EINVAL : 0;
}

int dk_notify_reloading(void) {
  return 0;
}

int dk_notify_stopping(void) {
  return 0;
}

int dk__watchdog_asked(unsigned long long *usec) {
  *usec = 0;
  return 0;
}

int dk_listen_fds(dk_listen_fd_t *fds, size_t *count) {
  (void)fds;
  if (count == NULL)
    return UV_EINVAL;
  *count = 0;
  return 0;
}
