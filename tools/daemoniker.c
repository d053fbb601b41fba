/* SPDX-License-Identifier: MIT */
/* daemoniker: the command-line face of the library, for operators, init
 * scripts, cron jobs and deploy scripts.
 *
 *   daemoniker send PIDFILE SIGNAL        signals the daemon holding PIDFILE
 *   daemoniker status PIDFILE             LSB status codes
 *   daemoniker stop [options] PIDFILE     signals it and waits until it is gone
 *   daemoniker run [options] -- CMD ...   starts CMD as a daemon
 *
 * This file has the common parts, send and status; stop.c and run.c the
 * other two. Exit codes are in usage_text, daemoniker(1) explains them.
 */
#include <getopt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemoniker.h"
#include "tool.h"

/* `send` exit codes, and `status`'s, which are LSB's. */
enum { SEND_OK = 0, SEND_NOT_RUNNING = 1, SEND_FAILED = 2 };
enum { LSB_RUNNING = 0, LSB_DEAD_PIDFILE = 1, LSB_NOT_RUNNING = 3, LSB_UNKNOWN = 4 };

static const char usage_text[] =
  "usage: daemoniker send PIDFILE SIGNAL\n"
  "       daemoniker status PIDFILE\n"
  "       daemoniker stop [--signal SIG] [--timeout SECONDS] [--kill] PIDFILE\n"
  "       daemoniker run [--pidfile F] [--stdout F] [--stderr F] [--workdir D]\n"
  "                      [--user U] [--group G] [--timeout MS] [--] CMD [ARG...]\n"
  "       daemoniker --help | --version\n"
  "\n"
  "send    sends SIGNAL to the live process that holds PIDFILE, and only to it\n"
  "status  tells whether a live daemon holds PIDFILE\n"
  "stop    sends SIG (default TERM) as send does, then waits up to SECONDS\n"
  "        (default 10) until no process holds PIDFILE; with --kill, then\n"
  "        sends KILL and waits up to 5 s more\n"
  "run     starts CMD as a daemon that holds the pid file, and returns once\n"
  "        CMD runs; the default pid file is /run/NAME.pid for root and\n"
  "        $XDG_RUNTIME_DIR/NAME.pid for others (no default without it)\n"
  "\n"
  "exit  send        status           stop           run\n"
  "0     sent        running          none holds it  CMD runs\n"
  "1     not running dead, file left  still running  not started (why on stderr)\n"
  "2     usage,      usage            usage,         usage, no default\n"
  "      bad file,                    bad file       pid file\n"
  "      refused\n"
  "3     -           not running      -              -\n"
  "4     -           unknown          -              -\n"
  "\n"
  "SIGNAL is any signal of the host by name, with or without SIG, in any\n"
  "case (TERM, SIGHUP, winch, RTMIN+1), or by number (15; 0 only probes).\n";

int tool_usage_error(const char *fmt, const char *arg) {
  fputs("daemoniker: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs(" (try 'daemoniker --help')\n", stderr);
  return EXIT_USAGE;
}

int tool_help(void) {
  fputs(usage_text, stdout);
  return 0;
}

int tool_parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  unsigned long v;
  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    return -1;
  *out = v;
  return 0;
}

int tool_bad_option(const char *cmd, int c, int argc, char **argv) {
  const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
  char what[64];
  snprintf(what, sizeof(what), c == ':' ? "%s: %%s needs a value" : "%s: bad option '%%s'", cmd);
  return tool_usage_error(what, arg);
}

static const struct option help_only[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };

/* Options of send and status: only --help. Returns the index of the first
 * operand, or -1 and *code when done. */
static int operands(const char *cmd, int argc, char **argv, int *code) {
  int c;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "+:h", help_only, NULL)) != -1) {
    *code = c == 'h' ? tool_help() : tool_bad_option(cmd, c, argc, argv);
    return -1;
  }
  return optind;
}

static int cmd_send(int argc, char **argv) {
  int first, signum, err, code;
  if ((first = operands("send", argc, argv, &code)) < 0)
    return code;
  argv += first;
  if (argc - first != 2 || argv[0][0] == '\0')
    return tool_usage_error("%s", "send takes PIDFILE SIGNAL");
  signum = tool_signal_from_name(argv[1]);
  if (signum < 0)
    return tool_usage_error("send: unknown signal '%s'", argv[1]);
  err = dk_kill(argv[0], signum);
  if (err == 0)
    return SEND_OK;
  if (err == DK_ERUNNING) {
    uv_pid_t holder = 0;
    dk_pid_file_check(argv[0], &holder);
    fprintf(stderr,
            "daemoniker: send: %s: held by pid %ld, which it does not name; nothing sent\n",
            argv[0], (long)holder);
    return SEND_NOT_RUNNING;
  }
  fprintf(stderr, "daemoniker: send: %s: %s\n", argv[0], dk_strerror(err));
  return (err == DK_ESTALE || err == UV_ENOENT) ? SEND_NOT_RUNNING : SEND_FAILED;
}

static int cmd_status(int argc, char **argv) {
  const char *path;
  uv_pid_t pid;
  int first, err, code;
  if ((first = operands("status", argc, argv, &code)) < 0)
    return code;
  if (argc - first != 1 || argv[first][0] == '\0')
    return tool_usage_error("%s", "status takes PIDFILE");
  path = argv[first];
  err = dk_pid_file_check(path, &pid);
  switch (err) {
  case 0:
    printf("running (pid %ld)\n", (long)pid);
    return LSB_RUNNING;
  case DK_ESTALE:
    printf("dead, but the pid file %s is left\n", path);
    return LSB_DEAD_PIDFILE;
  case UV_ENOENT:
    printf("not running\n");
    return LSB_NOT_RUNNING;
  case DK_ERUNNING:
    /* A child of a dead daemon, say, that kept the pid file open: no
     * new start can take the file until that process is gone. */
    printf("unknown: the pid file %s is held by pid %ld, which it does not name\n", path,
           (long)pid);
    return LSB_UNKNOWN;
  default:
    printf("unknown: %s: %s\n", path, dk_strerror(err));
    return LSB_UNKNOWN;
  }
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (cmd == NULL)
    return tool_usage_error("%s", "no command given");
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
    return tool_help();
  if (strcmp(cmd, "--version") == 0) {
    printf("daemoniker %s\n", dk_version_string());
    return 0;
  }
  /* Each command parses its own arguments, argv[0] being its name. */
  if (strcmp(cmd, "send") == 0)
    return cmd_send(argc - 1, argv + 1);
  if (strcmp(cmd, "status") == 0)
    return cmd_status(argc - 1, argv + 1);
  if (strcmp(cmd, "stop") == 0)
    return tool_stop(argc - 1, argv + 1);
  if (strcmp(cmd, "run") == 0)
    return tool_run(argc - 1, argv + 1);
  return tool_usage_error("unknown command '%s'", cmd);
}
