/* SPDX-License-Identifier: MIT */
/* A libuv TCP echo server on 127.0.0.1 that runs as a daemon.
 *
 *   echo-server --pidfile F --log F [--port N] [--grace MS]
 *   echo-server --foreground [--pidfile F] [--log F] [--port N] [--grace MS]
 *   echo-server --service [--pidfile F] [--log F] [--port N] [--grace MS]
 *
 * The parent returns only once the daemon listens (DK_WAIT_READY): a port
 * already in use is the parent's error, not a line in a log nobody reads.
 * With --foreground it does not detach and needs no pid file (for a
 * supervisor), and without --log its log lines go to the stderr it was
 * given. --service is --foreground under systemd, and on Windows makes it
 * the SCM's service: RUNNING once it listens, `sc stop` as SIGTERM (README
 * "Services").
 *
 * Under systemd (examples/echo-server.service, Type=notify-reload): given
 * sockets (echo-server.socket), it serves those instead of listening
 * itself; it reports READY=1 once it listens, STATUS= with the connections
 * served, RELOADING=1 then READY=1 around a SIGHUP and STOPPING=1 at
 * SIGTERM; and with WatchdogSec= its loop pings the watchdog.
 *
 * SIGTERM and SIGINT close the listener and let open connections finish:
 * each is served until its client closes it or the grace period (--grace,
 * 2000 ms) ends; then the server shuts down its sending side after the
 * replies already queued, and closes once the client closed too (or after
 * another grace period). A second SIGTERM or SIGINT closes at once. The loop
 * then runs dry, main returns 0 and the pid file goes with it.
 * A client that leaves without reading its echo costs its connection only:
 * dk_signals_start made SIGPIPE ignored, so the write fails with UV_EPIPE.
 * SIGHUP reopens the log file, for logrotate (systemd's reload). --port 0 picks a free port,
 * which the log names. Every event is logged with a UTC timestamp.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemoniker.h"
#ifdef _WIN32
#include <io.h> /* dup2, write */
#define STDOUT_FILENO 1
#define STDERR_FILENO 2
#else
#include <unistd.h>
#endif

#define DEFAULT_PORT 7007
#define DEFAULT_GRACE_MS 2000
/* Back-pressure: a client that sends faster than it reads is not read
 * while more than this much of its echo is waiting to be sent. */
#define HIGH_WATER (1u << 20)
#define MAX_LISTENERS 8

typedef struct conn_s {
  uv_tcp_t tcp;
  struct conn_s *prev, *next;
  char peer[64];
  unsigned long long echoed;
  int paused;   /* reading stopped for back-pressure */
  int shut;     /* our sending side is shut down: input is discarded */
} conn_t;

typedef struct {
  uv_loop_t *loop;
  uv_tcp_t listeners[MAX_LISTENERS];
  size_t nlisteners;
  uv_timer_t timer;
  dk_signals_t sig;
  dk_watchdog_t watchdog;
  unsigned long long served; /* connections accepted */
  unsigned open;             /* connections not yet closed */
  const char *log_path; /* NULL: log to the stderr we were given */
  conn_t *conns;
  unsigned grace_ms;
  int draining;
} server_t;

static server_t server;

/* The calendar in UTC, the reentrant way each system spells it. */
static void utc_time(time_t t, struct tm *tm) {
#ifdef _WIN32
  gmtime_s(tm, &t);
#else
  gmtime_r(&t, tm);
#endif
}

static void write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    int n = (int)write(fd, p, (unsigned)len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* nowhere to log to: nobody to tell */
    p += n;
    len -= (size_t)n;
  }
}

/* One write per line to descriptor 2: the log (or the stderr we were
 * given), as the library redirected it and SIGHUP reopens it. Not through
 * the C stream stderr: in a Windows service that stream is tied to no
 * descriptor at all. */
static void log_line(const char *fmt, ...) {
  char line[PATH_MAX + 256], stamp[32];
  uv_timeval64_t now;
  struct tm tm;
  va_list ap;
  int head, body;
  size_t len;

  uv_gettimeofday(&now);
  utc_time((time_t)now.tv_sec, &tm);
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  head = snprintf(line, sizeof(line), "%s.%03ldZ echo-server[%ld]: ", stamp,
                  (long)now.tv_usec / 1000, (long)uv_os_getpid());
  va_start(ap, fmt);
  body = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap);
  va_end(ap);
  len = (size_t)head + (body > 0 ? (size_t)body : 0);
  if (len > sizeof(line) - 2)
    len = sizeof(line) - 2; /* cut short, still one line */
  line[len++] = '\n';
  write_all(STDERR_FILENO, line, len);
}

/* stdout and stderr point at the log: reopening means pointing them at
 * whatever file now has its name. */
static void reopen_log(void) {
  uv_fs_t req;
  int fd;
  if (server.log_path == NULL) {
    log_line("SIGHUP: no log file to reopen");
    return;
  }
  /* libuv's open: close-on-exec (not inherited) and, on Windows, shared
   * for delete, so that the log can be renamed while open. */
  fd = uv_fs_open(NULL, &req, server.log_path, UV_FS_O_WRONLY | UV_FS_O_APPEND | UV_FS_O_CREAT,
                  0640, NULL);
  uv_fs_req_cleanup(&req);
  if (fd < 0) {
    log_line("SIGHUP: cannot reopen %s: %s", server.log_path, uv_strerror(fd));
    return;
  }
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  uv_fs_close(NULL, &req, fd, NULL);
  uv_fs_req_cleanup(&req);
  log_line("SIGHUP: log file reopened");
}

/* For systemctl status; nothing to do if no supervisor asked. */
static void report_status(void) {
  char state[96];
  snprintf(state, sizeof(state), "STATUS=%llu connections served, %u open", server.served,
           server.open);
  dk_notify(state);
}

static void finish_drain_if_done(void) {
  if (!server.draining || server.conns != NULL)
    return;
  log_line("all connections closed");
  uv_close((uv_handle_t *)&server.timer, NULL);
  dk_watchdog_close(&server.watchdog, NULL);
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
  log_line("connection from %s closed, %llu bytes echoed", c->peer, c->echoed);
  free(c);
  server.open--;
  report_status();
  finish_drain_if_done();
}

static void close_conn(conn_t *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  buf->base = malloc(suggested);
  buf->len = buf->base != NULL ? suggested : 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status) {
  conn_t *c = (conn_t *)req->handle;
  free(req->data);
  free(req);
  if (status < 0) {
    if (status != UV_ECANCELED)
      close_conn(c);
    return;
  }
  if (c->paused && c->tcp.write_queue_size < HIGH_WATER / 4 &&
      !uv_is_closing((uv_handle_t *)&c->tcp)) {
    c->paused = 0;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = (conn_t *)stream;
  uv_write_t *req;
  uv_buf_t out;

  if (nread < 0) {
    free(buf->base);
    close_conn(c); /* the client closed (EOF) or the connection broke */
    return;
  }
  if (nread == 0 || c->shut) {
    free(buf->base); /* nothing read; or read after we shut down: dropped */
    return;
  }
  if ((req = malloc(sizeof(*req))) == NULL) {
    free(buf->base);
    close_conn(c); /* an echo server that drops bytes is broken: say so */
    return;
  }
  req->data = buf->base;
  out = uv_buf_init(buf->base, (unsigned)nread);
  if (uv_write(req, stream, &out, 1, on_write) < 0) {
    free(buf->base);
    free(req);
    close_conn(c);
    return;
  }
  c->echoed += (unsigned long long)nread;
  if (stream->write_queue_size > HIGH_WATER) {
    c->paused = 1;
    uv_read_stop(stream);
  }
}

static void free_handle(uv_handle_t *handle) {
  free(handle);
}

static void on_connection(uv_stream_t *listener, int status) {
  struct sockaddr_storage peer;
  int len = sizeof(peer);
  conn_t *c;

  if (status < 0) {
    log_line("accept: %s", uv_strerror(status));
    return;
  }
  if ((c = calloc(1, sizeof(*c))) == NULL)
    return;
  uv_tcp_init(server.loop, &c->tcp);
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
    uv_close((uv_handle_t *)&c->tcp, free_handle);
    return;
  }
  snprintf(c->peer, sizeof(c->peer), "?");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len) == 0) {
    char ip[INET6_ADDRSTRLEN] = "?";
    uv_ip4_name((const struct sockaddr_in *)&peer, ip, sizeof(ip));
    snprintf(c->peer, sizeof(c->peer), "%s:%d", ip,
             ntohs(((const struct sockaddr_in *)&peer)->sin_port));
  }
  c->next = server.conns;
  if (c->next != NULL)
    c->next->prev = c;
  server.conns = c;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  log_line("connection from %s", c->peer);
  server.served++;
  server.open++;
  report_status();
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn_t *c = (conn_t *)req->handle;
  free(req);
  /* Done: every queued reply was sent, then our FIN. Wait for the
   * client's, so that closing does not reset what it still reads. */
  if (status < 0 && status != UV_ECANCELED)
    close_conn(c);
}

static void on_linger_over(uv_timer_t *timer) {
  conn_t *c;
  (void)timer;
  log_line("clients did not close: closing their connections");
  for (c = server.conns; c != NULL; c = c->next)
    close_conn(c);
}

/* Grace over: each connection sends what is queued, then our FIN; what the
 * client still sends is dropped, and its close ends the connection. */
static void on_grace_over(uv_timer_t *timer) {
  conn_t *c;
  log_line("grace period over, shutting down remaining connections");
  for (c = server.conns; c != NULL; c = c->next) {
    uv_shutdown_t *req;
    if (uv_is_closing((uv_handle_t *)&c->tcp) || c->shut)
      continue;
    c->shut = 1;
    if (c->paused) {
      c->paused = 0;
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
    req = malloc(sizeof(*req));
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
      free(req);
      close_conn(c);
    }
  }
  uv_timer_start(timer, on_linger_over, server.grace_ms, 0);
}

static void on_stop_signal(dk_signals_t *sig, int signum) {
  conn_t *c;
  size_t i;
  (void)sig;
  if (server.draining) {
    log_line("%s again: closing every connection now", dk_signal_name(signum));
    for (c = server.conns; c != NULL; c = c->next)
      close_conn(c);
    return;
  }
  log_line("%s: no new connections, finishing open ones", dk_signal_name(signum));
  dk_notify_stopping();
  server.draining = 1;
  for (i = 0; i < server.nlisteners; i++)
    uv_close((uv_handle_t *)&server.listeners[i], NULL);
  uv_timer_start(&server.timer, on_grace_over, server.grace_ms, 0);
  finish_drain_if_done();
}

/* systemd's Type=notify-reload sends SIGHUP and waits for RELOADING=1,
 * then READY=1 once the reload is done. */
static void on_hup(dk_signals_t *sig, int signum) {
  (void)sig;
  (void)signum;
  dk_notify_reloading();
  reopen_log();
  dk_notify("READY=1");
}

static int start_listening(int port) {
  uv_tcp_t *listener = &server.listeners[0];
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), err;

  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(server.loop, listener);
  server.nlisteners = 1;
  err = uv_tcp_bind(listener, (const struct sockaddr *)&addr, 0);
  if (err == 0)
    err = uv_listen((uv_stream_t *)listener, 128, on_connection);
  if (err < 0) {
    log_line("cannot listen on 127.0.0.1:%d: %s", port, uv_strerror(err));
    return err;
  }
  uv_tcp_getsockname(listener, (struct sockaddr *)&bound, &len);
  log_line("listening on 127.0.0.1:%d", ntohs(((struct sockaddr_in *)&bound)->sin_port));
  return 0;
}

/* Socket activation: systemd (or systemd-socket-activate) listens, and
 * passes the sockets. *n is 0 if it passed none. */
static int take_sockets(size_t *n) {
  dk_listen_fd_t fds[MAX_LISTENERS];
  size_t i;
  int err;

  *n = MAX_LISTENERS;
  err = dk_listen_fds(fds, n);
  if (err < 0) {
    log_line("socket activation: %s", dk_strerror(err));
    return err;
  }
  for (i = 0; i < *n; i++) {
    uv_tcp_t *listener = &server.listeners[i];
    uv_tcp_init(server.loop, listener);
    server.nlisteners = i + 1;
    err = uv_tcp_open(listener, fds[i].fd);
    if (err == 0)
      err = uv_listen((uv_stream_t *)listener, 128, on_connection);
    if (err < 0) {
      log_line("socket activation: fd %d (%s): %s", fds[i].fd, fds[i].name, uv_strerror(err));
      return err;
    }
    log_line("listening on socket %s (fd %d), passed by the supervisor", fds[i].name, fds[i].fd);
  }
  return 0;
}

static int run_daemon(dk_daemonizer_t *dz, int port) {
  size_t passed = 0;
  int err;

  server.loop = uv_default_loop();
  uv_timer_init(server.loop, &server.timer);
  dk_watchdog_init(server.loop, &server.watchdog);
  err = take_sockets(&passed);
  if (err == 0 && passed == 0)
    err = start_listening(port);
  if (err == 0) {
    err = dk_watchdog_start(&server.watchdog);
    if (err == 1)
      log_line("pinging the supervisor's watchdog");
    else if (err < 0)
      log_line("watchdog: %s", dk_strerror(err));
  }
  if (err >= 0)
    err = dk_signals_init(server.loop, &server.sig, dk_daemonizer_pid_file(dz));
  if (err == 0) {
    dk_signals_set(&server.sig, DK_SIGTERM, on_stop_signal);
    dk_signals_set(&server.sig, DK_SIGINT, on_stop_signal);
    dk_signals_set(&server.sig, DK_SIGHUP, on_hup);
    err = dk_signals_start(&server.sig);
    if (err < 0)
      log_line("cannot watch signals: %s", dk_strerror(err));
  }
  if (err < 0) {
    dk_ready(dz, err); /* the parent reports it, and this process goes */
    return 1;
  }
  dk_ready(dz, 0);
  report_status();
  uv_run(server.loop, UV_RUN_DEFAULT);
  log_line("stopped, exiting");
  uv_loop_close(server.loop);
  dk_daemonizer_cleanup(dz);
  return 0;
}

static int usage(void) {
  fprintf(stderr, "usage: echo-server --pidfile F --log F [--port N] [--grace MS]\n"
                  "       echo-server --foreground [--pidfile F] [--log F] [--port N] [--grace MS]\n"
                  "       echo-server --service [--pidfile F] [--log F] [--port N] [--grace MS]\n");
  return 2;
}

/* Whether a path names the same file whatever the working directory. */
static int path_is_absolute(const char *p) {
#ifdef _WIN32
  if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':')
    return p[2] == '\\' || p[2] == '/';
  return p[0] == '\\' || p[0] == '/';
#else
  return p[0] == '/';
#endif
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  *out = strtoul(s, &end, 10);
  return errno != 0 || *end != '\0' || *out > max ? -1 : 0;
}

int main(int argc, char **argv) {
  static char abs_log[PATH_MAX];
  dk_daemonizer_t dz;
  dk_options_t opts;
  unsigned long port = DEFAULT_PORT, grace = DEFAULT_GRACE_MS;
  int i, r;

  dk_options_init(&opts);
  opts.flags = DK_WAIT_READY;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--foreground") == 0)
      opts.flags |= DK_FOREGROUND;
    else if (strcmp(argv[i], "--service") == 0)
      opts.flags |= DK_SERVICE; /* the SCM's service on Windows; elsewhere --foreground */
    else if (i + 1 < argc && strcmp(argv[i], "--pidfile") == 0)
      opts.pid_file = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--log") == 0)
      server.log_path = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      if (parse_uint(argv[++i], 65535, &port) < 0)
        return usage();
    } else if (i + 1 < argc && strcmp(argv[i], "--grace") == 0) {
      if (parse_uint(argv[++i], 3600000, &grace) < 0)
        return usage();
    } else
      return usage();
  }
  if (!(opts.flags & (DK_FOREGROUND | DK_SERVICE)) &&
      (opts.pid_file == NULL || server.log_path == NULL))
    return usage();
  server.grace_ms = (unsigned)grace;
  /* The daemon works in "/" (on Windows the system drive's root): a
   * relative log name must be made whole now, or SIGHUP would reopen a file
   * somewhere else. */
  if (server.log_path != NULL && !path_is_absolute(server.log_path)) {
    char cwd[PATH_MAX];
    size_t len = sizeof(cwd);
    if ((r = uv_cwd(cwd, &len)) < 0) {
      fprintf(stderr, "echo-server: cannot make %s whole: working directory: %s\n",
              server.log_path, uv_strerror(r));
      return 1;
    }
    if ((size_t)snprintf(abs_log, sizeof(abs_log), "%s/%s", cwd, server.log_path) >= sizeof(abs_log)) {
      fprintf(stderr, "echo-server: %s: path too long\n", server.log_path);
      return 1;
    }
    server.log_path = abs_log;
  }
  opts.stdout_path = server.log_path;
  opts.stderr_path = server.log_path;

  dk_daemonizer_init(&dz);
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r < 0) {
    fprintf(stderr, "echo-server: cannot start: %s\n", dk_strerror(r));
    return 1;
  }
  if (r == DK_PARENT) {
    printf("echo-server: listening as daemon pid %ld\n", (long)dk_daemon_pid(&dz));
    return 0;
  }
  return run_daemon(&dz, (int)port);
}
