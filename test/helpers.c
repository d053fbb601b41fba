#define _GNU_SOURCE
#include "helpers.h"

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

/* Only where there are no pidfds (pidfd_open fails with ENOSYS: kernels
 * before 5.3, and valgrind 3.19, which does not know the syscall): whether
 * it still runs is read from /proc/PID/stat every 2 ms until the deadline.
 * Never used where pidfd_open exists. */
static int wait_exit_by_proc(pid_t pid, int timeout_ms) {
  const struct timespec pause = { 0, 2000000 };
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    if (!dk_test_alive(pid))
      return 1;
    if (now_ms() >= deadline)
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

/* Watches path's directory with inotify and tests `done` at each change,
 * until it holds or the deadline passes: no polling. */
int dk_test_wait_in_dir(const char *path, int (*done)(const char *path, const void *arg),
                        const void *arg, int timeout_ms) {
  char dir_buf[PATH_MAX];
  char events[4096];
  long long deadline = now_ms() + timeout_ms;
  int fd, held;

  snprintf(dir_buf, sizeof(dir_buf), "%s", path);
  fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0)
    return 0;
  inotify_add_watch(fd, dirname(dir_buf),
                    IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM |
                        IN_CLOSE_WRITE);
  for (;;) {
    struct pollfd p;
    long long left;
    held = done(path, arg);
    left = deadline - now_ms();
    if (held || left <= 0)
      break;
    p.fd = fd;
    p.events = POLLIN;
    if (poll(&p, 1, (int)left) > 0)
      while (read(fd, events, sizeof(events)) > 0)
        ;
  }
  close(fd);
  return held;
}

static int exists_as_wanted(const char *path, const void *want) {
  return (access(path, F_OK) == 0) == *(const int *)want;
}

int dk_test_wait_path(const char *path, int want, int timeout_ms) {
  return dk_test_wait_in_dir(path, exists_as_wanted, &want, timeout_ms);
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

/* --- for test-signals and test-send -------------------------------------- */

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

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

int dk_test_alive_unsignalled(pid_t pid) {
  return dk_test_alive(pid) && dk_test_status_field(pid, "SigPnd", 16) == 0 &&
         dk_test_status_field(pid, "ShdPnd", 16) == 0;
}

/* The daemon's side. Globals are fine: it is a process of its own. */
static struct {
  dk_daemonizer_t *dz;
  uv_loop_t loop;
  dk_signals_t sig;
  uv_poll_t poll;
  uv_thread_t thread;
  int fd;
  struct dk_test_shared *shared;
  int hold;      /* DK_TEST_HOLD_CLEANUP's signum; 0: no hold */
  int walk;      /* DK_TEST_WALK_CLEANUP */
  int released;
  int closed;    /* dk_signals_close's callback ran */
  int received_at_close;
} sd;

static void sd_report(int kind, int signum, int value, int seq) {
  struct dk_test_report r;
  uv_thread_t now = uv_thread_self();
  memset(&r, 0, sizeof(r));
  r.kind = kind;
  r.signum = signum;
  r.value = value;
  r.seq = seq;
  r.on_loop_thread = uv_thread_equal(&now, &sd.thread);
  /* uv_poll_init made the socket non-blocking: wait for room, since a
   * report lost would look like a signal lost. */
  while (send(sd.fd, &r, sizeof(r), MSG_NOSIGNAL) < 0) {
    struct pollfd p;
    if (errno != EINTR && errno != EAGAIN)
      break;
    p.fd = sd.fd;
    p.events = POLLOUT;
    poll(&p, 1, 1000);
  }
}

#define SD_CHECK(cond) \
  do { \
    if (!(cond)) { \
      sd_report(DK_TEST_REP_FAIL, 0, __LINE__, 0); \
      _exit(99); \
    } \
  } while (0)

static int sd_seq(int signum) {
  if (signum <= 0 || signum >= 16)
    return 0;
  return __atomic_load_n(&sd.shared->seq[signum], __ATOMIC_SEQ_CST);
}

static void sd_on_a(dk_signals_t *sig, int signum) {
  (void)sig;
  sd_report(DK_TEST_REP_CB, signum, DK_TEST_HANDLER_A, sd_seq(signum));
}

static void sd_on_b(dk_signals_t *sig, int signum) {
  (void)sig;
  sd_report(DK_TEST_REP_CB, signum, DK_TEST_HANDLER_B, sd_seq(signum));
}

static void sd_on_swap(dk_signals_t *sig, int signum) {
  sd_report(DK_TEST_REP_CB, signum, DK_TEST_HANDLER_SWAP, sd_seq(signum));
  SD_CHECK(dk_signals_set(sig, signum, sd_on_b) == 0);
}

/* The child of DK_TEST_FORK_HOLDER and DK_TEST_FORK_INHERITOR: lives on
 * with whatever descriptors it kept, takes no signal but SIGKILL (any other stays pending, where
 * the test can see it), and leaves once the test closes its end. */
static void sd_holder_main(void) {
  struct pollfd p;
  sigset_t all;
  int s;
  for (s = 1; s < NSIG; s++)
    signal(s, SIG_DFL);
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  p.fd = sd.fd;
  p.events = POLLRDHUP; /* never read: the commands are the daemon's */
  for (;;) {
    p.revents = 0;
    if (poll(&p, 1, 30000) <= 0 || (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
      break;
  }
  _exit(0);
}

/* Forks the holder, and answers only once it runs: by then a fork()'s
 * child handlers have run (they close the pid file in the child). */
static int sd_fork_holder(int raw) {
  int started[2];
  pid_t child;
  char c;
  if (pipe2(started, O_CLOEXEC) < 0)
    return -errno;
  child = raw ? (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) : fork();
  if (child == 0) {
    close(started[0]);
    if (write(started[1], "x", 1) != 1)
      _exit(1);
    close(started[1]);
    sd_holder_main();
  }
  close(started[1]);
  if (child > 0)
    while (read(started[0], &c, 1) < 0 && errno == EINTR)
      ;
  close(started[0]);
  return child < 0 ? -errno : (int)child;
}

static int sd_apply(int op, int signum) {
  int fd;
  switch (op) {
  case DK_TEST_SET_A: return dk_signals_set(&sd.sig, signum, sd_on_a);
  case DK_TEST_SET_B: return dk_signals_set(&sd.sig, signum, sd_on_b);
  case DK_TEST_SET_SWAP: return dk_signals_set(&sd.sig, signum, sd_on_swap);
  case DK_TEST_SET_DEFAULT: return dk_signals_set(&sd.sig, signum, NULL);
  case DK_TEST_IGNORE: return dk_signals_ignore(&sd.sig, signum);
  case DK_TEST_STOP: return dk_signals_stop(&sd.sig);
  case DK_TEST_START: return dk_signals_start(&sd.sig);
  case DK_TEST_PING: return 0;
  case DK_TEST_REOPEN_PIDFILE:
    fd = open(dk_daemonizer_pid_file(sd.dz), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return -errno;
    close(fd);
    return 0;
  case DK_TEST_FORK_HOLDER:
  case DK_TEST_FORK_INHERITOR:
    return sd_fork_holder(op == DK_TEST_FORK_INHERITOR);
  case DK_TEST_SEND_SELF: return dk_send(dk_daemonizer_pid_file(sd.dz), signum);
  case DK_TEST_CHECK_SELF: {
    uv_pid_t pid = 0;
    int err = dk_pid_file_check(dk_daemonizer_pid_file(sd.dz), &pid);
    return err < 0 ? err : (int)pid;
  }
  case DK_TEST_HOLD_CLEANUP:
    if (signum != 1 && signum != 2)
      return UV_EINVAL;
    sd.hold = signum;
    return 0;
  case DK_TEST_WALK_CLEANUP:
    sd.walk = 1;
    return 0;
  default: return UV_EINVAL;
  }
}

static void sd_count_handle(uv_handle_t *h, void *arg) {
  (void)h;
  ++*(int *)arg;
}

static void sd_on_signals_closed(dk_signals_t *sig) {
  int left = 0;
  SD_CHECK(!sd.closed);
  sd.closed = 1;
  sd.received_at_close = dk_signals_received(sig);
  uv_walk(&sd.loop, sd_count_handle, &left);
  sd_report(DK_TEST_REP_CLOSED, sd.received_at_close, left, 0);
  /* As if freed: libuv must be done with every handle in it by now. */
  memset(sig, 0xa5, sizeof(*sig));
}

static void sd_close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void sd_release(void) {
  if (sd.released)
    return;
  sd.released = 1;
  if (sd.walk) {
    uv_walk(&sd.loop, sd_close_handle, NULL);
    SD_CHECK(dk_signals_stop(&sd.sig) == 0);
    dk_signals_close(&sd.sig, sd_on_signals_closed);
    return;
  }
  if (!uv_is_closing((uv_handle_t *)&sd.poll))
    uv_close((uv_handle_t *)&sd.poll, NULL);
  dk_signals_close(&sd.sig, NULL);
}

static void sd_on_command(uv_poll_t *handle, int status, int events) {
  struct dk_test_cmd c;
  ssize_t n;
  (void)handle;
  (void)events;
  do
    n = recv(sd.fd, &c, sizeof(c), MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN && status == 0)
    return;
  if (n <= 0 || status < 0) {
    sd_release(); /* the test closed its end */
    return;
  }
  SD_CHECK(n == (ssize_t)sizeof(c));
  if (c.op == DK_TEST_DIE) {
    sd_report(DK_TEST_REP_ACK, c.signum, 0, c.op);
    _exit(3);
  }
  sd_report(DK_TEST_REP_ACK, c.signum, sd_apply(c.op, c.signum), c.op);
}

static void sd_main(struct dk_test_sigd *d, int fd, const struct dk_test_cmd *setup,
                    size_t nsetup) {
  int received, closed;
  size_t i;

  sd.dz = &d->dz;
  sd.fd = fd;
  sd.shared = d->shared;
  sd.thread = uv_thread_self();
  SD_CHECK(uv_loop_init(&sd.loop) == 0);
  SD_CHECK(dk_signals_init(&sd.loop, &sd.sig, dk_daemonizer_pid_file(&d->dz)) == 0);
  for (i = 0; i < nsetup; i++)
    SD_CHECK(sd_apply(setup[i].op, setup[i].signum) == 0);
  SD_CHECK(dk_signals_start(&sd.sig) == 0);
  SD_CHECK(uv_poll_init(&sd.loop, &sd.poll, fd) == 0);
  SD_CHECK(uv_poll_start(&sd.poll, UV_READABLE | UV_DISCONNECT, sd_on_command) == 0);
  SD_CHECK(dk_ready(&d->dz, 0) == 0);

  sd.thread = uv_thread_self(); /* the thread that runs the loop */
  uv_run(&sd.loop, UV_RUN_DEFAULT);
  received = sd.closed ? sd.received_at_close : dk_signals_received(&sd.sig);
  if (sd.hold != 0 && !sd.released) {
    /* A cleanup that takes its time: signals that come now must neither
     * kill the daemon nor end this uv_run early. */
    if (sd.hold == 2)
      dk_signals_close(&sd.sig, NULL);
    sd_report(DK_TEST_REP_CLEANUP, received, 0, 0);
    uv_run(&sd.loop, UV_RUN_DEFAULT); /* until the test closes its end */
    SD_CHECK(sd.released);
    received = sd.closed ? sd.received_at_close : dk_signals_received(&sd.sig);
  }
  sd_release();
  uv_run(&sd.loop, UV_RUN_DEFAULT);
  closed = uv_loop_close(&sd.loop);
  sd_report(DK_TEST_REP_EXIT, received, closed, 0);
  exit(0); /* atexit: the pid file goes */
}

int dk_test_sigd_launch(struct dk_test_sigd *d, const char *pid_file,
                        const struct dk_test_cmd *setup, size_t nsetup) {
  int sv[2], r;
  void *shared;

  memset(d, 0, sizeof(*d));
  d->sock = -1;
  shared = mmap(NULL, sizeof(*d->shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                -1, 0);
  ck_assert_ptr_ne(shared, MAP_FAILED);
  d->shared = shared;
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(dk_daemonizer_init(&d->dz), 1);
  dk_options_init(&d->opts);
  d->opts.pid_file = pid_file;
  d->opts.timeout_ms = 10000;
  d->opts.flags = DK_WAIT_READY;
  d->keep[0] = sv[1];
  d->opts.keep_fds = d->keep;
  d->opts.keep_fds_count = 1;

  r = dk_daemonize(&d->dz, &d->opts, NULL, 0);
  if (r == DK_DAEMON)
    sd_main(d, sv[1], setup, nsetup); /* does not return */
  close(sv[1]);
  d->pid = dk_daemon_pid(&d->dz);
  if (r == DK_PARENT) {
    d->sock = sv[0];
    dk_test_track_pid(d->pid);
  } else {
    close(sv[0]);
  }
  return r;
}

int dk_test_sigd_next(struct dk_test_sigd *d, struct dk_test_report *r, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    struct pollfd p;
    long long left = deadline - now_ms();
    ssize_t n;
    int ready;
    p.fd = d->sock;
    p.events = POLLIN;
    ready = poll(&p, 1, left > 0 ? (int)left : 0);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      return 0;
    n = recv(d->sock, r, sizeof(*r), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n == (ssize_t)sizeof(*r))
      return 1;
    return -1;
  }
}

int dk_test_sigd_command(struct dk_test_sigd *d, int op, int signum) {
  struct dk_test_cmd c;
  struct dk_test_report r;
  c.op = op;
  c.signum = signum;
  if (send(d->sock, &c, sizeof(c), MSG_NOSIGNAL) != (ssize_t)sizeof(c))
    return DK_TEST_NO_ACK;
  if (dk_test_sigd_next(d, &r, 10000) != 1 || r.kind != DK_TEST_REP_ACK || r.seq != op ||
      !r.on_loop_thread)
    return DK_TEST_NO_ACK;
  return r.value;
}

int dk_test_sigd_quiet(struct dk_test_sigd *d) {
  /* One round trip can overtake a signal whose message libuv reads in the
   * same loop iteration; in the second, that message has been dispatched. */
  return dk_test_sigd_command(d, DK_TEST_PING, 0) == 0 &&
         dk_test_sigd_command(d, DK_TEST_PING, 0) == 0;
}

int dk_test_sigd_expect_cb(struct dk_test_sigd *d, int signum, int handler) {
  struct dk_test_report r;
  ck_assert_msg(dk_test_sigd_next(d, &r, 10000) == 1, "no report for %s", dk_signal_name(signum));
  ck_assert_msg(r.kind == DK_TEST_REP_CB && r.signum == signum && r.value == handler,
                "want callback %d for %s, got report kind %d signum %d value %d (kind 5: "
                "the daemon failed at helpers.c line value)", handler,
                dk_signal_name(signum), r.kind, r.signum, r.value);
  ck_assert_msg(r.on_loop_thread, "callback for %s ran off the loop thread", dk_signal_name(signum));
  return r.seq;
}

void dk_test_sigd_expect_exit(struct dk_test_sigd *d, int received) {
  struct dk_test_report r;
  int status = -1, reaped;
  ck_assert_msg(dk_test_sigd_next(d, &r, 10000) == 1, "daemon did not report its exit");
  ck_assert_msg(r.kind == DK_TEST_REP_EXIT, "want exit report, got kind %d signum %d value %d",
                r.kind, r.signum, r.value);
  ck_assert_int_eq(r.signum, received);
  ck_assert_int_eq(r.value, 0); /* uv_loop_close: every handle was closed */
  reaped = dk_test_reap(d->pid, 10000, &status);
  ck_assert_msg(reaped >= 0, "daemon %ld did not exit", (long)d->pid);
  if (reaped == 1)
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon exit status %#x",
                  status);
  ck_assert_msg(dk_test_wait_path(dk_daemonizer_pid_file(&d->dz), 0, 10000), "pid file %s is still there",
                dk_daemonizer_pid_file(&d->dz));
}

void dk_test_sigd_release(struct dk_test_sigd *d) {
  shutdown(d->sock, SHUT_WR);
  dk_test_sigd_expect_exit(d, 0);
  dk_test_sigd_close(d);
}

void dk_test_sigd_close(struct dk_test_sigd *d) {
  if (d->sock >= 0)
    close(d->sock);
  d->sock = -1;
  if (d->shared != NULL)
    munmap(d->shared, sizeof(*d->shared));
  d->shared = NULL;
}

long dk_test_pid_in_file(const char *path) {
  char buf[64], *end;
  long pid;
  if (dk_test_read_file(path, buf, sizeof(buf)) <= 0)
    return -1;
  pid = strtol(buf, &end, 10);
  return *end == '\n' && end[1] == '\0' ? pid : -1;
}

int dk_test_is_flocked(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), locked;
  if (fd < 0)
    return 0;
  locked = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close(fd);
  return locked;
}

void dk_test_daemon_setup(void) {
  dk_test_enter_tmpdir();
  dk_test_become_subreaper();
}

void dk_test_daemon_teardown(void) {
  dk_test_kill_tracked();
  dk_test_leave_tmpdir();
}

/* Tests left out by dk_test_can_run, and why; printed by dk_test_run. */
static struct {
  const char *test;
  char why[160];
  int fails; /* a required account is missing */
} left_out[64];
static int n_left_out;

/* The first of the test accounts that is missing, or NULL. */
static const char *missing_test_account(void) {
  static const char *const users[] = { "dk-test", "dk-other", "dk-many" };
  static char group[16];
  size_t i;
  for (i = 0; i < N_ELEMS(users); i++)
    if (getpwnam(users[i]) == NULL)
      return users[i];
  if (getgrnam("dk-big") == NULL)
    return "dk-big";
  for (i = 1; i <= 70; i++) {
    snprintf(group, sizeof(group), "dk-g%02zu", i);
    if (getgrnam(group) == NULL)
      return group;
  }
  return NULL;
}

int dk_test_can_run(const char *test, unsigned needs) {
  const char *account = NULL;
  const char *require = getenv("DK_REQUIRE_TEST_USERS");
  int root = !(needs & DK_TEST_NEEDS_ROOT) || geteuid() == 0;
  if (root && (needs & DK_TEST_NEEDS_USERS))
    account = missing_test_account();
  if (root && account == NULL)
    return 1;
  if (n_left_out == (int)N_ELEMS(left_out)) { /* called from main(), not a test */
    fprintf(stderr, "more than %d tests left out\n", (int)N_ELEMS(left_out));
    exit(1);
  }
  left_out[n_left_out].test = test;
  if (!root) {
    snprintf(left_out[n_left_out].why, sizeof(left_out[0].why), "needs root (euid %ld)",
             (long)geteuid());
  } else {
    left_out[n_left_out].fails = require != NULL && strcmp(require, "1") == 0;
    snprintf(left_out[n_left_out].why, sizeof(left_out[0].why),
             "needs the test accounts, %s is missing (.ci/test-users makes them)%s", account,
             left_out[n_left_out].fails ? ", and DK_REQUIRE_TEST_USERS=1" : "");
  }
  n_left_out++;
  return 0;
}

int dk_test_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  int failed, i;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  for (i = 0; i < n_left_out; i++) {
    printf("%s: %s: %s\n", left_out[i].fails ? "FAILED, not run" : "left out", left_out[i].test,
           left_out[i].why);
    failed += left_out[i].fails;
  }
  if (failed > 0)
    return 1;
  return n_left_out > 0 ? 77 : 0;
}
