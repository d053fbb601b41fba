/* SPDX-License-Identifier: MIT */
/* The Python Daemoniker README's usage, in C: daemonize with a pid file,
 * handle signals on the loop, and send them from another process.
 *
 *   signals-demo start PIDFILE [LOGFILE]  daemonize; log to LOGFILE (else nowhere)
 *   signals-demo send PIDFILE SIGNAL      SIGNAL: INT, TERM, ABRT, HUP, USR1, USR2 or a number
 *
 * The daemon keeps the default handlers for TERM and ABRT (uv_run returns,
 * main cleans up), replaces SIGINT's with its own that logs and stops, and
 * logs HUP. Its pid file goes when it exits.
 */
#include <stdio.h>
#include <string.h>

#include "daemoniker.h"

/* What the setup code hands to the daemon (Python: daemonizer(pid, args)). */
struct payload {
  char greeting[64];
};

static void say(const char *what, int dk_signum) {
  printf("daemon: %s %s\n", what, dk_signal_name(dk_signum));
  fflush(stdout); /* a file, not a terminal: no line buffering */
}

/* Python: sighandler.sigint = handle_sigint. Runs on the loop's thread,
 * inside uv_run: anything may be done here, not only async-signal-safe. */
static void on_sigint(dk_signals_t *sig, int dk_signum) {
  say("custom handler got", dk_signum);
  uv_stop(sig->data); /* the loop: uv_run returns to main */
}

static void on_sighup(dk_signals_t *sig, int dk_signum) {
  (void)sig;
  say("got", dk_signum);
}

static int send_signal(const char *pid_file, const char *name) {
  int signum = dk_signal_from_name(name), err;
  if (signum < 0) {
    fprintf(stderr, "signals-demo: unknown signal %s\n", name);
    return 2;
  }
  /* Python: send(pid_file, SIGINT). Only a live daemon holding the pid
   * file is signalled: a stale file's pid, maybe reused, is left alone. */
  err = dk_send(pid_file, signum);
  if (err == 0) {
    printf("sent %s to the daemon of %s\n", dk_signal_name(signum), pid_file);
    return 0;
  }
  fprintf(stderr, "signals-demo: %s: %s\n", pid_file, dk_strerror(err));
  return err == UV_ENOENT || err == DK_ESTALE ? 1 : 2;
}

int main(int argc, char **argv) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_signals_t sig;
  struct payload p;
  uv_loop_t *loop;
  int r;

  if (argc == 4 && strcmp(argv[1], "send") == 0)
    return send_signal(argv[2], argv[3]);
  if ((argc != 3 && argc != 4) || strcmp(argv[1], "start") != 0) {
    fprintf(stderr, "usage: signals-demo start PIDFILE [LOGFILE]\n"
                    "       signals-demo send PIDFILE SIGNAL\n");
    return 2;
  }

  /* Python: with Daemonizer() as (is_setup, daemonizer): if is_setup: ... */
  if (dk_daemonizer_init(&dz) == 1) /* setup code: only where the user started us */
    snprintf(p.greeting, sizeof(p.greeting), "hello from the setup code");
  dk_options_init(&opts);
  opts.pid_file = argv[2];
  opts.stdout_path = argc == 4 ? argv[3] : NULL;
  opts.stderr_path = opts.stdout_path;

  r = dk_daemonize(&dz, &opts, &p, sizeof(p));
  if (r == DK_PARENT) { /* Python: if is_parent: parent_only_code() */
    printf("daemon %ld started, pid file %s\n", (long)dk_daemon_pid(&dz), argv[2]);
    return 0;
  }
  if (r < 0) {
    fprintf(stderr, "signals-demo: %s\n", dk_strerror(r));
    return 1;
  }

  /* The daemon: Python's code_continues_here(). */
  printf("daemon: running, payload says \"%s\"\n", p.greeting);
  loop = uv_default_loop();
  /* Python: sighandler = SignalHandler1(pid_file); sighandler.start() */
  dk_signals_init(loop, &sig, argv[2]);
  sig.data = loop;
  dk_signals_start(&sig);
  /* Handlers may change at any time, also after the start. */
  dk_signals_set(&sig, DK_SIGINT, on_sigint);
  dk_signals_set(&sig, DK_SIGHUP, on_sighup);

  uv_run(loop, UV_RUN_DEFAULT); /* sleeps until a signal comes: no polling */

  if (dk_signals_received(&sig) != 0)
    say("default handler stopped on", dk_signals_received(&sig));
  dk_signals_close(&sig, NULL);
  uv_run(loop, UV_RUN_DEFAULT); /* let the close complete */
  uv_loop_close(loop);
  printf("daemon: bye\n");
  return 0; /* exit() removes the pid file */
}
