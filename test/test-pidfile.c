/* Claiming a pid file as hosts leave them: files another party prepared,
 * readers polling while daemons start, a daemon that switched to a user
 * who may not remove its file, and the pid-file-less foreground. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* A daemon that runs until the test closes its end of `release`. */
struct pd {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int release[2];
  int keep[1];
  pid_t pid;
};

static void pd_init(struct pd *p, const char *pid_file) {
  memset(p, 0, sizeof(*p));
  ck_assert_int_eq(dk_daemonizer_init(&p->dz), 1);
  dk_options_init(&p->opts);
  p->opts.pid_file = pid_file;
  p->opts.timeout_ms = 10000;
  p->release[0] = p->release[1] = -1;
}

/* In the daemon: DK_WAIT_READY is answered with whether the daemon sees
 * the pid file path the parent was promised. */
static void pd_daemon_main(struct pd *p, const char *want_path) {
  struct pollfd w;
  if (p->opts.flags & DK_WAIT_READY) {
    const char *got = dk_daemonizer_pid_file(&p->dz);
    dk_ready(&p->dz, got != NULL && strcmp(got, want_path) == 0 ? 0 : UV_EINVAL);
  }
  w.fd = p->release[0];
  w.events = POLLIN;
  while (poll(&w, 1, 30000) < 0 && errno == EINTR)
    ;
  exit(0); /* atexit: the pid file goes */
}

static int pd_start(struct pd *p) {
  int r;
  ck_assert_int_eq(pipe2(p->release, O_CLOEXEC), 0);
  p->keep[0] = p->release[0];
  p->opts.keep_fds = p->keep;
  p->opts.keep_fds_count = 1;
  r = dk_daemonize(&p->dz, &p->opts, NULL, 0);
  if (r == DK_DAEMON)
    pd_daemon_main(p, dk_test_path(3, p->opts.pid_file));
  close(p->release[0]);
  p->pid = dk_daemon_pid(&p->dz);
  if (r == DK_PARENT)
    dk_test_track_pid(p->pid);
  else
    close(p->release[1]);
  return r;
}

/* Lets the daemon exit normally, and waits until it is gone. */
static void pd_stop(struct pd *p) {
  close(p->release[1]);
  ck_assert_msg(dk_test_reap(p->pid, 10000, NULL) >= 0, "daemon %ld did not exit", (long)p->pid);
}

static void assert_file_is(const char *path, const char *text, mode_t mode, uid_t uid) {
  char buf[128];
  struct stat st;
  ck_assert_int_ge(dk_test_read_file(path, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, text);
  ck_assert_int_eq(lstat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, mode);
  ck_assert_int_eq(st.st_uid, uid);
}

START_TEST(test_hard_link_as_pid_file_is_refused_and_untouched) {
  struct pd p;
  /* As root the target is root's own 0600 file: what a link to
   * /etc/shadow would be; as a user, the user's own. */
  ck_assert_int_eq(dk_test_write_file("secret", "password hash\n"), 0);
  ck_assert_int_eq(chmod("secret", 0600), 0);
  ck_assert_int_eq(link("secret", "d.pid"), 0);
  pd_init(&p, "d.pid");
  ck_assert_int_eq(pd_start(&p), UV_EMLINK);
  assert_file_is("secret", "password hash\n", 0600, geteuid());
  assert_file_is("d.pid", "password hash\n", 0600, geteuid());
}
END_TEST

START_TEST(test_pid_file_of_another_user_is_refused_and_untouched) {
  struct passwd *pw = getpwnam("nobody");
  struct pd p;
  ck_assert_ptr_nonnull(pw);
  ck_assert_int_eq(dk_test_write_file("d.pid", "4242\n"), 0);
  ck_assert_int_eq(chown("d.pid", pw->pw_uid, pw->pw_gid), 0);
  ck_assert_int_eq(chmod("d.pid", 0664), 0);
  /* root's daemon: nobody could have made it name any process it liked. */
  pd_init(&p, "d.pid");
  ck_assert_int_eq(pd_start(&p), UV_EPERM);
  assert_file_is("d.pid", "4242\n", 0664, pw->pw_uid);
  /* nobody's own daemon may take its own file over. */
  pd_init(&p, "d.pid");
  p.opts.user = "nobody";
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), p.pid);
  pd_stop(&p);
}
END_TEST

/* The reader: until `stop` closes, reads the file raw and through
 * dk_pid_file_check, and counts what it saw that was neither absent nor
 * one whole pid. Writes {reads, bad raw, bad checks} to `out`. */
static void read_until_stopped(const char *path, int stop, int out) {
  long counts[3] = { 0, 0, 0 };
  struct pollfd w;
  char buf[64];
  w.fd = stop;
  w.events = POLLIN;
  while (poll(&w, 1, 0) == 0) {
    ssize_t n = dk_test_read_file(path, buf, sizeof(buf));
    int err = dk_pid_file_check(path, NULL);
    counts[0]++;
    if (n >= 0 && dk_test_pid_in_file(path) < 0 && (n == 0 || buf[n - 1] != '\n' ||
                                                    strspn(buf, "0123456789") != (size_t)n - 1))
      counts[1]++;
    if (err == DK_EBADPIDFILE)
      counts[2]++;
  }
  _exit(write(out, counts, sizeof(counts)) == (ssize_t)sizeof(counts) ? 0 : 1);
}

START_TEST(test_reader_never_sees_an_empty_or_partial_pid_file) {
  long counts[3] = { 0, 0, 0 };
  int stop[2], out[2], i;
  pid_t reader;
  ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
  reader = fork();
  ck_assert_int_ge(reader, 0);
  if (reader == 0) {
    close(stop[1]);
    read_until_stopped(dk_test_path(0, "d.pid"), stop[0], out[1]);
  }
  close(stop[0]);
  close(out[1]);
  /* Fresh files (a clean stop removes the file) and stale ones (a killed
   * daemon leaves it), taken over. */
  for (i = 0; i < 200; i++) {
    struct pd p;
    pd_init(&p, "d.pid");
    ck_assert_int_eq(pd_start(&p), DK_PARENT);
    if (i % 2 == 0) {
      pd_stop(&p);
    } else {
      kill(p.pid, SIGKILL);
      ck_assert_int_eq(dk_test_reap(p.pid, 10000, NULL), 1);
      close(p.release[1]);
    }
  }
  close(stop[1]);
  ck_assert_int_eq(read(out[0], counts, sizeof(counts)), (ssize_t)sizeof(counts));
  close(out[0]);
  ck_assert_int_eq(dk_test_reap(reader, 10000, NULL), 1);
  ck_assert_msg(counts[1] == 0 && counts[2] == 0,
                "in %ld reads during 200 starts: %ld empty or partial files, %ld checks gave "
                "DK_EBADPIDFILE", counts[0], counts[1], counts[2]);
  ck_assert_int_gt(counts[0], 200); /* the reader read all along */
}
END_TEST

START_TEST(test_daemon_that_may_not_remove_its_pid_file_empties_it) {
  struct stat st;
  uv_pid_t pid = 0;
  struct pd p, again;
  /* Only root may write run/; the daemon runs as nobody. */
  ck_assert_int_eq(chmod(dk_test_dir(), 0755), 0);
  ck_assert_int_eq(mkdir("run", 0755), 0);
  pd_init(&p, "run/d.pid");
  p.opts.user = "nobody";
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  ck_assert_int_eq(dk_pid_file_check("run/d.pid", &pid), 0);
  ck_assert_int_eq(pid, p.pid);
  pd_stop(&p);
  /* It could not unlink it: it emptied it, and empty means no daemon. */
  ck_assert_int_eq(stat("run/d.pid", &st), 0);
  ck_assert_int_eq(st.st_size, 0);
  ck_assert_int_eq(dk_pid_file_check("run/d.pid", &pid), UV_ENOENT);
  ck_assert_int_eq(dk_send("run/d.pid", DK_SIGTERM), UV_ENOENT);
  /* And a new start takes it. */
  pd_init(&again, "run/d.pid");
  ck_assert_int_eq(pd_start(&again), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file("run/d.pid"), again.pid);
  pd_stop(&again);
}
END_TEST

START_TEST(test_pid_file_accessor_names_the_absolute_path) {
  struct pd p;
  pd_init(&p, "d.pid");
  ck_assert_ptr_null(dk_daemonizer_pid_file(&p.dz));
  p.opts.flags = DK_WAIT_READY; /* the daemon answers whether it sees the same */
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  ck_assert_str_eq(dk_daemonizer_pid_file(&p.dz), dk_test_path(0, "d.pid"));
  pd_stop(&p);
  ck_assert_ptr_null(dk_daemonizer_pid_file(NULL));
}
END_TEST

START_TEST(test_foreground_without_pid_file_writes_none) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  unsetenv("NOTIFY_SOCKET");
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.workdir = dk_test_dir();
  /* Detaching still needs one: nothing else would find the daemon. */
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), UV_EINVAL);
  opts.flags = DK_FOREGROUND;
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), DK_DAEMON);
  ck_assert_ptr_null(dk_daemonizer_pid_file(&dz));
  ck_assert_int_eq(system("test -z \"$(ls -A)\""), 0); /* the directory stays empty */
  dk_daemonizer_cleanup(&dz);
}
END_TEST

START_TEST(test_foreground_start_refused_names_the_holder) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  struct pd p;
  unsetenv("NOTIFY_SOCKET");
  pd_init(&p, "d.pid");
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = "d.pid";
  opts.workdir = dk_test_dir();
  opts.flags = DK_FOREGROUND;
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), DK_ERUNNING);
  ck_assert_int_eq(dk_daemon_pid(&dz), p.pid);
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), p.pid);
  pd_stop(&p);
}
END_TEST

static Suite *pidfile_suite(void) {
  Suite *s = suite_create("pidfile");
  TCase *tc = tcase_create("claim");
  tcase_add_checked_fixture(tc, dk_test_daemon_setup, dk_test_daemon_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_hard_link_as_pid_file_is_refused_and_untouched);
  DK_TEST_ADD_ROOT(tc, test_pid_file_of_another_user_is_refused_and_untouched);
  tcase_add_test(tc, test_reader_never_sees_an_empty_or_partial_pid_file);
  DK_TEST_ADD_ROOT(tc, test_daemon_that_may_not_remove_its_pid_file_empties_it);
  tcase_add_test(tc, test_pid_file_accessor_names_the_absolute_path);
  tcase_add_test(tc, test_foreground_without_pid_file_writes_none);
  tcase_add_test(tc, test_foreground_start_refused_names_the_holder);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return dk_test_run(pidfile_suite());
}
