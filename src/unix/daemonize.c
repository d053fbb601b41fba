/* SPDX-License-Identifier: MIT */
/* Daemonizing on POSIX: fork, setsid, fork again, and tell the parent the
 * truth about the outcome through a channel made before the first fork.
 *
 *   parent ──fork──> middle ──setsid, fork──> daemon
 *     │                 └─ reports the daemon's pid, exits
 *     └─ reads reports until success, an error, EOF or the deadline
 *
 * The first "fork" is a clone sharing the parent's memory where that is
 * safe (middle.c): only the daemon's fork then copies the page tables.
 *
 * The parent does not reap the middle process until it is done: while it is
 * an unreaped zombie its pid, which is the daemon's process group id, can
 * not be reused, so killing that group on failure can never hit an
 * unrelated process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"

/* Reports (internal.h) go over a socket pair. After DK__REPORT_EXEC the
 * channel closing (it is close-on-exec) means the exec succeeded. */

/* How long the parent waits for a killed daemon to be gone. */
#define DK__REAP_GRACE_MS 5000

static int absolute_path(const char *path, char *out, size_t size) {
  size_t len = strlen(path), cwd_len;
  if (path[0] == '/') {
    if (len >= size)
      return UV_ENAMETOOLONG;
    memcpy(out, path, len + 1);
    return 0;
  }
  if (getcwd(out, size) == NULL)
    return errno == ERANGE ? UV_ENAMETOOLONG : DK__ERR(errno);
  cwd_len = strlen(out);
  if (cwd_len + 1 + len >= size)
    return UV_ENAMETOOLONG;
  if (cwd_len > 1)
    out[cwd_len++] = '/';
  memcpy(out + cwd_len, path, len + 1);
  return 0;
}

static int check_options(const dk_options_t *opts) {
  size_t i;
  int err = dk__options_check(opts);
  if (err < 0)
    return err;
  for (i = 0; i < opts->keep_fds_count; i++)
    if (opts->keep_fds[i] < 0 || fcntl(opts->keep_fds[i], F_GETFD) < 0)
      return UV_EBADF;
  return 0;
}

/* What the daemon does to itself, in either mode. Everything it needed to
 * allocate was prepared in the parent. */
static int setup_daemon(dk_daemonizer_t *dz, const dk_options_t *opts, int detached) {
  static const int stdio_steps[3] = { DK_STEP_STDIN, DK_STEP_STDOUT, DK_STEP_STDERR };
  const char *workdir = opts->workdir != NULL ? opts->workdir : "/";
  uid_t user = dz->have_ids ? (uid_t)dz->uid : geteuid();
  int err, failed_fd = 0;

  umask((mode_t)(opts->umask < 0 ? DK__DEFAULT_UMASK : opts->umask));
  /* stdio before the chdir: relative log paths mean the caller's cwd. */
  err = dk__redirect_stdio(opts, detached, user, &failed_fd);
  if (err < 0) {
    dz->failed_step = stdio_steps[failed_fd];
    return err;
  }
  while (chdir(workdir) < 0)
    if (errno != EINTR) {
      dz->failed_step = DK_STEP_WORKDIR;
      return DK__ERR(errno);
    }
  if (dz->pid_path[0] != '\0') {
    err = dk__pidfile_claim(dz->pid_path, user);
    if (err < 0) {
      dz->failed_step = DK_STEP_PID_FILE;
      return err;
    }
  }
  err = dk__drop_ids(dz);
  dk__release_ids(dz);
  if (err < 0) {
    dz->failed_step = DK_STEP_IDS;
    dk__pidfile_drop();
    return err;
  }
  dz->role = DK_DAEMON;
  dz->daemon_pid = getpid();
  if (detached)
    dk__note_daemonized();
  return 0;
}

/* The daemon, made by the middle process (middle.c): its signals and
 * descriptors as a new process's, then the setup. Returns only in the
 * daemon. */
static int run_daemon(dk_daemonizer_t *dz, const dk_options_t *opts, int fd) {
  int err;

  dk__reset_signals();
  dk__close_inherited(opts->keep_fds, opts->keep_fds_count, fd);
  err = setup_daemon(dz, opts, 1);
  if (err < 0) {
    dk__send_report(fd, DK__REPORT_STEP, dz->failed_step);
    dk__send_report(fd, DK__REPORT_RESULT, err);
    _exit(1);
  }
  if (dz->flags & DK_WAIT_READY) {
    dz->report_fd = fd;
  } else {
    dk__send_report(fd, DK__REPORT_RESULT, 0);
    close(fd);
    dz->ready_sent = 1;
  }
  return DK_DAEMON;
}

/* The parent's clock: libuv's, in milliseconds. */
static long long now_ms(void) {
  return (long long)(uv_hrtime() / 1000000);
}

/* Reads one report, or tells why none came: 1 read, 0 EOF, UV_ETIMEDOUT,
 * or another error. A partial report is kept in buf and have across calls. */
static int read_report(int fd, long long deadline, struct dk__report *r, char *buf, size_t *have) {
  while (*have < sizeof(*r)) {
    struct pollfd p;
    long long left = deadline - now_ms();
    ssize_t n;
    int ready;

    if (left <= 0)
      return UV_ETIMEDOUT;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    ready = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready < 0)
      return DK__ERR(errno);
    if (ready == 0)
      continue;
    n = recv(fd, buf + *have, sizeof(*r) - *have, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0)
      return DK__ERR(errno);
    if (n == 0)
      return 0;
    *have += (size_t)n;
  }
  memcpy(r, buf, sizeof(*r));
  *have = 0;
  return 1;
}

/* Waits until every holder of the channel's other end is gone: the daemon
 * and anything it forked. */
static int wait_for_eof(int fd, long long deadline) {
  struct dk__report r;
  char buf[sizeof(r)];
  size_t have = 0;
  int got;
  while ((got = read_report(fd, deadline, &r, buf, &have)) == 1)
    ;
  return got;
}

static void reap(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* The parent's side: returns DK_PARENT once the daemon reported success,
 * or its error once no process of it is left. `before`: what was at the
 * pid file's path before the fork (NULL: nothing), for the cleanup. */
static int wait_for_daemon(dk_daemonizer_t *dz, int fd, pid_t middle, unsigned timeout_ms,
                           const struct stat *before) {
  long long deadline = now_ms() + timeout_ms;
  char buf[sizeof(struct dk__report)];
  struct dk__report r;
  size_t have = 0;
  int result = 1, reported = 0, exec_pending = 0, got, step = DK_STEP_NONE;

  while (result == 1) {
    got = read_report(fd, deadline, &r, buf, &have);
    if (got == 0) {
      result = exec_pending ? 0 : DK_EDIED;
    } else if (got < 0) {
      result = got;
    } else if (r.kind == DK__REPORT_EXEC) {
      exec_pending = 1;
    } else if (r.kind == DK__REPORT_PID) {
      dz->daemon_pid = (uv_pid_t)r.value;
    } else if (r.kind == DK__REPORT_STEP) {
      step = r.value;
    } else if (r.kind == DK__REPORT_RESULT) {
      /* The daemon's result can overtake the middle's pid report. */
      if (r.pid != middle && dz->daemon_pid == 0)
        dz->daemon_pid = (uv_pid_t)r.pid;
      result = r.value;
      reported = 1;
    }
  }
  dz->failed_step = reported && result < 0 ? step : DK_STEP_NONE;

  if (result == 0) {
    close(fd);
    reap(middle);
    dz->role = DK_PARENT;
    return DK_PARENT;
  }

  /* A daemon that reported its error exits by itself. One that timed out,
   * or closed the channel without a word, is killed with anything it forked;
   * so is one that reported but did not go. */
  if (!reported || wait_for_eof(fd, now_ms() + DK__REAP_GRACE_MS) != 0) {
    /* The middle first, by its pid: until its setsid() there is no group
     * -middle, and kill(-middle) alone would miss a middle that then goes
     * on to start the daemon after we returned (a timeout or a failed poll
     * right after fork). Once it has a SIGKILL pending it can fork no
     * more, so the group kill then gets every daemon there is. */
    kill(middle, SIGKILL);
    kill(-middle, SIGKILL);
    wait_for_eof(fd, now_ms() + DK__REAP_GRACE_MS);
  }
  close(fd);
  dk__pidfile_remove_if_stale(dz->pid_path, dz->daemon_pid, before);
  reap(middle);
  /* The daemon that failed is gone: who is in its way is more use. */
  if (result == DK_ERUNNING)
    dz->daemon_pid = (uv_pid_t)dk__pidfile_holder(dz->pid_path);
  return result;
}

static int detach(dk_daemonizer_t *dz, const dk_options_t *opts) {
  unsigned timeout_ms = opts->timeout_ms ? opts->timeout_ms : DK__DEFAULT_TIMEOUT_MS;
  struct sigaction dfl, saved;
  struct stat before;
  int sv[2], result, existed, is_daemon;
  pid_t middle;

  if (dk__socketpair_cloexec(SOCK_STREAM, sv) < 0)
    return DK__ERR(errno);
  /* The daemon points 0-2 at the null device or its logs: a channel end
   * there would be gone before the daemon's first report. */
  sv[0] = dk__fd_above_stdio(sv[0]);
  sv[1] = dk__fd_above_stdio(sv[1]);
  if (sv[0] < 0 || sv[1] < 0) {
    result = sv[0] < 0 ? sv[0] : sv[1];
    if (sv[0] >= 0)
      close(sv[0]);
    if (sv[1] >= 0)
      close(sv[1]);
    return result;
  }
  /* Should the start fail, a pid file that was not here yet is the
   * daemon's to take away again (dk__pidfile_remove_if_stale). */
  existed = lstat(dz->pid_path, &before) == 0;
  /* The middle process must stay an unreaped zombie until we reap it; an
   * ignored SIGCHLD would let the kernel reap it behind our back. */
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, &saved);
  /* Unflushed stdio would otherwise be written twice: once by each side. */
  fflush(NULL);

  middle = dk__start_middle(sv[1], &is_daemon);
  if (middle < 0) {
    result = DK__ERR(errno);
    close(sv[0]);
    close(sv[1]);
    sigaction(SIGCHLD, &saved, NULL);
    return result;
  }
  if (is_daemon) {
    close(sv[0]);
    return run_daemon(dz, opts, sv[1]);
  }
  close(sv[1]);
  result = wait_for_daemon(dz, sv[0], middle, timeout_ms, existed ? &before : NULL);
  sigaction(SIGCHLD, &saved, NULL);
  return result;
}

static int run_foreground(dk_daemonizer_t *dz, const dk_options_t *opts) {
  char state[64];
  int err = setup_daemon(dz, opts, 0);
  if (err == DK_ERUNNING)
    dz->daemon_pid = (uv_pid_t)dk__pidfile_holder(dz->pid_path);
  if (err < 0)
    return err;
  if (!(dz->flags & DK_WAIT_READY)) {
    snprintf(state, sizeof(state), "READY=1\nMAINPID=%ld\n", (long)getpid());
    err = dk_notify(state);
    if (err < 0) {
      dk__pidfile_drop();
      return err;
    }
    dz->ready_sent = 1;
  }
  return DK_DAEMON;
}

int dk_daemonizer_init(dk_daemonizer_t *dz) {
  if (dz == NULL)
    return UV_EINVAL;
  memset(dz, 0, sizeof(*dz));
  dz->report_fd = -1;
  return 1;
}

int dk_daemonize(dk_daemonizer_t *dz, const dk_options_t *opts, void *payload,
                 size_t payload_len) {
  /* The payload needs no transport here: fork copies the memory it is in. */
  int err = dk__daemonize_begin(dz, payload, payload_len);
  if (err == 0)
    err = check_options(opts);
  if (err == 0 && opts->pid_file != NULL)
    err = absolute_path(opts->pid_file, dz->pid_path, sizeof(dz->pid_path));
  if (err == 0)
    err = dk__resolve_ids(dz, opts);
  if (err == 0)
    err = dk__pidfile_prepare();
  if (err < 0)
    return err;
  /* Service managers (systemd, launchd, runit) start services in the
   * foreground. */
  dz->flags = opts->flags & DK_SERVICE ? opts->flags | DK_FOREGROUND : opts->flags;
  err = dz->flags & DK_FOREGROUND ? run_foreground(dz, opts) : detach(dz, opts);
  /* The daemon released its copy as it used it; this is the caller's, or
   * that of a setup that failed before. */
  dk__release_ids(dz);
  return err;
}

int dk__report_ready(dk_daemonizer_t *dz, int status) {
  char state[64];
  int err;

  if (dz->flags & DK_FOREGROUND) {
    if (status == 0)
      snprintf(state, sizeof(state), "READY=1\nMAINPID=%ld\n", (long)getpid());
    else
      snprintf(state, sizeof(state), "ERRNO=%d\n", -status);
    err = dk_notify(state);
    return err < 0 ? err : 0;
  }
  if (dz->report_fd >= 0) {
    if (status < 0)
      dk__send_report(dz->report_fd, DK__REPORT_STEP,
                  dz->failed_step != DK_STEP_NONE ? dz->failed_step : DK_STEP_READY);
    dk__send_report(dz->report_fd, DK__REPORT_RESULT, status);
    /* On failure the channel stays open until this process exits: the
     * parent waits for it to close, so that it returns only once the
     * daemon is gone. */
    if (status == 0)
      close(dz->report_fd);
    dz->report_fd = -1;
  }
  return 0;
}

int dk_exec(dk_daemonizer_t *dz, char *const argv[]) {
  int err;

  if (dz == NULL || dz->role != DK_DAEMON || argv == NULL || argv[0] == NULL)
    return UV_EINVAL;
  /* The program keeps the pid file open, and with it the lock. */
  err = dk__pidfile_inherit(1);
  if (err < 0)
    return err;
  if (dz->report_fd >= 0 && !dz->ready_sent)
    dk__send_report(dz->report_fd, DK__REPORT_EXEC, 0);
  execvp(argv[0], argv);
  err = DK__ERR(errno);
  dk__pidfile_inherit(0);
  if (dz->report_fd >= 0 && !dz->ready_sent) {
    dz->failed_step = DK_STEP_EXEC;
    dk_ready(dz, err);
  }
  return err;
}
