/* SPDX-License-Identifier: MIT */
#include <string.h>
#include "internal.h"

void dk_options_init(dk_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
  opts->umask = -1;
}

int dk__options_check(const dk_options_t *opts) {
  if (opts == NULL)
    return UV_EINVAL;
  /* A process that stays in the foreground needs no pid file (systemd's
   * new-style daemons, services: their manager finds them); one that
   * detaches does: nothing else finds it. */
  if (opts->pid_file == NULL ? !(opts->flags & (DK_FOREGROUND | DK_SERVICE))
                             : opts->pid_file[0] == '\0')
    return UV_EINVAL;
  if (opts->umask > 0777 || (opts->keep_fds == NULL && opts->keep_fds_count > 0))
    return UV_EINVAL;
  if ((opts->flags & ~(DK_WAIT_READY | DK_FOREGROUND | DK_SERVICE)) != 0)
    return UV_EINVAL;
  return 0;
}
