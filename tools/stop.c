/* SPDX-License-Identifier: MIT */
/* daemoniker stop: what `start-stop-daemon --stop --retry TERM/10/KILL/5`
 * does, with the holder proof of dk_kill: a signal, then a wait until no
 * process holds the pid file any more.
 *
 * The wait watches the holder, whoever it is (the daemon is rarely our
 * child): a pidfd of it, polled until it exits (Linux 5.3+); then the file
 * is checked again, since a child of the daemon may hold it still. Where
 * there are no pidfds (older kernels, valgrind, not Linux, a build without
 * the Linux extras), or the holder can not be named, the wait blocks in flock(LOCK_SH) on the pid file until the
 * holder lets go of its lock, with an interval timer to end it at the
 * deadline. That lock is taken through a read-only descriptor and dropped
 * at once: a reader's lock neither stops a daemon starting at that moment
 * nor makes the file look held (pidfile.c). Nothing here polls.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemoniker.h"
#include "tool.h"

enum { STOP_GONE = 0, STOP_RUNNING = 1, STOP_BAD = EXIT_USAGE };

/* How long --kill waits after SIGKILL, as start-stop-daemon's KILL/5. */
#define KILL_WAIT_MS 5000

static long long now_ms(void) {
  return (long long)(uv_hrtime() / 1000000);
}

/* Linux's own, left out where configure was given --disable-linux-extras
 * as the library's are. */
static int pidfd_open_compat(pid_t pid) {
#if defined(__linux__) && !defined(DK_NO_LINUX_EXTRAS) && defined(SYS_pidfd_open)
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

static void on_alarm(int signum) {
  (void)signum; /* only there to interrupt flock() */
}

/* Blocks until nobody holds the flock of the file at path, or the
 * deadline: 0, UV_ETIMEDOUT or an error. The timer's first tick comes at
 * the deadline and then every 10 ms: one that lands just before flock()
 * blocks is followed by the next. */
static int wait_on_lock(const char *path, long long deadline) {
  struct sigaction sa, old_sa;
  struct itimerval timer, off;
  long long left = deadline - now_ms();
  int fd, r;

  if (left <= 0)
    return UV_ETIMEDOUT;
  do
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return errno == ENOENT ? 0 : -errno;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_alarm; /* no SA_RESTART: flock() must return EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, &old_sa);
  memset(&timer, 0, sizeof(timer));
  memset(&off, 0, sizeof(off));
  timer.it_value.tv_sec = (time_t)(left / 1000);
  timer.it_value.tv_usec = (suseconds_t)(left % 1000 * 1000);
  timer.it_interval.tv_usec = 10000;
  setitimer(ITIMER_REAL, &timer, NULL);
  for (;;) {
    if (flock(fd, LOCK_SH) == 0) {
      flock(fd, LOCK_UN);
      r = 0;
      break;
    }
    if (errno != EINTR) {
      r = -errno;
      break;
    }
    if (now_ms() >= deadline) {
      r = UV_ETIMEDOUT;
      break;
    }
  }
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old_sa, NULL);
  close(fd);
  return r;
}

/* Waits on the pidfd of `holder` until it exits or the deadline. The pid
 * may have been reused between the check that named it and pidfd_open:
 * only a process that holds the file after its pidfd was opened is waited
 * for. 0 waited (or nothing to wait for: check again), 1 no pidfds here. */
static int wait_on_pidfd(const char *path, uv_pid_t holder, long long deadline) {
  uv_pid_t again = 0;
  int pidfd = pidfd_open_compat((pid_t)holder), err;

  if (pidfd < 0)
    return errno == ESRCH ? 0 : 1;
  err = dk_pid_file_check(path, &again);
  if ((err == 0 || err == DK_ERUNNING) && again == holder) {
    struct pollfd p;
    long long left;
    int r;
    p.fd = pidfd;
    p.events = POLLIN;
    do {
      left = deadline - now_ms();
      p.revents = 0;
      r = left > 0 ? poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) : 0;
    } while (r < 0 && errno == EINTR);
  }
  close(pidfd);
  return 0;
}

/* Waits until no process holds the pid file: 0 once none does,
 * UV_ETIMEDOUT at the deadline (*holder the last one seen, 0 if unknown),
 * or what checking the file failed with. */
static int wait_released(const char *path, long long deadline, uv_pid_t *holder) {
  for (;;) {
    int err = dk_pid_file_check(path, holder);
    if (err == DK_ESTALE || err == UV_ENOENT)
      return 0;
    if (err != 0 && err != DK_ERUNNING && err != UV_EPERM)
      return err;
    if (err == UV_EPERM)
      *holder = 0;
    if (now_ms() >= deadline)
      return UV_ETIMEDOUT;
    if (*holder <= 0 || wait_on_pidfd(path, *holder, deadline) == 1) {
      err = wait_on_lock(path, deadline);
      if (err < 0)
        return err;
    }
  }
}

/* Whole seconds, as start-stop-daemon's --retry takes them. */
static int parse_seconds(const char *s, unsigned *ms) {
  unsigned long v;
  if (tool_parse_uint(s, INT_MAX / 1000, &v) < 0)
    return -1;
  *ms = (unsigned)v * 1000;
  return 0;
}
static const struct option stop_options[] = {
  { "signal", required_argument, NULL, 's' },
  { "timeout", required_argument, NULL, 't' },
  { "kill", no_argument, NULL, 'k' },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* Says why the pid file is still held; STOP_RUNNING. */
static int still_running(const char *path, uv_pid_t holder, const char *after) {
  if (holder > 0)
    fprintf(stderr, "daemoniker: stop: %s: still running (pid %ld) %s\n", path, (long)holder,
            after);
  else
    fprintf(stderr, "daemoniker: stop: %s: still running %s\n", path, after);
  return STOP_RUNNING;
}

/* The result of dk_kill that sent nothing, as stop's exit code. */
static int not_sent(const char *path, int err) {
  uv_pid_t holder = 0;
  if (err == DK_ESTALE || err == UV_ENOENT) {
    printf("not running\n");
    return STOP_GONE;
  }
  if (err == DK_ERUNNING) {
    dk_pid_file_check(path, &holder);
    fprintf(stderr,
            "daemoniker: stop: %s: held by pid %ld, which it does not name; nothing sent\n",
            path, (long)holder);
    return STOP_RUNNING;
  }
  fprintf(stderr, "daemoniker: stop: %s: %s\n", path, dk_strerror(err));
  return err == UV_EPERM ? STOP_RUNNING : STOP_BAD;
}

int tool_stop(int argc, char **argv) {
  unsigned timeout_ms = 10000;
  int signum = SIGTERM, kill_after = 0, c, err;
  uv_pid_t signalled = 0, holder = 0;
  const char *path;
  char after[64];

  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":s:t:kh", stop_options, NULL)) != -1) {
    switch (c) {
    case 's':
      if ((signum = tool_signal_from_name(optarg)) < 0)
        return tool_usage_error("stop: unknown signal '%s'", optarg);
      break;
    case 't':
      if (parse_seconds(optarg, &timeout_ms) < 0)
        return tool_usage_error("stop: --timeout needs whole seconds, not '%s'", optarg);
      break;
    case 'k':
      kill_after = 1;
      break;
    case 'h':
      return tool_help();
    default:
      return tool_bad_option("stop", c, argc, argv);
    }
  }
  if (argc - optind != 1 || argv[optind][0] == '\0')
    return tool_usage_error("%s", "stop takes [options] PIDFILE");
  path = argv[optind];

  dk_pid_file_check(path, &signalled);
  err = dk_kill(path, signum);
  if (err < 0)
    return not_sent(path, err);
  err = wait_released(path, now_ms() + timeout_ms, &holder);
  if (err == UV_ETIMEDOUT && kill_after) {
    /* KILL only for the process that got the first signal: a daemon that
     * took the file since is somebody's new start. */
    if (holder != signalled)
      return still_running(path, holder, "(not the process signalled; not killed)");
    err = dk_kill(path, SIGKILL);
    if (err < 0)
      return not_sent(path, err);
    err = wait_released(path, now_ms() + KILL_WAIT_MS, &holder);
    if (err == UV_ETIMEDOUT)
      return still_running(path, holder, "after KILL");
  }
  if (err == UV_ETIMEDOUT) {
    snprintf(after, sizeof(after), "after %u s", timeout_ms / 1000);
    return still_running(path, holder, after);
  }
  if (err < 0) {
    fprintf(stderr, "daemoniker: stop: %s: %s\n", path, dk_strerror(err));
    return STOP_BAD;
  }
  printf("stopped (pid %ld)\n", (long)signalled);
  return STOP_GONE;
}
