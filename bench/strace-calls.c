/* SPDX-License-Identifier: MIT */
/* strace-calls MODE PIDFILE N: N calls of one kind, for strace -c (bench/strace-calls.sh).
 * rx: daemonize a receiver that ignores USR2; send, sender: N dk_send or
 * dk_sender_send of USR2 to it; daemonize: N dk_daemonize, each daemon
 * exiting at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include "daemoniker.h"
int main(int argc, char **argv) {
  const char *mode = argv[1], *pf = argv[2];
  int n = atoi(argv[3]), i, r;
  dk_sender_t s;
  signal(SIGUSR2, SIG_IGN);
  if (strcmp(mode, "rx") == 0) {
    dk_daemonizer_t dz; dk_options_t o;
    dk_daemonizer_init(&dz); dk_options_init(&o); o.pid_file = pf;
    r = dk_daemonize(&dz, &o, NULL, 0);
    if (r == DK_DAEMON) { signal(SIGUSR2, SIG_IGN); for (;;) pause(); }
    return r == DK_PARENT ? 0 : 1;
  } else if (strcmp(mode, "send") == 0) {
    for (i = 0; i < n; i++) if ((r = dk_send(pf, DK_SIGUSR2)) != 0) { fprintf(stderr, "send %s\n", dk_strerror(r)); return 1; }
  } else if (strcmp(mode, "sender") == 0) {
    dk_sender_init(&s, pf);
    for (i = 0; i < n; i++) if ((r = dk_sender_send(&s, DK_SIGUSR2)) != 0) { fprintf(stderr, "sender %s\n", dk_strerror(r)); return 1; }
    dk_sender_close(&s);
  } else if (strcmp(mode, "daemonize") == 0) {
    for (i = 0; i < n; i++) {
      dk_daemonizer_t dz; dk_options_t o;
      dk_daemonizer_init(&dz); dk_options_init(&o); o.pid_file = pf;
      r = dk_daemonize(&dz, &o, NULL, 0);
      if (r == DK_DAEMON) exit(0);
      if (r != DK_PARENT) { fprintf(stderr, "daemonize %s\n", dk_strerror(r)); return 1; }
      while (access(pf, F_OK) == 0) usleep(1000);
      while (waitpid(-1, NULL, WNOHANG) > 0);
    }
  }
  return 0;
}
