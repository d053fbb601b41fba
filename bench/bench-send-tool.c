/* SPDX-License-Identifier: MIT */
/* Benchmark 5: sending a signal as a whole process, the way a script or an
 * init system does it, to one dk daemon:
 *   daemoniker send F USR1                        (tools/daemoniker)
 *   /bin/kill -USR1 PID                           (procps; the pid given,
 *                                                  so no file is read)
 *   start-stop-daemon --stop --signal USR1 --oknodo --pidfile F
 * Wall time per invocation, from spawn to exit; the invocations are
 * interleaved, in an order shuffled each round (bench_order_next).
 *
 * Checks: each invocation exits 0, and the daemon's USR1 callback count
 * goes up by one before the next one starts (waited for outside the
 * timing), so every timed invocation really signalled the daemon;
 * start-stop-daemon's --oknodo would otherwise hide a miss.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { T_DK, T_KILL, T_SSD, NTOOLS };
static const char *const tool_name[NTOOLS] = {
  "daemoniker send", "kill (procps)", "start-stop-daemon --stop"
};

/* The tool as built: libtool leaves a wrapper script at tools/daemoniker
 * and the program in tools/.libs/; run the program itself (a shell
 * starting would be most of the time), with the library's directory in
 * LD_LIBRARY_PATH as the wrapper would set it. A static build has no
 * wrapper. */
static void find_tool(char *path, size_t size, char *env, size_t env_size) {
  snprintf(path, size, "%s/tools/.libs/daemoniker", bench_builddir());
  if (access(path, X_OK) == 0) {
    snprintf(env, env_size, "LD_LIBRARY_PATH=%s/.libs", bench_builddir());
    return;
  }
  snprintf(path, size, "%s/tools/daemoniker", bench_builddir());
  env[0] = '\0';
  BENCH_CHECK(access(path, X_OK) == 0, "no %s: build it first", path);
}

static void wait_callbacks(struct bench_counters *c, long want, const char *tool) {
  uint64_t deadline = bench_now_ns() + 5000000000ull;
  while (atomic_load(&c->callbacks[0]) < want) {
    BENCH_CHECK(bench_now_ns() < deadline, "%s: no callback followed (%ld of %ld)", tool,
                atomic_load(&c->callbacks[0]), want);
    usleep(50);
  }
  BENCH_CHECK(atomic_load(&c->callbacks[0]) == want, "%s: %ld callbacks, %ld expected", tool,
              atomic_load(&c->callbacks[0]), want);
}

int main(void) {
  long n = bench_count(300, 10), warm = bench_count(5, 1), i, expected = 0;
  char tool[PATH_MAX + 64], env[PATH_MAX + 64], pid_text[24], ssd[] = "/sbin/start-stop-daemon";
  char kill_bin[] = "/bin/kill";
  bench_samples_t t[NTOOLS];
  struct bench_counters *c;
  const char *pidfile;
  pid_t pid;
  int k, v, seq[NTOOLS];
  bench_order_t order;

  bench_init("send-tool");
  bench_become_subreaper();
  memset(t, 0, sizeof(t));
  find_tool(tool, sizeof(tool), env, sizeof(env));
  BENCH_CHECK(access(kill_bin, X_OK) == 0, "no %s: install procps", kill_bin);
  BENCH_CHECK(access(ssd, X_OK) == 0, "no %s (dpkg)", ssd);
  pidfile = bench_path(0, "receiver.pid");
  c = bench_counters_new();
  pid = bench_dk_receiver(pidfile, -1, c, BENCH_RX_PLAIN);
  snprintf(pid_text, sizeof(pid_text), "%ld", (long)pid);

  {
    char *argv[NTOOLS][9] = {
      { tool, "send", (char *)pidfile, "USR1", NULL },
      { kill_bin, "-USR1", pid_text, NULL },
      { ssd, "--stop", "--signal", "USR1", "--oknodo", "--pidfile", (char *)pidfile, NULL },
    };
    bench_note("%ld invocations of each, interleaved (+%ld warm-up)", n, warm);
    bench_order_init(&order, NTOOLS, 5);
    for (i = -warm; i < n; i++) {
      bench_order_next(&order, seq);
      for (k = 0; k < NTOOLS; k++) {
        uint64_t t0, dt;
        int status;
        v = seq[k];
        t0 = bench_now_ns();
        status = bench_wait(bench_spawn(argv[v], v == T_DK && env[0] ? env : NULL));
        dt = bench_now_ns() - t0;
        BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exited with 0x%x",
                    tool_name[v], status);
        wait_callbacks(c, ++expected, tool_name[v]);
        if (i >= 0)
          bench_samples_add(&t[v], dt);
      }
    }
  }
  bench_dk_receiver_stop(pid, pidfile);
  bench_reap_all(2000);

#define ROW(a, b)                                                                          \
  bench_row_ratio("5 send, whole process", tool_name[a], tool_name[b], n, "ms",            \
                  bench_quantile(&t[a], 0.5) / 1e6, bench_quantile(&t[b], 0.5) / 1e6,      \
                  bench_quantile(&t[a], 0.99) / 1e6, bench_quantile(&t[b], 0.99) / 1e6, NULL)
  ROW(T_DK, T_KILL);
  ROW(T_SSD, T_KILL);
  ROW(T_DK, T_SSD);
#undef ROW
  for (v = 0; v < NTOOLS; v++)
    bench_samples_free(&t[v]);
  return 0;
}
