/* SPDX-License-Identifier: MIT */
/* Socket activation (sd_listen_fds_with_names(3)) without libsystemd:
 * systemd passes LISTEN_FDS descriptors from fd 3 on, for the process
 * LISTEN_PID names, with LISTEN_FDNAMES their colon-separated names. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unix.h"

#define FIRST_FD 3

static void forget(void) {
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
}

/* Checks LISTEN_FDNAMES against n: one name per descriptor, each at most
 * DK_FDNAME_MAX bytes. Without it every name is "unknown". */
static int check_names(const char *names, size_t n) {
  size_t fields = 1, len = 0;
  const char *p;
  if (names == NULL)
    return 0;
  for (p = names; *p != '\0'; p++) {
    if (*p == ':') {
      fields++;
      len = 0;
    } else if (++len > DK_FDNAME_MAX) {
      return UV_EINVAL;
    }
  }
  return fields == n ? 0 : UV_EINVAL;
}

/* The i-th name, or "unknown" when there are none or it is empty. */
static void copy_name(const char *names, size_t i, char *out) {
  const char *start = names, *end;
  size_t len;
  if (names != NULL) {
    for (; i > 0; i--)
      start = strchr(start, ':') + 1;
    end = strchr(start, ':');
    len = end != NULL ? (size_t)(end - start) : strlen(start);
    if (len > 0) {
      memcpy(out, start, len);
      out[len] = '\0';
      return;
    }
  }
  strcpy(out, "unknown");
}

/* What the variables say: 0 and *n (0: not for this process), or
 * UV_EINVAL. */
static int parse(size_t *n, const char **names) {
  const char *pid_text = getenv("LISTEN_PID"), *fds_text = getenv("LISTEN_FDS");
  unsigned long long count = 0;
  const char *p;
  pid_t pid;

  *n = 0;
  *names = getenv("LISTEN_FDNAMES");
  if (pid_text == NULL || fds_text == NULL)
    return 0;
  if (dk__parse_pid(pid_text, &pid) < 0)
    return UV_EINVAL;
  if (pid != getpid())
    return 0; /* meant for a process that ran this one without clearing them */
  if (fds_text[0] == '\0')
    return UV_EINVAL;
  for (p = fds_text; *p != '\0'; p++) {
    if (*p < '0' || *p > '9' || count > 100000) /* far above any fd limit */
      return UV_EINVAL;
    count = count * 10 + (unsigned)(*p - '0');
  }
  if (count > 100000)
    return UV_EINVAL;
  *n = (size_t)count;
  return *n == 0 ? 0 : check_names(*names, *n);
}

int dk_listen_fds(dk_listen_fd_t *fds, size_t *count) {
  const char *names;
  size_t n, i;
  int err;

  if (fds == NULL || count == NULL)
    return UV_EINVAL;
  err = parse(&n, &names);
  if (err == 0 && n > *count) {
    /* Nothing is taken: a caller with more room can ask again. */
    *count = n;
    return UV_ENOBUFS;
  }
  /* Each one must be open before any is taken. */
  for (i = 0; err == 0 && i < n; i++)
    if (fcntl(FIRST_FD + (int)i, F_GETFD) < 0)
      err = DK__ERR(errno);
  for (i = 0; err == 0 && i < n; i++) {
    int fd = FIRST_FD + (int)i, flags = fcntl(fd, F_GETFD);
    /* Ours now: a program this one runs must not hold the listeners. */
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
      err = DK__ERR(errno);
    fds[i].fd = fd;
    copy_name(names, i, fds[i].name);
  }
  /* As libsystemd does, the variables go whatever they said, so that no
   * child mistakes them for its own (a process reusing the pid). */
  forget();
  *count = err == 0 ? n : 0;
  return err;
}
