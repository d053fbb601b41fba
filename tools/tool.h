/* SPDX-License-Identifier: MIT */
/* What the commands of the daemoniker tool share (daemoniker.c). */
#ifndef DK_TOOL_H
#define DK_TOOL_H

/* Usage errors of every command exit 2. */
#define EXIT_USAGE 2

/* Prints "daemoniker: <fmt with arg> (try 'daemoniker --help')" on one line
 * of stderr; returns EXIT_USAGE. */
int tool_usage_error(const char *fmt, const char *arg);
/* Prints the usage on stdout; returns 0. */
int tool_help(void);
/* getopt_long's complaint about argv, as one usage error of `cmd`. */
int tool_bad_option(const char *cmd, int c, int argc, char **argv);
/* A whole decimal number from 0 to max, nothing before or after it: 0 and
 * *out, or -1. */
int tool_parse_uint(const char *s, unsigned long max, unsigned long *out);

/* signame.c: a host signal from its name (TERM, SIGTERM, term, RTMIN+2)
 * or number (15, 0); -1 if the host has no such signal. */
int tool_signal_from_name(const char *s);

int tool_stop(int argc, char **argv);  /* stop.c */
int tool_run(int argc, char **argv);   /* run.c */

#endif
