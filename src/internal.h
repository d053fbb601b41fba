/* Shared between the portable files and each platform's half. Not installed. */
#ifndef DK_INTERNAL_H
#define DK_INTERNAL_H

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

/* Signal handler modes in dk_signals_t.modes. */
enum { DK__MODE_DEFAULT = 0, DK__MODE_CALLBACK, DK__MODE_IGNORE };

#endif
