/* SPDX-License-Identifier: MIT */
/* dk_sender_t on POSIX: dk_send and dk_pid_file_check, with what a full
 * check (dk__prove) proved kept in the caller's struct: the pid file's
 * descriptor, its identity and attributes, the pid it named and a pidfd of
 * that process. A later call proves the same again in three cheap calls
 * before the signal: the path still names the file kept, with the same
 * attributes (lstat); the file still names the pid (pread); that process
 * holds the record lock now (F_GETLK); and the signal goes through the
 * pidfd, which fails rather than reach another process that got the pid.
 * Anything else drops what was kept and runs the full check. Why each step
 * proves what dk_send would, and why nothing is ever sent twice, is in
 * docs/design.md ("The cached sender"). Nothing is kept without pidfds,
 * or when the full check had to ask /proc: a pid alone, or a lock F_GETLK
 * does not show, can not be re-proved cheaply. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"

int dk_sender_init(dk_sender_t *s, const char *pid_file) {
  size_t len;

  if (s == NULL)
    return UV_EINVAL;
  s->fd = -1;
  s->pidfd = -1;
  s->pid = 0;
  s->path[0] = '\0';
  if (pid_file == NULL || (len = strlen(pid_file)) >= sizeof(s->path))
    return UV_EINVAL;
  memcpy(s->path, pid_file, len + 1);
  return 0;
}

void dk_sender_close(dk_sender_t *s) {
  if (s == NULL)
    return;
  if (s->fd >= 0)
    close(s->fd);
  if (s->pidfd >= 0)
    close(s->pidfd);
  s->fd = -1;
  s->pidfd = -1;
  s->pid = 0;
}

static int is_the_file_kept(const dk_sender_t *s, const struct stat *st) {
  return s->dev == (unsigned long long)st->st_dev && s->ino == (unsigned long long)st->st_ino &&
         s->mode == (unsigned)st->st_mode && s->uid == (unsigned)st->st_uid &&
         s->gid == (unsigned)st->st_gid && s->ctime_sec == (long long)st->st_ctime &&
         s->ctime_nsec == DK__CTIME_NSEC(st);
}

/* 1 if what was kept still holds: the path, the pid, the lock. */
static int kept_holds(const dk_sender_t *s) {
  struct stat st;
  pid_t named;

  if (s->fd < 0)
    return 0;
  if (lstat(s->path, &st) < 0 || !is_the_file_kept(s, &st))
    return 0;
  if (dk__pidfile_parse_fd(s->fd, &named) < 0 || named != (pid_t)s->pid)
    return 0;
  return dk__pidfile_lock_holder(s->fd) == (pid_t)s->pid;
}

/* dk_send's full check and, for host_signum > 0, its signal; keeps what a
 * success through the record lock proved. A process never keeps its own
 * pid file's descriptor: it is the one the daemon holds. */
static int full(dk_sender_t *s, int host_signum, pid_t *pid_out) {
  struct dk__proof p;
  int err = dk__prove(s->path, 1, &p);

  if (err == 0 && host_signum > 0)
    err = dk__send_pinned(p.pidfd, p.pid, host_signum);
  if ((err == 0 || err == DK_ERUNNING) && pid_out != NULL)
    *pid_out = p.holder;
  if (err == 0 && p.by_record_lock && p.pidfd >= 0 && !p.own) {
    s->fd = p.fd;
    s->pidfd = p.pidfd;
    s->pid = (int)p.pid;
    s->dev = (unsigned long long)p.st.st_dev;
    s->ino = (unsigned long long)p.st.st_ino;
    s->mode = (unsigned)p.st.st_mode;
    s->uid = (unsigned)p.st.st_uid;
    s->gid = (unsigned)p.st.st_gid;
    s->ctime_sec = (long long)p.st.st_ctime;
    s->ctime_nsec = DK__CTIME_NSEC(&p.st);
  } else {
    dk__proof_release(&p);
  }
  return err;
}

int dk_sender_send(dk_sender_t *s, int dk_signum) {
  int host = dk__host_signal(dk_signum);

  if (s == NULL || host < 0)
    return UV_EINVAL;
  if (kept_holds(s) && dk__send_pinned(s->pidfd, (pid_t)s->pid, host) == 0)
    return 0;
  dk_sender_close(s);
  return full(s, host, NULL);
}

int dk_sender_check(dk_sender_t *s, uv_pid_t *pid) {
  pid_t found;
  int err;

  if (s == NULL)
    return UV_EINVAL;
  if (kept_holds(s)) {
    if (pid != NULL)
      *pid = (uv_pid_t)s->pid;
    return 0;
  }
  dk_sender_close(s);
  err = full(s, 0, &found);
  if ((err == 0 || err == DK_ERUNNING) && pid != NULL)
    *pid = (uv_pid_t)found;
  return err;
}
