/* SPDX-License-Identifier: MIT */
/* The steps that turn a forked child into a daemon (systemd daemon(7), the
 * SysV list): signal dispositions reset, inherited descriptors closed.
 * All of it runs between fork and the daemon's return: no allocation, no
 * locks, only async-signal-safe calls, and EINTR retried. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"

void dk__reset_signals(void) {
  struct sigaction dfl;
  sigset_t none;
  int s;

  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  /* Some numbers are glibc's own or not signals at all: sigaction refuses
   * them, and that refusal is harmless. */
  for (s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      (void)sigaction(s, &dfl, NULL);
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static int is_kept(int fd, const int *keep, size_t nkeep, int also_keep) {
  size_t i;
  if (fd == also_keep)
    return 1;
  for (i = 0; i < nkeep; i++)
    if (keep[i] == fd)
      return 1;
  return 0;
}

/* The smallest kept descriptor >= from, or INT_MAX. The list is the
 * caller's and const, and sorting a copy would need memory. */
static int next_kept(int from, const int *keep, size_t nkeep, int also_keep) {
  int best = INT_MAX;
  size_t i;
  if (also_keep >= from)
    best = also_keep;
  for (i = 0; i < nkeep; i++)
    if (keep[i] >= from && keep[i] < best)
      best = keep[i];
  return best;
}

static int close_range_compat(unsigned lo, unsigned hi) {
#if DK__LINUX_EXTRAS && defined(SYS_close_range)
  if (syscall(SYS_close_range, lo, hi, 0) == 0)
    return 0;
  return -1;
#else
  (void)lo;
  (void)hi;
  errno = ENOSYS;
  return -1;
#endif
}

#if DK__LINUX_EXTRAS
#include <dirent.h>
/* Kernels before 5.9 lack close_range: read /proc/self/fd with getdents64
 * on a stack buffer (opendir would allocate). Closing while listing may
 * make the listing skip entries, so passes repeat until one closes nothing. */

static int close_by_proc(const int *keep, size_t nkeep, int also_keep) {
  char buf[4096];
  int dir, closed_any;

  do {
    long n, off;
    closed_any = 0;
    dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
      return -1;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
      for (off = 0; off < n;) {
        struct dk__dirent64 *d = (struct dk__dirent64 *)(buf + off);
        int fd = 0;
        const char *p = d->d_name;
        off += d->d_reclen;
        if (*p < '0' || *p > '9')
          continue;
        for (; *p >= '0' && *p <= '9'; p++)
          fd = fd * 10 + (*p - '0');
        /* Only a close that worked calls for another pass: a descriptor
         * that can not be closed (valgrind lists its own and refuses with
         * EBADF) would otherwise make the passes go on for ever. */
        if (fd > 2 && fd != dir && !is_kept(fd, keep, nkeep, also_keep) && close(fd) == 0)
          closed_any = 1;
      }
    }
    close(dir);
    if (n < 0)
      return -1;
  } while (closed_any);
  return 0;
}
#endif

static void close_by_rlimit(const int *keep, size_t nkeep, int also_keep) {
  struct rlimit rl;
  long max = 65536, fd;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    max = (long)rl.rlim_cur;
  for (fd = 3; fd < max; fd++)
    if (!is_kept((int)fd, keep, nkeep, also_keep))
      close((int)fd);
}

/* Closes every descriptor from 3 up but those kept. close() is not retried
 * on EINTR: on Linux the descriptor is gone either way. */
int dk__close_inherited(const int *keep, size_t nkeep, int also_keep) {
  int lo = 3, k;
  for (;;) {
    k = next_kept(lo, keep, nkeep, also_keep);
    if (k > lo && close_range_compat((unsigned)lo, k == INT_MAX ? ~0u : (unsigned)k - 1) < 0)
      break;
    if (k == INT_MAX)
      return 0;
    lo = k + 1;
  }
#if DK__LINUX_EXTRAS
  if (close_by_proc(keep, nkeep, also_keep) == 0)
    return 0;
#endif
  close_by_rlimit(keep, nkeep, also_keep);
  return 0;
}

int dk__fd_above_stdio(int fd) {
  int moved, err;
  if (fd < 0 || fd > 2)
    return fd;
  do
    moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  while (moved < 0 && errno == EINTR);
  err = errno;
  close(fd);
  return moved < 0 ? DK__ERR(err) : moved;
}
