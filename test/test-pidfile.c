/* SPDX-License-Identifier: MIT */
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
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
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

/* A process that is no daemon: it opens `path` read-only, as anybody who
 * may read a pid file can, takes `lock` on it (a flock, or a POSIX read
 * lock), and waits until the test closes its end of `release`. As root
 * it first becomes nobody: another user. Returns its pid once it locked. */
struct reader {
  pid_t pid;
  int release;
};

static void reader_start(struct reader *r, const char *path, int lock) {
  int ready[2], release[2];
  char c;
  ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(release, O_CLOEXEC), 0);
  r->pid = fork();
  ck_assert_int_ge(r->pid, 0);
  if (r->pid == 0) {
    struct passwd *pw = getpwnam("nobody");
    struct flock rec;
    int fd;
    close(ready[0]);
    close(release[1]);
    if (geteuid() == 0 && (pw == NULL || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0))
      _exit(1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    memset(&rec, 0, sizeof(rec));
    rec.l_type = F_RDLCK;
    rec.l_whence = SEEK_SET;
    if (fd < 0 || (lock == 'f' ? flock(fd, LOCK_EX) : fcntl(fd, F_SETLK, &rec)) < 0)
      _exit(2);
    if (write(ready[1], "x", 1) != 1)
      _exit(3);
    while (read(release[0], &c, 1) < 0 && errno == EINTR)
      ;
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  ck_assert_msg(read(ready[0], &c, 1) == 1, "the reader could not lock %s", path);
  close(ready[0]);
  r->release = release[1];
  dk_test_track_pid(r->pid);
}

static void reader_stop(struct reader *r) {
  close(r->release);
  ck_assert_int_eq(dk_test_reap(r->pid, 10000, NULL), 1);
}

/* A reader holds a flock on a stale pid file that names the reader itself
 * (its pid once was the daemon's): it is no daemon, and a start takes the
 * file over. */
START_TEST(test_readers_flock_neither_makes_a_file_live_nor_blocks_a_start) {
  struct reader r;
  char text[32];
  int check_err, send_err;
  struct pd p;
  ck_assert_int_eq(chmod(dk_test_dir(), 0755), 0);
  ck_assert_int_eq(dk_test_write_file("d.pid", "2147483647\n"), 0);
  reader_start(&r, dk_test_path(0, "d.pid"), 'f');
  snprintf(text, sizeof(text), "%ld\n", (long)r.pid);
  {
    int fd = open("d.pid", O_WRONLY | O_CLOEXEC); /* in place: the reader's file */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    close(fd);
  }
  ck_assert(dk_test_is_flocked("d.pid"));
  ck_assert_int_eq(dk_pid_file_check("d.pid", NULL), DK_ESTALE);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGTERM), DK_ESTALE);
  /* Whoever may not look into the reader can not call it the daemon. */
  dk_test_send_as_nobody(dk_test_path(0, "d.pid"), DK_SIGTERM, &send_err, &check_err);
  ck_assert_msg(check_err != 0 && send_err != 0, "as another user: check %s, send %s",
                dk_err_name(check_err), dk_err_name(send_err));
  ck_assert(dk_test_alive_unsignalled(r.pid));

  pd_init(&p, "d.pid");
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), p.pid);
  ck_assert_int_eq(dk_pid_file_check("d.pid", NULL), 0);
  pd_stop(&p);
  reader_stop(&r);
}
END_TEST

/* Starts at once over a file readers pin: exactly one daemon. */
START_TEST(test_simultaneous_starts_over_a_pinned_file_make_one_daemon) {
  struct reader r;
  int go[2], out[2], hold[2], i, parents = 0, running = 0, results[6];
  pid_t starters[6];
  ck_assert_int_eq(chmod(dk_test_dir(), 0755), 0);
  ck_assert_int_eq(dk_test_write_file("d.pid", "2147483647\n"), 0);
  reader_start(&r, dk_test_path(0, "d.pid"), 'f');
  ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
  for (i = 0; i < 6; i++) {
    starters[i] = fork();
    ck_assert_int_ge(starters[i], 0);
    if (starters[i] == 0) {
      struct pd p;
      char c;
      int res;
      close(go[1]);
      while (read(go[0], &c, 1) < 0 && errno == EINTR)
        ;
      pd_init(&p, "d.pid");
      res = pd_start(&p);
      if (write(out[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
        _exit(1);
      /* Its daemon runs while it keeps the daemon's release open. */
      close(hold[1]);
      while (read(hold[0], &c, 1) < 0 && errno == EINTR)
        ;
      _exit(0);
    }
  }
  close(go[0]);
  close(go[1]); /* all go */
  close(out[1]);
  close(hold[0]);
  for (i = 0; i < 6; i++)
    ck_assert_int_eq(read(out[0], &results[i], sizeof(int)), (ssize_t)sizeof(int));
  close(out[0]);
  for (i = 0; i < 6; i++) {
    parents += results[i] == DK_PARENT;
    running += results[i] == DK_ERUNNING;
  }
  ck_assert_msg(parents == 1 && running == 5, "%d starts made a daemon, %d ran into one", parents,
                running);
  ck_assert_int_eq(dk_pid_file_check("d.pid", NULL), 0);
  close(hold[1]);
  for (i = 0; i < 6; i++)
    ck_assert_int_eq(dk_test_reap(starters[i], 10000, NULL), 1);
  reader_stop(&r);
}
END_TEST

/* A read record lock refuses a write lock: it must not refuse the start
 * that rewrites a file in place (a directory the daemon may not write). */
START_TEST(test_readers_record_lock_does_not_block_a_rewrite_in_place) {
  struct reader r;
  uv_pid_t pid = 0;
  pid_t starter;
  int status = -1, started[2], hold[2];
  char c;
  struct passwd *pw = getpwnam("nobody");
  ck_assert_ptr_nonnull(pw);
  ck_assert_int_eq(chmod(dk_test_dir(), 0755), 0);
  ck_assert_int_eq(mkdir("run", 0755), 0);
  ck_assert_int_eq(dk_test_write_file("run/d.pid", "2147483647\n"), 0);
  if (geteuid() == 0)
    ck_assert_int_eq(chown("run/d.pid", pw->pw_uid, pw->pw_gid), 0);
  ck_assert_int_eq(chmod("run", 0555), 0); /* as an init script leaves it */
  reader_start(&r, dk_test_path(0, "run/d.pid"), 'r');
  /* The start, as nobody when root: root could write run/ anyway. It
   * keeps its daemon's release open until the test closes `hold`. */
  ck_assert_int_eq(pipe2(started, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
  starter = fork();
  ck_assert_int_ge(starter, 0);
  if (starter == 0) {
    struct pd p;
    int res;
    close(hold[1]);
    if (geteuid() == 0 && (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0))
      _exit(1);
    pd_init(&p, "run/d.pid");
    res = pd_start(&p);
    if (write(started[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
      _exit(1);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR)
      ;
    close(p.release[1]);
    _exit(dk_test_wait_exit(p.pid, 10000) ? 0 : 3);
  }
  close(started[1]);
  close(hold[0]);
  {
    int res = 1;
    ck_assert_int_eq(read(started[0], &res, sizeof(res)), (ssize_t)sizeof(res));
    ck_assert_msg(res == DK_PARENT, "the start gave %s", dk_err_name(res));
  }
  close(started[0]);
  ck_assert_int_eq(dk_pid_file_check("run/d.pid", &pid), 0);
  ck_assert_int_eq(dk_test_pid_in_file("run/d.pid"), pid);
  close(hold[1]);
  ck_assert_int_eq(dk_test_reap(starter, 10000, &status), 1);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the daemon did not stop: %#x",
                status);
  reader_stop(&r);
  ck_assert_int_eq(chmod("run", 0755), 0);
}
END_TEST

/* The predictable temporary name taken (a squatter's directory): the start
 * goes on under another. The claimer's pid is known before it claims: a
 * foreground start in a child. */
START_TEST(test_squatted_temporary_name_does_not_stop_a_start) {
  int go[2], status = -1;
  char name[64], c;
  pid_t child;
  ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
  child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    dk_daemonizer_t dz;
    dk_options_t opts;
    close(go[1]);
    while (read(go[0], &c, 1) < 0 && errno == EINTR)
      ;
    unsetenv("NOTIFY_SOCKET");
    dk_daemonizer_init(&dz);
    dk_options_init(&opts);
    opts.pid_file = "d.pid";
    opts.workdir = dk_test_dir();
    opts.flags = DK_FOREGROUND;
    if (dk_daemonize(&dz, &opts, NULL, 0) != DK_DAEMON)
      _exit(2);
    c = dk_test_pid_in_file(dk_test_path(0, "d.pid")) == getpid() ? 0 : 3;
    dk_daemonizer_cleanup(&dz);
    _exit(c);
  }
  close(go[0]);
  snprintf(name, sizeof(name), ".daemoniker-%ld", (long)child);
  ck_assert_int_eq(mkdir(name, 0755), 0);
  ck_assert_int_eq(write(go[1], "x", 1), 1);
  close(go[1]);
  ck_assert_int_eq(dk_test_reap(child, 10000, &status), 1);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the start failed: %#x", status);
  ck_assert_int_eq(access("d.pid", F_OK), -1); /* it exited: its file went */
  ck_assert_int_eq(rmdir(name), 0);             /* the squatter's, left alone */
  ck_assert_int_eq(system("test -z \"$(ls -A)\""), 0); /* and nothing else left */
}
END_TEST

START_TEST(test_longest_names_and_paths_work) {
  char base[256], deep[DK_PATH_MAX];
  size_t len;
  struct pd p;
  memset(base, 'n', 250);
  memcpy(base + 250, ".pid", 5); /* 254 bytes: a file name may have 255 */
  pd_init(&p, base);
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file(base), p.pid);
  pd_stop(&p);
  ck_assert_int_eq(access(base, F_OK), -1);
  /* A path of 4090 bytes, made absolute. */
  snprintf(deep, sizeof(deep), "%s", dk_test_dir());
  len = strlen(deep);
  while (len + 1 + 200 + 6 < 4090) {
    deep[len++] = '/';
    memset(deep + len, 'd', 200);
    len += 200;
    deep[len] = '\0';
    ck_assert_int_eq(mkdir(deep, 0755), 0);
  }
  deep[len++] = '/';
  memset(deep + len, 'e', 4090 - 6 - len);
  len = 4090 - 6;
  deep[len] = '\0';
  ck_assert_int_eq(mkdir(deep, 0755), 0);
  memcpy(deep + len, "/d.pid", 7);
  ck_assert_uint_eq(strlen(deep), 4090);
  pd_init(&p, deep);
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  ck_assert_int_eq(dk_test_pid_in_file(deep), p.pid);
  ck_assert_int_eq(dk_pid_file_check(deep, NULL), 0);
  pd_stop(&p);
  ck_assert_int_eq(access(deep, F_OK), -1);
}
END_TEST

/* A checker in another pid namespace (a sidecar container sharing the
 * directory) can not see the daemon's pid; the write record lock still
 * says the file is held. */
START_TEST(test_file_held_outside_our_pid_namespace_is_held) {
  int results[3] = { 1, 1, 1 }, fds[2];
  pid_t outer;
  struct pd p;
  pd_init(&p, "d.pid");
  ck_assert_int_eq(pd_start(&p), DK_PARENT);
  ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
  outer = fork();
  ck_assert_int_ge(outer, 0);
  if (outer == 0) {
    pid_t inner;
    int status;
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0)
      _exit(1);
    inner = fork();
    if (inner == 0) {
      dk_daemonizer_t dz;
      dk_options_t opts;
      uv_pid_t pid = 12345;
      if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
          mount("proc", "/proc", "proc", 0, NULL) < 0)
        _exit(2);
      results[0] = dk_pid_file_check(dk_test_path(0, "d.pid"), &pid);
      results[1] = dk_send(dk_test_path(0, "d.pid"), DK_SIGTERM);
      dk_daemonizer_init(&dz);
      dk_options_init(&opts);
      opts.pid_file = dk_test_path(0, "d.pid");
      opts.workdir = "/";
      opts.flags = DK_FOREGROUND;
      unsetenv("NOTIFY_SOCKET");
      results[2] = dk_daemonize(&dz, &opts, NULL, 0);
      _exit(write(fds[1], results, sizeof(results)) == (ssize_t)sizeof(results) ? 0 : 3);
    }
    _exit(inner > 0 && waitpid(inner, &status, 0) == inner && WIFEXITED(status) ?
              WEXITSTATUS(status) : 4);
  }
  close(fds[1]);
  {
    int status = -1;
    ck_assert_int_eq(dk_test_reap(outer, 10000, &status), 1);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "namespace child: %#x", status);
  }
  ck_assert_int_eq(read(fds[0], results, sizeof(results)), (ssize_t)sizeof(results));
  close(fds[0]);
  ck_assert_msg(results[0] == DK_ERUNNING && results[1] == DK_ERUNNING && results[2] == DK_ERUNNING,
                "from another pid namespace: check %s, send %s, start %s",
                dk_err_name(results[0]), dk_err_name(results[1]), dk_err_name(results[2]));
  ck_assert_int_eq(dk_test_pid_in_file("d.pid"), p.pid); /* untouched */
  ck_assert(dk_test_alive_unsignalled(p.pid));
  pd_stop(&p);
}
END_TEST

static Suite *pidfile_suite(void) {
  Suite *s = suite_create("pidfile");
  TCase *tc = dk_test_tcase(s, "claim", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_hard_link_as_pid_file_is_refused_and_untouched);
  DK_TEST_ADD_ROOT(tc, test_pid_file_of_another_user_is_refused_and_untouched);
  tcase_add_test(tc, test_reader_never_sees_an_empty_or_partial_pid_file);
  DK_TEST_ADD_ROOT(tc, test_daemon_that_may_not_remove_its_pid_file_empties_it);
  tcase_add_test(tc, test_pid_file_accessor_names_the_absolute_path);
  tcase_add_test(tc, test_foreground_without_pid_file_writes_none);
  tcase_add_test(tc, test_foreground_start_refused_names_the_holder);
  DK_TEST_ADD_LINUX(tc, test_readers_flock_neither_makes_a_file_live_nor_blocks_a_start);
  DK_TEST_ADD_LINUX(tc, test_simultaneous_starts_over_a_pinned_file_make_one_daemon);
  DK_TEST_ADD_LINUX(tc, test_readers_record_lock_does_not_block_a_rewrite_in_place);
  tcase_add_test(tc, test_squatted_temporary_name_does_not_stop_a_start);
  tcase_add_test(tc, test_longest_names_and_paths_work);
  DK_TEST_ADD_ROOT(tc, test_file_held_outside_our_pid_namespace_is_held);
  return s;
}

int main(void) {
  return dk_test_run(pidfile_suite());
}
