/* SPDX-License-Identifier: MIT */
/* libdaemoniker: daemonize a libuv program, and get its signals on the loop.
 *
 * Conventions are libuv's: functions return 0 or a negative error code
 * (libuv's UV_E* where one fits, DK_E* below otherwise); handles are
 * allocated by the caller and carry a public `data` pointer; every other
 * field is private.
 */
#ifndef DAEMONIKER_H
#define DAEMONIKER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the library exports: only these functions. It is built with
 * -fvisibility=hidden (POSIX); on Windows its DLL exports them (built with
 * DK_BUILDING_SHARED, as libtool's DLL_EXPORT sets it), and a program that
 * links the DLL may define DK_USING_SHARED to import them directly; the
 * static library needs neither. */
#if defined(_WIN32)
# if defined(DK_BUILDING_SHARED)
#  define DK_EXTERN __declspec(dllexport)
# elif defined(DK_USING_SHARED)
#  define DK_EXTERN __declspec(dllimport)
# else
#  define DK_EXTERN /* the static library */
# endif
#elif defined(__GNUC__) && __GNUC__ >= 4
# define DK_EXTERN __attribute__((visibility("default")))
#else
# define DK_EXTERN /* nothing */
#endif

/* Each platform's private fields of the structs below (DK_*_PRIVATE_FIELDS):
 * they differ by platform; the portable ones are in the structs here. */
#if defined(_WIN32)
# include "daemoniker/win.h"
#else
# include "daemoniker/unix.h"
#endif

#define DK_VERSION_MAJOR 0
#define DK_VERSION_MINOR 1
#define DK_VERSION_PATCH 0

/* Far below every UV_E* value on every platform (libuv's lowest is -4096). */
#define DK_ERUNNING    (-5001) /* a live daemon already holds this pid file */
#define DK_ESTALE      (-5002) /* the pid file names no live holder of it */
#define DK_EBADPIDFILE (-5003) /* the pid file's content is not one valid pid */
#define DK_EDIED       (-5004) /* the daemon exited before it reported success */
#define DK_ENOUSER     (-5005) /* options.user or options.group does not exist */

/* Portable signal numbers: the library's own, the same on every platform.
 * They match the conventional Linux numbers so that "15" means TERM. */
#define DK_SIGHUP   1
#define DK_SIGINT   2
#define DK_SIGABRT  6
#define DK_SIGUSR1 10
#define DK_SIGUSR2 12
#define DK_SIGTERM 15

/* dk_daemonize return values. */
#define DK_PARENT 1
#define DK_DAEMON 2

/* dk_options_t.flags */
#define DK_WAIT_READY 0x1u /* the parent waits for dk_ready(), not setup */
#define DK_FOREGROUND 0x2u /* no detaching: for supervisors (systemd...) */
#define DK_SERVICE    0x4u /* run under the platform's service manager: the
                              Windows SCM; elsewhere, and on Windows when not
                              started by the SCM, as DK_FOREGROUND */

/* dk_daemonizer_failed_step: the step of the daemon's setup that an error
 * of dk_daemonize came from (POSIX; Windows tells none). */
#define DK_STEP_NONE     0 /* none of these: options, lookups, fork, timeout */
#define DK_STEP_STDIN    1 /* opening options.stdin_path */
#define DK_STEP_STDOUT   2 /* opening options.stdout_path */
#define DK_STEP_STDERR   3 /* opening options.stderr_path */
#define DK_STEP_WORKDIR  4 /* changing to options.workdir */
#define DK_STEP_PID_FILE 5 /* writing and locking the pid file */
#define DK_STEP_IDS      6 /* switching to options.user and options.group */
#define DK_STEP_EXEC     7 /* dk_exec */
#define DK_STEP_READY    8 /* the daemon called dk_ready with an error */

/* Longest pid file path, made absolute, that a daemonizer can hold. */
#define DK_PATH_MAX 4096

typedef struct dk_options_s {
  const char *pid_file;   /* required, but with DK_FOREGROUND or DK_SERVICE;
                             made absolute before the chdir */
  const char *workdir;    /* NULL: "/" (POSIX), the system drive's root (Windows) */
  const char *stdin_path; /* NULL: the null device */
  const char *stdout_path;/* NULL: the null device; else appended, created if missing */
  const char *stderr_path;/* as stdout_path; may name the same file */
  int umask;              /* -1: 027 */
  const int *keep_fds;    /* POSIX: descriptors that stay open in the daemon;
                             Windows: a count above 0 is UV_ENOTSUP */
  size_t keep_fds_count;
  unsigned timeout_ms;    /* parent's wait for the daemon's report; 0: 30000 */
  unsigned flags;         /* DK_WAIT_READY, DK_FOREGROUND, DK_SERVICE */
  const char *user;       /* POSIX: switch to this user after the pid file;
                             Windows: non-NULL is UV_ENOTSUP */
  const char *group;      /* POSIX: likewise for the group (Windows: likewise) */
  void *reserved[4];      /* room for new options: dk_options_init zeroes it */
} dk_options_t;

typedef struct dk_daemonizer_s dk_daemonizer_t;
typedef struct dk_signals_s dk_signals_t;
typedef void (*dk_signal_cb)(dk_signals_t *sig, int dk_signum);
typedef void (*dk_signals_close_cb)(dk_signals_t *sig);

#define DK__NSIGNALS 6

struct dk_daemonizer_s {
  void *data;
  /* private */
  int role;              /* 0 unset, DK_PARENT or DK_DAEMON */
  unsigned flags;
  uv_pid_t daemon_pid;
  int ready_sent;
  int failed_step;       /* DK_STEP_* */
  char pid_path[DK_PATH_MAX];
  DK_DAEMONIZER_PRIVATE_FIELDS
  void *reserved[4];     /* room for new fields (README "Versioning") */
};

DK_EXTERN void dk_options_init(dk_options_t *opts);

/* 1 in the process the user started, 0 in a daemon relaunched from it
 * (Windows only), <0 on error. */
DK_EXTERN int dk_daemonizer_init(dk_daemonizer_t *dz);
DK_EXTERN int dk_daemonize(dk_daemonizer_t *dz, const dk_options_t *opts,
                           void *payload, size_t payload_len);
/* The daemon's pid, in the parent; after DK_ERUNNING, the pid of the
 * process that holds the pid file (0 if it could not be found). */
DK_EXTERN uv_pid_t dk_daemon_pid(const dk_daemonizer_t *dz);
/* The absolute path of the pid file this daemonizer holds (in the daemon)
 * or asked for (in the parent); NULL if none. */
DK_EXTERN const char *dk_daemonizer_pid_file(const dk_daemonizer_t *dz);
/* After dk_daemonize returned an error: which step failed (DK_STEP_*), so
 * that the caller can name the file, directory or user concerned. */
DK_EXTERN int dk_daemonizer_failed_step(const dk_daemonizer_t *dz);
DK_EXTERN int dk_ready(dk_daemonizer_t *dz, int status);
DK_EXTERN void dk_daemonizer_cleanup(dk_daemonizer_t *dz);
/* In the daemon (POSIX): replaces the process with argv[0] (searched in
 * PATH) run with argv; the program keeps the pid file and its lock. With
 * DK_WAIT_READY not yet answered by dk_ready, the parent's dk_daemonize
 * returns DK_PARENT once the exec succeeded, or exec's error. Returns only
 * on failure. The pid file is not removed when the program exits: it goes
 * stale, which dk_send and dk_pid_file_check tell apart. */
DK_EXTERN int dk_exec(dk_daemonizer_t *dz, char *const argv[]);

struct dk_signals_s {
  void *data;
  /* private */
  uv_loop_t *loop;
  int started;
  int closing;
  int received;
  int acted;                 /* the default handler acted on INT, TERM or ABRT */
  dk_signals_close_cb close_cb;
  uv_idle_t idle;            /* from dk_signals_close: calls close_cb when done */
  int idle_passes;
  dk_signal_cb cbs[DK__NSIGNALS];
  int modes[DK__NSIGNALS];   /* default, callback, ignore */
  DK_SIGNALS_PRIVATE_FIELDS
  void *reserved[4];         /* room for new fields (README "Versioning") */
};

DK_EXTERN int dk_signals_init(uv_loop_t *loop, dk_signals_t *sig, const char *pid_file);
DK_EXTERN int dk_signals_set(dk_signals_t *sig, int dk_signum, dk_signal_cb cb);
DK_EXTERN int dk_signals_ignore(dk_signals_t *sig, int dk_signum);
DK_EXTERN int dk_signals_start(dk_signals_t *sig);
DK_EXTERN int dk_signals_stop(dk_signals_t *sig);
DK_EXTERN void dk_signals_close(dk_signals_t *sig, dk_signals_close_cb close_cb);
DK_EXTERN int dk_signals_received(const dk_signals_t *sig);

DK_EXTERN int dk_send(const char *pid_file, int dk_signum);
/* With 0, *pid is the daemon; with DK_ERUNNING (the file is held by a
 * process other than the one it names), *pid is that holder (0 if it can
 * not be found). */
DK_EXTERN int dk_pid_file_check(const char *pid_file, uv_pid_t *pid);
/* POSIX: the host's own signal number (SIGKILL, SIGQUIT, 0 to probe...),
 * proved as dk_send proves it. Windows: UV_ENOTSUP. */
DK_EXTERN int dk_kill(const char *pid_file, int signum);

/* A sender for a program that signals the same daemon often: the results
 * of dk_send and dk_pid_file_check, with what they proved kept in the
 * caller's struct instead of proved again on every call. POSIX keeps the
 * pid file's descriptor and a pidfd of its holder (Linux 5.3+; O_CLOEXEC
 * both) and checks on each send, with three cheap calls, that the path
 * still names that file, that the file still names that pid and that the
 * pinned process still holds the file's record lock; anything else takes
 * dk_send's full path (see dk_send(3)). Windows keeps nothing: each call
 * is dk_send's or dk_pid_file_check's. Used by one thread at a time. */
typedef struct dk_sender_s dk_sender_t;

struct dk_sender_s {
  void *data;
  /* private */
  DK_SENDER_PRIVATE_FIELDS
  char path[DK_PATH_MAX]; /* as given: a relative one is resolved per call */
  void *reserved[4];      /* room for new fields (README "Versioning") */
};

/* No I/O: copies the path. UV_EINVAL if pid_file is NULL or too long. */
DK_EXTERN int dk_sender_init(dk_sender_t *s, const char *pid_file);
DK_EXTERN int dk_sender_send(dk_sender_t *s, int dk_signum);        /* as dk_send */
DK_EXTERN int dk_sender_check(dk_sender_t *s, uv_pid_t *pid);       /* as dk_pid_file_check */
DK_EXTERN void dk_sender_close(dk_sender_t *s); /* releases the descriptors; idempotent */

/* systemd's protocols (sd_notify(3), sd_watchdog_enabled(3),
 * sd_listen_fds_with_names(3)), without libsystemd. On Windows there is no
 * such supervisor: the functions compile and do nothing (dk_notify 0, no
 * watchdog, no descriptors), so portable programs need no #ifdef. */

/* Sends `state`, newline-separated KEY=VALUE lines ("READY=1",
 * "STATUS=serving"), as one datagram to $NOTIFY_SOCKET (a path, or an
 * abstract name written with a leading '@'). 1 sent; 0 NOTIFY_SOCKET
 * unset (always 0 on Windows); <0 error. It never blocks the loop it is
 * called on: a supervisor whose queue is full is UV_EAGAIN. */
DK_EXTERN int dk_notify(const char *state);
/* "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC now, in us>", for
 * Type=notify-reload; send "READY=1" once the reload is done. */
DK_EXTERN int dk_notify_reloading(void);
DK_EXTERN int dk_notify_stopping(void); /* "STOPPING=1" */

/* The service watchdog (WatchdogSec=) on a loop: while started, a timer
 * sends "WATCHDOG=1" every half interval, so a loop that stops turning
 * stops the pings and systemd restarts the service. The timer is unref'd:
 * it keeps no loop alive. */
typedef struct dk_watchdog_s dk_watchdog_t;
typedef void (*dk_watchdog_close_cb)(dk_watchdog_t *wd);

struct dk_watchdog_s {
  void *data;
  /* private */
  uv_timer_t timer;
  dk_watchdog_close_cb close_cb;
  uint64_t usec;            /* WATCHDOG_USEC while started; 0 otherwise */
  int last_error;           /* of the last ping: the timer has no one to tell */
  DK_WATCHDOG_PRIVATE_FIELDS
  void *reserved[4];        /* room for new fields (README "Versioning") */
};

DK_EXTERN int dk_watchdog_init(uv_loop_t *loop, dk_watchdog_t *wd);
/* 1: the supervisor asked (WATCHDOG_USEC set, WATCHDOG_PID unset or this
 * process) and the pings run; 0: nobody asked, nothing runs; <0: error
 * (UV_EINVAL for a WATCHDOG_USEC or WATCHDOG_PID that is no number). */
DK_EXTERN int dk_watchdog_start(dk_watchdog_t *wd);
DK_EXTERN int dk_watchdog_stop(dk_watchdog_t *wd);
DK_EXTERN void dk_watchdog_close(dk_watchdog_t *wd, dk_watchdog_close_cb close_cb);

/* Socket activation. In: *count is the capacity of fds. Out: the
 * descriptors systemd passed (LISTEN_FDS of them from fd 3, only when
 * LISTEN_PID is this process), named from LISTEN_FDNAMES ("unknown" when
 * unnamed), made close-on-exec, and LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES removed from the environment (unsetenv: call it before
 * threads start). 0 on success (*count 0 when not socket-activated, and
 * always on Windows); UV_ENOBUFS when more were passed than fit (*count
 * says how many; nothing is taken or removed); UV_EINVAL for variables
 * that do not parse or names that do not match the count; UV_EBADF if one
 * of the descriptors is not open. Give them to uv_tcp_open, uv_pipe_open
 * or uv_udp_open. */
#define DK_FDNAME_MAX 255
typedef struct dk_listen_fd_s {
  int fd;
  char name[DK_FDNAME_MAX + 1];
} dk_listen_fd_t;
DK_EXTERN int dk_listen_fds(dk_listen_fd_t *fds, size_t *count);

DK_EXTERN const char *dk_signal_name(int dk_signum);
DK_EXTERN int dk_signal_from_name(const char *s);

DK_EXTERN const char *dk_strerror(int err);
DK_EXTERN const char *dk_err_name(int err);
DK_EXTERN const char *dk_version_string(void);

#ifdef __cplusplus
}
#endif
#endif /* DAEMONIKER_H */
