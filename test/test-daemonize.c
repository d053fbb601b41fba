/* SPDX-License-Identifier: MIT */
/* dk_daemonize on POSIX, proven from outside the daemon: through /proc,
 * the files it writes, its pid file and its lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* A daemon under test: it runs `body`, then waits until the test closes
 * its end of the release pipe (or 30 s pass), then exits normally. */
struct td {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int release[2];
  int keep[8];
  pid_t pid;
};

typedef int (*body_fn)(struct td *t);

/* Daemon bodies must not use ck_assert: Check's result file descriptor was
 * closed by the daemonizing, and its number may now be the pid file's. A
 * failed check makes the daemon exit early, which the test sees. */
#define DAEMON_CHECK(cond) \
  do { \
    if (!(cond)) \
      _exit(99); \
  } while (0)

static void wait_for_release(int fd) {
  struct pollfd p;
  p.fd = fd;
  p.events = POLLIN;
  while (poll(&p, 1, 30000) < 0 && errno == EINTR)
    ;
}

static void td_init(struct td *t, const char *pid_file) {
  memset(t, 0, sizeof(*t));
  t->release[0] = t->release[1] = -1;
  ck_assert_int_eq(dk_daemonizer_init(&t->dz), 1);
  dk_options_init(&t->opts);
  t->opts.pid_file = pid_file;
  t->opts.timeout_ms = 10000;
}

/* Daemonizes; returns dk_daemonize's result in the parent only. */
static int td_launch(struct td *t, body_fn body, void *payload, size_t len) {
  size_t i, n = t->opts.keep_fds_count;
  int r;

  ck_assert_int_eq(pipe2(t->release, O_CLOEXEC), 0);
  ck_assert_uint_lt(n, 7);
  for (i = 0; i < n; i++)
    t->keep[i] = t->opts.keep_fds[i];
  t->keep[n] = t->release[0];
  t->opts.keep_fds = t->keep;
  t->opts.keep_fds_count = n + 1;

  r = dk_daemonize(&t->dz, &t->opts, payload, len);
  if (r == DK_DAEMON) {
    int code = body != NULL ? body(t) : 0;
    wait_for_release(t->release[0]);
    exit(code);
  }
  close(t->release[0]);
  t->pid = dk_daemon_pid(&t->dz);
  if (r != DK_PARENT) {
    close(t->release[1]);
    t->release[1] = -1;
  }
  return r;
}

/* Lets the daemon exit normally and waits for it. */
static void td_release(struct td *t) {
  if (t->release[1] >= 0)
    close(t->release[1]);
  t->release[1] = -1;
  ck_assert_msg(dk_test_wait_exit(t->pid, 10000), "daemon %ld did not exit", (long)t->pid);
}

static void assert_gone(pid_t pid) {
  ck_assert_int_gt(pid, 1);
  ck_assert_msg(dk_test_wait_exit(pid, 5000), "process %ld is still running", (long)pid);
}

static ssize_t proc_link(pid_t pid, const char *what, char *buf, size_t size) {
  char path[128];
  ssize_t n;
  snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, what);
  n = readlink(path, buf, size - 1);
  buf[n < 0 ? 0 : n] = '\0';
  return n;
}

/* Tests that need permission to fail run as nobody: root may write
 * anywhere. Check forks each test, so this changes one test only. */
static void become_nobody_if_root(void) {
  struct passwd *pw;
  if (geteuid() != 0)
    return;
  pw = getpwnam("nobody");
  ck_assert_ptr_nonnull(pw);
  ck_assert_int_eq(chmod(dk_test_dir(), 0777), 0);
  ck_assert_int_eq(setgroups(0, NULL), 0);
  ck_assert_int_eq(setgid(pw->pw_gid), 0);
  ck_assert_int_eq(setuid(pw->pw_uid), 0);
}

/* --- what a daemon looks like from outside ------------------------------ */

START_TEST(test_daemon_is_detached_from_caller) {
  struct td t;
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_gt(t.pid, 1);
  /* proc(5): 4 ppid, 5 pgrp, 6 session, 7 tty_nr */
  ck_assert_int_ne(dk_test_stat_field(t.pid, 4), getpid());
  ck_assert_int_ne(dk_test_stat_field(t.pid, 6), t.pid); /* not a session leader */
  ck_assert_int_ne(dk_test_stat_field(t.pid, 6), getsid(0));
  ck_assert_int_eq(dk_test_stat_field(t.pid, 7), 0);     /* no controlling terminal */
  ck_assert_int_ne(dk_test_stat_field(t.pid, 5), getpgrp());
  td_release(&t);
}
END_TEST

START_TEST(test_signal_dispositions_and_mask_are_reset) {
  struct td t;
  sigset_t block;
  signal(SIGUSR1, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, NULL);
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  /* status(5) shows the sets as hex masks: nothing ignored, nothing blocked.
   * Signals 32 and 33 are glibc's own: sigaction refuses them, and a caller
   * started by make has them ignored. */
  ck_assert_int_eq(dk_test_status_field(t.pid, "SigIgn", 16) & ~(3L << 31), 0);
  /* Without MSG_NOSIGNAL (--disable-linux-extras) the daemon blocks SIGPIPE
   * around the send of its report: the parent may look before it is let
   * go again. */
  ck_assert_msg(dk_test_wait_status_field(t.pid, "SigBlk", 16, 0, 5000),
                "the daemon's signal mask is %#lx", dk_test_status_field(t.pid, "SigBlk", 16));
  /* And the caller's own settings are left as they were. */
  ck_assert_int_eq(dk_test_status_field(getpid(), "SigIgn", 16) & ~(3L << 31),
                   (1L << (SIGUSR1 - 1)) | (1L << (SIGHUP - 1)));
  td_release(&t);
}
END_TEST

/* The daemon's sched_getcpu() follows it from CPU to CPU. It reads the
 * CPU from the C library's restartable-sequences area, which the kernel
 * updates only for a process that registered it: a daemon made through a
 * middle that shared the caller's memory must register it again. */
static int body_follows_cpus(struct td *t) {
  char text[64];
  cpu_set_t set;
  int round, cpu, want = -1, got = -1;
  (void)t;
  for (round = 0; round < 3 && want == got; round++)
    for (cpu = 0; cpu < 2 && want == got; cpu++) {
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      DAEMON_CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
      want = cpu;
      got = sched_getcpu();
    }
  if (want == got)
    snprintf(text, sizeof(text), "ok\n");
  else
    snprintf(text, sizeof(text), "pinned to CPU %d, sched_getcpu() says %d\n", want, got);
  DAEMON_CHECK(dk_test_write_file(dk_test_path(0, "cpus.part"), text) == 0);
  DAEMON_CHECK(rename(dk_test_path(0, "cpus.part"), dk_test_path(1, "cpus.txt")) == 0);
  return 0;
}

START_TEST(test_daemon_sched_getcpu_follows_migration) {
  struct td t;
  cpu_set_t set;
  char buf[128];
  ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
  ck_assert_msg(CPU_ISSET(0, &set) && CPU_ISSET(1, &set), "needs CPUs 0 and 1");
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, body_follows_cpus, NULL, 0), DK_PARENT);
  ck_assert(dk_test_wait_path("cpus.txt", 1, 10000));
  ck_assert_int_gt(dk_test_read_file("cpus.txt", buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "ok\n");
  td_release(&t);
}
END_TEST

START_TEST(test_middle_process_is_reaped) {
  struct td t;
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  /* The test process forked nothing else: any child left is a zombie. */
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(errno, ECHILD);
  td_release(&t);
}
END_TEST

START_TEST(test_default_workdir_umask_and_stdio) {
  char link[PATH_MAX];
  struct td t;
  int fd;
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  proc_link(t.pid, "cwd", link, sizeof(link));
  ck_assert_str_eq(link, "/");
  ck_assert_int_eq(dk_test_status_field(t.pid, "Umask", 8), 027);
  for (fd = 0; fd < 3; fd++) {
    char what[16];
    snprintf(what, sizeof(what), "fd/%d", fd);
    proc_link(t.pid, what, link, sizeof(link));
    ck_assert_str_eq(link, "/dev/null");
  }
  td_release(&t);
}
END_TEST

START_TEST(test_workdir_and_umask_as_asked) {
  char link[PATH_MAX];
  struct td t;
  ck_assert_int_eq(mkdir("work", 0755), 0);
  td_init(&t, "d.pid");
  t.opts.workdir = dk_test_path(0, "work");
  t.opts.umask = 077;
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  proc_link(t.pid, "cwd", link, sizeof(link));
  ck_assert_str_eq(link, dk_test_path(0, "work"));
  ck_assert_int_eq(dk_test_status_field(t.pid, "Umask", 8), 077);
  td_release(&t);
}
END_TEST

static int body_writes_stdio(struct td *t) {
  (void)t;
  DAEMON_CHECK(write(1, "to stdout\n", 10) == 10);
  DAEMON_CHECK(write(2, "to stderr\n", 10) == 10);
  return 0;
}

/* t's daemon, launched with body_writes_stdio, appended its stdout to
 * `out` (which held "earlier\n") and its stderr to `err`. */
static void assert_stdio_appended(struct td *t, const char *out, const char *err) {
  char buf[256];
  ck_assert_int_eq(td_launch(t, body_writes_stdio, NULL, 0), DK_PARENT);
  td_release(t);
  ck_assert_int_gt(dk_test_read_file(out, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "earlier\nto stdout\n");
  ck_assert_int_gt(dk_test_read_file(err, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "to stderr\n");
}

START_TEST(test_stdio_lands_in_files_appended) {
  struct td t;
  ck_assert_int_eq(dk_test_write_file("out.log", "earlier\n"), 0);
  td_init(&t, "d.pid");
  t.opts.stdout_path = "out.log"; /* relative to the caller's cwd */
  t.opts.stderr_path = "logs-err.log";
  assert_stdio_appended(&t, "out.log", "logs-err.log");
}
END_TEST

START_TEST(test_stdout_and_stderr_may_share_a_file) {
  char buf[256];
  struct td t;
  td_init(&t, "d.pid");
  t.opts.stdout_path = "both.log";
  t.opts.stderr_path = "both.log";
  ck_assert_int_eq(td_launch(&t, body_writes_stdio, NULL, 0), DK_PARENT);
  td_release(&t);
  ck_assert_int_gt(dk_test_read_file("both.log", buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "to stdout\nto stderr\n");
}
END_TEST

/* --- stdio files another user may have laid as a trap ------------------- */

static struct passwd *test_user(const char *name);
static void assert_failed_cleanly(struct td *t, const char *pid_file);

/* Runs fn(a, b) in a child that is `user`, as another user on the machine
 * would run it, and asserts it returned 0. */
static void as_user(const char *user, int (*fn)(const char *, const char *), const char *a,
                    const char *b) {
  struct passwd *pw = test_user(user);
  int status;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
      _exit(2);
    _exit(fn(a, b) == 0 ? 0 : 1);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "as %s: %s %s failed", user, a,
                b != NULL ? b : "");
}

static int write_as(const char *path, const char *text) {
  return dk_test_write_file(path, text);
}

static int mkdir_as(const char *path, const char *unused) {
  (void)unused;
  return mkdir(path, 0755);
}

/* The test directory opened to other users, with "sticky" in it: a world-
 * writable directory with the sticky bit, as /tmp is, and "secret": a
 * root file no one else may read or write, what a trap would aim at. */
static void lay_out_shared_dir(struct stat *secret) {
  ck_assert_int_eq(chmod(dk_test_dir(), 0755), 0);
  ck_assert_int_eq(mkdir("sticky", 0755), 0);
  ck_assert_int_eq(chmod("sticky", 01777), 0);
  ck_assert_int_eq(dk_test_write_file("secret", "root's secret\n"), 0);
  ck_assert_int_eq(chmod("secret", 0600), 0);
  ck_assert_int_eq(stat("secret", secret), 0);
}

static void assert_untouched(const char *path, const struct stat *before, const char *text) {
  char buf[256];
  struct stat now;
  ck_assert_int_eq(stat(path, &now), 0);
  ck_assert_int_eq(now.st_size, before->st_size);
  ck_assert_uint_eq(now.st_mode, before->st_mode);
  ck_assert_uint_eq(now.st_uid, before->st_uid);
  ck_assert_int_eq(now.st_mtim.tv_sec, before->st_mtim.tv_sec);
  ck_assert_int_eq(now.st_mtim.tv_nsec, before->st_mtim.tv_nsec);
  ck_assert_int_ge(dk_test_read_file(path, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, text);
}

/* Starts a daemon that writes to its stdout and stderr; asserts it was
 * refused with UV_EPERM and left nothing behind. */
static void assert_stdio_refused(struct td *t) {
  ck_assert_int_eq(td_launch(t, body_writes_stdio, NULL, 0), UV_EPERM);
  assert_failed_cleanly(t, "d.pid");
}

/* The same, and no file at `path` (where a link led) was made. */
static void assert_stdio_refused_making_nothing(struct td *t, const char *path) {
  struct stat st;
  assert_stdio_refused(t);
  ck_assert_int_eq(lstat(path, &st), -1);
  ck_assert_int_eq(errno, ENOENT);
}

/* The shared directory laid out (its secret's stat in *secret), `who`'s
 * symlink at `link` to `target` in the test's directory, and t made. */
static void lay_symlink_trap(struct td *t, struct stat *secret, const char *who,
                             const char *target, const char *link) {
  lay_out_shared_dir(secret);
  as_user(who, symlink, dk_test_path(1, target), link);
  td_init(t, "d.pid");
}

/* _i: which stream, 0 stdin, 1 stdout, 2 stderr. */
START_TEST(test_stdio_through_another_users_symlink_is_refused) {
  struct stat secret;
  struct td t;
  const char **streams[3];
  /* registered with DK_TEST_ADD_ROOT_USERS: dk-test lays the trap */
  lay_symlink_trap(&t, &secret, "dk-test", "secret", "sticky/app.log");
  streams[0] = &t.opts.stdin_path;
  streams[1] = &t.opts.stdout_path;
  streams[2] = &t.opts.stderr_path;
  *streams[_i] = "sticky/app.log";
  assert_stdio_refused(&t);
  assert_untouched("secret", &secret, "root's secret\n");
}
END_TEST

START_TEST(test_another_users_dangling_symlink_creates_nothing) {
  struct stat secret;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS; _i: 0 as root, 1 as --user
   * dk-test, whose stdio root opens all the same */
  lay_symlink_trap(&t, &secret, "dk-other", "made-by-root", "sticky/app.log");
  if (_i == 1)
    t.opts.user = "dk-test";
  t.opts.stderr_path = "sticky/app.log";
  assert_stdio_refused_making_nothing(&t, "made-by-root");
}
END_TEST

START_TEST(test_stdout_file_of_another_user_is_refused) {
  struct stat secret, theirs;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS */
  lay_out_shared_dir(&secret);
  as_user("dk-test", write_as, "sticky/app.log", "theirs\n");
  ck_assert_int_eq(stat("sticky/app.log", &theirs), 0);
  td_init(&t, "d.pid");
  t.opts.stdout_path = "sticky/app.log";
  assert_stdio_refused(&t);
  assert_untouched("sticky/app.log", &theirs, "theirs\n");
}
END_TEST

/* With fs.protected_hardlinks=0 any user may link another's file into a
 * directory of theirs; this machine forbids that, so root makes the links,
 * of a file and of a symlink. */
START_TEST(test_stdout_file_or_symlink_with_a_second_link_is_refused) {
  struct stat secret;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS */
  lay_out_shared_dir(&secret);
  ck_assert_int_eq(link("secret", "sticky/app.log"), 0);
  td_init(&t, "d.pid");
  t.opts.stdout_path = "sticky/app.log";
  assert_stdio_refused(&t);
  ck_assert_int_eq(stat("secret", &secret), 0); /* its link count changed */
  assert_untouched("secret", &secret, "root's secret\n");

  ck_assert_int_eq(symlink(dk_test_path(1, "secret"), "to-secret"), 0);
  ck_assert_int_eq(linkat(AT_FDCWD, "to-secret", AT_FDCWD, "sticky/err.log", 0), 0);
  td_init(&t, "d.pid");
  t.opts.stderr_path = "sticky/err.log";
  assert_stdio_refused(&t);
  assert_untouched("secret", &secret, "root's secret\n");
}
END_TEST

START_TEST(test_symlink_chain_through_another_users_link_is_refused) {
  struct stat secret;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS: root's link is sound, the
   * next one on the way is not */
  lay_out_shared_dir(&secret);
  ck_assert_int_eq(symlink("sticky/next", "app.log"), 0);
  as_user("dk-test", symlink, dk_test_path(1, "secret"), "sticky/next");
  td_init(&t, "d.pid");
  t.opts.stdout_path = "app.log";
  assert_stdio_refused(&t);
  assert_untouched("secret", &secret, "root's secret\n");
}
END_TEST

START_TEST(test_directory_symlink_of_another_user_is_refused) {
  struct stat secret;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS */
  lay_out_shared_dir(&secret);
  ck_assert_int_eq(mkdir("private", 0700), 0);
  as_user("dk-test", symlink, dk_test_path(1, "private"), "sticky/logs");
  td_init(&t, "d.pid");
  t.opts.stdout_path = "sticky/logs/app.log";
  assert_stdio_refused_making_nothing(&t, "private/app.log");
}
END_TEST

/* Root opens the stdio of a daemon that runs as another user: what that
 * user's links lead to must be what the user could have opened itself. */
START_TEST(test_daemon_users_symlink_reaches_only_what_that_user_owns) {
  struct stat secret;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS */
  lay_symlink_trap(&t, &secret, "dk-test", "secret", "sticky/app.log");
  t.opts.user = "dk-test";
  t.opts.stdout_path = "sticky/app.log";
  assert_stdio_refused(&t);
  assert_untouched("secret", &secret, "root's secret\n");

  as_user("dk-test", symlink, dk_test_path(1, "made-by-root"), "sticky/err.log");
  td_init(&t, "d.pid");
  t.opts.user = "dk-test";
  t.opts.stderr_path = "sticky/err.log";
  assert_stdio_refused_making_nothing(&t, "made-by-root");
}
END_TEST

START_TEST(test_daemon_users_own_files_and_symlinks_are_used) {
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS: --user dk-test, started by root */
  ck_assert_int_eq(chmod(dk_test_dir(), 0777), 0);
  as_user("dk-test", write_as, "app.log", "earlier\n");
  as_user("dk-test", mkdir_as, "logs", NULL);
  as_user("dk-test", symlink, "logs/err.log", "err.log");
  td_init(&t, "d.pid");
  t.opts.user = "dk-test";
  t.opts.stdout_path = "app.log";
  t.opts.stderr_path = "err.log"; /* dangling: made in the user's directory */
  assert_stdio_appended(&t, "app.log", "logs/err.log");
}
END_TEST

/* Root's own links as root, the user's own as the user leg's user: a log
 * path that is a link (/var/log/app.log -> /data/logs/app.log), through a
 * linked directory, to a file there or one the daemon creates. */
START_TEST(test_stdio_through_own_symlinks_lands_in_targets) {
  struct td t;
  ck_assert_int_eq(mkdir("data", 0755), 0);
  ck_assert_int_eq(dk_test_write_file("data/app.log", "earlier\n"), 0);
  ck_assert_int_eq(symlink(dk_test_path(1, "data/app.log"), "app.log"), 0);
  ck_assert_int_eq(symlink("data", "logs"), 0);
  ck_assert_int_eq(symlink("../data/err.log", "data/err-link"), 0);
  td_init(&t, "d.pid");
  t.opts.stdout_path = "app.log";
  t.opts.stderr_path = "logs/err-link"; /* dangling: the daemon creates data/err.log */
  assert_stdio_appended(&t, "data/app.log", "data/err.log");
}
END_TEST

/* /dev/fd/N is a link to /proc/self/fd/N, which names an open file, not a
 * path: the daemon's stdout may be a descriptor it keeps, a pipe here. */
START_TEST(test_stdout_through_dev_fd_lands_in_kept_pipe) {
  char path[64], buf[64];
  struct pollfd p;
  struct td t;
  int pfd[2];
  ssize_t n;
  ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
  snprintf(path, sizeof(path), "/dev/fd/%d", pfd[1]);
  td_init(&t, "d.pid");
  t.opts.keep_fds = &pfd[1];
  t.opts.keep_fds_count = 1;
  t.opts.stdout_path = path;
  ck_assert_int_eq(td_launch(&t, body_writes_stdio, NULL, 0), DK_PARENT);
  close(pfd[1]);
  p.fd = pfd[0];
  p.events = POLLIN;
  ck_assert_int_eq(poll(&p, 1, 10000), 1);
  n = read(pfd[0], buf, sizeof(buf) - 1);
  ck_assert_int_eq(n, 10);
  buf[n] = '\0';
  ck_assert_str_eq(buf, "to stdout\n");
  td_release(&t);
  close(pfd[0]);
}
END_TEST

START_TEST(test_kept_fd_stays_open_others_are_closed) {
  char link[PATH_MAX], what[32];
  int kept = open("kept.txt", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  int dropped = open("dropped.txt", O_RDWR | O_CREAT, 0644); /* no O_CLOEXEC: must still go */
  struct td t;
  ck_assert_int_ge(kept, 3);
  ck_assert_int_ge(dropped, 3);
  td_init(&t, "d.pid");
  t.opts.keep_fds = &kept;
  t.opts.keep_fds_count = 1;
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  snprintf(what, sizeof(what), "fd/%d", kept);
  ck_assert_int_gt(proc_link(t.pid, what, link, sizeof(link)), 0);
  ck_assert_str_eq(link, dk_test_path(0, "kept.txt"));
  snprintf(what, sizeof(what), "fd/%d", dropped);
  ck_assert_msg(proc_link(t.pid, what, link, sizeof(link)) < 0 ||
                    strcmp(link, dk_test_path(0, "dropped.txt")) != 0,
                "%s of the daemon is still %s", what, link);
  td_release(&t);
}
END_TEST

static unsigned char payload[300];

static int body_writes_payload(struct td *t) {
  int fd = open(dk_test_path(1, "payload.out"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  DAEMON_CHECK(write(fd, payload, sizeof(payload)) == (ssize_t)sizeof(payload));
  close(fd);
  return dk_ready(&t->dz, 0) == 0 ? 0 : 1;
}

START_TEST(test_payload_arrives_byte_exact) {
  unsigned char got[sizeof(payload) + 1];
  struct td t;
  ssize_t n;
  int i, fd;
  for (i = 0; i < (int)sizeof(payload); i++)
    payload[i] = (unsigned char)(i * 7); /* zeros and high bytes included */
  td_init(&t, "d.pid");
  t.opts.flags = DK_WAIT_READY;
  ck_assert_int_eq(td_launch(&t, body_writes_payload, payload, sizeof(payload)), DK_PARENT);
  td_release(&t);
  fd = open("payload.out", O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  n = read(fd, got, sizeof(got));
  close(fd);
  ck_assert_int_eq(n, (ssize_t)sizeof(payload));
  ck_assert_mem_eq(got, payload, sizeof(payload));
}
END_TEST

START_TEST(test_pid_file_holds_daemon_pid_locked_then_gone) {
  char cmd[PATH_MAX + 64];
  struct td t;
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), t.pid);
  ck_assert(dk_test_is_flocked("d.pid"));
  /* procps reads the lock the same way: -L fails on an unlocked file. */
  snprintf(cmd, sizeof(cmd), "pgrep -F '%s' -L >/dev/null", dk_test_path(0, "d.pid"));
  ck_assert_int_eq(system(cmd), 0);
  td_release(&t);
  ck_assert_int_eq(access("d.pid", F_OK), -1);
}
END_TEST

static int body_opens_and_closes_own_pid_file(struct td *t) {
  int fd = open(dk_daemonizer_pid_file(&t->dz), O_RDONLY | O_CLOEXEC);
  DAEMON_CHECK(fd >= 0);
  close(fd); /* drops a POSIX record lock, but not the flock */
  return dk_ready(&t->dz, 0) == 0 ? 0 : 1;
}

START_TEST(test_lock_survives_daemon_closing_its_pid_file) {
  struct td t;
  uv_pid_t pid = 0;
  td_init(&t, "d.pid");
  t.opts.flags = DK_WAIT_READY;
  ck_assert_int_eq(td_launch(&t, body_opens_and_closes_own_pid_file, NULL, 0), DK_PARENT);
  ck_assert(dk_test_is_flocked("d.pid"));
  ck_assert_int_eq(dk_pid_file_check("d.pid", &pid), 0);
  ck_assert_int_eq(pid, t.pid);
  td_release(&t);
}
END_TEST

START_TEST(test_relative_pid_file_made_absolute_before_chdir) {
  struct td t;
  ck_assert_int_eq(mkdir("run", 0755), 0);
  td_init(&t, "run/d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file(dk_test_path(0, "run/d.pid")), t.pid);
  ck_assert_str_eq(dk_daemonizer_pid_file(&t.dz), dk_test_path(0, "run/d.pid"));
  td_release(&t);
}
END_TEST

static int body_marks_then_ready(struct td *t) {
  DAEMON_CHECK(dk_test_write_file(dk_test_path(1, "marker"), "x") == 0);
  return dk_ready(&t->dz, 0) == 0 ? 0 : 1;
}

START_TEST(test_wait_ready_returns_after_dk_ready) {
  struct td t;
  td_init(&t, "d.pid");
  t.opts.flags = DK_WAIT_READY;
  ck_assert_int_eq(td_launch(&t, body_marks_then_ready, NULL, 0), DK_PARENT);
  /* Written by the daemon just before dk_ready: no waiting needed. */
  ck_assert_int_eq(access("marker", F_OK), 0);
  td_release(&t);
}
END_TEST

START_TEST(test_no_descriptor_leaks_in_parent) {
  struct td t;
  int before = dk_test_count_fds();
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_test_count_fds(), before + 1); /* the release pipe's end */
  td_release(&t);
  td_init(&t, "d.pid");
  t.opts.workdir = "/nonexistent-dir";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_ENOENT);
  ck_assert_int_eq(dk_test_count_fds(), before);
}
END_TEST

/* --- stdio closed when dk_daemonize is called ---------------------------- */

/* What the caller of dk_daemonize tells the test from its own process. */
struct closed_report {
  int result;
  long pid; /* the daemon's */
};

static int write_report(int fd, int result, long pid) {
  struct closed_report rep;
  memset(&rep, 0, sizeof(rep));
  rep.result = result;
  rep.pid = pid;
  return write(fd, &rep, sizeof(rep)) == (ssize_t)sizeof(rep) ? 0 : -1;
}

/* Forks a caller of dk_daemonize whose descriptors in `closed` (bit N: fd
 * N) are really closed. It reports over a pipe whose end is at 3 or above
 * (the test's stdio is open), then leaves; a daemon calls dk_ready when
 * asked and exits once the test closes `release`. In DK_FOREGROUND the
 * caller is the daemon and reports as it returns. */
static pid_t start_with_closed_stdio(int closed, unsigned flags, const char *stdout_path,
                                     int release[2], struct closed_report *rep) {
  int result[2], fd, got;
  struct pollfd p;
  pid_t pid;

  ck_assert_int_eq(pipe2(release, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
  ck_assert_int_ge(result[1], 3);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dk_daemonizer_t dz;
    dk_options_t opts;
    int r;
    close(release[1]);
    close(result[0]);
    dk_daemonizer_init(&dz);
    dk_options_init(&opts);
    opts.pid_file = "d.pid";
    opts.timeout_ms = 10000;
    opts.flags = flags;
    opts.stdout_path = stdout_path;
    opts.keep_fds = &release[0];
    opts.keep_fds_count = 1;
    unsetenv("NOTIFY_SOCKET");
    for (fd = 0; fd < 3; fd++)
      if (closed & (1 << fd))
        close(fd);
    r = dk_daemonize(&dz, &opts, NULL, 0);
    if (r == DK_DAEMON) {
      if ((flags & DK_WAIT_READY) && dk_ready(&dz, 0) != 0)
        _exit(11);
      if ((flags & DK_FOREGROUND) && write_report(result[1], r, (long)getpid()) < 0)
        _exit(12);
      if (stdout_path != NULL && write(1, "to stdout\n", 10) != 10)
        _exit(13);
      wait_for_release(release[0]);
      dk_daemonizer_cleanup(&dz);
      exit(0);
    }
    _exit(write_report(result[1], r, (long)dk_daemon_pid(&dz)) < 0 ? 14 : 0);
  }
  close(release[0]);
  close(result[1]);
  p.fd = result[0];
  p.events = POLLIN;
  do
    got = poll(&p, 1, 20000);
  while (got < 0 && errno == EINTR);
  ck_assert_msg(got == 1, "no report from the caller with fds 0x%x closed", (unsigned)closed);
  ck_assert_int_eq(read(result[0], rep, sizeof(*rep)), (ssize_t)sizeof(*rep));
  close(result[0]);
  return pid;
}

/* Bit N set: /proc/PID/fd/N points at `want`; clear: fd N is closed. */
static void assert_stdio(pid_t pid, int open_mask, const char *want[3]) {
  char link[PATH_MAX], what[16];
  int fd;
  for (fd = 0; fd < 3; fd++) {
    snprintf(what, sizeof(what), "fd/%d", fd);
    if (open_mask & (1 << fd)) {
      ck_assert_msg(proc_link(pid, what, link, sizeof(link)) > 0, "fd %d of %ld is closed", fd,
                    (long)pid);
      ck_assert_str_eq(link, want[fd]);
    } else {
      ck_assert_msg(proc_link(pid, what, link, sizeof(link)) < 0,
                    "fd %d of %ld was closed and now is %s", fd, (long)pid, link);
    }
  }
}

static void check_daemon_with_closed_stdio(int closed, unsigned flags) {
  static const char *null3[3] = { "/dev/null", "/dev/null", "/dev/null" };
  struct closed_report rep;
  int release[2], status;
  pid_t caller = start_with_closed_stdio(closed, flags, NULL, release, &rep);

  ck_assert_msg(rep.result == DK_PARENT, "fds 0x%x closed, flags 0x%x: dk_daemonize gave %d (%s)",
                (unsigned)closed, flags, rep.result, dk_strerror(rep.result));
  ck_assert_int_eq(waitpid(caller, &status, 0), caller);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_gt(rep.pid, 1);
  ck_assert(dk_test_alive((pid_t)rep.pid));
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), rep.pid);
  ck_assert(dk_test_is_flocked("d.pid"));
  assert_stdio((pid_t)rep.pid, 7, null3);
  close(release[1]);
  ck_assert_msg(dk_test_wait_exit((pid_t)rep.pid, 10000), "daemon %ld did not exit", rep.pid);
  /* Removed by the daemon's own exit: it ran to its end. */
  ck_assert_int_eq(access("d.pid", F_OK), -1);
}

/* _i (1..7) is the set of closed descriptors. */
START_TEST(test_daemonizes_with_stdio_closed_at_entry) {
  check_daemon_with_closed_stdio(_i, 0);
}
END_TEST

START_TEST(test_daemonizes_with_stdio_closed_at_entry_waiting_ready) {
  check_daemon_with_closed_stdio(_i, DK_WAIT_READY);
}
END_TEST

START_TEST(test_stdout_path_used_with_all_stdio_closed_at_entry) {
  static const char *want[3] = { "/dev/null", NULL, "/dev/null" };
  struct closed_report rep;
  char buf[64];
  int release[2], status;
  pid_t caller = start_with_closed_stdio(7, 0, "out.log", release, &rep);

  ck_assert_msg(rep.result == DK_PARENT, "dk_daemonize gave %d (%s)", rep.result,
                dk_strerror(rep.result));
  ck_assert_int_eq(waitpid(caller, &status, 0), caller);
  want[1] = dk_test_path(0, "out.log");
  assert_stdio((pid_t)rep.pid, 7, want);
  close(release[1]);
  ck_assert(dk_test_wait_exit((pid_t)rep.pid, 10000));
  ck_assert_int_gt(dk_test_read_file("out.log", buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "to stdout\n");
  ck_assert_int_eq(access("d.pid", F_OK), -1);
}
END_TEST

/* In the foreground stdio is the caller's and left as it is: what was
 * closed stays closed, so the pid file's descriptor must not take its
 * place (a printf would write into the pid file). */
START_TEST(test_foreground_with_stdio_closed_leaves_it_closed) {
  char own[3][PATH_MAX], what[16];
  const char *want[3];
  struct closed_report rep;
  int release[2], status, fd;
  pid_t caller = start_with_closed_stdio(_i, DK_FOREGROUND, NULL, release, &rep);

  for (fd = 0; fd < 3; fd++) {
    snprintf(what, sizeof(what), "fd/%d", fd);
    ck_assert_int_gt(proc_link(getpid(), what, own[fd], sizeof(own[fd])), 0);
    want[fd] = own[fd];
  }

  ck_assert_msg(rep.result == DK_DAEMON, "fds 0x%x closed: dk_daemonize gave %d (%s)",
                (unsigned)_i, rep.result, dk_strerror(rep.result));
  ck_assert_int_eq(rep.pid, caller);
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), caller);
  ck_assert(dk_test_is_flocked("d.pid"));
  assert_stdio(caller, 7 & ~_i, want);
  close(release[1]);
  ck_assert_int_eq(waitpid(caller, &status, 0), caller);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_eq(access("d.pid", F_OK), -1);
}
END_TEST

START_TEST(test_foreground_stdout_path_with_stdio_closed_leaves_the_others_closed) {
  const char *want[3] = { NULL, NULL, NULL };
  struct closed_report rep;
  char buf[64];
  int release[2], status;
  pid_t caller = start_with_closed_stdio(7, DK_FOREGROUND, "out.log", release, &rep);

  ck_assert_msg(rep.result == DK_DAEMON, "dk_daemonize gave %d (%s)", rep.result,
                dk_strerror(rep.result));
  want[1] = dk_test_path(0, "out.log");
  assert_stdio(caller, 2, want);
  close(release[1]);
  ck_assert_int_eq(waitpid(caller, &status, 0), caller);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_gt(dk_test_read_file("out.log", buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "to stdout\n");
  ck_assert_int_eq(access("d.pid", F_OK), -1);
}
END_TEST

/* --- errors: the parent is told, nothing is left behind ------------------ */

static void assert_failed_cleanly(struct td *t, const char *pid_file) {
  assert_gone(t->pid);
  ck_assert_int_eq(access(pid_file, F_OK), -1);
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}

START_TEST(test_unwritable_pid_file_dir) {
  struct td t;
  ck_assert_int_eq(mkdir("ro", 0555), 0);
  become_nobody_if_root();
  td_init(&t, "ro/d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_EACCES);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_PID_FILE);
  assert_failed_cleanly(&t, "ro/d.pid");
}
END_TEST

START_TEST(test_missing_pid_file_dir) {
  struct td t;
  td_init(&t, "no/such/dir/d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_ENOENT);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_PID_FILE);
  assert_gone(t.pid);
}
END_TEST

START_TEST(test_unwritable_stdout_path) {
  struct td t;
  ck_assert_int_eq(mkdir("ro", 0555), 0);
  become_nobody_if_root();
  td_init(&t, "d.pid");
  t.opts.stdout_path = "ro/out.log";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_EACCES);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_STDOUT);
  assert_failed_cleanly(&t, "d.pid");
}
END_TEST

START_TEST(test_nonexistent_workdir) {
  struct td t;
  td_init(&t, "d.pid");
  t.opts.workdir = dk_test_path(0, "missing");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_ENOENT);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_WORKDIR);
  assert_failed_cleanly(&t, "d.pid");
}
END_TEST

/* The daemon's own failure, after its setup. It exits at once: the parent
 * returns only once it is gone. */
static int body_fails_ready(struct td *t) {
  dk_ready(&t->dz, UV_EIO);
  _exit(0);
}

/* Each failed step is told apart from the others, and from success. */
START_TEST(test_failed_step_names_stdin_stderr_and_ready) {
  struct td t;
  td_init(&t, "d.pid");
  t.opts.stdin_path = "no/such/input";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_ENOENT);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_STDIN);
  assert_failed_cleanly(&t, "d.pid");

  td_init(&t, "d.pid");
  t.opts.stdout_path = "out.log";
  t.opts.stderr_path = "no/such/err.log";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_ENOENT);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_STDERR);
  assert_failed_cleanly(&t, "d.pid");

  td_init(&t, "d.pid");
  t.opts.flags = DK_WAIT_READY;
  ck_assert_int_eq(td_launch(&t, body_fails_ready, NULL, 0), UV_EIO);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_READY);
  assert_failed_cleanly(&t, "d.pid");

  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_NONE);
  td_release(&t);
}
END_TEST

START_TEST(test_unknown_user_and_group) {
  struct td t;
  td_init(&t, "d.pid");
  t.opts.user = "no-such-user-dk";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_ENOUSER);
  ck_assert_int_eq(dk_daemonizer_failed_step(&t.dz), DK_STEP_NONE); /* the parent's lookup */
  ck_assert_int_eq(t.pid, 0); /* refused before any fork */
  ck_assert_int_eq(access("d.pid", F_OK), -1);
  td_init(&t, "d.pid");
  t.opts.group = "no-such-group-dk";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_ENOUSER);
  ck_assert_int_eq(t.pid, 0);
}
END_TEST

START_TEST(test_user_and_group_are_switched) {
  struct passwd *pw;
  struct group *gr;
  struct td t;
  const char *user = "nobody", *group = "nogroup";
  if (geteuid() != 0) { /* only root may switch; a user may "switch" to itself */
    user = getpwuid(geteuid())->pw_name;
    group = getgrgid(getegid())->gr_name;
  }
  pw = getpwnam(user);
  ck_assert_ptr_nonnull(pw);
  gr = getgrnam(group);
  ck_assert_ptr_nonnull(gr);
  td_init(&t, "d.pid");
  t.opts.user = user;
  t.opts.group = group;
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_test_status_field(t.pid, "Uid", 10), pw->pw_uid);
  ck_assert_int_eq(dk_test_status_field(t.pid, "Gid", 10), gr->gr_gid);
  /* Written before the switch, still the daemon's. */
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), t.pid);
  td_release(&t);
}
END_TEST

/* --- users and groups: any number, any size, names or numbers ------------ */

/* The daemon's supplementary groups, from the Groups line of
 * /proc/PID/status, sorted. Returns how many, or -1. */
static int proc_groups(pid_t pid, gid_t *out, int max) {
  static char text[65536];
  char path[64], *line, *p;
  int n = 0;
  snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
  if (dk_test_read_file(path, text, sizeof(text)) <= 0)
    return -1;
  line = strstr(text, "\nGroups:");
  if (line == NULL)
    return -1;
  p = line + strlen("\nGroups:");
  while (*p != '\n' && *p != '\0') {
    char *end;
    unsigned long g = strtoul(p, &end, 10);
    if (end == p) {
      p++;
      continue;
    }
    if (n == max)
      return -1;
    out[n++] = (gid_t)g;
    p = end;
  }
  return n;
}

static int gid_cmp(const void *a, const void *b) {
  gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
  return x < y ? -1 : x > y;
}

/* Asserts the daemon's supplementary groups are exactly `want`. */
static void assert_groups(pid_t pid, gid_t *want, int nwant) {
  static gid_t got[4096];
  int i, n = proc_groups(pid, got, (int)N_ELEMS(got));
  ck_assert_int_ge(n, 0);
  qsort(got, (size_t)n, sizeof(got[0]), gid_cmp);
  qsort(want, (size_t)nwant, sizeof(want[0]), gid_cmp);
  ck_assert_int_eq(n, nwant);
  for (i = 0; i < n; i++)
    ck_assert_uint_eq(got[i], want[i]);
}

static struct passwd *test_user(const char *name) {
  struct passwd *pw = getpwnam(name);
  ck_assert_msg(pw != NULL, "no user %s: .ci/test-users creates it", name);
  return pw;
}

static void assert_ids(pid_t pid, uid_t uid, gid_t gid) {
  ck_assert_int_eq(dk_test_status_field(pid, "Uid", 10), uid);
  ck_assert_int_eq(dk_test_status_field(pid, "Gid", 10), gid);
}

/* t's daemon, launched, runs as uid:gid with gid its only group. */
static void assert_runs_as_only(struct td *t, uid_t uid, gid_t gid) {
  gid_t want[1];
  ck_assert_int_eq(td_launch(t, NULL, NULL, 0), DK_PARENT);
  assert_ids(t->pid, uid, gid);
  want[0] = gid;
  assert_groups(t->pid, want, 1);
}

START_TEST(test_user_in_more_than_64_groups_gets_them_all) {
  static gid_t want[4096];
  struct passwd *pw;
  int nwant = (int)N_ELEMS(want);
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS: it switches users */
  pw = test_user("dk-many");
  ck_assert_int_ge(getgrouplist("dk-many", pw->pw_gid, want, &nwant), 0);
  ck_assert_int_ge(nwant, 72); /* dk-g01..dk-g70, dk-big and its own */
  td_init(&t, "d.pid");
  t.opts.user = "dk-many";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  assert_ids(t.pid, pw->pw_uid, pw->pw_gid);
  assert_groups(t.pid, want, nwant);
  td_release(&t);
}
END_TEST

START_TEST(test_group_with_a_16k_line_is_found) {
  struct passwd *pw;
  struct group *gr;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS: it switches users */
  pw = test_user("dk-test");
  gr = getgrnam("dk-big");
  ck_assert_msg(gr != NULL, "no group dk-big: .ci/test-users creates it");
  {
    size_t len = strlen(gr->gr_name) + strlen(gr->gr_passwd) + 16, i;
    for (i = 0; gr->gr_mem[i] != NULL; i++)
      len += strlen(gr->gr_mem[i]) + 1;
    ck_assert_uint_gt(len, 16384);
  }
  td_init(&t, "d.pid");
  t.opts.user = "dk-test";
  t.opts.group = "dk-big";
  /* dk-test is a member of no group: only the one it runs as. */
  assert_runs_as_only(&t, pw->pw_uid, gr->gr_gid);
  td_release(&t);
}
END_TEST

START_TEST(test_numeric_user_with_passwd_entry_takes_its_gid_and_groups) {
  char uid_text[32];
  struct passwd *pw;
  uid_t uid;
  gid_t gid;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS: it switches users */
  pw = test_user("dk-other");
  uid = pw->pw_uid; /* getpwnam's entry is static */
  gid = pw->pw_gid;
  snprintf(uid_text, sizeof(uid_text), "%lu", (unsigned long)uid);
  ck_assert_ptr_null(getpwnam(uid_text)); /* a number, not a name */
  td_init(&t, "d.pid");
  t.opts.user = uid_text;
  assert_runs_as_only(&t, uid, gid);
  td_release(&t);
}
END_TEST

START_TEST(test_numeric_group_with_entry_is_used) {
  char gid_text[32];
  uid_t uid;
  gid_t gid;
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS: it switches users */
  uid = test_user("dk-test")->pw_uid; /* getpwnam's entry is static */
  gid = test_user("dk-other")->pw_gid;
  ck_assert_uint_ne(test_user("dk-test")->pw_gid, gid);
  snprintf(gid_text, sizeof(gid_text), "%lu", (unsigned long)gid);
  ck_assert_ptr_null(getgrnam(gid_text));
  td_init(&t, "d.pid");
  t.opts.user = "dk-test";
  t.opts.group = gid_text;
  assert_runs_as_only(&t, uid, gid);
  td_release(&t);
}
END_TEST

/* An id nobody has: no entry by that number, nor a name that is it. */
static void assert_unused_id(const char *text, unsigned id) {
  ck_assert_ptr_null(getpwuid((uid_t)id));
  ck_assert_ptr_null(getgrgid((gid_t)id));
  ck_assert_ptr_null(getpwnam(text));
  ck_assert_ptr_null(getgrnam(text));
}

START_TEST(test_numeric_ids_without_entries_are_used_as_given) {
  gid_t none[1];
  struct td t;
  /* registered with DK_TEST_ADD_ROOT_USERS: it switches users */
  assert_unused_id("4242", 4242);
  /* So that the daemon, no longer root, can remove its pid file. */
  ck_assert_int_eq(chmod(dk_test_dir(), 0777), 0);
  td_init(&t, "d.pid");
  t.opts.user = "4242";
  t.opts.group = "4242";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  assert_ids(t.pid, 4242, 4242);
  assert_groups(t.pid, none, 0); /* there is no entry to list them */
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), t.pid);
  td_release(&t);
  ck_assert_int_eq(access("d.pid", F_OK), -1);
}
END_TEST

/* As systemd's User= and start-stop-daemon's --chuid: a uid without an
 * entry has no gid to go with it, and none is made up. */
START_TEST(test_numeric_user_without_entry_or_group_is_refused) {
  struct td t;
  assert_unused_id("4242", 4242);
  td_init(&t, "d.pid");
  t.opts.user = "4242";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_ENOUSER);
  ck_assert_int_eq(t.pid, 0); /* refused before any fork */
  td_init(&t, "d.pid");
  t.opts.user = "42x";
  t.opts.group = "4242";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_ENOUSER);
  td_init(&t, "d.pid");
  t.opts.user = "4294967295"; /* (uid_t)-1: "no change" to setuid */
  t.opts.group = "4242";
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_ENOUSER);
}
END_TEST

START_TEST(test_live_daemon_gives_erunning_and_is_untouched) {
  char before[64], after[64];
  struct td first, second;
  td_init(&first, "d.pid");
  ck_assert_int_eq(td_launch(&first, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_gt(dk_test_read_file("d.pid", before, sizeof(before)), 0);

  td_init(&second, "d.pid");
  ck_assert_int_eq(td_launch(&second, NULL, NULL, 0), DK_ERUNNING);
  /* The refusal names the holder. */
  ck_assert_int_eq(dk_daemon_pid(&second.dz), first.pid);
  ck_assert(dk_test_alive(first.pid));
  ck_assert_int_gt(dk_test_read_file("d.pid", after, sizeof(after)), 0);
  ck_assert_str_eq(after, before);
  ck_assert(dk_test_is_flocked("d.pid"));
  td_release(&first);
}
END_TEST

START_TEST(test_stale_pid_file_is_taken_over) {
  char text[32];
  struct td t;
  pid_t dead = fork();
  ck_assert_int_ge(dead, 0);
  if (dead == 0)
    _exit(0);
  ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
  snprintf(text, sizeof(text), "%ld\n", (long)dead);
  ck_assert_int_eq(dk_test_write_file("d.pid", text), 0);
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), t.pid);
  td_release(&t);
}
END_TEST

START_TEST(test_empty_pid_file_from_a_crash_is_taken_over) {
  struct td t;
  ck_assert_int_eq(dk_test_write_file("d.pid", ""), 0);
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), t.pid);
  td_release(&t);
}
END_TEST

START_TEST(test_symlinked_pid_file_is_refused) {
  struct td t;
  ck_assert_int_eq(dk_test_write_file("target", "keep me\n"), 0);
  ck_assert_int_eq(symlink("target", "d.pid"), 0);
  td_init(&t, "d.pid");
  ck_assert_int_eq(td_launch(&t, NULL, NULL, 0), UV_ELOOP);
  assert_gone(t.pid);
  {
    char buf[32];
    dk_test_read_file("target", buf, sizeof(buf));
    ck_assert_str_eq(buf, "keep me\n");
  }
}
END_TEST

/* A DK_WAIT_READY daemon playing `body` gives the parent `want` and
 * leaves nothing behind. */
static void assert_wait_ready_fails(body_fn body, int want) {
  struct td t;
  td_init(&t, "d.pid");
  t.opts.flags = DK_WAIT_READY;
  ck_assert_int_eq(td_launch(&t, body, NULL, 0), want);
  assert_failed_cleanly(&t, "d.pid");
}

static int body_ready_with_error(struct td *t) {
  dk_ready(&t->dz, UV_EADDRINUSE);
  exit(1);
}

START_TEST(test_ready_error_is_the_parents_result) {
  assert_wait_ready_fails(body_ready_with_error, UV_EADDRINUSE);
}
END_TEST

static int body_exits_early(struct td *t) {
  (void)t;
  exit(3);
}

START_TEST(test_daemon_exiting_before_ready_gives_edied) {
  assert_wait_ready_fails(body_exits_early, DK_EDIED);
}
END_TEST

static int body_crashes(struct td *t) {
  struct rlimit no_core = { 0, 0 };
  (void)t;
  setrlimit(RLIMIT_CORE, &no_core);
  abort();
}

START_TEST(test_daemon_crashing_before_ready_leaves_no_pid_file) {
  assert_wait_ready_fails(body_crashes, DK_EDIED);
}
END_TEST

static int body_never_ready(struct td *t) {
  pid_t child = fork(); /* a child of the daemon must go too */
  if (child == 0) {
    wait_for_release(t->release[0]);
    _exit(0);
  }
  char text[32];
  snprintf(text, sizeof(text), "%ld\n", (long)child);
  DAEMON_CHECK(dk_test_write_file(dk_test_path(1, "child.pid"), text) == 0);
  return 0;
}

START_TEST(test_timeout_kills_daemon_and_removes_pid_file) {
  struct td t;
  td_init(&t, "d.pid");
  t.opts.flags = DK_WAIT_READY;
  t.opts.timeout_ms = 500;
  ck_assert_int_eq(td_launch(&t, body_never_ready, NULL, 0), UV_ETIMEDOUT);
  assert_failed_cleanly(&t, "d.pid");
  /* Written before the deadline passed, by the daemon that then hung. */
  assert_gone((pid_t)dk_test_pid_in_file("child.pid"));
}
END_TEST

START_TEST(test_bad_arguments) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int closed_fd = 1000;
  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  ck_assert_int_eq(dk_daemonize(&dz, NULL, NULL, 0), UV_EINVAL);
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), UV_EINVAL); /* no pid file */
  opts.pid_file = "d.pid";
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 5), UV_EINVAL);
  opts.keep_fds = &closed_fd;
  opts.keep_fds_count = 1;
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), UV_EBADF);
  opts.keep_fds_count = 0;
  opts.flags = 0x100;
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), UV_EINVAL);
  ck_assert_int_eq(dk_ready(&dz, 0), UV_EINVAL); /* not a daemon */
  ck_assert_int_eq(access("d.pid", F_OK), -1);
}
END_TEST

/* --- foreground and systemd's NOTIFY_SOCKET ------------------------------ */

/* Binds a datagram socket at name ("@..." for the abstract namespace). */
static int bind_notify_socket(const char *name) {
  struct sockaddr_un addr;
  socklen_t len;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, name, sizeof(addr.sun_path) - 1);
  len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
  if (name[0] == '@')
    addr.sun_path[0] = '\0';
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, len), 0);
  return fd;
}

static ssize_t recv_with_deadline(int fd, char *buf, size_t size, int timeout_ms) {
  struct pollfd p;
  ssize_t n;
  p.fd = fd;
  p.events = POLLIN;
  if (poll(&p, 1, timeout_ms) != 1)
    return -1;
  n = recv(fd, buf, size - 1, 0);
  buf[n < 0 ? 0 : n] = '\0';
  return n;
}

/* A daemonizer and options for one that stays in this process: flags
 * (DK_FOREGROUND or DK_SERVICE and more), pid_file, the test's directory. */
static void in_place_options(dk_daemonizer_t *dz, dk_options_t *opts, const char *pid_file,
                             unsigned flags) {
  dk_daemonizer_init(dz);
  dk_options_init(opts);
  opts->pid_file = pid_file;
  opts->workdir = dk_test_dir();
  opts->flags = flags;
}

/* Runs a foreground daemon in a child: it waits for `go` before dk_ready
 * (with DK_WAIT_READY), then for `release` before exiting. */
static pid_t run_foreground_child(unsigned flags, int go[2], int release[2]) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int go_fd = go != NULL ? go[0] : -1, release_fd = release[0];
    /* Our copies of the write ends would keep the pipes from closing. */
    if (go != NULL)
      close(go[1]);
    close(release[1]);
    dk_daemonizer_t dz;
    dk_options_t opts;
    in_place_options(&dz, &opts, "fg.pid", DK_FOREGROUND | flags);
    if (dk_daemonize(&dz, &opts, NULL, 0) != DK_DAEMON)
      _exit(10);
    if (flags & DK_WAIT_READY) {
      wait_for_release(go_fd);
      if (dk_ready(&dz, 0) != 0)
        _exit(11);
    }
    wait_for_release(release_fd);
    exit(0);
  }
  return pid;
}

static void check_notify_socket(const char *name) {
  char buf[256], want[64];
  int sock = bind_notify_socket(name), release[2], status;
  pid_t pid;
  ck_assert_int_eq(pipe2(release, O_CLOEXEC), 0);
  setenv("NOTIFY_SOCKET", name, 1);
  pid = run_foreground_child(0, NULL, release);
  ck_assert_int_gt(recv_with_deadline(sock, buf, sizeof(buf), 10000), 0);
  snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld\n", (long)pid);
  ck_assert_str_eq(buf, want);
  ck_assert_int_eq(dk_test_pid_in_file("fg.pid"), pid);
  close(release[1]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_eq(access("fg.pid", F_OK), -1);
  close(sock);
  close(release[0]);
}

START_TEST(test_notify_socket_path_gets_ready_and_mainpid) {
  check_notify_socket(dk_test_path(2, "notify.sock"));
}
END_TEST

START_TEST(test_notify_socket_abstract_gets_ready_and_mainpid) {
  char name[64];
  snprintf(name, sizeof(name), "@dk-test-notify-%ld", (long)getpid());
  check_notify_socket(name);
}
END_TEST

START_TEST(test_foreground_wait_ready_notifies_only_at_dk_ready) {
  char buf[256], want[64];
  const char *name = dk_test_path(2, "notify.sock");
  int sock = bind_notify_socket(name), go[2], release[2];
  pid_t pid;
  ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(release, O_CLOEXEC), 0);
  setenv("NOTIFY_SOCKET", name, 1);
  pid = run_foreground_child(DK_WAIT_READY, go, release);
  /* The pid file shows the child got past dk_daemonize: nothing may have
   * been sent yet. */
  ck_assert(dk_test_wait_path(dk_test_path(1, "fg.pid"), 1, 10000));
  ck_assert_int_eq(recv(sock, buf, sizeof(buf), MSG_DONTWAIT), -1);
  close(go[1]);
  ck_assert_int_gt(recv_with_deadline(sock, buf, sizeof(buf), 10000), 0);
  snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld\n", (long)pid);
  ck_assert_str_eq(buf, want);
  close(release[1]);
  ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/* dk_daemonize with opts (DK_FOREGROUND or DK_SERVICE) outside a service
 * manager: DK_DAEMON in this very process, its stdout the one it had. */
static void assert_daemonizes_in_place(dk_daemonizer_t *dz, const dk_options_t *opts) {
  char before[PATH_MAX], after[PATH_MAX];
  unsetenv("NOTIFY_SOCKET");
  proc_link(getpid(), "fd/1", before, sizeof(before));
  ck_assert_int_eq(dk_daemonize(dz, opts, NULL, 0), DK_DAEMON);
  ck_assert_int_eq(dk_daemon_pid(dz), getpid());
  proc_link(getpid(), "fd/1", after, sizeof(after));
  ck_assert_str_eq(after, before);
}

START_TEST(test_foreground_stays_attached_and_keeps_stdio) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  in_place_options(&dz, &opts, "fg.pid", DK_FOREGROUND);
  opts.umask = 022;
  assert_daemonizes_in_place(&dz, &opts);
  ck_assert_int_eq(dk_test_pid_in_file("fg.pid"), getpid());
  ck_assert_int_eq(dk_test_status_field(getpid(), "Umask", 8), 022);
  dk_daemonizer_cleanup(&dz);
  ck_assert_int_eq(access("fg.pid", F_OK), -1);
  dk_daemonizer_cleanup(&dz); /* idempotent */
}
END_TEST

/* systemd and its kind start services in the foreground: DK_SERVICE is
 * DK_FOREGROUND here, and needs no pid file. */
START_TEST(test_service_stays_attached_without_a_pid_file) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  in_place_options(&dz, &opts, NULL, DK_SERVICE);
  assert_daemonizes_in_place(&dz, &opts);
  ck_assert_ptr_null(dk_daemonizer_pid_file(&dz));
  dk_daemonizer_cleanup(&dz);
}
END_TEST

static Suite *daemonize_suite(void) {
  Suite *s = suite_create("daemonize");
  TCase *tc = dk_test_tcase(s, "posix", dk_test_enter_tmpdir, dk_test_leave_tmpdir, 60);
  tcase_add_test(tc, test_daemon_is_detached_from_caller);
  tcase_add_test(tc, test_signal_dispositions_and_mask_are_reset);
  tcase_add_test(tc, test_daemon_sched_getcpu_follows_migration);
  tcase_add_test(tc, test_middle_process_is_reaped);
  tcase_add_test(tc, test_default_workdir_umask_and_stdio);
  tcase_add_test(tc, test_workdir_and_umask_as_asked);
  tcase_add_test(tc, test_stdio_lands_in_files_appended);
  tcase_add_test(tc, test_stdout_and_stderr_may_share_a_file);
  if (dk_test_can_run("test_stdio_through_another_users_symlink_is_refused",
                      DK_TEST_NEEDS_ROOT | DK_TEST_NEEDS_USERS))
    tcase_add_loop_test(tc, test_stdio_through_another_users_symlink_is_refused, 0, 3);
  if (dk_test_can_run("test_another_users_dangling_symlink_creates_nothing",
                      DK_TEST_NEEDS_ROOT | DK_TEST_NEEDS_USERS))
    tcase_add_loop_test(tc, test_another_users_dangling_symlink_creates_nothing, 0, 2);
  DK_TEST_ADD_ROOT_USERS(tc, test_stdout_file_of_another_user_is_refused);
  DK_TEST_ADD_ROOT_USERS(tc, test_stdout_file_or_symlink_with_a_second_link_is_refused);
  DK_TEST_ADD_ROOT_USERS(tc, test_symlink_chain_through_another_users_link_is_refused);
  DK_TEST_ADD_ROOT_USERS(tc, test_directory_symlink_of_another_user_is_refused);
  DK_TEST_ADD_ROOT_USERS(tc, test_daemon_users_symlink_reaches_only_what_that_user_owns);
  DK_TEST_ADD_ROOT_USERS(tc, test_daemon_users_own_files_and_symlinks_are_used);
  tcase_add_test(tc, test_stdio_through_own_symlinks_lands_in_targets);
  DK_TEST_ADD_LINUX(tc, test_stdout_through_dev_fd_lands_in_kept_pipe);
  tcase_add_test(tc, test_kept_fd_stays_open_others_are_closed);
  tcase_add_test(tc, test_payload_arrives_byte_exact);
  tcase_add_test(tc, test_pid_file_holds_daemon_pid_locked_then_gone);
  DK_TEST_ADD_LINUX(tc, test_lock_survives_daemon_closing_its_pid_file);
  tcase_add_test(tc, test_relative_pid_file_made_absolute_before_chdir);
  tcase_add_test(tc, test_wait_ready_returns_after_dk_ready);
  tcase_add_test(tc, test_no_descriptor_leaks_in_parent);
  tcase_add_test(tc, test_unwritable_pid_file_dir);
  tcase_add_test(tc, test_missing_pid_file_dir);
  tcase_add_test(tc, test_unwritable_stdout_path);
  tcase_add_test(tc, test_nonexistent_workdir);
  tcase_add_test(tc, test_failed_step_names_stdin_stderr_and_ready);
  tcase_add_test(tc, test_unknown_user_and_group);
  tcase_add_test(tc, test_user_and_group_are_switched);
  DK_TEST_ADD_ROOT_USERS(tc, test_user_in_more_than_64_groups_gets_them_all);
  DK_TEST_ADD_ROOT_USERS(tc, test_group_with_a_16k_line_is_found);
  DK_TEST_ADD_ROOT_USERS(tc, test_numeric_user_with_passwd_entry_takes_its_gid_and_groups);
  DK_TEST_ADD_ROOT_USERS(tc, test_numeric_group_with_entry_is_used);
  DK_TEST_ADD_ROOT_USERS(tc, test_numeric_ids_without_entries_are_used_as_given);
  tcase_add_test(tc, test_numeric_user_without_entry_or_group_is_refused);
  tcase_add_test(tc, test_live_daemon_gives_erunning_and_is_untouched);
  tcase_add_test(tc, test_stale_pid_file_is_taken_over);
  tcase_add_test(tc, test_empty_pid_file_from_a_crash_is_taken_over);
  tcase_add_test(tc, test_symlinked_pid_file_is_refused);
  tcase_add_test(tc, test_ready_error_is_the_parents_result);
  tcase_add_test(tc, test_daemon_exiting_before_ready_gives_edied);
  tcase_add_test(tc, test_daemon_crashing_before_ready_leaves_no_pid_file);
  tcase_add_test(tc, test_timeout_kills_daemon_and_removes_pid_file);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_notify_socket_path_gets_ready_and_mainpid);
  DK_TEST_ADD_LINUX(tc, test_notify_socket_abstract_gets_ready_and_mainpid);
  tcase_add_test(tc, test_foreground_wait_ready_notifies_only_at_dk_ready);
  tcase_add_test(tc, test_foreground_stays_attached_and_keeps_stdio);
  tcase_add_test(tc, test_service_stays_attached_without_a_pid_file);
  tcase_add_loop_test(tc, test_daemonizes_with_stdio_closed_at_entry, 1, 8);
  tcase_add_loop_test(tc, test_daemonizes_with_stdio_closed_at_entry_waiting_ready, 1, 8);
  tcase_add_test(tc, test_stdout_path_used_with_all_stdio_closed_at_entry);
  tcase_add_loop_test(tc, test_foreground_with_stdio_closed_leaves_it_closed, 1, 8);
  tcase_add_test(tc, test_foreground_stdout_path_with_stdio_closed_leaves_the_others_closed);
  return s;
}

int main(void) {
  return dk_test_run(daemonize_suite());
}
