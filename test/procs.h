/* SPDX-License-Identifier: MIT */
/* Processes a test starts (procs.c): one clock, waiting for an exit with
 * a deadline, reaping, and killing whatever a test left running. Every
 * runner of the harness (spawn.c too) waits and reaps through these. */
#ifndef DK_TEST_PROCS_H
#define DK_TEST_PROCS_H

#include <sys/types.h>

/* The harness's one clock: libuv's monotonic one, in milliseconds. */
long long dk_test_now_ms(void);

/* 1 once `pid` has exited (a zombie counts: pid 1 may not reap), 0 if it
 * still runs after timeout_ms. No polling where there are pidfds. */
int dk_test_wait_exit(pid_t pid, int timeout_ms);

/* kill(pid, SIGKILL) and wait for it, for test teardown. */
void dk_test_kill(pid_t pid);

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

/* dk_send(path, dk_signum) and dk_pid_file_check(path) as another user
 * than the test's, in a child: as nobody when the test is root, as the
 * test's own (plain) user otherwise. What they gave, through a pipe. */
void dk_test_send_as_nobody(const char *path, int dk_signum, int *send_err, int *check_err);

#endif
