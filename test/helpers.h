/* Shared by the Check suites: throw-away directories, waiting on a pid or a
 * file with a deadline, and reading what /proc says of a process. */
#ifndef DK_TEST_HELPERS_H
#define DK_TEST_HELPERS_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemoniker.h"

/* A checked fixture: every test runs in a fresh directory under $TMPDIR,
 * which is its cwd, and which is removed afterwards. */
void dk_test_enter_tmpdir(void);
void dk_test_leave_tmpdir(void);
const char *dk_test_dir(void);
/* dir/name, in a static buffer per slot (0..3). */
const char *dk_test_path(int slot, const char *name);

/* Reads a whole small file; returns its length or -1. */
ssize_t dk_test_read_file(const char *path, char *buf, size_t size);
int dk_test_write_file(const char *path, const char *text);

/* 1 once `pid` has exited (a zombie counts: pid 1 may not reap), 0 if it
 * still runs after timeout_ms. */
int dk_test_wait_exit(pid_t pid, int timeout_ms);
int dk_test_alive(pid_t pid);
/* Waits until `path` exists (want=1) or is gone (want=0), by inotify on its
 * directory, with a deadline. Returns 1 if it happened. */
int dk_test_wait_path(const char *path, int want, int timeout_ms);
/* The same wait for any condition on path: done(path, arg) is tested at
 * each change in path's directory. */
int dk_test_wait_in_dir(const char *path, int (*done)(const char *path, const void *arg),
                        const void *arg, int timeout_ms);

/* Fields of /proc/PID/stat, counting from 1 as proc(5) does. */
long dk_test_stat_field(pid_t pid, int field);
/* The value of a "Name:" line of /proc/PID/status, in octal or decimal. */
long dk_test_status_field(pid_t pid, const char *name, int base);

/* Whether this process's descriptor count is what it was: for leaks. */
int dk_test_count_fds(void);

/* The pid a pid file names (strict: "<pid>\n"), or -1. */
long dk_test_pid_in_file(const char *path);
/* 1 if some process holds an flock on path: what a second instance and
 * `pkill -L` run into. */
int dk_test_is_flocked(const char *path);

/* The fixture of suites that start daemons: a throw-away directory, the
 * test process a subreaper of everything it starts, and whatever it
 * tracked killed before the directory goes. */
void dk_test_daemon_setup(void);
void dk_test_daemon_teardown(void);

/* Tests that can run only as root, or only where the test accounts exist
 * (.ci/test-users makes them: users dk-test, dk-other, dk-many in groups
 * dk-g01..dk-g70 and dk-big, whose /etc/group line is over 16 KiB). Such a
 * test is registered with one of these in place of tcase_add_test:
 *
 *   DK_TEST_ADD_ROOT(tc, test_fn);        needs euid 0
 *   DK_TEST_ADD_USERS(tc, test_fn);       needs the test accounts
 *   DK_TEST_ADD_ROOT_USERS(tc, test_fn);  needs both
 *
 * Where it can not run it is not added, so it never passes without having
 * run: dk_test_run prints "left out: test_fn: needs root (euid 1001)" and,
 * if every test that did run passed, returns 77, which automake counts as
 * SKIP (and 1 if one failed). The test itself asserts, it does not check
 * again. With DK_REQUIRE_TEST_USERS=1 in the environment (bootstrap's
 * legs), a missing account is a failure instead: dk_test_run returns 1. */
enum { DK_TEST_NEEDS_ROOT = 1, DK_TEST_NEEDS_USERS = 2 };
/* 1 if a test that needs `needs` can run here; if not, notes it as left
 * out (or missing accounts as a failure) for dk_test_run. */
int dk_test_can_run(const char *test, unsigned needs);
#define DK_TEST_ADD_NEEDING(needs, tc, fn) \
  do { \
    if (dk_test_can_run(#fn, (needs))) \
      tcase_add_test((tc), fn); \
  } while (0)
#define DK_TEST_ADD_ROOT(tc, fn) DK_TEST_ADD_NEEDING(DK_TEST_NEEDS_ROOT, tc, fn)
#define DK_TEST_ADD_USERS(tc, fn) DK_TEST_ADD_NEEDING(DK_TEST_NEEDS_USERS, tc, fn)
#define DK_TEST_ADD_ROOT_USERS(tc, fn) \
  DK_TEST_ADD_NEEDING(DK_TEST_NEEDS_ROOT | DK_TEST_NEEDS_USERS, tc, fn)

/* Runs a suite in Check's fork mode; the exit status for main(): 0, 1 if
 * a test failed (or a required account is missing), 77 if all that ran
 * passed but some were left out (above). */
int dk_test_run(Suite *s);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* kill(pid, SIGKILL) and wait for it, for test teardown. */
void dk_test_kill(pid_t pid);

/* --- for test-signals and test-send -------------------------------------- */

/* Makes this (test) process the reaper of its orphans, so that a daemon it
 * starts becomes its child once the middle process exits: its exit status
 * can be read, and its pid can not be reused before the test reaps it. */
void dk_test_become_subreaper(void);

/* Processes a test started: dk_test_kill_tracked() SIGKILLs those still
 * running (through a pidfd, so never a reused pid) and reaps every child.
 * For teardown. */
void dk_test_track_pid(pid_t pid);
void dk_test_kill_tracked(void);

/* Waits (with a deadline) for `pid` to exit, then reaps it if it is our
 * child. Returns 1 and *status if reaped, 0 if it exited but is not our
 * child, -1 if it still runs after timeout_ms. */
int dk_test_reap(pid_t pid, int timeout_ms, int *status);

/* fork+exec of `sleep 30`: a live process that is no daemon of ours. It
 * dies with the test process (PR_SET_PDEATHSIG) and is tracked. */
pid_t dk_test_spawn_sleep(void);
/* The same, but with pid `pid` (free: its process was reaped): a reused
 * pid, made on purpose with /proc/sys/kernel/ns_last_pid. -1 if this
 * process may not (not root) or kept losing the race with other forks. */
pid_t dk_test_spawn_sleep_reusing(pid_t pid);
/* 1 if `pid` runs and has no signal pending (SigPnd and ShdPnd are 0). */
int dk_test_alive_unsignalled(pid_t pid);

/* A daemon started by dk_daemonize that runs a libuv loop with
 * dk_signals_init/dk_signals_start, and talks to the test over a
 * SOCK_SEQPACKET socketpair it keeps through keep_fds: the test sends
 * commands (struct dk_test_cmd), the daemon sends reports (struct
 * dk_test_report) from its loop thread. The test closing its end releases
 * the daemon: it closes its handles, reports DK_TEST_REP_EXIT and exits
 * normally. The parent's dk_daemonize returns (DK_WAIT_READY) only once
 * the signals are started. */
enum {
  DK_TEST_SET_A = 1,    /* dk_signals_set(signum, handler A) */
  DK_TEST_SET_B,        /* dk_signals_set(signum, handler B) */
  DK_TEST_SET_SWAP,     /* a handler that reports, then sets handler B */
  DK_TEST_SET_DEFAULT,  /* dk_signals_set(signum, NULL) */
  DK_TEST_IGNORE,       /* dk_signals_ignore(signum) */
  DK_TEST_STOP,         /* dk_signals_stop */
  DK_TEST_START,        /* dk_signals_start */
  DK_TEST_PING,         /* nothing: a round trip through the loop */
  DK_TEST_REOPEN_PIDFILE, /* open and close its own pid file: drops the record lock */
  DK_TEST_FORK_HOLDER,  /* fork() a child that lives on; ACK value: its pid */
  DK_TEST_DIE,          /* _exit(3) at once: no cleanup, the pid file stays */
  DK_TEST_SEND_SELF,    /* dk_send(its own pid file, signum) */
  DK_TEST_CHECK_SELF,   /* dk_pid_file_check(its own pid file): ACK value: the pid */
  DK_TEST_FORK_INHERITOR, /* as FORK_HOLDER, but by a raw clone that runs no atfork handler,
                           * as a child of a program the daemon exec'd: it keeps the pid
                           * file's descriptor and so its flock */
  DK_TEST_HOLD_CLEANUP, /* once uv_run returned, report DK_TEST_REP_CLEANUP and keep
                         * serving commands until the test closes its end; signum
                         * 1: before dk_signals_close, 2: after it */
  DK_TEST_WALK_CLEANUP  /* clean up with libuv's idiom: uv_walk closes every handle,
                         * then dk_signals_stop and dk_signals_close with a callback
                         * that reports DK_TEST_REP_CLOSED and scribbles over the
                         * dk_signals_t (the app may free it there) */
};
enum {
  DK_TEST_REP_CB = 1,   /* signum, value = handler (DK_TEST_HANDLER_*), seq */
  DK_TEST_REP_ACK,      /* signum, value = the command's result, seq = op */
  DK_TEST_REP_EXIT,     /* signum = dk_signals_received, value = uv_loop_close's result */
  DK_TEST_REP_FAIL = 5, /* value = line in helpers.c */
  DK_TEST_REP_CLEANUP,  /* signum = dk_signals_received: the cleanup is held */
  DK_TEST_REP_CLOSED    /* dk_signals_close's callback ran; value = handles left on
                         * the loop (uv_walk), signum = dk_signals_received */
};
enum { DK_TEST_HANDLER_A = 1, DK_TEST_HANDLER_B, DK_TEST_HANDLER_SWAP };
#define DK_TEST_NO_ACK (-99999)

struct dk_test_cmd {
  int op;
  int signum;
};

struct dk_test_report {
  int kind;
  int signum;
  int value;
  int seq;            /* CB: shared->seq[signum] when the callback ran */
  int on_loop_thread; /* uv_thread_self() equals the thread that called uv_run */
};

/* Memory shared between the test and its daemon (MAP_SHARED, inherited
 * across dk_daemonize's forks). */
struct dk_test_shared {
  int seq[16]; /* indexed by DK signal number; the test writes, callbacks read */
};

struct dk_test_sigd {
  dk_daemonizer_t dz;
  dk_options_t opts;
  pid_t pid;
  int sock; /* the test's end */
  int keep[1];
  struct dk_test_shared *shared;
};

/* Daemonizes with pid file `pid_file`, applying `setup` (ops and signals)
 * before dk_signals_start. Returns dk_daemonize's result, in the test
 * process only; the daemon is tracked. */
int dk_test_sigd_launch(struct dk_test_sigd *d, const char *pid_file,
                        const struct dk_test_cmd *setup, size_t nsetup);
/* The next report: 1, 0 if none came within timeout_ms, -1 at EOF. */
int dk_test_sigd_next(struct dk_test_sigd *d, struct dk_test_report *r, int timeout_ms);
/* Sends a command and waits for its ACK: the daemon's result, or
 * DK_TEST_NO_ACK if anything else came first or nothing came in time. */
int dk_test_sigd_command(struct dk_test_sigd *d, int op, int signum);
/* Two round trips through the daemon's loop with no report in between:
 * whatever signal reached it before the call has been dispatched, and
 * called nothing. 1 if so. */
int dk_test_sigd_quiet(struct dk_test_sigd *d);
/* Asserts the next report is a callback for `signum` by `handler`, run on
 * the loop thread. Returns the report's seq. */
int dk_test_sigd_expect_cb(struct dk_test_sigd *d, int signum, int handler);
/* Asserts the daemon's uv_run returned with dk_signals_received ==
 * received, it closed its loop, exited with status 0 and its pid file is
 * gone. */
void dk_test_sigd_expect_exit(struct dk_test_sigd *d, int received);
/* Closes the test's end: the daemon must then exit as above with 0. */
void dk_test_sigd_release(struct dk_test_sigd *d);
/* Releases what the test holds (no assertion): for teardown paths. */
void dk_test_sigd_close(struct dk_test_sigd *d);

#endif
