/* SPDX-License-Identifier: MIT */
/* Benchmark 3: what an idle daemon costs. Two daemons idle side by side
 * for the same seconds:
 *   dk  bench/idle-dk: dk_daemonize, dk_signals started, uv_run
 *   uv  bench/idle-uv: a plain double fork and one uv_signal_t, uv_run
 * and are measured three ways:
 *   - wakeups: context switches (voluntary and not, /proc/PID/status)
 *     over the idle window, nothing attached to them;
 *   - syscalls: strace -c -f attached for a second window of the same
 *     length; anything but the loop's blocking call (epoll_wait, or its
 *     restart) counts against the target of 0;
 *   - memory: VmRSS of each after the first window (before strace, whose
 *     ptrace could touch pages); dk's minus uv's is what the library
 *     adds. VmRSS mostly counts shared library pages, which vary by a few
 *     dozen from run to run with what each program happened to touch, so
 *     RssAnon, the private memory alone, is reported too.
 * Checks: both daemons stay up (our live children) through both windows,
 * strace really attached and exited cleanly, and both daemons stop on
 * TERM and remove their pid files.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { DK, UV, N };
static const char *const name[N] = { "dk daemon", "bare uv daemon" };

struct daemon {
  const char *pidfile, *trace, *trace_err;
  pid_t pid, strace;
  unsigned long long ctxt, other_calls, blocking_calls, rss_kb, anon_kb;
};

static unsigned long long ctxt_switches(pid_t pid) {
  return bench_status_field(pid, "voluntary_ctxt_switches", 10) +
         bench_status_field(pid, "nonvoluntary_ctxt_switches", 10);
}

static int is_blocking_call(const char *syscall) {
  return strcmp(syscall, "epoll_wait") == 0 || strcmp(syscall, "epoll_pwait") == 0 ||
         strcmp(syscall, "epoll_pwait2") == 0 || strcmp(syscall, "restart_syscall") == 0;
}

/* strace -c writes nothing when it saw no syscall, else a table:
 *   % time     seconds  usecs/call     calls    errors syscall
 *   ------ ----------- ----------- --------- --------- ----------------
 *    100.00    0.000012          12         1           epoll_wait
 * The syscall is the last field and calls the fourth. */
static void parse_strace(struct daemon *d) {
  char line[512];
  FILE *f = fopen(d->trace, "re");
  BENCH_CHECK(f != NULL, "no strace output %s: %s", d->trace, strerror(errno));
  while (fgets(line, sizeof(line), f) != NULL) {
    char *field[8], *save = NULL, *tok;
    int nf = 0;
    for (tok = strtok_r(line, " \t\n", &save); tok != NULL && nf < 8;
         tok = strtok_r(NULL, " \t\n", &save))
      field[nf++] = tok;
    if (nf < 5 || field[0][0] < '0' || field[0][0] > '9' || strcmp(field[nf - 1], "total") == 0)
      continue;
    if (is_blocking_call(field[nf - 1]))
      d->blocking_calls += strtoull(field[3], NULL, 10);
    else
      d->other_calls += strtoull(field[3], NULL, 10);
  }
  fclose(f);
}

static int file_contains(const char *path, const char *text) {
  char buf[4096];
  size_t n;
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return 0;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, text) != NULL;
}

static void check_up(const struct daemon *d, const char *when) {
  BENCH_CHECK(bench_is_our_child(d->pid) && bench_pidfile_pid(d->pidfile) == d->pid,
              "the daemon %ld went away %s", (long)d->pid, when);
}

int main(void) {
  unsigned idle_ms = (unsigned)bench_count(10000, 1000);
  char idle_dk[4096], idle_uv[4096], window[64];
  struct daemon d[N];
  int i, status;

  bench_init("idle");
  bench_become_subreaper();
  memset(d, 0, sizeof(d));
  snprintf(idle_dk, sizeof(idle_dk), "%s/bench/idle-dk", bench_builddir());
  snprintf(idle_uv, sizeof(idle_uv), "%s/bench/idle-uv", bench_builddir());
  d[DK].pidfile = bench_path(0, "idle-dk.pid");
  d[UV].pidfile = bench_path(1, "idle-uv.pid");
  d[DK].trace = bench_path(2, "dk.strace");
  d[UV].trace = bench_path(3, "uv.strace");
  d[DK].trace_err = bench_path(4, "dk.strace-err");
  d[UV].trace_err = bench_path(5, "uv.strace-err");

  for (i = 0; i < N; i++) {
    char *argv[] = { i == DK ? idle_dk : idle_uv, (char *)d[i].pidfile, NULL };
    status = bench_wait(bench_spawn(argv, NULL));
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed to start (0x%x)",
                argv[0], status);
    d[i].pid = bench_wait_daemon(d[i].pidfile, 5000);
  }
  bench_sleep_ms(200); /* whatever start-up left behind settles */
  bench_note("both daemons up; two idle windows of %u ms", idle_ms);

  /* Window 1: nothing attached; count context switches. */
  for (i = 0; i < N; i++)
    d[i].ctxt = ctxt_switches(d[i].pid);
  bench_sleep_ms(idle_ms);
  for (i = 0; i < N; i++) {
    check_up(&d[i], "during the first window");
    d[i].ctxt = ctxt_switches(d[i].pid) - d[i].ctxt;
    d[i].rss_kb = bench_status_field(d[i].pid, "VmRSS", 10);
    d[i].anon_kb = bench_status_field(d[i].pid, "RssAnon", 10);
  }

  /* Window 2: strace -c on both at once. */
  for (i = 0; i < N; i++) {
    char pid_text[24];
    char *argv[] = { "/usr/bin/strace", "-c", "-f", "-o", (char *)d[i].trace, "-p", pid_text, NULL };
    snprintf(pid_text, sizeof(pid_text), "%ld", (long)d[i].pid);
    BENCH_CHECK(access(argv[0], X_OK) == 0, "no %s: install strace", argv[0]);
    d[i].strace = bench_spawn_err(argv, NULL, d[i].trace_err);
  }
  bench_sleep_ms(idle_ms);
  for (i = 0; i < N; i++)
    kill(d[i].strace, SIGINT); /* strace detaches and writes its summary */
  for (i = 0; i < N; i++) {
    BENCH_CHECK(bench_wait_timeout(d[i].strace, &status, 10000), "strace did not stop");
    /* strace detaches on SIGINT, writes the summary, then dies of it. */
    BENCH_CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                    (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT),
                "strace ended with status 0x%x", status);
    BENCH_CHECK(file_contains(d[i].trace_err, "attached"),
                "strace never attached to %s (see %s)", name[i], d[i].trace_err);
    check_up(&d[i], "during the second window");
    parse_strace(&d[i]);
  }

  for (i = 0; i < N; i++) {
    kill(d[i].pid, SIGTERM);
    BENCH_CHECK(bench_wait_timeout(d[i].pid, &status, 5000), "%s ignored TERM", name[i]);
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s ended with 0x%x", name[i],
                status);
    BENCH_CHECK(access(d[i].pidfile, F_OK) < 0, "%s left its pid file", name[i]);
  }
  bench_reap_all(2000);

  snprintf(window, sizeof(window), "3 idle %u s: ", idle_ms / 1000);
  {
    char bench[128];
    snprintf(bench, sizeof(bench), "%ssyscalls (strace -c)", window);
    bench_row_value(bench, "dk: besides epoll_wait", "uv: besides epoll_wait", 1, "",
                    (double)d[DK].other_calls, (double)d[UV].other_calls, "value<=0");
    bench_row_value(bench, "dk: epoll_wait returns", "uv: epoll_wait returns", 1, "",
                    (double)d[DK].blocking_calls, (double)d[UV].blocking_calls, NULL);
    snprintf(bench, sizeof(bench), "%swakeups (context switches)", window);
    bench_row_value(bench, name[DK], name[UV], 1, "", (double)d[DK].ctxt, (double)d[UV].ctxt,
                    "value<=0");
    bench_row_value("3 idle RSS (VmRSS)", name[DK], name[UV], 1, "KiB", (double)d[DK].rss_kb,
                    (double)d[UV].rss_kb, "diff<=64");
    bench_row_value("3 idle RSS, private part (RssAnon)", name[DK], name[UV], 1, "KiB",
                    (double)d[DK].anon_kb, (double)d[UV].anon_kb, NULL);
  }
  return 0;
}
