/* A libuv TCP echo server that runs as a daemon.
 *
 *   echo-server --pidfile F --log F [--port N] [--foreground]
 *
 * The parent returns only once the daemon listens (DK_WAIT_READY): a port
 * already in use is the parent's error, not a line in a log nobody reads.
 * SIGTERM and SIGINT close the listener and let open connections finish
 * (their clients close, or a grace period ends, whichever comes first);
 * the loop then runs dry, main returns 0 and the pid file goes with it.
 * SIGHUP reopens the log file, for logrotate. --port 0 picks a free port,
 * which the log names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemoniker.h"

#define GRACE_MS 2000

typedef struct conn_s {
  uv_tcp_t tcp;
  struct conn_s *prev, *next;
} conn_t;

typedef struct {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t grace;
  dk_signals_t sig;
  const char *log_path;
  conn_t *conns;
  int draining;
} server_t;

static server_t server;

static void log_line(const char *fmt, ...) {
  char stamp[32];
  time_t now = time(NULL);
  va_list ap;
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  fprintf(stderr, "%s echo-server[%ld]: ", stamp, (long)getpid());
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

/* stdout and stderr point at the log: reopening means pointing them at
 * whatever file now has its name. */
static void reopen_log(void) {
  int fd = open(server.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    log_line("cannot reopen %s: %s", server.log_path, strerror(errno));
    return;
  }
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
}

static void finish_drain_if_done(void) {
  if (!server.draining || server.conns != NULL)
    return;
  log_line("all connections closed");
  uv_close((uv_handle_t *)&server.grace, NULL);
  dk_signals_close(&server.sig, NULL);
}

static void on_conn_closed(uv_handle_t *handle) {
  conn_t *c = (conn_t *)handle;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    server.conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  free(c);
  finish_drain_if_done();
}

static void on_write(uv_write_t *req, int status) {
  (void)status;
  free(req->data);
  free(req);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  buf->base = malloc(suggested);
  buf->len = buf->base != NULL ? suggested : 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  uv_write_t *req;
  uv_buf_t out;

  if (nread < 0) {
    free(buf->base);
    if (!uv_is_closing((uv_handle_t *)stream))
      uv_close((uv_handle_t *)stream, on_conn_closed);
    return;
  }
  if (nread == 0 || (req = malloc(sizeof(*req))) == NULL) {
    free(buf->base);
    return;
  }
  req->data = buf->base;
  out = uv_buf_init(buf->base, (unsigned)nread);
  if (uv_write(req, stream, &out, 1, on_write) < 0) {
    free(buf->base);
    free(req);
  }
}

static void on_connection(uv_stream_t *listener, int status) {
  conn_t *c;
  if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
    return;
  uv_tcp_init(server.loop, &c->tcp);
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
    free(c);
    return;
  }
  c->next = server.conns;
  if (c->next != NULL)
    c->next->prev = c;
  server.conns = c;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  if (!uv_is_closing((uv_handle_t *)req->handle))
    uv_close((uv_handle_t *)req->handle, on_conn_closed);
  free(req);
}

/* Grace over: replies already queued are sent (uv_shutdown waits for
 * them), then each connection is closed. */
static void on_grace_over(uv_timer_t *timer) {
  conn_t *c;
  (void)timer;
  log_line("grace period over, closing remaining connections");
  for (c = server.conns; c != NULL; c = c->next) {
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (uv_is_closing((uv_handle_t *)&c->tcp))
      free(req);
    else if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
      free(req);
      uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    }
  }
}

static void on_stop_signal(dk_signals_t *sig, int signum) {
  (void)sig;
  if (server.draining)
    return;
  log_line("%s: no new connections, finishing open ones", dk_signal_name(signum));
  server.draining = 1;
  uv_close((uv_handle_t *)&server.listener, NULL);
  uv_timer_start(&server.grace, on_grace_over, GRACE_MS, 0);
  finish_drain_if_done();
}

static void on_hup(dk_signals_t *sig, int signum) {
  (void)sig;
  (void)signum;
  reopen_log();
  log_line("SIGHUP: log file reopened");
}

static int start_listening(int port) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), err;

  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(server.loop, &server.listener);
  err = uv_tcp_bind(&server.listener, (const struct sockaddr *)&addr, 0);
  if (err == 0)
    err = uv_listen((uv_stream_t *)&server.listener, 128, on_connection);
  if (err < 0)
    return err;
  uv_tcp_getsockname(&server.listener, (struct sockaddr *)&bound, &len);
  log_line("listening on 127.0.0.1:%d", ntohs(((struct sockaddr_in *)&bound)->sin_port));
  return 0;
}

static int run_daemon(dk_daemonizer_t *dz, int port) {
  int err;

  server.loop = uv_default_loop();
  uv_timer_init(server.loop, &server.grace);
  err = start_listening(port);
  if (err == 0)
    err = dk_signals_init(server.loop, &server.sig, dz->pid_path);
  if (err == 0) {
    dk_signals_set(&server.sig, DK_SIGTERM, on_stop_signal);
    dk_signals_set(&server.sig, DK_SIGINT, on_stop_signal);
    dk_signals_set(&server.sig, DK_SIGHUP, on_hup);
    err = dk_signals_start(&server.sig);
  }
  if (err < 0) {
    log_line("cannot start: %s", dk_strerror(err));
    dk_ready(dz, err); /* the parent reports it, and this process goes */
    return 1;
  }
  dk_ready(dz, 0);
  uv_run(server.loop, UV_RUN_DEFAULT);
  log_line("stopped, exiting");
  uv_loop_close(server.loop);
  dk_daemonizer_cleanup(dz);
  return 0;
}

int main(int argc, char **argv) {
  dk_daemonizer_t dz;
  dk_options_t opts;
  int i, port = 7007, r;

  dk_options_init(&opts);
  opts.flags = DK_WAIT_READY;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--foreground") == 0)
      opts.flags |= DK_FOREGROUND;
    else if (i + 1 < argc && strcmp(argv[i], "--pidfile") == 0)
      opts.pid_file = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--log") == 0)
      server.log_path = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
      port = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: echo-server --pidfile F --log F [--port N] [--foreground]\n");
      return 2;
    }
  }
  if (opts.pid_file == NULL || server.log_path == NULL) {
    fprintf(stderr, "usage: echo-server --pidfile F --log F [--port N] [--foreground]\n");
    return 2;
  }
  /* The daemon works in "/": a relative log name must be made whole now,
   * or SIGHUP would reopen a file somewhere else. */
  if (server.log_path[0] != '/') {
    static char abs_log[4096];
    char cwd[4000];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
      return 1;
    snprintf(abs_log, sizeof(abs_log), "%s/%s", cwd, server.log_path);
    server.log_path = abs_log;
  }
  opts.stdout_path = server.log_path;
  opts.stderr_path = server.log_path;

  dk_daemonizer_init(&dz);
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r < 0) {
    fprintf(stderr, "echo-server: %s\n", dk_strerror(r));
    return 1;
  }
  if (r == DK_PARENT) {
    printf("echo-server: listening as daemon pid %ld\n", (long)dk_daemon_pid(&dz));
    return 0;
  }
  return run_daemon(&dz, port);
}
