/* SPDX-License-Identifier: MIT */
/* Shared between the portable files and each platform's half. Not installed. */
#ifndef DK_INTERNAL_H
#define DK_INTERNAL_H

/* libtool compiles the Windows DLL's objects with DLL_EXPORT, the static
 * library's without: the DLL's export the public functions (DK_EXTERN).
 * Every file of the library includes this one before daemoniker.h. */
#if defined(_WIN32) && defined(DLL_EXPORT) && !defined(DK_BUILDING_SHARED)
# define DK_BUILDING_SHARED
#endif
#include "daemoniker.h"

/* Index 0..5 of a DK signal in per-signal arrays, or -1 if it is not one. */
int dk__signal_index(int dk_signum);
int dk__signal_at(int index);

/* Parses a pid file's whole content strictly: decimal digits, an optional
 * single trailing newline, nothing else, value > 1 and fitting a pid.
 * Returns 0 and *pid, or DK_EBADPIDFILE. */
int dk__pid_parse(const char *buf, size_t len, long *pid);

/* Formats a pid as "<pid>\n" into buf without allocating (safe after fork).
 * Returns the length written. buf must hold 24 bytes. */
size_t dk__pid_format(long pid, char *buf);

/* Longest pid file we read: a pid and a newline, with room to spare so that
 * "too long" is told apart from "fits". */
#define DK__PIDFILE_MAX 32

#define DK__DEFAULT_TIMEOUT_MS 30000u
#define DK__DEFAULT_UMASK 027

/* What a daemon tells the parent that started it, on either platform: one
 * fixed-size message per send, so messages from two writers never mix. */
enum { DK__REPORT_PID = 1, DK__REPORT_RESULT = 2, DK__REPORT_EXEC = 3, DK__REPORT_STEP = 4 };
struct dk__report {
  int kind;  /* DK__REPORT_* */
  int value; /* PID: the daemon's pid; RESULT: 0 or a negative code;
              * STEP (POSIX, just before an error RESULT): DK_STEP_* */
  int pid;   /* the sender's pid */
};

/* daemonizer.c: checks, and registers the exit-time cleanup. */
int dk__daemonize_begin(dk_daemonizer_t *dz, const void *payload, size_t payload_len);
/* Each platform's: removes the pid file this process holds, if any; and
 * tells whoever waits (parent, supervisor) the daemon's dk_ready status. */
void dk__pidfile_drop(void);
int dk__report_ready(dk_daemonizer_t *dz, int status);

/* Checks what both platforms require of options; 0 or UV_EINVAL. */
int dk__options_check(const dk_options_t *opts);

/* Signals, portable part (signals.c). The platform keeps its watchers in
 * line with sig->modes and sig->started in dk__signals_sync. */
int dk__signals_is_watched(const dk_signals_t *sig, int index);
/* 1 for INT, TERM and ABRT at the default once the default acted on one:
 * caught (a later one can not kill the cleanup) and otherwise dropped. */
int dk__signals_after_default(const dk_signals_t *sig, int index);
/* Closing, the part both platforms share: once the platform closed its
 * handles, calls sig->close_cb when libuv is done with every one of them. */
void dk__signals_close_later(dk_signals_t *sig);
void dk__signals_dispatch(dk_signals_t *sig, int index);
int dk__signals_sync(dk_signals_t *sig, int index);

/* pending.c: the waiter thread's hand-over to the loop (Windows), kept
 * portable so it is tested on every platform: the waiter marks, the loop
 * takes. */
void dk__pending_mark(long *pending, int index);
int dk__pending_take(long *pending, int index);
void dk__signals_dispatch_pending(dk_signals_t *sig, long *pending);

/* Each platform's: the watchdog interval the supervisor asked of this
 * process (WATCHDOG_USEC, when WATCHDOG_PID is unset or names it) in *usec;
 * 1 if asked, 0 if not (always on Windows), UV_EINVAL if the variables do
 * not parse. */
int dk__watchdog_asked(unsigned long long *usec);

/* Signal handler modes in dk_signals_t.modes. */
enum { DK__MODE_DEFAULT = 0, DK__MODE_CALLBACK, DK__MODE_IGNORE };

#endif
