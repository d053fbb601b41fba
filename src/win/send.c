/* SPDX-License-Identifier: MIT */
/* Signalling a daemon through its pid file, Windows: set the daemon's named
 * event for that signal. Its name holds the pid read from the file and the
 * file's identity, so if no live daemon of that pid holds this file, there
 * is no such event and nothing is signalled. */
#include "win.h"

static int open_channel(const char *pid_file, const char *what, DWORD access, HANDLE *out,
                        long *pid) {
  dk__file_id id;
  int err;

  if (pid_file == NULL)
    return UV_EINVAL;
  err = dk__pidfile_read(pid_file, pid, &id);
  if (err < 0)
    return err;
  return dk__channel_open((unsigned long)*pid, &id, what, access, out);
}

int dk_pid_file_check(const char *pid_file, uv_pid_t *pid) {
  HANDLE alive;
  long named;
  int err = open_channel(pid_file, "ALIVE", SYNCHRONIZE, &alive, &named);
  if (err < 0)
    return err;
  CloseHandle(alive);
  if (pid != NULL)
    *pid = (uv_pid_t)named;
  return 0;
}

int dk_send(const char *pid_file, int dk_signum) {
  const char *name = dk_signal_name(dk_signum);
  HANDLE event;
  long pid;
  int err;

  if (name == NULL)
    return UV_EINVAL;
  err = open_channel(pid_file, name + 3, EVENT_MODIFY_STATE, &event, &pid);
  if (err < 0)
    return err;
  err = SetEvent(event) ? 0 : DK__WIN_ERR(GetLastError());
  CloseHandle(event);
  return err;
}

/* Windows has no signal numbers of its own to send: dk_send's six names
 * are all there is. */
int dk_kill(const char *pid_file, int signum) {
  (void)pid_file;
  (void)signum;
  return UV_ENOTSUP;
}
