/* SPDX-License-Identifier: MIT */
/* Pid files on Windows: the same "<pid>\n" text as on POSIX (and, read
 * here only, "<pid>\r\n" as text-mode fopen and `echo %PID%> f` write it),
 * held with a LockFileEx lock for the daemon's whole life. Whether a live
 * daemon holds a file is told by its named objects (names.c), which exist
 * exactly as long as the daemon does: the sender never takes the lock
 * itself. The handle kept open reads only, so that readers which share
 * only reading (`type`, Get-Content, CreateFileW with FILE_SHARE_READ) can
 * open the file while the daemon lives; the pid is written through a
 * second handle, closed at once. */
#include <string.h>

#include "win.h"

/* The pid file this process holds, with the named events that make it
 * reachable. Static because the atexit handler that removes it takes no
 * argument and may run after the caller's daemonizer is gone. */
static struct {
  HANDLE file;
  HANDLE objects[DK__NCHANNELS];
  dk__file_id id;
  WCHAR path[DK__WPATH_MAX];
} held = { INVALID_HANDLE_VALUE, { NULL }, { 0, 0, 0 }, { 0 } };

static int lock_file(HANDLE h) {
  OVERLAPPED ov;
  memset(&ov, 0, sizeof(ov));
  ov.OffsetHigh = DK__LOCK_OFFSET_HIGH;
  if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov))
    return 0;
  if (GetLastError() == ERROR_LOCK_VIOLATION || GetLastError() == ERROR_IO_PENDING)
    return DK_ERUNNING;
  return DK__WIN_ERR(GetLastError());
}

static HANDLE open_pidfile(const char *path, DWORD access, DWORD disposition, int *err) {
  WCHAR wpath[DK__WPATH_MAX];
  BY_HANDLE_FILE_INFORMATION info;
  HANDLE h;

  *err = dk__system_path(path, wpath, DK__WPATH_MAX);
  if (*err < 0)
    return INVALID_HANDLE_VALUE;
  /* FILE_FLAG_OPEN_REPARSE_POINT opens a symlink itself, not its target;
   * it is then refused below. */
  h = CreateFileW(wpath, access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                  disposition, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD e = GetLastError();
    DWORD attrs = GetFileAttributesW(wpath);
    if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY))
      *err = DK_EBADPIDFILE;
    else
      *err = DK__WIN_ERR(e);
    return h;
  }
  if (!GetFileInformationByHandle(h, &info) ||
      (info.dwFileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_DIRECTORY))) {
    CloseHandle(h);
    *err = DK_EBADPIDFILE;
    return INVALID_HANDLE_VALUE;
  }
  *err = 0;
  return h;
}

static int write_pid(const char *path, const dk__file_id *id) {
  char text[24];
  dk__file_id now;
  DWORD written;
  size_t len;
  HANDLE h;
  int err;

  h = open_pidfile(path, GENERIC_WRITE, OPEN_EXISTING, &err);
  if (h == INVALID_HANDLE_VALUE)
    return err;
  err = dk__file_id_of(h, &now);
  /* The name must still be the file we locked. */
  if (err == 0 && memcmp(&now, id, sizeof(now)) != 0)
    err = DK_EBADPIDFILE;
  len = dk__pid_format((long)GetCurrentProcessId(), text);
  if (err == 0 && (!SetEndOfFile(h) || !WriteFile(h, text, (DWORD)len, &written, NULL) ||
                   written != len))
    err = DK__WIN_ERR(GetLastError());
  CloseHandle(h);
  return err;
}

int dk__pidfile_claim(const char *path) {
  HANDLE h;
  int err;

  /* No DELETE access: every reader (`type`, fopen) would then need to
   * share deletion, which msvcrt's fopen does not. */
  h = open_pidfile(path, GENERIC_READ, OPEN_ALWAYS, &err);
  if (h == INVALID_HANDLE_VALUE)
    return err == DK_EBADPIDFILE ? UV_ELOOP : err;
  err = lock_file(h);
  if (err == 0)
    err = dk__file_id_of(h, &held.id);
  if (err == 0)
    err = dk__channels_create(GetCurrentProcessId(), &held.id, held.objects, DK__NCHANNELS);
  if (err == 0)
    err = write_pid(path, &held.id);
  if (err == 0)
    err = dk__system_path(path, held.path, DK__WPATH_MAX);
  if (err < 0) {
    dk__channels_close(held.objects, DK__NCHANNELS);
    CloseHandle(h);
    return err;
  }
  held.file = h;
  return 0;
}

/* Deletes the file while the lock is still held, then lets go: a new
 * daemon can not have claimed the file in between, as it could between an
 * unlock and a delete. Our handle shares deletion, so the name goes now and
 * the file when the handle closes. */
static void drop_held(void) {
  dk__file_id by_name;
  HANDLE h;
  if (held.file == INVALID_HANDLE_VALUE)
    return;
  /* Only if the name still is our file: not one that replaced it. */
  h = CreateFileW(held.path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                  OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT, NULL);
  if (h != INVALID_HANDLE_VALUE) {
    if (dk__file_id_of(h, &by_name) == 0 && memcmp(&by_name, &held.id, sizeof(by_name)) == 0)
      DeleteFileW(held.path);
    CloseHandle(h);
  }
  CloseHandle(held.file);
  held.file = INVALID_HANDLE_VALUE;
  dk__channels_close(held.objects, DK__NCHANNELS);
}

/* The daemon's end (dk_daemonizer_cleanup, exit): a service tells the SCM
 * only once its pid file is gone, as the SCM may start the next one. */
void dk__pidfile_drop(void) {
  drop_held();
  dk__service_exit();
}

/* Sets the held pid file's event of signal `index`, as dk_send would;
 * UV_ENOENT if this process holds none. */
int dk__pidfile_raise(int index) {
  if (held.file == INVALID_HANDLE_VALUE)
    return UV_ENOENT;
  SetEvent(held.objects[index]);
  return 0;
}

/* The identity of the pid file this process holds, and its own handles of
 * the signal events, for dk_signals_init: opening them by name would find
 * them existing, which is what a squatted name looks like. */
int dk__pidfile_held(dk__file_id *id, HANDLE events[DK__NSIGNALS]) {
  HANDLE me = GetCurrentProcess();
  int i;
  if (held.file == INVALID_HANDLE_VALUE)
    return UV_ENOENT;
  *id = held.id;
  for (i = 0; i < DK__NSIGNALS; i++)
    if (!DuplicateHandle(me, held.objects[i], me, &events[i], 0, FALSE, DUPLICATE_SAME_ACCESS)) {
      int err = DK__WIN_ERR(GetLastError());
      dk__channels_close(events, i);
      return err;
    }
  return 0;
}

int dk__pidfile_read(const char *path, long *pid, dk__file_id *id) {
  char buf[DK__PIDFILE_MAX];
  DWORD n = 0;
  HANDLE h;
  int err;

  h = open_pidfile(path, GENERIC_READ, OPEN_EXISTING, &err);
  if (h == INVALID_HANDLE_VALUE)
    return err;
  if (!ReadFile(h, buf, sizeof(buf), &n, NULL))
    err = DK__WIN_ERR(GetLastError());
  else if (n == sizeof(buf))
    err = DK_EBADPIDFILE;
  else {
    /* One trailing CRLF, as Windows programs end a line, is a newline;
     * the portable parser stays as strict as on POSIX. */
    if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n')
      buf[--n - 1] = '\n';
    err = dk__pid_parse(buf, n, pid);
  }
  if (err == 0)
    err = dk__file_id_of(h, id);
  CloseHandle(h);
  return err;
}

/* After the parent killed a daemon that never reported: removes the file
 * if it still names that daemon and nobody holds its lock. */
void dk__pidfile_remove_if_stale(const char *path, unsigned long pid) {
  FILE_DISPOSITION_INFO dispose;
  dk__file_id id;
  long named;
  HANDLE h;
  int err;

  if (dk__pidfile_read(path, &named, &id) < 0 || (unsigned long)named != pid)
    return;
  h = open_pidfile(path, GENERIC_READ | GENERIC_WRITE | DELETE, OPEN_EXISTING, &err);
  if (h == INVALID_HANDLE_VALUE)
    return;
  if (lock_file(h) == 0) {
    dispose.DeleteFile = TRUE;
    SetFileInformationByHandle(h, FileDispositionInfo, &dispose, sizeof(dispose));
  }
  CloseHandle(h);
}
