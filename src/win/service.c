/* SPDX-License-Identifier: MIT */
/* DK_SERVICE on Windows: the process the Service Control Manager started,
 * talking to it as an own-process service.
 *
 *   main thread      dk_daemonize: starts the dispatcher, waits for
 *                    ServiceMain (or for the dispatcher to fail: then no
 *                    SCM started us, and the process runs as DK_FOREGROUND),
 *                    sets up, reports RUNNING (or dk_ready does)
 *   dispatcher       StartServiceCtrlDispatcherW, on a thread of its own:
 *                    it returns only once the service reported STOPPED
 *   ServiceMain      registers the control handler, reports START_PENDING,
 *                    and waits for STOPPED so that it never returns early
 *   control handler  STOP and SHUTDOWN as DK_SIGTERM, PARAMCHANGE as
 *                    DK_SIGHUP: set on the daemon's own events, exactly as
 *                    dk_send sets them (signals.c's waiter thread and
 *                    uv_async_t take them to the loop)
 *
 * What the SCM is told, and when:
 *   START_PENDING    from ServiceMain, with the options' timeout as the
 *                    wait hint
 *   RUNNING          once set up; with DK_WAIT_READY, at dk_ready(dz, 0)
 *   STOP_PENDING     when the default handler acts on TERM, INT or ABRT
 *   STOPPED          at dk_daemonizer_cleanup or at exit, exit code 0, the
 *                    pid file removed first (the SCM may start the next
 *                    instance at once); after a failed set-up or
 *                    dk_ready(dz, err), ERROR_SERVICE_SPECIFIC_ERROR with
 *                    -err as the service-specific code (4091 for
 *                    UV_EADDRINUSE: dk_err_name(-code) names it); a process
 *                    that exits before it was RUNNING: -DK_EDIED.
 * The C runtime gives an exit handler no exit status, so a process that is
 * RUNNING and calls exit(1) is reported as stopped with 0; one that must be
 * seen to fail ends with _exit() or abort(), and the SCM records
 * ERROR_PROCESS_ABORTED and runs its recovery actions. */
#include <stdlib.h>

#include "win.h"

static struct {
  SRWLOCK lock;
  SERVICE_STATUS_HANDLE handle; /* non-NULL: this process is a service */
  SERVICE_STATUS status;
  DWORD wait_hint;
  HANDLE entered;               /* ServiceMain ran */
  HANDLE stopped;               /* STOPPED was reported */
  DWORD dispatcher_error;
  DWORD register_error;
} svc = { SRWLOCK_INIT, NULL, { 0 }, 0, NULL, NULL, 0, 0 };

/* What the SCM may send in each state: nothing but STOP while starting
 * (PARAMCHANGE would reach a loop that may not run yet), nothing once
 * stopping. */
static DWORD accepted_in(DWORD state) {
  if (state == SERVICE_START_PENDING)
    return SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN;
  if (state == SERVICE_RUNNING)
    return SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE;
  return 0;
}

/* Tells the SCM `state`, unless it was told STOPPED already: after that,
 * nothing more is true of this service. */
static void report(DWORD state, DWORD win32_code, DWORD specific_code) {
  int pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
  AcquireSRWLockExclusive(&svc.lock);
  if (svc.handle != NULL && svc.status.dwCurrentState != SERVICE_STOPPED) {
    svc.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    svc.status.dwCurrentState = state;
    svc.status.dwControlsAccepted = accepted_in(state);
    svc.status.dwWin32ExitCode = win32_code;
    svc.status.dwServiceSpecificExitCode = specific_code;
    svc.status.dwCheckPoint = pending ? svc.status.dwCheckPoint + 1 : 0;
    svc.status.dwWaitHint = pending ? svc.wait_hint : 0;
    SetServiceStatus(svc.handle, &svc.status);
    if (state == SERVICE_STOPPED)
      SetEvent(svc.stopped);
  }
  ReleaseSRWLockExclusive(&svc.lock);
}

static DWORD current_state(void) {
  DWORD state;
  AcquireSRWLockShared(&svc.lock);
  state = svc.handle != NULL ? svc.status.dwCurrentState : 0;
  ReleaseSRWLockShared(&svc.lock);
  return state;
}

static void report_failure(int err) {
  report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, (DWORD)-err);
}

/* A control is a signal, delivered as dk_send delivers one: to the events
 * of the pid file this process holds, or, holding none, to those of its
 * dk_signals_t. */
static void deliver(int dk_signum) {
  int index = dk__signal_index(dk_signum);
  if (dk__pidfile_raise(index) < 0)
    dk__signals_raise(index);
}

static DWORD WINAPI on_control(DWORD control, DWORD type, void *data, void *context) {
  (void)type;
  (void)data;
  (void)context;
  switch (control) {
  case SERVICE_CONTROL_STOP:
  case SERVICE_CONTROL_SHUTDOWN:
    deliver(DK_SIGTERM);
    return NO_ERROR;
  case SERVICE_CONTROL_PARAMCHANGE:
    deliver(DK_SIGHUP);
    return NO_ERROR;
  case SERVICE_CONTROL_INTERROGATE:
    return NO_ERROR;
  default:
    return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

static void WINAPI service_main(DWORD argc, WCHAR **argv) {
  /* An own-process service's name is not checked: argv[0] is its name. */
  SERVICE_STATUS_HANDLE h = RegisterServiceCtrlHandlerExW(argc > 0 ? argv[0] : L"", on_control, NULL);
  if (h == NULL)
    svc.register_error = GetLastError();
  AcquireSRWLockExclusive(&svc.lock);
  svc.handle = h;
  ReleaseSRWLockExclusive(&svc.lock);
  report(SERVICE_START_PENDING, NO_ERROR, 0);
  SetEvent(svc.entered);
  /* Returning would tell some SCMs the service is done; the process's
   * exit ends this thread in any case. */
  if (h != NULL)
    WaitForSingleObject(svc.stopped, INFINITE);
}

static DWORD WINAPI dispatch(void *arg) {
  static WCHAR name[] = L"";
  SERVICE_TABLE_ENTRYW table[2];
  (void)arg;
  table[0].lpServiceName = name; /* ignored for an own-process service */
  table[0].lpServiceProc = service_main;
  table[1].lpServiceName = NULL;
  table[1].lpServiceProc = NULL;
  if (StartServiceCtrlDispatcherW(table))
    return 0;
  svc.dispatcher_error = GetLastError();
  return 1;
}

static void at_exit(void) {
  dk__pidfile_drop(); /* reports STOPPED if RUNNING; removes the pid file first */
  if (current_state() == SERVICE_START_PENDING)
    report_failure(DK_EDIED);
}

int dk__service_connect(unsigned timeout_ms) {
  HANDLE thread, waits[2];
  DWORD r;

  svc.wait_hint = timeout_ms;
  svc.entered = CreateEventW(NULL, TRUE, FALSE, NULL);
  svc.stopped = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (svc.entered == NULL || svc.stopped == NULL)
    return DK__WIN_ERR(GetLastError());
  thread = CreateThread(NULL, 0, dispatch, NULL, 0, NULL);
  if (thread == NULL)
    return DK__WIN_ERR(GetLastError());
  waits[0] = svc.entered;
  waits[1] = thread;
  r = WaitForMultipleObjects(2, waits, FALSE, timeout_ms);
  if (r == WAIT_OBJECT_0 + 1) {
    /* The dispatcher gave up: no SCM started this process (a console, a
     * test), or an SCM refused it. */
    CloseHandle(thread);
    CloseHandle(svc.entered);
    CloseHandle(svc.stopped);
    svc.entered = svc.stopped = NULL;
    if (svc.dispatcher_error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
      return 0;
    return DK__WIN_ERR(svc.dispatcher_error);
  }
  /* The dispatcher runs as long as the service does; its handle is not
   * needed to stop it. */
  CloseHandle(thread);
  if (r == WAIT_TIMEOUT)
    return UV_ETIMEDOUT;
  if (r != WAIT_OBJECT_0)
    return DK__WIN_ERR(GetLastError());
  if (svc.handle == NULL)
    return DK__WIN_ERR(svc.register_error);
  if (atexit(at_exit) != 0) {
    report_failure(UV_ENOMEM);
    return UV_ENOMEM;
  }
  return 1;
}

int dk__service_active(void) {
  return current_state() != 0;
}

void dk__service_ready(int status) {
  if (!dk__service_active())
    return;
  if (status == 0) {
    report(SERVICE_RUNNING, NO_ERROR, 0);
    return;
  }
  report_failure(status);
  /* Told STOPPED, the service must not go on: the SCM may start another. */
  exit(EXIT_FAILURE);
}

void dk__service_failed(int err) {
  report_failure(err);
}

void dk__service_stopping(void) {
  DWORD state = current_state();
  if (state == SERVICE_RUNNING || state == SERVICE_START_PENDING)
    report(SERVICE_STOP_PENDING, NO_ERROR, 0);
}

/* dk_daemonizer_cleanup, or exit: done. Not while starting: a failed
 * dk_ready follows with its own code, or the exit with DK_EDIED. */
void dk__service_exit(void) {
  DWORD state = current_state();
  if (state == SERVICE_RUNNING || state == SERVICE_STOP_PENDING)
    report(SERVICE_STOPPED, NO_ERROR, 0);
}
