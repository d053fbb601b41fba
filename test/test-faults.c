/* SPDX-License-Identifier: MIT */
/* Fault injection on the daemonizing path (POSIX): each system call that
 * dk_daemonize makes in the parent, the middle process or the daemon is
 * made to fail in turn (test/fault-wrap.c, linked with -Wl,--wrap), and
 * each call that the library retries on EINTR gets one EINTR.
 *
 * After an injected failure the parent's dk_daemonize must return the
 * right code (the injected errno as UV_E*; DK_ERUNNING for a lock that is
 * taken; DK_EDIED when the daemon can not have told: its report channel is
 * what failed, or it crashed), with no process of it left (this test is
 * the subreaper of them all, and reaps them with a deadline), no pid file
 * left, and no descriptor more or less in the parent. After an EINTR the
 * call is made again and dk_daemonize succeeds.
 *
 * Every case asserts that its rule fired: a wrapper that is not linked in,
 * or a call the library no longer makes, fails here instead of passing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "children.h"
#include "fault-wrap.h"
#include "helpers.h"

/* The library's own (test-faults links its objects): whether the middle
 * process is made by clone here (src/unix/middle.c). */
int dk__middle_is_cloned(void);

static void setup(void) {
  dk_test_enter_tmpdir();
  dk_test_become_subreaper();
}

static void teardown(void) {
  dk_fault_disarm();
  dk_test_kill_tracked();
  dk_test_leave_tmpdir();
}

/* Daemon bodies must not use ck_assert (see test-daemonize.c): a failed
 * check makes the daemon exit early, which the test sees. */
#define DAEMON_CHECK(cond) \
  do { \
    if (!(cond)) \
      _exit(99); \
  } while (0)

/* How a case sets its daemon up. */
enum {
  OPT_WAIT_READY = 1, /* DK_WAIT_READY; the daemon calls dk_ready(0) */
  OPT_SELF_USER = 2,  /* user and group: this process's own (setgroups/setgid/setuid run) */
  OPT_NOBODY = 4,     /* user nobody (root only) */
  OPT_SHORT_TIMEOUT = 8 /* timeout_ms 200 */
};

struct run {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int release[2];
  int keep[1];
  int fds_before;
  pid_t pid;
};

static void wait_for_release(int fd) {
  struct pollfd p;
  p.fd = fd;
  p.events = POLLIN;
  while (poll(&p, 1, 30000) < 0 && errno == EINTR)
    ;
}

/* Daemonizes with `rules` armed. In the daemon: dk_ready if asked, then
 * wait until the test closes the release pipe, and exit normally. Returns
 * dk_daemonize's result, in the parent only. */
static int launch(struct run *t, unsigned options, const struct dk_fault *rules, int nrules) {
  static char user[64], group[64];
  int r;

  memset(t, 0, sizeof(*t));
  ck_assert_int_eq(dk_daemonizer_init(&t->dz), 1);
  dk_options_init(&t->opts);
  t->opts.pid_file = "d.pid";
  t->opts.stdout_path = "out.log"; /* so that only stdin is /dev/null */
  t->opts.stderr_path = "err.log";
  t->opts.workdir = dk_test_dir();
  t->opts.timeout_ms = (options & OPT_SHORT_TIMEOUT) ? 200 : 10000;
  if (options & OPT_WAIT_READY)
    t->opts.flags = DK_WAIT_READY;
  if (options & OPT_SELF_USER) {
    snprintf(user, sizeof(user), "%s", getpwuid(geteuid())->pw_name);
    snprintf(group, sizeof(group), "%s", getgrgid(getegid())->gr_name);
    t->opts.user = user;
    t->opts.group = group;
  }
  if (options & OPT_NOBODY)
    t->opts.user = "nobody";

  t->fds_before = dk_test_count_fds();
  ck_assert_int_eq(pipe2(t->release, O_CLOEXEC), 0);
  t->keep[0] = t->release[0];
  t->opts.keep_fds = t->keep;
  t->opts.keep_fds_count = 1;

  dk_fault_arm(rules, nrules);
  r = dk_daemonize(&t->dz, &t->opts, NULL, 0);
  if (r == DK_DAEMON) {
    if (options & OPT_WAIT_READY) /* its report is on the path too */
      DAEMON_CHECK(dk_ready(&t->dz, 0) == 0);
    dk_fault_disarm();
    wait_for_release(t->release[0]);
    exit(0);
  }
  dk_fault_disarm();
  close(t->release[0]);
  t->pid = dk_daemon_pid(&t->dz);
  return r;
}

static void assert_fired(const struct dk_fault *rule, int i) {
  ck_assert_msg(dk_fault_fired(i) == 1, "the rule on %s (role %d, nth call %d) never fired",
                dk_fault_call_name(rule->call), rule->role, rule->nth);
}

/* A rule on the clone of the middle, or on its stack's mmap: where the
 * middle is forked on purpose (valgrind, musl, no Linux extras: middle.c
 * says), the rule must never fire, and the case runs the fork path. */
static void assert_clone_rule(const struct dk_fault *rule, int i) {
  if (dk__middle_is_cloned()) {
    assert_fired(rule, i);
    return;
  }
  ck_assert_msg(dk_fault_fired(i) == 0, "the middle is forked here, but the rule on %s fired",
                dk_fault_call_name(rule->call));
}

/* The parent was told `want`, and nothing of the attempt is left. */
static void assert_failed_cleanly(struct run *t, int got, int want, const char *what) {
  int n;
  ck_assert_msg(got == want, "%s: dk_daemonize gave %d (%s), want %d (%s)", what, got,
                dk_err_name(got), want, dk_err_name(want));
  /* Still holding the release pipe: a daemon that survived would be
   * waiting on it, and make this time out. */
  n = dk_test_reap_all(10000, 0, NULL);
  ck_assert_msg(n >= 0, "%s: a process of the failed daemonizing is still running", what);
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(errno, ECHILD);
  ck_assert_msg(access("d.pid", F_OK) < 0 && errno == ENOENT, "%s: the pid file was left", what);
  close(t->release[1]);
  ck_assert_msg(dk_test_count_fds() == t->fds_before, "%s: %d descriptors in the parent, were %d",
                what, dk_test_count_fds(), t->fds_before);
}

/* rules[0] refuses the clone, and the last rule is the failure the start
 * meets: it fired, and the parent was told `want` with nothing left. */
static void assert_fails_after_clone(struct run *t, unsigned options,
                                     const struct dk_fault *rules, int nrules, int want,
                                     const char *what) {
  int r = launch(t, options, rules, nrules);
  assert_clone_rule(&rules[0], 0);
  assert_fired(&rules[nrules - 1], nrules - 1);
  assert_failed_cleanly(t, r, want, what);
}

/* dk_daemonize succeeded as if nothing happened; the daemon then exits
 * normally, and is the only process there was to reap. */
static void assert_succeeded(struct run *t, int got, const char *what) {
  int status = -1, n;
  char text[32];
  ck_assert_msg(got == DK_PARENT, "%s: dk_daemonize gave %d (%s)", what, got, dk_err_name(got));
  ck_assert_int_gt(t->pid, 1);
  snprintf(text, sizeof(text), "%ld\n", (long)t->pid);
  {
    char buf[32];
    ck_assert_int_gt(dk_test_read_file("d.pid", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, text); /* whole, one line, the daemon's */
  }
  ck_assert(dk_test_is_flocked("d.pid"));
  ck_assert_int_eq(dk_test_count_fds(), t->fds_before + 1); /* the release pipe's end */
  close(t->release[1]);
  n = dk_test_reap_all(10000, t->pid, &status);
  ck_assert_msg(n == 1, "%s: reaped %d processes, want the daemon alone", what, n);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: daemon status %#x", what,
                status);
  ck_assert_int_eq(access("d.pid", F_OK), -1);
  ck_assert_int_eq(dk_test_count_fds(), t->fds_before);
}

/* --- each call fails --------------------------------------------------------
 *
 * Why each answer is the right one:
 *  - socketpair, the first fork: the parent's own calls; nothing was
 *    started, its errno is the answer. (The first fork is made only where
 *    the middle can not be a clone sharing the parent's memory, or the
 *    clone failed: see test_first_fork_after_failed_clone_is_reported.)
 *  - setsid, the second fork: the middle process reports its errno and
 *    exits; no daemon was made.
 *  - open/dup2 of stdio, chdir, open/flock/fcntl/ftruncate/pwrite of the
 *    pid file, setgroups/setgid/setuid: the daemon reports the errno of the
 *    step that failed and exits; what it made (the pid file) goes with it.
 *    A lock that is held (EWOULDBLOCK from flock, EAGAIN from F_SETLK) is
 *    DK_ERUNNING: another daemon has the file (Rust daemonize #53: that
 *    must never be success). A pwrite that writes nothing is UV_EIO.
 *  - send of the daemon's report (its setup result, or dk_ready's): the
 *    channel itself failed, so no errno can reach the parent, which sees
 *    the channel close without a report: DK_EDIED, and it kills what is
 *    left of the daemon (which would otherwise run on, unacknowledged).
 *  - poll or recv in the parent: the parent's own errno, and the parent
 *    kills the daemon it can no longer hear from.
 */

struct fail_case {
  const char *name;
  unsigned options;
  struct dk_fault rule;
  int want;
};

#define F(call, role, nth, err, arg, path) { call, role, nth, DKF_FAIL, err, arg, path }

static const struct fail_case fail_cases[] = {
  { "socketpair", 0, F(DKF_SOCKETPAIR, DKF_PARENT, 1, EMFILE, DKF_ANY, NULL), UV_EMFILE },
  { "setsid", 0, F(DKF_SETSID, DKF_MIDDLE, 1, EPERM, DKF_ANY, NULL), UV_EPERM },
  { "second fork", 0, F(DKF_FORK, DKF_MIDDLE, 1, ENOMEM, DKF_ANY, NULL), UV_ENOMEM },
  /* A middle that shares the parent's memory (clone) dies there; the
   * parent, suspended until it is gone, then sees the channel close. */
  { "middle killed in its fork", 0, { DKF_FORK, DKF_MIDDLE, 1, DKF_CRASH, 0, DKF_ANY, NULL },
    DK_EDIED },
  { "open stdin", 0, F(DKF_OPEN, DKF_DAEMON, 1, ENFILE, DKF_ANY, "null"), UV_ENFILE },
  { "open stdout", 0, F(DKF_OPEN, DKF_DAEMON, 1, EACCES, DKF_ANY, "out.log"), UV_EACCES },
  { "open stderr", 0, F(DKF_OPEN, DKF_DAEMON, 1, ENOSPC, DKF_ANY, "err.log"), UV_ENOSPC },
  { "dup2 stdin", 0, F(DKF_DUP2, DKF_DAEMON, 1, EBADF, 0, NULL), UV_EBADF },
  { "dup2 stdout", 0, F(DKF_DUP2, DKF_DAEMON, 1, EMFILE, 1, NULL), UV_EMFILE },
  { "dup2 stderr", 0, F(DKF_DUP2, DKF_DAEMON, 1, EBADF, 2, NULL), UV_EBADF },
  { "chdir", 0, F(DKF_CHDIR, DKF_DAEMON, 1, EACCES, DKF_ANY, NULL), UV_EACCES },
  { "open pid file", 0, F(DKF_OPEN, DKF_DAEMON, 1, EROFS, DKF_ANY, "d.pid"), UV_EROFS },
  { "flock error", 0, F(DKF_FLOCK, DKF_DAEMON, 1, ENOLCK, DKF_ANY, NULL), -ENOLCK }, /* libuv 1.44 has no UV_ENOLCK */
  /* Rust daemonize #53: a lock failure after the second fork must be an
   * error in the parent, never success. */
  { "flock held (rust-daemonize#53)", 0, F(DKF_FLOCK, DKF_DAEMON, 1, EWOULDBLOCK, DKF_ANY, NULL),
    DK_ERUNNING },
  { "record lock error", 0, F(DKF_FCNTL, DKF_DAEMON, 1, ENOLCK, F_SETLK, NULL), -ENOLCK },
  { "record lock held (rust-daemonize#53)", 0, F(DKF_FCNTL, DKF_DAEMON, 1, EAGAIN, F_SETLK, NULL),
    DK_ERUNNING },
  { "ftruncate", 0, F(DKF_FTRUNCATE, DKF_DAEMON, 1, EIO, DKF_ANY, NULL), UV_EIO },
  { "linkat of the whole pid file into place", 0, F(DKF_LINKAT, DKF_DAEMON, 1, ENOSPC, DKF_ANY, NULL),
    UV_ENOSPC },
  { "pwrite", 0, F(DKF_PWRITE, DKF_DAEMON, 1, ENOSPC, DKF_ANY, NULL), UV_ENOSPC },
  { "pwrite writes nothing", 0, { DKF_PWRITE, DKF_DAEMON, 1, DKF_ZERO, 0, DKF_ANY, NULL }, UV_EIO },
  { "setgroups", OPT_SELF_USER, F(DKF_SETGROUPS, DKF_DAEMON, 1, EINVAL, DKF_ANY, NULL), UV_EINVAL },
  { "setgid", OPT_SELF_USER, F(DKF_SETGID, DKF_DAEMON, 1, EPERM, DKF_ANY, NULL), UV_EPERM },
  { "setuid", OPT_SELF_USER, F(DKF_SETUID, DKF_DAEMON, 1, EAGAIN, DKF_ANY, NULL), UV_EAGAIN },
  { "send of the setup report", 0, F(DKF_SEND, DKF_DAEMON, 1, EPIPE, DKF_ANY, NULL), DK_EDIED },
  { "send of dk_ready's report", OPT_WAIT_READY, F(DKF_SEND, DKF_DAEMON, 1, ENOBUFS, DKF_ANY, NULL),
    DK_EDIED },
  { "poll in the parent", 0, F(DKF_POLL, DKF_PARENT, 1, ENOMEM, DKF_ANY, NULL), UV_ENOMEM },
  { "recv in the parent", 0, F(DKF_RECV, DKF_PARENT, 1, ENOMEM, DKF_ANY, NULL), UV_ENOMEM },
  { "second recv in the parent", 0, F(DKF_RECV, DKF_PARENT, 2, ENOMEM, DKF_ANY, NULL), UV_ENOMEM },
};

/* Launches with one armed rule and asserts it fired (a clone or mmap rule
 * as assert_clone_rule says). Not skipped: a case that switches to its own
 * user needs a passwd entry, and says so. */
static int launch_case(struct run *t, const char *name, unsigned options,
                       const struct dk_fault *rule) {
  int r;
  ck_assert_msg(!(options & OPT_SELF_USER) || getpwuid(geteuid()) != NULL,
                "%s: needs a passwd entry for uid %ld", name, (long)geteuid());
  r = launch(t, options, rule, 1);
  if (rule->call == DKF_CLONE || rule->call == DKF_MMAP)
    assert_clone_rule(rule, 0);
  else
    assert_fired(rule, 0);
  return r;
}

START_TEST(test_each_call_failing_is_reported_and_leaves_nothing) {
  const struct fail_case *c = &fail_cases[_i];
  struct run t;
  int r;
  r = launch_case(&t, c->name, c->options, &c->rule);
  assert_failed_cleanly(&t, r, c->want, c->name);
}
END_TEST

/* The parent gives up (its poll fails; or the deadline passes) while the
 * middle process has not yet called setsid, so that the daemon's process
 * group does not exist yet: kill(-middle) alone would find nothing, and
 * the middle would go on to start a daemon after dk_daemonize returned.
 * The middle is held at setsid (STALL) to make that moment certain. Only
 * a forked middle runs beside its parent: a cloned one has the parent
 * suspended until it is gone, so the clone is made to fail. */
START_TEST(test_parent_error_before_setsid_leaves_no_daemon) {
  const struct dk_fault rules[] = {
    F(DKF_CLONE, DKF_PARENT, 1, ENOSYS, DKF_ANY, NULL),
    { DKF_SETSID, DKF_MIDDLE, 1, DKF_STALL, 0, DKF_ANY, NULL },
    F(DKF_POLL, DKF_PARENT, 1, ENOMEM, DKF_ANY, NULL),
  };
  struct run t;
  assert_fails_after_clone(&t, 0, rules, 3, UV_ENOMEM, "poll fails before the middle's setsid");
  ck_assert_int_eq(t.pid, 0);
}
END_TEST

START_TEST(test_timeout_before_setsid_leaves_no_daemon) {
  const struct dk_fault rules[] = {
    F(DKF_CLONE, DKF_PARENT, 1, ENOSYS, DKF_ANY, NULL),
    { DKF_SETSID, DKF_MIDDLE, 1, DKF_STALL, 0, DKF_ANY, NULL },
  };
  struct run t;
  assert_fails_after_clone(&t, OPT_SHORT_TIMEOUT, rules, 2, UV_ETIMEDOUT, "timeout before the middle's setsid");
}
END_TEST

/* Where the clone is refused, the parent forks: a fork that fails then is
 * the parent's own errno, as before there were clones. */
START_TEST(test_first_fork_after_failed_clone_is_reported) {
  const struct dk_fault rules[] = {
    F(DKF_CLONE, DKF_PARENT, 1, EAGAIN, DKF_ANY, NULL),
    F(DKF_FORK, DKF_PARENT, 1, EAGAIN, DKF_ANY, NULL),
  };
  struct run t;
  assert_fails_after_clone(&t, 0, rules, 2, UV_EAGAIN, "clone and then the first fork fail");
}
END_TEST

/* A daemon that crashes between creating its pid file and writing its pid
 * leaves an empty file: it is not left behind by the failed start, and a
 * restart is not blocked by it. */
START_TEST(test_crash_between_create_and_write_then_restart) {
  const struct dk_fault rules[] = {
    { DKF_PWRITE, DKF_DAEMON, 1, DKF_CRASH, 0, DKF_ANY, NULL },
  };
  struct run t;
  int r = launch(&t, 0, rules, 1);
  assert_fired(&rules[0], 0);
  assert_failed_cleanly(&t, r, DK_EDIED, "crash between create and write");
  /* The same left by a parent that could not clean up (it was killed
   * too): an empty, unlocked file does not block a restart. */
  ck_assert_int_eq(dk_test_write_file("d.pid", ""), 0);
  r = launch(&t, 0, NULL, 0);
  assert_succeeded(&t, r, "restart over an empty pid file");
}
END_TEST

/* setgroups failing with EPERM is allowed only where no user is being
 * switched away from (an ordinary user "switching" to itself may not call
 * it). Root switching to another user (where setgroups is denied, as in a
 * user namespace) must not go on with root's supplementary groups. */
START_TEST(test_setgroups_eperm_while_switching_user_is_an_error) {
  const struct dk_fault rules[] = { F(DKF_SETGROUPS, DKF_DAEMON, 1, EPERM, DKF_ANY, NULL) };
  struct run t;
  gid_t extra[2] = { 0, 4 };
  int r;
  ck_assert_ptr_nonnull(getpwnam("nobody"));
  /* Groups this test process has, and nobody must not keep. */
  ck_assert_int_eq(setgroups(2, extra), 0);
  r = launch(&t, OPT_NOBODY, rules, 1);
  assert_fired(&rules[0], 0);
  assert_failed_cleanly(&t, r, UV_EPERM, "setgroups EPERM, root to nobody");
}
END_TEST

/* --- EINTR once, and other failures that must not matter ------------------ */

struct ok_case {
  const char *name;
  unsigned options;
  struct dk_fault rule;
};

#define EINTR_ONCE(call, role, arg, path) F(call, role, 1, EINTR, arg, path)

static const struct ok_case ok_cases[] = {
  { "open stdin EINTR", 0, EINTR_ONCE(DKF_OPEN, DKF_DAEMON, DKF_ANY, "null") },
  { "open stdout EINTR", 0, EINTR_ONCE(DKF_OPEN, DKF_DAEMON, DKF_ANY, "out.log") },
  { "open stderr EINTR", 0, EINTR_ONCE(DKF_OPEN, DKF_DAEMON, DKF_ANY, "err.log") },
  { "dup2 stdin EINTR", 0, EINTR_ONCE(DKF_DUP2, DKF_DAEMON, 0, NULL) },
  { "dup2 stdout EINTR", 0, EINTR_ONCE(DKF_DUP2, DKF_DAEMON, 1, NULL) },
  { "dup2 stderr EINTR", 0, EINTR_ONCE(DKF_DUP2, DKF_DAEMON, 2, NULL) },
  { "dup2 stdout EBUSY", 0, F(DKF_DUP2, DKF_DAEMON, 1, EBUSY, 1, NULL) },
  { "chdir EINTR", 0, EINTR_ONCE(DKF_CHDIR, DKF_DAEMON, DKF_ANY, NULL) },
  { "open pid file EINTR", 0, EINTR_ONCE(DKF_OPEN, DKF_DAEMON, DKF_ANY, "d.pid") },
  { "flock EINTR", 0, EINTR_ONCE(DKF_FLOCK, DKF_DAEMON, DKF_ANY, NULL) },
  { "ftruncate EINTR", 0, EINTR_ONCE(DKF_FTRUNCATE, DKF_DAEMON, DKF_ANY, NULL) },
  { "pwrite EINTR", 0, EINTR_ONCE(DKF_PWRITE, DKF_DAEMON, DKF_ANY, NULL) },
  { "pwrite short", 0, { DKF_PWRITE, DKF_DAEMON, 1, DKF_SHORT, 0, DKF_ANY, NULL } },
  { "send of the setup report EINTR", 0, EINTR_ONCE(DKF_SEND, DKF_DAEMON, DKF_ANY, NULL) },
  { "send of dk_ready's report EINTR", OPT_WAIT_READY,
    EINTR_ONCE(DKF_SEND, DKF_DAEMON, DKF_ANY, NULL) },
  { "send of the middle's pid report EINTR", 0, EINTR_ONCE(DKF_SEND, DKF_MIDDLE, DKF_ANY, NULL) },
  /* The middle's report is only the daemon's pid, which the daemon's own
   * report also carries: losing it costs nothing. */
  { "send of the middle's pid report fails", 0, F(DKF_SEND, DKF_MIDDLE, 1, ENOBUFS, DKF_ANY, NULL) },
  /* The middle shares the parent's memory where it can (a clone); where
   * the clone is refused (no such call, a seccomp filter, no process to
   * spare) or its stack can not be mapped, the middle is forked. */
  { "clone ENOSYS: forked instead", 0, F(DKF_CLONE, DKF_PARENT, 1, ENOSYS, DKF_ANY, NULL) },
  { "clone EPERM: forked instead", 0, F(DKF_CLONE, DKF_PARENT, 1, EPERM, DKF_ANY, NULL) },
  { "mmap of the middle's stack ENOMEM: forked instead", 0,
    F(DKF_MMAP, DKF_PARENT, 1, ENOMEM, DKF_ANY, NULL) },
  { "poll EINTR", 0, EINTR_ONCE(DKF_POLL, DKF_PARENT, DKF_ANY, NULL) },
  { "recv EINTR", 0, EINTR_ONCE(DKF_RECV, DKF_PARENT, DKF_ANY, NULL) },
  { "waitpid EINTR", 0, EINTR_ONCE(DKF_WAITPID, DKF_PARENT, DKF_ANY, NULL) },
  /* Not switching away from this user: the EPERM of an unprivileged
   * setgroups is expected and harmless. */
  { "setgroups EPERM, same user", OPT_SELF_USER,
    F(DKF_SETGROUPS, DKF_DAEMON, 1, EPERM, DKF_ANY, NULL) },
};

START_TEST(test_eintr_once_is_retried_and_succeeds) {
  const struct ok_case *c = &ok_cases[_i];
  struct run t;
  int r;
  r = launch_case(&t, c->name, c->options, &c->rule);
  assert_succeeded(&t, r, c->name);
}
END_TEST

/* Without close_range (kernels before 5.9: ENOSYS), descriptors are closed
 * through /proc/self/fd; without that too, up to RLIMIT_NOFILE. Either way
 * an inherited descriptor without O_CLOEXEC is gone in the daemon and the
 * kept one stays. */
static void check_fallback(const struct dk_fault *rules, int nrules, const char *what) {
  char link[64], target[256];
  struct run t;
  int stray = open("stray.txt", O_RDWR | O_CREAT, 0644), r, i;
  ck_assert_int_ge(stray, 0);
  ck_assert_int_eq(dup2(stray, 200), 200); /* far from the rest, below any rlimit */
  close(stray);
  r = launch(&t, 0, rules, nrules);
  for (i = 0; i < nrules; i++)
    assert_fired(&rules[i], i);
  ck_assert_int_eq(r, DK_PARENT);
  snprintf(link, sizeof(link), "/proc/%ld/fd/200", (long)t.pid);
  ck_assert_msg(readlink(link, target, sizeof(target)) < 0, "%s: fd 200 is open in the daemon", what);
  snprintf(link, sizeof(link), "/proc/%ld/fd/%d", (long)t.pid, t.keep[0]);
  ck_assert_msg(readlink(link, target, sizeof(target)) > 0, "%s: the kept fd is closed", what);
  close(200);
  t.fds_before--; /* fd 200 was counted, and is closed again */
  assert_succeeded(&t, r, what);
}

START_TEST(test_without_close_range_fds_are_closed_through_proc) {
  const struct dk_fault rules[] = {
    { DKF_SYSCALL, DKF_DAEMON, 1, DKF_FAIL, ENOSYS, SYS_close_range, NULL },
  };
  check_fallback(rules, 1, "close_range ENOSYS");
}
END_TEST

START_TEST(test_without_close_range_and_proc_fds_are_closed_up_to_the_rlimit) {
  const struct dk_fault rules[] = {
    { DKF_SYSCALL, DKF_DAEMON, 1, DKF_FAIL, ENOSYS, SYS_close_range, NULL },
    { DKF_OPEN, DKF_DAEMON, 1, DKF_FAIL, ENOENT, DKF_ANY, "/proc/self/fd" },
  };
  check_fallback(rules, 2, "close_range ENOSYS, no /proc");
}
END_TEST

static Suite *faults_suite(void) {
  Suite *s = suite_create("faults");
  TCase *tc = dk_test_tcase(s, "fail", setup, teardown, 60);
  tcase_add_loop_test(tc, test_each_call_failing_is_reported_and_leaves_nothing, 0,
                      (int)N_ELEMS(fail_cases));
  tcase_add_test(tc, test_parent_error_before_setsid_leaves_no_daemon);
  tcase_add_test(tc, test_timeout_before_setsid_leaves_no_daemon);
  tcase_add_test(tc, test_first_fork_after_failed_clone_is_reported);
  tcase_add_test(tc, test_crash_between_create_and_write_then_restart);
  DK_TEST_ADD_ROOT(tc, test_setgroups_eperm_while_switching_user_is_an_error);

  tc = dk_test_tcase(s, "retry", setup, teardown, 60);
  tcase_add_loop_test(tc, test_eintr_once_is_retried_and_succeeds, 0, (int)N_ELEMS(ok_cases));
  DK_TEST_ADD_LINUX(tc, test_without_close_range_fds_are_closed_through_proc);
  DK_TEST_ADD_LINUX(tc, test_without_close_range_and_proc_fds_are_closed_up_to_the_rlimit);
  return s;
}

int main(void) {
  return dk_test_run(faults_suite());
}
