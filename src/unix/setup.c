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
#include <sys/mman.h>
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

int dk__redirect_stdio(const dk_options_t *opts, int null_by_default, int *failed_fd) {
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
    if (err < 0) {
      *failed_fd = fd;
      return err;
    }
  }
  return 0;
}

/* A group's entry lists its members, so it can be any size: the lookup
 * buffer grows on ERANGE up to this. */
#define DK__LOOKUP_MAX (16u << 20)

enum { DK__BY_USER_NAME, DK__BY_UID, DK__BY_GROUP_NAME };

/* One passwd or group lookup into *buf, grown as needed (the caller frees
 * it; strings of the entry point into it). 1 found, 0 no such entry, <0
 * error. */
static int lookup(int how, const char *name, uid_t uid, struct passwd *pw, struct group *gr,
                  char **buf) {
  long hint = sysconf(how == DK__BY_GROUP_NAME ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
  size_t size = hint > 0 && hint <= 65536 ? (size_t)hint : 4096;
  for (;;) {
    struct passwd *pwp = NULL;
    struct group *grp = NULL;
    char *grown = realloc(*buf, size);
    int r;
    if (grown == NULL)
      return UV_ENOMEM;
    *buf = grown;
    if (how == DK__BY_USER_NAME)
      r = getpwnam_r(name, pw, *buf, size, &pwp);
    else if (how == DK__BY_UID)
      r = getpwuid_r(uid, pw, *buf, size, &pwp);
    else
      r = getgrnam_r(name, gr, *buf, size, &grp);
    if (r == 0 || r == ENOENT || r == ESRCH)
      return pwp != NULL || grp != NULL;
    if (r == EINTR)
      continue;
    if (r != ERANGE || size >= DK__LOOKUP_MAX)
      return DK__ERR(r);
    size *= 2;
  }
}

/* A decimal id, as systemd and start-stop-daemon take it; (uid_t)-1 is
 * setuid's "no change" and no id. 1 if text is one. */
static int parse_id(const char *text, uid_t *id) {
  unsigned long long v = 0;
  if (*text == '\0')
    return 0;
  for (; *text != '\0'; text++) {
    if (*text < '0' || *text > '9')
      return 0;
    v = v * 10 + (unsigned)(*text - '0');
    if (v >= (uid_t)-1)
      return 0;
  }
  *id = (uid_t)v;
  return 1;
}

/* Keeps the list for the daemon in pages of its own: the daemon unmaps its
 * copy once it has set them, which neither allocates nor locks, so no
 * process is left holding it whether or not dk_daemonizer_cleanup runs. */
static int keep_groups(dk_daemonizer_t *dz, const gid_t *groups, int n) {
  void *p;
  if (n == 0)
    return 0;
  p = mmap(NULL, (size_t)n * sizeof(gid_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
           -1, 0);
  if (p == MAP_FAILED)
    return DK__ERR(errno);
  memcpy(p, groups, (size_t)n * sizeof(gid_t));
  dz->groups = p;
  dz->ngroups = n;
  return 0;
}

/* How many groups setgroups(2) takes. musl's sysconf answers its own
 * NGROUPS_MAX (32), not the kernel's limit, which Linux publishes here. */
static long groups_max(void) {
  char buf[32];
  ssize_t n;
  long max;
  int fd = open("/proc/sys/kernel/ngroups_max", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    do
      n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n > 0) {
      buf[n] = '\0';
      if ((max = strtol(buf, NULL, 10)) > 0)
        return max;
    }
  }
  return sysconf(_SC_NGROUPS_MAX);
}

/* All of the user's groups, however many: getgrouplist says how many there
 * are when they do not fit. More than the kernel takes is E2BIG. */
static int user_groups(dk_daemonizer_t *dz, const char *user, gid_t gid) {
  long max = groups_max();
  int limit = max > 0 && max < INT_MAX ? (int)max : 65536, cap = 64, n, err;
  gid_t *list = NULL;
  for (;;) {
    gid_t *grown = realloc(list, (size_t)cap * sizeof(gid_t));
    if (grown == NULL) {
      free(list);
      return UV_ENOMEM;
    }
    list = grown;
    n = cap;
    if (getgrouplist(user, gid, list, &n) >= 0)
      break;
    if (cap >= limit) {
      free(list);
      return UV_E2BIG;
    }
    cap = n > cap ? n : cap * 2;
    if (cap > limit)
      cap = limit;
  }
  err = keep_groups(dz, list, n);
  free(list);
  return err;
}

/* Looks the user and group up in the parent: NSS may allocate, open files
 * and lock, none of which is allowed after fork. A name is looked up as a
 * name first, then as a number. A group that is a number needs no entry;
 * a user that is one without an entry has no gid or groups to go with it,
 * so it needs options.group and gets no supplementary groups. */
static int resolve_ids(dk_daemonizer_t *dz, const dk_options_t *opts, char **buf) {
  struct passwd pw;
  struct group gr;
  uid_t id;
  int found;

  if (opts->group != NULL) {
    found = lookup(DK__BY_GROUP_NAME, opts->group, 0, NULL, &gr, buf);
    if (found < 0)
      return found;
    if (found)
      dz->gid = gr.gr_gid;
    else if (parse_id(opts->group, &id))
      dz->gid = (unsigned)id;
    else
      return DK_ENOUSER;
  }
  if (opts->user == NULL) {
    gid_t only = (gid_t)dz->gid;
    dz->uid = getuid();
    return keep_groups(dz, &only, 1);
  }
  found = lookup(DK__BY_USER_NAME, opts->user, 0, &pw, NULL, buf);
  if (found == 0 && parse_id(opts->user, &id)) {
    found = lookup(DK__BY_UID, NULL, id, &pw, NULL, buf);
    if (found == 0) {
      if (opts->group == NULL)
        return DK_ENOUSER;
      dz->uid = (unsigned)id;
      return 0;
    }
  }
  if (found <= 0)
    return found < 0 ? found : DK_ENOUSER;
  dz->uid = pw.pw_uid;
  if (opts->group == NULL)
    dz->gid = pw.pw_gid;
  /* The groups of the gid it runs as, as initgroups(3) takes them. */
  return user_groups(dz, pw.pw_name, (gid_t)dz->gid);
}

int dk__resolve_ids(dk_daemonizer_t *dz, const dk_options_t *opts) {
  char *buf = NULL;
  int err;

  dz->have_ids = 0;
  dz->ngroups = 0;
  dz->groups = NULL;
  if (opts->user == NULL && opts->group == NULL)
    return 0;
  err = resolve_ids(dz, opts, &buf);
  free(buf);
  if (err < 0) {
    dk__release_ids(dz);
    return err;
  }
  dz->have_ids = 1;
  return 0;
}

void dk__release_ids(dk_daemonizer_t *dz) {
  if (dz->groups != NULL)
    (void)munmap(dz->groups, (size_t)dz->ngroups * sizeof(gid_t));
  dz->groups = NULL;
  dz->ngroups = 0;
}

/* Groups first: once the uid is no longer root they can not be changed. */
int dk__drop_ids(const dk_daemonizer_t *dz) {
  if (!dz->have_ids)
    return 0;
  /* EPERM is what an ordinary user gets when it "switches" to itself, and
   * is harmless there. Switching to another uid it is not: root whose
   * setgroups is denied (a user namespace's /proc/PID/setgroups) would go
   * on as the new user with root's supplementary groups (group 0...). */
  if (setgroups((size_t)dz->ngroups, (const gid_t *)dz->groups) < 0 &&
      (errno != EPERM || (uid_t)dz->uid != geteuid()))
    return DK__ERR(errno);
  if (setgid((gid_t)dz->gid) < 0)
    return DK__ERR(errno);
  if (setuid((uid_t)dz->uid) < 0)
    return DK__ERR(errno);
  return 0;
}
