/* daemoniker: the command-line face of the library.
 *
 *   daemoniker send PIDFILE SIGNAL   exit 0 sent, 1 not running or stale,
 *                                    2 usage, bad pid file or refused
 *   daemoniker status PIDFILE        LSB: 0 running, 1 dead but pid file
 *                                    exists, 3 not running, 4 unknown
 *   daemoniker run [options] -- CMD [ARG...]
 *                                    exit 0 once CMD runs as a daemon,
 *                                    1 with the reason if it does not
 *
 * Usage errors exit 2 with one line on stderr. See daemoniker(1).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemoniker.h"

/* `send` and `status` exit codes. */
enum { SEND_OK = 0, SEND_NOT_RUNNING = 1, SEND_FAILED = 2 };
enum { LSB_RUNNING = 0, LSB_DEAD_PIDFILE = 1, LSB_NOT_RUNNING = 3, LSB_UNKNOWN = 4 };
#define EXIT_USAGE 2

static const char usage_text[] =
  "usage: daemoniker send PIDFILE SIGNAL\n"
  "       daemoniker status PIDFILE\n"
  "       daemoniker run [--pidfile F] [--stdout F] [--stderr F] [--workdir D]\n"
  "                      [--user U] [--group G] [--timeout MS] [--] CMD [ARG...]\n"
  "       daemoniker --help | --version\n"
  "\n"
  "send    signals the live process that holds PIDFILE; exit 0 sent,\n"
  "        1 not running or stale pid file (nobody is signalled), 2 otherwise\n"
  "status  LSB exit codes: 0 running, 1 dead but the pid file is left,\n"
  "        3 not running, 4 unknown (unreadable or garbled pid file)\n"
  "run     starts CMD as a daemon that holds the pid file; exit 0 once CMD\n"
  "        runs, 1 with the reason if it could not be started\n"
  "\n"
  "SIGNAL is INT, TERM, ABRT, HUP, USR1 or USR2, with or without SIG, in\n"
  "any case, or its number (15 is TERM).\n";

static int usage_error(const char *fmt, const char *arg) {
  fputs("daemoniker: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs(" (try 'daemoniker --help')\n", stderr);
  return EXIT_USAGE;
}

static int is_help(const char *arg) {
  return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static int cmd_send(int argc, char **argv) {
  int signum, err;
  if (argc == 1 && is_help(argv[0])) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (argc != 2)
    return usage_error("%s", "send takes PIDFILE SIGNAL");
  signum = dk_signal_from_name(argv[1]);
  if (signum < 0)
    return usage_error("send: unknown signal '%s'", argv[1]);
  err = dk_send(argv[0], signum);
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
  uv_pid_t pid;
  int err;
  if (argc == 1 && is_help(argv[0])) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (argc != 1)
    return usage_error("%s", "status takes PIDFILE");
  err = dk_pid_file_check(argv[0], &pid);
  switch (err) {
  case 0:
    printf("running (pid %ld)\n", (long)pid);
    return LSB_RUNNING;
  case DK_ESTALE:
    printf("dead, but the pid file %s is left\n", argv[0]);
    return LSB_DEAD_PIDFILE;
  case UV_ENOENT:
    printf("not running\n");
    return LSB_NOT_RUNNING;
  case DK_ERUNNING:
    /* A child of a dead daemon, say, that kept the pid file open: no
     * new start can take the file until that process is gone. */
    printf("unknown: the pid file %s is held by pid %ld, which it does not name\n", argv[0],
           (long)pid);
    return LSB_UNKNOWN;
  default:
    printf("unknown: %s: %s\n", argv[0], dk_strerror(err));
    return LSB_UNKNOWN;
  }
}

/* The pid file when --pidfile is not given: where a daemon of this user
 * would keep it. */
static const char *default_pid_file(const char *cmd, char *buf, size_t size) {
  const char *base = strrchr(cmd, '/'), *dir;
  base = base != NULL ? base + 1 : cmd;
  if (geteuid() == 0)
    dir = "/run";
  else if ((dir = getenv("XDG_RUNTIME_DIR")) == NULL || dir[0] == '\0')
    dir = (dir = getenv("TMPDIR")) != NULL && dir[0] != '\0' ? dir : "/tmp";
  snprintf(buf, size, "%s/%s.pid", dir, base);
  return buf;
}

static int parse_ms(const char *s, unsigned *out) {
  char *end;
  unsigned long v;
  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > UINT_MAX)
    return -1;
  *out = (unsigned)v;
  return 0;
}

/* Options of `run`, as "--name VALUE" or "--name=VALUE". */
static const char *const run_options[] = {
  "--pidfile", "--stdout", "--stderr", "--workdir", "--user", "--group", "--timeout", NULL
};

static int cmd_run(int argc, char **argv) {
  char pid_buf[DK_PATH_MAX];
  dk_daemonizer_t dz;
  dk_options_t opts;
  int i, r;

  dk_options_init(&opts);
  opts.flags = DK_WAIT_READY;
  for (i = 0; i < argc; i++) {
    const char *arg = argv[i], *val, *eq;
    size_t name_len;
    int k;

    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    }
    if (arg[0] != '-')
      break; /* CMD starts here */
    if (is_help(arg)) {
      fputs(usage_text, stdout);
      return 0;
    }
    eq = strchr(arg, '=');
    name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    for (k = 0; run_options[k] != NULL; k++)
      if (strlen(run_options[k]) == name_len && strncmp(arg, run_options[k], name_len) == 0)
        break;
    if (run_options[k] == NULL)
      return usage_error("run: unknown option '%s'", arg);
    if (eq != NULL)
      val = eq + 1;
    else if (i + 1 < argc)
      val = argv[++i];
    else
      return usage_error("run: %s needs a value", arg);
    if (val[0] == '\0')
      return usage_error("run: %s needs a value", run_options[k]);

    switch (k) {
    case 0: opts.pid_file = val; break;
    case 1: opts.stdout_path = val; break;
    case 2: opts.stderr_path = val; break;
    case 3: opts.workdir = val; break;
    case 4: opts.user = val; break;
    case 5: opts.group = val; break;
    case 6:
      if (parse_ms(val, &opts.timeout_ms) < 0)
        return usage_error("run: --timeout needs milliseconds, not '%s'", val);
      break;
    }
  }
  if (i >= argc || argv[i][0] == '\0')
    return usage_error("%s", "run needs a command: run [options] -- CMD [ARG...]");
  argv += i;
  if (opts.pid_file == NULL)
    opts.pid_file = default_pid_file(argv[0], pid_buf, sizeof(pid_buf));

  dk_daemonizer_init(&dz);
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r == DK_DAEMON) {
    /* On success this does not return, and the parent's dk_daemonize
     * returns DK_PARENT; on failure the parent got exec's error. */
    dk_exec(&dz, argv);
    _exit(127);
  }
  if (r == DK_ERUNNING) {
    fprintf(stderr, "daemoniker: run: %s: %s: %s (pid %ld)\n", argv[0], opts.pid_file,
            dk_strerror(r), (long)dk_daemon_pid(&dz));
    return 1;
  }
  if (r < 0) {
    fprintf(stderr, "daemoniker: run: %s: %s\n", argv[0], dk_strerror(r));
    return 1;
  }
  printf("%s started (pid %ld, pid file %s)\n", argv[0], (long)dk_daemon_pid(&dz),
         opts.pid_file);
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (cmd == NULL)
    return usage_error("%s", "no command given");
  if (is_help(cmd) || strcmp(cmd, "help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("daemoniker %s\n", dk_version_string());
    return 0;
  }
  if (strcmp(cmd, "send") == 0)
    return cmd_send(argc - 2, argv + 2);
  if (strcmp(cmd, "status") == 0)
    return cmd_status(argc - 2, argv + 2);
  if (strcmp(cmd, "run") == 0)
    return cmd_run(argc - 2, argv + 2);
  return usage_error("unknown command '%s'", cmd);
}
