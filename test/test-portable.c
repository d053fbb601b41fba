/* SPDX-License-Identifier: MIT */
/* The portable part: error codes and names, signal names, the pid file
 * parser, options' defaults, the version. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <check.h>
#include "../src/internal.h"

START_TEST(test_dk_errors_are_distinct_from_uv_errors) {
  const int codes[] = { DK_ERUNNING, DK_ESTALE, DK_EBADPIDFILE, DK_EDIED, DK_ENOUSER };
  char buf[80];
  size_t i, j;
  for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    ck_assert_int_lt(codes[i], UV_ERRNO_MAX);
    /* libuv names none of them: it calls them unknown. (The _r forms:
     * uv_err_name and uv_strerror leak a string for an unknown code.) */
    ck_assert_ptr_nonnull(strstr(uv_err_name_r(codes[i], buf, sizeof(buf)), "Unknown system error"));
    ck_assert_str_ne(dk_strerror(codes[i]), uv_strerror_r(codes[i], buf, sizeof(buf)));
    for (j = 0; j < i; j++)
      ck_assert_int_ne(codes[i], codes[j]);
  }
}
END_TEST

START_TEST(test_err_names_and_messages) {
  ck_assert_str_eq(dk_err_name(DK_ERUNNING), "DK_ERUNNING");
  ck_assert_str_eq(dk_err_name(DK_ESTALE), "DK_ESTALE");
  ck_assert_str_eq(dk_err_name(DK_EBADPIDFILE), "DK_EBADPIDFILE");
  ck_assert_str_eq(dk_err_name(DK_EDIED), "DK_EDIED");
  ck_assert_str_eq(dk_err_name(DK_ENOUSER), "DK_ENOUSER");
  ck_assert_str_eq(dk_err_name(UV_ENOENT), "ENOENT");
  ck_assert_str_eq(dk_strerror(UV_ETIMEDOUT), uv_strerror(UV_ETIMEDOUT));
  ck_assert_ptr_nonnull(strstr(dk_strerror(DK_ERUNNING), "live daemon"));
  ck_assert_ptr_nonnull(strstr(dk_strerror(DK_ESTALE), "stale"));
}
END_TEST

START_TEST(test_version_matches_macros) {
  char want[32];
  snprintf(want, sizeof(want), "%d.%d.%d", DK_VERSION_MAJOR, DK_VERSION_MINOR, DK_VERSION_PATCH);
  ck_assert_str_eq(dk_version_string(), want);
}
END_TEST

START_TEST(test_signal_names_round_trip) {
  const int all[] = { DK_SIGINT, DK_SIGTERM, DK_SIGABRT, DK_SIGHUP, DK_SIGUSR1, DK_SIGUSR2 };
  size_t i;
  for (i = 0; i < 6; i++) {
    const char *name = dk_signal_name(all[i]);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_gt(all[i], 0);
    ck_assert_int_eq(dk_signal_from_name(name), all[i]);
    ck_assert_int_eq(dk_signal_from_name(name + 3), all[i]);
  }
  ck_assert_str_eq(dk_signal_name(DK_SIGTERM), "SIGTERM");
  ck_assert_ptr_null(dk_signal_name(0));
  ck_assert_ptr_null(dk_signal_name(9));
}
END_TEST

START_TEST(test_signal_from_name_accepts_forms) {
  ck_assert_int_eq(dk_signal_from_name("TERM"), DK_SIGTERM);
  ck_assert_int_eq(dk_signal_from_name("SIGTERM"), DK_SIGTERM);
  ck_assert_int_eq(dk_signal_from_name("sigterm"), DK_SIGTERM);
  ck_assert_int_eq(dk_signal_from_name("Term"), DK_SIGTERM);
  ck_assert_int_eq(dk_signal_from_name("15"), DK_SIGTERM);
  ck_assert_int_eq(dk_signal_from_name("2"), DK_SIGINT);
  ck_assert_int_eq(dk_signal_from_name("1"), DK_SIGHUP);
  ck_assert_int_eq(dk_signal_from_name("6"), DK_SIGABRT);
  ck_assert_int_eq(dk_signal_from_name("usr1"), DK_SIGUSR1);
}
END_TEST

START_TEST(test_signal_from_name_refuses_the_rest) {
  const char *bad[] = { "", "KILL", "SIGKILL", "9", "0", "SIG", "TERMX", "SIGSIGTERM", " TERM",
                        "TERM ", "15x", "-15", "+15", "015x", "99999999999999999999", "S" };
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(dk_signal_from_name(bad[i]) == UV_EINVAL, "accepted \"%s\"", bad[i]);
  ck_assert_int_eq(dk_signal_from_name(NULL), UV_EINVAL);
}
END_TEST

static int parse(const char *text, long *pid) {
  return dk__pid_parse(text, strlen(text), pid);
}

START_TEST(test_pid_parse_accepts_one_pid) {
  long pid = 0;
  ck_assert_int_eq(parse("1234\n", &pid), 0);
  ck_assert_int_eq(pid, 1234);
  ck_assert_int_eq(parse("2", &pid), 0);
  ck_assert_int_eq(pid, 2);
  ck_assert_int_eq(parse("2147483647\n", &pid), 0);
  ck_assert_int_eq(pid, 2147483647L);
}
END_TEST

/* Every text of bad[n] is DK_EBADPIDFILE, and leaves the pid as it was. */
static void assert_all_refused(const char *const *bad, size_t n) {
  long pid = 77;
  size_t i;
  for (i = 0; i < n; i++) {
    ck_assert_msg(parse(bad[i], &pid) == DK_EBADPIDFILE, "accepted \"%s\"", bad[i]);
    ck_assert_int_eq(pid, 77);
  }
}

START_TEST(test_pid_parse_refuses_garbage) {
  const char *bad[] = { "", "\n", "abc", "-1", "0", "1", "1\n", "99999999999999999999",
                        "2147483648", "123abc", " 123", "123 ", "12\n34\n", "123\n\n", "0123",
                        "+12", "12\r\n", "\n123" };
  long pid = 77;
  assert_all_refused(bad, sizeof(bad) / sizeof(bad[0]));
  /* A NUL inside is garbage too, not the end of the text. */
  ck_assert_int_eq(dk__pid_parse("12\0003", 4, &pid), DK_EBADPIDFILE);
}
END_TEST

START_TEST(test_pid_format_is_parsed_back) {
  const long pids[] = { 2, 10, 99, 12345, 2147483647L };
  char buf[24];
  size_t i, len;
  long back;
  for (i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
    len = dk__pid_format(pids[i], buf);
    ck_assert_int_eq(buf[len - 1], '\n');
    ck_assert_int_eq(dk__pid_parse(buf, len, &back), 0);
    ck_assert_int_eq(back, pids[i]);
  }
}
END_TEST

START_TEST(test_options_defaults) {
  dk_options_t opts;
  memset(&opts, 0x5a, sizeof(opts));
  dk_options_init(&opts);
  ck_assert_ptr_null(opts.pid_file);
  ck_assert_ptr_null(opts.workdir);
  ck_assert_ptr_null(opts.stdin_path);
  ck_assert_ptr_null(opts.stdout_path);
  ck_assert_ptr_null(opts.stderr_path);
  ck_assert_int_eq(opts.umask, -1);
  ck_assert_ptr_null(opts.keep_fds);
  ck_assert_uint_eq(opts.keep_fds_count, 0);
  ck_assert_uint_eq(opts.timeout_ms, 0);
  ck_assert_uint_eq(opts.flags, 0);
  ck_assert_ptr_null(opts.user);
  ck_assert_ptr_null(opts.group);
}
END_TEST

/* Regression (fuzzing, issue 7): with a 32-bit long (Windows) the parser
 * overflowed on 10-digit values and wrapped them: "4294967298" (2^32 + 2)
 * was read as pid 2. The Windows leg runs this under Wine. */
START_TEST(test_pid_parse_refuses_values_that_wrap_a_32_bit_long) {
  const char *bad[] = { "4294967298", "4294967298\n", "9999999999", "6442450943",
                        "2147483648", "2147483650", "4294967295" };
  long pid = 77;
  assert_all_refused(bad, sizeof(bad) / sizeof(bad[0]));
  ck_assert_int_eq(parse("2147483647", &pid), 0);
  ck_assert_int_eq(pid, 2147483647L);
}
END_TEST

/* Without a supervisor that asked (always so on Windows, where these are
 * stubs; on POSIX once systemd's variables are gone), a portable program
 * calls the systemd functions with no #ifdef: nothing is sent, no
 * watchdog runs, no socket was passed. */
START_TEST(test_without_a_supervisor_notify_watchdog_and_listen_fds_do_nothing) {
  static const char *const vars[] = { "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                                      "LISTEN_PID",    "LISTEN_FDS",    "LISTEN_FDNAMES" };
  dk_listen_fd_t fds[2];
  dk_watchdog_t wd;
  uv_loop_t loop;
  size_t i, count = 2;

  for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
    ck_assert_int_eq(uv_os_unsetenv(vars[i]), 0);
  ck_assert_int_eq(dk_notify("READY=1"), 0);
  ck_assert_int_eq(dk_notify_reloading(), 0);
  ck_assert_int_eq(dk_notify_stopping(), 0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_watchdog_init(&loop, &wd), 0);
  ck_assert_int_eq(dk_watchdog_start(&wd), 0);
  dk_watchdog_close(&wd, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(dk_listen_fds(fds, &count), 0);
  ck_assert_uint_eq(count, 0);
}
END_TEST

static Suite *portable_suite(void) {
  Suite *s = suite_create("portable");
  TCase *tc = tcase_create("portable");
  tcase_add_test(tc, test_dk_errors_are_distinct_from_uv_errors);
  tcase_add_test(tc, test_err_names_and_messages);
  tcase_add_test(tc, test_version_matches_macros);
  tcase_add_test(tc, test_signal_names_round_trip);
  tcase_add_test(tc, test_signal_from_name_accepts_forms);
  tcase_add_test(tc, test_signal_from_name_refuses_the_rest);
  tcase_add_test(tc, test_pid_parse_accepts_one_pid);
  tcase_add_test(tc, test_pid_parse_refuses_garbage);
  tcase_add_test(tc, test_pid_format_is_parsed_back);
  tcase_add_test(tc, test_options_defaults);
  tcase_add_test(tc, test_pid_parse_refuses_values_that_wrap_a_32_bit_long);
  tcase_add_test(tc, test_without_a_supervisor_notify_watchdog_and_listen_fds_do_nothing);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(portable_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
