/* SPDX-License-Identifier: MIT */
/* Bugs found in other daemonizing libraries, each with the peer's name in
 * its test's name, where the suites for daemonizing (test-daemonize,
 * test-faults), sending (test-send), signals (test-signals, test-stress)
 * and Windows (test-win) did not already pin it down. The whole mapping is
 * in the comment at the end of this file.
 *
 * Daemon bodies must not use ck_assert (see test-daemonize.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "children.h"
#include "helpers.h"

#define DAEMON_CHECK(cond) \
  do { \
    if (!(cond)) \
      _exit(99); \
  } while (0)


/* Starts a second instance on `pid_file` in a child process (so that many
 * can run at once): the child exits 0 if dk_daemonize said DK_ERUNNING. */
static pid_t second_instance(const char *pid_file, unsigned flags) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dk_daemonizer_t dz;
    dk_options_t opts;
    int r;
    dk_daemonizer_init(&dz);
    dk_options_init(&opts);
    opts.pid_file = pid_file;
    opts.workdir = dk_test_dir();
    opts.timeout_ms = 10000;
    opts.flags = flags;
    r = dk_daemonize(&dz, &opts, NULL, 0);
    if (r == DK_DAEMON) /* must not happen: a second daemon */
      _exit(98);
    _exit(r == DK_ERUNNING ? 0 : 1);
  }
  return pid;
}

/* --- Daemoniker (Python): a second instance clobbered the pid file of the
 * running daemon, which then could no longer be signalled through it ----- */

START_TEST(test_daemoniker_second_instance_does_not_clobber_live_pid_file) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 } };
  const unsigned flags[] = { 0, DK_WAIT_READY, DK_FOREGROUND };
  struct dk_test_sigd d;
  size_t i;
  int status;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, N_ELEMS(setup_cmds)), DK_PARENT);
  for (i = 0; i < N_ELEMS(flags); i++) {
    pid_t second = second_instance("d.pid", flags[i]);
    ck_assert_int_eq(dk_test_reap(second, 10000, &status), 1);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "second instance (flags %#x) was not refused with DK_ERUNNING: %#x", flags[i],
                  status);
    /* The file still leads to the first daemon, and to it alone. */
    dk_test_sigd_expect_reached(&d, "d.pid");
  }
  dk_test_sigd_stop(&d, "d.pid");
  /* Every refused attempt's processes are gone too. */
  ck_assert_int_ge(dk_test_reap_all(10000, 0, NULL), 0);
}
END_TEST

/* --- Rust daemonize #20: a second instance truncated (opened with
 * O_TRUNC) the pid file of the live daemon before it failed to lock it --- */

START_TEST(test_rust_daemonize_20_second_instances_never_truncate_live_pid_file) {
  struct dk_test_sigd d;
  struct stat before, after;
  char text_before[32], text_after[32], events[4096];
  pid_t seconds[12];
  int in, status, i;
  ssize_t n;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", NULL, 0), DK_PARENT);
  ck_assert_int_eq(stat("d.pid", &before), 0);
  ck_assert_int_gt(dk_test_read_file("d.pid", text_before, sizeof(text_before)), 0);

  /* Any write, truncation, attribute change, removal or renaming of the
   * file shows here; opening and closing it does not. */
  in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  ck_assert_int_ge(in, 0);
  ck_assert_int_ge(inotify_add_watch(in, "d.pid", IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
                                                      IN_MOVE_SELF),
                   0);
  /* Many at once, in every mode. */
  for (i = 0; i < (int)N_ELEMS(seconds); i++)
    seconds[i] = second_instance("d.pid", i % 3 == 0 ? DK_FOREGROUND
                                          : i % 3 == 1 ? DK_WAIT_READY : 0);
  for (i = 0; i < (int)N_ELEMS(seconds); i++) {
    ck_assert_int_eq(dk_test_reap(seconds[i], 10000, &status), 1);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "second instance %d: %#x", i,
                  status);
  }
  n = read(in, events, sizeof(events));
  ck_assert_msg(n < 0 && errno == EAGAIN, "the live pid file was changed (%zd bytes of events)",
                n);
  close(in);
  ck_assert_int_eq(stat("d.pid", &after), 0);
  ck_assert_int_eq(after.st_ino, before.st_ino);
  ck_assert_int_eq(after.st_size, before.st_size);
  ck_assert_int_eq(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  ck_assert_int_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  ck_assert_int_gt(dk_test_read_file("d.pid", text_after, sizeof(text_after)), 0);
  ck_assert_str_eq(text_after, text_before);
  ck_assert(dk_test_is_flocked("d.pid"));
  ck_assert(dk_test_alive(d.pid));
  dk_test_sigd_release(&d);
  ck_assert_int_ge(dk_test_reap_all(10000, 0, NULL), 0);
}
END_TEST

/* --- go-daemon #100 (and #19): the parent returned before the child was
 * ready (its clients' first connections failed), and the child's start-up
 * error never reached the parent --------------------------------------- */

static int listen_unix(const char *path) {
  struct sockaddr_un addr;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;
  if (fd < 0)
    return -errno;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0) {
    err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

/* A daemon that listens on `sock_path`, says it is ready, and serves one
 * connection at a time with "hi" until the release pipe closes; if it can
 * not listen, it says why with dk_ready and exits. */
static int launch_server(const char *sock_path, pid_t *daemon, int *release_w) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int release[2], r;
  ck_assert_int_eq(pipe2(release, O_CLOEXEC), 0);
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = "srv.pid";
  opts.timeout_ms = 10000;
  opts.flags = DK_WAIT_READY;
  opts.keep_fds = &release[0];
  opts.keep_fds_count = 1;
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r == DK_DAEMON) {
    struct pollfd p[2];
    int fd = listen_unix(sock_path);
    if (fd < 0) {
      dk_ready(&dz, fd);
      exit(1);
    }
    DAEMON_CHECK(dk_ready(&dz, 0) == 0);
    p[0].fd = fd;
    p[0].events = POLLIN;
    p[1].fd = release[0];
    p[1].events = POLLIN;
    while (poll(p, 2, 30000) > 0 && !(p[1].revents & (POLLIN | POLLHUP))) {
      int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) {
        DAEMON_CHECK(write(c, "hi", 2) == 2);
        close(c);
      }
    }
    unlink(sock_path);
    exit(0);
  }
  close(release[0]);
  *daemon = dk_daemon_pid(&dz);
  if (r == DK_PARENT)
    *release_w = release[1];
  else
    close(release[1]);
  return r;
}

START_TEST(test_go_daemon_100_parent_returns_only_once_the_daemon_serves) {
  const char *sock_path = dk_test_path(0, "srv.sock");
  int round;
  for (round = 0; round < 20; round++) {
    struct sockaddr_un addr;
    char buf[4] = { 0 };
    pid_t daemon = 0;
    int release_w = -1, fd, status = -1;
    ck_assert_int_eq(launch_server(sock_path, &daemon, &release_w), DK_PARENT);
    /* At once, no retry: go-daemon's clients failed right here. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0,
                  "round %d: connect right after dk_daemonize: %s", round, strerror(errno));
    ck_assert_int_eq(read(fd, buf, 2), 2);
    ck_assert_str_eq(buf, "hi");
    close(fd);
    close(release_w);
    ck_assert_int_eq(dk_test_reap(daemon, 10000, &status), 1);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(access("srv.pid", F_OK), -1);
  }
}
END_TEST

START_TEST(test_go_daemon_19_daemon_start_up_error_reaches_the_parent) {
  const char *sock_path = dk_test_path(0, "srv.sock");
  pid_t daemon = 0;
  int release_w = -1;
  /* The socket's path is taken: the daemon's bind fails. */
  ck_assert_int_eq(dk_test_write_file("srv.sock", "taken"), 0);
  ck_assert_int_eq(launch_server(sock_path, &daemon, &release_w), UV_EADDRINUSE);
  ck_assert_int_gt(daemon, 1);
  ck_assert_int_ge(dk_test_reap_all(10000, 0, NULL), 0);
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(access("srv.pid", F_OK), -1);
}
END_TEST

/* --- libuv #3483: a signal pending at fork time left the child's loop
 * spinning at 100% CPU (there: a uv_signal_t's message caught before
 * fork() and never dispatched). Here the parent has signals pending and
 * blocked when it daemonizes; the daemon, which makes its own loop as the
 * API asks, must block in it: no callback it did not get a signal for, no
 * timeout, and no CPU time spent while it waits. --------------------------- */

struct idle_report {
  int stage;          /* 1: idle checked; 2: USR1 callback; 3: exit */
  int calls;          /* callbacks so far */
  int backend_timeout;
  int value;          /* stage 3: uv_loop_close's result */
};

static struct {
  int fd;
  int calls;
  uv_loop_t loop;
  dk_signals_t sig;
  uv_poll_t test_gone; /* the test closed its end (a failed test): leave */
} idle;

static void idle_send(int stage, int value) {
  struct idle_report r;
  memset(&r, 0, sizeof(r));
  r.stage = stage;
  r.calls = idle.calls;
  r.backend_timeout = uv_backend_timeout(&idle.loop);
  r.value = value;
  DAEMON_CHECK(send(idle.fd, &r, sizeof(r), MSG_NOSIGNAL) == (ssize_t)sizeof(r));
}

static void idle_on_usr1(dk_signals_t *sig, int signum) {
  (void)sig;
  (void)signum;
  idle.calls++;
  idle_send(2, 0);
}

/* Check does not run the teardown of a test that failed: this daemon
 * must not outlive the test process. */
static void idle_on_test_gone(uv_poll_t *handle, int status, int events) {
  (void)handle;
  (void)status;
  (void)events;
  _exit(97);
}

static void idle_daemon(dk_daemonizer_t *dz, int fd) {
  int closed;
  idle.fd = fd;
  DAEMON_CHECK(uv_loop_init(&idle.loop) == 0);
  /* Watched like any descriptor: no wake-up until the test goes. */
  DAEMON_CHECK(uv_poll_init(&idle.loop, &idle.test_gone, fd) == 0);
  DAEMON_CHECK(uv_poll_start(&idle.test_gone, UV_DISCONNECT, idle_on_test_gone) == 0);
  DAEMON_CHECK(dk_signals_init(&idle.loop, &idle.sig, dk_daemonizer_pid_file(dz)) == 0);
  DAEMON_CHECK(dk_signals_set(&idle.sig, DK_SIGUSR1, idle_on_usr1) == 0);
  DAEMON_CHECK(dk_signals_set(&idle.sig, DK_SIGHUP, idle_on_usr1) == 0);
  DAEMON_CHECK(dk_signals_start(&idle.sig) == 0);
  DAEMON_CHECK(dk_ready(dz, 0) == 0);
  /* Twice: the first run registers what the loop watches. */
  uv_run(&idle.loop, UV_RUN_NOWAIT);
  uv_run(&idle.loop, UV_RUN_NOWAIT);
  idle_send(1, 0);
  uv_run(&idle.loop, UV_RUN_DEFAULT); /* until TERM's default stops it */
  uv_close((uv_handle_t *)&idle.test_gone, NULL);
  dk_signals_close(&idle.sig, NULL);
  uv_run(&idle.loop, UV_RUN_DEFAULT);
  closed = uv_loop_close(&idle.loop);
  idle_send(3, closed);
  exit(0);
}

static int next_report(int fd, struct idle_report *r, int timeout_ms) {
  struct pollfd p;
  p.fd = fd;
  p.events = POLLIN;
  if (poll(&p, 1, timeout_ms) != 1)
    return 0;
  return recv(fd, r, sizeof(*r), 0) == (ssize_t)sizeof(*r);
}

static long cpu_ticks(pid_t pid) {
  return dk_test_stat_field(pid, 14) + dk_test_stat_field(pid, 15); /* utime + stime */
}

START_TEST(test_libuv_3483_signals_pending_at_fork_do_not_make_the_daemon_spin) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  struct idle_report r;
  sigset_t block, pending;
  int sv[2], keep, status = -1, i;
  long before, after;
  pid_t daemon;

  /* Pending in the parent, blocked: USR1 and HUP (which the daemon
   * watches), CHLD, and TERM (its default would stop the daemon). */
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGCHLD);
  sigaddset(&block, SIGTERM);
  ck_assert_int_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);
  ck_assert_int_eq(raise(SIGUSR1), 0);
  ck_assert_int_eq(raise(SIGHUP), 0);
  ck_assert_int_eq(raise(SIGCHLD), 0);
  ck_assert_int_eq(raise(SIGTERM), 0);

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = "d.pid";
  opts.timeout_ms = 10000;
  opts.flags = DK_WAIT_READY;
  keep = sv[1];
  opts.keep_fds = &keep;
  opts.keep_fds_count = 1;
  i = dk_daemonize(&dz, &opts, NULL, 0);
  if (i == DK_DAEMON)
    idle_daemon(&dz, sv[1]); /* does not return */
  ck_assert_int_eq(i, DK_PARENT);
  close(sv[1]);
  daemon = dk_daemon_pid(&dz);
  dk_test_track_pid(daemon);

  /* Still pending here, so they were pending across the forks. */
  ck_assert_int_eq(sigpending(&pending), 0);
  ck_assert(sigismember(&pending, SIGUSR1) && sigismember(&pending, SIGTERM));

  /* Idle as it should be: nothing was called, nothing is due. */
  ck_assert_int_eq(next_report(sv[0], &r, 10000), 1);
  ck_assert_int_eq(r.stage, 1);
  ck_assert_int_eq(r.calls, 0);
  ck_assert_int_eq(r.backend_timeout, -1);

  /* And it blocks: no CPU time while the test waits for an event that
   * does not come (a report; the deadline is the measurement). A spinning
   * loop would use all of the 300 ms: 30 ticks. */
  before = cpu_ticks(daemon);
  ck_assert_int_ge(before, 0);
  ck_assert_int_eq(next_report(sv[0], &r, 300), 0);
  after = cpu_ticks(daemon);
  ck_assert_msg(after - before <= 2, "the idle daemon used %ld ticks in 300 ms", after - before);
  ck_assert_int_eq(dk_test_stat_field(daemon, 3), 'S'); /* asleep */

  /* Alive and well: a signal reaches its callback, TERM stops it. */
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR1), 0);
  ck_assert_int_eq(next_report(sv[0], &r, 10000), 1);
  ck_assert_int_eq(r.stage, 2);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGTERM), 0);
  ck_assert_int_eq(next_report(sv[0], &r, 10000), 1);
  ck_assert_int_eq(r.stage, 3);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.value, 0); /* uv_loop_close: all closed, no handle stuck closing */
  ck_assert_int_eq(dk_test_reap(daemon, 10000, &status), 1);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert(dk_test_wait_path(dk_test_path(0, "d.pid"), 0, 10000));
  close(sv[0]);

  /* Ours: discard what is still pending before unblocking. */
  signal(SIGUSR1, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  ck_assert_int_eq(sigprocmask(SIG_UNBLOCK, &block, NULL), 0);
}
END_TEST

static Suite *peers_suite(void) {
  Suite *s = suite_create("peers");
  TCase *tc = dk_test_tcase(s, "peers", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_daemoniker_second_instance_does_not_clobber_live_pid_file);
  tcase_add_test(tc, test_rust_daemonize_20_second_instances_never_truncate_live_pid_file);
  tcase_add_test(tc, test_go_daemon_100_parent_returns_only_once_the_daemon_serves);
  tcase_add_test(tc, test_go_daemon_19_daemon_start_up_error_reaches_the_parent);
  tcase_add_test(tc, test_libuv_3483_signals_pending_at_fork_do_not_make_the_daemon_spin);
  return s;
}

int main(void) {
  return dk_test_run(peers_suite());
}

/* Where each peer's bug is pinned down (POSIX unless said):
 *
 * Daemoniker (Python): a second instance must not clobber a running
 *   daemon's pid file.
 *   test-daemonize: test_live_daemon_gives_erunning_and_is_untouched;
 *   test-peers: test_daemoniker_second_instance_does_not_clobber_live_pid_file;
 *   test-tool: test_run_refuses_a_pid_file_held_by_a_live_daemon;
 *   test-echo-server: test_sighup_reopens_log_and_second_instance_is_refused;
 *   test-win (Windows): test_live_daemon_gives_erunning.
 * go-daemon #19: the child's start-up error must reach the parent.
 *   test-peers: test_go_daemon_19_daemon_start_up_error_reaches_the_parent;
 *   test-daemonize: test_unwritable_pid_file_dir, test_missing_pid_file_dir,
 *   test_unwritable_stdout_path, test_nonexistent_workdir,
 *   test_ready_error_is_the_parents_result,
 *   test_daemon_exiting_before_ready_gives_edied;
 *   test-faults: every step of the path, failing in turn;
 *   test-win: test_startup_failure_is_reported, test_ready_error_exit_and_timeout.
 * go-daemon #100: the parent must not return before the child is ready.
 *   test-peers: test_go_daemon_100_parent_returns_only_once_the_daemon_serves;
 *   test-daemonize: test_wait_ready_returns_after_dk_ready,
 *   test_default_workdir_umask_and_stdio, test_pid_file_holds_daemon_pid_locked_then_gone;
 *   test-echo-server: test_port_in_use_is_the_parents_error.
 * go-daemon #98: signalling through a pid file whose process does not exist
 *   is an error, not a crash.
 *   test-send: test_stale_pid_file_of_dead_process_is_stale,
 *   test_stale_pid_file_left_by_killed_daemon_is_stale,
 *   test_hostile_pid_file_contents_are_refused ("2147483647");
 *   test-tool: test_send_to_stale_pid_file_signals_nobody;
 *   test-win: test_send_refuses_stale_and_bad_pid_files.
 * Rust daemonize #20: a second instance truncating the live pid file.
 *   test-peers: test_rust_daemonize_20_second_instances_never_truncate_live_pid_file;
 *   test-daemonize: test_live_daemon_gives_erunning_and_is_untouched.
 * Rust daemonize #53: a lock failure after the second fork reported as
 *   success.
 *   test-faults: test_each_call_failing_is_reported_and_leaves_nothing
 *   ("flock held (rust-daemonize#53)", "record lock held (rust-daemonize#53)",
 *   "flock error", "record lock error");
 *   test-daemonize: test_live_daemon_gives_erunning_and_is_untouched.
 * An empty pid file left by a crash between create and write must not block
 *   a restart forever.
 *   test-daemonize: test_empty_pid_file_from_a_crash_is_taken_over;
 *   test-faults: test_crash_between_create_and_write_then_restart.
 * libuv #3483: a signal pending at fork time must not leave the daemon
 *   spinning.
 *   test-peers: test_libuv_3483_signals_pending_at_fork_do_not_make_the_daemon_spin;
 *   test-signals: test_idle_started_signals_do_not_poll (in one process).
 */
