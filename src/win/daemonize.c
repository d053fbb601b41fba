/* SPDX-License-Identifier: MIT */
/* Daemonizing on Windows: there is no fork, so the parent relaunches its own
 * executable, with its own command line, as a process whose console has no
 * window (parent.c). The relaunched process finds itself a daemon in
 * dk_daemonizer_init (an environment marker names the pipe it inherited),
 * and in dk_daemonize reads the parent's options and payload from that pipe,
 * sets itself up, claims the pid file and reports back, as on POSIX.
 *
 *   parent ── CreateProcess(same exe, same args, DETACHED) ──> daemon
 *     │  <── duplex named pipe: options + payload down, reports up ──>
 *     └─ waits for success, an error, the pipe breaking, or the deadline
 */
#include <fcntl.h>
#include <io.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "win.h"

static int read_exact(HANDLE h, void *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    DWORD n = 0;
    if (!ReadFile(h, (char *)buf + off, (DWORD)(len - off), &n, NULL))
      return DK__WIN_ERR(GetLastError());
    if (n == 0)
      return UV_EOF;
    off += n;
  }
  return 0;
}

static void send_report(HANDLE h, int kind, int value) {
  struct dk__report r;
  DWORD n;
  r.kind = kind;
  r.value = value;
  r.pid = (int)GetCurrentProcessId();
  WriteFile(h, &r, sizeof(r), &n, NULL);
}

/* Points CRT descriptor fd, and the matching Win32 standard handle, at
 * path. Appends when writing, as on POSIX. */
static int redirect_one(int fd, DWORD std, const char *path, int writing) {
  WCHAR wpath[DK__WPATH_MAX];
  HANDLE h;
  int crt, err;

  err = dk__system_path(path, wpath, DK__WPATH_MAX);
  if (err < 0)
    return err;
  h = CreateFileW(wpath, writing ? FILE_APPEND_DATA : GENERIC_READ,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                  writing ? OPEN_ALWAYS : OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return DK__WIN_ERR(GetLastError());
  crt = _open_osfhandle((intptr_t)h, writing ? _O_WRONLY | _O_APPEND : _O_RDONLY);
  if (crt < 0) {
    CloseHandle(h);
    return UV_EMFILE;
  }
  if (crt != fd) {
    if (_dup2(crt, fd) < 0) {
      _close(crt);
      return UV_EBADF;
    }
    _close(crt);
  }
  SetStdHandle(std, (HANDLE)_get_osfhandle(fd));
  return 0;
}

/* Foreground only: stdio is redirected where a path is given. */
static int redirect_stdio(const char *const *strs) {
  static const DWORD stds[3] = { STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE };
  int fd, err;
  for (fd = 0; fd < 3; fd++) {
    const char *path = strs[DK__STR_STDIN + fd];
    if (path == NULL)
      continue;
    err = redirect_one(fd, stds[fd], path, fd > 0);
    if (err < 0)
      return err;
  }
  return 0;
}

static int change_workdir(const char *workdir) {
  WCHAR wdir[DK__WPATH_MAX];
  int err;
  if (workdir == NULL) {
    /* The system drive's root, the closest thing to "/". */
    DWORD n = GetEnvironmentVariableW(L"SystemDrive", wdir, DK__WPATH_MAX - 2);
    if (n == 0 || n > 3)
      wcscpy(wdir, L"C:");
    wcscat(wdir, L"\\");
  } else {
    err = dk__system_path(workdir, wdir, DK__WPATH_MAX);
    if (err < 0)
      return err;
  }
  if (!SetCurrentDirectoryW(wdir))
    return DK__WIN_ERR(GetLastError());
  return 0;
}

/* The steps the daemon takes in either mode; strs as in the blob. */
static int setup_daemon(dk_daemonizer_t *dz, const char *const *strs, unsigned umask_value,
                        int relaunched) {
  int err = 0;
  _umask((int)umask_value);
  /* A relaunched daemon was given its stdio at creation (open_stdio). */
  if (!relaunched)
    err = redirect_stdio(strs);
  if (err == 0)
    err = change_workdir(strs[DK__STR_WORKDIR]);
  if (err == 0 && dz->pid_path[0] != '\0')
    err = dk__pidfile_claim(dz->pid_path);
  if (err < 0)
    return err;
  dz->role = DK_DAEMON;
  dz->daemon_pid = (uv_pid_t)GetCurrentProcessId();
  return 0;
}

/* In the relaunched process: everything comes from the parent's blob. */
static int run_relaunched(dk_daemonizer_t *dz, void *payload, size_t payload_len) {
  const char *strs[DK__STR_COUNT];
  struct dk__blob_head head;
  HANDLE pipe = dz->report_handle;
  char *text = NULL;
  size_t total = 0, off = 0;
  int i, err;

  err = read_exact(pipe, &head, sizeof(head));
  if (err == 0 && head.magic != DK__BLOB_MAGIC)
    err = UV_EPROTO;
  for (i = 0; err == 0 && i < DK__STR_COUNT; i++)
    total += head.len[i] != DK__NO_STRING ? head.len[i] + 1 : 0;
  if (err == 0 && (text = malloc(total + 1)) == NULL)
    err = UV_ENOMEM;
  for (i = 0; err == 0 && i < DK__STR_COUNT; i++) {
    strs[i] = NULL;
    if (head.len[i] == DK__NO_STRING)
      continue;
    err = read_exact(pipe, text + off, head.len[i]);
    text[off + head.len[i]] = '\0';
    strs[i] = text + off;
    off += head.len[i] + 1;
  }
  if (err == 0 && head.payload_len > payload_len)
    err = UV_ENOBUFS;
  if (err == 0 && head.payload_len > 0)
    err = read_exact(pipe, payload, (size_t)head.payload_len);
  if (err == 0 && strlen(strs[DK__STR_PID_FILE]) >= sizeof(dz->pid_path))
    err = UV_ENAMETOOLONG;
  if (err == 0) {
    memcpy(dz->pid_path, strs[DK__STR_PID_FILE], strlen(strs[DK__STR_PID_FILE]) + 1);
    dz->flags = head.flags;
    err = setup_daemon(dz, strs, head.umask, 1);
  }
  free(text);
  if (err < 0) {
    /* Nothing of the application runs yet: this process has no reason to
     * go on, and the parent waits for it to go. */
    send_report(pipe, DK__REPORT_RESULT, err);
    CloseHandle(pipe);
    ExitProcess(1);
  }
  if (!(dz->flags & DK_WAIT_READY)) {
    send_report(pipe, DK__REPORT_RESULT, 0);
    CloseHandle(pipe);
    dz->report_handle = NULL;
    dz->ready_sent = 1;
  }
  return DK_DAEMON;
}

static int run_foreground(dk_daemonizer_t *dz, const dk_options_t *opts) {
  const char *strs[DK__STR_COUNT];
  strs[DK__STR_PID_FILE] = dz->pid_path;
  strs[DK__STR_WORKDIR] = opts->workdir;
  strs[DK__STR_STDIN] = opts->stdin_path;
  strs[DK__STR_STDOUT] = opts->stdout_path;
  strs[DK__STR_STDERR] = opts->stderr_path;
  {
    int err = setup_daemon(dz, strs,
                           (unsigned)(opts->umask < 0 ? DK__DEFAULT_UMASK : opts->umask), 0);
    if (err < 0)
      return err;
  }
  if (!(dz->flags & DK_WAIT_READY))
    dz->ready_sent = 1;
  return DK_DAEMON;
}

/* Started by the SCM, the process is the service: set up as in the
 * foreground, and the SCM is told how it went (service.c). Started any
 * other way, it is a foreground process. */
static int run_service(dk_daemonizer_t *dz, const dk_options_t *opts) {
  int err = dk__service_connect(opts->timeout_ms ? opts->timeout_ms : DK__DEFAULT_TIMEOUT_MS);
  if (err < 0)
    return err;
  dz->flags |= DK_FOREGROUND;
  err = run_foreground(dz, opts);
  if (err < 0)
    dk__service_failed(err);
  else if (!(dz->flags & DK_WAIT_READY))
    dk__service_ready(0);
  return err;
}

/* --- public ------------------------------------------------------------- */

int dk_daemonizer_init(dk_daemonizer_t *dz) {
  char value[32];
  size_t size = sizeof(value);

  if (dz == NULL)
    return UV_EINVAL;
  memset(dz, 0, sizeof(*dz));
  if (uv_os_getenv(DK__RELAUNCH_ENV, value, &size) != 0)
    return 1;
  /* Programs this daemon starts must not take themselves for daemons,
   * whether they get the Win32 environment block or the C runtime's
   * _environ (_spawn*, system). */
  _putenv(DK__RELAUNCH_ENV "=");
  uv_os_unsetenv(DK__RELAUNCH_ENV);
  dz->report_handle = (void *)(uintptr_t)_strtoui64(value, NULL, 10);
  /* Nor inherit the report pipe: a child holding it would keep the parent
   * from seeing the daemon's end close. */
  SetHandleInformation(dz->report_handle, HANDLE_FLAG_INHERIT, 0);
  dz->relaunched = 1;
  return 0;
}

int dk_daemonize(dk_daemonizer_t *dz, const dk_options_t *opts, void *payload,
                 size_t payload_len) {
  int err = dk__daemonize_begin(dz, payload, payload_len);
  if (err < 0)
    return err;
  if (dz->relaunched)
    return run_relaunched(dz, payload, payload_len);

  err = dk__options_check(opts);
  if (err < 0)
    return err;
  /* Accepted on POSIX, where they mean something; here a program asking
   * to run as another account must not go on as its own. */
  if (opts->user != NULL || opts->group != NULL || opts->keep_fds_count > 0)
    return UV_ENOTSUP;
  if (opts->pid_file != NULL)
    err = dk__full_path(opts->pid_file, dz->pid_path, sizeof(dz->pid_path));
  if (err < 0)
    return err;
  dz->flags = opts->flags;
  if (opts->flags & DK_SERVICE)
    return run_service(dz, opts);
  if (opts->flags & DK_FOREGROUND)
    return run_foreground(dz, opts);
  return dk__run_parent(dz, opts, payload, payload_len);
}

/* The SCM, if it started this process, or the parent that waits. */
int dk__report_ready(dk_daemonizer_t *dz, int status) {
  dk__service_ready(status);
  if (dz->report_handle != NULL) {
    send_report(dz->report_handle, DK__REPORT_RESULT, status);
    /* On failure the pipe stays open until this process exits. */
    if (status == 0)
      CloseHandle(dz->report_handle);
    dz->report_handle = NULL;
  }
  return 0;
}

/* Windows has no exec that keeps the process: a program started in its
 * place would have another pid than the one in the pid file. */
int dk_exec(dk_daemonizer_t *dz, char *const argv[]) {
  (void)dz;
  (void)argv;
  return UV_ENOTSUP;
}
