/* SPDX-License-Identifier: MIT */
/* Processes a test starts: one clock, waiting for an exit with a
 * deadline, the subreaper that makes daemons the test's children, and the
 * tracking that kills whatever a test left running. */
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
#include <unistd.h>

#include "helpers.h"

long long dk_test_now_ms(void) {
  return (long long)(uv_hrtime() / 1000000);
}

/* Only where there are no pidfds (pidfd_open fails with ENOSYS: kernels
 * before 5.3, and valgrind 3.19, which does not know the syscall): whether
 * it still runs is read from /proc/PID/stat every 2 ms until the deadline.
 * Never used where pidfd_open exists. */
static int wait_exit_by_proc(pid_t pid, int timeout_ms) {
  const struct timespec pause = { 0, 2000000 };
  long long deadline = dk_test_now_ms() + timeout_ms;
  for (;;) {
    if (!dk_test_alive(pid))
      return 1;
    if (dk_test_now_ms() >= deadline)
      return 0;
    nanosleep(&pause, NULL);
  }
}

/* A pidfd becomes readable when its process exits: no polling. */
int dk_test_wait_exit(pid_t pid, int timeout_ms) {
  struct pollfd p;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0), r;
  if (fd < 0 && errno == ENOSYS)
    return wait_exit_by_proc(pid, timeout_ms);
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

void dk_test_kill(pid_t pid) {
  if (pid <= 1)
    return;
  kill(pid, SIGKILL);
  dk_test_wait_exit(pid, 5000);
}


#define DK_TEST_MAX_TRACKED 64

static int tracked[DK_TEST_MAX_TRACKED];
static pid_t tracked_pid[DK_TEST_MAX_TRACKED];
static int ntracked;

void dk_test_become_subreaper(void) {
  ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
}

/* Without pidfds (ENOSYS, see wait_exit_by_proc) a process is tracked by
 * its pid alone (descriptor -1) and killed with kill(): what a test tracks
 * is its child, or becomes one (it is their subreaper), so the pid can not
 * be reused before the test reaps it. */
void dk_test_track_pid(pid_t pid) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if ((fd < 0 && errno != ENOSYS) || ntracked == DK_TEST_MAX_TRACKED) {
    if (fd >= 0)
      close(fd);
    return;
  }
  tracked[ntracked] = fd;
  tracked_pid[ntracked] = pid;
  ntracked++;
}

static void untrack(pid_t pid) {
  int i;
  for (i = 0; i < ntracked; i++)
    if (tracked_pid[i] == pid) {
      if (tracked[i] >= 0)
        close(tracked[i]);
      tracked[i] = tracked[--ntracked];
      tracked_pid[i] = tracked_pid[ntracked];
      return;
    }
}

void dk_test_kill_tracked(void) {
  struct pollfd p;
  int i;
  for (i = 0; i < ntracked; i++) {
    if (tracked[i] < 0) {
      kill(tracked_pid[i], SIGKILL);
      dk_test_wait_exit(tracked_pid[i], 5000);
      continue;
    }
    syscall(SYS_pidfd_send_signal, tracked[i], SIGKILL, NULL, 0);
    p.fd = tracked[i];
    p.events = POLLIN;
    while (poll(&p, 1, 5000) < 0 && errno == EINTR)
      ;
    close(tracked[i]);
  }
  ntracked = 0;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

int dk_test_reap(pid_t pid, int timeout_ms, int *status) {
  int st = 0;
  pid_t r;
  if (!dk_test_wait_exit(pid, timeout_ms))
    return -1;
  do
    r = waitpid(pid, &st, 0);
  while (r < 0 && errno == EINTR);
  if (r != pid)
    return 0;
  untrack(pid);
  if (status != NULL)
    *status = st;
  return 1;
}

/* want > 0: ask the kernel for that pid (ns_last_pid, root only); the
 * child tells through the pipe whether it got it before it execs. */
static pid_t spawn_sleep(pid_t want) {
  pid_t parent = getpid(), pid;
  int ready[2], last = -1;
  char c = 0;
  ssize_t n;
  ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
  if (want > 0) {
    char text[24];
    last = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (last < 0) {
      close(ready[0]);
      close(ready[1]);
      return -1;
    }
    snprintf(text, sizeof(text), "%ld", (long)want - 1);
    if (write(last, text, strlen(text)) < 0) {
      close(last);
      close(ready[0]);
      close(ready[1]);
      return -1;
    }
    close(last);
  }
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    sigset_t none;
    int s;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
      _exit(1);
    if (want > 0 && getpid() != want) {
      c = 'x';
      _exit(write(ready[1], &c, 1) == 1 ? 1 : 2);
    }
    for (s = 1; s < NSIG; s++)
      signal(s, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execlp("sleep", "sleep", "30", (char *)NULL);
    _exit(127);
  }
  close(ready[1]);
  /* EOF once exec closed the O_CLOEXEC end: it now is `sleep`. */
  do
    n = read(ready[0], &c, 1);
  while (n < 0 && errno == EINTR);
  close(ready[0]);
  if (n == 1) { /* it got another pid and exits */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    return 0;
  }
  dk_test_track_pid(pid);
  return pid;
}

pid_t dk_test_spawn_sleep(void) {
  return spawn_sleep(0);
}

pid_t dk_test_spawn_sleep_reusing(pid_t pid) {
  int attempt;
  pid_t got;
  /* Another process may fork between our write and our fork: retry. */
  for (attempt = 0; attempt < 100; attempt++) {
    got = spawn_sleep(pid);
    if (got != 0)
      return got;
  }
  return -1;
}

void dk_test_send_as_nobody(const char *path, int dk_signum, int *send_err, int *check_err) {
  int results[2] = { 1, 1 }, fds[2];
  pid_t child;
  ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
  child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() == 0 && (pw == NULL || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
                           setuid(pw->pw_uid) != 0))
      _exit(1);
    results[0] = dk_send(path, dk_signum);
    results[1] = dk_pid_file_check(path, NULL);
    _exit(write(fds[1], results, sizeof(results)) == (ssize_t)sizeof(results) ? 0 : 1);
  }
  close(fds[1]);
  ck_assert_int_eq(dk_test_reap(child, 10000, NULL), 1);
  ck_assert_int_eq(read(fds[0], results, sizeof(results)), (ssize_t)sizeof(results));
  close(fds[0]);
  *send_err = results[0];
  *check_err = results[1];
}
