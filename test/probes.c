/* SPDX-License-Identifier: MIT */
/* What /proc says of a process, and what a pid file's locks say. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

int dk_test_alive(pid_t pid) {
  char state = 0;
  long s = dk_test_stat_field(pid, 3);
  if (s < 0)
    return 0;
  state = (char)s;
  return state != 'Z' && state != 'X';
}

long dk_test_stat_field(pid_t pid, int field) {
  char path[64], buf[1024], *p;
  int i;
  snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
  if (dk_test_read_file(path, buf, sizeof(buf)) <= 0)
    return -1;
  /* The command name may hold spaces and parentheses: skip past the last ')'. */
  p = strrchr(buf, ')');
  if (p == NULL)
    return -1;
  if (field <= 2)
    return -1;
  p += 2; /* now at field 3 */
  for (i = 3; i < field; i++) {
    p = strchr(p, ' ');
    if (p == NULL)
      return -1;
    p++;
  }
  if (field == 3)
    return (long)(unsigned char)*p;
  return strtol(p, NULL, 10);
}

long dk_test_status_field(pid_t pid, const char *name, int base) {
  char path[64], buf[4096], *line;
  size_t len = strlen(name);
  snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
  if (dk_test_read_file(path, buf, sizeof(buf)) <= 0)
    return -1;
  for (line = buf; line != NULL && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
    if (strncmp(line, name, len) == 0 && line[len] == ':')
      return strtol(line + len + 1, NULL, base);
  return -1;
}

int dk_test_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

int dk_test_alive_unsignalled(pid_t pid) {
  return dk_test_alive(pid) && dk_test_status_field(pid, "SigPnd", 16) == 0 &&
         dk_test_status_field(pid, "ShdPnd", 16) == 0;
}

int dk_test_is_flocked(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), locked;
  if (fd < 0)
    return 0;
  locked = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close(fd);
  return locked;
}

int dk_test_wait_status_field(pid_t pid, const char *name, int base, long want, int timeout_ms) {
  const struct timespec pause = { 0, 1000000 };
  long long deadline = dk_test_now_ms() + timeout_ms;
  for (;;) {
    if (dk_test_status_field(pid, name, base) == want)
      return 1;
    if (dk_test_now_ms() >= deadline)
      return 0;
    nanosleep(&pause, NULL);
  }
}
