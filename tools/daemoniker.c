/* daemoniker: the command-line face of the library.
 *
 *   daemoniker send PIDFILE SIGNAL   exit 0 sent, 1 not running or stale,
 *                                    2 usage, bad pid file or refused
 *   daemoniker status PIDFILE        LSB: 0 running, 1 dead but pid file
 *                                    exists, 3 not running, 4 unknown
 *   daemoniker run [options] -- CMD [ARG...]
 *                                    exit 0 once CMD runs as a daemon
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemoniker.h"

static const char usage_text[] =
  "usage: daemoniker send PIDFILE SIGNAL\n"
  "       daemoniker status PIDFILE\n"
  "       daemoniker run [--pidfile F] [--stdout F] [--stderr F] [--workdir D]\n"
  "                      [--user U] [--group G] [--timeout MS] -- CMD [ARG...]\n"
  "       daemoniker --help | --version\n"
  "\n"
  "SIGNAL is INT, TERM, ABRT, HUP, USR1 or USR2, with or without SIG, or its\n"
  "number (15). send signals only the live process that holds the pid file.\n";

static int usage_error(const char *what) {
  fprintf(stderr, "daemoniker: %s (try 'daemoniker --help')\n", what);
  return 2;
}

static int cmd_send(int argc, char **argv) {
  int signum, err;
  if (argc != 2)
    return usage_error("send takes PIDFILE SIGNAL");
  signum = dk_signal_from_name(argv[1]);
  if (signum < 0) {
    fprintf(stderr, "daemoniker: send: unknown signal '%s'\n", argv[1]);
    return 2;
  }
  err = dk_send(argv[0], signum);
  if (err == 0)
    return 0;
  fprintf(stderr, "daemoniker: send: %s: %s\n", argv[0], dk_strerror(err));
  return (err == DK_ESTALE || err == UV_ENOENT) ? 1 : 2;
}

static int cmd_status(int argc, char **argv) {
  uv_pid_t pid;
  int err;
  if (argc != 1)
    return usage_error("status takes PIDFILE");
  err = dk_pid_file_check(argv[0], &pid);
  switch (err) {
  case 0:
    printf("running (pid %ld)\n", (long)pid);
    return 0;
  case DK_ESTALE:
    printf("dead, but the pid file %s is left\n", argv[0]);
    return 1;
  case UV_ENOENT:
    printf("not running\n");
    return 3;
  default:
    printf("unknown: %s: %s\n", argv[0], dk_strerror(err));
    return 4;
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

static int cmd_run(int argc, char **argv) {
  char pid_buf[DK_PATH_MAX];
  dk_daemonizer_t dz;
  dk_options_t opts;
  int i, r;

  dk_options_init(&opts);
  opts.flags = DK_WAIT_READY;
  for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (val == NULL || strcmp(val, "--") == 0) {
      fprintf(stderr, "daemoniker: run: %s needs a value\n", opt);
      return 2;
    }
    if (strcmp(opt, "--pidfile") == 0)
      opts.pid_file = val;
    else if (strcmp(opt, "--stdout") == 0)
      opts.stdout_path = val;
    else if (strcmp(opt, "--stderr") == 0)
      opts.stderr_path = val;
    else if (strcmp(opt, "--workdir") == 0)
      opts.workdir = val;
    else if (strcmp(opt, "--user") == 0)
      opts.user = val;
    else if (strcmp(opt, "--group") == 0)
      opts.group = val;
    else if (strcmp(opt, "--timeout") == 0)
      opts.timeout_ms = (unsigned)strtoul(val, NULL, 10);
    else {
      fprintf(stderr, "daemoniker: run: unknown option '%s'\n", opt);
      return 2;
    }
  }
  if (i + 1 >= argc)
    return usage_error("run needs -- CMD [ARG...]");
  argv += i + 1;
  if (opts.pid_file == NULL)
    opts.pid_file = default_pid_file(argv[0], pid_buf, sizeof(pid_buf));

  dk_daemonizer_init(&dz);
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r == DK_DAEMON) {
    dk_exec(&dz, argv);
    _exit(127); /* the parent was told why */
  }
  if (r < 0) {
    fprintf(stderr, "daemoniker: run: %s: %s\n", argv[0], dk_strerror(r));
    return 1;
  }
  printf("%s started (pid %ld, pid file %s)\n", argv[0], (long)dk_daemon_pid(&dz), opts.pid_file);
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (cmd == NULL)
    return usage_error("no command given");
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
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
  fprintf(stderr, "daemoniker: unknown command '%s' (try 'daemoniker --help')\n", cmd);
  return 2;
}
