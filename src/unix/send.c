/* SPDX-License-Identifier: MIT */
/* Signalling a daemon through its pid file. The pid is signalled only if
 * the process it names holds the file (proof.c): a stale file whose pid was
 * reused by an unrelated process gets DK_ESTALE, and nothing is sent. */
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"

/* The pidfd from dk__prove pins the process we checked: if it dies and its
 * pid is reused between the check and the signal, the signal fails with
 * ESRCH instead of reaching the newcomer. Kernels before 5.3 have none,
 * nor has any other system (or a build without the Linux extras): there
 * the window is the few microseconds between check and kill(). */
int dk__send_pinned(int pidfd, pid_t pid, int host_signum) {
  int r;
#if DK__LINUX_EXTRAS && defined(SYS_pidfd_send_signal)
  if (pidfd >= 0)
    r = (int)syscall(SYS_pidfd_send_signal, pidfd, host_signum, NULL, 0);
  else
#else
  (void)pidfd;
#endif
    r = kill(pid, host_signum);
  if (r == 0)
    return 0;
  return errno == ESRCH ? DK_ESTALE : DK__ERR(errno);
}

int dk_pid_file_check(const char *pid_file, uv_pid_t *pid) {
  struct dk__proof p;
  int err = dk__prove(pid_file, 0, &p);
  if ((err == 0 || err == DK_ERUNNING) && pid != NULL)
    *pid = (uv_pid_t)p.holder;
  dk__proof_release(&p);
  return err;
}

int dk_kill(const char *pid_file, int signum) {
  struct dk__proof p;
  int err;

  if (signum < 0 || signum >= NSIG)
    return UV_EINVAL;
  err = dk__prove(pid_file, 1, &p);
  if (err == 0)
    err = dk__send_pinned(p.pidfd, p.pid, signum);
  dk__proof_release(&p);
  return err;
}

int dk_send(const char *pid_file, int dk_signum) {
  int host = dk__host_signal(dk_signum);
  if (host < 0)
    return UV_EINVAL;
  return dk_kill(pid_file, host);
}
