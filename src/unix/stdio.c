/* SPDX-License-Identifier: MIT */
/* The daemon's standard streams: each pointed at its file, or the null
 * device, between fork and return (async-signal-safe, EINTR retried). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unix.h"

/* The daemon's stdio files are opened before it drops root, at paths in
 * directories other users may write (/tmp, a log directory of theirs).
 * So that no other user can aim its output at a file of root's, or make
 * root create one, the path is walked a component at a time without
 * following links, and a link is followed only when its owner may say
 * where the daemon writes: root, or this process. A link of the daemon's
 * user (when root opens its files for it) is followed too, but then what
 * it leads to must be that user's own, or be created in a directory of
 * that user's: what the user could have opened itself. A regular file
 * with a second name, or owned by a user other than root and the
 * daemon's, is refused (systemd's rules for PIDFile=). Any refusal is
 * UV_EPERM, made before anything is created or written. */

/* Descriptors that only look names up: a directory that may be searched
 * but not read is walked all the same. */
#if DK__LINUX_EXTRAS && defined(O_PATH)
#define DK__DIR_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)
#elif defined(O_SEARCH)
#define DK__DIR_FLAGS (O_SEARCH | O_DIRECTORY | O_CLOEXEC)
#else
#define DK__DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif
#ifndef NAME_MAX
#define NAME_MAX 255
#endif
/* As Linux's MAXSYMLINKS. */
#define DK__MAX_HOPS 40

struct dk__walk {
  char rest[DK_PATH_MAX]; /* what is left to walk */
  char link[DK_PATH_MAX];
  char name[NAME_MAX + 1];
  int dir;                /* where `rest` starts: AT_FDCWD or a descriptor */
  uid_t user, euid;
  int user_only;          /* came through a link of `user`, who is not euid */
  int hops;
  int have_proc;          /* 1: proc_dev is procfs's, -1: no /proc */
  dev_t proc_dev;
};

static int open_at(int dir, const char *name, int flags, mode_t mode) {
  int fd;
  do
    fd = openat(dir, name, flags, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

static void walk_enter(struct dk__walk *w, int dir) {
  if (w->dir >= 0)
    close(w->dir);
  w->dir = dir;
}

/* A link in /proc (/proc/self/fd/N, where /dev/stdout leads) names an
 * open file, not a path: the kernel follows it, it can not be read.
 * Without the Linux extras every link is read as a path (a BSD's or
 * macOS's /dev/fd/N is no link). */
static int in_proc(struct dk__walk *w, const struct stat *st) {
#if DK__LINUX_EXTRAS
  struct stat ps;
  if (w->have_proc == 0) {
    w->have_proc = -1;
    if (lstat("/proc/self", &ps) == 0) {
      w->have_proc = 1;
      w->proc_dev = ps.st_dev;
    }
  }
  return w->have_proc == 1 && st->st_dev == w->proc_dev;
#else
  (void)w;
  (void)st;
  return 0;
#endif
}

/* The link `w->name`: refused (<0), for the kernel to follow (1), or
 * replaced in `rest` by what it says, followed by `after` (0). */
static int follow(struct dk__walk *w, const struct stat *st, const char *after) {
  size_t after_len = strlen(after);
  ssize_t n;

  if (++w->hops > DK__MAX_HOPS)
    return UV_ELOOP;
  /* A second name may be another user's hard link to a link of root's. */
  if (st->st_nlink > 1)
    return UV_EPERM;
  if (st->st_uid == w->user && st->st_uid != 0 && st->st_uid != w->euid)
    w->user_only = 1;
  else if (st->st_uid != 0 && st->st_uid != w->euid)
    return UV_EPERM;
  if (in_proc(w, st))
    return 1;
  n = readlinkat(w->dir, w->name, w->link, sizeof(w->link));
  if (n < 0)
    return DK__ERR(errno);
  if (n == 0)
    return UV_ENOENT;
  if ((size_t)n + after_len >= sizeof(w->rest))
    return UV_ENAMETOOLONG;
  memmove(w->rest + n, after, after_len + 1);
  memcpy(w->rest, w->link, (size_t)n);
  return 0;
}

/* The file opened: returned, or closed and refused. */
static int accept_file(struct dk__walk *w, int fd) {
  struct stat st;
  int ok;
  if (fstat(fd, &st) < 0) {
    int err = DK__ERR(errno);
    close(fd);
    return err;
  }
  ok = !w->user_only || st.st_uid == w->user;
  if (S_ISREG(st.st_mode) && (st.st_nlink > 1 || (st.st_uid != 0 && st.st_uid != w->user)))
    ok = 0;
  if (!ok) {
    close(fd);
    return UV_EPERM;
  }
  return fd;
}

static int may_create(struct dk__walk *w) {
  struct stat st;
  if (!w->user_only)
    return 0;
  if (fstatat(w->dir, ".", &st, 0) < 0)
    return DK__ERR(errno);
  return st.st_uid == w->user ? 0 : UV_EPERM;
}

static int walk(struct dk__walk *w, int flags) {
  char *p = w->rest;
  for (;;) {
    struct stat st;
    char *end;
    int fd, r;

    if (*p == '/') {
      fd = open_at(AT_FDCWD, "/", DK__DIR_FLAGS, 0);
      if (fd < 0)
        return DK__ERR(errno);
      walk_enter(w, fd);
      while (*p == '/')
        p++;
    }
    for (end = p; *end != '/' && *end != '\0'; end++)
      ;
    if (end - p > NAME_MAX)
      return UV_ENAMETOOLONG;
    /* "dir/" ends in "dir" itself, as the kernel has it. */
    if (end == p)
      memcpy(w->name, ".", 2);
    else
      memcpy(w->name, p, (size_t)(end - p));
    w->name[end == p ? 1 : end - p] = '\0';

    if (*end == '/') {
      if (fstatat(w->dir, w->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return DK__ERR(errno);
      r = S_ISLNK(st.st_mode) ? follow(w, &st, end) : 2;
      if (r < 0)
        return r;
      if (r == 0) {
        p = w->rest;
        continue;
      }
      fd = open_at(w->dir, w->name, DK__DIR_FLAGS | (r == 2 ? O_NOFOLLOW : 0), 0);
      if (fd < 0)
        return DK__ERR(errno);
      walk_enter(w, fd);
      for (p = end; *p == '/'; p++)
        ;
      continue;
    }

    fd = open_at(w->dir, w->name, (flags & ~O_CREAT) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0);
    if (fd >= 0)
      return accept_file(w, fd);
    r = errno;
    /* O_NOFOLLOW met a link: ELOOP, or EMLINK on FreeBSD. */
    if ((r == ELOOP || r == EMLINK) &&
        fstatat(w->dir, w->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      r = follow(w, &st, end);
      if (r < 0)
        return r;
      if (r == 0) {
        p = w->rest;
        continue;
      }
      fd = open_at(w->dir, w->name, (flags & ~O_CREAT) | O_CLOEXEC | O_NOCTTY, 0);
      return fd < 0 ? DK__ERR(errno) : accept_file(w, fd);
    }
    if (r != ENOENT || !(flags & O_CREAT))
      return DK__ERR(r);
    r = may_create(w);
    if (r < 0)
      return r;
    /* O_EXCL: what is there by now is looked at again, never written
     * through. */
    fd = open_at(w->dir, w->name, flags | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd >= 0)
      return fd;
    if (errno != EEXIST || ++w->hops > DK__MAX_HOPS)
      return DK__ERR(errno);
  }
}

static int open_stdio_file(const char *path, int flags, uid_t user) {
  struct dk__walk w;
  size_t len = strlen(path);
  int fd;

  if (len == 0)
    return UV_ENOENT;
  if (len >= sizeof(w.rest))
    return UV_ENAMETOOLONG;
  memcpy(w.rest, path, len + 1);
  w.dir = AT_FDCWD;
  w.user = user;
  w.euid = geteuid();
  w.user_only = 0;
  w.hops = 0;
  w.have_proc = 0;
  fd = walk(&w, flags);
  walk_enter(&w, AT_FDCWD);
  return fd;
}

/* Points descriptor `target` at `path` (or the null device). A caller's
 * stdio may be closed: the open then lands on the lowest free number,
 * which may be another of 0-2 that is set later (or, in the foreground,
 * left closed), so it is moved above them before the dup2. */
static int redirect_one(int target, const char *path, int flags, uid_t user) {
  int fd = open_stdio_file(path, flags, user);
  if (fd < 0)
    return fd;
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

/* The streams no path was given for share one descriptor of the null
 * device, a system path nobody else can aim anywhere: no walk, one open. */
static int point_at_null(int target, int *null_fd) {
  if (*null_fd < 0) {
    int fd;
    do
      fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
      return DK__ERR(errno);
    fd = dk__fd_above_stdio(fd); /* off 0-2 while those are being set */
    if (fd < 0)
      return fd;
    *null_fd = fd;
  }
  /* dup2 leaves the copy inheritable: a program the daemon execs keeps it. */
  while (dup2(*null_fd, target) < 0)
    if (errno != EINTR && errno != EBUSY)
      return DK__ERR(errno);
  return 0;
}

int dk__redirect_stdio(const dk_options_t *opts, int null_by_default, uid_t user,
                       int *failed_fd) {
  const int out_flags = O_WRONLY | O_CREAT | O_APPEND;
  const char *paths[3];
  const int flags[3] = { O_RDONLY, out_flags, out_flags };
  int fd, err = 0, null_fd = -1;

  paths[0] = opts->stdin_path;
  paths[1] = opts->stdout_path;
  paths[2] = opts->stderr_path;
  for (fd = 0; fd < 3 && err == 0; fd++) {
    if (paths[fd] != NULL)
      err = redirect_one(fd, paths[fd], flags[fd], user);
    else if (null_by_default)
      err = point_at_null(fd, &null_fd);
    if (err < 0)
      *failed_fd = fd;
  }
  if (null_fd >= 0)
    close(null_fd);
  return err;
}
