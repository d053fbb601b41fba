/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "helpers.h"

#define MARK_VAR "DK_TEST_MARK"

static char mark[PATH_MAX];
static pid_t guard_pid = -1;
static int guard_fd = -1;

/* In a child between fork and exec: only async-signal-safe calls. */
static void exec_child(const char *const *argv, int out_fd, int err_fd) {
  sigset_t none;
  /* Close-on-exec, or the program would find it open as its fd 3 (what
   * socket activation passes there). dup2 makes the copy on 0 inheritable. */
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || (null_fd == 0 ? fcntl(0, F_SETFD, 0) : dup2(null_fd, 0)) < 0 ||
      dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
    _exit(126);
  /* Nothing but stdio, as a supervisor starts a program: the test
   * process's own descriptors (Check's among them) stay out of fd 3 on,
   * where socket activation passes its sockets. */
  if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
    int fd;
    for (fd = 3; fd < 1024; fd++)
      close(fd);
  }
  /* A test may have blocked or ignored signals: the program starts clean. */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  execvp(argv[0], (char *const *)argv);
  {
    static const char msg[] = "spawn: exec failed\n";
    ssize_t n = write(2, msg, sizeof(msg) - 1);
    (void)n;
  }
  _exit(127);
}

static int decode_status(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return -1;
}

int dk_spawn_wait(pid_t pid, int timeout_ms, int *status) {
  int st = 0;
  if (dk_test_reap(pid, timeout_ms, &st) != 1)
    return 0;
  if (status != NULL)
    *status = decode_status(st);
  return 1;
}

void dk_spawn_run(struct dk_spawn *r, int timeout_ms, const char *const *argv) {
  long long deadline = dk_test_now_ms() + timeout_ms;
  int out[2], err[2], open_count = 2;
  size_t have[2] = { 0, 0 };
  char *bufs[2];
  pid_t pid;

  memset(r, 0, sizeof(*r));
  r->status = -1;
  bufs[0] = r->out;
  bufs[1] = r->err;
  if (pipe2(out, O_CLOEXEC) < 0)
    return;
  if (pipe2(err, O_CLOEXEC) < 0) {
    close(out[0]);
    close(out[1]);
    return;
  }
  pid = fork();
  if (pid == 0)
    exec_child(argv, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(out[0]);
    close(err[0]);
    return;
  }

  while (open_count > 0) {
    struct pollfd p[2];
    long long left = deadline - dk_test_now_ms();
    int i;
    if (left <= 0)
      break;
    p[0].fd = out[0];
    p[1].fd = err[0];
    p[0].events = p[1].events = POLLIN;
    if (poll(p, 2, (int)left) <= 0)
      continue;
    for (i = 0; i < 2; i++) {
      char discard[4096];
      ssize_t n;
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      if (have[i] < DK_SPAWN_OUT_MAX - 1)
        n = read(p[i].fd, bufs[i] + have[i], DK_SPAWN_OUT_MAX - 1 - have[i]);
      else
        n = read(p[i].fd, discard, sizeof(discard));
      if (n > 0 && have[i] < DK_SPAWN_OUT_MAX - 1)
        have[i] += (size_t)n;
      else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        close(p[i].fd);
        if (i == 0)
          out[0] = -1;
        else
          err[0] = -1;
        open_count--;
      }
    }
  }
  r->out[have[0]] = '\0';
  r->err[have[1]] = '\0';
  if (out[0] >= 0)
    close(out[0]);
  if (err[0] >= 0)
    close(err[0]);

  {
    long long left = deadline - dk_test_now_ms();
    int status;
    if (open_count == 0 && dk_spawn_wait(pid, left > 0 ? (int)left : 0, &status)) {
      r->status = status;
      return;
    }
  }
  kill(pid, SIGKILL);
  dk_spawn_wait(pid, 5000, NULL);
  r->status = -1;
}

pid_t dk_spawn_start(const char *const *argv, const char *out_path) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out_path != NULL ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      _exit(126);
    exec_child(argv, fd, fd);
  }
  return pid;
}

/* 1 if /proc/PID/environ holds MARK_VAR=m. A zombie's is empty. */
static int has_mark(pid_t pid, const char *m) {
  static char env[256 * 1024];
  char path[64], want[PATH_MAX + 32];
  ssize_t n, total = 0;
  char *p;
  int fd;

  snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  while (total < (ssize_t)sizeof(env) - 1 &&
         (n = read(fd, env + total, sizeof(env) - 1 - (size_t)total)) > 0)
    total += n;
  close(fd);
  env[total] = '\0';
  snprintf(want, sizeof(want), "%s=%s", MARK_VAR, m);
  for (p = env; p < env + total; p += strlen(p) + 1)
    if (strcmp(p, want) == 0)
      return 1;
  return 0;
}

/* Calls fn on every other live process that carries the mark; returns how
 * many there were. */
static int for_each_marked(const char *m, void (*fn)(pid_t pid)) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  pid_t self = getpid();
  int count = 0;
  if (d == NULL)
    return 0;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 1 || pid == self)
      continue;
    if (has_mark((pid_t)pid, m) && dk_test_alive((pid_t)pid)) {
      count++;
      if (fn != NULL)
        fn((pid_t)pid);
    }
  }
  closedir(d);
  return count;
}

static pid_t killed[256];
static int nkilled;

static void kill_one(pid_t pid) {
  kill(pid, SIGKILL);
  if (nkilled < (int)(sizeof(killed) / sizeof(killed[0])))
    killed[nkilled++] = pid;
}

/* Kills until none is left: a process may fork while we look. */
static void kill_marked(const char *m) {
  int round, i;
  for (round = 0; round < 20; round++) {
    nkilled = 0;
    if (for_each_marked(m, kill_one) == 0)
      break;
    for (i = 0; i < nkilled; i++)
      dk_test_wait_exit(killed[i], 2000); /* SIGKILL lands asynchronously */
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
  }
}

int dk_spawn_count_marked(void) {
  return for_each_marked(mark, NULL);
}

static pid_t found[256];
static int nfound;

static void note_one(pid_t pid) {
  if (nfound < (int)(sizeof(found) / sizeof(found[0])))
    found[nfound++] = pid;
}

int dk_spawn_wait_marked_gone(pid_t keep, int timeout_ms) {
  long long deadline = dk_test_now_ms() + timeout_ms;
  for (;;) {
    int i, others = 0;
    long long left;
    nfound = 0;
    for_each_marked(mark, note_one);
    for (i = 0; i < nfound; i++)
      others += found[i] != keep;
    left = deadline - dk_test_now_ms();
    if (others == 0 || left <= 0)
      return others == 0;
    for (i = 0; i < nfound; i++)
      if (found[i] != keep)
        dk_test_wait_exit(found[i], (int)(left > 0 ? left : 0));
  }
}

void dk_spawn_setup(void) {
  int g[2];
  /* Orphans become this process's children, so that none is left a zombie
   * of an init that may not reap (as in a container). */
  dk_spawn_become_subreaper();
  snprintf(mark, sizeof(mark), "%s", dk_test_dir());
  setenv(MARK_VAR, mark, 1);
  if (pipe2(g, O_CLOEXEC) < 0)
    return;
  guard_pid = fork();
  if (guard_pid == 0) {
    /* The guard: its own process group, so that Check's kill of the test's
     * group spares it; it wakes when the test process is gone. */
    char c;
    int fd, null_fd = open("/dev/null", O_RDWR);
    setsid();
    if (null_fd >= 0) {
      dup2(null_fd, 0);
      dup2(null_fd, 1);
      dup2(null_fd, 2);
    }
    dup2(g[0], 3);
    for (fd = 4; fd < 1024; fd++)
      close(fd);
    while (read(3, &c, 1) < 0 && errno == EINTR)
      ;
    kill_marked(mark);
    _exit(0);
  }
  close(g[0]);
  guard_fd = g[1];
}

void dk_spawn_teardown(void) {
  kill_marked(mark);
  if (guard_fd >= 0)
    close(guard_fd);
  guard_fd = -1;
  if (guard_pid > 0)
    dk_spawn_wait(guard_pid, 5000, NULL);
  guard_pid = -1;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

void dk_spawn_become_subreaper(void) {
  dk_test_become_subreaper();
}

ssize_t dk_spawn_cmdline(pid_t pid, char *buf, size_t size) {
  char path[64];
  ssize_t n, i;
  int fd;
  snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0)
    return -1;
  if (n > 0 && buf[n - 1] == '\0')
    n--;
  for (i = 0; i < n; i++)
    if (buf[i] == '\0')
      buf[i] = ' ';
  buf[n] = '\0';
  return n;
}

static int contains(const char *path, const void *needle) {
  static char text[256 * 1024];
  return dk_test_read_file(path, text, sizeof(text)) >= 0 && strstr(text, needle) != NULL;
}

int dk_spawn_wait_content(const char *path, const char *needle, int timeout_ms) {
  return dk_test_wait_in_dir(path, contains, needle, timeout_ms);
}

void dk_spawn_fixture_setup(void) {
  dk_test_enter_tmpdir();
  dk_spawn_setup();
}

void dk_spawn_fixture_teardown(void) {
  dk_spawn_teardown();
  dk_test_leave_tmpdir();
}

int dk_spawn_free_port(void) {
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;
  ck_assert_int_ge(fd, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  port = ntohs(addr.sin_port);
  close(fd);
  return port;
}
