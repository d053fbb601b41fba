/* SPDX-License-Identifier: MIT */
/* Benchmark 4: a burst of sends. 100,000 sends alternating USR1 and USR2,
 * as fast as possible, to one dk daemon: dk_send against kill(), in rounds
 * ordered ABBAAB so that drift in the machine's load hits both alike.
 *
 * POSIX signals of one kind coalesce while pending, so far fewer callbacks
 * than sends run, and that is allowed. What is not allowed is losing the
 * last one: a signal sent after the previous delivery began must still
 * reach the application. The sender bumps a shared sequence number before
 * each send; the receiver's callback records the number it sees, and so
 * does its signal handler, which wraps libuv's (bench-dk.c) and also notes
 * whether libuv managed to queue the delivery to the loop. After a round,
 * once nothing has moved for 50 ms, the benchmark requires:
 *  - for each signal, a callback that saw that signal's last send: it
 *    started after that send began, so the application saw the signal
 *    after it was sent (the contract);
 *  - every delivery libuv queued became a callback.
 * It also reports, without failing on it, what the application cannot
 * see: deliveries libuv dropped because its pipe to the loop was full, and
 * whether the very last delivery of a signal was among them (its callback
 * then came only from an earlier delivery still queued: luck, not design).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemoniker.h"

static const char *const sig_name[2] = { "USR1", "USR2" };

/* Waits until every queued delivery became a callback and a callback of
 * each signal saw its last send, with nothing moving for 50 ms; fails
 * after 10 s. */
static void wait_quiet(struct bench_counters *c, const long last_send[2], const char *what) {
  uint64_t deadline = bench_now_ns() + 10000000000ull, quiet_since = 0;
  long prev[6] = { -1, -1, -1, -1, -1, -1 };
  int s;

  for (;;) {
    long now[6];
    int settled = 1;
    for (s = 0; s < 2; s++) {
      now[3 * s] = atomic_load(&c->deliveries[s]);
      now[3 * s + 1] = atomic_load(&c->dropped[s]);
      now[3 * s + 2] = atomic_load(&c->callbacks[s]);
      if (now[3 * s] != now[3 * s + 1] + now[3 * s + 2] ||
          atomic_load(&c->callback_saw[s]) < last_send[s])
        settled = 0;
    }
    if (settled && memcmp(now, prev, sizeof(now)) == 0) {
      if (quiet_since == 0)
        quiet_since = bench_now_ns();
      else if (bench_now_ns() - quiet_since > 50000000u)
        return;
    } else {
      quiet_since = 0;
    }
    memcpy(prev, now, sizeof(prev));
    if (bench_now_ns() > deadline) {
      for (s = 0; s < 2; s++)
        fprintf(stderr,
                "  %s %s: last send #%ld; last callback saw #%ld, last delivery saw #%ld and "
                "was %s; %ld deliveries, %ld dropped by libuv, %ld callbacks\n",
                what, sig_name[s], last_send[s], atomic_load(&c->callback_saw[s]),
                atomic_load(&c->last_delivery[s]),
                atomic_load(&c->last_dropped[s]) ? "dropped" : "queued",
                atomic_load(&c->deliveries[s]), atomic_load(&c->dropped[s]),
                atomic_load(&c->callbacks[s]));
      bench_fail("%s: the last send of a signal was not followed by its callback", what);
    }
    bench_sleep_ms(1);
  }
}

/* One burst; returns sends per second and the callbacks per signal. */
static double burst(int use_dk, long n, const char *pidfile, pid_t pid, struct bench_counters *c,
                    long callbacks[2], long dropped[2], int *last_dropped) {
  const char *what = use_dk ? "dk_send" : "kill";
  long last_send[2] = { 0, 0 }, i;
  uint64_t t0, t;
  int s;

  for (s = 0; s < 2; s++) {
    atomic_store(&c->callbacks[s], 0);
    atomic_store(&c->callback_saw[s], 0);
    atomic_store(&c->deliveries[s], 0);
    atomic_store(&c->dropped[s], 0);
    atomic_store(&c->last_delivery[s], 0);
    atomic_store(&c->last_dropped[s], 0);
  }
  atomic_store(&c->send_started, 0);

  t0 = bench_now_ns();
  for (i = 1; i <= n; i++) {
    s = (int)(i & 1) ? 0 : 1; /* odd: USR1, even: USR2 */
    atomic_store(&c->send_started, i);
    if (use_dk) {
      int err = dk_send(pidfile, s == 0 ? DK_SIGUSR1 : DK_SIGUSR2);
      BENCH_CHECK(err == 0, "dk_send: %s", dk_strerror(err));
    } else {
      BENCH_CHECK(kill(pid, s == 0 ? SIGUSR1 : SIGUSR2) == 0, "kill: %s", strerror(errno));
    }
  }
  t = bench_now_ns() - t0;
  last_send[0] = n & 1 ? n : n - 1;
  last_send[1] = n & 1 ? n - 1 : n;

  wait_quiet(c, last_send, what);
  for (s = 0; s < 2; s++) {
    callbacks[s] = atomic_load(&c->callbacks[s]);
    dropped[s] = atomic_load(&c->dropped[s]);
    *last_dropped += atomic_load(&c->last_dropped[s]);
    BENCH_CHECK(callbacks[s] >= 1 && callbacks[s] <= (n + 1 - s) / 2,
                "%s: %ld %s callbacks for %ld sends", what, callbacks[s], sig_name[s],
                (n + 1 - s) / 2);
  }
  return (double)n / ((double)t / 1e9);
}

int main(void) {
  static const int order[] = { 1, 0, 0, 1, 1, 0 }; /* 1: dk_send, 0: kill */
  long n = bench_count(100000, 5000), cb[2], drop[2];
  long cb_sum[2][2] = { { 0, 0 }, { 0, 0 } }, drop_sum[2][2] = { { 0, 0 }, { 0, 0 } };
  int last_dropped[2] = { 0, 0 };
  bench_samples_t rate[2] = { { 0 }, { 0 } };
  struct bench_counters *c;
  const char *pidfile;
  double dk_rate, kill_rate;
  size_t r;
  pid_t pid;

  bench_init("burst");
  bench_become_subreaper();
  pidfile = bench_path(0, "receiver.pid");
  c = bench_counters_new();
  pid = bench_dk_receiver(pidfile, -1, c, BENCH_RX_INSTRUMENT);

  bench_note("%zu rounds of %ld sends alternating USR1 and USR2", sizeof(order) / sizeof(*order), n);
  for (r = 0; r < sizeof(order) / sizeof(*order); r++) {
    int use_dk = order[r];
    /* Samples are integers: keep sends per second as such. */
    bench_samples_add(&rate[use_dk], (uint64_t)burst(use_dk, n, pidfile, pid, c, cb, drop,
                                                    &last_dropped[use_dk]));
    cb_sum[use_dk][0] += cb[0];
    cb_sum[use_dk][1] += cb[1];
    drop_sum[use_dk][0] += drop[0];
    drop_sum[use_dk][1] += drop[1];
  }
  bench_dk_receiver_stop(pid, pidfile);
  bench_reap_all(2000);

  /* Three rounds each: the median is the middle one. */
  dk_rate = bench_quantile(&rate[1], 0.5);
  kill_rate = bench_quantile(&rate[0], 0.5);
  bench_row_value("4 burst, sends per second", "dk_send", "kill", n, "/s", dk_rate, kill_rate, NULL);
  bench_row_value("4 burst, callbacks per round", "USR1 after dk_send", "USR1 after kill", n / 2, "",
                  (double)cb_sum[1][0] / 3, (double)cb_sum[0][0] / 3, NULL);
  bench_row_value("4 burst, callbacks per round", "USR2 after dk_send", "USR2 after kill", n / 2, "",
                  (double)cb_sum[1][1] / 3, (double)cb_sum[0][1] / 3, NULL);
  bench_row_value("4 burst, deliveries libuv dropped per round", "USR1+USR2 after dk_send",
                  "USR1+USR2 after kill", n, "", (double)(drop_sum[1][0] + drop_sum[1][1]) / 3,
                  (double)(drop_sum[0][0] + drop_sum[0][1]) / 3, NULL);
  bench_row_value("4 burst, last deliveries libuv dropped", "after dk_send", "after kill", 6, "",
                  last_dropped[1], last_dropped[0], NULL);
  bench_samples_free(&rate[0]);
  bench_samples_free(&rate[1]);
  return 0;
}
