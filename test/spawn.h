/* SPDX-License-Identifier: MIT */
/* For the suites that test programs from outside (the daemoniker tool, the
 * echo server): running a program with its output captured and a deadline,
 * and making sure no process a test started outlives it. */
#ifndef DK_TEST_SPAWN_H
#define DK_TEST_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#define DK_SPAWN_OUT_MAX 8192

struct dk_spawn {
  int status;   /* exit code; 128 + signal if killed; -1 if it overran */
  char out[DK_SPAWN_OUT_MAX];
  char err[DK_SPAWN_OUT_MAX];
};

/* Runs argv (argv[0] a path, or a name searched in PATH) to its end, with
 * stdin from /dev/null and stdout/stderr captured. It must be done, and
 * every holder of its stdout and stderr gone, within timeout_ms; if not,
 * it is killed and status is -1. */
void dk_spawn_run(struct dk_spawn *r, int timeout_ms, const char *const *argv);
#define DK_RUN(r, ...) dk_spawn_run((r), 20000, (const char *const[]){ __VA_ARGS__, NULL })

/* Starts argv with stdin from /dev/null and stdout and stderr to out_path
 * (NULL: /dev/null); returns its pid. */
pid_t dk_spawn_start(const char *const *argv, const char *out_path);

/* waitpid with a deadline: 1 and *status (as dk_spawn.status) once the
 * child exited, 0 if it still runs after timeout_ms. */
int dk_spawn_wait(pid_t pid, int timeout_ms, int *status);

/* A checked fixture, after dk_test_enter_tmpdir: every process the test
 * starts carries DK_TEST_MARK=<its directory> in its environment. The
 * teardown kills each one still running; so does a guard process if the
 * test dies without a teardown (a failed ck_assert ends it with _exit).
 * The test process is made a subreaper (see below), and the teardown reaps
 * every child that exited. */
void dk_spawn_setup(void);
void dk_spawn_teardown(void);
/* The checked fixture of suites that spawn: a throw-away directory, and
 * what the test started killed before the directory goes. */
void dk_spawn_fixture_setup(void);
void dk_spawn_fixture_teardown(void);
/* How many processes of this test run (zombies do not count). */
int dk_spawn_count_marked(void);
/* Waits until no process of this test runs but `keep` (0: none at all),
 * each waited for through a pidfd; 1 if so within timeout_ms. A process
 * that reported its failure may still be on its way out for a moment. */
int dk_spawn_wait_marked_gone(pid_t keep, int timeout_ms);
/* Become a subreaper: a daemon a test starts is its child once its
 * parents are gone, and its exit status can be waited for (done by
 * dk_spawn_setup). */
void dk_spawn_become_subreaper(void);

/* Reads /proc/PID/cmdline with its NULs turned into spaces (the trailing
 * one dropped); returns its length or -1. */
ssize_t dk_spawn_cmdline(pid_t pid, char *buf, size_t size);

/* Waits until the file at path contains `needle`, by inotify, with a
 * deadline; returns 1 if it did. */
int dk_spawn_wait_content(const char *path, const char *needle, int timeout_ms);

/* A loopback TCP port that was free a moment ago, for a server to take. */
int dk_spawn_free_port(void);

#endif
