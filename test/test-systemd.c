/* SPDX-License-Identifier: MIT */
/* systemd's protocols without libsystemd, as systemd speaks them: the
 * notifications a datagram socket the test binds receives (a path and an
 * abstract name), the watchdog's pings on a loop, and socket activation by
 * the real systemd-socket-activate. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "spawn.h"

#ifndef DK_ACTIVATED
#error "DK_ACTIVATED: the path of the built test/activated helper"
#endif
#define SOCKET_ACTIVATE "/usr/bin/systemd-socket-activate"

/* CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC is: libuv's clock. */
static long long now_us(void) {
  return (long long)(uv_hrtime() / 1000);
}

/* --- the supervisor's end: a datagram socket ------------------------------ */

/* Binds a datagram socket at `name`: a path, or with a leading '@' an
 * abstract name, as $NOTIFY_SOCKET spells them; sets NOTIFY_SOCKET to it. */
static int notify_socket(const char *name) {
  struct sockaddr_un addr;
  size_t len = strlen(name);
  socklen_t addr_len;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  ck_assert_uint_lt(len, sizeof(addr.sun_path));
  memcpy(addr.sun_path, name, len);
  addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  if (name[0] == '@')
    addr.sun_path[0] = '\0'; /* abstract: the name is exactly len bytes */
  else
    addr_len++;
  ck_assert_msg(bind(fd, (struct sockaddr *)&addr, addr_len) == 0, "bind %s: %s", name,
                strerror(errno));
  ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
  return fd;
}

/* The next datagram, within timeout_ms; its length in *len (its bytes are
 * compared whole: no NUL is added to what came). */
static const char *next_message(int fd, int timeout_ms, ssize_t *len) {
  static char msg[4096];
  struct pollfd p = { fd, POLLIN, 0 };
  ck_assert_msg(poll(&p, 1, timeout_ms) == 1, "no notification within %d ms", timeout_ms);
  *len = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
  ck_assert_int_ge(*len, 0);
  msg[*len] = '\0';
  return msg;
}

static void expect_message(int fd, const char *want) {
  ssize_t len;
  const char *got = next_message(fd, 5000, &len);
  ck_assert_msg(len == (ssize_t)strlen(want) && memcmp(got, want, (size_t)len) == 0,
                "received %zd bytes '%s', wanted %zu bytes '%s'", len, got, strlen(want), want);
}

static int nothing_pending(int fd) {
  struct pollfd p = { fd, POLLIN, 0 };
  return poll(&p, 1, 0) == 0;
}

static const char *abstract_name(void) {
  static char name[64];
  snprintf(name, sizeof(name), "@dk-test-notify-%ld-%lld", (long)getpid(), now_us());
  return name;
}

/* --- notifications --------------------------------------------------------- */

static void each_message_byte_exact(int fd) {
  ck_assert_int_eq(dk_notify("READY=1"), 1);
  expect_message(fd, "READY=1");
  ck_assert_int_eq(dk_notify("STATUS=serving 3 clients\nEXTEND_TIMEOUT_USEC=5000000\n"), 1);
  expect_message(fd, "STATUS=serving 3 clients\nEXTEND_TIMEOUT_USEC=5000000\n");
  ck_assert_int_eq(dk_notify_stopping(), 1);
  expect_message(fd, "STOPPING=1");
  ck_assert(nothing_pending(fd));
}

START_TEST(test_notify_to_a_path_socket_is_byte_exact) {
  int fd;
  unsetenv("NOTIFY_SOCKET");
  ck_assert_int_eq(dk_notify("READY=1"), 0); /* nobody asked */
  fd = notify_socket(dk_test_path(0, "notify"));
  each_message_byte_exact(fd);
  close(fd);
}
END_TEST

START_TEST(test_notify_to_an_abstract_socket_is_byte_exact) {
  int fd = notify_socket(abstract_name());
  each_message_byte_exact(fd);
  close(fd);
}
END_TEST

/* systemd compares MONOTONIC_USEC with its own clock: it must be
 * CLOCK_MONOTONIC read during the call. */
static void reloading_is_now(int fd) {
  unsigned long long usec;
  long long before, after;
  char tail;
  ssize_t len;
  const char *msg;

  before = now_us();
  ck_assert_int_eq(dk_notify_reloading(), 1);
  after = now_us();
  msg = next_message(fd, 5000, &len);
  ck_assert_int_eq((ssize_t)strlen(msg), len);
  ck_assert_msg(sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%llu%c", &usec, &tail) == 1 &&
                  strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0 && msg[27] >= '0' &&
                  msg[27] <= '9' && msg[len - 1] >= '0' && msg[len - 1] <= '9',
                "not RELOADING=1 and MONOTONIC_USEC=<digits>: '%s'", msg);
  ck_assert_msg((long long)usec >= before && (long long)usec <= after,
                "MONOTONIC_USEC=%llu not within the clock's readings around the call [%lld, %lld]",
                usec, before, after);
}

START_TEST(test_reloading_carries_monotonic_usec_of_the_call) {
  int fd = notify_socket(dk_test_path(0, "notify"));
  reloading_is_now(fd);
  close(fd);
}
END_TEST

START_TEST(test_reloading_to_an_abstract_socket_carries_monotonic_usec) {
  int fd = notify_socket(abstract_name());
  reloading_is_now(fd);
  close(fd);
}
END_TEST

START_TEST(test_notify_errors_name_what_failed) {
  char longname[200];
  ck_assert_int_eq(dk_notify(NULL), UV_EINVAL);
  setenv("NOTIFY_SOCKET", dk_test_path(0, "nobody-listens"), 1);
  ck_assert_int_eq(dk_notify("READY=1"), UV_ENOENT);
  setenv("NOTIFY_SOCKET", "relative/notify", 1);
  ck_assert_int_eq(dk_notify("READY=1"), UV_EINVAL);
  memset(longname, 'x', sizeof(longname) - 1);
  longname[0] = '/';
  longname[sizeof(longname) - 1] = '\0';
  setenv("NOTIFY_SOCKET", longname, 1);
  ck_assert_int_eq(dk_notify("READY=1"), UV_EINVAL);
  setenv("NOTIFY_SOCKET", "@dk-test-nobody-listens-here", 1);
#ifdef DK_NO_LINUX_EXTRAS
  /* Abstract names are Linux's own: refused, not sent somewhere else. */
  ck_assert_int_eq(dk_notify("READY=1"), UV_ENOTSUP);
#else
  ck_assert_int_eq(dk_notify("READY=1"), UV_ECONNREFUSED);
#endif
}
END_TEST

/* A supervisor that does not read (its queue full) costs messages, never
 * the loop: dk_notify runs on it, watchdog pings included. */
START_TEST(test_notify_never_blocks_on_a_full_queue) {
  int fd = notify_socket(dk_test_path(0, "notify")), i, err = 1;
  long long t0;
  for (i = 0; i < 100000 && err == 1; i++) {
    t0 = now_us();
    err = dk_notify("STATUS=filling the supervisor's queue");
    ck_assert_msg(now_us() - t0 < 1000000, "dk_notify blocked for %lld us", now_us() - t0);
  }
  ck_assert_int_eq(err, UV_EAGAIN);
  ck_assert_int_gt(i, 1);
  expect_message(fd, "STATUS=filling the supervisor's queue");
  ck_assert_int_eq(dk_notify("READY=1"), 1); /* room again */
  close(fd);
}
END_TEST

/* The default INT/TERM/ABRT handling tells the supervisor the service is
 * stopping, as it begins to. */
START_TEST(test_default_stop_sends_stopping) {
  uv_loop_t loop;
  dk_signals_t sig;
  int fd = notify_socket(dk_test_path(0, "notify"));

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert(nothing_pending(fd));
  ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
  uv_run(&loop, UV_RUN_DEFAULT); /* until the default handler stops it */
  ck_assert_int_eq(dk_signals_received(&sig), DK_SIGTERM);
  expect_message(fd, "STOPPING=1");
  dk_signals_close(&sig, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert(nothing_pending(fd));
  close(fd);
}
END_TEST

/* --- the watchdog ---------------------------------------------------------- */

/* Receives pings on another thread, so that their times are those they
 * arrived at, whatever the loop is doing. */
#define MAX_PINGS 64
struct pinger_log {
  pthread_t thread;
  int fd;
  int stop_pipe[2];
  int n;
  long long at[MAX_PINGS];
  char bad[128]; /* a message that was not exactly WATCHDOG=1 */
};

static void *receive_pings(void *arg) {
  struct pinger_log *log = arg;
  for (;;) {
    struct pollfd p[2] = { { log->fd, POLLIN, 0 }, { log->stop_pipe[0], POLLIN, 0 } };
    char msg[128];
    ssize_t n;
    if (poll(p, 2, 30000) <= 0 || (p[1].revents & POLLIN))
      return NULL;
    n = recv(log->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
    if (n < 0)
      continue;
    msg[n] = '\0';
    if (n != 10 || memcmp(msg, "WATCHDOG=1", 10) != 0)
      snprintf(log->bad, sizeof(log->bad), "%s", msg);
    if (log->n < MAX_PINGS) {
      log->at[log->n] = now_us();
      __atomic_store_n(&log->n, log->n + 1, __ATOMIC_RELEASE); /* the loop thread counts */
    }
  }
}

static void pings_begin(struct pinger_log *log, int fd) {
  memset(log, 0, sizeof(*log));
  log->fd = fd;
  ck_assert_int_eq(pipe2(log->stop_pipe, O_CLOEXEC), 0);
  ck_assert_int_eq(pthread_create(&log->thread, NULL, receive_pings, log), 0);
}

/* Joins the receiver: every ping sent before the call was received (the
 * socket is drained before the thread stops). */
static void pings_end(struct pinger_log *log) {
  struct pollfd p = { log->fd, POLLIN, 0 };
  long long deadline = now_us() + 5000000;
  /* The receiver takes them: wait until the queue is empty. */
  while (poll(&p, 1, 0) == 1 && __atomic_load_n(&log->n, __ATOMIC_ACQUIRE) < MAX_PINGS &&
         now_us() < deadline)
    sched_yield();
  ck_assert_int_eq(write(log->stop_pipe[1], "x", 1), 1);
  ck_assert_int_eq(pthread_join(log->thread, NULL), 0);
  close(log->stop_pipe[0]);
  close(log->stop_pipe[1]);
  ck_assert_msg(log->bad[0] == '\0', "a ping was '%s', not exactly WATCHDOG=1", log->bad);
}

static uv_loop_t loop;
static dk_watchdog_t wd;
static struct pinger_log plog;
static long long block_start, block_end;

/* Stops the loop once `want` pings arrived, polled every 5 ms (the
 * receiver thread counts them). */
static int want_pings;
static void on_check(uv_timer_t *t) {
  if (__atomic_load_n(&plog.n, __ATOMIC_ACQUIRE) >= want_pings)
    uv_stop(t->loop);
}

static void run_until_pings(int n, int timeout_ms) {
  uv_timer_t check;
  long long deadline = now_us() + timeout_ms * 1000LL;
  want_pings = n;
  uv_timer_init(&loop, &check);
  uv_timer_start(&check, on_check, 5, 5);
  while (__atomic_load_n(&plog.n, __ATOMIC_ACQUIRE) < n && now_us() < deadline)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&check, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_msg(plog.n >= n, "%d pings within %d ms, wanted %d", plog.n, timeout_ms, n);
}

static void close_watchdog(void) {
  dk_watchdog_close(&wd, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* WATCHDOG_USEC=400 ms: a ping every 200 ms. Timers never fire early, so
 * no interval is much shorter than 200 ms (150: the receiver's wake-ups
 * jitter); a loaded machine makes them late, so they are bounded by what
 * matters, arriving well within the 400 ms systemd waits. */
START_TEST(test_watchdog_pings_at_half_the_interval) {
  int fd = notify_socket(dk_test_path(0, "notify")), i;
  long long t0, shortest = -1, total;

  setenv("WATCHDOG_USEC", "400000", 1);
  unsetenv("WATCHDOG_PID");
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_watchdog_init(&loop, &wd), 0);
  pings_begin(&plog, fd);
  t0 = now_us();
  ck_assert_int_eq(dk_watchdog_start(&wd), 1);
  run_until_pings(6, 10000);
  ck_assert_int_eq(dk_watchdog_stop(&wd), 0);
  pings_end(&plog);
  ck_assert_msg(plog.at[0] - t0 >= 150000, "first ping %lld us after start", plog.at[0] - t0);
  for (i = 1; i < plog.n; i++)
    if (shortest < 0 || plog.at[i] - plog.at[i - 1] < shortest)
      shortest = plog.at[i] - plog.at[i - 1];
  total = plog.at[plog.n - 1] - plog.at[0];
  ck_assert_msg(shortest >= 150000, "pings %lld us apart, half the interval is 200000", shortest);
  ck_assert_msg(total / (plog.n - 1) <= 300000, "pings %lld us apart on average",
                total / (plog.n - 1));
  close_watchdog();
  close(fd);
}
END_TEST

static void on_block(uv_timer_t *t) {
  struct timespec ms600 = { 0, 600 * 1000000L };
  block_start = now_us();
  while (nanosleep(&ms600, &ms600) < 0 && errno == EINTR)
    ;
  block_end = now_us();
  uv_close((uv_handle_t *)t, NULL);
}

/* A callback that blocks the loop for 600 ms (three times the 200 ms
 * ping period) stops the pings for as long; they come again after. */
START_TEST(test_watchdog_pings_stop_while_a_callback_blocks_the_loop) {
  int fd = notify_socket(dk_test_path(0, "notify")), i, gap_at = -1, after;
  uv_timer_t blocker;

  setenv("WATCHDOG_USEC", "400000", 1);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_watchdog_init(&loop, &wd), 0);
  pings_begin(&plog, fd);
  ck_assert_int_eq(dk_watchdog_start(&wd), 1);
  run_until_pings(2, 10000);
  uv_timer_init(&loop, &blocker);
  uv_timer_start(&blocker, on_block, 50, 0);
  run_until_pings(plog.n + 3, 10000); /* three more after the block began */
  pings_end(&plog);
  ck_assert_int_gt(block_end, 0);
  /* The ping before the block (give its arrival 50 ms on a loaded
   * machine) and the next one are the block's length apart at least. */
  for (i = 1; i < plog.n; i++)
    if (plog.at[i - 1] <= block_start + 50000 && plog.at[i] >= block_end)
      gap_at = i;
  ck_assert_msg(gap_at > 0, "no gap around the block [%lld, %lld]", block_start, block_end);
  for (i = 0, after = 0; i < plog.n; i++) {
    ck_assert_msg(plog.at[i] <= block_start + 50000 || plog.at[i] >= block_end,
                  "a ping at %lld while the loop was blocked [%lld, %lld]", plog.at[i],
                  block_start, block_end);
    after += plog.at[i] >= block_end;
  }
  ck_assert_int_ge(after, 2);
  ck_assert_int_ge(plog.at[gap_at] - plog.at[gap_at - 1], 550000);
  close_watchdog();
  close(fd);
}
END_TEST

static void close_timer(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, NULL);
}

/* WATCHDOG_PID names the process systemd watches: another one (a parent
 * that forked this one, say) is not asked to ping, this one is. */
START_TEST(test_watchdog_only_for_the_process_watchdog_pid_names) {
  int fd = notify_socket(dk_test_path(0, "notify"));
  uv_timer_t wait;
  char pid[32];

  setenv("WATCHDOG_USEC", "100000", 1);
  snprintf(pid, sizeof(pid), "%ld", (long)getppid());
  setenv("WATCHDOG_PID", pid, 1);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_watchdog_init(&loop, &wd), 0);
  ck_assert_int_eq(dk_watchdog_start(&wd), 0);
  /* Three whole intervals of the loop turning: no ping. */
  uv_timer_init(&loop, &wait);
  uv_timer_start(&wait, close_timer, 300, 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_msg(nothing_pending(fd), "a ping although WATCHDOG_PID is %s", pid);

  snprintf(pid, sizeof(pid), "%ld", (long)getpid());
  setenv("WATCHDOG_PID", pid, 1);
  ck_assert_int_eq(dk_watchdog_start(&wd), 1);
  pings_begin(&plog, fd);
  run_until_pings(1, 5000);
  pings_end(&plog);
  close_watchdog();
  close(fd);
}
END_TEST

START_TEST(test_watchdog_not_asked_and_bad_variables) {
  int fd = notify_socket(dk_test_path(0, "notify"));
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_watchdog_init(&loop, &wd), 0);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  ck_assert_int_eq(dk_watchdog_start(&wd), 0);
  setenv("WATCHDOG_USEC", "0", 1);
  ck_assert_int_eq(dk_watchdog_start(&wd), UV_EINVAL);
  setenv("WATCHDOG_USEC", "20s", 1);
  ck_assert_int_eq(dk_watchdog_start(&wd), UV_EINVAL);
  setenv("WATCHDOG_USEC", "-5", 1);
  ck_assert_int_eq(dk_watchdog_start(&wd), UV_EINVAL);
  setenv("WATCHDOG_USEC", "100000", 1);
  setenv("WATCHDOG_PID", "self", 1);
  ck_assert_int_eq(dk_watchdog_start(&wd), UV_EINVAL);
  setenv("WATCHDOG_PID", "0", 1);
  ck_assert_int_eq(dk_watchdog_start(&wd), UV_EINVAL);
  ck_assert(nothing_pending(fd));
  close_watchdog();
  close(fd);
}
END_TEST

static int closed_with;
static void on_wd_closed(dk_watchdog_t *w) {
  closed_with = *(int *)w->data;
}

/* Pinging is never a reason to run: a loop with nothing but a started
 * watchdog returns from uv_run at once. */
START_TEST(test_watchdog_keeps_no_loop_alive) {
  int fd = notify_socket(dk_test_path(0, "notify")), tag = 42;
  long long t0;

  setenv("WATCHDOG_USEC", "2000000", 1);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_watchdog_init(&loop, &wd), 0);
  wd.data = &tag;
  ck_assert_int_eq(dk_watchdog_start(&wd), 1);
  t0 = now_us();
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_lt(now_us() - t0, 500000); /* not the 1 s to the first ping */
  ck_assert(nothing_pending(fd));
  dk_watchdog_close(&wd, on_wd_closed);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(closed_with, 42);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  close(fd);
}
END_TEST

/* --- socket activation ----------------------------------------------------- */


static int connect_port(int port) {
  struct sockaddr_in addr;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect to %d: %s",
                port, strerror(errno));
  return fd;
}

/* What a client of the activated program reads: the name of the socket
 * it connected to, and then EOF. */
static void expect_served(int fd, const char *name) {
  char buf[300], want[300];
  size_t got = 0;
  ssize_t n;
  struct pollfd p = { fd, POLLIN, 0 };
  snprintf(want, sizeof(want), "%s\n", name);
  while (got < sizeof(buf) - 1) {
    ck_assert_msg(poll(&p, 1, 10000) == 1, "no reply within 10 s (got '%.*s')", (int)got, buf);
    n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      break;
    got += (size_t)n;
  }
  buf[got] = '\0';
  ck_assert_str_eq(buf, want);
  close(fd);
}

/* Runs `systemd-socket-activate -l 127.0.0.1:P... [--fdname=names]
 * activated CAPACITY` on free ports, its output in "activate.out"; returns
 * once it listens on every one. A port another process took in between is
 * tried again with another. */
static pid_t start_activated(int nports, int *ports, const char *fdnames, const char *capacity) {
  int attempt, i, status;
  for (attempt = 0; attempt < 5; attempt++) {
    char l[2][32], fdname[300], want[64];
    const char *argv[16];
    int argc = 0;
    pid_t pid;

    ck_assert_msg(access(SOCKET_ACTIVATE, X_OK) == 0,
                  SOCKET_ACTIVATE ": %s (Debian's systemd package has it)", strerror(errno));
    argv[argc++] = SOCKET_ACTIVATE;
    for (i = 0; i < nports; i++) {
      ports[i] = dk_spawn_free_port();
      snprintf(l[i], sizeof(l[i]), "127.0.0.1:%d", ports[i]);
      argv[argc++] = "-l";
      argv[argc++] = l[i];
    }
    if (fdnames != NULL) {
      snprintf(fdname, sizeof(fdname), "--fdname=%s", fdnames);
      argv[argc++] = fdname;
    }
    argv[argc++] = "-E";
    argv[argc++] = "DK_TEST_MARK"; /* its environment is cleared: keep the teardown's mark */
    argv[argc++] = DK_ACTIVATED;
    argv[argc++] = capacity;
    argv[argc] = NULL;
    unlink("activate.out");
    pid = dk_spawn_start(argv, dk_test_path(0, "activate.out"));
    snprintf(want, sizeof(want), "Listening on %s as %d.", l[nports - 1], 3 + nports - 1);
    if (dk_spawn_wait_content(dk_test_path(0, "activate.out"), want, 10000))
      return pid;
    ck_assert_msg(dk_spawn_wait(pid, 5000, &status), "systemd-socket-activate does not listen");
    ck_assert_msg(dk_spawn_wait_content(dk_test_path(0, "activate.out"), "Address already in use", 0),
                  "systemd-socket-activate exited with %d", status);
  }
  ck_abort_msg("no free ports in 5 attempts");
  return -1;
}

static const char *activated_output(pid_t pid) {
  static char out[4096];
  int status;
  ck_assert_msg(dk_spawn_wait(pid, 10000, &status), "the activated program did not exit");
  ck_assert_int_gt(dk_test_read_file(dk_test_path(0, "activate.out"), out, sizeof(out)), 0);
  ck_assert_msg(status == 0, "the activated program exited with %d: %s", status, out);
  return out;
}

static void expect_line(const char *out, const char *line) {
  ck_assert_msg(strstr(out, line) != NULL, "no '%s' in:\n%s", line, out);
}

START_TEST(test_one_activated_socket_is_unnamed_and_served) {
  int port, fd;
  pid_t pid = start_activated(1, &port, NULL, "4");
  const char *out;
  char line[PATH_MAX + 16];

  fd = connect_port(port); /* the first client is what makes it exec the program */
  expect_served(fd, "unknown");
  out = activated_output(pid);
  expect_line(out, "result=0 count=1\n");
  expect_line(out, "fd=3 name=unknown cloexec=1\n");
  expect_line(out, "env LISTEN_PID=unset LISTEN_FDS=unset LISTEN_FDNAMES=unset\n");
  expect_line(out, "served every socket\n");
  snprintf(line, sizeof(line), "Execing %s", DK_ACTIVATED);
  expect_line(out, line);
}
END_TEST

START_TEST(test_two_named_activated_sockets_each_served) {
  int ports[2], fd;
  pid_t pid = start_activated(2, ports, "web:admin", "2");
  const char *out;

  fd = connect_port(ports[0]);
  expect_served(fd, "web");
  fd = connect_port(ports[1]);
  expect_served(fd, "admin");
  out = activated_output(pid);
  expect_line(out, "result=0 count=2\n");
  expect_line(out, "fd=3 name=web cloexec=1\n");
  expect_line(out, "fd=4 name=admin cloexec=1\n");
  expect_line(out, "env LISTEN_PID=unset LISTEN_FDS=unset LISTEN_FDNAMES=unset\n");
  expect_line(out, "served every socket\n");
}
END_TEST

/* Room for one, two passed: nothing is taken, nothing is changed, and the
 * count says how many to make room for. */
START_TEST(test_too_small_a_capacity_takes_nothing) {
  int ports[2], fd;
  char env[128];
  pid_t pid = start_activated(2, ports, "web:admin", "1");
  const char *out;

  fd = connect_port(ports[0]);
  out = activated_output(pid);
  close(fd);
  expect_line(out, "result=ENOBUFS count=2\n");
  snprintf(env, sizeof(env), "env LISTEN_PID=%ld LISTEN_FDS=2 LISTEN_FDNAMES=web:admin\n", (long)pid);
  expect_line(out, env);
  expect_line(out, "fd3 cloexec=0 fd4 cloexec=0\n");
}
END_TEST

/* The activated program run with the environment as set here, without
 * systemd-socket-activate; "self" makes its LISTEN_PID its own. */
static const char *run_activated(const char *capacity, int self) {
  static struct dk_spawn r;
  if (self)
    DK_RUN(&r, DK_ACTIVATED, capacity, "self");
  else
    DK_RUN(&r, DK_ACTIVATED, capacity);
  ck_assert_msg(r.status == 0, "activated: status %d, stderr '%s'", r.status, r.err);
  return r.out;
}

static const char *const NO_ENV =
  "env LISTEN_PID=unset LISTEN_FDS=unset LISTEN_FDNAMES=unset\n";

START_TEST(test_not_activated_is_count_zero) {
  dk_listen_fd_t fds[2];
  size_t count = 2;
  char pid[32], want[256];

  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  ck_assert_int_eq(dk_listen_fds(fds, &count), 0);
  ck_assert_uint_eq(count, 0);
  snprintf(want, sizeof(want), "result=0 count=0\n%s", NO_ENV);
  expect_line(run_activated("2", 0), want);

  /* Passed to another process (a parent that ran this one without
   * clearing them): not ours, and no longer in the environment. */
  snprintf(pid, sizeof(pid), "%ld", (long)getpid());
  setenv("LISTEN_PID", pid, 1);
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_FDNAMES", "web", 1);
  expect_line(run_activated("2", 0), want);
}
END_TEST

/* Variables that do not describe what was passed are an error, not a
 * guess: a count that is no number, names that do not match it, a
 * descriptor that is not open. */
START_TEST(test_listen_fds_refuses_what_does_not_add_up) {
  dk_listen_fd_t fds[1];
  size_t count = 1;
  char want[256];

  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_FDNAMES", "web:admin", 1);
  snprintf(want, sizeof(want), "result=EINVAL count=0\n%s", NO_ENV);
  expect_line(run_activated("2", 1), want);
  setenv("LISTEN_FDS", "one", 1);
  unsetenv("LISTEN_FDNAMES");
  expect_line(run_activated("2", 1), want);
  /* Descriptors 3 to 1002, most of them not open (valgrind, say, may
   * hold one low one in the program it runs). */
  setenv("LISTEN_FDS", "1000", 1);
  snprintf(want, sizeof(want), "result=EBADF count=0\n%s", NO_ENV);
  expect_line(run_activated("1000", 1), want);

  ck_assert_int_eq(dk_listen_fds(NULL, &count), UV_EINVAL);
  ck_assert_int_eq(dk_listen_fds(fds, NULL), UV_EINVAL);
}
END_TEST

static Suite *systemd_suite(void) {
  Suite *s = suite_create("systemd");
  TCase *tc = dk_test_tcase(s, "notify", dk_test_enter_tmpdir, dk_test_leave_tmpdir, 30);
  tcase_add_test(tc, test_notify_to_a_path_socket_is_byte_exact);
  DK_TEST_ADD_LINUX(tc, test_notify_to_an_abstract_socket_is_byte_exact);
  tcase_add_test(tc, test_reloading_carries_monotonic_usec_of_the_call);
  DK_TEST_ADD_LINUX(tc, test_reloading_to_an_abstract_socket_carries_monotonic_usec);
  tcase_add_test(tc, test_notify_errors_name_what_failed);
  tcase_add_test(tc, test_notify_never_blocks_on_a_full_queue);
  tcase_add_test(tc, test_default_stop_sends_stopping);

  tc = dk_test_tcase(s, "watchdog", dk_test_enter_tmpdir, dk_test_leave_tmpdir, 60);
  tcase_add_test(tc, test_watchdog_pings_at_half_the_interval);
  tcase_add_test(tc, test_watchdog_pings_stop_while_a_callback_blocks_the_loop);
  tcase_add_test(tc, test_watchdog_only_for_the_process_watchdog_pid_names);
  tcase_add_test(tc, test_watchdog_not_asked_and_bad_variables);
  tcase_add_test(tc, test_watchdog_keeps_no_loop_alive);

  tc = dk_test_tcase(s, "socket activation", dk_spawn_fixture_setup, dk_spawn_fixture_teardown, 60);
  tcase_add_test(tc, test_one_activated_socket_is_unnamed_and_served);
  tcase_add_test(tc, test_two_named_activated_sockets_each_served);
  tcase_add_test(tc, test_too_small_a_capacity_takes_nothing);
  tcase_add_test(tc, test_not_activated_is_count_zero);
  tcase_add_test(tc, test_listen_fds_refuses_what_does_not_add_up);
  return s;
}

int main(void) {
  return dk_test_run(systemd_suite());
}
