/* SPDX-License-Identifier: MIT */
/* systemd's notification protocol (sd_notify(3)) without libsystemd: one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or, with a
 * leading '@', an abstract name; and the watchdog's variables
 * (sd_watchdog_enabled(3)). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"

int dk_notify(const char *state) {
  const char *name = getenv("NOTIFY_SOCKET");
  struct sockaddr_un addr;
  socklen_t addr_len;
  size_t name_len;
  ssize_t n;
  int fd, err;

  if (state == NULL)
    return UV_EINVAL;
  if (name == NULL || name[0] == '\0')
    return 0;
  name_len = strlen(name);
  if ((name[0] != '/' && name[0] != '@') || name_len >= sizeof(addr.sun_path))
    return UV_EINVAL;
#if !DK__LINUX_EXTRAS
  /* Abstract names are Linux's own. */
  if (name[0] == '@')
    return UV_ENOTSUP;
#endif
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, name, name_len);
  /* An abstract name is exactly its bytes after the '@', no NUL; a path
   * is counted with its NUL. */
  if (name[0] == '@')
    addr.sun_path[0] = '\0';
  addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len +
                         (name[0] == '/' ? 1 : 0));

  fd = dk__socket_cloexec(SOCK_DGRAM);
  if (fd < 0)
    return DK__ERR(errno);
  /* Never blocks: it runs on the application's loop (the watchdog's
   * pings, a status), and a supervisor whose queue is full must not stop
   * the loop; the caller gets UV_EAGAIN instead. */
  n = dk__send_nosigpipe(fd, state, strlen(state), MSG_DONTWAIT, (struct sockaddr *)&addr,
                         addr_len);
  err = n < 0 ? DK__ERR(errno) : 1;
  close(fd);
  return err;
}

int dk_notify_reloading(void) {
  char state[64];
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
    return DK__ERR(errno);
  snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
           (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
  return dk_notify(state);
}

int dk_notify_stopping(void) {
  return dk_notify("STOPPING=1");
}

/* A decimal number, digits only, at most max. */
static int parse_decimal(const char *s, unsigned long long max, unsigned long long *out) {
  unsigned long long v = 0;
  if (*s == '\0')
    return UV_EINVAL;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > (max - (unsigned)(*s - '0')) / 10)
      return UV_EINVAL;
    v = v * 10 + (unsigned)(*s - '0');
  }
  *out = v;
  return 0;
}

int dk__parse_pid(const char *s, pid_t *pid) {
  unsigned long long v;
  if (parse_decimal(s, INT_MAX, &v) < 0 || v == 0)
    return UV_EINVAL;
  *pid = (pid_t)v;
  return 0;
}

int dk__watchdog_asked(unsigned long long *usec) {
  const char *u = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
  pid_t pid;

  *usec = 0;
  if (u == NULL)
    return 0;
  /* systemd's own limit: USEC_INFINITY (all ones) means no watchdog. */
  if (parse_decimal(u, ~0ULL - 1, usec) < 0 || *usec == 0)
    return UV_EINVAL;
  if (p != NULL) {
    if (dk__parse_pid(p, &pid) < 0)
      return UV_EINVAL;
    /* Meant for another process: for instance the one that forked or
     * exec'd this one without clearing its environment. */
    if (pid != getpid()) {
      *usec = 0;
      return 0;
    }
  }
  return 1;
}
