/* SPDX-License-Identifier: MIT */
/* Claiming a pid file on POSIX for the daemon's whole life, and giving it
 * up. The other half, telling whether a pid file's holder may be
 * signalled, is proof.c.
 *
 * The daemon holds two locks on its pid file:
 *  - flock(LOCK_EX) belongs to the open file. It is what "held" means
 *    everywhere: what a second instance runs into, what `pkill -F FILE -L`
 *    tests, what dk_send and dk_pid_file_check ask about.
 *  - a POSIX record lock belongs to the process: F_GETLK tells a sender the
 *    holder's pid without taking any lock, in one cheap syscall. A process
 *    loses it when it closes any descriptor of the file, so this process
 *    never opens its own pid file again (dk__pidfile_held_fd), and a sender
 *    that finds no record lock asks /proc (proof.c).
 *
 * The file appears whole: the pid is written to a temporary file in the
 * same directory, which is locked and then linked (no file yet) or renamed
 * (a stale one) into place, so a reader sees no file, the old file, or
 * "<pid>\n" of a locked, live daemon; never an empty or half-written one.
 * The stale file's flock is held across the rename, so two daemons starting
 * at once never both win. Anybody who may read the file may flock it too,
 * through a read-only descriptor: only a holder that opened it for writing
 * (holders.c) is a daemon, and a stale file that readers pin is exchanged
 * (renameat2), the start that gets back another start's file instead of
 * the stale one giving it back. Where the directory may not be written but
 * the file may (an init script made it for an unprivileged daemon), the
 * file is rewritten in place, under its lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"

/* The pid file this process holds. Static because the atexit handler that
 * removes it takes no argument and may run after the daemonizer's storage is
 * gone (a dk_daemonizer_t on main's stack). */
static struct {
  pid_t owner;
  int fd;
  dev_t dev;
  ino_t ino;
  char path[DK_PATH_MAX];
} held = { 0, -1, 0, 0, { 0 } };

int dk__open_retry(const char *path, int flags, mode_t mode) {
  int fd;
  do
    fd = open(path, flags, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

int dk__flock_retry(int fd, int op) {
  int r;
  do
    r = flock(fd, op);
  while (r < 0 && errno == EINTR);
  return r;
}

int dk__same_inode(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* A child that the daemon forks gets a copy of the pid file's descriptor,
 * and with it a share of the flock, which would outlive the daemon. The
 * child closes its copy: that drops nothing of the daemon's (the flock
 * stays while the daemon's descriptor refers to the open file; record
 * locks are not inherited). */
static void forget_in_child(void) {
  if (held.fd >= 0)
    close(held.fd);
  held.fd = -1;
  held.owner = 0;
}

int dk__pidfile_prepare(void) {
  static int registered;
  /* pthread_atfork allocates: before any fork, never after. */
  if (!registered) {
    if (pthread_atfork(NULL, NULL, forget_in_child) != 0)
      return UV_ENOMEM;
    registered = 1;
  }
  return 0;
}

int dk__pidfile_held_fd(const struct stat *st) {
  if (held.fd < 0 || held.owner != getpid() || st->st_dev != held.dev || st->st_ino != held.ino)
    return -1;
  return held.fd;
}

int dk__pidfile_holds_any(void) {
  return held.fd >= 0 && held.owner == getpid();
}

void dk__pidfile_remember(int fd, const char *path) {
  size_t path_len = strlen(path);
  struct stat st;
  memcpy(held.path, path, path_len + 1);
  held.fd = fd;
  held.owner = getpid();
  if (fstat(fd, &st) == 0) {
    held.dev = st.st_dev;
    held.ino = st.st_ino;
  }
}

void dk__pidfile_remove_temp(const char *path, pid_t pid) {
  char dir[DK_PATH_MAX], name[64];
  const char *base;
  int dirfd;
  if (pid <= 0 || dk__pidfile_split_path(path, dir, sizeof(dir), &base) < 0)
    return;
  dirfd = dk__open_retry(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dirfd < 0)
    return;
  dk__pidfile_temp_name(pid, 0, name);
  unlinkat(dirfd, name, 0);
  close(dirfd);
}

/* Removes the pid file this process holds. The owner test keeps a child
 * that did not exec (its copy of `held` runs the same atexit handler) from
 * removing its parent's pid file. A daemon that switched to a user who may
 * not remove it from its directory empties it instead, through the
 * descriptor it opened before: an empty file that nobody holds reads as no
 * daemon. */
void dk__pidfile_drop(void) {
  struct stat by_fd, by_path;
  int r;

  if (held.fd < 0 || held.owner != getpid())
    return;
  if (fstat(held.fd, &by_fd) == 0 && stat(held.path, &by_path) == 0 &&
      dk__same_inode(&by_fd, &by_path) && unlink(held.path) < 0 &&
      (errno == EACCES || errno == EPERM || errno == EROFS))
    while ((r = ftruncate(held.fd, 0)) < 0 && errno == EINTR)
      ;
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

/* The parent's cleanup after a daemon failed or was killed: the daemon
 * cannot remove its pid file itself. Removed, once nobody holds it: a file
 * that names that daemon, and a file that was not at the path before this
 * start (`before`: what was there, NULL if nothing), whatever it holds; and
 * the daemon's temporary file, should it have been killed mid-claim. A
 * file that was there before and names someone else is not ours to remove,
 * and no file that a live process holds is removed. The dead daemon's lock
 * goes away as the kernel closes its files, which can come a moment after
 * the parent saw its end of the report channel close. */
void dk__pidfile_remove_if_stale(const char *path, pid_t pid, const struct stat *before) {
  struct timespec pause = { 0, 1000000 };
  struct stat by_fd, by_path;
  pid_t named;
  int fd, tries, names_it = 0;

  dk__pidfile_remove_temp(path, pid);
  fd = dk__open_retry(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    return;
  if (fstat(fd, &by_fd) < 0 || !S_ISREG(by_fd.st_mode)) {
    close(fd);
    return;
  }
  if (dk__pidfile_parse_fd(fd, &named) == 0)
    names_it = pid > 0 && named == pid;
  if (!names_it && before != NULL && dk__same_inode(before, &by_fd)) {
    close(fd);
    return;
  }
  for (tries = 0; tries < 1000; tries++) {
    if (dk__flock_retry(fd, LOCK_EX | LOCK_NB) == 0) {
      if (fstat(fd, &by_fd) == 0 && stat(path, &by_path) == 0 && dk__same_inode(&by_fd, &by_path))
        unlink(path);
      break;
    }
    if (errno != EWOULDBLOCK)
      break;
    nanosleep(&pause, NULL);
  }
  close(fd);
}
