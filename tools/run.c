/* SPDX-License-Identifier: MIT */
/* daemoniker run: starts a command as a daemon holding its pid file, and
 * says which step failed when one does. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemoniker.h"
#include "tool.h"

/* The pid file when --pidfile is not given: /run for root, else the
 * user's XDG_RUNTIME_DIR, and only if nobody else may write it: in a
 * directory others can write, another user could put a file of their own
 * there first, or replace ours and make the daemon look dead. Without
 * such a directory there is no default. 0, or the usage error's code. */
static int default_pid_file(const char *cmd, char *buf, size_t size) {
  const char *base = strrchr(cmd, '/'), *dir = "/run";
  struct stat st;

  base = base != NULL ? base + 1 : cmd;
  if (geteuid() != 0) {
    dir = getenv("XDG_RUNTIME_DIR");
    if (dir == NULL || dir[0] == '\0')
      return tool_usage_error("%s", "run: no --pidfile given, and XDG_RUNTIME_DIR is not set "
                                    "to give it a default");
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
      return tool_usage_error("run: no --pidfile given, and XDG_RUNTIME_DIR %s is not a "
                              "directory of this user's that only it may write", dir);
  }
  if ((size_t)snprintf(buf, size, "%s/%s.pid", dir, base) >= size)
    return tool_usage_error("run: the default pid file in %s is too long: give --pidfile", dir);
  return 0;
}

/* A command with a slash but not absolute means the caller's directory:
 * made absolute before the daemon changes to its own. */
static int absolute_command(char **argv0, char *buf, size_t size) {
  const char *cmd = *argv0;
  if (strchr(cmd, '/') == NULL || cmd[0] == '/')
    return 0;
  while (cmd[0] == '.' && cmd[1] == '/')
    for (cmd += 2; *cmd == '/'; cmd++)
      ;
  if (getcwd(buf, size) == NULL)
    return -errno;
  if (strlen(buf) + 1 + strlen(cmd) >= size)
    return UV_ENAMETOOLONG;
  strcat(buf, "/");
  strcat(buf, cmd);
  *argv0 = buf;
  return 0;
}

static int parse_ms(const char *s, unsigned *out) {
  unsigned long v;
  if (tool_parse_uint(s, UINT_MAX, &v) < 0)
    return -1;
  *out = (unsigned)v;
  return 0;
}

static const struct option run_options[] = {
  { "pidfile", required_argument, NULL, 'p' }, { "stdout", required_argument, NULL, 'o' },
  { "stderr", required_argument, NULL, 'e' },  { "workdir", required_argument, NULL, 'w' },
  { "user", required_argument, NULL, 'u' },    { "group", required_argument, NULL, 'g' },
  { "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* The failure, named by the step of the daemon's setup it came from. */
static void report_failure(const dk_daemonizer_t *dz, const dk_options_t *opts, const char *cmd,
                           int err) {
  const char *what = NULL, *name = cmd;
  switch (dk_daemonizer_failed_step(dz)) {
  case DK_STEP_STDOUT: what = "stdout", name = opts->stdout_path; break;
  case DK_STEP_STDERR: what = "stderr", name = opts->stderr_path; break;
  case DK_STEP_WORKDIR: what = "workdir", name = opts->workdir; break;
  case DK_STEP_PID_FILE: what = "pid file", name = dk_daemonizer_pid_file(dz); break;
  case DK_STEP_IDS: what = "switching to user", name = opts->user ? opts->user : opts->group; break;
  default:
    if (err == DK_ENOUSER)
      what = opts->user != NULL ? "user" : "group", name = opts->user ? opts->user : opts->group;
    break;
  }
  fprintf(stderr, "daemoniker: run: %s%s%s: %s", what ? what : "", what ? " " : "", name,
          dk_strerror(err));
  if (err == DK_ERUNNING)
    fprintf(stderr, " (pid %ld)", (long)dk_daemon_pid(dz));
  fputc('\n', stderr);
}

int tool_run(int argc, char **argv) {
  char pid_buf[DK_PATH_MAX], cmd_buf[DK_PATH_MAX];
  dk_daemonizer_t dz;
  dk_options_t opts;
  int c, r;

  dk_options_init(&opts);
  opts.flags = DK_WAIT_READY;
  opterr = 0;
  optind = 1;
  /* "+": options end at the command, whose own options are its own. */
  while ((c = getopt_long(argc, argv, "+:h", run_options, NULL)) != -1) {
    if (c == 'h')
      return tool_help();
    if (c == '?' || c == ':')
      return tool_bad_option("run", c, argc, argv);
    if (optarg[0] == '\0')
      return tool_usage_error("run: %s needs a value", argv[optind - 1]);
    switch (c) {
    case 'p': opts.pid_file = optarg; break;
    case 'o': opts.stdout_path = optarg; break;
    case 'e': opts.stderr_path = optarg; break;
    case 'w': opts.workdir = optarg; break;
    case 'u': opts.user = optarg; break;
    case 'g': opts.group = optarg; break;
    case 't':
      if (parse_ms(optarg, &opts.timeout_ms) < 0)
        return tool_usage_error("run: --timeout needs milliseconds, not '%s'", optarg);
      break;
    }
  }
  if (optind >= argc || argv[optind][0] == '\0')
    return tool_usage_error("%s", "run needs a command: run [options] -- CMD [ARG...]");
  argv += optind;
  if (opts.pid_file == NULL && (r = default_pid_file(argv[0], pid_buf, sizeof(pid_buf))) != 0)
    return r;
  if (opts.pid_file == NULL)
    opts.pid_file = pid_buf;
  if ((r = absolute_command(&argv[0], cmd_buf, sizeof(cmd_buf))) < 0) {
    fprintf(stderr, "daemoniker: run: %s: %s\n", argv[0], dk_strerror(r));
    return 1;
  }

  dk_daemonizer_init(&dz);
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r == DK_DAEMON) {
    /* On success this does not return, and the parent's dk_daemonize
     * returns DK_PARENT; on failure the parent got exec's error. */
    dk_exec(&dz, argv);
    _exit(127);
  }
  if (r < 0) {
    report_failure(&dz, &opts, argv[0], r);
    return 1;
  }
  printf("%s started (pid %ld, pid file %s)\n", argv[0], (long)dk_daemon_pid(&dz),
         dk_daemonizer_pid_file(&dz));
  return 0;
}
