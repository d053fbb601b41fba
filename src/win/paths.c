/* SPDX-License-Identifier: MIT */
/* Paths on Windows: every path the library is given or gives back is
 * UTF-8, whatever the ANSI code page; every path it hands the system is
 * wide, made absolute, and past MAX_PATH given the \\?\ prefix that lifts
 * that limit (up to DK_PATH_MAX bytes of UTF-8). */
#include <string.h>

#include "win.h"

/* Below this many characters a path needs no prefix. CreateDirectory's
 * limit is MAX_PATH less room for an 8.3 name, so 248 rather than 260. */
#define SHORT_PATH 248

int dk__utf8_to_wide(const char *s, WCHAR *out, size_t size) {
  /* Refused rather than replaced by U+FFFD: a mangled path would name
   * another file. */
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, out, (int)size) == 0)
    return GetLastError() == ERROR_INSUFFICIENT_BUFFER ? UV_ENAMETOOLONG : UV_EINVAL;
  return 0;
}

int dk__wide_to_utf8(const WCHAR *s, char *out, size_t size) {
  if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, -1, out, (int)size, NULL, NULL) == 0)
    return GetLastError() == ERROR_INSUFFICIENT_BUFFER ? UV_ENAMETOOLONG : UV_EINVAL;
  return 0;
}

/* The absolute, normalized wide form of a wide path. */
static int full_wide(const WCHAR *path, WCHAR *out, size_t size) {
  DWORD n = GetFullPathNameW(path, (DWORD)size, out, NULL);
  if (n == 0)
    return DK__WIN_ERR(GetLastError());
  return n >= size ? UV_ENAMETOOLONG : 0;
}

int dk__full_path(const char *path, char *out, size_t size) {
  WCHAR wide[DK__WPATH_MAX], full[DK__WPATH_MAX];
  int err = dk__utf8_to_wide(path, wide, DK__WPATH_MAX);
  if (err == 0)
    err = full_wide(wide, full, DK__WPATH_MAX);
  if (err == 0)
    err = dk__wide_to_utf8(full, out, size);
  return err;
}

int dk__system_path(const char *path, WCHAR *out, size_t size) {
  WCHAR wide[DK__WPATH_MAX], full[DK__WPATH_MAX];
  size_t len;
  int err = dk__utf8_to_wide(path, wide, DK__WPATH_MAX);
  if (err < 0)
    return err;
  /* Devices ("NUL", "CON") and paths already prefixed are the system's
   * own spelling. */
  if (wcsncmp(wide, L"\\\\?\\", 4) == 0 || wcsncmp(wide, L"\\\\.\\", 4) == 0 ||
      _wcsicmp(wide, L"NUL") == 0) {
    if (wcslen(wide) >= size)
      return UV_ENAMETOOLONG;
    wcscpy(out, wide);
    return 0;
  }
  err = full_wide(wide, full, DK__WPATH_MAX);
  if (err < 0)
    return err;
  len = wcslen(full);
  if (len < SHORT_PATH) {
    if (len >= size)
      return UV_ENAMETOOLONG;
    wcscpy(out, full);
    return 0;
  }
  if (wcsncmp(full, L"\\\\", 2) == 0) { /* \\server\share\... */
    if (len + 7 - 1 >= size)
      return UV_ENAMETOOLONG;
    wcscpy(out, L"\\\\?\\UNC\\");
    wcscat(out, full + 2);
    return 0;
  }
  if (len + 4 >= size)
    return UV_ENAMETOOLONG;
  wcscpy(out, L"\\\\?\\");
  wcscat(out, full);
  return 0;
}
