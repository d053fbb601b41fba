/* SPDX-License-Identifier: MIT */
/* The daemoniker tool, run as a user runs it: its exit codes, what it
 * prints, and what it leaves behind (pid files, processes, their locks). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "spawn.h"

#ifndef DK_TOOL
#error "DK_TOOL: the path of the built daemoniker tool"
#endif
#ifndef DK_ECHO_SERVER
#error "DK_ECHO_SERVER: the path of the built echo server example"
#endif
#ifndef DK_SRCDIR
#error "DK_SRCDIR: the source tree, for examples/"
#endif
#ifndef DK_PACKAGE_VERSION
#error "DK_PACKAGE_VERSION: configure's version"
#endif

#define T DK_TOOL


static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

#define assert_contains(haystack, needle) \
  ck_assert_msg(strstr((haystack), (needle)) != NULL, "'%s' does not contain '%s'", (haystack), (needle))

/* A process that is no daemon and holds no pid file: a bystander whose pid
 * a stale pid file may name. */
static pid_t start_bystander(void) {
  pid_t pid = dk_spawn_start((const char *const[]){ "sleep", "30", NULL }, NULL);
  ck_assert_int_gt(pid, 1);
  return pid;
}

/* A pid that is no process any more. */
static pid_t dead_pid(void) {
  pid_t pid = dk_spawn_start((const char *const[]){ "true", NULL }, NULL);
  int status;
  ck_assert_int_gt(pid, 1);
  ck_assert(dk_spawn_wait(pid, 5000, &status));
  return pid;
}

static void write_pid_file(const char *path, long pid) {
  char text[32];
  snprintf(text, sizeof(text), "%ld\n", pid);
  ck_assert_int_eq(dk_test_write_file(path, text), 0);
}

/* `run -- sleep 30` with the pid file at path; returns the daemon's pid. */
static pid_t run_sleep(const char *pid_file) {
  struct dk_spawn r;
  long pid;
  DK_RUN(&r, T, "run", "--pidfile", pid_file, "--", "sleep", "30");
  ck_assert_msg(r.status == 0, "run: status %d, stderr '%s'", r.status, r.err);
  pid = dk_test_pid_in_file(pid_file);
  ck_assert_int_gt(pid, 1);
  return (pid_t)pid;
}

/* The echo server as a daemon, with its log in the test's directory. */
static pid_t start_echo_server(const char *pid_file, const char *log) {
  struct dk_spawn r;
  long pid;
  DK_RUN(&r, DK_ECHO_SERVER, "--pidfile", pid_file, "--log", log, "--port", "0", "--grace", "100");
  ck_assert_msg(r.status == 0, "echo-server: status %d, stderr '%s'", r.status, r.err);
  pid = dk_test_pid_in_file(pid_file);
  ck_assert_int_gt(pid, 1);
  return (pid_t)pid;
}

/* --- help, version, usage errors ---------------------------------------- */

START_TEST(test_help_exits_0_and_shows_usage) {
  static const char *const forms[][3] = {
    { "--help", NULL }, { "-h", NULL }, { "help", NULL },
    { "send", "--help" }, { "status", "--help" }, { "run", "--help" }, { "stop", "--help" },
  };
  struct dk_spawn r;
  size_t i;
  for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    dk_spawn_run(&r, 10000, (const char *const[]){ T, forms[i][0], forms[i][1], NULL });
    ck_assert_msg(r.status == 0, "%s %s: status %d", forms[i][0], forms[i][1] ? forms[i][1] : "", r.status);
    assert_contains(r.out, "usage: daemoniker send PIDFILE SIGNAL");
    assert_contains(r.out, "daemoniker status PIDFILE");
    assert_contains(r.out, "daemoniker run [");
    assert_contains(r.out, "daemoniker stop [--signal SIG] [--timeout SECONDS] [--kill] PIDFILE");
    /* One table of exit codes, the stop's among them. */
    assert_contains(r.out, "exit  send        status           stop           run");
    ck_assert_str_eq(r.err, "");
  }
}
END_TEST

START_TEST(test_version_is_the_package_version) {
  struct dk_spawn r;
  DK_RUN(&r, T, "--version");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "daemoniker " DK_PACKAGE_VERSION "\n");
  /* configure.ac's version and the header's macros are the same. */
  ck_assert_str_eq(dk_version_string(), DK_PACKAGE_VERSION);
  ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(test_usage_errors_exit_2_with_one_line) {
  static const char *const cases[][7] = {
    { NULL },
    { "frobnicate", NULL },
    { "--frobnicate", NULL },
    { "send", NULL },
    { "send", "x.pid", NULL },
    { "send", "x.pid", "TERM", "extra", NULL },
    { "send", "x.pid", "NOSUCHSIGNAL", NULL },
    { "send", "x.pid", "99", NULL },
    { "send", "x.pid", "-1", NULL },
    { "send", "x.pid", "SIGNOPE", NULL },
    { "send", "x.pid", "", NULL },
    { "send", "", "TERM", NULL },
    { "status", NULL },
    { "status", "", NULL },
    { "status", "x.pid", "y.pid", NULL },
    { "stop", NULL },
    { "stop", "", NULL },
    { "stop", "x.pid", "y.pid", NULL },
    { "stop", "--timeout", "soon", "x.pid", NULL },
    { "stop", "--timeout=-1", "x.pid", NULL },
    { "stop", "--timeout", NULL },
    { "stop", "--signal", "NOSUCHSIGNAL", "x.pid", NULL },
    { "stop", "--bogus", "x.pid", NULL },
    { "stop", "--kill=yes", "x.pid", NULL },
    { "run", NULL },
    { "run", "--", NULL },
    { "run", "--pidfile", "x.pid", NULL },
    { "run", "--pidfile", NULL },
    { "run", "--pidfile=", "--", "sleep", "30", NULL },
    { "run", "--bogus", "x", "--", "sleep", "30", NULL },
    { "run", "--timeout", "soon", "--", "sleep", "30", NULL },
    { "run", "--timeout=-1", "--", "sleep", "30", NULL },
  };
  struct dk_spawn r;
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *argv[9] = { T };
    int k;
    for (k = 0; k < 7 && cases[i][k] != NULL; k++)
      argv[k + 1] = cases[i][k];
    dk_spawn_run(&r, 10000, argv);
    ck_assert_msg(r.status == 2, "case %zu (%s ...): status %d, stderr '%s'", i,
                  cases[i][0] ? cases[i][0] : "no arguments", r.status, r.err);
    ck_assert_msg(strncmp(r.err, "daemoniker: ", 12) == 0 && count_lines(r.err) == 1 &&
                  r.err[strlen(r.err) - 1] == '\n',
                  "case %zu: not one 'daemoniker: ' line: '%s'", i, r.err);
    ck_assert_str_eq(r.out, "");
  }
  /* Nothing was started, no pid file written. */
  ck_assert_int_eq(access("x.pid", F_OK), -1);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));
}
END_TEST

/* --- status --------------------------------------------------------------- */

START_TEST(test_status_lsb_codes) {
  struct dk_spawn r;
  pid_t daemon, bystander;

  DK_RUN(&r, T, "status", "none.pid");
  ck_assert_int_eq(r.status, 3);
  assert_contains(r.out, "not running");

  ck_assert_int_eq(dk_test_write_file("garbage.pid", "not a pid\n"), 0);
  DK_RUN(&r, T, "status", "garbage.pid");
  ck_assert_int_eq(r.status, 4);
  assert_contains(r.out, "unknown");

  /* Empty and unlocked: what a daemon that may not remove its file leaves. */
  ck_assert_int_eq(dk_test_write_file("empty.pid", ""), 0);
  DK_RUN(&r, T, "status", "empty.pid");
  ck_assert_int_eq(r.status, 3);

  ck_assert_int_eq(dk_test_write_file("one.pid", "1\n"), 0);
  DK_RUN(&r, T, "status", "one.pid");
  ck_assert_int_eq(r.status, 4);

  write_pid_file("dead.pid", dead_pid());
  DK_RUN(&r, T, "status", "dead.pid");
  ck_assert_int_eq(r.status, 1);
  assert_contains(r.out, "dead");

  /* A live process that does not hold the file: still dead as a daemon. */
  bystander = start_bystander();
  write_pid_file("stale.pid", bystander);
  DK_RUN(&r, T, "status", "stale.pid");
  ck_assert_int_eq(r.status, 1);

  daemon = run_sleep("live.pid");
  DK_RUN(&r, T, "status", "live.pid");
  ck_assert_int_eq(r.status, 0);
  {
    char want[64];
    snprintf(want, sizeof(want), "running (pid %ld)", (long)daemon);
    assert_contains(r.out, want);
  }
  ck_assert(dk_test_alive(bystander));
}
END_TEST

/* --- send ----------------------------------------------------------------- */

START_TEST(test_send_exit_codes) {
  struct dk_spawn r;

  DK_RUN(&r, T, "send", "none.pid", "TERM");
  ck_assert_int_eq(r.status, 1);
  assert_contains(r.err, "no such file or directory");

  write_pid_file("dead.pid", dead_pid());
  DK_RUN(&r, T, "send", "dead.pid", "TERM");
  ck_assert_int_eq(r.status, 1);
  assert_contains(r.err, "stale");

  ck_assert_int_eq(dk_test_write_file("garbage.pid", "12ab\n"), 0);
  DK_RUN(&r, T, "send", "garbage.pid", "TERM");
  ck_assert_int_eq(r.status, 2);
  assert_contains(r.err, "garbage.pid");

  ck_assert_int_eq(dk_test_write_file("empty.pid", ""), 0);
  DK_RUN(&r, T, "send", "empty.pid", "TERM");
  ck_assert_int_eq(r.status, 1);
  ck_assert_int_eq(count_lines(r.err), 1);
}
END_TEST

START_TEST(test_send_to_stale_pid_file_signals_nobody) {
  struct dk_spawn r;
  pid_t bystander = start_bystander();
  /* The file names a live process, but nobody holds its lock: as after a
   * daemon died and its pid was reused. */
  write_pid_file("stale.pid", bystander);
  DK_RUN(&r, T, "send", "stale.pid", "TERM");
  ck_assert_int_eq(r.status, 1);
  assert_contains(r.err, "stale");
  /* Had it been signalled, TERM's default action would end it at once. */
  ck_assert_msg(!dk_test_wait_exit(bystander, 300), "the bystander was killed");
  ck_assert(dk_test_alive(bystander));
  /* The file is left as it was: not the tool's to remove. */
  ck_assert_int_eq(dk_test_pid_in_file("stale.pid"), bystander);
}
END_TEST

/* Every spelling of a signal reaches the daemon as that signal: the echo
 * server logs the name of each one it gets. */
START_TEST(test_send_accepts_signal_names_and_numbers) {
  static const char *const hup_forms[] = { "HUP", "SIGHUP", "hup", "1" };
  static const struct {
    const char *form, *logged;
  } stop_forms[] = {
    { "TERM", "SIGTERM: no new connections" },  { "SIGTERM", "SIGTERM: no new connections" },
    { "15", "SIGTERM: no new connections" },    { "sigTerm", "SIGTERM: no new connections" },
    { "INT", "SIGINT: no new connections" },    { "2", "SIGINT: no new connections" },
  };
  const char *log = dk_test_path(1, "echo.log");
  struct dk_spawn r;
  pid_t pid;
  size_t i;

  pid = start_echo_server("echo.pid", "echo.log");
  for (i = 0; i < sizeof(hup_forms) / sizeof(hup_forms[0]); i++) {
    char old[64];
    /* Rotated away: only this signal's reopening can create it again. */
    snprintf(old, sizeof(old), "echo.log.%zu", i);
    ck_assert_int_eq(rename("echo.log", old), 0);
    DK_RUN(&r, T, "send", "echo.pid", hup_forms[i]);
    ck_assert_msg(r.status == 0, "send %s: status %d, %s", hup_forms[i], r.status, r.err);
    ck_assert_msg(dk_spawn_wait_content(log, "SIGHUP: log file reopened", 10000),
                  "send %s: no SIGHUP logged", hup_forms[i]);
  }
  ck_assert(dk_test_alive(pid));
  DK_RUN(&r, T, "send", "echo.pid", "TERM");
  ck_assert_int_eq(r.status, 0);
  ck_assert(dk_test_wait_exit(pid, 10000));

  for (i = 0; i < sizeof(stop_forms) / sizeof(stop_forms[0]); i++) {
    char name[32];
    snprintf(name, sizeof(name), "stop-%zu.log", i);
    pid = start_echo_server("echo.pid", name);
    DK_RUN(&r, T, "send", "echo.pid", stop_forms[i].form);
    ck_assert_msg(r.status == 0, "send %s: status %d, %s", stop_forms[i].form, r.status, r.err);
    ck_assert_msg(dk_spawn_wait_content(dk_test_path(1, name), stop_forms[i].logged, 10000),
                  "send %s: '%s' not logged", stop_forms[i].form, stop_forms[i].logged);
    ck_assert_msg(dk_test_wait_exit(pid, 10000), "send %s: the server did not stop", stop_forms[i].form);
    ck_assert(dk_test_wait_path(dk_test_path(0, "echo.pid"), 0, 5000));
  }
}
END_TEST

/* --- run -------------------------------------------------------------------- */

START_TEST(test_run_daemonizes_command_holding_locked_pid_file) {
  char cmdline[256], want[64];
  struct dk_spawn r;
  pid_t pid;

  DK_RUN(&r, T, "run", "--pidfile", "s.pid", "--", "sleep", "30");
  ck_assert_msg(r.status == 0, "status %d, stderr '%s'", r.status, r.err);
  pid = (pid_t)dk_test_pid_in_file("s.pid"); /* relative: to the caller's cwd */
  ck_assert_int_gt(pid, 1);
  snprintf(want, sizeof(want), "(pid %ld", (long)pid);
  assert_contains(r.out, want);

  /* The pid file names the command itself, not a wrapper of it. */
  ck_assert_int_gt(dk_spawn_cmdline(pid, cmdline, sizeof(cmdline)), 0);
  ck_assert_str_eq(cmdline, "sleep 30");
  /* Detached: a session and group of its own (it is not their leader),
   * no terminal. */
  ck_assert_int_ne(dk_test_stat_field(pid, 5), getpgrp());
  ck_assert_int_ne(dk_test_stat_field(pid, 6), getsid(0));
  ck_assert_int_ne(dk_test_stat_field(pid, 6), pid);
  ck_assert_int_eq(dk_test_stat_field(pid, 7), 0);
  /* And it holds the pid file's lock, as procps sees it. */
  DK_RUN(&r, "pgrep", "-F", dk_test_path(0, "s.pid"), "-L");
  ck_assert_msg(r.status == 0, "pgrep -F -L: status %d, %s", r.status, r.err);
  ck_assert_int_eq(strtol(r.out, NULL, 10), pid);

  DK_RUN(&r, T, "status", "s.pid");
  ck_assert_int_eq(r.status, 0);
  DK_RUN(&r, T, "send", "s.pid", "TERM");
  ck_assert_msg(r.status == 0, "send: status %d, %s", r.status, r.err);
  ck_assert_msg(dk_test_wait_exit(pid, 5000), "sleep %ld still runs", (long)pid);
  /* The command does not remove the pid file: it is stale now, and the
   * tool says so. */
  DK_RUN(&r, T, "status", "s.pid");
  ck_assert_int_eq(r.status, 1);
  DK_RUN(&r, T, "send", "s.pid", "TERM");
  ck_assert_int_eq(r.status, 1);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));
}
END_TEST

static void assert_run_fails(const char *cmd, const char *reason) {
  char want[PATH_MAX + 64];
  struct dk_spawn r;
  DK_RUN(&r, T, "run", "--pidfile", "f.pid", "--", cmd, "arg");
  ck_assert_msg(r.status != 0 && r.status != -1, "run %s: status %d", cmd, r.status);
  /* The parent says why, naming the command. */
  snprintf(want, sizeof(want), "daemoniker: run: %s: %s", cmd, reason);
  assert_contains(r.err, want);
  ck_assert_int_eq(count_lines(r.err), 1);
  ck_assert_str_eq(r.out, "");
  /* Nothing is left: no pid file, no process. */
  ck_assert_int_eq(access("f.pid", F_OK), -1);
  ck_assert_msg(dk_spawn_wait_marked_gone(0, 5000), "run %s left a process", cmd);
}

START_TEST(test_run_missing_command_fails_in_the_parent) {
  assert_run_fails("dk-no-such-command", "no such file or directory");
  assert_run_fails(dk_test_path(1, "no-such-program"), "no such file or directory");
}
END_TEST

START_TEST(test_run_non_executable_command_fails_in_the_parent) {
  ck_assert_int_eq(dk_test_write_file("script", "#!/bin/sh\nexit 0\n"), 0);
  ck_assert_int_eq(chmod("script", 0644), 0);
  assert_run_fails(dk_test_path(1, "script"), "permission denied");
}
END_TEST

START_TEST(test_run_refuses_a_pid_file_held_by_a_live_daemon) {
  struct dk_spawn r;
  pid_t first = run_sleep("s.pid");
  DK_RUN(&r, T, "run", "--pidfile", "s.pid", "--", "sleep", "31");
  ck_assert_int_eq(r.status, 1);
  assert_contains(r.err, "already holds the pid file");
  {
    char want[128]; /* the refusal names the holder */
    snprintf(want, sizeof(want), "s.pid: a live daemon already holds the pid file (pid %ld)",
             (long)first);
    assert_contains(r.err, want);
  }
  /* The first one is untouched, and the only one. */
  ck_assert(dk_test_alive(first));
  ck_assert_int_eq(dk_test_pid_in_file("s.pid"), first);
  ck_assert(dk_spawn_wait_marked_gone(first, 5000));
  ck_assert_int_eq(dk_spawn_count_marked(), 1);
}
END_TEST

/* A program run as a daemon starts a worker, which inherits the pid file
 * as every child of the program does, and then dies: the worker holds the
 * file now. Every command says so, names it, and signals nobody. */
START_TEST(test_pid_file_kept_by_worker_of_dead_daemon_is_named_everywhere) {
  char script[PATH_MAX + 64], want[64];
  struct dk_spawn r;
  pid_t daemon, worker;
  snprintf(script, sizeof(script), "sleep 300 & echo $! > '%s'; exec sleep 300",
           dk_test_path(0, "worker"));
  DK_RUN(&r, T, "run", "--pidfile", "w.pid", "--", "sh", "-c", script);
  ck_assert_msg(r.status == 0, "run: status %d, stderr '%s'", r.status, r.err);
  ck_assert(dk_spawn_wait_content("worker", "\n", 5000));
  worker = (pid_t)dk_test_pid_in_file("worker");
  daemon = (pid_t)dk_test_pid_in_file("w.pid");
  ck_assert_int_gt(worker, 1);
  ck_assert_int_gt(daemon, 1);
  kill(daemon, SIGKILL);
  ck_assert(dk_test_wait_exit(daemon, 5000));
  snprintf(want, sizeof(want), "held by pid %ld", (long)worker);

  DK_RUN(&r, T, "status", "w.pid");
  ck_assert_int_eq(r.status, 4);
  assert_contains(r.out, want);
  DK_RUN(&r, T, "send", "w.pid", "TERM");
  ck_assert_int_eq(r.status, 1);
  assert_contains(r.err, want);
  /* Not stopped: it still holds the file, and stop may not signal it. */
  DK_RUN(&r, T, "stop", "--timeout", "1", "--kill", "w.pid");
  ck_assert_msg(r.status == 1, "stop: status %d, stderr '%s'", r.status, r.err);
  assert_contains(r.err, want);
  DK_RUN(&r, T, "run", "--pidfile", "w.pid", "--", "sleep", "30");
  ck_assert_int_eq(r.status, 1);
  snprintf(want, sizeof(want), "(pid %ld)", (long)worker);
  assert_contains(r.err, want);
  ck_assert(dk_test_alive_unsignalled(worker));
}
END_TEST

START_TEST(test_run_options_workdir_stdout_stderr) {
  char want[PATH_MAX + 8];
  struct dk_spawn r;
  pid_t pid;
  ck_assert_int_eq(mkdir("work", 0755), 0);
  DK_RUN(&r, T, "run", "--pidfile=s.pid", "--workdir", dk_test_path(0, "work"),
         "--stdout", "out.log", "--stderr=err.log", "--timeout", "10000",
         "--", "sh", "-c", "pwd; echo oops >&2; exec sleep 30");
  ck_assert_msg(r.status == 0, "status %d, stderr '%s'", r.status, r.err);
  pid = (pid_t)dk_test_pid_in_file("s.pid");
  ck_assert_int_gt(pid, 1);
  /* Log paths are the caller's; the command runs in the workdir. */
  snprintf(want, sizeof(want), "%s\n", dk_test_path(0, "work"));
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "out.log"), want, 10000));
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "err.log"), "oops\n", 10000));
  DK_RUN(&r, T, "send", "s.pid", "TERM");
  ck_assert_int_eq(r.status, 0);
  ck_assert(dk_test_wait_exit(pid, 5000));
}
END_TEST

START_TEST(test_run_without_double_dash) {
  char cmdline[64];
  struct dk_spawn r;
  pid_t pid;
  DK_RUN(&r, T, "run", "--pidfile", "s.pid", "sleep", "30");
  ck_assert_msg(r.status == 0, "status %d, stderr '%s'", r.status, r.err);
  pid = (pid_t)dk_test_pid_in_file("s.pid");
  ck_assert_int_gt(dk_spawn_cmdline(pid, cmdline, sizeof(cmdline)), 0);
  ck_assert_str_eq(cmdline, "sleep 30");
}
END_TEST

START_TEST(test_run_unknown_user_fails_in_the_parent) {
  struct dk_spawn r;
  DK_RUN(&r, T, "run", "--pidfile", "f.pid", "--user", "dk-no-such-user", "--", "sleep", "30");
  ck_assert_int_eq(r.status, 1);
  assert_contains(r.err, "no such user");
  ck_assert_int_eq(access("f.pid", F_OK), -1);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));
}
END_TEST

START_TEST(test_run_as_another_user) {
  struct passwd *pw;
  struct dk_spawn r;
  pid_t pid;
  pw = getpwnam("nobody");
  ck_assert_ptr_nonnull(pw);
  DK_RUN(&r, T, "run", "--pidfile", "s.pid", "--user", "nobody", "--", "sleep", "30");
  ck_assert_msg(r.status == 0, "status %d, stderr '%s'", r.status, r.err);
  pid = (pid_t)dk_test_pid_in_file("s.pid");
  ck_assert_int_gt(pid, 1);
  ck_assert_int_eq(dk_test_status_field(pid, "Uid", 10), (long)pw->pw_uid);
  ck_assert_int_eq(dk_test_status_field(pid, "Gid", 10), (long)pw->pw_gid);
  /* root still signals it through the pid file, which root wrote. */
  DK_RUN(&r, T, "send", "s.pid", "TERM");
  ck_assert_int_eq(r.status, 0);
  ck_assert(dk_test_wait_exit(pid, 5000));
}
END_TEST

/* --- send: every signal the host knows ------------------------------------ */

/* A daemon (sh, exec'd by run) that logs each of QUIT, WINCH and CONT it
 * gets to its stdout, log. */
static pid_t run_trapper(const char *pid_file, const char *log) {
  struct dk_spawn r;
  long pid;
  DK_RUN(&r, T, "run", "--pidfile", pid_file, "--stdout", log, "--", "sh", "-c",
         "for s in QUIT WINCH CONT USR1; do trap \"echo got-$s\" $s; done; echo up;"
         " while :; do sleep 30 & wait $!; done");
  ck_assert_msg(r.status == 0, "run: status %d, stderr '%s'", r.status, r.err);
  ck_assert(dk_spawn_wait_content(log, "up\n", 10000));
  pid = dk_test_pid_in_file(pid_file);
  ck_assert_int_gt(pid, 1);
  return (pid_t)pid;
}

START_TEST(test_send_accepts_every_host_signal) {
  static const struct {
    const char *form, *logged;
  } forms[] = {
    { "QUIT", "got-QUIT" }, { "SIGWINCH", "got-WINCH" }, { "cont", "got-CONT" },
    /* Each in turn: the log grows by one line a signal. */
    { "3", "got-CONT\ngot-QUIT" }, { "28", "got-CONT\ngot-QUIT\ngot-WINCH" },
    { "usr1", "got-USR1" },
  };
  const char *log = dk_test_path(1, "trap.log");
  struct dk_spawn r;
  pid_t pid = run_trapper("t.pid", "trap.log");
  size_t i;

  for (i = 0; i < N_ELEMS(forms); i++) {
    DK_RUN(&r, T, "send", "t.pid", forms[i].form);
    ck_assert_msg(r.status == 0, "send %s: status %d, %s", forms[i].form, r.status, r.err);
    ck_assert_msg(dk_spawn_wait_content(log, forms[i].logged, 10000), "send %s: '%s' not logged",
                  forms[i].form, forms[i].logged);
  }
  /* 0 probes: it reaches nobody, and says whether a daemon holds the file. */
  DK_RUN(&r, T, "send", "t.pid", "0");
  ck_assert_msg(r.status == 0, "send 0: status %d, %s", r.status, r.err);
  ck_assert(dk_test_alive_unsignalled(pid));
  DK_RUN(&r, T, "send", "t.pid", "KILL");
  ck_assert_msg(r.status == 0, "send KILL: status %d, %s", r.status, r.err);
  ck_assert_msg(dk_test_wait_exit(pid, 5000), "KILL did not end %ld", (long)pid);
  /* Its last sleep may hold the file still (it inherited it): either
   * way no daemon the file names runs. Where the holder of a flock can
   * not be found, a held file that names an unreaped process is no more
   * than refused (2). */
  DK_RUN(&r, T, "send", "t.pid", "0");
#ifdef DK_NO_LINUX_EXTRAS
  ck_assert_msg(r.status == 1 || r.status == 2, "send 0 after KILL: status %d", r.status);
#else
  ck_assert_int_eq(r.status, 1);
#endif
  assert_contains(r.err, "daemoniker: send: t.pid: ");
}
END_TEST

/* --- stop ----------------------------------------------------------------- */

START_TEST(test_stop_ends_the_daemon_before_returning_0) {
  struct dk_spawn r;
  pid_t pid = run_sleep("s.pid");
  long long t0 = dk_test_now_ms();
  DK_RUN(&r, T, "stop", "s.pid");
  ck_assert_msg(r.status == 0, "stop: status %d, stderr '%s'", r.status, r.err);
  /* Gone when stop returns, not some time later; and long before the
   * default 10 s timeout. */
  ck_assert_msg(!dk_test_alive(pid), "sleep %ld still runs after stop", (long)pid);
  ck_assert_int_lt(dk_test_now_ms() - t0, 5000);
  DK_RUN(&r, T, "status", "s.pid");
  ck_assert_int_eq(r.status, 1); /* sleep left its pid file, stale now */
  DK_RUN(&r, T, "stop", "s.pid");
  ck_assert_int_eq(r.status, 0);
}
END_TEST

/* LSB: stopping a service that does not run succeeds; and a pid file
 * whose pid is now an unrelated process gets that process no signal. */
START_TEST(test_stop_of_a_stopped_service_exits_0_and_signals_nobody) {
  struct dk_spawn r;
  pid_t bystander;

  DK_RUN(&r, T, "stop", "none.pid");
  ck_assert_msg(r.status == 0, "no pid file: status %d, %s", r.status, r.err);
  ck_assert_int_eq(dk_test_write_file("empty.pid", ""), 0);
  DK_RUN(&r, T, "stop", "empty.pid");
  ck_assert_msg(r.status == 0, "empty pid file: status %d, %s", r.status, r.err);
  write_pid_file("dead.pid", dead_pid());
  DK_RUN(&r, T, "stop", "dead.pid");
  ck_assert_msg(r.status == 0, "dead pid: status %d, %s", r.status, r.err);

  bystander = start_bystander();
  write_pid_file("stale.pid", bystander);
  DK_RUN(&r, T, "stop", "--kill", "stale.pid");
  ck_assert_msg(r.status == 0, "stale pid file: status %d, %s", r.status, r.err);
  ck_assert_msg(!dk_test_wait_exit(bystander, 300), "the bystander was killed");
  ck_assert(dk_test_alive_unsignalled(bystander));
  ck_assert_int_eq(dk_test_pid_in_file("stale.pid"), bystander);
}
END_TEST

/* stop returns once the daemon is gone where a pidfd watches it; without
 * the Linux extras, once it let go of its pid file, which comes a moment
 * before its exit. */
/* stop returns once no process holds the pid file. Where it waits on the
 * holder's pidfd the holder has then exited; where it waits on the lock
 * (no pidfds: valgrind, or a build without the Linux extras) the holder
 * let the lock go, and its exit follows a moment later. */
static int gone_after_stop(pid_t pid) {
  return dk_test_wait_exit(pid, 5000);
}

/* A daemon that ignores TERM: stop gives up after its timeout and says it
 * still runs; with --kill it ends it. */
START_TEST(test_stop_of_a_daemon_ignoring_term) {
  struct dk_spawn r;
  long long t0, took;
  pid_t pid;

  DK_RUN(&r, T, "run", "--pidfile", "deaf.pid", "--", "sh", "-c", "trap '' TERM; exec sleep 300");
  ck_assert_msg(r.status == 0, "run: status %d, stderr '%s'", r.status, r.err);
  pid = (pid_t)dk_test_pid_in_file("deaf.pid");
  ck_assert_int_gt(pid, 1);

  t0 = dk_test_now_ms();
  DK_RUN(&r, T, "stop", "--timeout", "1", "deaf.pid");
  took = dk_test_now_ms() - t0;
  ck_assert_msg(r.status == 1, "stop: status %d, stderr '%s'", r.status, r.err);
  assert_contains(r.err, "still running");
  ck_assert_msg(took >= 1000 && took < 4000, "stop --timeout 1 took %lld ms", took);
  ck_assert(dk_test_alive(pid));

  t0 = dk_test_now_ms();
  DK_RUN(&r, T, "stop", "--timeout=1", "--kill", "deaf.pid");
  took = dk_test_now_ms() - t0;
  ck_assert_msg(r.status == 0, "stop --kill: status %d, stderr '%s'", r.status, r.err);
  ck_assert_msg(gone_after_stop(pid), "%ld outlived stop --kill", (long)pid);
  ck_assert_msg(took >= 1000 && took < 4000, "stop --timeout 1 --kill took %lld ms", took);
  DK_RUN(&r, T, "status", "deaf.pid");
  ck_assert_int_eq(r.status, 1);
}
END_TEST

/* The example server stops on TERM by itself, cleans up and removes its
 * pid file; --signal picks another signal. */
START_TEST(test_stop_the_example_server) {
  const char *log = dk_test_path(1, "echo.log");
  struct dk_spawn r;
  pid_t pid = start_echo_server("echo.pid", "echo.log");

  DK_RUN(&r, T, "stop", "echo.pid");
  ck_assert_msg(r.status == 0, "stop: status %d, stderr '%s'", r.status, r.err);
  ck_assert(gone_after_stop(pid));
  ck_assert(dk_spawn_wait_content(log, "SIGTERM: no new connections", 1000));
  ck_assert_int_eq(access("echo.pid", F_OK), -1);

  pid = start_echo_server("echo.pid", "int.log");
  DK_RUN(&r, T, "stop", "--signal", "INT", "echo.pid");
  ck_assert_msg(r.status == 0, "stop --signal INT: status %d, stderr '%s'", r.status, r.err);
  ck_assert(gone_after_stop(pid));
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "int.log"), "SIGINT: no new connections", 1000));

  /* HUP only makes it reopen its log: it still runs when the time is up. */
  pid = start_echo_server("echo.pid", "hup.log");
  DK_RUN(&r, T, "stop", "--signal=SIGHUP", "--timeout", "1", "echo.pid");
  ck_assert_msg(r.status == 1, "stop --signal HUP: status %d, stderr '%s'", r.status, r.err);
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "hup.log"), "SIGHUP: log file reopened", 1000));
  ck_assert(dk_test_alive(pid));
}
END_TEST

START_TEST(test_stop_of_a_bad_pid_file_exits_2) {
  struct dk_spawn r;
  ck_assert_int_eq(dk_test_write_file("garbage.pid", "12ab\n"), 0);
  DK_RUN(&r, T, "stop", "garbage.pid");
  ck_assert_int_eq(r.status, 2);
  assert_contains(r.err, "daemoniker: stop: garbage.pid: ");
  ck_assert_int_eq(count_lines(r.err), 1);
  ck_assert_int_eq(mkdir("dir.pid", 0755), 0);
  DK_RUN(&r, T, "stop", "dir.pid");
  ck_assert_int_eq(r.status, 2);
  assert_contains(r.err, "dir.pid");
}
END_TEST

/* --- run: what it resolves, and what it blames ----------------------------- */

START_TEST(test_run_resolves_a_relative_command_against_the_callers_directory) {
  char cmdline[PATH_MAX + 16], want[PATH_MAX + 16];
  struct dk_spawn r;
  pid_t pid;
  ck_assert_int_eq(mkdir("bin", 0755), 0);
  ck_assert_int_eq(mkdir("work", 0755), 0);
  ck_assert_int_eq(dk_test_write_file("bin/app.sh", "#!/bin/sh\nsleep 30\n"), 0);
  ck_assert_int_eq(chmod("bin/app.sh", 0755), 0);
  /* The daemon's directory is / by default, work/ here: neither has bin/. */
  DK_RUN(&r, T, "run", "--pidfile", "a.pid", "--", "./bin/app.sh");
  ck_assert_msg(r.status == 0, "run ./bin/app.sh: status %d, stderr '%s'", r.status, r.err);
  pid = (pid_t)dk_test_pid_in_file("a.pid");
  ck_assert_int_gt(pid, 1);
  ck_assert_int_gt(dk_spawn_cmdline(pid, cmdline, sizeof(cmdline)), 0);
  /* The kernel ran the script by the absolute path it was given: the last
   * word of its interpreter's command line (sh's, or valgrind's). */
  snprintf(want, sizeof(want), " %s", dk_test_path(0, "bin/app.sh"));
  ck_assert_msg(strlen(cmdline) > strlen(want) &&
                strcmp(cmdline + strlen(cmdline) - strlen(want), want) == 0,
                "'%s' does not end in '%s'", cmdline, want);
  DK_RUN(&r, T, "run", "--pidfile", "b.pid", "--workdir", "work", "--", "bin/app.sh");
  ck_assert_msg(r.status == 0, "run --workdir work bin/app.sh: status %d, stderr '%s'", r.status,
                r.err);
  ck_assert_int_gt(dk_test_pid_in_file("b.pid"), 1);
}
END_TEST

/* A failed step is named with what it failed on, not blamed on the
 * command; nothing is left behind. */
static void assert_run_blames(const char *opt, const char *val, const char *want) {
  struct dk_spawn r;
  DK_RUN(&r, T, "run", "--pidfile", "f.pid", opt, val, "--", "sleep", "30");
  ck_assert_msg(r.status == 1, "run %s %s: status %d, stderr '%s'", opt, val, r.status, r.err);
  assert_contains(r.err, want);
  ck_assert_msg(strstr(r.err, "run: sleep:") == NULL, "run %s %s blames the command: '%s'", opt,
                val, r.err);
  ck_assert_int_eq(count_lines(r.err), 1);
  ck_assert_int_eq(access("f.pid", F_OK), -1);
  ck_assert_msg(dk_spawn_wait_marked_gone(0, 5000), "run %s %s left a process", opt, val);
}

START_TEST(test_run_names_the_step_that_failed) {
  struct dk_spawn r;
  char want[PATH_MAX + 64];
  assert_run_blames("--stdout", "nodir/out.log",
                    "daemoniker: run: stdout nodir/out.log: no such file or directory");
  assert_run_blames("--stderr", "nodir/err.log",
                    "daemoniker: run: stderr nodir/err.log: no such file or directory");
  assert_run_blames("--workdir", "nodir", "daemoniker: run: workdir nodir: no such file or directory");
  ck_assert_int_eq(dk_test_write_file("plain", "x"), 0);
  assert_run_blames("--workdir", "plain", "daemoniker: run: workdir plain: not a directory");
  /* The pid file's directory: named as the absolute path it was made. */
  DK_RUN(&r, T, "run", "--pidfile", "nodir/x.pid", "--", "sleep", "30");
  ck_assert_msg(r.status == 1, "status %d, stderr '%s'", r.status, r.err);
  snprintf(want, sizeof(want), "daemoniker: run: pid file %s: no such file or directory",
           dk_test_path(0, "nodir/x.pid"));
  assert_contains(r.err, want);
  ck_assert_int_eq(count_lines(r.err), 1);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));
}
END_TEST

/* As cron or an init script may run it: no stdin, no stdout. */
START_TEST(test_run_with_the_callers_stdin_and_stdout_closed) {
  struct dk_spawn r;
  pid_t pid;
  char link[64], target[PATH_MAX];
  ssize_t n;
  int fd;
  DK_RUN(&r, "sh", "-c", "exec 0<&- 1>&- \"$0\" \"$@\"", T, "run", "--pidfile", "c.pid",
         "--stdout", "out.log", "--", "sh", "-c", "echo started; exec sleep 30");
  ck_assert_msg(r.status == 0, "status %d, stderr '%s'", r.status, r.err);
  pid = (pid_t)dk_test_pid_in_file("c.pid");
  ck_assert_int_gt(pid, 1);
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "out.log"), "started\n", 10000));
  DK_RUN(&r, T, "status", "c.pid");
  ck_assert_int_eq(r.status, 0);
  /* Its stdin is the null device, not the pid file or a channel. */
  snprintf(link, sizeof(link), "/proc/%ld/fd/0", (long)pid);
  n = readlink(link, target, sizeof(target) - 1);
  ck_assert_int_gt(n, 0);
  target[n] = '\0';
  ck_assert_str_eq(target, "/dev/null");
  for (fd = 1; fd <= 2; fd++) {
    snprintf(link, sizeof(link), "/proc/%ld/fd/%d", (long)pid, fd);
    n = readlink(link, target, sizeof(target) - 1);
    ck_assert_int_gt(n, 0);
    target[n] = '\0';
    ck_assert_str_eq(target, fd == 1 ? dk_test_path(1, "out.log") : "/dev/null");
  }
  DK_RUN(&r, T, "stop", "c.pid");
  ck_assert_msg(r.status == 0, "stop: status %d, stderr '%s'", r.status, r.err);
}
END_TEST

/* --- the default pid file ------------------------------------------------- */

/* Runs the tool as dk-test, whichever user the suite runs as. */
static void run_as_test_user(struct dk_spawn *r, const char *const *args) {
  const char *argv[16];
  int n = 0, k;
  if (geteuid() == 0) {
    argv[n++] = "setpriv";
    argv[n++] = "--reuid=dk-test";
    argv[n++] = "--regid=dk-test";
    argv[n++] = "--init-groups";
  }
  argv[n++] = T;
  for (k = 0; args[k] != NULL && n < 15; k++)
    argv[n++] = args[k];
  argv[n] = NULL;
  dk_spawn_run(r, 20000, argv);
}

START_TEST(test_run_default_pid_file_is_never_in_a_directory_others_write) {
  static const char *const run_sleep_args[] = { "run", "--", "sleep", "30", NULL };
  struct passwd *pw = getpwnam("dk-test");
  char want[PATH_MAX + 32];
  struct dk_spawn r;
  pid_t pid;

  ck_assert_ptr_nonnull(pw);
  if (geteuid() == 0) /* dk-test must reach its directories in ours */
    ck_assert_int_eq(chmod(dk_test_dir(), 0711), 0);
  ck_assert_int_eq(mkdir("shared", 0777), 0);
  ck_assert_int_eq(chmod("shared", 01777), 0);
  ck_assert_int_eq(mkdir("private", 0700), 0);
  if (geteuid() == 0)
    ck_assert_int_eq(chown("private", pw->pw_uid, pw->pw_gid), 0);

  /* No XDG_RUNTIME_DIR: no default, even with a TMPDIR to fall back on. */
  unsetenv("XDG_RUNTIME_DIR");
  setenv("TMPDIR", dk_test_path(0, "shared"), 1);
  run_as_test_user(&r, run_sleep_args);
  ck_assert_msg(r.status == 2, "no XDG_RUNTIME_DIR: status %d, stderr '%s'", r.status, r.err);
  assert_contains(r.err, "--pidfile");
  ck_assert_int_eq(count_lines(r.err), 1);
  ck_assert_int_eq(access("shared/sleep.pid", F_OK), -1);

  /* One that others may write is refused, and named. */
  setenv("XDG_RUNTIME_DIR", dk_test_path(0, "shared"), 1);
  run_as_test_user(&r, run_sleep_args);
  ck_assert_msg(r.status == 2, "shared XDG_RUNTIME_DIR: status %d, stderr '%s'", r.status, r.err);
  snprintf(want, sizeof(want), "%s", dk_test_path(0, "shared"));
  assert_contains(r.err, want);
  ck_assert_int_eq(access("shared/sleep.pid", F_OK), -1);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));

  /* The user's own, as pam_systemd makes it: the pid file goes there. */
  setenv("XDG_RUNTIME_DIR", dk_test_path(0, "private"), 1);
  run_as_test_user(&r, run_sleep_args);
  snprintf(want, sizeof(want), "pid file %s/sleep.pid)", dk_test_path(0, "private"));
  ck_assert_msg(r.status == 0, "private XDG_RUNTIME_DIR: status %d, stderr '%s'", r.status, r.err);
  assert_contains(r.out, want);
  pid = (pid_t)dk_test_pid_in_file("private/sleep.pid");
  ck_assert_int_gt(pid, 1);
  ck_assert_int_eq(dk_test_status_field(pid, "Uid", 10), (long)pw->pw_uid);
}
END_TEST

/* --- the example init script ----------------------------------------------- */

/* examples/daemoniker.init run by sh as an init system runs it, with its
 * settings from the environment as from /etc/default. */
static int init_script(struct dk_spawn *r, const char *action) {
  dk_spawn_run(r, 30000,
               (const char *const[]){ "sh", DK_SRCDIR "/examples/daemoniker.init", action, NULL });
  return r->status;
}

START_TEST(test_init_script_start_status_stop_restart) {
  struct dk_spawn r;
  pid_t first, second;

  setenv("DAEMONIKER", T, 1);
  setenv("PIDFILE", dk_test_path(0, "napd.pid"), 1);
  setenv("DAEMON", "sleep", 1);
  setenv("DAEMON_ARGS", "300", 1);
  setenv("NAME", "napd", 1);
  setenv("STOP_TIMEOUT", "5", 1);

  ck_assert_msg(init_script(&r, "status") == 3, "status: %d, '%s' '%s'", r.status, r.out, r.err);
  ck_assert_msg(init_script(&r, "stop") == 0, "stop (stopped): %d, '%s'", r.status, r.err);
  ck_assert_msg(init_script(&r, "start") == 0, "start: %d, '%s'", r.status, r.err);
  first = (pid_t)dk_test_pid_in_file("napd.pid");
  ck_assert_int_gt(first, 1);
  ck_assert(dk_test_alive(first));
  ck_assert_msg(init_script(&r, "status") == 0, "status (running): %d, '%s'", r.status, r.err);
  /* LSB: starting a running service succeeds, and starts nothing. */
  ck_assert_msg(init_script(&r, "start") == 0, "start (running): %d, '%s'", r.status, r.err);
  ck_assert_int_eq(dk_test_pid_in_file("napd.pid"), first);
  ck_assert_int_eq(dk_spawn_count_marked(), 1);

  ck_assert_msg(init_script(&r, "restart") == 0, "restart: %d, '%s'", r.status, r.err);
  ck_assert(!dk_test_alive(first));
  second = (pid_t)dk_test_pid_in_file("napd.pid");
  ck_assert_int_gt(second, 1);
  ck_assert_int_ne(second, first);
  ck_assert(dk_test_alive(second));

  ck_assert_msg(init_script(&r, "stop") == 0, "stop: %d, '%s'", r.status, r.err);
  ck_assert(!dk_test_alive(second));
  ck_assert_msg(init_script(&r, "status") == 3, "status (stopped): %d, '%s'", r.status, r.out);
  ck_assert_msg(init_script(&r, "stop") == 0, "stop again: %d, '%s'", r.status, r.err);
  ck_assert_msg(init_script(&r, "frobnicate") == 2, "bad action: %d", r.status);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));
}
END_TEST

static Suite *tool_suite(void) {
  Suite *s = suite_create("tool");
  TCase *tc = dk_test_tcase(s, "daemoniker", dk_spawn_fixture_setup, dk_spawn_fixture_teardown, 60);
  tcase_add_test(tc, test_help_exits_0_and_shows_usage);
  tcase_add_test(tc, test_version_is_the_package_version);
  tcase_add_test(tc, test_usage_errors_exit_2_with_one_line);
  tcase_add_test(tc, test_status_lsb_codes);
  tcase_add_test(tc, test_send_exit_codes);
  tcase_add_test(tc, test_send_to_stale_pid_file_signals_nobody);
  tcase_add_test(tc, test_send_accepts_signal_names_and_numbers);
  tcase_add_test(tc, test_run_daemonizes_command_holding_locked_pid_file);
  tcase_add_test(tc, test_run_missing_command_fails_in_the_parent);
  tcase_add_test(tc, test_run_non_executable_command_fails_in_the_parent);
  tcase_add_test(tc, test_run_refuses_a_pid_file_held_by_a_live_daemon);
  DK_TEST_ADD_LINUX(tc, test_pid_file_kept_by_worker_of_dead_daemon_is_named_everywhere);
  tcase_add_test(tc, test_run_options_workdir_stdout_stderr);
  tcase_add_test(tc, test_run_without_double_dash);
  tcase_add_test(tc, test_run_unknown_user_fails_in_the_parent);
  tcase_add_test(tc, test_send_accepts_every_host_signal);
  tcase_add_test(tc, test_stop_ends_the_daemon_before_returning_0);
  tcase_add_test(tc, test_stop_of_a_stopped_service_exits_0_and_signals_nobody);
  tcase_add_test(tc, test_stop_of_a_daemon_ignoring_term);
  tcase_add_test(tc, test_stop_the_example_server);
  tcase_add_test(tc, test_stop_of_a_bad_pid_file_exits_2);
  tcase_add_test(tc, test_run_resolves_a_relative_command_against_the_callers_directory);
  tcase_add_test(tc, test_run_names_the_step_that_failed);
  tcase_add_test(tc, test_run_with_the_callers_stdin_and_stdout_closed);
  DK_TEST_ADD_USERS(tc, test_run_default_pid_file_is_never_in_a_directory_others_write);
  tcase_add_test(tc, test_init_script_start_status_stop_restart);
  DK_TEST_ADD_ROOT(tc, test_run_as_another_user); /* only root may switch */
  return s;
}

int main(void) {
  return dk_test_run(tool_suite());
}
