/* SPDX-License-Identifier: MIT */
/* A socket-activated program for test-systemd, run by the real
 * systemd-socket-activate:
 *
 *   activated CAPACITY [self]
 *
 * ("self": it first sets LISTEN_PID to its own pid, for the tests of
 * variables no systemd-socket-activate would pass.)
 * It takes its descriptors with dk_listen_fds(fds, &count) (count =
 * CAPACITY) and prints what it got, one line each:
 *
 *   result=<0 or the error's name> count=<count>
 *   fd=<fd> name=<name> cloexec=<0|1>            (each descriptor taken)
 *   env LISTEN_PID=<value|unset> LISTEN_FDS=... LISTEN_FDNAMES=...
 *   fd3 cloexec=<0|1|closed> fd4 cloexec=...     (as they are now)
 *
 * Then it opens each one with uv_tcp_open, listens, and answers the first
 * client of each with the descriptor's name and a newline; once every one
 * answered a client it exits 0. With nothing taken it exits 0 at once. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemoniker.h"

#define MAX_FDS 1024

typedef struct {
  uv_tcp_t tcp;
  const dk_listen_fd_t *fd;
  uv_buf_t reply;
} listener_t;

static listener_t listeners[MAX_FDS];
static size_t count, served;

static const char *cloexec_of(int fd) {
  int flags = fcntl(fd, F_GETFD);
  return flags < 0 ? "closed" : (flags & FD_CLOEXEC) ? "1" : "0";
}

static const char *env_or_unset(const char *name) {
  const char *v = getenv(name);
  return v != NULL ? v : "unset";
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  uv_close((uv_handle_t *)req->handle, (uv_close_cb)free);
  free(req);
}

static void on_connection(uv_stream_t *server, int status) {
  listener_t *l = server->data;
  uv_tcp_t *client;
  uv_write_t *req;

  if (status < 0 || (client = malloc(sizeof(*client))) == NULL)
    return;
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, (uv_stream_t *)client) < 0 || (req = malloc(sizeof(*req))) == NULL) {
    uv_close((uv_handle_t *)client, (uv_close_cb)free);
    return;
  }
  uv_write(req, (uv_stream_t *)client, &l->reply, 1, on_written);
  /* One client each: then the listener goes, and with the last one the
   * loop runs dry. */
  uv_close((uv_handle_t *)server, NULL);
  if (++served == count)
    printf("served every socket\n");
}

int main(int argc, char **argv) {
  static dk_listen_fd_t fds[MAX_FDS];
  static char replies[MAX_FDS][DK_FDNAME_MAX + 2];
  uv_loop_t *loop;
  size_t i;
  int err;

  if (argc < 2 || argc > 3 || (count = strtoul(argv[1], NULL, 10)) > MAX_FDS)
    return 2;
  if (argc == 3) {
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  err = dk_listen_fds(fds, &count);
  printf("result=%s count=%zu\n", err == 0 ? "0" : dk_err_name(err), count);
  if (err == 0)
    for (i = 0; i < count; i++)
      printf("fd=%d name=%s cloexec=%s\n", fds[i].fd, fds[i].name, cloexec_of(fds[i].fd));
  printf("env LISTEN_PID=%s LISTEN_FDS=%s LISTEN_FDNAMES=%s\n", env_or_unset("LISTEN_PID"),
         env_or_unset("LISTEN_FDS"), env_or_unset("LISTEN_FDNAMES"));
  printf("fd3 cloexec=%s fd4 cloexec=%s\n", cloexec_of(3), cloexec_of(4));
  if (err < 0)
    return 0;
  /* Only now: the loop's own descriptors would take 3 and 4. */
  loop = uv_default_loop();
  for (i = 0; i < count; i++) {
    listener_t *l = &listeners[i];
    l->fd = &fds[i];
    snprintf(replies[i], sizeof(replies[i]), "%s\n", fds[i].name);
    l->reply = uv_buf_init(replies[i], (unsigned)strlen(replies[i]));
    uv_tcp_init(loop, &l->tcp);
    l->tcp.data = l;
    err = uv_tcp_open(&l->tcp, fds[i].fd);
    if (err == 0)
      err = uv_listen((uv_stream_t *)&l->tcp, 16, on_connection);
    if (err < 0) {
      printf("fd %d: uv_tcp_open/uv_listen: %s\n", fds[i].fd, uv_strerror(err));
      return 1;
    }
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
