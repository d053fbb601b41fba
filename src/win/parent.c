/* SPDX-License-Identifier: MIT */
/* Daemonizing on Windows, the parent's side: relaunch this executable as
 * the daemon, hand it the options and payload over a duplex named pipe,
 * and wait for its report, for its exit, or for the deadline.
 *
 * The daemon is started with
 *   CREATE_NO_WINDOW           a console of its own that has no window:
 *                              console programs it starts share it, where
 *                              from a process with no console (DETACHED)
 *                              each would open a console window of its own
 *   CREATE_NEW_PROCESS_GROUP   Ctrl+C and Ctrl+Break in the launcher's
 *                              console are not the daemon's
 *   CREATE_BREAKAWAY_FROM_JOB  so that a launcher in a kill-on-close job
 *                              (Windows OpenSSH sessions, CI runners) does
 *                              not take the daemon with it; a job that
 *                              forbids breakaway refuses this, and the
 *                              daemon is then started in the job, which
 *                              ends it when the job is closed
 * inheriting only the pipe and its stdio. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win.h"

#define KILL_GRACE_MS 5000

static unsigned pipe_counter;

/* One overlapped read or write on the parent's end, bounded by the
 * deadline and by the daemon's life. Returns 0 and *done, or a negative
 * code; a broken pipe, or the daemon gone while a child it started may
 * still hold the pipe open, is 0 with *done == 0. */
static int pipe_io(HANDLE pipe, HANDLE daemon, int writing, void *buf, DWORD len,
                   ULONGLONG deadline, DWORD *done) {
  HANDLE waits[2];
  OVERLAPPED ov;
  ULONGLONG now;
  BOOL ok;
  DWORD wait;
  int err = 0;

  memset(&ov, 0, sizeof(ov));
  ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (ov.hEvent == NULL)
    return DK__WIN_ERR(GetLastError());
  *done = 0;
  ok = writing ? WriteFile(pipe, buf, len, NULL, &ov) : ReadFile(pipe, buf, len, NULL, &ov);
  if (!ok && GetLastError() != ERROR_IO_PENDING) {
    DWORD e = GetLastError();
    CloseHandle(ov.hEvent);
    return (e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA) ? 0 : DK__WIN_ERR(e);
  }
  now = GetTickCount64();
  /* The I/O first: when both are signalled, what the daemon wrote before
   * it exited is read. */
  waits[0] = ov.hEvent;
  waits[1] = daemon;
  wait = WaitForMultipleObjects(2, waits, FALSE, deadline > now ? (DWORD)(deadline - now) : 0);
  if (wait != WAIT_OBJECT_0)
    CancelIoEx(pipe, &ov);
  if (wait == WAIT_TIMEOUT)
    err = UV_ETIMEDOUT;
  if (!GetOverlappedResult(pipe, &ov, done, TRUE) && err == 0) {
    DWORD e = GetLastError();
    if (e != ERROR_BROKEN_PIPE && e != ERROR_NO_DATA && e != ERROR_OPERATION_ABORTED)
      err = DK__WIN_ERR(e);
  }
  CloseHandle(ov.hEvent);
  return err;
}

static int pipe_io_all(HANDLE pipe, HANDLE daemon, int writing, const void *buf, size_t len,
                       ULONGLONG deadline, int *eof) {
  size_t off = 0;
  *eof = 0;
  while (off < len) {
    DWORD chunk = len - off > 0x100000 ? 0x100000 : (DWORD)(len - off), done;
    int err = pipe_io(pipe, daemon, writing, (char *)buf + off, chunk, deadline, &done);
    if (err < 0)
      return err;
    if (done == 0) {
      *eof = 1;
      return 0;
    }
    off += done;
  }
  return 0;
}

static int make_blob(const dk_options_t *opts, const char *pid_path, const void *payload,
                     size_t payload_len, char **out, size_t *out_len) {
  const char *strs[DK__STR_COUNT];
  struct dk__blob_head head;
  size_t total = sizeof(head), off;
  char *blob;
  int i;

  strs[DK__STR_PID_FILE] = pid_path;
  strs[DK__STR_WORKDIR] = opts->workdir;
  strs[DK__STR_STDIN] = opts->stdin_path;
  strs[DK__STR_STDOUT] = opts->stdout_path;
  strs[DK__STR_STDERR] = opts->stderr_path;
  memset(&head, 0, sizeof(head));
  head.magic = DK__BLOB_MAGIC;
  head.flags = opts->flags;
  head.umask = (unsigned int)(opts->umask < 0 ? DK__DEFAULT_UMASK : opts->umask);
  head.timeout_ms = opts->timeout_ms;
  head.payload_len = payload_len;
  for (i = 0; i < DK__STR_COUNT; i++) {
    head.len[i] = strs[i] != NULL ? (unsigned int)strlen(strs[i]) : DK__NO_STRING;
    total += strs[i] != NULL ? head.len[i] : 0;
  }
  total += payload_len;
  blob = malloc(total);
  if (blob == NULL)
    return UV_ENOMEM;
  memcpy(blob, &head, sizeof(head));
  off = sizeof(head);
  for (i = 0; i < DK__STR_COUNT; i++)
    if (strs[i] != NULL) {
      memcpy(blob + off, strs[i], head.len[i]);
      off += head.len[i];
    }
  if (payload_len > 0)
    memcpy(blob + off, payload, payload_len);
  *out = blob;
  *out_len = total;
  return 0;
}

/* A duplex pipe: the parent's end is overlapped, so every wait on it has a
 * deadline; the daemon's end is inheritable and synchronous. */
static int make_pipe(HANDLE *parent_end, HANDLE *daemon_end) {
  SECURITY_ATTRIBUTES inherit = { sizeof(SECURITY_ATTRIBUTES), NULL, TRUE };
  WCHAR name[96];
  _snwprintf(name, sizeof(name) / sizeof(name[0]), L"\\\\.\\pipe\\daemoniker-%lu-%u-%llu",
             GetCurrentProcessId(), ++pipe_counter, (unsigned long long)GetTickCount64());
  *parent_end = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                                           FILE_FLAG_FIRST_PIPE_INSTANCE,
                                 PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 65536, 65536,
                                 0, NULL);
  if (*parent_end == INVALID_HANDLE_VALUE)
    return DK__WIN_ERR(GetLastError());
  *daemon_end = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, &inherit, OPEN_EXISTING, 0,
                            NULL);
  if (*daemon_end == INVALID_HANDLE_VALUE) {
    int err = DK__WIN_ERR(GetLastError());
    CloseHandle(*parent_end);
    return err;
  }
  return 0;
}

/* Opens what the daemon's stdio will be, inheritable: given to it at its
 * creation, so that its C runtime starts with working stdin, stdout and
 * stderr (a detached process's are otherwise invalid, and the runtime can
 * not be made to take new ones later). Appends, as on POSIX. */
static int open_stdio(const dk_options_t *opts, HANDLE stdio[3]) {
  SECURITY_ATTRIBUTES inherit = { sizeof(SECURITY_ATTRIBUTES), NULL, TRUE };
  const char *paths[3];
  WCHAR wpath[DK__WPATH_MAX];
  int i, err;

  paths[0] = opts->stdin_path;
  paths[1] = opts->stdout_path;
  paths[2] = opts->stderr_path;
  for (i = 0; i < 3; i++)
    stdio[i] = INVALID_HANDLE_VALUE;
  for (i = 0; i < 3; i++) {
    err = dk__system_path(paths[i] != NULL ? paths[i] : "NUL", wpath, DK__WPATH_MAX);
    if (err == 0) {
      stdio[i] = CreateFileW(wpath, i > 0 ? FILE_APPEND_DATA : GENERIC_READ,
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &inherit,
                             i > 0 ? OPEN_ALWAYS : OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
      if (stdio[i] == INVALID_HANDLE_VALUE)
        err = DK__WIN_ERR(GetLastError());
    }
    if (err < 0) {
      while (i-- > 0)
        CloseHandle(stdio[i]);
      return err;
    }
  }
  return 0;
}

/* Starts this executable again, as the daemon (see the top of the file). */
static int relaunch(HANDLE daemon_end, HANDLE stdio[3], PROCESS_INFORMATION *pi) {
  HANDLE inherited[4] = { daemon_end, stdio[0], stdio[1], stdio[2] };
  WCHAR exe[DK__WPATH_MAX];
  STARTUPINFOEXW si;
  DWORD flags;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
  SIZE_T attrs_size = 0;
  char marker[32];
  BOOL ok;
  int err = 0;

  if (GetModuleFileNameW(NULL, exe, DK__WPATH_MAX) == 0)
    return DK__WIN_ERR(GetLastError());
  memset(&si, 0, sizeof(si));
  si.StartupInfo.cb = sizeof(si.StartupInfo);
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = stdio[0];
  si.StartupInfo.hStdOutput = stdio[1];
  si.StartupInfo.hStdError = stdio[2];
  InitializeProcThreadAttributeList(NULL, 1, 0, &attrs_size);
  attrs = malloc(attrs_size);
  if (attrs != NULL && InitializeProcThreadAttributeList(attrs, 1, 0, &attrs_size) &&
      UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited,
                                sizeof(inherited), NULL, NULL)) {
    si.StartupInfo.cb = sizeof(STARTUPINFOEXW);
    si.lpAttributeList = attrs;
  }

  snprintf(marker, sizeof(marker), "%llu", (unsigned long long)(uintptr_t)daemon_end);
  uv_os_setenv(DK__RELAUNCH_ENV, marker);
  flags = CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP | CREATE_UNICODE_ENVIRONMENT |
          (si.lpAttributeList != NULL ? EXTENDED_STARTUPINFO_PRESENT : 0);
  ok = CreateProcessW(exe, GetCommandLineW(), NULL, NULL, TRUE, flags | CREATE_BREAKAWAY_FROM_JOB,
                      NULL, NULL, &si.StartupInfo, pi);
  /* Refused by a job without JOB_OBJECT_LIMIT_BREAKAWAY_OK. */
  if (!ok && GetLastError() == ERROR_ACCESS_DENIED)
    ok = CreateProcessW(exe, GetCommandLineW(), NULL, NULL, TRUE, flags, NULL, NULL,
                        &si.StartupInfo, pi);
  if (!ok)
    err = DK__WIN_ERR(GetLastError());
  uv_os_unsetenv(DK__RELAUNCH_ENV);
  if (si.lpAttributeList != NULL)
    DeleteProcThreadAttributeList(attrs);
  free(attrs);
  return err;
}

static int read_result(HANDLE pipe, HANDLE daemon, ULONGLONG deadline) {
  struct dk__report r;
  int eof, err;
  for (;;) {
    err = pipe_io_all(pipe, daemon, 0, &r, sizeof(r), deadline, &eof);
    if (err < 0)
      return err;
    if (eof)
      return DK_EDIED;
    if (r.kind == DK__REPORT_RESULT)
      return r.value;
  }
}

int dk__run_parent(dk_daemonizer_t *dz, const dk_options_t *opts, void *payload,
                   size_t payload_len) {
  unsigned timeout_ms = opts->timeout_ms ? opts->timeout_ms : DK__DEFAULT_TIMEOUT_MS;
  ULONGLONG deadline = GetTickCount64() + timeout_ms;
  PROCESS_INFORMATION pi;
  HANDLE parent_end = INVALID_HANDLE_VALUE, daemon_end, stdio[3];
  size_t blob_len;
  char *blob;
  int err, eof = 0, i;

  err = make_blob(opts, dz->pid_path, payload, payload_len, &blob, &blob_len);
  if (err < 0)
    return err;
  err = open_stdio(opts, stdio);
  if (err < 0) {
    free(blob);
    return err;
  }
  err = make_pipe(&parent_end, &daemon_end);
  if (err == 0) {
    err = relaunch(daemon_end, stdio, &pi);
    CloseHandle(daemon_end); /* the daemon's copy is the only one left */
  }
  for (i = 0; i < 3; i++)
    CloseHandle(stdio[i]);
  if (err < 0) {
    if (parent_end != INVALID_HANDLE_VALUE)
      CloseHandle(parent_end);
    free(blob);
    return err;
  }
  CloseHandle(pi.hThread);
  dz->daemon_pid = (uv_pid_t)pi.dwProcessId;

  err = pipe_io_all(parent_end, pi.hProcess, 1, blob, blob_len, deadline, &eof);
  free(blob);
  if (err == 0)
    err = eof ? DK_EDIED : read_result(parent_end, pi.hProcess, deadline);

  if (err < 0) {
    /* A daemon that reported its error exits by itself; any other is
     * ended here. Either way none is left when we return. */
    if (WaitForSingleObject(pi.hProcess, err == UV_ETIMEDOUT ? 0 : KILL_GRACE_MS) != WAIT_OBJECT_0)
      TerminateProcess(pi.hProcess, 1);
    WaitForSingleObject(pi.hProcess, KILL_GRACE_MS);
    dk__pidfile_remove_if_stale(dz->pid_path, pi.dwProcessId);
  } else {
    dz->role = DK_PARENT;
  }
  CloseHandle(pi.hProcess);
  CloseHandle(parent_end);
  return err < 0 ? err : DK_PARENT;
}

