/* SPDX-License-Identifier: MIT */
/* A dk daemon with signals started and nothing else: what bench-idle
 * watches for syscalls, wakeups and memory, and what bench-daemonize starts
 * as a whole process.
 *
 *   idle-dk PIDFILE   daemonize (the parent exits 0 once the daemon is
 *                     ready), then block in uv_run until TERM
 *   idle-dk --noop    exit at once: the whole-process floor (same binary,
 *                     same libraries loaded)
 */
#include <stdio.h>
#include <string.h>

#include "daemoniker.h"

int main(int argc, char **argv) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_signals_t sig;
  uv_loop_t *loop;
  int r;

  if (argc != 2) {
    fprintf(stderr, "usage: idle-dk PIDFILE | --noop\n");
    return 2;
  }
  if (strcmp(argv[1], "--noop") == 0)
    return 0;

  dk_daemonizer_init(&dz);
  dk_options_init(&opts);
  opts.pid_file = argv[1];
  opts.flags = DK_WAIT_READY;
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r < 0) {
    fprintf(stderr, "idle-dk: %s\n", dk_strerror(r));
    return 1;
  }
  if (r == DK_PARENT)
    return 0;

  loop = uv_default_loop();
  r = dk_signals_init(loop, &sig, opts.pid_file);
  if (r == 0)
    r = dk_signals_start(&sig); /* INT, TERM, ABRT: the default handler */
  dk_ready(&dz, r);
  if (r < 0)
    return 1;
  uv_run(loop, UV_RUN_DEFAULT); /* blocks until TERM stops the loop */
  dk_signals_close(&sig, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0; /* the pid file is removed at exit */
}
