/* SPDX-License-Identifier: MIT */
/* A daemon's kernel objects on Windows: one named event per DK signal and
 * one "ALIVE" event, which exist exactly as long as the daemon does:
 *
 *   Global\daemoniker-<pid>-<volume>-<file index>-<TERM|INT|...|ALIVE>
 *
 * Global\ so that a daemon running as a service (session 0) is reached
 * from an administrator's desktop session; any user may create events
 * there (only file mappings and symbolic links need
 * SeCreateGlobalPrivilege), and where Global\ is refused (a restricted
 * token, an AppContainer) the session's Local\ is used instead. Senders
 * look in Global\, then Local\. The events' DACL lets only the daemon's
 * user, SYSTEM and Administrators set or wait on them.
 *
 * The pid and the pid file's identity are both in the name: a stale pid
 * file whose pid was reused by another process, even another daemon of
 * ours with another pid file, names objects that do not exist. A name
 * that exists before the daemon creates it was made by someone else, who
 * could then fake or swallow signals: that is an error, never adopted. */
#include <stdio.h>

#include "win.h"

#include <sddl.h> /* after windows.h, which it needs */

static const char *const namespaces[] = { "Global", "Local" };

static int channel_name(const char *ns, unsigned long pid, const dk__file_id *id,
                        const char *what, WCHAR *out, size_t size) {
  int n = _snwprintf(out, size, L"%hs\\daemoniker-%lu-%08lx-%08lx%08lx-%hs", ns, pid, id->volume,
                     id->index_high, id->index_low, what);
  return (n < 0 || (size_t)n >= size) ? UV_ENAMETOOLONG : 0;
}

/* "D:P(A;;rights;;;SY)(A;;rights;;;BA)(A;;rights;;;<our user>)": protected,
 * so nothing is inherited from the namespace's own DACL. */
static int make_security(PSECURITY_DESCRIPTOR *sd) {
  char buf[256];
  WCHAR sddl[320], *user = NULL;
  HANDLE token;
  DWORD n;
  int err = 0;

  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
    return DK__WIN_ERR(GetLastError());
  if (!GetTokenInformation(token, TokenUser, buf, sizeof(buf), &n) ||
      !ConvertSidToStringSidW(((TOKEN_USER *)buf)->User.Sid, &user))
    err = DK__WIN_ERR(GetLastError());
  CloseHandle(token);
  if (err < 0)
    return err;
  /* 0x120003: SYNCHRONIZE | READ_CONTROL | EVENT_MODIFY_STATE | EVENT_QUERY_STATE */
  _snwprintf(sddl, sizeof(sddl) / sizeof(sddl[0]),
             L"D:P(A;;0x120003;;;SY)(A;;0x120003;;;BA)(A;;0x120003;;;%ls)", user);
  LocalFree(user);
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, sd, NULL))
    return DK__WIN_ERR(GetLastError());
  return 0;
}

int dk__channels_create(unsigned long pid, const dk__file_id *id, HANDLE *out, int count) {
  SECURITY_ATTRIBUTES sa;
  PSECURITY_DESCRIPTOR sd;
  WCHAR name[160];
  int i, ns, err;

  for (i = 0; i < count; i++)
    out[i] = NULL;
  err = make_security(&sd);
  if (err < 0)
    return err;
  sa.nLength = sizeof(sa);
  sa.lpSecurityDescriptor = sd;
  sa.bInheritHandle = FALSE;
  for (i = 0; err == 0 && i < count; i++) {
    for (ns = 0; ns < 2; ns++) {
      err = channel_name(namespaces[ns], pid, id, dk__channel_what(i), name,
                         sizeof(name) / sizeof(name[0]));
      if (err < 0)
        break;
      /* Auto-reset: one SetEvent, one wake-up; repeats before it coalesce. */
      out[i] = CreateEventW(&sa, FALSE, FALSE, name);
      if (out[i] != NULL && GetLastError() == ERROR_ALREADY_EXISTS) {
        CloseHandle(out[i]);
        out[i] = NULL;
        err = UV_EEXIST;
        break;
      }
      if (out[i] != NULL)
        break;
      err = DK__WIN_ERR(GetLastError());
      if (GetLastError() != ERROR_ACCESS_DENIED)
        break;
    }
  }
  LocalFree(sd);
  if (err < 0)
    dk__channels_close(out, count);
  return err;
}

void dk__channels_close(HANDLE *handles, int count) {
  int i;
  for (i = 0; i < count; i++) {
    if (handles[i] != NULL)
      CloseHandle(handles[i]);
    handles[i] = NULL;
  }
}

int dk__channel_open(unsigned long pid, const dk__file_id *id, const char *what, DWORD access,
                     HANDLE *out) {
  WCHAR name[160];
  int ns, err = DK_ESTALE;

  for (ns = 0; ns < 2; ns++) {
    int e = channel_name(namespaces[ns], pid, id, what, name, sizeof(name) / sizeof(name[0]));
    if (e < 0)
      return e;
    *out = OpenEventW(access, FALSE, name);
    if (*out != NULL)
      return 0;
    /* Denied in Global\ may be a squatter's object: ours may be in Local\. */
    if (GetLastError() == ERROR_ACCESS_DENIED)
      err = UV_EPERM;
  }
  return err;
}

const char *dk__channel_what(int index) {
  return index < DK__NSIGNALS ? dk_signal_name(dk__signal_at(index)) + 3 : "ALIVE";
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
