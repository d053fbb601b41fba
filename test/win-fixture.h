/* SPDX-License-Identifier: MIT */
/* The fixture of the Windows suites (test-win, test-service; built only
 * for Windows): a throw-away directory per test, small files in it, and
 * the wait on the events.log their other side writes there. */
#ifndef DK_TEST_WIN_FIXTURE_H
#define DK_TEST_WIN_FIXTURE_H

#include <check.h>
#include <stddef.h>

#include "daemoniker.h" /* uv.h brings winsock2.h, which must come first */
#include <windows.h>

/* The test's directory, made by dk_win_make_dir. */
extern char dk_win_dir[MAX_PATH];

/* A checked fixture's halves: a fresh directory under the temp path,
 * named prefix-pid-ticks-n; and that directory removed with all in it. */
void dk_win_make_dir(const char *prefix);
void dk_win_remove_dir(void);
/* dir\name, in a static buffer per slot (0..3). */
const char *dk_win_path(int slot, const char *name);

/* Reads a whole small file; returns its length or -1. */
int dk_win_read_text(const char *path, char *buf, size_t size);
int dk_win_exists(const char *path);
/* Appends fmt (with arg) and a newline to where\events.log. */
void dk_win_note(const char *where, const char *fmt, const char *arg);

/* Whether the test directory's events.log holds `line`; the wait for it,
 * `ms` at most. */
int dk_win_has_event(const char *line);
int dk_win_wait_for_event(const char *line, DWORD ms);

/* Runs the suite in this process (the tests start their own processes
 * and services); 0 if every test passed, else 1. */
int dk_win_run(Suite *s);

#endif
