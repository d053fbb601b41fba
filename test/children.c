/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "children.h"
#include "procs.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int dk_test_reap_all(int timeout_ms, pid_t pid, int *status) {
  long long deadline = dk_test_now_ms() + timeout_ms;
  struct signalfd_siginfo info;
  sigset_t chld, saved;
  int sfd, n = 0;

  /* Blocked before the first waitpid: a child that exits after it makes
   * SIGCHLD pending, and the signalfd readable. */
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &saved);
  sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  for (;;) {
    struct pollfd p;
    long long left;
    int st = 0;
    pid_t r = waitpid(-1, &st, WNOHANG | __WALL);
    if (r > 0) {
      if (r == pid && status != NULL)
        *status = st;
      n++;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) /* ECHILD: nobody left */
      break;
    left = deadline - dk_test_now_ms();
    if (left <= 0 || sfd < 0) {
      n = -1;
      break;
    }
    p.fd = sfd;
    p.events = POLLIN;
    if (poll(&p, 1, (int)left) > 0)
      while (read(sfd, &info, sizeof(info)) > 0)
        ;
  }
  if (sfd >= 0)
    close(sfd);
  sigprocmask(SIG_SETMASK, &saved, NULL);
  return n;
}
