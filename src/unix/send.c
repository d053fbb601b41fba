/* Signalling a daemon through its pid file. The pid is signalled only if
 * the process it names holds the file's lock: a stale file whose pid was
 * reused by an unrelated process gets DK_ESTALE, and nothing is sent. */
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"

/* A pidfd pins the process we are about to check: if it dies and its pid
 * is reused between the check and the signal, the signal fails with ESRCH
 * instead of reaching the newcomer. Kernels before 5.3 have none; there the
 * window is the few microseconds between check and kill(). */
static int pidfd_open_compat(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* Signals the pinned process (pidfd >= 0), or `pid` without a pidfd. */
int dk__send_pinned(int pidfd, pid_t pid, int host_signum) {
  int r;
#ifdef SYS_pidfd_send_signal
  if (pidfd >= 0)
    r = (int)syscall(SYS_pidfd_send_signal, pidfd, host_signum, NULL, 0);
  else
#endif
    r = kill(pid, host_signum);
  if (r == 0)
    return 0;
  return errno == ESRCH ? DK_ESTALE : DK__ERR(errno);
}

int dk__send_check(const char *pid_file, pid_t *pid, int *pidfd, int *fd_out, struct stat *st,
                   int *by_record_lock) {
  int fd, err;

  if (pid_file == NULL)
    return UV_EINVAL;
  err = dk__pidfile_read_stat(pid_file, &fd, pid, st);
  if (err < 0)
    return err;
  if (pidfd != NULL) {
    *pidfd = pidfd_open_compat(*pid);
    if (*pidfd < 0 && errno == ESRCH) {
      close(fd);
      return DK_ESTALE;
    }
  }
  err = dk__pidfile_holder_ok(fd, *pid, by_record_lock);
  if (err == 0 && fd_out != NULL)
    *fd_out = fd;
  else
    close(fd);
  if (err < 0 && pidfd != NULL && *pidfd >= 0)
    close(*pidfd);
  return err;
}

int dk_pid_file_check(const char *pid_file, uv_pid_t *pid) {
  pid_t found;
  int err = dk__send_check(pid_file, &found, NULL, NULL, NULL, NULL);
  if (err == 0 && pid != NULL)
    *pid = found;
  return err;
}

int dk_send(const char *pid_file, int dk_signum) {
  int host = dk__host_signal(dk_signum);
  int pidfd, err;
  pid_t pid;

  if (host < 0)
    return UV_EINVAL;
  err = dk__send_check(pid_file, &pid, &pidfd, NULL, NULL, NULL);
  if (err < 0)
    return err;
  err = dk__send_pinned(pidfd, pid, host);
  if (pidfd >= 0)
    close(pidfd);
  return err;
}
