/* SPDX-License-Identifier: MIT */
/* Who holds a pid file's flock, as /proc tells (Linux; without the Linux
 * extras nobody can be named), without taking any lock and without
 * allocating, so that a daemon may ask between fork and return. Only a holder whose open file is writable counts: the daemon
 * opens its pid file for writing, and anybody who can read the file (it is
 * 0644, for `kill $(cat f)`) can flock it through a read-only descriptor,
 * which must neither stop a start nor make a stale file look alive. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"

#if DK__LINUX_EXTRAS

/* "/proc/<pid>/<what>" without allocating. */
static void proc_path(char *out, pid_t pid, const char *what) {
  char digits[24];
  size_t n = dk__pid_format((long)pid, digits) - 1, w = strlen(what);
  memcpy(out, "/proc/", 6);
  memcpy(out + 6, digits, n);
  out[6 + n] = '/';
  memcpy(out + 7 + n, what, w + 1);
}

static long parse_decimal(const char *s) {
  long v = 0;
  if (*s < '0' || *s > '9')
    return -1;
  for (; *s >= '0' && *s <= '9'; s++)
    v = v * 10 + (*s - '0');
  return *s == '\0' ? v : -1;
}

/* From the fdinfo text: whether a flock is on this open file, and whether
 * the file was opened for writing ("flags:" is octal). */
static int fdinfo_flock(const char *info, int *writable) {
  const char *flags = strstr(info, "flags:"), *line;
  unsigned long bits = 0;
  int locked = 0;

  if (flags != NULL)
    for (flags += 6; *flags == '\t' || *flags == ' '; flags++)
      ;
  for (; flags != NULL && *flags >= '0' && *flags <= '7'; flags++)
    bits = bits * 8 + (unsigned long)(*flags - '0');
  for (line = info; line != NULL && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
    if (strncmp(line, "lock:", 5) == 0) {
      const char *end = strchr(line, '\n');
      const char *hit = strstr(line, "FLOCK");
      if (hit != NULL && (end == NULL || hit < end))
        locked = 1;
    }
  *writable = (bits & O_ACCMODE) != O_RDONLY;
  return locked;
}

int dk__holder_check(pid_t pid, const struct stat *st, int *writable) {
  char path[64], info[4096];
  char buf[4096];
  int dir, found = 0;
  long n, off;

  *writable = 0;
  proc_path(path, pid, "fd");
  do
    dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  while (dir < 0 && errno == EINTR);
  if (dir < 0)
    return errno == ENOENT || errno == ESRCH ? 0 : UV_EPERM;
  while (!(found && *writable) && (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
    for (off = 0; off < n && !(found && *writable);) {
      struct dk__dirent64 *d = (struct dk__dirent64 *)(buf + off);
      struct stat target;
      ssize_t len;
      int fd, w;
      off += d->d_reclen;
      if (parse_decimal(d->d_name) < 0 || fstatat(dir, d->d_name, &target, 0) < 0 ||
          !dk__same_inode(&target, st))
        continue;
      proc_path(path, pid, "fdinfo/");
      if (strlen(path) + strlen(d->d_name) >= sizeof(path))
        continue;
      strcat(path, d->d_name);
      do
        fd = open(path, O_RDONLY | O_CLOEXEC);
      while (fd < 0 && errno == EINTR);
      if (fd < 0)
        continue;
      do
        len = read(fd, info, sizeof(info) - 1);
      while (len < 0 && errno == EINTR);
      close(fd);
      if (len <= 0)
        continue;
      info[len] = '\0';
      if (fdinfo_flock(info, &w)) {
        found = 1;
        *writable |= w;
      }
    }
  }
  close(dir);
  return found;
}

void dk__holders_scan(const struct stat *st, struct dk__holders *h) {
  char buf[4096];
  long n, off;
  int dir;

  memset(h, 0, sizeof(*h));
  do
    dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  while (dir < 0 && errno == EINTR);
  if (dir < 0) {
    h->unseen = 1;
    return;
  }
  while (h->writer == 0 && (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
    for (off = 0; off < n && h->writer == 0;) {
      struct dk__dirent64 *d = (struct dk__dirent64 *)(buf + off);
      long pid = parse_decimal(d->d_name);
      int r, writable;
      off += d->d_reclen;
      if (pid <= 0)
        continue;
      r = dk__holder_check((pid_t)pid, st, &writable);
      if (r == UV_EPERM)
        h->unseen++;
      else if (r == 1 && writable)
        h->writer = (pid_t)pid;
      else if (r == 1)
        h->readers++;
    }
  }
  close(dir);
}
#else
/* Without /proc nothing tells what a process holds; only that a pid
 * nobody has holds nothing. */
int dk__holder_check(pid_t pid, const struct stat *st, int *writable) {
  (void)st;
  *writable = 0;
  return kill(pid, 0) < 0 && errno == ESRCH ? 0 : UV_EPERM;
}

void dk__holders_scan(const struct stat *st, struct dk__holders *h) {
  (void)st;
  memset(h, 0, sizeof(*h));
  h->unseen = 1;
}
#endif
