/* SPDX-License-Identifier: MIT */
/* The example echo server, as a client and an operator see it: under load
 * from concurrent clients it is stopped by SIGTERM, and every reply to a
 * request sent before the signal still arrives whole; it exits 0 and its
 * pid file goes. A port in use is its starter's error. SIGHUP reopens its
 * log, whose lines carry timestamps. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "spawn.h"

#ifndef DK_ECHO_SERVER
#error "DK_ECHO_SERVER: the path of the built echo server example"
#endif

#define NCLIENTS 8
#define MAX_PAYLOAD 16384
#define ROUND_TRIPS_BEFORE_SIGNAL 40 /* each client, before the signal is sent */
#define ROUND_TRIPS_AFTER_SIGNAL 3   /* clients that close by themselves */
#define PIPELINE 4                   /* requests in flight on a connection */

/* --- clients ---------------------------------------------------------------- */

/* Set just before the test signals the server. A client that reads it as
 * 0 after its request was sent knows the request preceded the signal. */
static atomic_int signal_sent;

struct client {
  pthread_t thread;
  int id, port;
  int end;            /* END_* */
  long before;        /* round trips with the request sent before the signal */
  long after;         /* complete round trips with the request sent after it */
  int ended_by_eof;   /* the server closed: recv returned 0 */
  int ended_errno;    /* or the connection broke with this error */
  char failure[256];  /* empty if all went well */
};

/* How the clients' connections are to end. */
enum {
  END_SERVER_CLOSES, /* the server closes each one cleanly: EOF */
  END_CLIENT_CLOSES, /* each client closes after ROUND_TRIPS_AFTER_SIGNAL */
  END_ANY            /* the server may reset them */
};

/* Progress, phase 0: clients past ROUND_TRIPS_BEFORE_SIGNAL (or ended);
 * phase 1: clients with a round trip whose request followed the signal (or
 * ended). A client counts once in each. */
static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress_cond = PTHREAD_COND_INITIALIZER;
static int clients_ready[2];

static void report_progress(int phase) {
  pthread_mutex_lock(&progress_lock);
  clients_ready[phase]++;
  pthread_cond_broadcast(&progress_cond);
  pthread_mutex_unlock(&progress_lock);
}

/* Waits until every client reached `phase`, or the deadline. */
static int wait_progress(int phase, int timeout_ms) {
  struct timespec deadline;
  int ok;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  pthread_mutex_lock(&progress_lock);
  while (clients_ready[phase] < NCLIENTS &&
         pthread_cond_timedwait(&progress_cond, &progress_lock, &deadline) == 0)
    ;
  ok = clients_ready[phase] == NCLIENTS;
  pthread_mutex_unlock(&progress_lock);
  return ok;
}

/* Request `seq` of client `id`: its length and every byte are its own. */
static size_t make_request(int id, long seq, unsigned char *buf) {
  unsigned x = (unsigned)(id * 2654435761u) ^ (unsigned)(seq * 40503u + 1);
  size_t len, i;
  int head;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  len = 32 + x % (MAX_PAYLOAD - 32);
  head = snprintf((char *)buf, 32, "client %d request %ld:", id, seq);
  for (i = (size_t)head; i < len; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (unsigned char)(x >> 16);
  }
  return len;
}

static ssize_t send_all(int fd, const unsigned char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return (ssize_t)done;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

/* Reads up to len bytes; fewer only at EOF (*eof = 1) or an error. */
static size_t recv_all(int fd, unsigned char *buf, size_t len, int *eof, int *err) {
  size_t done = 0;
  *eof = 0;
  *err = 0;
  while (done < len) {
    ssize_t n = recv(fd, buf + done, len - done, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      *eof = 1;
      break;
    }
    if (n < 0) {
      *err = errno;
      break;
    }
    done += (size_t)n;
  }
  return done;
}

static int connect_to(int port) {
  struct sockaddr_in addr;
  struct timeval tv = { 10, 0 }; /* no reply within 10 s is a failure, not a hang */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A client keeps PIPELINE requests in flight: when the signal comes, some
 * sent before it are still unanswered, and must be answered all the same. */
static void *client_main(void *arg) {
  static __thread unsigned char req[MAX_PAYLOAD], rep[MAX_PAYLOAD];
  struct client *c = arg;
  int fd = connect_to(c->port), reported[2] = { 0, 0 }, sending = 1;
  int before_of[PIPELINE];
  long next = 0, oldest = 0, sent_after = 0;

  if (fd < 0)
    snprintf(c->failure, sizeof(c->failure), "client %d: connect: %s", c->id, strerror(errno));
  while (fd >= 0) {
    size_t len, got;
    int eof, err;

    while (sending && next - oldest < PIPELINE) {
      int before;
      len = make_request(c->id, next, req);
      if (send_all(fd, req, len) < (ssize_t)len) {
        c->ended_errno = errno;
        sending = 0; /* the server is gone: what is in flight tells the rest */
        break;
      }
      before = !atomic_load(&signal_sent);
      before_of[next % PIPELINE] = before;
      next++;
      if (!before && c->end == END_CLIENT_CLOSES && ++sent_after == ROUND_TRIPS_AFTER_SIGNAL)
        sending = 0;
    }
    if (oldest == next)
      break; /* done: every reply is in */

    len = make_request(c->id, oldest, req);
    got = recv_all(fd, rep, len, &eof, &err);
    /* Whatever came back must be the request's own bytes. */
    if (memcmp(rep, req, got) != 0) {
      snprintf(c->failure, sizeof(c->failure), "client %d: reply %ld differs from its request", c->id, oldest);
      break;
    }
    if (got < len) {
      long seq;
      for (seq = oldest; seq < next; seq++)
        if (before_of[seq % PIPELINE]) {
          snprintf(c->failure, sizeof(c->failure),
                   "client %d: no whole reply to request %ld, sent before the signal (%zu of %zu bytes of "
                   "reply %ld, then %s)",
                   c->id, seq, got, len, oldest, eof ? "EOF" : strerror(err));
          break;
        }
      c->ended_by_eof = eof;
      c->ended_errno = err;
      break; /* the server closed: stop */
    }
    if (before_of[oldest % PIPELINE])
      c->before++;
    else
      c->after++;
    oldest++;
    if (!reported[0] && c->before >= ROUND_TRIPS_BEFORE_SIGNAL) {
      reported[0] = 1;
      report_progress(0);
    }
    if (!reported[1] && c->after > 0) {
      reported[1] = 1;
      report_progress(1);
    }
  }
  if (!reported[0])
    report_progress(0);
  if (!reported[1])
    report_progress(1);
  if (fd >= 0)
    close(fd);
  return NULL;
}

static void start_clients(struct client *clients, int port, int end) {
  int i;
  atomic_store(&signal_sent, 0);
  clients_ready[0] = clients_ready[1] = 0;
  for (i = 0; i < NCLIENTS; i++) {
    memset(&clients[i], 0, sizeof(clients[i]));
    clients[i].id = i;
    clients[i].port = port;
    clients[i].end = end;
    ck_assert_int_eq(pthread_create(&clients[i].thread, NULL, client_main, &clients[i]), 0);
  }
  /* Traffic is flowing on every connection before the signal is sent. */
  ck_assert_msg(wait_progress(0, 20000), "the clients made no progress");
  for (i = 0; i < NCLIENTS; i++)
    ck_assert_msg(clients[i].failure[0] == '\0', "%s", clients[i].failure);
}

/* Joins the clients and checks what each saw. */
static void check_clients(struct client *clients) {
  long before = 0, after = 0;
  int i;
  for (i = 0; i < NCLIENTS; i++)
    ck_assert_int_eq(pthread_join(clients[i].thread, NULL), 0);
  for (i = 0; i < NCLIENTS; i++) {
    const struct client *c = &clients[i];
    ck_assert_msg(c->failure[0] == '\0', "%s", c->failure);
    ck_assert_int_ge(c->before, ROUND_TRIPS_BEFORE_SIGNAL);
    if (c->end == END_SERVER_CLOSES)
      ck_assert_msg(c->ended_by_eof, "client %d: connection ended by %s, not closed by the server", i,
                    strerror(c->ended_errno));
    else if (c->end == END_CLIENT_CLOSES)
      ck_assert_int_eq(c->after, ROUND_TRIPS_AFTER_SIGNAL);
    before += c->before;
    after += c->after;
  }
  fprintf(stderr, "%d clients: %ld round trips before the signal, %ld after\n", NCLIENTS, before, after);
}

/* --- the server ---------------------------------------------------------------- */

static int port_in_log(const char *log) {
  char text[4096], *p;
  ck_assert_msg(dk_spawn_wait_content(log, "listening on 127.0.0.1:", 10000), "no 'listening' in %s", log);
  ck_assert_int_gt(dk_test_read_file(log, text, sizeof(text)), 0);
  p = strstr(text, "listening on 127.0.0.1:");
  return atoi(p + strlen("listening on 127.0.0.1:"));
}

/* Clients of the server whose echo.log names its port, each ending as
 * `end` says; from here on what they see is after the signal. */
static void load_the_server(struct client *clients, int end) {
  start_clients(clients, port_in_log(dk_test_path(1, "echo.log")), end);
  atomic_store(&signal_sent, 1);
}

/* `who` (pid) exits with status 0 within 20 s and its pid file is gone. */
static void assert_exited_cleanly(pid_t pid, const char *who) {
  int status;
  ck_assert_msg(dk_spawn_wait(pid, 20000, &status), "%s did not exit", who);
  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(access("echo.pid", F_OK), -1);
}

/* Starts the server as a daemon; returns its pid, read from the pid file. */
static pid_t start_daemon(const char *grace) {
  struct dk_spawn r;
  char want[64];
  long pid;
  DK_RUN(&r, DK_ECHO_SERVER, "--pidfile", "echo.pid", "--log", "echo.log", "--port", "0", "--grace", grace);
  ck_assert_msg(r.status == 0, "echo-server: status %d, stderr '%s'", r.status, r.err);
  pid = dk_test_pid_in_file("echo.pid");
  ck_assert_int_gt(pid, 1);
  snprintf(want, sizeof(want), "listening as daemon pid %ld\n", pid);
  ck_assert_str_eq(strstr(r.out, "listening") ? strstr(r.out, "listening") : r.out, want);
  return (pid_t)pid;
}

/* Every line of the log starts with a UTC timestamp and the server's name
 * and pid. Returns the log. */
static const char *check_log_lines(const char *path, pid_t pid) {
  static char text[256 * 1024];
  char head[64], *line, *next;
  regex_t re;
  ck_assert_int_gt(dk_test_read_file(path, text, sizeof(text)), 0);
  ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z ",
                           REG_EXTENDED | REG_NOSUB), 0);
  snprintf(head, sizeof(head), "Z echo-server[%ld]: ", (long)pid);
  for (line = text; *line; line = next) {
    char saved;
    next = strchr(line, '\n');
    ck_assert_ptr_nonnull(next);
    next++;
    saved = *next;
    *next = '\0';
    ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "log line without a timestamp: %s", line);
    ck_assert_msg(strstr(line, head) != NULL, "log line without '%s': %s", head, line);
    *next = saved;
  }
  regfree(&re);
  return text;
}

/* A datagram socket for $NOTIFY_SOCKET, as systemd's Type=notify has. */
static int notify_socket(const char *path) {
  struct sockaddr_un addr;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  ck_assert_uint_lt(strlen(path), sizeof(addr.sun_path));
  strcpy(addr.sun_path, path);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  return fd;
}

/* The next notification, within timeout_ms. */
static const char *next_notify(int fd, int timeout_ms) {
  static char msg[256];
  struct pollfd p = { fd, POLLIN, 0 };
  ssize_t n;
  ck_assert_msg(poll(&p, 1, timeout_ms) == 1, "no notification within %d ms", timeout_ms);
  n = recv(fd, msg, sizeof(msg) - 1, 0);
  ck_assert_int_gt(n, 0);
  msg[n] = '\0';
  return msg;
}

/* --- tests ------------------------------------------------------------------- */

/* Under a supervisor: --foreground, readiness through NOTIFY_SOCKET, and the
 * server a child whose exit status is read directly. The clients keep
 * sending until the server, once its grace period is over, closes. */
START_TEST(test_sigterm_under_load_foreground) {
  struct client clients[NCLIENTS];
  char ready[64];
  const char *log;
  int nfd;
  pid_t pid;

  nfd = notify_socket(dk_test_path(0, "notify"));
  setenv("NOTIFY_SOCKET", dk_test_path(0, "notify"), 1);
  pid = dk_spawn_start((const char *const[]){ DK_ECHO_SERVER, "--foreground", "--pidfile", "echo.pid",
                                               "--log", "echo.log", "--port", "0", "--grace", "300", NULL },
                       "server.out");
  unsetenv("NOTIFY_SOCKET");
  ck_assert_int_gt(pid, 1);
  /* Ready only once it listens, and the main pid is the server itself. */
  snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld\n", (long)pid);
  ck_assert_str_eq(next_notify(nfd, 10000), ready);
  ck_assert_int_eq(dk_test_pid_in_file("echo.pid"), pid);
  load_the_server(clients, END_SERVER_CLOSES);
  ck_assert_int_eq(kill(pid, SIGTERM), 0);
  check_clients(clients);

  assert_exited_cleanly(pid, "the server");
  log = check_log_lines(dk_test_path(1, "echo.log"), pid);
  ck_assert_ptr_nonnull(strstr(log, "SIGTERM: no new connections"));
  ck_assert_ptr_nonnull(strstr(log, "grace period over"));
  ck_assert_ptr_nonnull(strstr(log, "all connections closed"));
  ck_assert_ptr_nonnull(strstr(log, "stopped, exiting"));
  ck_assert_ptr_null(strstr(log, "did not close")); /* every client closed in turn */
  close(nfd);
}
END_TEST

/* --service under systemd: the foreground, with no pid file at all. */
START_TEST(test_service_under_systemd_needs_no_pid_file) {
  char ready[64];
  int nfd, status;
  pid_t pid;

  nfd = notify_socket(dk_test_path(0, "notify"));
  setenv("NOTIFY_SOCKET", dk_test_path(0, "notify"), 1);
  pid = dk_spawn_start((const char *const[]){ DK_ECHO_SERVER, "--service", "--log", "echo.log",
                                               "--port", "0", NULL },
                       "server.out");
  unsetenv("NOTIFY_SOCKET");
  ck_assert_int_gt(pid, 1);
  snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld\n", (long)pid);
  ck_assert_str_eq(next_notify(nfd, 10000), ready);
  ck_assert_int_gt(port_in_log(dk_test_path(1, "echo.log")), 0);
  ck_assert_int_eq(kill(pid, SIGTERM), 0);
  ck_assert_msg(dk_spawn_wait(pid, 20000, &status), "the server did not exit");
  ck_assert_int_eq(status, 0);
  close(nfd);
}
END_TEST

/* As a daemon: the clients finish a few round trips after the signal and
 * close, and the server goes as soon as they did, long before its grace
 * period ends. It is a child of this (subreaper, see dk_spawn_setup)
 * process by then, so its exit status is read too. */
START_TEST(test_sigterm_under_load_daemon) {
  struct client clients[NCLIENTS];
  long long t0, t1;
  const char *log;
  int status;
  pid_t pid;

  pid = start_daemon("30000");
  load_the_server(clients, END_CLIENT_CLOSES);
  t0 = dk_test_now_ms();
  ck_assert_int_eq(dk_send("echo.pid", DK_SIGTERM), 0);
  check_clients(clients);

  ck_assert_msg(dk_spawn_wait(pid, 20000, &status), "the daemon did not exit");
  t1 = dk_test_now_ms();
  ck_assert_int_eq(status, 0);
  ck_assert_int_lt(t1 - t0, 15000); /* not the 30 s grace period */
  ck_assert_int_eq(access("echo.pid", F_OK), -1);
  log = check_log_lines(dk_test_path(1, "echo.log"), pid);
  ck_assert_ptr_nonnull(strstr(log, "SIGTERM: no new connections"));
  ck_assert_ptr_null(strstr(log, "grace period over"));
  ck_assert_ptr_nonnull(strstr(log, "all connections closed"));
  ck_assert_ptr_nonnull(strstr(log, "stopped, exiting"));
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));
}
END_TEST

/* SIGINT does the same as SIGTERM; a second one closes at once. */
START_TEST(test_second_sigint_closes_at_once) {
  struct client clients[NCLIENTS];
  pid_t pid;

  pid = start_daemon("30000");
  load_the_server(clients, END_ANY);
  ck_assert_int_eq(dk_send("echo.pid", DK_SIGINT), 0);
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "echo.log"), "SIGINT: no new connections", 10000));
  /* Served after the signal too: each client got a reply to a request it
   * sent after it, so every earlier one was answered. */
  ck_assert(wait_progress(1, 20000));
  ck_assert_int_eq(dk_send("echo.pid", DK_SIGINT), 0);
  /* Then the connections are cut: a reset may cut replies to requests sent
   * after the first signal, and nothing else. */
  check_clients(clients);
  assert_exited_cleanly(pid, "the daemon");
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "echo.log"), "SIGINT again: closing every connection now", 1000));
}
END_TEST

static int listen_somewhere(int *port) {
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  ck_assert_int_eq(listen(fd, 1), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

START_TEST(test_port_in_use_is_the_parents_error) {
  char port_text[16];
  struct dk_spawn r;
  int port, fd = listen_somewhere(&port);

  snprintf(port_text, sizeof(port_text), "%d", port);
  DK_RUN(&r, DK_ECHO_SERVER, "--pidfile", "echo.pid", "--log", "echo.log", "--port", port_text);
  ck_assert_int_ne(r.status, 0);
  ck_assert_int_ne(r.status, -1);
  ck_assert_msg(strstr(r.err, "address already in use") != NULL, "stderr: '%s'", r.err);
  ck_assert_str_eq(r.out, "");
  /* The daemon logged why, and is gone with its pid file. */
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "echo.log"), "address already in use", 1000));
  ck_assert_int_eq(access("echo.pid", F_OK), -1);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));

  /* Under a supervisor it is the process's own exit status. */
  DK_RUN(&r, DK_ECHO_SERVER, "--foreground", "--pidfile", "fg.pid", "--port", port_text);
  ck_assert_int_eq(r.status, 1);
  ck_assert_msg(strstr(r.err, "address already in use") != NULL, "stderr: '%s'", r.err);
  ck_assert_int_eq(access("fg.pid", F_OK), -1);
  close(fd);
}
END_TEST

START_TEST(test_sighup_reopens_log_and_second_instance_is_refused) {
  struct dk_spawn r;
  const char *log;
  pid_t pid;

  pid = start_daemon("100");
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "echo.log"), "listening on", 10000));

  /* A second server on the same pid file: refused by its parent, and the
   * first is untouched. */
  DK_RUN(&r, DK_ECHO_SERVER, "--pidfile", "echo.pid", "--log", "other.log", "--port", "0");
  ck_assert_int_eq(r.status, 1);
  ck_assert_msg(strstr(r.err, "already holds the pid file") != NULL, "stderr: '%s'", r.err);
  ck_assert_int_eq(dk_test_pid_in_file("echo.pid"), pid);
  ck_assert(dk_test_alive(pid));

  /* logrotate's way: move the log, then HUP. */
  ck_assert_int_eq(rename("echo.log", "echo.log.1"), 0);
  ck_assert_int_eq(dk_send("echo.pid", DK_SIGHUP), 0);
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "echo.log"), "SIGHUP: log file reopened", 10000));
  ck_assert_int_eq(dk_send("echo.pid", DK_SIGTERM), 0);
  assert_exited_cleanly(pid, "the daemon");

  log = check_log_lines(dk_test_path(1, "echo.log.1"), pid);
  ck_assert_ptr_nonnull(strstr(log, "listening on 127.0.0.1:"));
  ck_assert_ptr_null(strstr(log, "SIGHUP"));
  log = check_log_lines(dk_test_path(1, "echo.log"), pid);
  ck_assert_ptr_nonnull(strstr(log, "SIGHUP: log file reopened"));
  ck_assert_ptr_nonnull(strstr(log, "stopped, exiting"));
}
END_TEST

/* A client that sends 256 KiB and closes without reading its echo: the
 * server's writes then meet a reset connection. They must fail with an
 * error (EPIPE, ECONNRESET), not kill the server with SIGPIPE: it serves
 * the next client and stops cleanly on SIGTERM. */
START_TEST(test_client_gone_before_its_echo_is_no_death) {
  static unsigned char big[256 * 1024], req[MAX_PAYLOAD], rep[MAX_PAYLOAD];
  const char *log;
  size_t len, got;
  int port, fd, eof, err, status, round;
  pid_t pid;

  pid = start_daemon("100");
  port = port_in_log(dk_test_path(1, "echo.log"));
  memset(big, 'x', sizeof(big));
  /* Several rounds: each one leaves the server writing to a dead peer. */
  for (round = 0; round < 4; round++) {
    fd = connect_to(port);
    ck_assert_msg(fd >= 0, "round %d: connect: %s; server alive: %d", round, strerror(errno),
                  dk_test_alive(pid));
    ck_assert_int_eq(send_all(fd, big, sizeof(big)), (ssize_t)sizeof(big));
    close(fd); /* unread echo in its buffer: the kernel resets the connection */
    /* A fresh client is still served, by the same process. */
    fd = connect_to(port);
    ck_assert_msg(fd >= 0, "round %d: connect after the reset client: %s; server alive: %d", round,
                  strerror(errno), dk_test_alive(pid));
    len = make_request(round, 0, req);
    ck_assert_int_eq(send_all(fd, req, len), (ssize_t)len);
    got = recv_all(fd, rep, len, &eof, &err);
    ck_assert_msg(got == len && memcmp(rep, req, len) == 0,
                  "round %d: echo of %zu bytes came back as %zu (eof %d, %s); server alive: %d",
                  round, len, got, eof, strerror(err), dk_test_alive(pid));
    close(fd);
  }
  ck_assert_int_eq(dk_test_pid_in_file("echo.pid"), pid);
  ck_assert_int_eq(dk_send("echo.pid", DK_SIGTERM), 0);
  ck_assert_msg(dk_spawn_wait(pid, 20000, &status), "the daemon did not exit");
  ck_assert_msg(status == 0, "the daemon's exit status is %d (128 + %d: SIGPIPE)", status, SIGPIPE);
  ck_assert_int_eq(access("echo.pid", F_OK), -1);
  log = check_log_lines(dk_test_path(1, "echo.log"), pid);
  ck_assert_ptr_nonnull(strstr(log, "stopped, exiting"));
}
END_TEST

/* --- under systemd: socket activation and Type=notify-reload --------------- */

#define SOCKET_ACTIVATE "/usr/bin/systemd-socket-activate"


/* The next notification that is not a watchdog ping; pings are counted. */
static const char *next_state(int fd, int *pings) {
  const char *msg;
  while (strcmp(msg = next_notify(fd, 10000), "WATCHDOG=1") == 0)
    (*pings)++;
  return msg;
}

/* As systemd runs it from examples/echo-server.socket and .service:
 * systemd-socket-activate listens, and on the first client execs the
 * server with the socket, NOTIFY_SOCKET and WATCHDOG_USEC. It serves that
 * client on the passed socket and tells, in order: ready, its status, a
 * reload (RELOADING=1, READY=1) at SIGHUP, stopping at SIGTERM; and it
 * pings the watchdog meanwhile. Then it exits 0. */
START_TEST(test_socket_activated_server_reports_to_systemd) {
  static unsigned char req[MAX_PAYLOAD], rep[MAX_PAYLOAD];
  char listen_on[32], want[64], notify_env[300];
  int nfd, port = 0, fd, status, pings = 0, attempt, eof, err;
  const char *msg;
  size_t len;
  pid_t pid = -1;

  nfd = notify_socket(dk_test_path(0, "notify"));
  snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", dk_test_path(0, "notify"));
  ck_assert_msg(access(SOCKET_ACTIVATE, X_OK) == 0, SOCKET_ACTIVATE ": %s (Debian's systemd package has it)",
                strerror(errno));
  /* A free port, tried again if another process took it in between. */
  for (attempt = 0; attempt < 5 && pid < 0; attempt++) {
    port = dk_spawn_free_port();
    snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", port);
    unlink("server.out");
    pid = dk_spawn_start((const char *const[]){ SOCKET_ACTIVATE, "-l", listen_on, "-E", notify_env,
                                                 "-E", "WATCHDOG_USEC=400000", "-E", "DK_TEST_MARK",
                                                 DK_ECHO_SERVER, "--foreground", "--grace", "300", NULL },
                         dk_test_path(1, "server.out"));
    snprintf(want, sizeof(want), "Listening on %s as 3.", listen_on);
    if (!dk_spawn_wait_content(dk_test_path(1, "server.out"), want, 10000)) {
      ck_assert_msg(dk_spawn_wait(pid, 5000, &status), "systemd-socket-activate does not listen");
      ck_assert_msg(dk_spawn_wait_content(dk_test_path(1, "server.out"), "Address already in use", 0),
                    "systemd-socket-activate exited with %d", status);
      pid = -1;
    }
  }
  ck_assert_int_gt(pid, 1);

  fd = connect_to(port); /* what makes systemd-socket-activate exec the server */
  ck_assert_int_ge(fd, 0);
  snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld\n", (long)pid); /* the same process, exec'd */
  ck_assert_str_eq(next_state(nfd, &pings), want);
  ck_assert_str_eq(next_state(nfd, &pings), "STATUS=0 connections served, 0 open");
  ck_assert_str_eq(next_state(nfd, &pings), "STATUS=1 connections served, 1 open");
  len = make_request(0, 0, req);
  ck_assert_int_eq(send_all(fd, req, len), (ssize_t)len);
  ck_assert_uint_eq(recv_all(fd, rep, len, &eof, &err), len);
  ck_assert_int_eq(memcmp(req, rep, len), 0);
  close(fd);
  ck_assert_str_eq(next_state(nfd, &pings), "STATUS=1 connections served, 0 open");

  ck_assert_int_eq(kill(pid, SIGHUP), 0);
  msg = next_state(nfd, &pings);
  ck_assert_msg(strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "not RELOADING=1: '%s'", msg);
  ck_assert_str_eq(next_state(nfd, &pings), "READY=1");
  /* Every ping is 200 ms from the last: one comes before a 5 s deadline. */
  if (pings == 0)
    ck_assert_str_eq(next_notify(nfd, 5000), "WATCHDOG=1");

  ck_assert_int_eq(kill(pid, SIGTERM), 0);
  ck_assert_str_eq(next_state(nfd, &pings), "STOPPING=1");
  ck_assert_msg(dk_spawn_wait(pid, 20000, &status), "the server did not exit");
  ck_assert_int_eq(status, 0);
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "server.out"),
                                  "listening on socket unknown (fd 3), passed by the supervisor", 0));
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "server.out"), "pinging the supervisor's watchdog", 0));
  ck_assert(dk_spawn_wait_content(dk_test_path(1, "server.out"), "stopped, exiting", 0));
  close(nfd);
}
END_TEST

START_TEST(test_usage_errors) {
  struct dk_spawn r;
  DK_RUN(&r, DK_ECHO_SERVER, "--pidfile", "echo.pid"); /* a daemon needs a log */
  ck_assert_int_eq(r.status, 2);
  DK_RUN(&r, DK_ECHO_SERVER, "--pidfile", "echo.pid", "--log", "l", "--port", "70000");
  ck_assert_int_eq(r.status, 2);
  DK_RUN(&r, DK_ECHO_SERVER, "--log", "l");
  ck_assert_int_eq(r.status, 2);
  ck_assert_int_eq(access("echo.pid", F_OK), -1);
  ck_assert(dk_spawn_wait_marked_gone(0, 5000));
}
END_TEST


static Suite *echo_suite(void) {
  Suite *s = suite_create("echo-server");
  TCase *tc = dk_test_tcase(s, "example", dk_spawn_fixture_setup, dk_spawn_fixture_teardown, 90);
  tcase_add_test(tc, test_sigterm_under_load_foreground);
  tcase_add_test(tc, test_service_under_systemd_needs_no_pid_file);
  tcase_add_test(tc, test_sigterm_under_load_daemon);
  tcase_add_test(tc, test_second_sigint_closes_at_once);
  tcase_add_test(tc, test_port_in_use_is_the_parents_error);
  tcase_add_test(tc, test_sighup_reopens_log_and_second_instance_is_refused);
  tcase_add_test(tc, test_client_gone_before_its_echo_is_no_death);
  tcase_add_test(tc, test_socket_activated_server_reports_to_systemd);
  tcase_add_test(tc, test_usage_errors);
  return s;
}

int main(void) {
  return dk_test_run(echo_suite());
}
