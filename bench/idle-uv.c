/* SPDX-License-Identifier: MIT */
/* The floor of bench-idle: a bare libuv daemon doing what idle-dk does,
 * without the library. A plain double fork writes its pid file (no lock,
 * no confirmation: the parent exits once the middle process is gone), and
 * the daemon blocks in uv_run on one uv_signal_t for TERM.
 *
 *   idle-uv PIDFILE
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static void on_term(uv_signal_t *h, int signum) {
  (void)signum;
  uv_stop(h->loop);
}

int main(int argc, char **argv) {
  uv_signal_t term;
  uv_loop_t *loop;
  char text[32];
  pid_t middle;
  int fd, len;

  if (argc != 2) {
    fprintf(stderr, "usage: idle-uv PIDFILE\n");
    return 2;
  }
  fflush(NULL);
  middle = fork();
  if (middle < 0)
    return 1;
  if (middle > 0) {
    int status;
    waitpid(middle, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  setsid();
  if (fork() != 0)
    _exit(0);

  umask(027);
  if (chdir("/") < 0)
    _exit(1);
  fd = open("/dev/null", O_RDWR);
  dup2(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  if (fd > 2)
    close(fd);
  /* TERM is handled before the pid file tells anyone where to send it. */
  loop = uv_default_loop();
  uv_signal_init(loop, &term);
  uv_signal_start(&term, on_term, SIGTERM);
  fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    _exit(1);
  len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
  if (write(fd, text, (size_t)len) != len)
    _exit(1);
  close(fd);

  uv_run(loop, UV_RUN_DEFAULT); /* blocks until TERM */
  uv_close((uv_handle_t *)&term, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  unlink(argv[1]);
  return 0;
}
