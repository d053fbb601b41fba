/* SPDX-License-Identifier: MIT */
/* For test-faults, test-stress and test-peers: every child of a test that
 * is its processes' subreaper (dk_test_become_subreaper), reaped with a
 * deadline. Proves that no process of a daemonizing is left behind: its
 * middle process, its daemon and whatever those forked all end up as this
 * process's children once their parents are gone. */
#ifndef DK_TEST_CHILDREN_H
#define DK_TEST_CHILDREN_H

#include <sys/types.h>

/* Reaps children until none is left (waitpid says ECHILD): their number,
 * or -1 if some child still ran after timeout_ms (then it is still there).
 * Waits on a signalfd for SIGCHLD: no polling. If `pid` is > 0 and gets
 * reaped, its status goes to *status. */
int dk_test_reap_all(int timeout_ms, pid_t pid, int *status);

#endif
