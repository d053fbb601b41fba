/* SPDX-License-Identifier: MIT */
/* Declarations shared by the files of the POSIX half. */
#ifndef DK_UNIX_H
#define DK_UNIX_H

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "../internal.h"

/* On POSIX libuv's codes are negated errno values. */
#define DK__ERR(e) (-(e))

/* 1 where the POSIX half may use what only Linux has: pidfds, close_range,
 * /proc, getdents64, clone, abstract socket names, SOCK_CLOEXEC and
 * MSG_NOSIGNAL. 0 elsewhere and with configure --disable-linux-extras,
 * which builds on Linux the code a BSD or macOS build runs. */
#if defined(__linux__) && !defined(DK_NO_LINUX_EXTRAS)
#define DK__LINUX_EXTRAS 1
#else
#define DK__LINUX_EXTRAS 0
#endif

/* The change time's nanoseconds, however struct stat spells them (0 where
 * it has none: the change time is then known to the second). */
#if defined(HAVE_STRUCT_STAT_ST_CTIM_TV_NSEC)
#define DK__CTIME_NSEC(st) ((long)(st)->st_ctim.tv_nsec)
#elif defined(HAVE_STRUCT_STAT_ST_CTIMESPEC_TV_NSEC)
#define DK__CTIME_NSEC(st) ((long)(st)->st_ctimespec.tv_nsec)
#else
#define DK__CTIME_NSEC(st) 0L
#endif

/* sockets.c: AF_UNIX sockets that are close-on-exec and never raise
 * SIGPIPE, made and written the same way everywhere: where the kernel has
 * no SOCK_CLOEXEC, FD_CLOEXEC is set right after (a thread of the caller's
 * that forks and execs in between inherits the descriptor); where send
 * takes no MSG_NOSIGNAL, SO_NOSIGPIPE, or else SIGPIPE blocked in the
 * calling thread across the send and taken back. Async-signal-safe. */
int dk__socket_cloexec(int type);
int dk__socketpair_cloexec(int type, int sv[2]);
ssize_t dk__send_nosigpipe(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *to, socklen_t to_len);

/* pidfile.c: claiming and dropping run in the daemon after fork: they
 * neither allocate nor lock. dk__pidfile_prepare runs before the fork. */
int dk__pidfile_prepare(void);
int dk__pidfile_claim(const char *abs_path, uid_t user);
int dk__pidfile_inherit(int on);
void dk__pidfile_remove_if_stale(const char *path, pid_t pid, const struct stat *before);
/* The descriptor of the pid file this process holds, if `st` is that
 * file; else -1. Never to be closed by the caller. */
int dk__pidfile_held_fd(const struct stat *st);
int dk__pidfile_holds_any(void);
/* Removes the temporary file a daemon with that pid may have left. */
void dk__pidfile_remove_temp(const char *path, pid_t pid);
/* Makes fd, open on path, the pid file this process holds. */
void dk__pidfile_remember(int fd, const char *path);
int dk__open_retry(const char *path, int flags, mode_t mode);
int dk__flock_retry(int fd, int op);
int dk__same_inode(const struct stat *a, const struct stat *b);

/* claim.c: the daemon's temporary name (attempt 0: .daemoniker-<pid>, the
 * one a parent cleans up; later ones unforeseeable), and a path's
 * directory and base name; neither allocates. */
void dk__pidfile_temp_name(pid_t pid, unsigned attempt, char *out);
int dk__pidfile_split_path(const char *path, char *dir, size_t size, const char **base);

/* proof.c: whether the pid a pid file names holds it (see there for the
 * results). With pin, p->pidfd pins that process first (-1 without
 * pidfds). On return p->fd is the file (-1 if it could not be opened),
 * p->holder the holder's pid with 0 and DK_ERUNNING, and
 * p->by_record_lock tells that F_GETLK proved it; dk__proof_release
 * closes what the proof opened, whatever it returned. */
struct dk__proof {
  pid_t pid;          /* named in the file */
  pid_t holder;       /* holds the file's lock; 0 if unknown */
  int fd;
  int own;            /* fd is this process's held descriptor: kept open */
  int pidfd;
  int by_record_lock;
  struct stat st;
};
int dk__prove(const char *path, int pin, struct dk__proof *p);
void dk__proof_release(struct dk__proof *p);
int dk__pidfile_parse_fd(int fd, pid_t *pid_out);
pid_t dk__pidfile_lock_holder(int fd);
/* 1 if some process holds a write record lock on the file (*pid: which,
 * 0 if it is outside our pid namespace), else 0. One fcntl, no lock. */
int dk__pidfile_write_locked(int fd, pid_t *pid);
pid_t dk__pidfile_find_holder(int fd, const struct stat *st);
/* The pid of the process that holds the pid file at path, 0 if none is
 * found; it allocates, so never between fork and return. */
pid_t dk__pidfile_holder(const char *path);

/* holders.c: who holds a file's flock through a writable open file, from
 * /proc (Linux); no allocation, no lock: safe between fork and return.
 * dk__holder_check: 1 if pid holds it (*writable: through a writable
 * file), 0 if not, UV_EPERM if we may not look. */
struct dk__holders {
  pid_t writer; /* a process that holds it through a writable file; 0: none seen */
  int readers;  /* processes that hold it through read-only files only */
  int unseen;   /* processes we may not look into */
};
int dk__holder_check(pid_t pid, const struct stat *st, int *writable);
void dk__holders_scan(const struct stat *st, struct dk__holders *h);

/* send.c: the signal, to the pinned process (pidfd >= 0) or to pid. */
int dk__send_pinned(int pidfd, pid_t pid, int host_signum);

/* A record of getdents64(2), which lists a directory (/proc) into a buffer
 * of the caller's: opendir would allocate, and these listings run between
 * fork and return. */
struct dk__dirent64 {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* setup.c: the steps a daemon takes, each safe between fork and return. */
void dk__reset_signals(void);
/* middle.c: the process between the caller and the daemon. Returns its pid
 * (or -1, errno set) in the caller, 0 with *is_daemon set in the daemon. */
pid_t dk__start_middle(int report_fd, int *is_daemon);
/* 1 if this process would make the middle by clone (glibc 2.32+, the
 * Linux extras, one thread, not under valgrind), 0 if by fork. */
int dk__middle_is_cloned(void);
void dk__send_report(int fd, int kind, int value);
int dk__close_inherited(const int *keep, size_t nkeep, int also_keep);
/* `user`: the uid the daemon runs as; the rules for the files it opens are
 * setup.c's. On failure *failed_fd is the descriptor (0-2) that could not
 * be opened. */
int dk__redirect_stdio(const dk_options_t *opts, int null_by_default, uid_t user,
                       int *failed_fd);
/* Moves a descriptor of the library's own that landed on 0-2 (the
 * caller's stdio was closed) to the lowest free number from 3, close-on-
 * exec, and closes the original: stdio set up later would overwrite it,
 * and stdio left closed would become it. Returns the descriptor (fd itself
 * when already >= 3 or < 0) or an error, the original then closed too.
 * Async-signal-safe. */
int dk__fd_above_stdio(int fd);
/* Resolving runs in the parent and may allocate; the group list it keeps
 * is released by dk__release_ids, in every process that has a copy, once
 * it is of no more use. Dropping and releasing are safe after fork. */
int dk__resolve_ids(dk_daemonizer_t *dz, const dk_options_t *opts);
int dk__drop_ids(const dk_daemonizer_t *dz);
void dk__release_ids(dk_daemonizer_t *dz);

/* notify.c: a pid as systemd writes one in LISTEN_PID and WATCHDOG_PID
 * (decimal, > 0); 0 or UV_EINVAL. */
int dk__parse_pid(const char *s, pid_t *pid);

/* signals.c: DK signal number to this platform's, and back. */
int dk__host_signal(int dk_signum);
/* signals.c: called by the daemon at the end of its setup (after fork:
 * async-signal-safe), so that dk_signals_init and dk_signals_start refuse
 * a loop made before it (UV_EBADF). */
void dk__note_daemonized(void);

#endif
