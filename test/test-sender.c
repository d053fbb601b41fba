/* SPDX-License-Identifier: MIT */
/* dk_sender_t on POSIX: a cached sender gives what dk_send and
 * dk_pid_file_check give, call after call, while the pid file, its content,
 * its holder and the pid change under it: a new daemon on the same file or
 * a new one, a pid reused by an unrelated process or by a new holder of the
 * same file, a file rewritten, replaced, removed or made a symlink. What it
 * keeps between calls is seen as descriptors: two (the pid file and a
 * pidfd) while it keeps anything, none after dk_sender_close. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static const int all_signals[] = { DK_SIGINT, DK_SIGTERM, DK_SIGABRT,
                                   DK_SIGHUP, DK_SIGUSR1, DK_SIGUSR2 };

/* Descriptors a sender keeps while it keeps anything: the pid file and a
 * pidfd. None where pidfd_open does not exist (old kernels, valgrind):
 * there a pid cannot be pinned, and every call is dk_send's full path. */
static int kept_fds(void) {
#ifdef DK_NO_LINUX_EXTRAS
  return 0; /* the library uses no pidfds */
#else
  int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (fd < 0)
    return 0;
  close(fd);
  return 2;
#endif
}

static ino_t inode_of(const char *path) {
  struct stat st;
  ck_assert_int_eq(lstat(path, &st), 0);
  return st.st_ino;
}

static void write_pid(const char *path, pid_t pid) {
  char text[32];
  snprintf(text, sizeof(text), "%ld\n", (long)pid);
  ck_assert_int_eq(dk_test_write_file(path, text), 0); /* in place: O_TRUNC */
}

/* Every DK signal and the check give `want` through the sender, as they do
 * through dk_send and dk_pid_file_check; *pid is left alone. Nothing is
 * signalled on the way (want is an error). */
static void assert_refused(dk_sender_t *s, const char *path, int want, const char *what) {
  uv_pid_t pid = 12345;
  size_t i;
  for (i = 0; i < N_ELEMS(all_signals); i++) {
    int got = dk_sender_send(s, all_signals[i]);
    ck_assert_msg(got == want, "%s: dk_sender_send(%s) gave %s, want %s", what,
                  dk_signal_name(all_signals[i]), dk_err_name(got), dk_err_name(want));
    got = dk_send(path, all_signals[i]);
    ck_assert_msg(got == want, "%s: dk_send(%s) gave %s, want %s", what,
                  dk_signal_name(all_signals[i]), dk_err_name(got), dk_err_name(want));
  }
  ck_assert_msg(dk_sender_check(s, &pid) == want, "%s: dk_sender_check gave %s, want %s", what,
                dk_err_name(dk_sender_check(s, &pid)), dk_err_name(want));
  /* Held by another process than the one named: the check names it. */
  if (want != DK_ERUNNING)
    ck_assert_int_eq(pid, 12345);
  ck_assert_int_eq(dk_sender_check(s, NULL), want);
  ck_assert_int_eq(dk_pid_file_check(path, NULL), want);
}

/* The same for the sender of d.pid under a live daemon d: and it kept no
 * descriptor beyond the base_fds open before it, and d heard nothing. */
static void assert_refused_keeping_nothing(dk_sender_t *s, struct dk_test_sigd *d, int base_fds,
                                           int want, const char *what) {
  assert_refused(s, "d.pid", want, what);
  ck_assert_int_eq(dk_test_count_fds(), base_fds);
  ck_assert(dk_test_sigd_quiet(d));
}

/* USR1 through the sender reaches the daemon's callback, and the check
 * names it; afterwards the sender keeps its descriptors (base + kept). */
static void assert_reaches(dk_sender_t *s, struct dk_test_sigd *d, int base_fds) {
  uv_pid_t pid = 0;
  ck_assert_int_eq(dk_sender_send(s, DK_SIGUSR1), 0);
  dk_test_sigd_expect_cb(d, DK_SIGUSR1, DK_TEST_HANDLER_A);
  ck_assert_int_eq(dk_sender_check(s, &pid), 0);
  ck_assert_int_eq(pid, d->pid);
  ck_assert_int_eq(dk_test_count_fds(), base_fds + kept_fds());
}

static const struct dk_test_cmd usr_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 },
                                               { DK_TEST_SET_A, DK_SIGUSR2 } };

/* A daemon on d.pid that takes usr_cmds, and a sender of d.pid made: the
 * descriptors this process had open before the sender. */
static int launch_with_sender(struct dk_test_sigd *d, dk_sender_t *s) {
  int base;
  ck_assert_int_eq(dk_test_sigd_launch(d, "d.pid", usr_cmds, N_ELEMS(usr_cmds)), DK_PARENT);
  base = dk_test_count_fds();
  ck_assert_int_eq(dk_sender_init(s, "d.pid"), 0);
  return base;
}

/* --- init and close ------------------------------------------------------- */

START_TEST(test_init_refuses_null_and_too_long_paths) {
  dk_sender_t s;
  char *longest = malloc(DK_PATH_MAX + 1);
  int base = dk_test_count_fds();
  ck_assert_ptr_nonnull(longest);
  ck_assert_int_eq(dk_sender_init(NULL, "d.pid"), UV_EINVAL);
  ck_assert_int_eq(dk_sender_init(&s, NULL), UV_EINVAL);
  dk_sender_close(&s); /* after a failed init: harmless */
  memset(longest, 'a', DK_PATH_MAX);
  longest[DK_PATH_MAX] = '\0';
  ck_assert_int_eq(dk_sender_init(&s, longest), UV_EINVAL);
  /* The longest that fits: no I/O at init, the file need not exist. */
  longest[DK_PATH_MAX - 1] = '\0';
  ck_assert_int_eq(dk_sender_init(&s, longest), 0);
  ck_assert_int_eq(dk_sender_send(&s, DK_SIGUSR1), dk_send(longest, DK_SIGUSR1));
  dk_sender_close(&s);
  free(longest);
  ck_assert_int_eq(dk_sender_init(&s, "missing.pid"), 0);
  ck_assert_int_eq(dk_test_count_fds(), base);
  assert_refused(&s, "missing.pid", UV_ENOENT, "no pid file yet");
  ck_assert_int_eq(dk_sender_send(NULL, DK_SIGUSR1), UV_EINVAL);
  ck_assert_int_eq(dk_sender_check(NULL, NULL), UV_EINVAL);
  dk_sender_close(NULL);
  dk_sender_close(&s);
  ck_assert_int_eq(dk_test_count_fds(), base);
}
END_TEST

START_TEST(test_close_releases_descriptors_and_is_idempotent) {
  struct dk_test_sigd d;
  dk_sender_t s;
  int base = launch_with_sender(&d, &s);
  ck_assert_int_eq(dk_test_count_fds(), base); /* init does no I/O */
  assert_reaches(&s, &d, base);
  dk_sender_close(&s);
  ck_assert_int_eq(dk_test_count_fds(), base);
  dk_sender_close(&s);
  dk_sender_close(&s);
  ck_assert_int_eq(dk_test_count_fds(), base);
  /* Still usable after close: it keeps again, and close releases again. */
  assert_reaches(&s, &d, base);
  dk_sender_close(&s);
  ck_assert_int_eq(dk_test_count_fds(), base);
  /* A check alone keeps too. */
  ck_assert_int_eq(dk_sender_check(&s, NULL), 0);
  ck_assert_int_eq(dk_test_count_fds(), base + kept_fds());
  dk_sender_close(&s);
  ck_assert_int_eq(dk_test_count_fds(), base);
  ck_assert(dk_test_sigd_quiet(&d));
  dk_test_sigd_release(&d);
}
END_TEST

/* --- a live daemon -------------------------------------------------------- */

START_TEST(test_cached_sender_reaches_live_daemon_repeatedly) {
  struct dk_test_sigd d;
  dk_sender_t s;
  uv_pid_t pid = 0;
  int i, base;
  base = launch_with_sender(&d, &s);
  s.data = &d;
  for (i = 0; i < 200; i++) {
    int signum = i % 2 ? DK_SIGUSR2 : DK_SIGUSR1;
    ck_assert_int_eq(dk_sender_send(&s, signum), 0);
    dk_test_sigd_expect_cb(&d, signum, DK_TEST_HANDLER_A);
    ck_assert_int_eq(dk_test_count_fds(), base + kept_fds());
  }
  ck_assert_ptr_eq(s.data, &d); /* the user's field is the user's */
  for (i = 0; i < 100; i++) {
    ck_assert_int_eq(dk_sender_check(&s, &pid), 0);
    ck_assert_int_eq(pid, d.pid);
  }
  ck_assert(dk_test_sigd_quiet(&d)); /* checking signalled nothing */
  /* TERM through the sender: the daemon's default stops it. */
  ck_assert_int_eq(dk_sender_send(&s, DK_SIGTERM), 0);
  dk_test_sigd_expect_exit(&d, DK_SIGTERM);
  assert_refused(&s, "d.pid", UV_ENOENT, "after the daemon exited");
  base = dk_test_count_fds(); /* the harness closed its pidfd of the daemon */
  dk_sender_close(&s);
  ck_assert_int_eq(dk_test_count_fds(), base); /* nothing was kept */
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_bad_signal_is_einval_and_sends_nothing) {
  const int bad[] = { 0, -1, 3, 9, 11, 14, 19, 64, 1000, -15 };
  const struct dk_test_cmd setup_cmds[] = {
    { DK_TEST_SET_A, DK_SIGINT }, { DK_TEST_SET_A, DK_SIGTERM }, { DK_TEST_SET_A, DK_SIGABRT },
    { DK_TEST_SET_A, DK_SIGHUP }, { DK_TEST_SET_A, DK_SIGUSR1 }, { DK_TEST_SET_A, DK_SIGUSR2 },
  };
  struct dk_test_sigd d;
  dk_sender_t s;
  size_t i;
  int base;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, N_ELEMS(setup_cmds)), DK_PARENT);
  base = dk_test_count_fds();
  ck_assert_int_eq(dk_sender_init(&s, "d.pid"), 0);
  for (i = 0; i < N_ELEMS(bad); i++) /* before anything is kept */
    ck_assert_msg(dk_sender_send(&s, bad[i]) == UV_EINVAL, "signal %d", bad[i]);
  assert_reaches(&s, &d, base);
  for (i = 0; i < N_ELEMS(bad); i++) /* and while it is */
    ck_assert_msg(dk_sender_send(&s, bad[i]) == UV_EINVAL, "signal %d", bad[i]);
  ck_assert(dk_test_sigd_quiet(&d));
  ck_assert(dk_test_alive_unsignalled(d.pid));
  assert_reaches(&s, &d, base); /* what was kept still serves */
  dk_sender_close(&s);
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_without_record_lock_nothing_is_kept) {
  struct dk_test_sigd d;
  dk_sender_t s;
  uv_pid_t pid = 0;
  int i, base;
  base = launch_with_sender(&d, &s);
  assert_reaches(&s, &d, base);
  /* The daemon closes a descriptor of its pid file: its record lock goes,
   * its flock stays, and only /proc can tell it holds the file. */
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_REOPEN_PIDFILE, 0), 0);
  for (i = 0; i < 20; i++) {
    ck_assert_int_eq(dk_sender_send(&s, DK_SIGUSR1), 0);
    dk_test_sigd_expect_cb(&d, DK_SIGUSR1, DK_TEST_HANDLER_A);
    ck_assert_int_eq(dk_test_count_fds(), base);
  }
  ck_assert_int_eq(dk_sender_check(&s, &pid), 0);
  ck_assert_int_eq(pid, d.pid);
  ck_assert_int_eq(dk_test_count_fds(), base);
  dk_sender_close(&s);
  dk_test_sigd_release(&d);
}
END_TEST

/* --- the file changes under a kept sender --------------------------------- */

START_TEST(test_garbage_pid_file_is_ebadpidfile) {
  struct dk_test_sigd d;
  dk_sender_t s;
  int base = launch_with_sender(&d, &s);
  assert_reaches(&s, &d, base);
  /* Rewritten in place: the same inode, still locked by the daemon. */
  ck_assert_int_eq(dk_test_write_file("d.pid", "garbage\n"), 0);
  assert_refused_keeping_nothing(&s, &d, base, DK_EBADPIDFILE, "garbage written in place");
  write_pid("d.pid", d.pid); /* the daemon's own content again */
  assert_reaches(&s, &d, base);
  /* Replaced: another file renamed over the name. */
  ck_assert_int_eq(dk_test_write_file("garbage.pid", "12x\n"), 0);
  ck_assert_int_eq(rename("garbage.pid", "d.pid"), 0);
  assert_refused_keeping_nothing(&s, &d, base, DK_EBADPIDFILE, "garbage renamed over the file");
  ck_assert(dk_test_alive_unsignalled(d.pid));
  dk_sender_close(&s);
  /* The daemon's exit leaves a file that is not its own; the harness
   * expects the name gone. */
  ck_assert_int_eq(unlink("d.pid"), 0);
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_removed_pid_file_is_enoent) {
  struct dk_test_sigd d;
  dk_sender_t s;
  int base = launch_with_sender(&d, &s);
  assert_reaches(&s, &d, base);
  /* The kept descriptor still reads the file and the daemon still holds
   * its lock: only the name tells. */
  ck_assert_int_eq(unlink("d.pid"), 0);
  assert_refused_keeping_nothing(&s, &d, base, UV_ENOENT, "pid file removed under a live daemon");
  ck_assert(dk_test_alive_unsignalled(d.pid));
  dk_sender_close(&s);
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_file_rewritten_to_name_another_pid_is_refused) {
  struct dk_test_sigd d;
  dk_sender_t s;
  pid_t innocent = dk_test_spawn_sleep();
  int base = launch_with_sender(&d, &s);
  assert_reaches(&s, &d, base);
  /* Same inode, the daemon still holds its lock, but the file names a
   * `sleep` now: dk_send refuses that, so the kept sender must too,
   * instead of signalling the holder it knew. */
  write_pid("d.pid", innocent);
  assert_refused(&s, "d.pid", DK_ERUNNING, "locked file rewritten with a `sleep`'s pid");
  ck_assert(dk_test_alive_unsignalled(innocent));
  ck_assert(dk_test_sigd_quiet(&d));
  write_pid("d.pid", d.pid);
  assert_reaches(&s, &d, base);
  dk_sender_close(&s);
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_symlink_and_relative_path_are_resolved_per_call) {
  struct dk_test_sigd d;
  dk_sender_t s;
  int base;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", usr_cmds, N_ELEMS(usr_cmds)), DK_PARENT);
  ck_assert_int_eq(mkdir("elsewhere", 0755), 0);
  base = dk_test_count_fds();
  ck_assert_int_eq(dk_sender_init(&s, "d.pid"), 0);
  assert_reaches(&s, &d, base);
  /* Relative to the cwd of each call, as dk_send's. */
  ck_assert_int_eq(chdir("elsewhere"), 0);
  assert_refused(&s, "d.pid", UV_ENOENT, "relative path from another directory");
  ck_assert_int_eq(chdir(".."), 0);
  assert_reaches(&s, &d, base);
  /* The name made a symlink to the very file: dk_send refuses symlinks. */
  ck_assert_int_eq(rename("d.pid", "real.pid"), 0);
  ck_assert_int_eq(symlink("real.pid", "d.pid"), 0);
  assert_refused(&s, "d.pid", DK_EBADPIDFILE, "the name made a symlink to the live file");
  ck_assert(dk_test_sigd_quiet(&d));
  ck_assert_int_eq(unlink("d.pid"), 0);
  ck_assert_int_eq(rename("real.pid", "d.pid"), 0);
  assert_reaches(&s, &d, base);
  dk_sender_close(&s);
  dk_test_sigd_release(&d);
}
END_TEST

/* --- a new daemon, a reused pid ------------------------------------------- */

/* SIGKILLs the daemon (its pid file stays, unlocked) and reaps it. */
static void kill_daemon(struct dk_test_sigd *d) {
  int status = 0;
  ck_assert_int_eq(kill(d->pid, SIGKILL), 0);
  ck_assert_int_eq(dk_test_reap(d->pid, 10000, &status), 1);
  ck_assert(WIFSIGNALED(status));
  dk_test_sigd_close(d);
}

/* A new daemon takes over while the sender, not asked in between, still
 * keeps the old daemon's pidfd and the file's old descriptor. _i 0: the old
 * one was killed and left its file, which the new one renames a file over;
 * 1: it exited cleanly and removed its file, which the new one makes again.
 * Either way a new inode (the old one is still open here, so its number is
 * not free), and the sender reaches the new daemon at once. */
START_TEST(test_new_daemon_after_the_old_one_is_reached_at_once) {
  struct dk_test_sigd old, d;
  dk_sender_t s;
  ino_t ino;
  int base = launch_with_sender(&old, &s);
  assert_reaches(&s, &old, base);
  ino = inode_of("d.pid");
  if (_i == 0)
    kill_daemon(&old);
  else
    dk_test_sigd_release(&old);
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", usr_cmds, N_ELEMS(usr_cmds)), DK_PARENT);
  if (kept_fds() > 0) /* else nothing was kept, and the number is free again */
    ck_assert_int_ne(inode_of("d.pid"), ino);
  base = dk_test_count_fds() - kept_fds();
  assert_reaches(&s, &d, base);
  assert_reaches(&s, &d, base);
  dk_sender_close(&s);
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_pid_reused_by_unrelated_process_is_stale) {
  struct dk_test_sigd d;
  dk_sender_t s;
  pid_t reuser;
  int base = launch_with_sender(&d, &s);
  assert_reaches(&s, &d, base);
  kill_daemon(&d);
  /* The killed daemon's pid, given to a `sleep`; the file still names it,
   * the sender still holds it open. */
  reuser = dk_test_spawn_sleep_reusing(d.pid);
  if (reuser == d.pid) {
    ck_assert_int_eq(dk_sender_send(&s, DK_SIGTERM), DK_ESTALE);
    assert_refused(&s, "d.pid", DK_ESTALE, "pid reused by a `sleep`");
    ck_assert(dk_test_alive_unsignalled(reuser));
  }
  /* Not root, or always raced: the file rewritten to name a `sleep`. */
  reuser = dk_test_spawn_sleep();
  write_pid("d.pid", reuser);
  assert_refused(&s, "d.pid", DK_ESTALE, "file of a killed daemon rewritten with a `sleep`'s pid");
  ck_assert(dk_test_alive_unsignalled(reuser));
  dk_sender_close(&s);
}
END_TEST

/* A process that gets pid `want` (free: its process was reaped), as
 * procs.c's spawn_sleep makes one through ns_last_pid (root only), takes
 * the record lock of `path` and keeps every signal blocked, so that one
 * sent to it stays pending where the test can see it. It leaves when the
 * test closes *release (or dies). Returns its pid, or 0 if this process may
 * not choose pids or kept losing the race for it. */
static pid_t spawn_holder_reusing(pid_t want, const char *path, int *release) {
  int attempt;
  for (attempt = 0; attempt < 100; attempt++) {
    pid_t parent = getpid(), pid;
    int ready[2], hold[2], last;
    char text[24], c = 0;
    ssize_t n;
    last = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (last < 0)
      return 0;
    snprintf(text, sizeof(text), "%ld", (long)want - 1);
    n = write(last, text, strlen(text));
    close(last);
    if (n < 0)
      return 0;
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      struct flock rec;
      struct pollfd p;
      sigset_t all;
      int fd;
      sigfillset(&all);
      sigprocmask(SIG_SETMASK, &all, NULL);
      prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      if (getppid() != parent)
        _exit(1);
      close(ready[0]);
      close(hold[1]);
      if (getpid() != want)
        _exit(write(ready[1], "x", 1) == 1 ? 1 : 2);
      fd = open(path, O_RDWR | O_CLOEXEC);
      memset(&rec, 0, sizeof(rec));
      rec.l_type = F_WRLCK;
      rec.l_whence = SEEK_SET;
      if (fd < 0 || fcntl(fd, F_SETLK, &rec) < 0)
        _exit(write(ready[1], "e", 1) == 1 ? 1 : 2);
      if (write(ready[1], "k", 1) != 1)
        _exit(2);
      p.fd = hold[0];
      p.events = POLLIN;
      while (poll(&p, 1, 30000) < 0 && errno == EINTR)
        ;
      _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    do
      n = read(ready[0], &c, 1);
    while (n < 0 && errno == EINTR);
    close(ready[0]);
    if (n == 1 && c == 'k') {
      dk_test_track_pid(pid);
      *release = hold[1];
      return pid;
    }
    close(hold[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    ck_assert_msg(n == 1 && c == 'x', "the would-be holder failed (%c)", n == 1 ? c : '?');
  }
  return 0;
}

static int usr1_pending(pid_t pid) {
  return (dk_test_status_field(pid, "ShdPnd", 16) >> (SIGUSR1 - 1)) & 1;
}

START_TEST(test_pid_reused_by_new_holder_of_the_same_file_is_reached) {
  struct dk_test_sigd d;
  dk_sender_t s;
  pid_t holder;
  uv_pid_t pid = 0;
  int release = -1, base;
  base = launch_with_sender(&d, &s);
  assert_reaches(&s, &d, base);
  kill_daemon(&d);
  /* Everything the sender checks before it signals is as it was: the same
   * name and inode, untouched, naming the same pid, whose process holds the
   * file's record lock. Only the process is another: the kept pidfd is the
   * dead daemon's, and the signal must reach the new holder through the
   * full check, not be lost and not be refused. */
  holder = spawn_holder_reusing(d.pid, dk_test_path(0, "d.pid"), &release);
  ck_assert_msg(holder != 0, "no process got pid %ld through ns_last_pid", (long)d.pid);
  ck_assert_int_eq(holder, d.pid);
  ck_assert(dk_test_alive_unsignalled(holder));
  ck_assert_int_eq(dk_sender_send(&s, DK_SIGUSR1), 0);
  ck_assert(usr1_pending(holder));
  ck_assert_int_eq(dk_sender_check(&s, &pid), 0);
  ck_assert_int_eq(pid, holder);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR1), 0); /* as dk_send does */
  /* The daemon's socket is closed, the holder's release pipe open. */
  ck_assert_int_eq(dk_test_count_fds(), base - 1 + 1 + kept_fds());
  dk_sender_close(&s);
  close(release);
  ck_assert_int_eq(dk_test_reap(holder, 10000, NULL), 1);
  assert_refused(&s, "d.pid", DK_ESTALE, "the new holder gone too");
}
END_TEST

static Suite *sender_suite(void) {
  Suite *s = suite_create("sender");
  TCase *tc = dk_test_tcase(s, "basics", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_init_refuses_null_and_too_long_paths);
  tcase_add_test(tc, test_close_releases_descriptors_and_is_idempotent);
  tcase_add_test(tc, test_cached_sender_reaches_live_daemon_repeatedly);
  tcase_add_test(tc, test_bad_signal_is_einval_and_sends_nothing);
  DK_TEST_ADD_LINUX(tc, test_without_record_lock_nothing_is_kept);

  tc = dk_test_tcase(s, "file", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_garbage_pid_file_is_ebadpidfile);
  tcase_add_test(tc, test_removed_pid_file_is_enoent);
  tcase_add_test(tc, test_file_rewritten_to_name_another_pid_is_refused);
  tcase_add_test(tc, test_symlink_and_relative_path_are_resolved_per_call);

  tc = dk_test_tcase(s, "holder", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_loop_test(tc, test_new_daemon_after_the_old_one_is_reached_at_once, 0, 2);
  tcase_add_test(tc, test_pid_reused_by_unrelated_process_is_stale);
  /* Choosing a pid through ns_last_pid needs root. */
  DK_TEST_ADD_ROOT(tc, test_pid_reused_by_new_holder_of_the_same_file_is_reached);
  return s;
}

int main(void) {
  return dk_test_run(sender_suite());
}
