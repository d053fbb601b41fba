/* SPDX-License-Identifier: MIT */
/* The fixture every suite uses: a throw-away directory per test, small
 * files in it and waits on them, the registration of tests that need root
 * or the test accounts, and the run. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static char test_dir[PATH_MAX];
static char start_dir[PATH_MAX];
static char path_slots[4][2 * PATH_MAX];

void dk_test_enter_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  snprintf(test_dir, sizeof(test_dir), "%s/dk-test-XXXXXX", base);
  ck_assert_ptr_nonnull(mkdtemp(test_dir));
  ck_assert_ptr_nonnull(getcwd(start_dir, sizeof(start_dir)));
  ck_assert_int_eq(chdir(test_dir), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void dk_test_leave_tmpdir(void) {
  if (chdir(start_dir) != 0)
    return;
  nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *dk_test_dir(void) {
  return test_dir;
}

const char *dk_test_path(int slot, const char *name) {
  snprintf(path_slots[slot], sizeof(path_slots[slot]), "%s/%s", test_dir, name);
  return path_slots[slot];
}

ssize_t dk_test_read_file(const char *path, char *buf, size_t size) {
  ssize_t n, total = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  while ((size_t)total < size - 1 && (n = read(fd, buf + total, size - 1 - (size_t)total)) > 0)
    total += n;
  close(fd);
  buf[total] = '\0';
  return total;
}

int dk_test_write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ssize_t n;
  if (fd < 0)
    return -1;
  n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Watches path's directory with inotify and tests `done` at each change,
 * until it holds or the deadline passes: no polling. */
int dk_test_wait_in_dir(const char *path, int (*done)(const char *path, const void *arg),
                        const void *arg, int timeout_ms) {
  char dir_buf[PATH_MAX];
  char events[4096];
  long long deadline = dk_test_now_ms() + timeout_ms;
  int fd, held;

  snprintf(dir_buf, sizeof(dir_buf), "%s", path);
  fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0)
    return 0;
  inotify_add_watch(fd, dirname(dir_buf),
                    IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM |
                        IN_CLOSE_WRITE);
  for (;;) {
    struct pollfd p;
    long long left;
    held = done(path, arg);
    left = deadline - dk_test_now_ms();
    if (held || left <= 0)
      break;
    p.fd = fd;
    p.events = POLLIN;
    if (poll(&p, 1, (int)left) > 0)
      while (read(fd, events, sizeof(events)) > 0)
        ;
  }
  close(fd);
  return held;
}

static int exists_as_wanted(const char *path, const void *want) {
  return (access(path, F_OK) == 0) == *(const int *)want;
}

int dk_test_wait_path(const char *path, int want, int timeout_ms) {
  return dk_test_wait_in_dir(path, exists_as_wanted, &want, timeout_ms);
}

long dk_test_pid_in_file(const char *path) {
  char buf[64], *end;
  long pid;
  if (dk_test_read_file(path, buf, sizeof(buf)) <= 0)
    return -1;
  pid = strtol(buf, &end, 10);
  return *end == '\n' && end[1] == '\0' ? pid : -1;
}

void dk_test_daemon_setup(void) {
  dk_test_enter_tmpdir();
  dk_test_become_subreaper();
}

void dk_test_daemon_teardown(void) {
  dk_test_kill_tracked();
  dk_test_leave_tmpdir();
}

/* Tests left out by dk_test_can_run, and why; printed by dk_test_run. */
static struct {
  const char *test;
  char why[160];
  int fails; /* a required account is missing */
} left_out[64];
static int n_left_out;

/* The first of the test accounts that is missing, or NULL. */
static const char *missing_test_account(void) {
  static const char *const users[] = { "dk-test", "dk-other", "dk-many" };
  static char group[16];
  size_t i;
  for (i = 0; i < N_ELEMS(users); i++)
    if (getpwnam(users[i]) == NULL)
      return users[i];
  if (getgrnam("dk-big") == NULL)
    return "dk-big";
  for (i = 1; i <= 70; i++) {
    snprintf(group, sizeof(group), "dk-g%02zu", i);
    if (getgrnam(group) == NULL)
      return group;
  }
  return NULL;
}

int dk_test_can_run(const char *test, unsigned needs) {
  const char *account = NULL;
  const char *require = getenv("DK_REQUIRE_TEST_USERS");
  int root = !(needs & DK_TEST_NEEDS_ROOT) || geteuid() == 0;
#if defined(__linux__) && !defined(DK_NO_LINUX_EXTRAS)
  int extras = 1;
#else
  int extras = !(needs & DK_TEST_NEEDS_LINUX);
#endif
  if (extras && root && (needs & DK_TEST_NEEDS_USERS))
    account = missing_test_account();
  if (extras && root && account == NULL)
    return 1;
  if (n_left_out == (int)N_ELEMS(left_out)) { /* called from main(), not a test */
    fprintf(stderr, "more than %d tests left out\n", (int)N_ELEMS(left_out));
    exit(1);
  }
  left_out[n_left_out].test = test;
  if (!extras) {
#ifdef __linux__
    snprintf(left_out[n_left_out].why, sizeof(left_out[0].why),
             "needs the Linux extras (built with --disable-linux-extras)");
#else
    snprintf(left_out[n_left_out].why, sizeof(left_out[0].why), "needs the Linux extras (not Linux)");
#endif
  } else if (!root) {
    snprintf(left_out[n_left_out].why, sizeof(left_out[0].why), "needs root (euid %ld)",
             (long)geteuid());
  } else {
    left_out[n_left_out].fails = require != NULL && strcmp(require, "1") == 0;
    snprintf(left_out[n_left_out].why, sizeof(left_out[0].why),
             "needs the test accounts, %s is missing (.ci/test-users makes them)%s", account,
             left_out[n_left_out].fails ? ", and DK_REQUIRE_TEST_USERS=1" : "");
  }
  n_left_out++;
  return 0;
}

TCase *dk_test_tcase(Suite *s, const char *name, void (*setup)(void), void (*teardown)(void),
                     int timeout) {
  TCase *tc = tcase_create(name);
  if (setup != NULL || teardown != NULL)
    tcase_add_checked_fixture(tc, setup, teardown);
  if (timeout > 0)
    tcase_set_timeout(tc, timeout);
  suite_add_tcase(s, tc);
  return tc;
}

int dk_test_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  int failed, i;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  for (i = 0; i < n_left_out; i++) {
    printf("%s: %s: %s\n", left_out[i].fails ? "FAILED, not run" : "left out", left_out[i].test,
           left_out[i].why);
    failed += left_out[i].fails;
  }
  if (failed > 0)
    return 1;
  return n_left_out > 0 ? 77 : 0;
}
