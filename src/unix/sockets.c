/* SPDX-License-Identifier: MIT */
/* AF_UNIX sockets made close-on-exec and written without SIGPIPE, with
 * SOCK_CLOEXEC and MSG_NOSIGNAL where the Linux extras are used, and with
 * what POSIX, the BSDs and macOS have otherwise (unix.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unix.h"

#if !DK__LINUX_EXTRAS
static int set_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
    return -1;
#ifdef SO_NOSIGPIPE
  {
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on)) < 0)
      return -1;
  }
#endif
  return 0;
}
#endif

int dk__socket_cloexec(int type) {
#if DK__LINUX_EXTRAS
  return socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
#else
  int fd = socket(AF_UNIX, type, 0), err;
  if (fd >= 0 && set_cloexec(fd) < 0) {
    err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
#endif
}

int dk__socketpair_cloexec(int type, int sv[2]) {
#if DK__LINUX_EXTRAS
  return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv);
#else
  int err;
  if (socketpair(AF_UNIX, type, 0, sv) < 0)
    return -1;
  if (set_cloexec(sv[0]) < 0 || set_cloexec(sv[1]) < 0) {
    err = errno;
    close(sv[0]);
    close(sv[1]);
    errno = err;
    return -1;
  }
  return 0;
#endif
}

/* send() where there is no address (the report channel, which the fault
 * tests reach through send), sendto() where there is. */
static ssize_t send_once(int fd, const void *buf, size_t len, int flags,
                         const struct sockaddr *to, socklen_t to_len) {
  ssize_t n;
  do
    n = to == NULL ? send(fd, buf, len, flags) : sendto(fd, buf, len, flags, to, to_len);
  while (n < 0 && errno == EINTR);
  return n;
}

ssize_t dk__send_nosigpipe(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *to, socklen_t to_len) {
  ssize_t n;
#if DK__LINUX_EXTRAS
  n = send_once(fd, buf, len, flags | MSG_NOSIGNAL, to, to_len);
#elif defined(SO_NOSIGPIPE)
  n = send_once(fd, buf, len, flags, to, to_len);
#else
  /* The SIGPIPE a failed send raises is this thread's: blocked, it stays
   * pending, and is taken with sigwait unless one was pending before
   * (which is not ours to take). */
  sigset_t pipe_only, saved, pending;
  int was_pending, err, sig;

  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &saved);
  sigpending(&pending);
  was_pending = sigismember(&pending, SIGPIPE);
  n = send_once(fd, buf, len, flags, to, to_len);
  err = errno;
  if (n < 0 && err == EPIPE && !was_pending && sigpending(&pending) == 0 &&
      sigismember(&pending, SIGPIPE))
    while (sigwait(&pipe_only, &sig) == EINTR)
      ;
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  errno = err;
#endif
  return n;
}
