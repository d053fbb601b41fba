#define _GNU_SOURCE
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char test_dir[PATH_MAX];
static char start_dir[PATH_MAX];
static char path_slots[4][2 * PATH_MAX];

void dk_test_enter_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  snprintf(test_dir, sizeof(test_dir), "%s/dk-test-XXXXXX", base);
  ck_assert_ptr_nonnull(mkdtemp(test_dir));
  ck_assert_ptr_nonnull(getcwd(start_dir, sizeof(start_dir)));
  ck_assert_int_eq(chdir(test_dir), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void dk_test_leave_tmpdir(void) {
  if (chdir(start_dir) != 0)
    return;
  nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *dk_test_dir(void) {
  return test_dir;
}

const char *dk_test_path(int slot, const char *name) {
  snprintf(path_slots[slot], sizeof(path_slots[slot]), "%s/%s", test_dir, name);
  return path_slots[slot];
}

ssize_t dk_test_read_file(const char *path, char *buf, size_t size) {
  ssize_t n, total = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  while ((size_t)total < size - 1 && (n = read(fd, buf + total, size - 1 - (size_t)total)) > 0)
    total += n;
  close(fd);
  buf[total] = '\0';
  return total;
}

int dk_test_write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ssize_t n;
  if (fd < 0)
    return -1;
  n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dk_test_alive(pid_t pid) {
  char state = 0;
  long s = dk_test_stat_field(pid, 3);
  if (s < 0)
    return 0;
  state = (char)s;
  return state != 'Z' && state != 'X';
}

/* A pidfd becomes readable when its process exits: no polling. */
int dk_test_wait_exit(pid_t pid, int timeout_ms) {
  struct pollfd p;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0), r;
  if (fd < 0)
    return errno == ESRCH ? 1 : 0;
  p.fd = fd;
  p.events = POLLIN;
  do
    r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  close(fd);
  return r == 1;
}

int dk_test_wait_path(const char *path, int want, int timeout_ms) {
  char dir_buf[PATH_MAX];
  char events[4096];
  long long deadline = now_ms() + timeout_ms;
  int fd, wd, done;

  snprintf(dir_buf, sizeof(dir_buf), "%s", path);
  fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0)
    return 0;
  wd = inotify_add_watch(fd, dirname(dir_buf), IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE);
  (void)wd;
  for (;;) {
    struct pollfd p;
    long long left;
    done = (access(path, F_OK) == 0) == want;
    left = deadline - now_ms();
    if (done || left <= 0)
      break;
    p.fd = fd;
    p.events = POLLIN;
    if (poll(&p, 1, (int)left) > 0)
      while (read(fd, events, sizeof(events)) > 0)
        ;
  }
  close(fd);
  return done;
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

void dk_test_kill(pid_t pid) {
  if (pid <= 1)
    return;
  kill(pid, SIGKILL);
  dk_test_wait_exit(pid, 5000);
}
