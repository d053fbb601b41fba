/* SPDX-License-Identifier: MIT */
/* The Windows half, run under Wine in CI: daemonizing by relaunch, signals
 * through named events, dk_send from another process.
 *
 * This executable is its own daemon: dk_daemonize relaunches it, and the
 * relaunched copy finds itself a daemon in dk_daemonizer_init, reads which
 * scenario to play from the payload, and reports what it sees to files in
 * the test's directory. The test waits on those files with deadlines. */
#include <check.h>
#include <io.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win-fixture.h"
#include <aclapi.h>
#include <sddl.h>
#include <tlhelp32.h>

struct scenario {
  char name[32];
  char dir[MAX_PATH];
  unsigned char bytes[256];
};

/* ---------------------------------------------------------------------- */
/* The daemon side                                                         */

static struct scenario play;
static uv_thread_t loop_thread;
/* The relaunch marker as this process found it, before dk_daemonizer_init. */
static char marker_at_entry[32];

static void note(const char *fmt, const char *arg) {
  dk_win_note(play.dir, fmt, arg);
}

static void on_signal(dk_signals_t *sig, int signum) {
  uv_thread_t self = uv_thread_self();
  note(uv_thread_equal(&self, &loop_thread) ? "%s on-loop" : "%s off-loop",
       dk_signal_name(signum));
  if (signum == DK_SIGINT) /* the scenarios' way to finish */
    uv_stop(sig->loop);
}

static int count_threads(void) {
  THREADENTRY32 te;
  DWORD me = GetCurrentProcessId();
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  int n = 0;
  te.dwSize = sizeof(te);
  if (snap == INVALID_HANDLE_VALUE)
    return -1;
  if (Thread32First(snap, &te))
    do
      if (te.th32OwnerProcessID == me)
        n++;
    while (Thread32Next(snap, &te));
  CloseHandle(snap);
  return n;
}

static void on_closed(dk_signals_t *sig) {
  (void)sig;
  note("%s", "closed");
}

static int daemon_main(dk_daemonizer_t *dz) {
  char path[MAX_PATH + 32], text[64];
  dk_signals_t sig;
  uv_loop_t loop;
  FILE *f;
  int r, i, threads_before;

  r = dk_daemonize(dz, NULL, &play, sizeof(play));
  if (r != DK_DAEMON)
    return 10;

  snprintf(path, sizeof(path), "%s\\payload.out", play.dir);
  f = fopen(path, "wb");
  if (f != NULL) {
    fwrite(play.bytes, 1, sizeof(play.bytes), f);
    fclose(f);
  }
  /* Where stdout goes, and where the daemon works: both asked by the test. */
  printf("hello from the daemon\n");
  fflush(stdout);
  if (GetCurrentDirectoryA(sizeof(path), path) > 0)
    note("cwd %s", path);
  if (strcmp(play.name, "die") == 0)
    exit(3);
  if (strcmp(play.name, "inherit") == 0) {
    DWORD flags = 0;
    HANDLE pipe = (HANDLE)(uintptr_t)_strtoui64(marker_at_entry, NULL, 10);
    note("pipe-inherit %s",
         GetHandleInformation(pipe, &flags) ? (flags & HANDLE_FLAG_INHERIT ? "yes" : "no")
                                            : "gone");
    note("crt-env %s", getenv("DK_DAEMONIZER_PIPE") != NULL ? "present" : "absent");
    note("win32-env %s",
         GetEnvironmentVariableA("DK_DAEMONIZER_PIPE", path, sizeof(path)) ? "present" : "absent");
  }
  if (strcmp(play.name, "console") == 0) {
    DWORD list[8];
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    char cmd[2 * MAX_PATH + 32], exe[MAX_PATH];
    snprintf(text, sizeof(text), "%lu", GetConsoleProcessList(list, 8));
    note("daemon-console %s", text);
    /* A console program started as any program starts one: no flags. */
    GetModuleFileNameA(NULL, exe, sizeof(exe));
    snprintf(cmd, sizeof(cmd), "\"%s\" conprobe \"%s\"", exe, play.dir);
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (CreateProcessA(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
      WaitForSingleObject(pi.hProcess, 10000);
      CloseHandle(pi.hProcess);
      CloseHandle(pi.hThread);
    }
  }
  if (strcmp(play.name, "hang") == 0)
    for (;;)
      Sleep(1000);
  if (strcmp(play.name, "ready-error") == 0) {
    dk_ready(dz, UV_EADDRINUSE);
    return 1;
  }

  uv_loop_init(&loop);
  /* Counted after libuv's own start-up, which in a process with a console
   * (the daemon's has no window) starts a thread watching its size. */
  threads_before = count_threads();
  loop_thread = uv_thread_self();
  if (dk_signals_init(&loop, &sig, NULL) != 0)
    return 11;
  if (strcmp(play.name, "callbacks") == 0)
    for (i = 0; i < 6; i++)
      dk_signals_set(&sig, (int[]){ DK_SIGINT, DK_SIGTERM, DK_SIGABRT, DK_SIGHUP, DK_SIGUSR1,
                                    DK_SIGUSR2 }[i],
                     on_signal);
  if (strcmp(play.name, "ignore") == 0) {
    dk_signals_ignore(&sig, DK_SIGUSR1);
    dk_signals_ignore(&sig, DK_SIGTERM);
    dk_signals_set(&sig, DK_SIGUSR2, on_signal);
  }
  if (strcmp(play.name, "burst") == 0) {
    dk_signals_set(&sig, DK_SIGUSR1, on_signal);
    dk_signals_set(&sig, DK_SIGUSR2, on_signal);
  }
  if (dk_signals_start(&sig) != 0)
    return 12;
  if (dz->flags & DK_WAIT_READY)
    dk_ready(dz, 0);
  note("%s", "running");

  uv_run(&loop, UV_RUN_DEFAULT);
  note("received %s", dk_signals_received(&sig) ? dk_signal_name(dk_signals_received(&sig)) : "none");
  dk_signals_close(&sig, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  snprintf(text, sizeof(text), "loop-close %d threads %d/%d", uv_loop_close(&loop), threads_before,
           count_threads());
  note("%s", text);
  return 0; /* dk_daemonizer_cleanup runs at exit */
}


/* ---------------------------------------------------------------------- */
/* Other roles this executable plays, chosen by its arguments              */

static int fg_ints;

static void fg_on_int(dk_signals_t *sig, int signum) {
  note("%s on-loop", dk_signal_name(signum));
  if (++fg_ints == 2)
    uv_stop(sig->loop);
}

/* "fg MODE DIR": a DK_FOREGROUND process with a console, holding DIR\f.pid;
 * MODE says what SIGINT does: default, callback (twice stops) or ignore. */
static int foreground_main(const char *mode, const char *where) {
  char path[MAX_PATH + 32];
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_signals_t sig;
  uv_loop_t loop;
  int r;

  snprintf(play.dir, sizeof(play.dir), "%s", where);
  snprintf(path, sizeof(path), "%s\\f.pid", where);
  loop_thread = uv_thread_self();
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = path;
  opts.workdir = where;
  opts.flags = DK_FOREGROUND;
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r != DK_DAEMON) {
    note("daemonize %s", dk_err_name(r));
    return 10;
  }
  uv_loop_init(&loop);
  r = dk_signals_init(&loop, &sig, path);
  if (r != 0) {
    note("signals %s", dk_err_name(r));
    return 11;
  }
  if (strcmp(mode, "callback") == 0)
    dk_signals_set(&sig, DK_SIGINT, fg_on_int);
  if (strcmp(mode, "ignore") == 0) {
    dk_signals_ignore(&sig, DK_SIGINT);
    dk_signals_set(&sig, DK_SIGUSR1, on_signal);
  }
  dk_signals_start(&sig);
  note("%s", "running");
  uv_run(&loop, UV_RUN_DEFAULT);
  note("received %s",
       dk_signals_received(&sig) ? dk_signal_name(dk_signals_received(&sig)) : "none");
  dk_signals_close(&sig, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}

/* "launch DIR": starts a daemon playing "plain" on DIR\d.pid and exits
 * with 0 if dk_daemonize said DK_PARENT. */
static int launcher_main(const char *where) {
  char path[MAX_PATH + 32];
  dk_daemonizer_t dz;
  dk_options_t opts;
  memset(&play, 0, sizeof(play));
  snprintf(play.name, sizeof(play.name), "plain");
  snprintf(play.dir, sizeof(play.dir), "%s", where);
  snprintf(path, sizeof(path), "%s\\d.pid", where);
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = path;
  opts.workdir = where;
  opts.flags = DK_WAIT_READY;
  opts.timeout_ms = 20000;
  return dk_daemonize(&dz, &opts, &play, sizeof(play)) == DK_PARENT ? 0 : 1;
}

/* "conprobe DIR": a console program a daemon starts; says how many
 * processes share its console. */
static int conprobe_main(const char *where) {
  DWORD list[8];
  char text[32];
  snprintf(play.dir, sizeof(play.dir), "%s", where);
  snprintf(text, sizeof(text), "%lu", GetConsoleProcessList(list, 8));
  note("child-console %s", text);
  return 0;
}

/* In a relaunched daemon, before anything of the library runs: with
 * DK_TEST_EARLY_CHILD=DIR, start a child that inherits every inheritable
 * handle (the report pipe among them) and sleeps; its pid goes to
 * DIR\child.pid. */
static void early_child(void) {
  char where[MAX_PATH], exe[MAX_PATH], cmd[2 * MAX_PATH], path[MAX_PATH + 32];
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;
  FILE *f;
  if (GetEnvironmentVariableA("DK_TEST_EARLY_CHILD", where, sizeof(where)) == 0 ||
      GetEnvironmentVariableA("DK_DAEMONIZER_PIPE", cmd, sizeof(cmd)) == 0)
    return;
  GetModuleFileNameA(NULL, exe, sizeof(exe));
  snprintf(cmd, sizeof(cmd), "\"%s\" sleep 15000", exe);
  memset(&si, 0, sizeof(si));
  si.cb = sizeof(si);
  if (!CreateProcessA(exe, cmd, NULL, NULL, TRUE, DETACHED_PROCESS, NULL, NULL, &si, &pi))
    return;
  snprintf(path, sizeof(path), "%s\\child.pid", where);
  f = fopen(path, "wb");
  if (f != NULL) {
    fprintf(f, "%lu", pi.dwProcessId);
    fclose(f);
  }
  CloseHandle(pi.hProcess);
  CloseHandle(pi.hThread);
}

/* ---------------------------------------------------------------------- */
/* The test side                                                           */

static void setup(void) {
  dk_win_make_dir("dk-win");
}

static void teardown(void) {
  dk_win_remove_dir();
}

/* Waits until the daemon's event log holds `line`, or 10 s pass. */
static int wait_for_event(const char *line) {
  return dk_win_wait_for_event(line, 10000);
}

static int count_events(const char *line) {
  char buf[65536], *p;
  int n = 0;
  if (dk_win_read_text(dk_win_path(3, "events.log"), buf, sizeof(buf)) < 0)
    return 0;
  for (p = buf; (p = strstr(p, line)) != NULL; p++)
    n++;
  return n;
}

/* 1 once the process has exited, with its exit code in *code. */
static int wait_exit(uv_pid_t pid, DWORD *code) {
  HANDLE h = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
  int gone;
  if (h == NULL)
    return 1;
  gone = WaitForSingleObject(h, 10000) == WAIT_OBJECT_0;
  if (gone && code != NULL)
    GetExitCodeProcess(h, code);
  CloseHandle(h);
  return gone;
}

/* Starts a daemon playing `name`; returns dk_daemonize's result. */
static int launch(dk_daemonizer_t *dz, const char *name, unsigned flags, unsigned timeout_ms,
                  const char *workdir) {
  struct scenario s;
  dk_options_t opts;
  int i;
  memset(&s, 0, sizeof(s));
  snprintf(s.name, sizeof(s.name), "%s", name);
  snprintf(s.dir, sizeof(s.dir), "%s", dk_win_dir);
  for (i = 0; i < 256; i++)
    s.bytes[i] = (unsigned char)(255 - i);
  dk_daemonizer_init(dz);
  dk_options_init(&opts);
  opts.pid_file = dk_win_path(0, "d.pid");
  opts.workdir = workdir != NULL ? workdir : dk_win_dir;
  opts.stdout_path = dk_win_path(1, "out.log");
  opts.flags = flags;
  opts.timeout_ms = timeout_ms ? timeout_ms : 20000;
  return dk_daemonize(dz, &opts, &s, sizeof(s));
}

static void stop_with(uv_pid_t pid, int signum) {
  DWORD code = 99;
  ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), signum), 0);
  ck_assert_msg(wait_exit(pid, &code), "daemon did not exit");
  ck_assert_uint_eq(code, 0);
  ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));
}

START_TEST(test_relaunch_gives_payload_locked_pid_file_and_default_term) {
  unsigned char got[300];
  char text[64];
  dk_daemonizer_t dz;
  uv_pid_t pid = 0;
  OVERLAPPED ov;
  HANDLE h;
  FILE *f;
  size_t n;
  int i;

  ck_assert_int_eq(launch(&dz, "plain", 0, 0, NULL), DK_PARENT);
  ck_assert_int_gt(dk_daemon_pid(&dz), 0);
  ck_assert_int_ge(dk_win_read_text(dk_win_path(0, "d.pid"), text, sizeof(text)), 2);
  ck_assert_int_eq(strtol(text, NULL, 10), dk_daemon_pid(&dz));
  ck_assert_int_eq(dk_pid_file_check(dk_win_path(0, "d.pid"), &pid), 0);
  ck_assert_int_eq(pid, dk_daemon_pid(&dz));

  /* The daemon's lock: another process can not take it. */
  h = CreateFileA(dk_win_path(0, "d.pid"), GENERIC_READ,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                  NULL, OPEN_EXISTING, 0, NULL);
  ck_assert(h != INVALID_HANDLE_VALUE);
  memset(&ov, 0, sizeof(ov));
  ov.OffsetHigh = 0x40000000u;
  ck_assert(!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov));
  CloseHandle(h);

  ck_assert(wait_for_event("running"));
  f = fopen(dk_win_path(2, "payload.out"), "rb");
  ck_assert_ptr_nonnull(f);
  n = fread(got, 1, sizeof(got), f);
  fclose(f);
  ck_assert_uint_eq(n, 256);
  for (i = 0; i < 256; i++)
    ck_assert_uint_eq(got[i], 255 - i);

  ck_assert(wait_for_event(dk_win_dir)); /* "cwd <dir>": the workdir asked for */
  ck_assert_int_gt(dk_win_read_text(dk_win_path(1, "out.log"), text, sizeof(text)), 0);
  /* The C runtime writes text mode: a CRLF ends the line. */
  ck_assert_str_eq(text, "hello from the daemon\r\n");

  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
  ck_assert(wait_for_event("received SIGTERM"));
  ck_assert(wait_for_event("loop-close 0"));
}
END_TEST

START_TEST(test_each_signal_reaches_its_callback_on_the_loop_thread) {
  const int order[] = { DK_SIGHUP, DK_SIGUSR1, DK_SIGUSR2, DK_SIGTERM, DK_SIGABRT };
  dk_daemonizer_t dz;
  char line[32];
  size_t i;
  ck_assert_int_eq(launch(&dz, "callbacks", DK_WAIT_READY, 0, NULL), DK_PARENT);
  for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), order[i]), 0);
    snprintf(line, sizeof(line), "%s on-loop", dk_signal_name(order[i]));
    ck_assert_msg(wait_for_event(line), "no '%s'", line);
  }
  ck_assert_int_eq(count_events("off-loop"), 0);
  stop_with(dk_daemon_pid(&dz), DK_SIGINT); /* its callback stops the loop */
  ck_assert(wait_for_event("SIGINT on-loop"));
  ck_assert(wait_for_event("received none"));
}
END_TEST

START_TEST(test_ignored_signals_do_nothing) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "ignore", DK_WAIT_READY, 0, NULL), DK_PARENT);
  ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), DK_SIGUSR1), 0);
  ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), DK_SIGTERM), 0);
  ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), DK_SIGUSR2), 0);
  /* Events are handled in one waiter's order: once USR2 is seen, the
   * earlier two were handled too, by doing nothing. */
  ck_assert(wait_for_event("SIGUSR2 on-loop"));
  ck_assert_int_eq(count_events("SIGUSR1"), 0);
  ck_assert_int_eq(dk_pid_file_check(dk_win_path(0, "d.pid"), NULL), 0);
  stop_with(dk_daemon_pid(&dz), DK_SIGINT);
  ck_assert(wait_for_event("received SIGINT"));
}
END_TEST

START_TEST(test_burst_of_two_signals_delivers_both) {
  dk_daemonizer_t dz;
  int i;
  ck_assert_int_eq(launch(&dz, "burst", DK_WAIT_READY, 0, NULL), DK_PARENT);
  for (i = 0; i < 500; i++)
    ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), i % 2 ? DK_SIGUSR2 : DK_SIGUSR1), 0);
  ck_assert(wait_for_event("SIGUSR1 on-loop"));
  ck_assert(wait_for_event("SIGUSR2 on-loop"));
  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
  ck_assert(wait_for_event("received SIGTERM"));
}
END_TEST

START_TEST(test_close_leaves_no_thread_and_main_returns) {
  dk_daemonizer_t dz;
  char buf[4096], *p;
  int before = -1, after = -2;
  ck_assert_int_eq(launch(&dz, "plain", DK_WAIT_READY, 0, NULL), DK_PARENT);
  stop_with(dk_daemon_pid(&dz), DK_SIGABRT);
  ck_assert(wait_for_event("closed"));
  ck_assert(wait_for_event("loop-close 0"));
  ck_assert_int_ge(dk_win_read_text(dk_win_path(3, "events.log"), buf, sizeof(buf)), 0);
  p = strstr(buf, "threads ");
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(sscanf(p, "threads %d/%d", &before, &after), 2);
  ck_assert_int_eq(after, before);
}
END_TEST

/* Daemoniker (Python) on Windows: SIGINT killed the daemon without its
 * cleanup, or was lost and left it running, its pid file in place. Here the
 * default handler stops the loop, main returns, the pid file goes. */
START_TEST(test_daemoniker_windows_sigint_stops_daemon_and_removes_pid_file) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "plain", DK_WAIT_READY, 0, NULL), DK_PARENT);
  stop_with(dk_daemon_pid(&dz), DK_SIGINT); /* exit code 0, pid file gone */
  ck_assert(wait_for_event("received SIGINT"));
  ck_assert(wait_for_event("loop-close 0"));
}
END_TEST

START_TEST(test_live_daemon_gives_erunning) {
  dk_daemonizer_t first, second;
  char before[32], after[32];
  ck_assert_int_eq(launch(&first, "plain", DK_WAIT_READY, 0, NULL), DK_PARENT);
  dk_win_read_text(dk_win_path(0, "d.pid"), before, sizeof(before));
  ck_assert_int_eq(launch(&second, "plain", DK_WAIT_READY, 0, NULL), DK_ERUNNING);
  ck_assert(wait_exit(dk_daemon_pid(&second), NULL));
  dk_win_read_text(dk_win_path(0, "d.pid"), after, sizeof(after));
  ck_assert_str_eq(after, before);
  ck_assert_int_eq(dk_pid_file_check(dk_win_path(0, "d.pid"), NULL), 0);
  stop_with(dk_daemon_pid(&first), DK_SIGTERM);
}
END_TEST

START_TEST(test_startup_failure_is_reported) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "plain", 0, 0, dk_win_path(2, "no-such-dir")), UV_ENOENT);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));
}
END_TEST

START_TEST(test_unopenable_stdout_is_refused_before_any_launch) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = dk_win_path(0, "d.pid");
  opts.stdout_path = dk_win_path(1, "no-such-dir\\out.log");
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), UV_ENOENT);
  ck_assert_int_eq(dk_daemon_pid(&dz), 0);
  ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));
}
END_TEST

START_TEST(test_ready_error_exit_and_timeout) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "ready-error", DK_WAIT_READY, 0, NULL), UV_EADDRINUSE);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));

  ck_assert_int_eq(launch(&dz, "die", DK_WAIT_READY, 0, NULL), DK_EDIED);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));

  ck_assert_int_eq(launch(&dz, "hang", DK_WAIT_READY, 1500, NULL), UV_ETIMEDOUT);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));
}
END_TEST

START_TEST(test_send_refuses_stale_and_bad_pid_files) {
  char text[32];
  FILE *f;
  /* Our own pid: a live process, but no daemon holding this file. */
  snprintf(text, sizeof(text), "%lu\n", GetCurrentProcessId());
  f = fopen(dk_win_path(0, "d.pid"), "wb");
  fputs(text, f);
  fclose(f);
  ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), DK_SIGTERM), DK_ESTALE);
  ck_assert_int_eq(dk_pid_file_check(dk_win_path(0, "d.pid"), NULL), DK_ESTALE);
  f = fopen(dk_win_path(0, "d.pid"), "wb");
  fputs("12abc\n", f);
  fclose(f);
  ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), DK_SIGTERM), DK_EBADPIDFILE);
  ck_assert_int_eq(dk_send(dk_win_path(1, "missing.pid"), DK_SIGTERM), UV_ENOENT);
  ck_assert_int_eq(dk_send(dk_win_path(0, "d.pid"), 9), UV_EINVAL);
}
END_TEST

START_TEST(test_stale_pid_file_is_taken_over) {
  dk_daemonizer_t dz;
  char text[32];
  FILE *f = fopen(dk_win_path(0, "d.pid"), "wb");
  fputs("4242\n", f);
  fclose(f);
  ck_assert_int_eq(launch(&dz, "plain", DK_WAIT_READY, 0, NULL), DK_PARENT);
  dk_win_read_text(dk_win_path(0, "d.pid"), text, sizeof(text));
  ck_assert_int_eq(strtol(text, NULL, 10), dk_daemon_pid(&dz));
  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
}
END_TEST


/* ---------------------------------------------------------------------- */
/* Windows as Windows users run it                                         */

/* Starts this executable with `args`, as CreateProcess with `flags`. */
static void spawn_self(const char *args, DWORD flags, PROCESS_INFORMATION *pi) {
  char exe[MAX_PATH], cmd[2 * MAX_PATH + 64];
  STARTUPINFOA si;
  ck_assert_uint_gt(GetModuleFileNameA(NULL, exe, sizeof(exe)), 0);
  snprintf(cmd, sizeof(cmd), "\"%s\" %s", exe, args);
  memset(&si, 0, sizeof(si));
  si.cb = sizeof(si);
  ck_assert_msg(CreateProcessA(exe, cmd, NULL, NULL, FALSE, flags, NULL, NULL, &si, pi),
                "CreateProcess %s: %lu", args, GetLastError());
}

static BOOL WINAPI swallow_ctrl(DWORD type) {
  (void)type;
  return TRUE;
}

/* What NSSM and other service wrappers do to stop a console program:
 * attach to its console and raise the event there. This process ignores
 * its own copy. */
static void console_event(DWORD pid, DWORD type) {
  static int installed;
  if (!installed)
    ck_assert(SetConsoleCtrlHandler(swallow_ctrl, TRUE));
  installed = 1;
  FreeConsole();
  ck_assert_msg(AttachConsole(pid), "AttachConsole: %lu", GetLastError());
  ck_assert_msg(GenerateConsoleCtrlEvent(type, 0), "GenerateConsoleCtrlEvent: %lu",
                GetLastError());
  FreeConsole();
}

/* A foreground process playing `mode`, running, and then Ctrl+C in its
 * console. */
static void start_foreground_and_ctrl_c(const char *mode, PROCESS_INFORMATION *pi) {
  char args[MAX_PATH + 32];
  snprintf(args, sizeof(args), "fg %s \"%s\"", mode, dk_win_dir);
  spawn_self(args, CREATE_NEW_CONSOLE, pi);
  ck_assert_msg(wait_for_event("running"), "the foreground process did not start");
  console_event(pi->dwProcessId, CTRL_C_EVENT);
}

static DWORD wait_process(PROCESS_INFORMATION *pi) {
  DWORD code = 99;
  ck_assert_msg(WaitForSingleObject(pi->hProcess, 10000) == WAIT_OBJECT_0, "did not exit");
  GetExitCodeProcess(pi->hProcess, &code);
  CloseHandle(pi->hProcess);
  CloseHandle(pi->hThread);
  return code;
}

START_TEST(test_ctrl_c_stops_a_foreground_process_like_sigint_and_removes_its_pid_file) {
  PROCESS_INFORMATION pi;
  start_foreground_and_ctrl_c("default", &pi);
  ck_assert_uint_eq(wait_process(&pi), 0); /* not STATUS_CONTROL_C_EXIT */
  ck_assert(wait_for_event("received SIGINT"));
  ck_assert(!dk_win_exists(dk_win_path(0, "f.pid")));
}
END_TEST

/* Ctrl+Break takes the same way, but Wine can not raise it: its server
 * answers STATUS_NOT_IMPLEMENTED for anything but CTRL_C_EVENT. */
START_TEST(test_ctrl_c_reaches_the_sigint_callback_on_the_loop_each_time) {
  PROCESS_INFORMATION pi;
  start_foreground_and_ctrl_c("callback", &pi);
  ck_assert_msg(wait_for_event("SIGINT on-loop"), "Ctrl+C did not reach the callback");
  console_event(pi.dwProcessId, CTRL_C_EVENT);
  ck_assert_uint_eq(wait_process(&pi), 0); /* the second SIGINT stops the loop */
  ck_assert_int_eq(count_events("SIGINT on-loop"), 2);
  ck_assert(wait_for_event("received none"));
  ck_assert(!dk_win_exists(dk_win_path(0, "f.pid")));
}
END_TEST

START_TEST(test_ignored_sigint_survives_ctrl_c) {
  PROCESS_INFORMATION pi;
  start_foreground_and_ctrl_c("ignore", &pi);
  ck_assert_int_eq(dk_send(dk_win_path(0, "f.pid"), DK_SIGUSR1), 0);
  ck_assert(wait_for_event("SIGUSR1 on-loop"));
  ck_assert_int_eq(dk_send(dk_win_path(0, "f.pid"), DK_SIGTERM), 0);
  ck_assert_uint_eq(wait_process(&pi), 0);
  ck_assert(wait_for_event("received SIGTERM"));
}
END_TEST

/* A kill-on-close job, as Windows OpenSSH sessions and CI runners put
 * their programs in: the launcher runs in it, starts a daemon and exits;
 * then the job is closed. A sleeper put in the same job proves the kill
 * happened before the daemon is looked at. */
static void launch_in_job(int breakaway_ok, HANDLE *daemon, BOOL *daemon_in_job) {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits;
  PROCESS_INFORMATION launcher, sleeper;
  char args[MAX_PATH + 32];
  HANDLE job = CreateJobObjectA(NULL, NULL);
  uv_pid_t pid = 0;

  ck_assert_ptr_nonnull(job);
  memset(&limits, 0, sizeof(limits));
  limits.BasicLimitInformation.LimitFlags =
      JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | (breakaway_ok ? JOB_OBJECT_LIMIT_BREAKAWAY_OK : 0);
  ck_assert(SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits,
                                    sizeof(limits)));
  snprintf(args, sizeof(args), "launch \"%s\"", dk_win_dir);
  spawn_self(args, CREATE_SUSPENDED, &launcher);
  ck_assert(AssignProcessToJobObject(job, launcher.hProcess));
  ResumeThread(launcher.hThread);
  ck_assert_uint_eq(wait_process(&launcher), 0); /* DK_PARENT */
  spawn_self("sleep 30000", CREATE_SUSPENDED, &sleeper);
  ck_assert(AssignProcessToJobObject(job, sleeper.hProcess));
  ResumeThread(sleeper.hThread);

  ck_assert_int_eq(dk_pid_file_check(dk_win_path(0, "d.pid"), &pid), 0);
  *daemon = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_INFORMATION | PROCESS_TERMINATE,
                        FALSE, (DWORD)pid);
  ck_assert_ptr_nonnull(*daemon);
  ck_assert(IsProcessInJob(*daemon, job, daemon_in_job));
  CloseHandle(job);
  ck_assert_msg(wait_process(&sleeper) != 99, "the job did not kill its processes");
}

START_TEST(test_daemon_outlives_its_launchers_kill_on_close_job) {
  BOOL in_job = TRUE;
  HANDLE daemon;
  launch_in_job(1, &daemon, &in_job);
  ck_assert_msg(WaitForSingleObject(daemon, 0) == WAIT_TIMEOUT,
                "the daemon died with its launcher's job");
  ck_assert(!in_job);
  ck_assert_int_eq(dk_pid_file_check(dk_win_path(0, "d.pid"), NULL), 0);
  stop_with((uv_pid_t)GetProcessId(daemon), DK_SIGTERM);
  CloseHandle(daemon);
}
END_TEST

/* Breakaway refused: the daemon still starts, in the job, and so ends with
 * it (documented). */
START_TEST(test_daemon_starts_in_a_job_that_forbids_breakaway) {
  BOOL in_job = FALSE;
  HANDLE daemon;
  launch_in_job(0, &daemon, &in_job);
  ck_assert(in_job);
  ck_assert_uint_eq(WaitForSingleObject(daemon, 10000), WAIT_OBJECT_0);
  CloseHandle(daemon);
}
END_TEST

/* A UTF-8 path as the test's wide one: the test's own directory is ASCII. */
static void utf8_of(const WCHAR *w, char *out, size_t size) {
  ck_assert_int_gt(WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)size, NULL, NULL), 0);
}

START_TEST(test_relative_pid_file_in_a_non_ascii_directory) {
  WCHAR wdir[MAX_PATH], wsaved[MAX_PATH], wpid[MAX_PATH];
  char expect[MAX_PATH * 3], text[32];
  dk_daemonizer_t dz;
  dk_options_t opts;
  FILE *f;

  ck_assert_uint_gt(GetCurrentDirectoryW(MAX_PATH, wsaved), 0);
  ck_assert_int_gt(MultiByteToWideChar(CP_ACP, 0, dk_win_dir, -1, wdir, MAX_PATH), 0);
  wcscat(wdir, L"\\J\u00fcrgen \u65e5\u672c");
  ck_assert(CreateDirectoryW(wdir, NULL));
  ck_assert(SetCurrentDirectoryW(wdir));
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = "d.pid";
  opts.workdir = dk_win_dir;
  opts.flags = DK_WAIT_READY;
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), DK_PARENT);
  SetCurrentDirectoryW(wsaved);
  swprintf(wpid, MAX_PATH, L"%ls\\d.pid", wdir);
  utf8_of(wpid, expect, sizeof(expect));
  ck_assert_str_eq(dk_daemonizer_pid_file(&dz), expect);
  f = _wfopen(wpid, L"rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_ptr_nonnull(fgets(text, sizeof(text), f));
  fclose(f);
  ck_assert_int_eq(strtol(text, NULL, 10), dk_daemon_pid(&dz));
  ck_assert_int_eq(dk_send(expect, DK_SIGTERM), 0);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(GetFileAttributesW(wpid) == INVALID_FILE_ATTRIBUTES);
}
END_TEST

/* Directories nested past MAX_PATH: the pid file's path is `total` bytes. */
static void long_path(size_t total, char *out, size_t size) {
  WCHAR wide[DK_PATH_MAX + 8];
  char part[64];
  size_t len;
  snprintf(out, size, "%s", dk_win_dir);
  memset(part, 'd', 60);
  part[60] = '\0';
  while ((len = strlen(out)) + 1 + 60 + 6 < total) {
    snprintf(out + len, size - len, "\\%s", part);
    swprintf(wide, DK_PATH_MAX + 8, L"\\\\?\\%hs", out);
    ck_assert_msg(CreateDirectoryW(wide, NULL), "CreateDirectoryW %lu", GetLastError());
  }
  len = strlen(out);
  snprintf(out + len, size - len, "\\%.*s.pid", (int)(total - len - 5), "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp");
}

START_TEST(test_pid_file_path_longer_than_max_path) {
  char path[DK_PATH_MAX];
  dk_daemonizer_t dz;
  dk_options_t opts;
  uv_pid_t pid = 0;
  long_path(1200, path, sizeof(path));
  ck_assert_uint_eq(strlen(path), 1200);
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = path;
  opts.workdir = dk_win_dir;
  opts.flags = DK_WAIT_READY;
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), DK_PARENT);
  ck_assert_str_eq(dk_daemonizer_pid_file(&dz), path);
  ck_assert_int_eq(dk_pid_file_check(path, &pid), 0);
  ck_assert_int_eq(pid, dk_daemon_pid(&dz));
  ck_assert_int_eq(dk_send(path, DK_SIGTERM), 0);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert_int_eq(dk_pid_file_check(path, NULL), UV_ENOENT);
}
END_TEST

START_TEST(test_daemon_dead_before_reporting_is_edied_while_its_child_holds_the_pipe) {
  dk_daemonizer_t dz;
  ULONGLONG start, took;
  char text[32];
  HANDLE child;
  int r;
  ck_assert(SetEnvironmentVariableA("DK_TEST_EARLY_CHILD", dk_win_dir));
  start = GetTickCount64();
  r = launch(&dz, "die", DK_WAIT_READY, 8000, NULL);
  took = GetTickCount64() - start;
  SetEnvironmentVariableA("DK_TEST_EARLY_CHILD", NULL);
  ck_assert_int_gt(dk_win_read_text(dk_win_path(2, "child.pid"), text, sizeof(text)), 0);
  child = OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, strtoul(text, NULL, 10));
  ck_assert_ptr_nonnull(child);
  /* The child, which holds a copy of the pipe, outlived the answer. */
  ck_assert(WaitForSingleObject(child, 0) == WAIT_TIMEOUT);
  TerminateProcess(child, 1);
  CloseHandle(child);
  ck_assert_int_eq(r, DK_EDIED);
  ck_assert_msg(took < 4000, "DK_EDIED took %llu ms", (unsigned long long)took);
  ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));
}
END_TEST

START_TEST(test_report_pipe_and_marker_do_not_reach_the_daemons_children) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "inherit", DK_WAIT_READY, 0, NULL), DK_PARENT);
  ck_assert(wait_for_event("running"));
  ck_assert_msg(wait_for_event("pipe-inherit no"), "the report pipe is inheritable");
  ck_assert_msg(wait_for_event("crt-env absent"), "getenv still sees DK_DAEMONIZER_PIPE");
  ck_assert(wait_for_event("win32-env absent"));
  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
}
END_TEST

START_TEST(test_user_group_and_keep_fds_are_refused) {
  static const int fds[] = { 3 };
  struct scenario s;
  dk_daemonizer_t dz;
  dk_options_t opts;
  int i;
  memset(&s, 0, sizeof(s));
  snprintf(s.name, sizeof(s.name), "die"); /* if one did start */
  snprintf(s.dir, sizeof(s.dir), "%s", dk_win_dir);
  for (i = 0; i < 3; i++) {
    dk_daemonizer_init(&dz);
    dk_options_init(&opts);
    opts.pid_file = dk_win_path(0, "d.pid");
    opts.workdir = dk_win_dir;
    if (i == 0)
      opts.user = "nobody";
    if (i == 1)
      opts.group = "nogroup";
    if (i == 2) {
      opts.keep_fds = fds;
      opts.keep_fds_count = 1;
    }
    ck_assert_int_eq(dk_daemonize(&dz, &opts, &s, sizeof(s)), UV_ENOTSUP);
    ck_assert_int_eq(dk_daemon_pid(&dz), 0);
    ck_assert(!dk_win_exists(dk_win_path(0, "d.pid")));
  }
}
END_TEST

static void on_usr1_stop(dk_signals_t *sig, int signum) {
  (void)signum;
  *(int *)sig->data += 1;
  uv_stop(sig->loop);
}

static void on_deadline(uv_timer_t *t) {
  uv_stop(t->loop);
}

/* A program that wrote its own pid file, the Windows way, and watches it. */
static void own_pid_file_is_checked_and_signalled(const char *mode) {
  dk_signals_t sig;
  uv_loop_t loop;
  uv_timer_t deadline;
  uv_pid_t pid = 0;
  int got = 0;
  FILE *f = fopen(dk_win_path(0, "own.pid"), mode);
  ck_assert_ptr_nonnull(f);
  fprintf(f, "%lu\n", GetCurrentProcessId());
  fclose(f);
  uv_loop_init(&loop);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, dk_win_path(0, "own.pid")), 0);
  sig.data = &got;
  dk_signals_set(&sig, DK_SIGUSR1, on_usr1_stop);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(dk_pid_file_check(dk_win_path(0, "own.pid"), &pid), 0);
  ck_assert_int_eq(pid, (uv_pid_t)GetCurrentProcessId());
  ck_assert_int_eq(dk_send(dk_win_path(0, "own.pid"), DK_SIGUSR1), 0);
  uv_timer_init(&loop, &deadline);
  uv_timer_start(&deadline, on_deadline, 10000, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(got, 1);
  dk_signals_close(&sig, NULL);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(test_crlf_pid_file_of_a_windows_program_is_accepted) {
  own_pid_file_is_checked_and_signalled("w"); /* text mode: "<pid>\r\n" */
}
END_TEST

START_TEST(test_check_and_send_agree_on_a_process_that_wrote_its_own_pid_file) {
  own_pid_file_is_checked_and_signalled("wb");
}
END_TEST

START_TEST(test_second_signals_on_one_pid_file_in_one_process_is_refused) {
  dk_signals_t a, b;
  uv_loop_t loop;
  FILE *f = fopen(dk_win_path(0, "own.pid"), "wb");
  fprintf(f, "%lu\n", GetCurrentProcessId());
  fclose(f);
  uv_loop_init(&loop);
  ck_assert_int_eq(dk_signals_init(&loop, &a, dk_win_path(0, "own.pid")), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &b, dk_win_path(0, "own.pid")), UV_EBUSY);
  dk_signals_close(&a, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(dk_signals_init(&loop, &b, dk_win_path(0, "own.pid")), 0);
  dk_signals_close(&b, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_a_reader_that_shares_only_reading_reads_a_live_pid_file) {
  dk_daemonizer_t dz;
  char text[32], cmd[MAX_PATH * 2];
  DWORD n = 0;
  HANDLE h;
  ck_assert_int_eq(launch(&dz, "plain", DK_WAIT_READY, 0, NULL), DK_PARENT);
  h = CreateFileA(dk_win_path(0, "d.pid"), GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0,
                  NULL);
  ck_assert_msg(h != INVALID_HANDLE_VALUE, "CreateFile(GENERIC_READ, FILE_SHARE_READ): %lu",
                GetLastError());
  ck_assert(ReadFile(h, text, sizeof(text) - 1, &n, NULL));
  CloseHandle(h);
  text[n] = '\0';
  ck_assert_int_eq(strtol(text, NULL, 10), dk_daemon_pid(&dz));
  snprintf(cmd, sizeof(cmd), "type \"%s\" > \"%s\"", dk_win_path(0, "d.pid"),
           dk_win_path(1, "typed"));
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_gt(dk_win_read_text(dk_win_path(1, "typed"), text, sizeof(text)), 0);
  ck_assert_int_eq(strtol(text, NULL, 10), dk_daemon_pid(&dz));
  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
}
END_TEST

/* The name a daemon of `pid` holding `pid_file` gives its event. */
static void event_name(const char *ns, DWORD pid, const char *pid_file, const char *what,
                       WCHAR *out, size_t size) {
  BY_HANDLE_FILE_INFORMATION info;
  HANDLE h = CreateFileA(pid_file, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, 0, NULL);
  ck_assert(h != INVALID_HANDLE_VALUE);
  ck_assert(GetFileInformationByHandle(h, &info));
  CloseHandle(h);
  swprintf(out, size, L"%hs\\daemoniker-%lu-%08lx-%08lx%08lx-%hs", ns, pid,
           info.dwVolumeSerialNumber, info.nFileIndexHigh, info.nFileIndexLow, what);
}

static int sid_is(PSID sid, const char *text) {
  LPSTR s = NULL;
  int same;
  ck_assert(ConvertSidToStringSidA(sid, &s));
  same = strcmp(s, text) == 0;
  LocalFree(s);
  return same;
}

START_TEST(test_events_are_global_and_only_user_system_and_administrators_may_set_them) {
  PSECURITY_DESCRIPTOR sd = NULL;
  TOKEN_USER *user;
  char buf[256], *me = NULL;
  dk_daemonizer_t dz;
  WCHAR name[160];
  HANDLE event, token;
  PACL dacl = NULL;
  DWORD i, n;
  int seen_me = 0, seen_system = 0, seen_admins = 0;

  ck_assert_int_eq(launch(&dz, "plain", DK_WAIT_READY, 0, NULL), DK_PARENT);
  event_name("Global", (DWORD)dk_daemon_pid(&dz), dk_win_path(0, "d.pid"), "TERM", name, 160);
  event = OpenEventW(READ_CONTROL, FALSE, name);
  ck_assert_msg(event != NULL, "no %ls: %lu", name, GetLastError());
  ck_assert_uint_eq(GetSecurityInfo(event, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL,
                                    NULL, &dacl, NULL, &sd),
                    ERROR_SUCCESS);
  ck_assert_ptr_nonnull(dacl);
  ck_assert(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token));
  ck_assert(GetTokenInformation(token, TokenUser, buf, sizeof(buf), &n));
  CloseHandle(token);
  user = (TOKEN_USER *)buf;
  ck_assert(ConvertSidToStringSidA(user->User.Sid, &me));
  for (i = 0; i < dacl->AceCount; i++) {
    ACCESS_ALLOWED_ACE *ace;
    ck_assert(GetAce(dacl, i, (void **)&ace));
    ck_assert_uint_eq(ace->Header.AceType, ACCESS_ALLOWED_ACE_TYPE);
    ck_assert(ace->Mask & EVENT_MODIFY_STATE);
    if (sid_is(&ace->SidStart, me))
      seen_me = 1;
    else if (sid_is(&ace->SidStart, "S-1-5-18"))
      seen_system = 1;
    else if (sid_is(&ace->SidStart, "S-1-5-32-544"))
      seen_admins = 1;
    else
      ck_abort_msg("an ACE for another SID");
  }
  ck_assert(seen_me && seen_system && seen_admins);
  LocalFree(me);
  LocalFree(sd);
  CloseHandle(event);
  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
}
END_TEST

/* Someone created the daemon's event name before it did: it must not use
 * an event someone else controls. */
START_TEST(test_squatted_event_name_is_refused) {
  PROCESS_INFORMATION pi;
  char args[MAX_PATH + 32];
  WCHAR name[160];
  HANDLE squat;
  FILE *f = fopen(dk_win_path(0, "f.pid"), "wb");
  fclose(f);
  snprintf(args, sizeof(args), "fg default \"%s\"", dk_win_dir);
  spawn_self(args, CREATE_NEW_CONSOLE | CREATE_SUSPENDED, &pi);
  event_name("Global", pi.dwProcessId, dk_win_path(0, "f.pid"), "TERM", name, 160);
  squat = CreateEventW(NULL, FALSE, FALSE, name);
  ck_assert_ptr_nonnull(squat);
  ResumeThread(pi.hThread);
  if (!wait_for_event("daemonize")) {
    TerminateProcess(pi.hProcess, 1);
    ck_abort_msg("the daemon adopted a squatted event");
  }
  ck_assert(wait_for_event("daemonize EEXIST"));
  ck_assert_uint_eq(wait_process(&pi), 10);
  CloseHandle(squat);
}
END_TEST

START_TEST(test_console_programs_the_daemon_starts_share_its_hidden_console) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "console", DK_WAIT_READY, 0, NULL), DK_PARENT);
  ck_assert(wait_for_event("running"));
  ck_assert(wait_for_event("child-console "));
  ck_assert_msg(count_events("daemon-console 0") == 0, "the daemon has no console");
  ck_assert_msg(count_events("child-console 2") == 1, "the child got a console of its own");
  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
}
END_TEST

int main(int argc, char **argv) {
  dk_daemonizer_t dz;
  Suite *s;
  TCase *tc;

  GetEnvironmentVariableA("DK_DAEMONIZER_PIPE", marker_at_entry, sizeof(marker_at_entry));
  early_child();
  if (dk_daemonizer_init(&dz) == 0) {
    /* Relaunched: the scenario comes in the payload. */
    return daemon_main(&dz);
  }
  if (argc == 4 && strcmp(argv[1], "fg") == 0)
    return foreground_main(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "launch") == 0)
    return launcher_main(argv[2]);
  if (argc == 3 && strcmp(argv[1], "conprobe") == 0)
    return conprobe_main(argv[2]);
  if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
    Sleep((DWORD)atoi(argv[2]));
    return 0;
  }
  s = suite_create("windows");
  tc = tcase_create("relaunch");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_relaunch_gives_payload_locked_pid_file_and_default_term);
  tcase_add_test(tc, test_each_signal_reaches_its_callback_on_the_loop_thread);
  tcase_add_test(tc, test_ignored_signals_do_nothing);
  tcase_add_test(tc, test_burst_of_two_signals_delivers_both);
  tcase_add_test(tc, test_close_leaves_no_thread_and_main_returns);
  tcase_add_test(tc, test_daemoniker_windows_sigint_stops_daemon_and_removes_pid_file);
  tcase_add_test(tc, test_live_daemon_gives_erunning);
  tcase_add_test(tc, test_startup_failure_is_reported);
  tcase_add_test(tc, test_unopenable_stdout_is_refused_before_any_launch);
  tcase_add_test(tc, test_ready_error_exit_and_timeout);
  tcase_add_test(tc, test_send_refuses_stale_and_bad_pid_files);
  tcase_add_test(tc, test_stale_pid_file_is_taken_over);
  suite_add_tcase(s, tc);
  tc = tcase_create("as-deployed");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_ctrl_c_stops_a_foreground_process_like_sigint_and_removes_its_pid_file);
  tcase_add_test(tc, test_ctrl_c_reaches_the_sigint_callback_on_the_loop_each_time);
  tcase_add_test(tc, test_ignored_sigint_survives_ctrl_c);
  tcase_add_test(tc, test_daemon_outlives_its_launchers_kill_on_close_job);
  tcase_add_test(tc, test_daemon_starts_in_a_job_that_forbids_breakaway);
  tcase_add_test(tc, test_relative_pid_file_in_a_non_ascii_directory);
  tcase_add_test(tc, test_pid_file_path_longer_than_max_path);
  tcase_add_test(tc, test_daemon_dead_before_reporting_is_edied_while_its_child_holds_the_pipe);
  tcase_add_test(tc, test_report_pipe_and_marker_do_not_reach_the_daemons_children);
  tcase_add_test(tc, test_user_group_and_keep_fds_are_refused);
  tcase_add_test(tc, test_crlf_pid_file_of_a_windows_program_is_accepted);
  tcase_add_test(tc, test_check_and_send_agree_on_a_process_that_wrote_its_own_pid_file);
  tcase_add_test(tc, test_second_signals_on_one_pid_file_in_one_process_is_refused);
  tcase_add_test(tc, test_a_reader_that_shares_only_reading_reads_a_live_pid_file);
  tcase_add_test(tc, test_events_are_global_and_only_user_system_and_administrators_may_set_them);
  tcase_add_test(tc, test_squatted_event_name_is_refused);
  tcase_add_test(tc, test_console_programs_the_daemon_starts_share_its_hidden_console);
  suite_add_tcase(s, tc);
  return dk_win_run(s);
}
