/* Whether the pid named in a pid file may be signalled: the one question
 * dk_send, dk_kill, dk_pid_file_check and the sender ask, answered in one
 * place. "Held" means what claiming a pid file runs into: some process
 * holds the file's flock (pidfile.c). The answer is:
 *   0               the process the file names holds it;
 *   DK_ERUNNING     another process holds it (a child that kept the
 *                   descriptor of a daemon that died): a new start would
 *                   fail, and nothing is signalled;
 *   DK_ESTALE       nobody holds it (the daemon died; its pid may belong to
 *                   anybody by now, of any user);
 *   UV_ENOENT       no pid file, or an empty one that nobody holds (a
 *                   daemon that could not remove its file emptied it);
 *   DK_EBADPIDFILE  not one valid pid, not a regular file, a symlink;
 *   UV_EPERM        held, but by a process whose descriptors we may not
 *                   inspect and /proc/locks does not name.
 * The cheap proof comes first: F_GETLK names the holder of the record
 * lock. Only when that names somebody else or nobody does /proc tell
 * (Linux): /proc/locks whether the file is flocked at all, and
 * /proc/PID/fdinfo whether a given process holds that flock. A checker
 * never takes a lock itself: a transient lock of its own would make a
 * daemon starting at that moment fail with DK_ERUNNING. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "unix.h"

/* Reads the pid file open as `fd` from its start: one pread, so that a
 * sender holding the descriptor can read it again. 0 and *pid_out, 1 if
 * the file is empty, DK_EBADPIDFILE or an error. */
static int parse_fd(int fd, pid_t *pid_out) {
  char buf[DK__PIDFILE_MAX];
  ssize_t n;
  long pid;
  int err;

  do
    n = pread(fd, buf, sizeof(buf), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return DK__ERR(errno);
  if (n == 0)
    return 1;
  err = (size_t)n == sizeof(buf) ? DK_EBADPIDFILE : dk__pid_parse(buf, (size_t)n, &pid);
  if (err < 0)
    return err;
  *pid_out = (pid_t)pid;
  return 0;
}

int dk__pidfile_parse_fd(int fd, pid_t *pid_out) {
  int err = parse_fd(fd, pid_out);
  return err == 1 ? DK_EBADPIDFILE : err;
}

pid_t dk__pidfile_lock_holder(int fd) {
  struct flock rec;

  memset(&rec, 0, sizeof(rec));
  rec.l_type = F_RDLCK;
  rec.l_whence = SEEK_SET;
  if (fcntl(fd, F_GETLK, &rec) == 0 && rec.l_type != F_UNLCK)
    return rec.l_pid;
  return 0;
}

#ifdef __linux__
/* Does process `pid` hold the flock of the file `st` describes? Linux shows
 * each descriptor's target in /proc/PID/fd, and in /proc/PID/fdinfo the
 * flocks of the open file it refers to. 0 yes, DK_ESTALE no, UV_EPERM if
 * we may not look. */
static int proc_holds_flock(pid_t pid, const struct stat *st) {
  char dir_path[64], entry_path[320], info[512];
  struct stat target;
  struct dirent *ent;
  DIR *dir;
  FILE *f;
  int found = 0;

  snprintf(dir_path, sizeof(dir_path), "/proc/%ld/fd", (long)pid);
  dir = opendir(dir_path);
  if (dir == NULL)
    return errno == ENOENT ? DK_ESTALE : UV_EPERM;
  while (!found && (ent = readdir(dir)) != NULL) {
    if (ent->d_name[0] == '.')
      continue;
    snprintf(entry_path, sizeof(entry_path), "%s/%s", dir_path, ent->d_name);
    if (stat(entry_path, &target) < 0 || !dk__same_inode(&target, st))
      continue;
    snprintf(entry_path, sizeof(entry_path), "/proc/%ld/fdinfo/%s", (long)pid, ent->d_name);
    f = fopen(entry_path, "re");
    if (f == NULL)
      continue;
    while (fgets(info, sizeof(info), f) != NULL)
      if (strncmp(info, "lock:", 5) == 0 && strstr(info, "FLOCK") != NULL)
        found = 1;
    fclose(f);
  }
  closedir(dir);
  return found ? 0 : DK_ESTALE;
}

/* Whether anybody holds a flock on the file, from /proc/locks, which every
 * user may read: -1 nobody, else the pid it shows, which is the process
 * that took the lock (it may have died since, leaving the lock to a child
 * that shares the open file). */
static pid_t proc_locks_flocker(const struct stat *st) {
  char line[256], type[16];
  unsigned maj, min;
  unsigned long long ino;
  long pid;
  pid_t found = -1;
  FILE *f = fopen("/proc/locks", "re");

  if (f == NULL)
    return -1;
  while (found < 0 && fgets(line, sizeof(line), f) != NULL) {
    /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters say "->". */
    if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", type, &pid, &maj, &min, &ino) == 5 &&
        strcmp(type, "FLOCK") == 0 && ino == (unsigned long long)st->st_ino &&
        maj == major(st->st_dev) && min == minor(st->st_dev))
      found = (pid_t)pid;
  }
  fclose(f);
  return found;
}

static int is_pid_name(const char *s) {
  if (*s == '\0')
    return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s))
      return 0;
  return 1;
}

pid_t dk__pidfile_find_holder(int fd, const struct stat *st) {
  struct dirent *ent;
  pid_t hint = dk__pidfile_lock_holder(fd), found = 0;
  DIR *dir;

  if (hint > 0)
    return hint;
  hint = proc_locks_flocker(st);
  if (hint > 0 && proc_holds_flock(hint, st) == 0)
    return hint;
  /* The process that took the lock is gone: whoever shares its open file
   * now. Only the processes we may look into can be found. */
  dir = opendir("/proc");
  if (dir == NULL)
    return 0;
  while (found == 0 && (ent = readdir(dir)) != NULL)
    if (is_pid_name(ent->d_name) && (pid_t)atol(ent->d_name) != getpid() &&
        proc_holds_flock((pid_t)atol(ent->d_name), st) == 0)
      found = (pid_t)atol(ent->d_name);
  closedir(dir);
  return found;
}
#else
pid_t dk__pidfile_find_holder(int fd, const struct stat *st) {
  (void)st;
  return dk__pidfile_lock_holder(fd);
}
#endif

pid_t dk__pidfile_holder(const char *path) {
  struct stat st;
  pid_t holder = 0;
  int fd = dk__open_retry(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    return 0;
  if (fstat(fd, &st) == 0)
    holder = dk__pidfile_find_holder(fd, &st);
  close(fd);
  return holder;
}

/* Whether anybody holds the file open as p->fd: 1 yes (p->holder its pid,
 * if known), 0 nobody. Without /proc only the record lock can tell. */
static int anybody_holds(struct dk__proof *p) {
#ifdef __linux__
  pid_t flocker;
#endif
  p->holder = dk__pidfile_lock_holder(p->fd);
  if (p->holder > 0)
    return 1;
#ifdef __linux__
  flocker = proc_locks_flocker(&p->st);
  if (flocker < 0)
    return 0;
  p->holder = dk__pidfile_find_holder(p->fd, &p->st);
  return 1;
#else
  return 0;
#endif
}

/* Is the named pid the holder? Called once the record lock did not say. */
static int named_holds(struct dk__proof *p) {
#ifdef __linux__
  int r = proc_holds_flock(p->pid, &p->st);
  if (r == 0)
    return 0;
  if (!anybody_holds(p))
    return DK_ESTALE;
  if (p->holder == p->pid)
    return 0;
  if (p->holder > 0)
    return DK_ERUNNING;
  /* Held, but not by a process we can see: the named one, if /proc/locks
   * says it took the lock and it is alive; we can not say more. */
  if (r == UV_EPERM && proc_locks_flocker(&p->st) == p->pid &&
      (kill(p->pid, 0) == 0 || errno == EPERM))
    return 0;
  return r == UV_EPERM ? UV_EPERM : DK_ERUNNING;
#else
  return DK_ESTALE;
#endif
}

static int pidfd_open_compat(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* The pid file, open: this process's own descriptor if it holds the file
 * (opening and closing another would drop its record lock), else a new
 * one. */
static int open_pid_file(const char *path, struct dk__proof *p) {
  int fd;

  if (dk__pidfile_holds_any() && lstat(path, &p->st) == 0 &&
      (fd = dk__pidfile_held_fd(&p->st)) >= 0) {
    p->fd = fd;
    p->own = 1;
    return 0;
  }
  fd = dk__open_retry(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    /* A symlink is refused, not followed: it could point anywhere. */
    return errno == ELOOP ? DK_EBADPIDFILE : DK__ERR(errno);
  p->fd = fd;
  if (fstat(fd, &p->st) < 0 || !S_ISREG(p->st.st_mode))
    return DK_EBADPIDFILE;
  return 0;
}

int dk__prove(const char *path, int pin, struct dk__proof *p) {
  int err;

  memset(p, 0, sizeof(*p));
  p->fd = -1;
  p->pidfd = -1;
  if (path == NULL)
    return UV_EINVAL;
  err = open_pid_file(path, p);
  if (err < 0)
    return err;
  err = parse_fd(p->fd, &p->pid);
  if (err == 1) /* empty: a daemon that could not remove its file left it so */
    return anybody_holds(p) ? DK_EBADPIDFILE : UV_ENOENT;
  if (err < 0)
    return err;
  if (p->own) {
    p->holder = getpid();
    return p->pid == p->holder ? 0 : DK_ERUNNING;
  }
  if (pin) {
    p->pidfd = pidfd_open_compat(p->pid);
    if (p->pidfd < 0 && errno == ESRCH)
      return anybody_holds(p) ? DK_ERUNNING : DK_ESTALE;
  }
  if (dk__pidfile_lock_holder(p->fd) == p->pid) {
    p->holder = p->pid;
    p->by_record_lock = 1;
    return 0;
  }
  err = named_holds(p);
  if (err == 0)
    p->holder = p->pid;
  return err;
}

void dk__proof_release(struct dk__proof *p) {
  if (p->fd >= 0 && !p->own)
    close(p->fd);
  if (p->pidfd >= 0)
    close(p->pidfd);
  p->fd = -1;
  p->pidfd = -1;
}
