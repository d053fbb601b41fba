/* SPDX-License-Identifier: MIT */
/* DK_SERVICE on Windows, under the Service Control Manager (Wine's
 * services.exe in CI): the test creates a service whose command line is
 * this executable with "svc SCENARIO DIR", starts, controls, queries and
 * deletes it through the SCM API, as `sc` does, and reads what the service
 * saw from DIR\events.log. The example echo server is run as a service
 * too, and stopped by Wine's sc.exe. Every wait has a deadline; every
 * service made is stopped (killed if need be) and deleted even when a test
 * fails. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win-fixture.h"

/* ---------------------------------------------------------------------- */
/* The service side                                                        */

static char play_dir[MAX_PATH];
static uv_timer_t work;

static void note(const char *fmt, const char *arg) {
  dk_win_note(play_dir, fmt, arg);
}

static int present(const char *name) {
  char path[MAX_PATH + 32];
  snprintf(path, sizeof(path), "%s\\%s", play_dir, name);
  return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

/* The test's word to go on: a file it creates. 20 s at most. */
static void wait_for_file(const char *name) {
  DWORD start = GetTickCount();
  while (!present(name) && GetTickCount() - start < 20000)
    Sleep(5);
}

static void on_signal(dk_signals_t *sig, int signum) {
  (void)sig;
  note("%s on-loop", dk_signal_name(signum));
}

static void on_work(uv_timer_t *timer) {
  if (!present("finish"))
    return;
  note("%s", "work done");
  uv_timer_stop(timer);
  uv_stop(timer->loop);
}

/* A TERM callback that finishes its work (until the test says "finish")
 * before it lets main return. */
static void on_term_finish(dk_signals_t *sig, int signum) {
  on_signal(sig, signum);
  uv_timer_start(&work, on_work, 5, 5);
}

static void on_work_closed(uv_handle_t *h) {
  (void)h;
}

static int service_main(const char *scenario, const char *where) {
  char path[MAX_PATH + 32], missing[MAX_PATH + 32], text[32];
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_signals_t sig;
  uv_loop_t loop;
  int r, waits = strcmp(scenario, "ready") == 0 || strcmp(scenario, "fail") == 0;

  snprintf(play_dir, sizeof(play_dir), "%s", where);
  snprintf(path, sizeof(path), "%s\\s.pid", where);
  snprintf(missing, sizeof(missing), "%s\\missing", where);
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = strcmp(scenario, "nopid") == 0 ? NULL : path;
  opts.workdir = strcmp(scenario, "badwd") == 0 ? missing : where;
  opts.flags = DK_SERVICE | (waits ? DK_WAIT_READY : 0);
  r = dk_daemonize(&dz, &opts, NULL, 0);
  note("daemonize %s", r == DK_DAEMON ? "DK_DAEMON" : dk_err_name(r));
  if (r != DK_DAEMON)
    return 10;
  snprintf(text, sizeof(text), "%lu", GetCurrentProcessId());
  note("pid %s", text);
  if (strcmp(scenario, "fail") == 0) {
    wait_for_file("go");
    dk_ready(&dz, UV_EADDRINUSE);
    note("%s", "ready returned");
    return 1;
  }

  uv_loop_init(&loop);
  uv_timer_init(&loop, &work);
  r = dk_signals_init(&loop, &sig, dk_daemonizer_pid_file(&dz));
  if (r != 0) {
    note("signals %s", dk_err_name(r));
    return 11;
  }
  if (strcmp(scenario, "finish") == 0)
    dk_signals_set(&sig, DK_SIGTERM, on_term_finish);
  if (strcmp(scenario, "hup") == 0)
    dk_signals_set(&sig, DK_SIGHUP, on_signal);
  dk_signals_start(&sig);
  if (waits) {
    wait_for_file("go");
    dk_ready(&dz, 0);
  }
  note("%s", "running");
  uv_run(&loop, UV_RUN_DEFAULT);
  note("received %s",
       dk_signals_received(&sig) ? dk_signal_name(dk_signals_received(&sig)) : "none");
  /* Between the default handler's act and main's return: the test looks
   * at what the SCM is told meanwhile. */
  if (strcmp(scenario, "plain") == 0)
    wait_for_file("exit");
  dk_signals_close(&sig, NULL);
  uv_close((uv_handle_t *)&work, on_work_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  note("%s", "main returns");
  return 0; /* the pid file goes, and the SCM hears STOPPED, at exit */
}

/* ---------------------------------------------------------------------- */
/* The test side                                                           */

static SC_HANDLE scm, svc;
static HANDLE proc;
static WCHAR svc_name[64];

static void touch(const char *name) {
  FILE *f = fopen(dk_win_path(2, name), "wb");
  if (f != NULL)
    fclose(f);
}

/* Waits until the service's event log holds `line`, or 15 s pass. */
static int wait_for_event(const char *line) {
  return dk_win_wait_for_event(line, 15000);
}

/* Where `first` comes before `second` in the event log. */
static int in_order(const char *first, const char *second) {
  char buf[16384], *a, *b;
  if (dk_win_read_text(dk_win_path(3, "events.log"), buf, sizeof(buf)) < 0)
    return 0;
  a = strstr(buf, first);
  b = strstr(buf, second);
  return a != NULL && b != NULL && a < b;
}

static void query(SERVICE_STATUS_PROCESS *st) {
  DWORD needed;
  ck_assert_msg(QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)st, sizeof(*st), &needed),
                "QueryServiceStatusEx: error %lu", GetLastError());
}

/* Polls the SCM's view until the service is in `state`, or `ms` pass. */
static int wait_state(DWORD state, DWORD ms, SERVICE_STATUS_PROCESS *st) {
  DWORD start = GetTickCount();
  for (;;) {
    query(st);
    if (st->dwCurrentState == state)
      return 1;
    if (GetTickCount() - start >= ms)
      return 0;
    Sleep(10);
  }
}

static void setup(void) {
  dk_win_make_dir("dk-svc");
  scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_ALL_ACCESS);
  ck_assert_msg(scm != NULL, "OpenSCManagerW: error %lu", GetLastError());
  svc = NULL;
  proc = NULL;
}

/* Whatever the test left: the service stopped (its process killed if it
 * does not stop), deleted, and its directory gone. */
static void teardown(void) {
  SERVICE_STATUS_PROCESS st;
  SERVICE_STATUS ss;
  DWORD needed;

  if (svc != NULL) {
    touch("go");
    touch("exit");
    touch("finish");
    if (QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&st, sizeof(st), &needed) &&
        st.dwCurrentState != SERVICE_STOPPED) {
      ControlService(svc, SERVICE_CONTROL_STOP, &ss);
      if (!wait_state(SERVICE_STOPPED, 5000, &st) && proc != NULL)
        TerminateProcess(proc, 99);
    }
    DeleteService(svc);
    CloseServiceHandle(svc);
    svc = NULL;
  }
  if (proc != NULL) {
    if (WaitForSingleObject(proc, 5000) != WAIT_OBJECT_0)
      TerminateProcess(proc, 99);
    WaitForSingleObject(proc, 5000);
    CloseHandle(proc);
    proc = NULL;
  }
  CloseServiceHandle(scm);
  dk_win_remove_dir();
}

static void command_line(const char *scenario, WCHAR *out, size_t size) {
  WCHAR exe[MAX_PATH];
  GetModuleFileNameW(NULL, exe, MAX_PATH);
  _snwprintf(out, size, L"\"%ls\" svc %hs \"%hs\"", exe, scenario, dk_win_dir);
}

/* Creates an own-process service whose command line is `cmd` and starts
 * it; keeps a handle of its process. */
static void start_service_command(const WCHAR *cmd) {
  static unsigned counter;
  SERVICE_STATUS_PROCESS st;

  _snwprintf(svc_name, sizeof(svc_name) / sizeof(svc_name[0]), L"dk-test-%lu-%u",
             GetCurrentProcessId(), ++counter);
  svc = CreateServiceW(scm, svc_name, svc_name, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                       SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL,
                       NULL);
  ck_assert_msg(svc != NULL, "CreateServiceW: error %lu", GetLastError());
  ck_assert_msg(StartServiceW(svc, 0, NULL), "StartServiceW: error %lu", GetLastError());
  query(&st);
  ck_assert_uint_ne(st.dwProcessId, 0);
  proc = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_TERMINATE, FALSE,
                     st.dwProcessId);
  ck_assert_ptr_nonnull(proc);
}

/* A service playing `scenario` of this program's service side. */
static void start_service(const char *scenario) {
  WCHAR cmd[2 * MAX_PATH + 64];
  command_line(scenario, cmd, sizeof(cmd) / sizeof(cmd[0]));
  start_service_command(cmd);
}

/* The service started and RUNNING, its loop running. */
static void start_running(const char *scenario, SERVICE_STATUS_PROCESS *st) {
  start_service(scenario);
  ck_assert(wait_state(SERVICE_RUNNING, 10000, st));
  ck_assert(wait_for_event("running"));
}

static void control(DWORD code) {
  SERVICE_STATUS ss;
  ck_assert_msg(ControlService(svc, code, &ss), "ControlService(%lu): error %lu", code,
                GetLastError());
}

static DWORD process_exit_code(void) {
  DWORD code = 259;
  ck_assert_msg(WaitForSingleObject(proc, 10000) == WAIT_OBJECT_0, "the service's process lives on");
  GetExitCodeProcess(proc, &code);
  return code;
}

static void assert_stopped_cleanly(void) {
  SERVICE_STATUS_PROCESS st;
  ck_assert_msg(wait_state(SERVICE_STOPPED, 10000, &st), "state %lu, not STOPPED",
                st.dwCurrentState);
  ck_assert_uint_eq(st.dwWin32ExitCode, NO_ERROR);
  ck_assert_uint_eq(st.dwServiceSpecificExitCode, 0);
  ck_assert_uint_eq(process_exit_code(), 0);
  ck_assert(dk_win_has_event("main returns"));
}

/* STOPPED with the library's error `r` as its service-specific code. */
static void assert_stopped_with_the_librarys_code(int r) {
  SERVICE_STATUS_PROCESS st;
  ck_assert_msg(wait_state(SERVICE_STOPPED, 10000, &st), "state %lu, not STOPPED",
                st.dwCurrentState);
  ck_assert_uint_eq(st.dwWin32ExitCode, ERROR_SERVICE_SPECIFIC_ERROR);
  ck_assert_uint_eq(st.dwServiceSpecificExitCode, (DWORD)-r);
}

/* DeleteService on the stopped service: the SCM then knows no such name. */
static void assert_delete_service_removes_it(void) {
  SC_HANDLE gone;
  DWORD error;
  ck_assert(DeleteService(svc));
  CloseServiceHandle(svc);
  svc = NULL;
  gone = OpenServiceW(scm, svc_name, SERVICE_QUERY_STATUS);
  error = GetLastError();
  ck_assert_ptr_null(gone);
  ck_assert_uint_eq(error, ERROR_SERVICE_DOES_NOT_EXIST);
}

static long pid_in_file(const char *path) {
  char text[32];
  return dk_win_read_text(path, text, sizeof(text)) > 0 ? strtol(text, NULL, 10) : -1;
}

START_TEST(test_stop_runs_the_default_term_handler_and_the_service_stops_with_exit_code_0) {
  SERVICE_STATUS_PROCESS st;
  DWORD pid;

  start_service("plain");
  ck_assert_msg(wait_state(SERVICE_RUNNING, 10000, &st), "state %lu, not RUNNING",
                st.dwCurrentState);
  ck_assert_uint_eq(st.dwServiceType, SERVICE_WIN32_OWN_PROCESS);
  ck_assert(st.dwControlsAccepted & SERVICE_ACCEPT_STOP);
  ck_assert(st.dwControlsAccepted & SERVICE_ACCEPT_SHUTDOWN);
  pid = st.dwProcessId;
  ck_assert(wait_for_event("running"));
  ck_assert(dk_win_has_event("daemonize DK_DAEMON"));
  ck_assert_int_eq(pid_in_file(dk_win_path(0, "s.pid")), (long)pid);

  control(SERVICE_CONTROL_STOP);
  ck_assert(wait_for_event("received SIGTERM"));
  /* The default handler acted, main has not returned: stopping. */
  query(&st);
  ck_assert_uint_eq(st.dwCurrentState, SERVICE_STOP_PENDING);
  ck_assert_uint_gt(st.dwWaitHint, 0);
  touch("exit");
  assert_stopped_cleanly();
  ck_assert(!dk_win_exists(dk_win_path(0, "s.pid")));

  assert_delete_service_removes_it();
}
END_TEST

START_TEST(test_wait_ready_service_is_running_only_after_dk_ready) {
  SERVICE_STATUS_PROCESS st;

  start_service("ready");
  ck_assert(wait_for_event("daemonize DK_DAEMON"));
  query(&st);
  ck_assert_uint_eq(st.dwCurrentState, SERVICE_START_PENDING);
  ck_assert_uint_gt(st.dwWaitHint, 0);
  ck_assert(!dk_win_has_event("running"));
  touch("go");
  ck_assert_msg(wait_state(SERVICE_RUNNING, 10000, &st), "state %lu, not RUNNING",
                st.dwCurrentState);
  ck_assert(wait_for_event("running"));
  control(SERVICE_CONTROL_STOP);
  assert_stopped_cleanly();
}
END_TEST

START_TEST(test_stop_waits_for_the_term_callback_to_finish_its_work) {
  SERVICE_STATUS_PROCESS st;

  start_running("finish", &st);
  control(SERVICE_CONTROL_STOP);
  ck_assert(wait_for_event("SIGTERM on-loop"));
  /* The application's callback has it: nothing stops behind its back. */
  query(&st);
  ck_assert_uint_eq(st.dwCurrentState, SERVICE_RUNNING);
  ck_assert_uint_eq(WaitForSingleObject(proc, 0), WAIT_TIMEOUT);
  touch("finish");
  assert_stopped_cleanly();
  ck_assert(in_order("work done", "main returns"));
  ck_assert(dk_win_has_event("received none"));
}
END_TEST

START_TEST(test_paramchange_reaches_the_hup_callback) {
  SERVICE_STATUS_PROCESS st;

  start_running("hup", &st);
  ck_assert(st.dwControlsAccepted & SERVICE_ACCEPT_PARAMCHANGE);
  control(SERVICE_CONTROL_PARAMCHANGE);
  ck_assert(wait_for_event("SIGHUP on-loop"));
  query(&st);
  ck_assert_uint_eq(st.dwCurrentState, SERVICE_RUNNING);
  control(SERVICE_CONTROL_STOP);
  assert_stopped_cleanly();
  ck_assert(dk_win_has_event("received SIGTERM"));
}
END_TEST

START_TEST(test_ready_error_stops_the_service_with_the_librarys_code) {
  start_service("fail");
  ck_assert(wait_for_event("daemonize DK_DAEMON"));
  ck_assert(dk_win_exists(dk_win_path(0, "s.pid")));
  touch("go");
  assert_stopped_with_the_librarys_code(UV_EADDRINUSE);
  ck_assert_uint_ne(process_exit_code(), 0);
  ck_assert(!dk_win_has_event("ready returned")); /* the process ended in dk_ready */
  ck_assert(!dk_win_exists(dk_win_path(0, "s.pid")));
}
END_TEST

/* A set-up that fails (here: no such workdir) is a failed start. Wine's
 * StartServiceW may see the STOPPED before it returns and say so. */
START_TEST(test_failed_set_up_stops_the_service_with_the_librarys_code) {
  WCHAR cmd[2 * MAX_PATH + 64];
  DWORD error = 0;

  command_line("badwd", cmd, sizeof(cmd) / sizeof(cmd[0]));
  _snwprintf(svc_name, sizeof(svc_name) / sizeof(svc_name[0]), L"dk-test-%lu-wd",
             GetCurrentProcessId());
  svc = CreateServiceW(scm, svc_name, svc_name, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                       SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL,
                       NULL);
  ck_assert_msg(svc != NULL, "CreateServiceW: error %lu", GetLastError());
  if (!StartServiceW(svc, 0, NULL))
    error = GetLastError();
  ck_assert_msg(error == 0 || error == ERROR_SERVICE_REQUEST_TIMEOUT, "StartServiceW: error %lu",
                error);
  assert_stopped_with_the_librarys_code(UV_ENOENT);
  ck_assert(wait_for_event("daemonize ENOENT"));
}
END_TEST

START_TEST(test_service_without_a_pid_file_gets_stop_on_its_loop) {
  SERVICE_STATUS_PROCESS st;

  start_running("nopid", &st);
  ck_assert(!dk_win_has_event("signals"));
  control(SERVICE_CONTROL_STOP);
  assert_stopped_cleanly();
  ck_assert(dk_win_has_event("received SIGTERM"));
}
END_TEST

/* The same binary, started as any console program is: DK_FOREGROUND. */
START_TEST(test_the_service_binary_run_from_a_console_runs_in_the_foreground) {
  WCHAR cmd[2 * MAX_PATH + 64];
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;

  command_line("plain", cmd, sizeof(cmd) / sizeof(cmd[0]));
  memset(&si, 0, sizeof(si));
  si.cb = sizeof(si);
  ck_assert(CreateProcessW(NULL, cmd, NULL, NULL, FALSE, CREATE_NEW_CONSOLE, NULL, NULL, &si, &pi));
  proc = pi.hProcess;
  CloseHandle(pi.hThread);
  ck_assert_msg(wait_for_event("running"), "the console run never got running");
  ck_assert(dk_win_has_event("daemonize DK_DAEMON"));
  /* No relaunch: the process started is the one that holds the pid file. */
  ck_assert_int_eq(pid_in_file(dk_win_path(0, "s.pid")), (long)pi.dwProcessId);
  ck_assert_int_eq(dk_send(dk_win_path(0, "s.pid"), DK_SIGTERM), 0);
  ck_assert(wait_for_event("received SIGTERM"));
  touch("exit");
  ck_assert_uint_eq(process_exit_code(), 0);
  ck_assert(dk_win_has_event("main returns"));
  ck_assert(!dk_win_exists(dk_win_path(0, "s.pid")));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The example echo server as a service                                    */

/* examples\echo-server.exe of the build tree this program is in (as
 * test\test-service.exe). */
static void echo_server_path(WCHAR *out, size_t size) {
  WCHAR self[MAX_PATH], *slash;
  int i;
  ck_assert_uint_gt(GetModuleFileNameW(NULL, self, MAX_PATH), 0);
  for (i = 0; i < 2; i++) {
    slash = wcsrchr(self, L'\\');
    ck_assert_ptr_nonnull(slash);
    *slash = L'\0';
  }
  _snwprintf(out, size, L"%ls\\examples\\echo-server.exe", self);
}

/* A loopback port nobody listens on now: the system's pick for a socket
 * bound to port 0, closed again. */
static int free_loopback_port(void) {
  struct sockaddr_in addr;
  int len = sizeof(addr);
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  ck_assert_msg(s != INVALID_SOCKET, "socket: WSA error %d", WSAGetLastError());
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(bind(s, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind: WSA error %d",
                WSAGetLastError());
  ck_assert(getsockname(s, (struct sockaddr *)&addr, &len) == 0);
  closesocket(s);
  return ntohs(addr.sin_port);
}

/* A client of 127.0.0.1:port: sends msg, reads it back, closes. NULL if
 * the echo came back whole; else what failed. 5 s at most for each read
 * and write. */
static const char *echo_once(int port, const char *msg) {
  static char why[96];
  struct sockaddr_in addr;
  DWORD ms = 5000;
  char back[256];
  int len = (int)strlen(msg), got = 0, n;
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

  if (s == INVALID_SOCKET) {
    snprintf(why, sizeof(why), "socket: WSA error %d", WSAGetLastError());
    return why;
  }
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof(ms));
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof(ms));
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((u_short)port);
  why[0] = '\0';
  if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0)
    snprintf(why, sizeof(why), "connect to port %d: WSA error %d", port, WSAGetLastError());
  else if (send(s, msg, len, 0) != len)
    snprintf(why, sizeof(why), "send: WSA error %d", WSAGetLastError());
  while (why[0] == '\0' && got < len) {
    n = recv(s, back + got, (int)sizeof(back) - got, 0);
    if (n > 0)
      got += n;
    else if (n == 0)
      snprintf(why, sizeof(why), "closed after %d of %d bytes echoed", got, len);
    else
      snprintf(why, sizeof(why), "recv after %d bytes: WSA error %d", got, WSAGetLastError());
  }
  if (why[0] == '\0' && memcmp(back, msg, (size_t)len) != 0)
    snprintf(why, sizeof(why), "the echo differs from what was sent");
  closesocket(s);
  return why[0] == '\0' ? NULL : why;
}

/* Wine's own sc.exe (as an administrator types it) run with args; its
 * exit code. 10 s at most. */
static DWORD run_sc(const WCHAR *args) {
  WCHAR sc[MAX_PATH], cmd[MAX_PATH + 128];
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  DWORD code = STILL_ACTIVE;

  ck_assert_uint_gt(GetSystemDirectoryW(sc, MAX_PATH - 8), 0);
  wcscat(sc, L"\\sc.exe");
  ck_assert_msg(GetFileAttributesW(sc) != INVALID_FILE_ATTRIBUTES, "no sc.exe in the system directory");
  _snwprintf(cmd, sizeof(cmd) / sizeof(cmd[0]), L"\"%ls\" %ls", sc, args);
  memset(&si, 0, sizeof(si));
  si.cb = sizeof(si);
  ck_assert_msg(CreateProcessW(sc, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi),
                "CreateProcessW(sc.exe): error %lu", GetLastError());
  CloseHandle(pi.hThread);
  if (WaitForSingleObject(pi.hProcess, 10000) != WAIT_OBJECT_0) {
    TerminateProcess(pi.hProcess, 99);
    WaitForSingleObject(pi.hProcess, 5000);
  }
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hProcess);
  return code;
}

static const char *echo_log(void) {
  static char text[16384];
  if (dk_win_read_text(dk_win_path(1, "echo.log"), text, sizeof(text)) < 0)
    snprintf(text, sizeof(text), "(no echo.log)");
  return text;
}

/* examples/echo-server as the SCM runs it, --service and no pid file: it
 * is RUNNING only once it listens (DK_WAIT_READY), so a client served at
 * once; `sc stop` is its SIGTERM: it drains, main returns 0, STOPPED. */
START_TEST(test_echo_server_service_serves_a_loopback_client_until_sc_stop) {
  static const char msg[] = "hello through the SCM\n";
  SERVICE_STATUS_PROCESS st;
  WCHAR exe[MAX_PATH], cmd[3 * MAX_PATH + 64], args[96];
  char want[64];
  const char *why;
  int port = free_loopback_port();

  echo_server_path(exe, MAX_PATH);
  _snwprintf(cmd, sizeof(cmd) / sizeof(cmd[0]), L"\"%ls\" --service --port %d --log \"%hs\"", exe,
             port, dk_win_path(1, "echo.log"));
  start_service_command(cmd);
  ck_assert_msg(wait_state(SERVICE_RUNNING, 10000, &st), "state %lu, not RUNNING; log: %s",
                st.dwCurrentState, echo_log());
  why = echo_once(port, msg);
  ck_assert_msg(why == NULL, "echo client: %s; log: %s", why, echo_log());
  snprintf(want, sizeof(want), "listening on 127.0.0.1:%d", port);
  ck_assert_msg(strstr(echo_log(), want) != NULL, "no '%s' in the log: %s", want, echo_log());

  _snwprintf(args, sizeof(args) / sizeof(args[0]), L"stop %ls", svc_name);
  ck_assert_uint_eq(run_sc(args), 0);
  ck_assert_msg(wait_state(SERVICE_STOPPED, 10000, &st), "state %lu, not STOPPED; log: %s",
                st.dwCurrentState, echo_log());
  ck_assert_uint_eq(st.dwWin32ExitCode, NO_ERROR);
  ck_assert_uint_eq(st.dwServiceSpecificExitCode, 0);
  ck_assert_uint_eq(process_exit_code(), 0);
  snprintf(want, sizeof(want), "closed, %d bytes echoed", (int)strlen(msg));
  ck_assert_msg(strstr(echo_log(), want) != NULL, "no '%s' in the log: %s", want, echo_log());
  ck_assert_ptr_nonnull(strstr(echo_log(), "SIGTERM: no new connections"));
  ck_assert_ptr_nonnull(strstr(echo_log(), "stopped, exiting"));

  assert_delete_service_removes_it();
}
END_TEST

int main(int argc, char **argv) {
  WSADATA wsa;
  Suite *s;
  TCase *tc;

  if (argc == 4 && strcmp(argv[1], "svc") == 0)
    return service_main(argv[2], argv[3]);
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
    fprintf(stderr, "test-service: WSAStartup failed\n");
    return 1;
  }
  s = suite_create("service");
  tc = tcase_create("scm");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_stop_runs_the_default_term_handler_and_the_service_stops_with_exit_code_0);
  tcase_add_test(tc, test_wait_ready_service_is_running_only_after_dk_ready);
  tcase_add_test(tc, test_stop_waits_for_the_term_callback_to_finish_its_work);
  tcase_add_test(tc, test_paramchange_reaches_the_hup_callback);
  tcase_add_test(tc, test_ready_error_stops_the_service_with_the_librarys_code);
  tcase_add_test(tc, test_failed_set_up_stops_the_service_with_the_librarys_code);
  tcase_add_test(tc, test_service_without_a_pid_file_gets_stop_on_its_loop);
  tcase_add_test(tc, test_the_service_binary_run_from_a_console_runs_in_the_foreground);
  tcase_add_test(tc, test_echo_server_service_serves_a_loopback_client_until_sc_stop);
  suite_add_tcase(s, tc);
  return dk_win_run(s);
}
