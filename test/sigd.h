/* SPDX-License-Identifier: MIT */
/* The test daemon (sigd.c) and its command protocol. */
#ifndef DK_TEST_SIGD_H
#define DK_TEST_SIGD_H

#include <sys/types.h>

#include "daemoniker.h"

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
  DK_TEST_REP_FAIL = 5, /* value = line in sigd.c */
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

/* The pid file leads to this daemon: the check names it, and a USR1 sent
 * through the file reaches its handler A (set up with DK_TEST_SET_A). */
void dk_test_sigd_expect_reached(struct dk_test_sigd *d, const char *pid_file);
/* TERM through the pid file: the default handler runs, the daemon exits 0
 * and its pid file goes; then what the test holds is released. */
void dk_test_sigd_stop(struct dk_test_sigd *d, const char *pid_file);

#endif
