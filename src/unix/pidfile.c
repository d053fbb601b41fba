/* Pid files on POSIX: claiming one for the daemon's whole life, and telling
 * a sender whether the pid written in one may be signalled.
 *
 * The daemon holds two locks on its pid file:
 *  - flock(LOCK_EX) belongs to the open file, so it survives the daemon
 *    opening and closing the same file elsewhere; it is what a second
 *    instance runs into and what `pkill -F FILE -L` tests.
 *  - a POSIX record lock belongs to the process: F_GETLK tells a sender the
 *    holder's pid without taking any lock, which is one cheap syscall. It is
 *    dropped if the daemon closes any descriptor of the file, so a sender
 *    that finds no record lock falls back to /proc (Linux).
 * A sender never takes a lock itself: a transient lock of a sender's would
 * make a daemon that is starting at that moment report DK_ERUNNING.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"

/* The pid file this process holds. Static because the atexit handler that
 * removes it takes no argument and may run after the daemonizer's storage is
 * gone (a dk_daemonizer_t on main's stack). */
static struct {
  pid_t owner;
  int fd;
  char path[DK_PATH_MAX];
} held = { 0, -1, { 0 } };

static int open_retry(const char *path, int flags, mode_t mode) {
  int fd;
  do
    fd = open(path, flags, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

static int flock_retry(int fd, int op) {
  int r;
  do
    r = flock(fd, op);
  while (r < 0 && errno == EINTR);
  return r;
}

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int write_all_at(int fd, const char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, (off_t)done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? DK__ERR(errno) : UV_EIO;
    done += (size_t)n;
  }
  return 0;
}

/* Takes the lock on an open pid file, or says who is in the way. */
static int lock_pidfile(int fd) {
  struct flock rec;

  if (flock_retry(fd, LOCK_EX | LOCK_NB) < 0)
    return errno == EWOULDBLOCK ? DK_ERUNNING : DK__ERR(errno);
  memset(&rec, 0, sizeof(rec));
  rec.l_type = F_WRLCK;
  rec.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &rec) < 0)
    return (errno == EAGAIN || errno == EACCES) ? DK_ERUNNING : DK__ERR(errno);
  return 0;
}

/* Opens, locks and writes the pid file. Runs in the daemon after fork. */
int dk__pidfile_claim(const char *path) {
  struct stat by_fd, by_path;
  char text[24];
  size_t len, path_len;
  int attempt, fd, err, r;

  path_len = strlen(path);
  if (path_len >= sizeof(held.path))
    return UV_ENAMETOOLONG;

  /* A previous holder may unlink the file between our open and our lock:
   * we would then hold a lock on a name nobody can see. Retry on a fresh
   * open whenever the locked file is no longer the one at the path. */
  for (attempt = 0; attempt < 16; attempt++) {
    fd = open_retry(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                    0644);
    if (fd < 0)
      return DK__ERR(errno);
    fd = dk__fd_above_stdio(fd);
    if (fd < 0)
      return fd;
    if (fstat(fd, &by_fd) < 0) {
      err = DK__ERR(errno);
      close(fd);
      return err;
    }
    if (!S_ISREG(by_fd.st_mode)) {
      close(fd);
      return UV_EINVAL;
    }
    err = lock_pidfile(fd);
    if (err < 0) {
      close(fd);
      return err;
    }
    if (stat(path, &by_path) == 0 && same_file(&by_fd, &by_path))
      break;
    close(fd);
    fd = -1;
  }
  if (fd < 0)
    return UV_EAGAIN;

  len = dk__pid_format((long)getpid(), text);
  /* ftruncate can be interrupted (NFS, FUSE); in DK_FOREGROUND the
   * caller's signal handlers are still in place. Retried like the rest. */
  err = 0;
  while ((r = ftruncate(fd, 0)) < 0 && errno == EINTR)
    ;
  if (r < 0 || (err = write_all_at(fd, text, len)) < 0) {
    err = err < 0 ? err : DK__ERR(errno);
    unlink(path);
    close(fd);
    return err;
  }
  /* Readable by every user, whatever the daemon's umask: `kill $(cat f)`. */
  (void)fchmod(fd, 0644);

  memcpy(held.path, path, path_len + 1);
  held.fd = fd;
  held.owner = getpid();
  return 0;
}

/* Removes the pid file this process holds. A child forked by the daemon
 * inherits `held` and runs the same atexit handler: the owner test keeps it
 * from removing its parent's pid file. */
void dk__pidfile_drop(void) {
  struct stat by_fd, by_path;

  if (held.fd < 0 || held.owner != getpid())
    return;
  if (fstat(held.fd, &by_fd) == 0 && stat(held.path, &by_path) == 0 &&
      same_file(&by_fd, &by_path))
    unlink(held.path);
  close(held.fd);
  held.fd = -1;
  held.owner = 0;
}

/* Lets a program the daemon execs inherit the pid file's descriptor, and
 * with it both locks (record locks survive exec too), or takes that back. */
int dk__pidfile_inherit(int on) {
  if (held.fd < 0 || held.owner != getpid())
    return UV_EINVAL;
  if (fcntl(held.fd, F_SETFD, on ? 0 : FD_CLOEXEC) < 0)
    return DK__ERR(errno);
  return 0;
}

/* Reads the pid file open as `fd` from its start and parses it strictly:
 * one pread, so that a sender holding the descriptor can read it again. */
int dk__pidfile_parse_fd(int fd, pid_t *pid_out) {
  char buf[DK__PIDFILE_MAX];
  ssize_t n;
  long pid;
  int err;

  do
    n = pread(fd, buf, sizeof(buf), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return DK__ERR(errno);
  err = (size_t)n == sizeof(buf) ? DK_EBADPIDFILE : dk__pid_parse(buf, (size_t)n, &pid);
  if (err < 0)
    return err;
  *pid_out = (pid_t)pid;
  return 0;
}

/* Opens a pid file for reading and parses it strictly. On success the
 * descriptor stays open for the holder check, and *st (if not NULL) is
 * what fstat said of it. */
int dk__pidfile_read_stat(const char *path, int *fd_out, pid_t *pid_out, struct stat *st) {
  struct stat own;
  int fd, err;

  if (st == NULL)
    st = &own;
  fd = open_retry(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0) {
    /* A symlink is refused, not followed: it could point anywhere. */
    if (errno == ELOOP)
      return DK_EBADPIDFILE;
    return DK__ERR(errno);
  }
  if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return DK_EBADPIDFILE;
  }
  err = dk__pidfile_parse_fd(fd, pid_out);
  if (err < 0) {
    close(fd);
    return err;
  }
  *fd_out = fd;
  return 0;
}

int dk__pidfile_read(const char *path, int *fd_out, pid_t *pid_out) {
  return dk__pidfile_read_stat(path, fd_out, pid_out, NULL);
}

#ifdef __linux__
/* Does process `pid` hold an flock on the file open as `fd`? Linux shows
 * each descriptor's target in /proc/PID/fd and its locks in fdinfo. */
static int proc_holds_flock(int fd, pid_t pid) {
  char dir_path[64], entry_path[320], info[512];
  struct stat target, mine;
  struct dirent *ent;
  DIR *dir;
  FILE *f;
  int found = 0;

  if (fstat(fd, &mine) < 0)
    return DK__ERR(errno);
  snprintf(dir_path, sizeof(dir_path), "/proc/%ld/fd", (long)pid);
  dir = opendir(dir_path);
  if (dir == NULL)
    return errno == ENOENT ? DK_ESTALE : UV_EPERM;
  while (!found && (ent = readdir(dir)) != NULL) {
    if (ent->d_name[0] == '.')
      continue;
    snprintf(entry_path, sizeof(entry_path), "%s/%s", dir_path, ent->d_name);
    if (stat(entry_path, &target) < 0 || !same_file(&target, &mine))
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
#endif

/* The pid of the process that holds a POSIX record lock on the file open
 * as `fd`, as F_GETLK names it; 0 if it names nobody (no such lock, our own
 * lock, which F_GETLK does not show us, or an error). One fcntl, no lock
 * taken. */
pid_t dk__pidfile_lock_holder(int fd) {
  struct flock rec;

  memset(&rec, 0, sizeof(rec));
  rec.l_type = F_RDLCK;
  rec.l_whence = SEEK_SET;
  if (fcntl(fd, F_GETLK, &rec) == 0 && rec.l_type != F_UNLCK)
    return rec.l_pid;
  return 0;
}

/* 0 if `pid` is the live process that holds the lock of the pid file open
 * as `fd`; DK_ESTALE if not (dead, or a reused pid); UV_EPERM if we may not
 * look. *by_record_lock (if not NULL) tells which lock proved it: 1 the
 * record lock (F_GETLK), 0 the flock seen through /proc. */
int dk__pidfile_holder_ok(int fd, pid_t pid, int *by_record_lock) {
  if (by_record_lock != NULL)
    *by_record_lock = 0;
  if (dk__pidfile_lock_holder(fd) == pid) {
    if (by_record_lock != NULL)
      *by_record_lock = 1;
    return 0;
  }
#ifdef __linux__
  return proc_holds_flock(fd, pid);
#else
  return DK_ESTALE;
#endif
}

/* The parent's cleanup after a daemon failed or was killed: the daemon
 * cannot remove its pid file itself. Removed, once nobody holds it: a file
 * that names that daemon, and a file that was not at the path before this
 * start (`before`: what was there, NULL if nothing), whatever it holds.
 * The second is why: a claim that fails after its open (the lock refused
 * or failing, a crash before the pid is written) leaves the empty file that
 * its O_CREAT made, which used to outlive the failed start. A file that was
 * there before and names someone else is not ours to remove, and no file
 * that a live process holds is removed. The dead daemon's lock goes away as
 * the kernel closes its files, which can come a moment after the parent saw
 * its end of the report channel close. */
void dk__pidfile_remove_if_stale(const char *path, pid_t pid, const struct stat *before) {
  struct timespec pause = { 0, 1000000 };
  struct stat by_fd, by_path;
  pid_t named;
  int fd, tries, names_it = 0;

  if (dk__pidfile_read(path, &fd, &named) == 0)
    names_it = pid > 0 && named == pid;
  else if ((fd = open_retry(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                            0)) < 0)
    return;
  if (!names_it && (fstat(fd, &by_fd) < 0 || !S_ISREG(by_fd.st_mode) ||
                    (before != NULL && same_file(before, &by_fd)))) {
    close(fd);
    return;
  }
  for (tries = 0; tries < 1000; tries++) {
    if (flock_retry(fd, LOCK_EX | LOCK_NB) == 0) {
      if (fstat(fd, &by_fd) == 0 && stat(path, &by_path) == 0 && same_file(&by_fd, &by_path))
        unlink(path);
      break;
    }
    if (errno != EWOULDBLOCK)
      break;
    nanosleep(&pause, NULL);
  }
  close(fd);
}
