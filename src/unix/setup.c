/* The steps that turn a forked child into a daemon (systemd daemon(7), the
 * SysV list). Everything here except dk__resolve_ids runs between fork and
 * the daemon's return: no allocation, no locks, only async-signal-safe
 * calls, and EINTR retried. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
#ifdef SYS_close_range
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

#ifdef __linux__
#include <dirent.h>
/* Kernels before 5.9 lack close_range: read /proc/self/fd with getdents64
 * on a stack buffer (opendir would allocate). Closing while listing may
 * make the listing skip entries, so passes repeat until one closes nothing. */
struct dk__dirent64 {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

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
#ifdef __linux__
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

/* Points descriptor `target` at `path` (or the null device). A caller's
 * stdio may be closed: the open then lands on the lowest free number,
 * which may be another of 0-2 that is set later (or, in the foreground,
 * left closed), so it is moved above them before the dup2. */
static int redirect_one(int target, const char *path, int flags) {
  int fd;
  do
    fd = open(path, flags | O_CLOEXEC | O_NOCTTY, 0666);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return DK__ERR(errno);
  if (fd == target) {
    /* Without O_CLOEXEC a program the daemon execs keeps its stdio. */
    return fcntl(fd, F_SETFD, 0) < 0 ? DK__ERR(errno) : 0;
  }
  fd = dk__fd_above_stdio(fd);
  if (fd < 0)
    return fd;
  while (dup2(fd, target) < 0) {
    if (errno != EINTR && errno != EBUSY) {
      int err = DK__ERR(errno);
      close(fd);
      return err;
    }
  }
  close(fd);
  return 0;
}

int dk__redirect_stdio(const dk_options_t *opts, int null_by_default) {
  static const char null_dev[] = "/dev/null";
  const int out_flags = O_WRONLY | O_CREAT | O_APPEND;
  const char *paths[3];
  const int flags[3] = { O_RDONLY, out_flags, out_flags };
  int fd, err;

  paths[0] = opts->stdin_path;
  paths[1] = opts->stdout_path;
  paths[2] = opts->stderr_path;
  for (fd = 0; fd < 3; fd++) {
    const char *path = paths[fd];
    if (path == NULL && !null_by_default)
      continue;
    if (path == NULL)
      path = null_dev;
    err = redirect_one(fd, path, flags[fd]);
    if (err < 0)
      return err;
  }
  return 0;
}

/* Looks the user and group up in the parent: NSS may allocate, open files
 * and lock, none of which is allowed after fork. */
int dk__resolve_ids(dk_daemonizer_t *dz, const dk_options_t *opts) {
  char buf[16384];
  struct passwd pw, *pwp = NULL;
  struct group gr, *grp = NULL;

  dz->have_ids = 0;
  dz->ngroups = 0;
  if (opts->user == NULL && opts->group == NULL)
    return 0;
  if (opts->user != NULL) {
    gid_t groups[DK__MAX_GROUPS];
    int i, n = DK__MAX_GROUPS;
    int r = getpwnam_r(opts->user, &pw, buf, sizeof(buf), &pwp);
    if (r != 0 && r != ENOENT && r != ESRCH)
      return DK__ERR(r);
    if (pwp == NULL)
      return DK_ENOUSER;
    dz->uid = pw.pw_uid;
    dz->gid = pw.pw_gid;
    if (getgrouplist(opts->user, pw.pw_gid, groups, &n) < 0)
      return UV_E2BIG;
    for (i = 0; i < n; i++)
      dz->groups[i] = groups[i];
    dz->ngroups = n;
  } else {
    dz->uid = getuid();
  }
  if (opts->group != NULL) {
    int r = getgrnam_r(opts->group, &gr, buf, sizeof(buf), &grp);
    if (r != 0 && r != ENOENT && r != ESRCH)
      return DK__ERR(r);
    if (grp == NULL)
      return DK_ENOUSER;
    dz->gid = gr.gr_gid;
    if (opts->user == NULL) {
      dz->groups[0] = gr.gr_gid;
      dz->ngroups = 1;
    }
  }
  dz->have_ids = 1;
  return 0;
}

/* Groups first: once the uid is no longer root they can not be changed. */
int dk__drop_ids(const dk_daemonizer_t *dz) {
  gid_t groups[DK__MAX_GROUPS];
  int i;

  if (!dz->have_ids)
    return 0;
  for (i = 0; i < dz->ngroups; i++)
    groups[i] = (gid_t)dz->groups[i];
  /* EPERM is what an ordinary user gets when it "switches" to itself, and
   * is harmless there. Switching to another uid it is not: root whose
   * setgroups is denied (a user namespace's /proc/PID/setgroups) would go
   * on as the new user with root's supplementary groups (group 0...). */
  if (setgroups((size_t)dz->ngroups, groups) < 0 &&
      (errno != EPERM || (uid_t)dz->uid != geteuid()))
    return DK__ERR(errno);
  if (setgid((gid_t)dz->gid) < 0)
    return DK__ERR(errno);
  if (setuid((uid_t)dz->uid) < 0)
    return DK__ERR(errno);
  return 0;
}
