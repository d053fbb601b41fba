/* SPDX-License-Identifier: MIT */
/* dk_sender_t on Windows keeps nothing: each call is dk_send's or
 * dk_pid_file_check's. A send there reads the pid file and opens the named
 * event whose name holds that pid and the file's identity, which exists
 * only while that daemon lives; a kept event handle would skip exactly
 * that proof (and keep a dead daemon's event open), so nothing is kept. */
#include <string.h>

#include "win.h"

int dk_sender_init(dk_sender_t *s, const char *pid_file) {
  size_t len;

  if (s == NULL)
    return UV_EINVAL;
  s->path[0] = '\0';
  if (pid_file == NULL || (len = strlen(pid_file)) >= sizeof(s->path))
    return UV_EINVAL;
  memcpy(s->path, pid_file, len + 1);
  return 0;
}

int dk_sender_send(dk_sender_t *s, int dk_signum) {
  if (s == NULL)
    return UV_EINVAL;
  return dk_send(s->path, dk_signum);
}

int dk_sender_check(dk_sender_t *s, uv_pid_t *pid) {
  if (s == NULL)
    return UV_EINVAL;
  return dk_pid_file_check(s->path, pid);
}

void dk_sender_close(dk_sender_t *s) {
  (void)s;
}
