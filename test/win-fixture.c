/* SPDX-License-Identifier: MIT */
#include "win-fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char dk_win_dir[MAX_PATH];

void dk_win_make_dir(const char *prefix) {
  char tmp[MAX_PATH];
  static unsigned counter;
  ck_assert_uint_gt(GetTempPathA(sizeof(tmp), tmp), 0);
  snprintf(dk_win_dir, sizeof(dk_win_dir), "%s%s-%lu-%llu-%u", tmp, prefix, GetCurrentProcessId(),
           (unsigned long long)GetTickCount64(), ++counter);
  ck_assert(CreateDirectoryA(dk_win_dir, NULL));
}

void dk_win_remove_dir(void) {
  char cmd[MAX_PATH + 32];
  snprintf(cmd, sizeof(cmd), "rmdir /s /q \"%s\" >NUL 2>&1", dk_win_dir);
  system(cmd);
}

const char *dk_win_path(int slot, const char *name) {
  static char paths[4][MAX_PATH + 64];
  snprintf(paths[slot], sizeof(paths[slot]), "%s\\%s", dk_win_dir, name);
  return paths[slot];
}

int dk_win_read_text(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "rb");
  size_t n;
  if (f == NULL)
    return -1;
  n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (int)n;
}

int dk_win_exists(const char *path) {
  return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

void dk_win_note(const char *where, const char *fmt, const char *arg) {
  char path[MAX_PATH + 32];
  FILE *f;
  snprintf(path, sizeof(path), "%s\\events.log", where);
  f = fopen(path, "a");
  if (f == NULL)
    return;
  fprintf(f, fmt, arg);
  fputc('\n', f);
  fclose(f);
}

int dk_win_has_event(const char *line) {
  char buf[65536];
  return dk_win_read_text(dk_win_path(3, "events.log"), buf, sizeof(buf)) >= 0 &&
         strstr(buf, line) != NULL;
}

int dk_win_wait_for_event(const char *line, DWORD ms) {
  DWORD start = GetTickCount();
  do {
    if (dk_win_has_event(line))
      return 1;
    Sleep(5);
  } while (GetTickCount() - start < ms);
  return 0;
}

int dk_win_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  int failed;
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
