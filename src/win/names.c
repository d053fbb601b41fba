/* Names of a daemon's kernel objects on Windows.
 *
 * Each daemon owns, for its whole life, one named event per DK signal and
 * one "ALIVE" event, all in the Local\ namespace of its session:
 *
 *   Local\daemoniker-<pid>-<volume>-<file index>-<TERM|INT|...|ALIVE>
 *
 * Local\ because creating objects in Global\ needs SeCreateGlobalPrivilege,
 * which ordinary users lack; a sender in the same session (the same user's
 * shells, scripts and services started from them) reaches them. The pid
 * and the pid file's identity are both in the name: a stale pid file whose
 * pid was reused by another process, even another daemon of ours with
 * another pid file, names objects that do not exist. */
#include <stdio.h>

#include "win.h"

int dk__utf8_to_wide(const char *s, WCHAR *out, size_t size) {
  if (MultiByteToWideChar(CP_UTF8, 0, s, -1, out, (int)size) == 0)
    return DK__WIN_ERR(GetLastError());
  return 0;
}

int dk__channel_name(unsigned long pid, const dk__file_id *id, const char *what, WCHAR *out,
                     size_t size) {
  int n = _snwprintf(out, size, L"Local\\daemoniker-%lu-%08lx-%08lx%08lx-%hs", pid, id->volume,
                     id->index_high, id->index_low, what);
  return (n < 0 || (size_t)n >= size) ? UV_ENAMETOOLONG : 0;
}

int dk__file_id_of(HANDLE h, dk__file_id *id) {
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(h, &info))
    return DK__WIN_ERR(GetLastError());
  id->volume = info.dwVolumeSerialNumber;
  id->index_high = info.nFileIndexHigh;
  id->index_low = info.nFileIndexLow;
  return 0;
}
