/* SPDX-License-Identifier: MIT */
/* dk_send and dk_pid_file_check on POSIX: a pid is signalled only when the
 * process it names holds the pid file. Hostile and stale pid files, pids
 * that live but are not ours, a lock kept by a dead daemon's child; and the
 * outside tools that signal a daemon through its pid file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"


static const int all_signals[] = { DK_SIGINT, DK_SIGTERM, DK_SIGABRT,
                                   DK_SIGHUP, DK_SIGUSR1, DK_SIGUSR2 };

static void write_bytes(const char *path, const void *buf, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
  close(fd);
}

/* 1 if some process holds a POSIX record lock on path (F_GETLK's view). */
static int has_record_lock(const char *path) {
  struct flock rec;
  int fd = open(path, O_RDONLY | O_CLOEXEC), r;
  ck_assert_int_ge(fd, 0);
  memset(&rec, 0, sizeof(rec));
  rec.l_type = F_RDLCK;
  rec.l_whence = SEEK_SET;
  r = fcntl(fd, F_GETLK, &rec);
  close(fd);
  ck_assert_int_eq(r, 0);
  return rec.l_type != F_UNLCK;
}

/* Every DK signal and dk_pid_file_check give `want`, and *pid is untouched. */
static void assert_refused(const char *path, int want, const char *what) {
  uv_pid_t pid = 12345;
  size_t i;
  for (i = 0; i < N_ELEMS(all_signals); i++)
    ck_assert_msg(dk_send(path, all_signals[i]) == want, "%s: dk_send(%s) gave %s, want %s", what,
                  dk_signal_name(all_signals[i]), dk_err_name(dk_send(path, all_signals[i])),
                  dk_err_name(want));
  ck_assert_msg(dk_pid_file_check(path, &pid) == want, "%s: dk_pid_file_check gave %s, want %s",
                what, dk_err_name(dk_pid_file_check(path, &pid)), dk_err_name(want));
  ck_assert_int_eq(pid, 12345);
  ck_assert_int_eq(dk_pid_file_check(path, NULL), want);
}

/* The file is held by `holder`, a process it does not name: every send is
 * refused with DK_ERUNNING, and the check names the holder. */
static void assert_held_by_other(const char *path, pid_t holder, const char *what) {
  uv_pid_t pid = 12345;
  size_t i;
  for (i = 0; i < N_ELEMS(all_signals); i++)
    ck_assert_msg(dk_send(path, all_signals[i]) == DK_ERUNNING, "%s: dk_send(%s) gave %s", what,
                  dk_signal_name(all_signals[i]), dk_err_name(dk_send(path, all_signals[i])));
  ck_assert_msg(dk_pid_file_check(path, &pid) == DK_ERUNNING, "%s: dk_pid_file_check gave %s",
                what, dk_err_name(dk_pid_file_check(path, &pid)));
  ck_assert_msg(pid == holder, "%s: dk_pid_file_check named %ld, the holder is %ld", what,
                (long)pid, (long)holder);
}

/* --- a live daemon -------------------------------------------------------- */

START_TEST(test_check_names_live_daemon_and_sends_nothing) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 } };
  struct dk_test_sigd d;
  uv_pid_t pid = 0;
  int i;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  ck_assert_int_eq(dk_pid_file_check("d.pid", &pid), 0);
  ck_assert_int_eq(pid, d.pid);
  pid = 0;
  ck_assert_int_eq(dk_pid_file_check(dk_test_path(0, "d.pid"), &pid), 0);
  ck_assert_int_eq(pid, d.pid);
  for (i = 0; i < 100; i++)
    ck_assert_int_eq(dk_pid_file_check("d.pid", NULL), 0);
  /* Checking signalled nothing: not even TERM's default ran. */
  ck_assert(dk_test_sigd_quiet(&d));
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR1), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR1, DK_TEST_HANDLER_A);
  dk_test_sigd_release(&d);
  ck_assert_int_eq(dk_pid_file_check("d.pid", &pid), UV_ENOENT);
}
END_TEST

START_TEST(test_send_with_invalid_signal_is_einval_and_sends_nothing) {
  /* As host signals most of these would kill the daemon or be seen by it. */
  const int bad[] = { 0, -1, 3, 4, 5, 7, 8, 9, 11, 13, 14, 16, 19, 24, 31, 34, 64, 1000, -15 };
  const struct dk_test_cmd setup_cmds[] = {
    { DK_TEST_SET_A, DK_SIGINT }, { DK_TEST_SET_A, DK_SIGTERM }, { DK_TEST_SET_A, DK_SIGABRT },
    { DK_TEST_SET_A, DK_SIGHUP }, { DK_TEST_SET_A, DK_SIGUSR1 }, { DK_TEST_SET_A, DK_SIGUSR2 },
  };
  struct dk_test_sigd d;
  uv_pid_t pid = 0;
  size_t i;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, N_ELEMS(setup_cmds)), DK_PARENT);
  for (i = 0; i < N_ELEMS(bad); i++)
    ck_assert_msg(dk_send("d.pid", bad[i]) == UV_EINVAL, "signal %d", bad[i]);
  ck_assert_int_eq(dk_send(NULL, DK_SIGTERM), UV_EINVAL);
  ck_assert_int_eq(dk_pid_file_check(NULL, &pid), UV_EINVAL);
  ck_assert(dk_test_sigd_quiet(&d));
  ck_assert(dk_test_alive_unsignalled(d.pid));
  ck_assert_int_eq(dk_pid_file_check("d.pid", &pid), 0);
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_daemon_can_signal_and_check_itself) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR2 } };
  struct dk_test_sigd d;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  /* F_GETLK does not show a process its own lock: /proc/self tells. */
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_CHECK_SELF, 0), d.pid);
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SEND_SELF, DK_SIGUSR2), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR2, DK_TEST_HANDLER_A);
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SEND_SELF, DK_SIGTERM), 0);
  dk_test_sigd_expect_exit(&d, DK_SIGTERM);
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_daemon_checking_itself_keeps_its_record_lock) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR2 } };
  struct dk_test_sigd d;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  ck_assert(has_record_lock("d.pid"));
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_CHECK_SELF, 0), d.pid);
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SEND_SELF, DK_SIGUSR2), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR2, DK_TEST_HANDLER_A);
  /* A closed descriptor of its own file would have dropped it for good. */
  ck_assert_msg(has_record_lock("d.pid"), "the daemon lost its record lock to its own check");
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_send_to_daemon_of_another_user_is_eperm) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 } };
  struct dk_test_sigd d;
  int send_err, check_err;
  ck_assert_int_eq(chmod(dk_test_dir(), 0755), 0);
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  /* The record lock names the holder: only kill() is refused. */
  dk_test_send_as_nobody(dk_test_path(0, "d.pid"), DK_SIGUSR1, &send_err, &check_err);
  ck_assert_int_eq(send_err, UV_EPERM);
  ck_assert_int_eq(check_err, 0);
  /* Without it, /proc/PID/fd of another user's process is closed too. */
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_REOPEN_PIDFILE, 0), 0);
  /* The file is held, by a process nobody may not look into: it can not
   * tell that it is the daemon, nor that it is not. */
  dk_test_send_as_nobody(dk_test_path(0, "d.pid"), DK_SIGUSR1, &send_err, &check_err);
  ck_assert_int_eq(send_err, UV_EPERM);
  ck_assert_int_eq(check_err, UV_EPERM);
  ck_assert(dk_test_sigd_quiet(&d));
  dk_test_sigd_release(&d);
}
END_TEST

/* Nobody holds the file; its pid is init's, a process an ordinary user may
 * neither signal nor look into: still stale, not EPERM. */
START_TEST(test_stale_file_naming_another_users_process_is_stale) {
  int send_err, check_err;
  ck_assert_int_eq(dk_test_write_file("init.pid", "1\n"), 0);
  ck_assert_int_eq(dk_test_write_file("other.pid", "2\n"), 0); /* kthreadd, or whoever */
  if (geteuid() == 0) {
    ck_assert_int_eq(chmod(dk_test_dir(), 0755), 0);
    dk_test_send_as_nobody(dk_test_path(0, "other.pid"), DK_SIGUSR1, &send_err, &check_err);
  } else {
    send_err = dk_send("other.pid", DK_SIGUSR1);
    check_err = dk_pid_file_check("other.pid", NULL);
  }
  ck_assert_msg(send_err == DK_ESTALE && check_err == DK_ESTALE, "send %s, check %s",
                dk_err_name(send_err), dk_err_name(check_err));
  /* "1" is refused as no valid daemon pid, whoever asks. */
  ck_assert_int_eq(dk_pid_file_check("init.pid", NULL), DK_EBADPIDFILE);
}
END_TEST

/* --- hostile pid files ---------------------------------------------------- */

/* fmt with every "PID" replaced by pid; returns the length. */
static size_t expand(const char *fmt, const char *pid, char *buf, size_t size) {
  size_t n = 0, plen = strlen(pid);
  while (*fmt != '\0' && n + plen + 1 < size) {
    if (strncmp(fmt, "PID", 3) == 0) {
      memcpy(buf + n, pid, plen);
      n += plen;
      fmt += 3;
    } else {
      buf[n++] = *fmt++;
    }
  }
  buf[n] = '\0';
  return n;
}

START_TEST(test_hostile_pid_file_contents_are_refused) {
  pid_t innocent = dk_test_spawn_sleep();
  char s[16], buf[64];
  size_t i;
  struct {
    const char *fmt; /* PID: the live sleep's pid */
    int want;
  } cases[] = {
    { "", UV_ENOENT }, /* empty and unlocked: what a daemon that could not remove it leaves */
    { "\n", DK_EBADPIDFILE },
    { "abc", DK_EBADPIDFILE },
    { "abc\n", DK_EBADPIDFILE },
    { "-1", DK_EBADPIDFILE },
    { "-1\n", DK_EBADPIDFILE },
    { "-PID\n", DK_EBADPIDFILE },
    { "0", DK_EBADPIDFILE },
    { "0\n", DK_EBADPIDFILE },
    { "1", DK_EBADPIDFILE },
    { "1\n", DK_EBADPIDFILE },
    { "99999999999999999999", DK_EBADPIDFILE },
    { "99999999999999999999\n", DK_EBADPIDFILE },
    { "2147483648\n", DK_EBADPIDFILE },
    { "123abc", DK_EBADPIDFILE },
    { "PIDabc\n", DK_EBADPIDFILE },
    { "  PID\n", DK_EBADPIDFILE },
    { "  PID", DK_EBADPIDFILE },
    { "\tPID\n", DK_EBADPIDFILE },
    { "PID \n", DK_EBADPIDFILE },
    { "PID\r\n", DK_EBADPIDFILE },
    { "+PID\n", DK_EBADPIDFILE },
    { "0PID\n", DK_EBADPIDFILE },
    { "PID\nPID\n", DK_EBADPIDFILE },
    { "PID\n\n", DK_EBADPIDFILE },
    { "PID\n1\n", DK_EBADPIDFILE },
    { "0x10\n", DK_EBADPIDFILE },
    /* Well formed, but no live holder of this file. */
    { "PID", DK_ESTALE },
    { "PID\n", DK_ESTALE },
    { "2147483647\n", DK_ESTALE },
    { "2\n", DK_ESTALE }, /* kthreadd, or whatever pid 2 is: it holds no file */
  };
  snprintf(s, sizeof(s), "%ld", (long)innocent);
  for (i = 0; i < N_ELEMS(cases); i++) {
    size_t n = expand(cases[i].fmt, s, buf, sizeof(buf));
    write_bytes("h.pid", buf, n);
    assert_refused("h.pid", cases[i].want, cases[i].fmt);
  }
  /* A NUL inside. */
  {
    size_t len = strlen(s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    buf[len + 1] = '\n';
    write_bytes("h.pid", buf, len + 2);
    assert_refused("h.pid", DK_EBADPIDFILE, "pid, NUL, newline");
  }
  ck_assert(dk_test_alive_unsignalled(innocent));
}
END_TEST

START_TEST(test_one_mebibyte_pid_file_is_refused) {
  pid_t innocent = dk_test_spawn_sleep();
  size_t size = 1024 * 1024, used = 0, len;
  char line[16], *big = malloc(size);
  ck_assert_ptr_nonnull(big);
  len = (size_t)snprintf(line, sizeof(line), "%ld\n", (long)innocent);
  while (used + len <= size) { /* the live pid, line after line */
    memcpy(big + used, line, len);
    used += len;
  }
  memset(big + used, '\n', size - used);
  write_bytes("big.pid", big, size);
  free(big);
  assert_refused("big.pid", DK_EBADPIDFILE, "1 MiB");
  ck_assert(dk_test_alive_unsignalled(innocent));
}
END_TEST

START_TEST(test_symlinked_pid_file_is_refused_even_to_live_daemon) {
  /* TERM left at its default: had it come, the daemon would have exited. */
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 } };
  struct dk_test_sigd d;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  ck_assert_int_eq(symlink("d.pid", "rel-link.pid"), 0);
  ck_assert_int_eq(symlink(dk_test_path(0, "d.pid"), "abs-link.pid"), 0);
  ck_assert_int_eq(symlink("nowhere.pid", "dangling.pid"), 0);
  assert_refused("rel-link.pid", DK_EBADPIDFILE, "relative symlink to a live pid file");
  assert_refused("abs-link.pid", DK_EBADPIDFILE, "absolute symlink to a live pid file");
  assert_refused("dangling.pid", DK_EBADPIDFILE, "dangling symlink");
  ck_assert(dk_test_sigd_quiet(&d));
  ck_assert(dk_test_alive(d.pid));
  /* The file itself works. */
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR1), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR1, DK_TEST_HANDLER_A);
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_directory_fifo_and_device_are_refused) {
  ck_assert_int_eq(mkdir("dir.pid", 0755), 0);
  assert_refused("dir.pid", DK_EBADPIDFILE, "directory");
  /* A FIFO with no writer: reading it must not hang. */
  ck_assert_int_eq(mkfifo("fifo.pid", 0644), 0);
  assert_refused("fifo.pid", DK_EBADPIDFILE, "fifo");
  assert_refused("/dev/null", DK_EBADPIDFILE, "/dev/null");
  assert_refused("/dev/zero", DK_EBADPIDFILE, "/dev/zero");
}
END_TEST

START_TEST(test_missing_pid_file_is_enoent) {
  assert_refused("missing.pid", UV_ENOENT, "missing file");
  assert_refused(dk_test_path(0, "no/such/dir/d.pid"), UV_ENOENT, "missing directory");
}
END_TEST

/* --- stale files: nothing is signalled ------------------------------------ */

START_TEST(test_live_process_that_is_no_daemon_of_ours_is_stale) {
  pid_t innocent = dk_test_spawn_sleep();
  char text[32];
  snprintf(text, sizeof(text), "%ld\n", (long)innocent);
  ck_assert_int_eq(dk_test_write_file("sleep.pid", text), 0);
  assert_refused("sleep.pid", DK_ESTALE, "pid of a live `sleep`");
  /* Locked by us through a read-only descriptor: anybody who may read a
   * pid file can do that, and it makes nobody its daemon. */
  {
    int fd = open("sleep.pid", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    assert_refused("sleep.pid", DK_ESTALE, "pid of a live `sleep`, read-only flock of ours");
    close(fd);
  }
  /* Locked by us for writing, as a daemon holds it: held, by us. */
  {
    int fd = open("sleep.pid", O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    assert_held_by_other("sleep.pid", getpid(), "pid of a live `sleep`, file locked by us");
    close(fd);
  }
  ck_assert(dk_test_alive_unsignalled(innocent));
}
END_TEST

/* Flocked through a writable descriptor, as a daemon holds it, but with no
 * record lock (a daemon that opened and closed its file again): never
 * stale, in every build. Where nothing tells who holds a flock (no /proc:
 * a BSD, macOS, --disable-linux-extras) it is at least refused: UV_EPERM
 * while the named pid lives, DK_ERUNNING once it can not be the holder. */
START_TEST(test_flocked_file_without_record_lock_is_never_stale) {
  pid_t innocent = dk_test_spawn_sleep(), dead = dk_test_spawn_sleep();
  char text[32];
  size_t i;
  int fd, err;

  ck_assert_int_eq(kill(dead, SIGKILL), 0);
  ck_assert_int_eq(dk_test_reap(dead, 10000, NULL), 1);
  snprintf(text, sizeof(text), "%ld\n", (long)innocent);
  ck_assert_int_eq(dk_test_write_file("held.pid", text), 0);
  fd = open("held.pid", O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(flock(fd, LOCK_EX), 0);
  ck_assert(!has_record_lock("held.pid"));
  for (i = 0; i < N_ELEMS(all_signals); i++) {
    err = dk_send("held.pid", all_signals[i]);
    ck_assert_msg(err == DK_ERUNNING || err == UV_EPERM, "live pid, flocked: dk_send(%s) gave %s",
                  dk_signal_name(all_signals[i]), dk_err_name(err));
  }
  err = dk_pid_file_check("held.pid", NULL);
  ck_assert_msg(err == DK_ERUNNING || err == UV_EPERM, "live pid, flocked: check gave %s",
                dk_err_name(err));
  ck_assert(dk_test_alive_unsignalled(innocent));
  /* The same file, now naming a pid nobody has. */
  snprintf(text, sizeof(text), "%ld\n", (long)dead);
  ck_assert_int_eq(ftruncate(fd, 0), 0);
  ck_assert_int_eq(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
  err = dk_pid_file_check("held.pid", NULL);
  ck_assert_msg(err == DK_ERUNNING, "dead pid, flocked: check gave %s", dk_err_name(err));
  ck_assert_int_eq(dk_send("held.pid", DK_SIGTERM), DK_ERUNNING);
  close(fd);
  /* Let go of: stale. */
  ck_assert_int_eq(dk_pid_file_check("held.pid", NULL), DK_ESTALE);
}
END_TEST

START_TEST(test_copy_of_live_pid_file_is_stale) {
  struct dk_test_sigd d;
  char text[32];
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", NULL, 0), DK_PARENT);
  ck_assert_int_gt(dk_test_read_file("d.pid", text, sizeof(text)), 0);
  ck_assert_int_eq(dk_test_write_file("copy.pid", text), 0);
  assert_refused("copy.pid", DK_ESTALE, "copy of a live pid file");
  ck_assert(dk_test_sigd_quiet(&d));
  dk_test_sigd_release(&d);
}
END_TEST

START_TEST(test_stale_pid_file_of_dead_process_is_stale) {
  char text[32];
  pid_t dead = fork();
  ck_assert_int_ge(dead, 0);
  if (dead == 0)
    _exit(0);
  /* Unreaped first: a zombie's pid still answers kill(pid, 0). */
  ck_assert(dk_test_wait_exit(dead, 10000));
  ck_assert_int_eq(kill(dead, 0), 0);
  snprintf(text, sizeof(text), "%ld\n", (long)dead);
  ck_assert_int_eq(dk_test_write_file("dead.pid", text), 0);
  assert_refused("dead.pid", DK_ESTALE, "zombie's pid");
  ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
  assert_refused("dead.pid", DK_ESTALE, "dead pid");
}
END_TEST

START_TEST(test_stale_pid_file_left_by_killed_daemon_is_stale) {
  struct dk_test_sigd d;
  int status = 0;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", NULL, 0), DK_PARENT);
  ck_assert_int_eq(kill(d.pid, SIGKILL), 0);
  ck_assert_int_eq(dk_test_reap(d.pid, 10000, &status), 1);
  ck_assert(WIFSIGNALED(status));
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), d.pid);
  ck_assert(!dk_test_is_flocked("d.pid"));
  assert_refused("d.pid", DK_ESTALE, "file of a killed daemon");
  dk_test_sigd_close(&d);
}
END_TEST

/* --- the lock, and the /proc fallback ------------------------------------- */

START_TEST(test_send_works_after_daemon_dropped_its_record_lock) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 } };
  struct dk_test_sigd d;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  ck_assert(has_record_lock("d.pid"));
  /* Closing any descriptor of the file drops a process's record locks. */
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_REOPEN_PIDFILE, 0), 0);
  ck_assert(!has_record_lock("d.pid"));
  ck_assert(dk_test_is_flocked("d.pid"));
  /* F_GETLK names nobody now: /proc/PID/fdinfo tells. */
  dk_test_sigd_expect_reached(&d, "d.pid");
  dk_test_sigd_stop(&d, "d.pid");
}
END_TEST

/* Starts a daemon that leaves a child sharing its pid file's open file,
 * as the children of a program it exec'd do, then dies without cleanup:
 * the file names the dead daemon, and the child holds its flock. */
static pid_t daemon_dies_leaving_holder(struct dk_test_sigd *d) {
  pid_t holder;
  ck_assert_int_eq(dk_test_sigd_launch(d, "d.pid", NULL, 0), DK_PARENT);
  holder = dk_test_sigd_command(d, DK_TEST_FORK_INHERITOR, 0);
  ck_assert_int_gt(holder, 1);
  dk_test_track_pid(holder);
  ck_assert_int_eq(dk_test_sigd_command(d, DK_TEST_DIE, 0), 0);
  ck_assert(dk_test_wait_exit(d->pid, 10000));
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), d->pid);
  ck_assert(dk_test_is_flocked("d.pid"));
  ck_assert(!has_record_lock("d.pid"));
  return holder;
}

START_TEST(test_pid_file_held_by_child_of_dead_daemon_is_erunning_everywhere) {
  struct dk_test_sigd d, second;
  int status = 0;
  pid_t holder = daemon_dies_leaving_holder(&d);
  /* The dead daemon is our unreaped child: its pid exists (kill(pid, 0)
   * succeeds) and the file is flocked, so "locked and the pid exists" would
   * pass. Only asking who holds the lock tells. */
  ck_assert_int_eq(kill(d.pid, 0), 0);
  assert_held_by_other("d.pid", holder, "held by the child of a dead (zombie) daemon");
  ck_assert_int_eq(dk_test_reap(d.pid, 10000, &status), 1);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  assert_held_by_other("d.pid", holder, "held by the child of a dead (reaped) daemon");
  /* A new start runs into the same holder, and names it. */
  ck_assert_int_eq(dk_test_sigd_launch(&second, "d.pid", NULL, 0), DK_ERUNNING);
  ck_assert_int_eq(dk_daemon_pid(&second.dz), holder);
  /* The holder blocks every signal: any sent would be pending still. */
  ck_assert(dk_test_alive_unsignalled(holder));
  dk_test_sigd_close(&second);
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_forked_child_of_daemon_does_not_hold_its_pid_file) {
  struct dk_test_sigd d, second;
  pid_t child;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", NULL, 0), DK_PARENT);
  child = dk_test_sigd_command(&d, DK_TEST_FORK_HOLDER, 0);
  ck_assert_int_gt(child, 1);
  dk_test_track_pid(child);
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_DIE, 0), 0);
  ck_assert(dk_test_wait_exit(d.pid, 10000));
  /* The daemon is gone, its worker lives: the file is stale, and a new
   * start takes it over. */
  ck_assert(dk_test_alive(child));
  ck_assert(!dk_test_is_flocked("d.pid"));
  assert_refused("d.pid", DK_ESTALE, "named a dead daemon whose child lives");
  ck_assert_int_eq(dk_test_sigd_launch(&second, "d.pid", NULL, 0), DK_PARENT);
  ck_assert(dk_test_alive_unsignalled(child));
  dk_test_sigd_release(&second);
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_send_refuses_reused_pid) {
  struct dk_test_sigd d;
  pid_t holder = daemon_dies_leaving_holder(&d), reuser;
  char text[32];
  ck_assert_int_eq(dk_test_reap(d.pid, 10000, NULL), 1);
  /* The dead daemon's pid, given to an unrelated process, while the file
   * that names it is still locked by the daemon's child. */
  reuser = dk_test_spawn_sleep_reusing(d.pid);
  if (reuser == d.pid) {
    ck_assert_int_eq(dk_test_pid_in_file("d.pid"), reuser);
    assert_held_by_other("d.pid", holder, "pid reused by a `sleep`");
    ck_assert(dk_test_alive_unsignalled(reuser));
  }
  /* Not root, or always raced: the same from the sender's side, by
   * rewriting the locked file in place (same inode, same lock). */
  reuser = dk_test_spawn_sleep();
  snprintf(text, sizeof(text), "%ld\n", (long)reuser);
  {
    int fd = open("d.pid", O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    close(fd);
  }
  ck_assert(dk_test_is_flocked("d.pid"));
  assert_held_by_other("d.pid", holder, "locked file rewritten with a `sleep`'s pid");
  ck_assert(dk_test_alive_unsignalled(reuser));
  ck_assert(dk_test_alive_unsignalled(holder));
  dk_test_sigd_close(&d);
}
END_TEST

/* --- outside tools, through the same pid file ----------------------------- */

static int shell(const char *fmt, const char *path) {
  char cmd[8192];
  int status;
  snprintf(cmd, sizeof(cmd), fmt, path);
  status = system(cmd);
  ck_assert_int_ne(status, -1);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(test_kill_with_cat_of_pid_file_reaches_daemon) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGHUP } };
  const char *path = dk_test_path(0, "d.pid");
  struct dk_test_sigd d;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  ck_assert_int_eq(shell("kill -HUP \"$(cat '%s')\"", path), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGHUP, DK_TEST_HANDLER_A);
  ck_assert_int_eq(shell("kill -TERM $(cat '%s')", path), 0);
  dk_test_sigd_expect_exit(&d, DK_SIGTERM);
  dk_test_sigd_close(&d);
}
END_TEST

static pid_t spawn_start_stop_daemon(const char *const *args) {
  const char *argv[16];
  pid_t pid;
  size_t i;
  argv[0] = "start-stop-daemon";
  for (i = 0; args[i] != NULL && i < 14; i++)
    argv[i + 1] = args[i];
  argv[i + 1] = NULL;
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execv("/usr/sbin/start-stop-daemon", (char *const *)argv);
    execv("/sbin/start-stop-daemon", (char *const *)argv);
    execvp("start-stop-daemon", (char *const *)argv);
    _exit(127);
  }
  dk_test_track_pid(pid);
  return pid;
}

START_TEST(test_start_stop_daemon_signals_and_stops_daemon) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 } };
  const char *path = dk_test_path(0, "d.pid");
  struct dk_test_sigd d;
  int status = -1;
  pid_t ssd;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);

  /* --stop with another signal only sends it. */
  {
    const char *args[] = { "--stop", "--signal", "USR1", "--pidfile", path, NULL };
    ssd = spawn_start_stop_daemon(args);
    ck_assert_int_eq(dk_test_reap(ssd, 10000, &status), 1);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  dk_test_sigd_expect_cb(&d, DK_SIGUSR1, DK_TEST_HANDLER_A);

  /* TERM, then wait until it is gone. No --remove-pidfile: the daemon
   * removes its own. The daemon is our child (we are its subreaper), and
   * s-s-d would take a zombie for alive: reap it while s-s-d waits. */
  {
    const char *args[] = { "--stop", "--pidfile", path, "--retry", "TERM/10/KILL/5", "--oknodo",
                           NULL };
    ssd = spawn_start_stop_daemon(args);
    dk_test_sigd_expect_exit(&d, DK_SIGTERM);
    ck_assert_int_eq(dk_test_reap(ssd, 20000, &status), 1);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "start-stop-daemon: %#x",
                  status);
  }
  ck_assert_int_eq(access("d.pid", F_OK), -1);
  /* Nothing left to stop: --oknodo says so with 0. */
  {
    const char *args[] = { "--stop", "--pidfile", path, "--oknodo", NULL };
    ssd = spawn_start_stop_daemon(args);
    ck_assert_int_eq(dk_test_reap(ssd, 10000, &status), 1);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_pkill_with_lock_check_reaches_daemon) {
  const struct dk_test_cmd setup_cmds[] = { { DK_TEST_SET_A, DK_SIGUSR1 } };
  const char *path = dk_test_path(0, "d.pid");
  struct dk_test_sigd d;
  char text[32];
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, 1), DK_PARENT);
  /* -L: only a locked file is trusted. An unlocked copy is refused. */
  ck_assert_int_gt(dk_test_read_file("d.pid", text, sizeof(text)), 0);
  ck_assert_int_eq(dk_test_write_file("copy.pid", text), 0);
  ck_assert_int_ne(shell("pkill -USR1 -L -F '%s' 2>/dev/null", dk_test_path(1, "copy.pid")), 0);
  ck_assert(dk_test_sigd_quiet(&d));

  ck_assert_int_eq(shell("pkill -USR1 -L -F '%s'", path), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR1, DK_TEST_HANDLER_A);
  ck_assert_int_eq(shell("pkill -L -F '%s'", path), 0); /* TERM */
  dk_test_sigd_expect_exit(&d, DK_SIGTERM);
  dk_test_sigd_close(&d);
}
END_TEST

static Suite *send_suite(void) {
  Suite *s = suite_create("send");
  TCase *tc = dk_test_tcase(s, "live", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_check_names_live_daemon_and_sends_nothing);
  tcase_add_test(tc, test_send_with_invalid_signal_is_einval_and_sends_nothing);
  tcase_add_test(tc, test_daemon_can_signal_and_check_itself);
  tcase_add_test(tc, test_daemon_checking_itself_keeps_its_record_lock);
  tcase_add_test(tc, test_stale_file_naming_another_users_process_is_stale);
  /* root's daemon, nobody's sender */
  DK_TEST_ADD_ROOT(tc, test_send_to_daemon_of_another_user_is_eperm);

  tc = dk_test_tcase(s, "hostile", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_hostile_pid_file_contents_are_refused);
  tcase_add_test(tc, test_one_mebibyte_pid_file_is_refused);
  tcase_add_test(tc, test_symlinked_pid_file_is_refused_even_to_live_daemon);
  tcase_add_test(tc, test_directory_fifo_and_device_are_refused);
  tcase_add_test(tc, test_missing_pid_file_is_enoent);

  tc = dk_test_tcase(s, "stale", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  DK_TEST_ADD_LINUX(tc, test_live_process_that_is_no_daemon_of_ours_is_stale);
  tcase_add_test(tc, test_flocked_file_without_record_lock_is_never_stale);
  tcase_add_test(tc, test_copy_of_live_pid_file_is_stale);
  tcase_add_test(tc, test_stale_pid_file_of_dead_process_is_stale);
  tcase_add_test(tc, test_stale_pid_file_left_by_killed_daemon_is_stale);
  DK_TEST_ADD_LINUX(tc, test_send_works_after_daemon_dropped_its_record_lock);
  DK_TEST_ADD_LINUX(tc, test_pid_file_held_by_child_of_dead_daemon_is_erunning_everywhere);
  tcase_add_test(tc, test_forked_child_of_daemon_does_not_hold_its_pid_file);
  DK_TEST_ADD_LINUX(tc, test_send_refuses_reused_pid);

  tc = dk_test_tcase(s, "tools", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_kill_with_cat_of_pid_file_reaches_daemon);
  tcase_add_test(tc, test_start_stop_daemon_signals_and_stops_daemon);
  tcase_add_test(tc, test_pkill_with_lock_check_reaches_daemon);
  return s;
}

int main(void) {
  return dk_test_run(send_suite());
}
