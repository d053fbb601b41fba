/* SPDX-License-Identifier: MIT */
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
 * /proc/PID/fdinfo whether a given process holds that flock. There a
 * checker never takes a lock itself: a transient lock of its own would
 * make a daemon starting at that moment fail with DK_ERUNNING. Without
 * /proc (a BSD, macOS, --disable-linux-extras) the holder of a flock can
 * not be found: a file whose record lock does not name the pid is held
 * (UV_EPERM, or DK_ERUNNING once the pid is gone) if a shared flock of
 * ours is refused, and stale if it is granted. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"
#if DK__LINUX_EXTRAS
#include <sys/sysmacros.h>
#endif

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

int dk__pidfile_write_locked(int fd, pid_t *pid) {
  struct flock rec;

  memset(&rec, 0, sizeof(rec));
  rec.l_type = F_RDLCK;
  rec.l_whence = SEEK_SET;
  if (fcntl(fd, F_GETLK, &rec) != 0 || rec.l_type == F_UNLCK)
    return 0;
  *pid = rec.l_pid > 0 ? rec.l_pid : 0;
  return 1;
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

#if DK__LINUX_EXTRAS
/* The device /proc/locks names the file by: its superblock's, which on
 * btrfs is not the subvolume's st_dev. mountinfo gives it for the mount
 * the descriptor is on (its "mnt_id" in fdinfo). */
static int lock_device(int fd, unsigned *maj, unsigned *min) {
  char path[64], line[1024];
  long mnt_id = -1, id;
  FILE *f;
  int found = 0;

  snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
  if ((f = fopen(path, "re")) == NULL)
    return 0;
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "mnt_id: %ld", &id) == 1)
      mnt_id = id;
  fclose(f);
  if (mnt_id < 0 || (f = fopen("/proc/self/mountinfo", "re")) == NULL)
    return 0;
  while (!found && fgets(line, sizeof(line), f) != NULL)
    found = sscanf(line, "%ld %*d %u:%u", &id, maj, min) == 3 && id == mnt_id;
  fclose(f);
  return found;
}

/* What /proc/locks, which every user may read, shows of flocks on the
 * file: the cheap answer to "is it held at all", before any process is
 * looked into. NO_FLOCK; SHARED_ONLY, which no daemon holds (a daemon
 * holds an exclusive flock, which shuts out every shared one); or
 * EXCLUSIVE, held through exactly one open file. Its pid column is the
 * process that took the lock, which may have died since and its pid been
 * reused: never trusted as the holder. */
enum { NO_FLOCK, SHARED_ONLY, EXCLUSIVE };

static int flock_state(int fd, const struct stat *st) {
  char line[256], type[16], mode[16];
  unsigned maj, min, sb_maj = major(st->st_dev), sb_min = minor(st->st_dev);
  unsigned long long ino;
  int state = NO_FLOCK, have_sb = 0, same;
  FILE *f = fopen("/proc/locks", "re");

  if (f == NULL)
    return EXCLUSIVE; /* can not tell: look into the processes */
  while (state != EXCLUSIVE && fgets(line, sizeof(line), f) != NULL) {
    /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters say "->". */
    if (sscanf(line, "%*d: %15s %*s %15s %*d %x:%x:%llu", type, mode, &maj, &min, &ino) != 5 ||
        strcmp(type, "FLOCK") != 0 || ino != (unsigned long long)st->st_ino)
      continue;
    same = maj == major(st->st_dev) && min == minor(st->st_dev);
    if (!same && (have_sb || (have_sb = lock_device(fd, &sb_maj, &sb_min)) != 0))
      same = maj == sb_maj && min == sb_min;
    if (same)
      state = strcmp(mode, "WRITE") == 0 ? EXCLUSIVE : SHARED_ONLY;
  }
  fclose(f);
  return state;
}
#endif

pid_t dk__pidfile_find_holder(int fd, const struct stat *st) {
  struct dk__holders h;
  pid_t rec = dk__pidfile_lock_holder(fd);
  if (rec > 0)
    return rec;
  dk__holders_scan(st, &h);
  return h.writer;
}

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

/* Whether anybody holds the file: 0 nobody; 1 somebody (p->holder its
 * pid, 0 if it is out of sight: another pid namespace, or a process we
 * may not look into). */
static int anybody_holds(struct dk__proof *p) {
#if DK__LINUX_EXTRAS
  struct dk__holders h;
#endif
  /* A write record lock needs a writable descriptor: a daemon's. Its pid
   * is 0 when the holder is outside our pid namespace. */
  if (dk__pidfile_write_locked(p->fd, &p->holder))
    return 1;
#if DK__LINUX_EXTRAS
  if (flock_state(p->fd, &p->st) != EXCLUSIVE)
    return 0;
  /* One open file holds it: a process we can see sharing it tells whether
   * it was opened for writing (a daemon's) or only for reading. */
  dk__holders_scan(&p->st, &h);
  p->holder = h.writer;
  return h.writer > 0 || (h.readers == 0 && h.unseen > 0);
#else
  /* Nothing tells who holds a flock, nor whether it is held: a shared
   * flock of our own, let go at once, is the one way to ask. It is
   * refused only by an exclusive one, which is then taken for a daemon's
   * (a reader's can not be told from it). Our own held descriptor must
   * not be asked: its lock would be changed, not tested. */
  if (p->own)
    return 1;
  if (dk__flock_retry(p->fd, LOCK_SH | LOCK_NB) == 0) {
    dk__flock_retry(p->fd, LOCK_UN);
    return 0;
  }
  return errno == EWOULDBLOCK;
#endif
}

/* Is the named pid the holder? Asked once the record lock did not say. */
static int named_holds(struct dk__proof *p) {
  int writable = 0, r = dk__holder_check(p->pid, &p->st, &writable);
  if (r == 1 && writable)
    return 0;
  if (!anybody_holds(p))
    return DK_ESTALE;
  if (p->holder == p->pid)
    return 0;
  /* Held, and the named process may be the holder for all we can see:
   * we may not look into it. */
  if (p->holder == 0 && r == UV_EPERM)
    return UV_EPERM;
  return DK_ERUNNING;
}

static int pidfd_open_compat(pid_t pid) {
#if DK__LINUX_EXTRAS && defined(SYS_pidfd_open)
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
