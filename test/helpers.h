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

/* Fields of /proc/PID/stat, counting from 1 as proc(5) does. */
long dk_test_stat_field(pid_t pid, int field);
/* The value of a "Name:" line of /proc/PID/status, in octal or decimal. */
long dk_test_status_field(pid_t pid, const char *name, int base);

/* Whether this process's descriptor count is what it was: for leaks. */
int dk_test_count_fds(void);

/* kill(pid, SIGKILL) and wait for it, for test teardown. */
void dk_test_kill(pid_t pid);

#endif
