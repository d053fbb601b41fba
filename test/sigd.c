/* SPDX-License-Identifier: MIT */
/* The test daemon: the daemon side of the protocol in sigd.h, and the
 * test's side. */
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
  long long deadline = dk_test_now_ms() + timeout_ms;
  for (;;) {
    struct pollfd p;
    long long left = deadline - dk_test_now_ms();
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
                "the daemon failed at sigd.c line value)", handler,
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

void dk_test_sigd_expect_reached(struct dk_test_sigd *d, const char *pid_file) {
  uv_pid_t pid = 0;
  ck_assert_int_eq(dk_pid_file_check(pid_file, &pid), 0);
  ck_assert_int_eq(pid, d->pid);
  ck_assert_int_eq(dk_send(pid_file, DK_SIGUSR1), 0);
  dk_test_sigd_expect_cb(d, DK_SIGUSR1, DK_TEST_HANDLER_A);
}

void dk_test_sigd_stop(struct dk_test_sigd *d, const char *pid_file) {
  ck_assert_int_eq(dk_send(pid_file, DK_SIGTERM), 0);
  dk_test_sigd_expect_exit(d, DK_SIGTERM);
  dk_test_sigd_close(d);
}
