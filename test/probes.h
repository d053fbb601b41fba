/* SPDX-License-Identifier: MIT */
/* What /proc says of a process, and what a pid file's locks say
 * (probes.c). */
#ifndef DK_TEST_PROBES_H
#define DK_TEST_PROBES_H

#include <sys/types.h>

/* 1 while `pid` runs (a zombie does not). */
int dk_test_alive(pid_t pid);
/* 1 if `pid` runs and has no signal pending (SigPnd and ShdPnd are 0). */
int dk_test_alive_unsignalled(pid_t pid);
/* Fields of /proc/PID/stat, counting from 1 as proc(5) does. */
long dk_test_stat_field(pid_t pid, int field);
/* The value of a "Name:" line of /proc/PID/status, in octal or decimal. */
long dk_test_status_field(pid_t pid, const char *name, int base);
/* Waits until a "Name:" line of /proc/PID/status reads `want`, with a
 * deadline; 1 if it did. Nothing tells of a change there, so it is read
 * every millisecond: only for a state a process passes through briefly
 * (a signal mask held around one call). */
int dk_test_wait_status_field(pid_t pid, const char *name, int base, long want, int timeout_ms);
/* How many descriptors this process has open: for leaks. */
int dk_test_count_fds(void);
/* 1 if some process holds an flock on path: what a second instance and
 * `pkill -L` run into. */
int dk_test_is_flocked(const char *path);

#endif
