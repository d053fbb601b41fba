/* The Windows half, run under Wine in CI: daemonizing by relaunch, signals
 * through named events, dk_send from another process.
 *
 * This executable is its own daemon: dk_daemonize relaunches it, and the
 * relaunched copy finds itself a daemon in dk_daemonizer_init, reads which
 * scenario to play from the payload, and reports what it sees to files in
 * the test's directory. The test waits on those files with deadlines. */
#include <check.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemoniker.h" /* uv.h brings winsock2.h, which must come first */
#include <windows.h>
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

static void note(const char *fmt, const char *arg) {
  char path[MAX_PATH + 32];
  FILE *f;
  snprintf(path, sizeof(path), "%s\\events.log", play.dir);
  f = fopen(path, "a");
  if (f == NULL)
    return;
  fprintf(f, fmt, arg);
  fputc('\n', f);
  fclose(f);
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
  if (strcmp(play.name, "hang") == 0)
    for (;;)
      Sleep(1000);
  if (strcmp(play.name, "ready-error") == 0) {
    dk_ready(dz, UV_EADDRINUSE);
    return 1;
  }

  threads_before = count_threads();
  uv_loop_init(&loop);
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
/* The test side                                                           */

static char dir[MAX_PATH];

static const char *in_dir(int slot, const char *name) {
  static char paths[4][MAX_PATH + 64];
  snprintf(paths[slot], sizeof(paths[slot]), "%s\\%s", dir, name);
  return paths[slot];
}

static void setup(void) {
  char tmp[MAX_PATH];
  static unsigned counter;
  ck_assert_uint_gt(GetTempPathA(sizeof(tmp), tmp), 0);
  snprintf(dir, sizeof(dir), "%sdk-win-%lu-%llu-%u", tmp, GetCurrentProcessId(),
           (unsigned long long)GetTickCount64(), ++counter);
  ck_assert(CreateDirectoryA(dir, NULL));
}

static void teardown(void) {
  char cmd[MAX_PATH + 32];
  snprintf(cmd, sizeof(cmd), "rmdir /s /q \"%s\" >NUL 2>&1", dir);
  system(cmd);
}

static int read_text(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "rb");
  size_t n;
  if (f == NULL)
    return -1;
  n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (int)n;
}

/* Waits until the daemon's event log holds `line`, or 10 s pass. */
static int wait_for_event(const char *line) {
  char buf[65536];
  DWORD start = GetTickCount();
  do {
    if (read_text(in_dir(3, "events.log"), buf, sizeof(buf)) >= 0 && strstr(buf, line) != NULL)
      return 1;
    Sleep(5);
  } while (GetTickCount() - start < 10000);
  return 0;
}

static int count_events(const char *line) {
  char buf[65536], *p;
  int n = 0;
  if (read_text(in_dir(3, "events.log"), buf, sizeof(buf)) < 0)
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

static int exists(const char *path) {
  return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

/* Starts a daemon playing `name`; returns dk_daemonize's result. */
static int launch(dk_daemonizer_t *dz, const char *name, unsigned flags, unsigned timeout_ms,
                  const char *workdir) {
  struct scenario s;
  dk_options_t opts;
  int i;
  memset(&s, 0, sizeof(s));
  snprintf(s.name, sizeof(s.name), "%s", name);
  snprintf(s.dir, sizeof(s.dir), "%s", dir);
  for (i = 0; i < 256; i++)
    s.bytes[i] = (unsigned char)(255 - i);
  dk_daemonizer_init(dz);
  dk_options_init(&opts);
  opts.pid_file = in_dir(0, "d.pid");
  opts.workdir = workdir != NULL ? workdir : dir;
  opts.stdout_path = in_dir(1, "out.log");
  opts.flags = flags;
  opts.timeout_ms = timeout_ms ? timeout_ms : 20000;
  return dk_daemonize(dz, &opts, &s, sizeof(s));
}

static void stop_with(uv_pid_t pid, int signum) {
  DWORD code = 99;
  ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), signum), 0);
  ck_assert_msg(wait_exit(pid, &code), "daemon did not exit");
  ck_assert_uint_eq(code, 0);
  ck_assert(!exists(in_dir(0, "d.pid")));
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
  ck_assert_int_ge(read_text(in_dir(0, "d.pid"), text, sizeof(text)), 2);
  ck_assert_int_eq(strtol(text, NULL, 10), dk_daemon_pid(&dz));
  ck_assert_int_eq(dk_pid_file_check(in_dir(0, "d.pid"), &pid), 0);
  ck_assert_int_eq(pid, dk_daemon_pid(&dz));

  /* The daemon's lock: another process can not take it. */
  h = CreateFileA(in_dir(0, "d.pid"), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                  NULL, OPEN_EXISTING, 0, NULL);
  ck_assert(h != INVALID_HANDLE_VALUE);
  memset(&ov, 0, sizeof(ov));
  ov.OffsetHigh = 0x40000000u;
  ck_assert(!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov));
  CloseHandle(h);

  ck_assert(wait_for_event("running"));
  f = fopen(in_dir(2, "payload.out"), "rb");
  ck_assert_ptr_nonnull(f);
  n = fread(got, 1, sizeof(got), f);
  fclose(f);
  ck_assert_uint_eq(n, 256);
  for (i = 0; i < 256; i++)
    ck_assert_uint_eq(got[i], 255 - i);

  ck_assert(wait_for_event(dir)); /* "cwd <dir>": the workdir asked for */
  ck_assert_int_gt(read_text(in_dir(1, "out.log"), text, sizeof(text)), 0);
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
    ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), order[i]), 0);
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
  ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), DK_SIGUSR1), 0);
  ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), DK_SIGTERM), 0);
  ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), DK_SIGUSR2), 0);
  /* Events are handled in one waiter's order: once USR2 is seen, the
   * earlier two were handled too, by doing nothing. */
  ck_assert(wait_for_event("SIGUSR2 on-loop"));
  ck_assert_int_eq(count_events("SIGUSR1"), 0);
  ck_assert_int_eq(dk_pid_file_check(in_dir(0, "d.pid"), NULL), 0);
  stop_with(dk_daemon_pid(&dz), DK_SIGINT);
  ck_assert(wait_for_event("received SIGINT"));
}
END_TEST

START_TEST(test_burst_of_two_signals_delivers_both) {
  dk_daemonizer_t dz;
  int i;
  ck_assert_int_eq(launch(&dz, "burst", DK_WAIT_READY, 0, NULL), DK_PARENT);
  for (i = 0; i < 500; i++)
    ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), i % 2 ? DK_SIGUSR2 : DK_SIGUSR1), 0);
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
  ck_assert_int_ge(read_text(in_dir(3, "events.log"), buf, sizeof(buf)), 0);
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
  read_text(in_dir(0, "d.pid"), before, sizeof(before));
  ck_assert_int_eq(launch(&second, "plain", DK_WAIT_READY, 0, NULL), DK_ERUNNING);
  ck_assert(wait_exit(dk_daemon_pid(&second), NULL));
  read_text(in_dir(0, "d.pid"), after, sizeof(after));
  ck_assert_str_eq(after, before);
  ck_assert_int_eq(dk_pid_file_check(in_dir(0, "d.pid"), NULL), 0);
  stop_with(dk_daemon_pid(&first), DK_SIGTERM);
}
END_TEST

START_TEST(test_startup_failure_is_reported) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "plain", 0, 0, in_dir(2, "no-such-dir")), UV_ENOENT);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!exists(in_dir(0, "d.pid")));
}
END_TEST

START_TEST(test_unopenable_stdout_is_refused_before_any_launch) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = in_dir(0, "d.pid");
  opts.stdout_path = in_dir(1, "no-such-dir\\out.log");
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), UV_ENOENT);
  ck_assert_int_eq(dk_daemon_pid(&dz), 0);
  ck_assert(!exists(in_dir(0, "d.pid")));
}
END_TEST

START_TEST(test_ready_error_exit_and_timeout) {
  dk_daemonizer_t dz;
  ck_assert_int_eq(launch(&dz, "ready-error", DK_WAIT_READY, 0, NULL), UV_EADDRINUSE);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!exists(in_dir(0, "d.pid")));

  ck_assert_int_eq(launch(&dz, "die", DK_WAIT_READY, 0, NULL), DK_EDIED);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!exists(in_dir(0, "d.pid")));

  ck_assert_int_eq(launch(&dz, "hang", DK_WAIT_READY, 1500, NULL), UV_ETIMEDOUT);
  ck_assert(wait_exit(dk_daemon_pid(&dz), NULL));
  ck_assert(!exists(in_dir(0, "d.pid")));
}
END_TEST

START_TEST(test_send_refuses_stale_and_bad_pid_files) {
  char text[32];
  FILE *f;
  /* Our own pid: a live process, but no daemon holding this file. */
  snprintf(text, sizeof(text), "%lu\n", GetCurrentProcessId());
  f = fopen(in_dir(0, "d.pid"), "wb");
  fputs(text, f);
  fclose(f);
  ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), DK_SIGTERM), DK_ESTALE);
  ck_assert_int_eq(dk_pid_file_check(in_dir(0, "d.pid"), NULL), DK_ESTALE);
  f = fopen(in_dir(0, "d.pid"), "wb");
  fputs("12abc\n", f);
  fclose(f);
  ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), DK_SIGTERM), DK_EBADPIDFILE);
  ck_assert_int_eq(dk_send(in_dir(1, "missing.pid"), DK_SIGTERM), UV_ENOENT);
  ck_assert_int_eq(dk_send(in_dir(0, "d.pid"), 9), UV_EINVAL);
}
END_TEST

START_TEST(test_stale_pid_file_is_taken_over) {
  dk_daemonizer_t dz;
  char text[32];
  FILE *f = fopen(in_dir(0, "d.pid"), "wb");
  fputs("4242\n", f);
  fclose(f);
  ck_assert_int_eq(launch(&dz, "plain", DK_WAIT_READY, 0, NULL), DK_PARENT);
  read_text(in_dir(0, "d.pid"), text, sizeof(text));
  ck_assert_int_eq(strtol(text, NULL, 10), dk_daemon_pid(&dz));
  stop_with(dk_daemon_pid(&dz), DK_SIGTERM);
}
END_TEST

int main(void) {
  dk_daemonizer_t dz;
  Suite *s;
  TCase *tc;
  SRunner *sr;
  int failed;

  if (dk_daemonizer_init(&dz) == 0) {
    /* Relaunched: the scenario comes in the payload. */
    return daemon_main(&dz);
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
  sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
