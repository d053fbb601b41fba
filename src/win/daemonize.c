/* Daemonizing on Windows: there is no fork, so the parent relaunches its own
 * executable, with its own command line, as a detached process with no
 * console. The relaunched process finds itself a daemon in
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

#define BLOB_MAGIC 0x444b4431u /* "DKD1" */
#define NO_STRING 0xffffffffu
#define KILL_GRACE_MS 5000

/* What crosses the pipe before anything else: the options, then their
 * strings in this order, then the payload. */
enum { STR_PID_FILE, STR_WORKDIR, STR_STDIN, STR_STDOUT, STR_STDERR, STR_COUNT };
struct blob_head {
  uint32_t magic;
  uint32_t flags, umask, timeout_ms;
  uint32_t len[STR_COUNT];
  uint64_t payload_len;
};

static unsigned pipe_counter;

/* --- the parent --------------------------------------------------------- */

/* One overlapped read or write on the parent's end, bounded by the
 * deadline. Returns 0 and *done, or a negative code; a broken pipe (the
 * daemon is gone) is 0 with *done == 0. */
static int pipe_io(HANDLE pipe, int writing, void *buf, DWORD len, ULONGLONG deadline,
                   DWORD *done) {
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
  wait = WaitForSingleObject(ov.hEvent, deadline > now ? (DWORD)(deadline - now) : 0);
  if (wait == WAIT_TIMEOUT) {
    CancelIo(pipe);
    err = UV_ETIMEDOUT;
  }
  if (!GetOverlappedResult(pipe, &ov, done, TRUE) && err == 0) {
    DWORD e = GetLastError();
    if (e != ERROR_BROKEN_PIPE && e != ERROR_NO_DATA)
      err = DK__WIN_ERR(e);
  }
  CloseHandle(ov.hEvent);
  return err;
}

static int pipe_io_all(HANDLE pipe, int writing, const void *buf, size_t len, ULONGLONG deadline,
                       int *eof) {
  size_t off = 0;
  *eof = 0;
  while (off < len) {
    DWORD chunk = len - off > 0x100000 ? 0x100000 : (DWORD)(len - off), done;
    int err = pipe_io(pipe, writing, (char *)buf + off, chunk, deadline, &done);
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
  const char *strs[STR_COUNT];
  struct blob_head head;
  size_t total = sizeof(head), off;
  char *blob;
  int i;

  strs[STR_PID_FILE] = pid_path;
  strs[STR_WORKDIR] = opts->workdir;
  strs[STR_STDIN] = opts->stdin_path;
  strs[STR_STDOUT] = opts->stdout_path;
  strs[STR_STDERR] = opts->stderr_path;
  memset(&head, 0, sizeof(head));
  head.magic = BLOB_MAGIC;
  head.flags = opts->flags;
  head.umask = (uint32_t)(opts->umask < 0 ? DK__DEFAULT_UMASK : opts->umask);
  head.timeout_ms = opts->timeout_ms;
  head.payload_len = payload_len;
  for (i = 0; i < STR_COUNT; i++) {
    head.len[i] = strs[i] != NULL ? (uint32_t)strlen(strs[i]) : NO_STRING;
    total += strs[i] != NULL ? head.len[i] : 0;
  }
  total += payload_len;
  blob = malloc(total);
  if (blob == NULL)
    return UV_ENOMEM;
  memcpy(blob, &head, sizeof(head));
  off = sizeof(head);
  for (i = 0; i < STR_COUNT; i++)
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
  WCHAR wpath[DK_PATH_MAX];
  int i, err;

  paths[0] = opts->stdin_path;
  paths[1] = opts->stdout_path;
  paths[2] = opts->stderr_path;
  for (i = 0; i < 3; i++)
    stdio[i] = INVALID_HANDLE_VALUE;
  for (i = 0; i < 3; i++) {
    err = dk__utf8_to_wide(paths[i] != NULL ? paths[i] : "NUL", wpath, DK_PATH_MAX);
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

/* Starts this executable again, detached, inheriting only the pipe and
 * its stdio. */
static int relaunch(HANDLE daemon_end, HANDLE stdio[3], PROCESS_INFORMATION *pi) {
  HANDLE inherited[4] = { daemon_end, stdio[0], stdio[1], stdio[2] };
  WCHAR exe[DK_PATH_MAX];
  STARTUPINFOEXW si;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
  SIZE_T attrs_size = 0;
  char marker[32];
  BOOL ok;
  int err = 0;

  if (GetModuleFileNameW(NULL, exe, DK_PATH_MAX) == 0)
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
  ok = CreateProcessW(exe, GetCommandLineW(), NULL, NULL, TRUE,
                      DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_UNICODE_ENVIRONMENT |
                          (si.lpAttributeList != NULL ? EXTENDED_STARTUPINFO_PRESENT : 0),
                      NULL, NULL, &si.StartupInfo, pi);
  if (!ok)
    err = DK__WIN_ERR(GetLastError());
  uv_os_unsetenv(DK__RELAUNCH_ENV);
  if (si.lpAttributeList != NULL)
    DeleteProcThreadAttributeList(attrs);
  free(attrs);
  return err;
}

static int read_result(HANDLE pipe, ULONGLONG deadline) {
  struct dk__report r;
  int eof, err;
  for (;;) {
    err = pipe_io_all(pipe, 0, &r, sizeof(r), deadline, &eof);
    if (err < 0)
      return err;
    if (eof)
      return DK_EDIED;
    if (r.kind == DK__REPORT_RESULT)
      return r.value;
  }
}

static int run_parent(dk_daemonizer_t *dz, const dk_options_t *opts, void *payload,
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

  err = pipe_io_all(parent_end, 1, blob, blob_len, deadline, &eof);
  free(blob);
  if (err == 0)
    err = eof ? DK_EDIED : read_result(parent_end, deadline);

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

/* --- the daemon --------------------------------------------------------- */

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
  WCHAR wpath[DK_PATH_MAX];
  HANDLE h;
  int crt, err;

  err = dk__utf8_to_wide(path, wpath, DK_PATH_MAX);
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
    const char *path = strs[STR_STDIN + fd];
    if (path == NULL)
      continue;
    err = redirect_one(fd, stds[fd], path, fd > 0);
    if (err < 0)
      return err;
  }
  return 0;
}

static int change_workdir(const char *workdir) {
  WCHAR wdir[DK_PATH_MAX];
  int err;
  if (workdir == NULL) {
    /* The system drive's root, the closest thing to "/". */
    DWORD n = GetEnvironmentVariableW(L"SystemDrive", wdir, DK_PATH_MAX - 2);
    if (n == 0 || n > 3)
      wcscpy(wdir, L"C:");
    wcscat(wdir, L"\\");
  } else {
    err = dk__utf8_to_wide(workdir, wdir, DK_PATH_MAX);
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
    err = change_workdir(strs[STR_WORKDIR]);
  if (err == 0)
    err = dk__pidfile_claim(dz->pid_path);
  if (err < 0)
    return err;
  dz->role = DK_DAEMON;
  dz->daemon_pid = (uv_pid_t)GetCurrentProcessId();
  return 0;
}

/* In the relaunched process: everything comes from the parent's blob. */
static int run_relaunched(dk_daemonizer_t *dz, void *payload, size_t payload_len) {
  const char *strs[STR_COUNT];
  struct blob_head head;
  HANDLE pipe = dz->report_handle;
  char *text = NULL;
  size_t total = 0, off = 0;
  int i, err;

  err = read_exact(pipe, &head, sizeof(head));
  if (err == 0 && head.magic != BLOB_MAGIC)
    err = UV_EPROTO;
  for (i = 0; err == 0 && i < STR_COUNT; i++)
    total += head.len[i] != NO_STRING ? head.len[i] + 1 : 0;
  if (err == 0 && (text = malloc(total + 1)) == NULL)
    err = UV_ENOMEM;
  for (i = 0; err == 0 && i < STR_COUNT; i++) {
    strs[i] = NULL;
    if (head.len[i] == NO_STRING)
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
  if (err == 0 && strlen(strs[STR_PID_FILE]) >= sizeof(dz->pid_path))
    err = UV_ENAMETOOLONG;
  if (err == 0) {
    memcpy(dz->pid_path, strs[STR_PID_FILE], strlen(strs[STR_PID_FILE]) + 1);
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
  const char *strs[STR_COUNT];
  strs[STR_PID_FILE] = dz->pid_path;
  strs[STR_WORKDIR] = opts->workdir;
  strs[STR_STDIN] = opts->stdin_path;
  strs[STR_STDOUT] = opts->stdout_path;
  strs[STR_STDERR] = opts->stderr_path;
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

/* --- public ------------------------------------------------------------- */

int dk_daemonizer_init(dk_daemonizer_t *dz) {
  char value[32];
  size_t size = sizeof(value);

  if (dz == NULL)
    return UV_EINVAL;
  memset(dz, 0, sizeof(*dz));
  if (uv_os_getenv(DK__RELAUNCH_ENV, value, &size) != 0)
    return 1;
  /* Programs this daemon starts must not take themselves for daemons. */
  uv_os_unsetenv(DK__RELAUNCH_ENV);
  dz->report_handle = (void *)(uintptr_t)_strtoui64(value, NULL, 10);
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
  if (opts->pid_file == NULL)
    return UV_EINVAL; /* the Windows half has no pid-file-less foreground yet */
  if (GetFullPathNameA(opts->pid_file, sizeof(dz->pid_path), dz->pid_path, NULL) == 0)
    return DK__WIN_ERR(GetLastError());
  dz->flags = opts->flags;
  if (opts->flags & DK_FOREGROUND)
    return run_foreground(dz, opts);
  return run_parent(dz, opts, payload, payload_len);
}

/* Windows has no supervisor protocol to tell: only a parent waits. */
int dk__report_ready(dk_daemonizer_t *dz, int status) {
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
