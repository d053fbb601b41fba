/* SPDX-License-Identifier: MIT */
/* Claiming a pid file (see pidfile.c for what it is and how it is held):
 * the daemon's pid written whole to a temporary file, then linked, renamed
 * or exchanged into place; a file someone else prepared refused untouched.
 * Runs in the daemon between fork and return: no allocation, no locks but
 * the file's, EINTR retried. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"

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

static int write_pid(int fd) {
  char text[24];
  size_t len = dk__pid_format((long)getpid(), text);
  int err = write_all_at(fd, text, len), r;
  if (err < 0)
    return err;
  /* ftruncate can be interrupted (NFS, FUSE); in DK_FOREGROUND the
   * caller's signal handlers are still in place. */
  while ((r = ftruncate(fd, (off_t)len)) < 0 && errno == EINTR)
    ;
  return r < 0 ? DK__ERR(errno) : 0;
}

static int record_lock(int fd) {
  struct flock rec;
  memset(&rec, 0, sizeof(rec));
  rec.l_type = F_WRLCK;
  rec.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &rec) < 0)
    return (errno == EAGAIN || errno == EACCES) ? DK_ERUNNING : DK__ERR(errno);
  return 0;
}

static int lock_both(int fd) {
  if (dk__flock_retry(fd, LOCK_EX | LOCK_NB) < 0)
    return errno == EWOULDBLOCK ? DK_ERUNNING : DK__ERR(errno);
  return record_lock(fd);
}

/* Four bytes nobody can foresee: the kernel's randomness (getrandom on
 * Linux, /dev/urandom elsewhere), or the clock's nanoseconds if neither
 * answers. open, read and close are async-signal-safe; getrandom never
 * blocks here. */
static void noise4(unsigned char *noise, unsigned attempt) {
  struct timespec ts;
#if DK__LINUX_EXTRAS && defined(SYS_getrandom)
  if (syscall(SYS_getrandom, noise, 4, 0x1 /* GRND_NONBLOCK */) == 4)
    return;
#else
  ssize_t n = -1;
  int fd = dk__open_retry("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  if (fd >= 0) {
    do
      n = read(fd, noise, 4);
    while (n < 0 && errno == EINTR);
    close(fd);
  }
  if (n == 4)
    return;
#endif
  clock_gettime(CLOCK_MONOTONIC, &ts);
  memcpy(noise, &ts.tv_nsec, 4);
  noise[0] ^= (unsigned char)attempt;
}

/* The temporary file's name in the pid file's directory: ".daemoniker-<pid>"
 * first, which the caller can clean up after a daemon killed mid-claim;
 * should that be taken (by a squatter: a directory, another user's file),
 * names nobody can foresee. Made without allocating. */
void dk__pidfile_temp_name(pid_t pid, unsigned attempt, char *out) {
  static const char hex[] = "0123456789abcdef";
  char digits[24];
  size_t n = dk__pid_format((long)pid, digits) - 1, len = 12;
  unsigned char noise[4];
  int i;

  memcpy(out, ".daemoniker-", 12);
  memcpy(out + len, digits, n);
  len += n;
  if (attempt > 0) {
    noise4(noise, attempt);
    out[len++] = '-';
    for (i = 0; i < 4; i++) {
      out[len++] = hex[noise[i] >> 4];
      out[len++] = hex[noise[i] & 15];
    }
  }
  out[len] = '\0';
}

/* The pid file's directory (into dir) and its name in it (a pointer into
 * path). 0, or UV_EINVAL for a path that ends in a slash. */
int dk__pidfile_split_path(const char *path, char *dir, size_t size, const char **base) {
  const char *slash = strrchr(path, '/');
  size_t dir_len;
  if (slash == NULL || slash[1] == '\0')
    return UV_EINVAL;
  dir_len = slash == path ? 1 : (size_t)(slash - path);
  if (dir_len >= size)
    return UV_ENAMETOOLONG;
  memcpy(dir, path, dir_len);
  dir[dir_len] = '\0';
  *base = slash + 1;
  return 0;
}

/* A pid file that is there already is taken over only if nobody else could
 * have put it there for us to write through (systemd's rules for PIDFile=):
 * a regular file, with one link (a hard link to, say, /etc/shadow would be
 * rewritten), owned by root or by the user the daemon runs as. */
static int check_existing(int fd, uid_t user, struct stat *st) {
  if (fstat(fd, st) < 0)
    return DK__ERR(errno);
  if (!S_ISREG(st->st_mode))
    return UV_EINVAL;
  if (st->st_nlink > 1)
    return UV_EMLINK;
  if (st->st_uid != 0 && st->st_uid != user)
    return UV_EPERM;
  return 0;
}

/* The new pid file, whole and locked, under a temporary name (into name). */
static int make_temp(int dirfd, char *name) {
  const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
  unsigned attempt;
  int fd = -1, err, removed = 0;

  for (attempt = 0; attempt < 8 && fd < 0; attempt++) {
    dk__pidfile_temp_name(getpid(), attempt, name);
    do
      fd = openat(dirfd, name, flags, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0 || errno != EEXIST)
      break;
    /* Our own name, left by a process that had our pid and was killed
     * mid-claim: removed and made again, once. Anything else there (a
     * squatter's directory, another user's file) is passed by. */
    if (attempt == 0 && !removed && unlinkat(dirfd, name, 0) == 0) {
      removed = 1;
      attempt--;
    }
  }
  if (fd < 0)
    return DK__ERR(errno);
  fd = dk__fd_above_stdio(fd);
  if (fd < 0) {
    unlinkat(dirfd, name, 0);
    return fd;
  }
  /* Readable by every user, whatever the daemon's umask: `kill $(cat f)`. */
  err = fchmod(fd, 0644) < 0 ? DK__ERR(errno) : write_pid(fd);
  if (err == 0)
    err = lock_both(fd);
  if (err < 0) {
    close(fd);
    unlinkat(dirfd, name, 0);
    return err;
  }
  return fd;
}

/* The fallback for a directory we may not write: the stale file `old`,
 * whose flock we hold, is rewritten in place. The record lock is only the
 * senders' shortcut: a reader's read lock on the file may refuse it, and
 * the flock still holds the file. */
static int rewrite_in_place(int old) {
  int err = record_lock(old);
  if (err < 0 && err != DK_ERUNNING)
    return err;
  return write_pid(old);
}

/* Whether a file we could not flock exclusively is held by a daemon: a
 * write record lock (it needs a writable descriptor), or an exclusive flock
 * through a writable open file. Shared flocks are readers' (a daemon's
 * exclusive one shuts them out): then ours is granted too. The one open
 * file that holds an exclusive flock is a reader's if any process we can
 * see shares it read-only; if we can see none, it may be a daemon's. */
static int held_by_a_writer(int fd, const struct stat *st) {
  struct dk__holders h;
  pid_t pid;
  if (dk__pidfile_write_locked(fd, &pid))
    return 1;
  if (dk__flock_retry(fd, LOCK_SH | LOCK_NB) == 0)
    return 0;
  dk__holders_scan(st, &h);
  return h.writer != 0 || (h.readers == 0 && h.unseen != 0);
}

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Swaps the new file at tmp with the stale one at base, unless another
 * start replaced the stale one first: then its file is put back, and this
 * start is the one that runs into it. Only for a stale file that readers
 * pin with their flocks: its own flock can not make two starts take turns.
 * PINNED where the file system can not exchange, and without the Linux
 * extras (renameat2 is Linux's): such a file is replaced only once its
 * readers let it go, which a checker's passing lock does at once. */
#define PINNED 2
static int exchange_stale(int dirfd, const char *tmp, const char *base, const struct stat *old) {
  struct stat got;
  int err;
#if DK__LINUX_EXTRAS && defined(SYS_renameat2)
  if (syscall(SYS_renameat2, dirfd, tmp, dirfd, base, RENAME_EXCHANGE) < 0) {
#else
  (void)base;
  errno = ENOSYS;
  {
#endif
    err = errno;
    unlinkat(dirfd, tmp, 0);
    return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP ? PINNED : DK__ERR(err);
  }
  if (fstatat(dirfd, tmp, &got, AT_SYMLINK_NOFOLLOW) == 0 && dk__same_inode(&got, old)) {
    unlinkat(dirfd, tmp, 0);
    return 0;
  }
#if DK__LINUX_EXTRAS && defined(SYS_renameat2)
  if (syscall(SYS_renameat2, dirfd, tmp, dirfd, base, RENAME_EXCHANGE) == 0)
    unlinkat(dirfd, tmp, 0);
#endif
  return DK_ERUNNING;
}

enum { NO_FILE, STALE_LOCKED, STALE_PINNED };

/* One try at the file named base in dirfd: 1 to try again (the file
 * changed under us), PINNED, 0 claimed, or an error. */
static int claim_once(int dirfd, const char *base, uid_t user, const char *path) {
  const int open_flags = O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  char tmp[64];
  struct stat st, now;
  int old, fd, err, r, state = NO_FILE;

  do
    old = openat(dirfd, base, O_RDWR | open_flags);
  while (old < 0 && errno == EINTR);
  if (old < 0 && errno == EACCES)
    old = openat(dirfd, base, O_RDONLY | open_flags);
  if (old < 0 && errno != ENOENT)
    return DK__ERR(errno);
  if (old >= 0) {
    old = dk__fd_above_stdio(old);
    if (old < 0)
      return old;
    err = check_existing(old, user, &st);
    if (err == 0 && dk__flock_retry(old, LOCK_EX | LOCK_NB) == 0)
      state = STALE_LOCKED;
    else if (err == 0 && errno != EWOULDBLOCK)
      err = DK__ERR(errno);
    else if (err == 0 && held_by_a_writer(old, &st))
      err = DK_ERUNNING;
    else if (err == 0)
      state = STALE_PINNED;
    if (err == 0 && (fstatat(dirfd, base, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
                     !dk__same_inode(&st, &now)))
      err = 1; /* renamed or removed between our open and our lock */
    if (err != 0) {
      close(old);
      return err;
    }
  }

  fd = make_temp(dirfd, tmp);
  if (fd < 0) {
    err = fd;
    if (state == STALE_LOCKED && (fd == UV_EACCES || fd == UV_EPERM || fd == UV_EROFS)) {
      err = rewrite_in_place(old);
      if (err == 0) {
        dk__pidfile_remember(old, path);
        return 0;
      }
    }
    if (old >= 0)
      close(old);
    return err;
  }
  if (state == NO_FILE) {
    /* link, not rename: it fails if another start made the file first. */
    r = linkat(dirfd, tmp, dirfd, base, 0);
    err = r < 0 ? DK__ERR(errno) : 0;
    unlinkat(dirfd, tmp, 0);
    if (err == UV_EEXIST)
      err = 1; /* contend for the file the other start made */
  } else if (state == STALE_LOCKED) {
    r = renameat(dirfd, tmp, dirfd, base);
    err = r < 0 ? DK__ERR(errno) : 0;
    if (r < 0)
      unlinkat(dirfd, tmp, 0);
  } else {
    err = exchange_stale(dirfd, tmp, base, &st);
  }
  if (old >= 0)
    close(old);
  if (err != 0) {
    close(fd);
    return err;
  }
  dk__pidfile_remember(fd, path);
  return 0;
}

/* Runs in the daemon after fork: no allocation, no locks but the file's.
 * Who holds a file it could not claim is for the caller to find out
 * (dk__pidfile_holder). Everything happens relative to the directory, so
 * a path as long as DK_PATH_MAX allows works, and a directory renamed
 * meanwhile is not followed elsewhere. */
int dk__pidfile_claim(const char *path, uid_t user) {
  char dir[DK_PATH_MAX];
  const char *base;
  int attempt, dirfd, err;

  if (strlen(path) >= DK_PATH_MAX)
    return UV_ENAMETOOLONG;
  err = dk__pidfile_split_path(path, dir, sizeof(dir), &base);
  if (err < 0)
    return err;
  dirfd = dk__open_retry(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dirfd < 0)
    return DK__ERR(errno);
  err = 1;
  for (attempt = 0; attempt < 16 && (err == 1 || err == PINNED); attempt++) {
    struct timespec pause = { 0, 1000000 };
    if (err == PINNED)
      nanosleep(&pause, NULL);
    err = claim_once(dirfd, base, user, path);
  }
  close(dirfd);
  return err == 1 ? UV_EAGAIN : err == PINNED ? DK_ERUNNING : err;
}

