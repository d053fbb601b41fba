/* SPDX-License-Identifier: MIT */
/* The fixture every suite uses (fixture.c): a throw-away directory per
 * test, small files in it and waits on them with a deadline, tests that
 * need root or the test accounts, and the run. */
#ifndef DK_TEST_FIXTURE_H
#define DK_TEST_FIXTURE_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemoniker.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

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

/* Waits until `path` exists (want=1) or is gone (want=0), by inotify on its
 * directory, with a deadline. Returns 1 if it happened. */
int dk_test_wait_path(const char *path, int want, int timeout_ms);
/* The same wait for any condition on path: done(path, arg) is tested at
 * each change in path's directory. */
int dk_test_wait_in_dir(const char *path, int (*done)(const char *path, const void *arg),
                        const void *arg, int timeout_ms);

/* The pid a pid file names (strict: "<pid>\n"), or -1. */
long dk_test_pid_in_file(const char *path);

/* The fixture of suites that start daemons: a throw-away directory, the
 * test process a subreaper of everything it starts, and whatever it
 * tracked killed before the directory goes. */
void dk_test_daemon_setup(void);
void dk_test_daemon_teardown(void);

/* A test case of suite s with its checked fixture (setup and teardown may
 * be NULL) and timeout in seconds (0: Check's default): what every suite
 * would otherwise write out. */
TCase *dk_test_tcase(Suite *s, const char *name, void (*setup)(void), void (*teardown)(void),
                     int timeout);

/* Tests that can run only as root, or only where the test accounts exist
 * (.ci/test-users makes them: users dk-test, dk-other, dk-many in groups
 * dk-g01..dk-g70 and dk-big, whose /etc/group line is over 16 KiB). Such a
 * test is registered with one of these in place of tcase_add_test:
 *
 *   DK_TEST_ADD_ROOT(tc, test_fn);        needs euid 0
 *   DK_TEST_ADD_USERS(tc, test_fn);       needs the test accounts
 *   DK_TEST_ADD_ROOT_USERS(tc, test_fn);  needs both
 *   DK_TEST_ADD_LINUX(tc, test_fn);       proves what only the Linux
 *                                         extras give (pidfds, /proc,
 *                                         clone, abstract sockets...)
 *
 * Where it can not run it is not added, so it never passes without having
 * run: dk_test_run prints "left out: test_fn: needs root (euid 1001)" and,
 * if every test that did run passed, returns 77, which automake counts as
 * SKIP (and 1 if one failed). The test itself asserts, it does not check
 * again. A DK_TEST_ADD_LINUX test is left out of a build made with
 * --disable-linux-extras (.ci/portable); the harness itself may still use
 * Linux's facilities there. With DK_REQUIRE_TEST_USERS=1 in the environment (bootstrap's
 * legs), a missing account is a failure instead: dk_test_run returns 1. */
enum { DK_TEST_NEEDS_ROOT = 1, DK_TEST_NEEDS_USERS = 2, DK_TEST_NEEDS_LINUX = 4 };
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
#define DK_TEST_ADD_LINUX(tc, fn) DK_TEST_ADD_NEEDING(DK_TEST_NEEDS_LINUX, tc, fn)

/* Runs a suite in Check's fork mode; the exit status for main(): 0, 1 if
 * a test failed (or a required account is missing), 77 if all that ran
 * passed but some were left out (above). */
int dk_test_run(Suite *s);

#endif
