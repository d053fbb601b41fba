/* SPDX-License-Identifier: MIT */
/* Benchmark 1: signal delivery latency, as a ping-pong.
 *
 * The sender signals a receiver and blocks until the receiver's handler
 * answers one byte through a socket; one sample is that whole round trip.
 * Five variants; the dk ones share one dk daemon, the floors have a
 * receiver process each:
 *
 *   sender  dk_sender_send(&s, DK_SIGUSR1) -> dk_signals callback in a daemon
 *           (a caller-owned sender that keeps the pid file's descriptor and
 *           a pidfd, and checks per send that both still hold)
 *   dk      dk_send(pidfile, DK_SIGUSR1) -> the same dk daemon
 *           (pid file read, pidfd, lock-holder check: everything, each time)
 *   kill-dk kill(pid, SIGUSR1)           -> the same dk daemon
 *   uv      kill(pid, SIGUSR1)           -> a bare uv_signal_t callback
 *   raw     kill(pid, SIGUSR1)           -> sigwaitinfo() in a plain loop
 *
 * sender/uv and dk/uv are what the library costs end to end, with the
 * cached sender and with the stateless call; dk/raw what libuv and the
 * library cost together; kill-dk/uv isolates the receiving side.
 *
 * Placement is pinned, because the scheduler's own choice is the largest
 * effect of all on a small virtual machine: a wakeup across CPUs costs an
 * inter-processor interrupt (tens of microseconds when the other vCPU is
 * halted), and left alone the scheduler puts some receivers beside the
 * sender and others across, which would compare placements, not code. So
 * every variant runs in both placements: all on one CPU (the round trip is
 * then the CPU work of both sides), and sender and receiver on two CPUs.
 *
 * The variants run in blocks of BLOCK round trips, in an order shuffled
 * each round (bench_order_next: no variant keeps its place or its
 * predecessor from one round to the next) and alternating placements, so that noise from the shared machine falls on
 * all of them alike. A last phase times the send call alone against a
 * receiver that keeps USR1 blocked, so that no wakeup is in the time.
 *
 * Checks: every round trip gets its answer within 5 s, and each receiver's
 * callback count equals the number of signals sent to it.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "daemoniker.h"

enum { V_SENDER, V_DK, V_KILL_DK, V_UV, V_RAW, NVARIANTS };
static const char *const variant_name[NVARIANTS] = {
  "dk_sender -> dk_signals", "dk_send -> dk_signals", "kill -> dk_signals", "kill -> uv_signal",
  "kill -> sigwaitinfo"
};
enum { SAME_CPU, ACROSS_CPUS, NPLACEMENTS };
static const char *const placement_name[NPLACEMENTS] = {
  "1 signal round trip, one CPU", "1 signal round trip, two CPUs"
};

#define BLOCK 100 /* round trips per variant and placement before switching */
#define BLOCK_WARM 5 /* untimed round trips after each switch (migration) */

struct receiver {
  pid_t pid;
  int fd; /* our end: the answers arrive here */
  struct bench_counters *counters;
};

/* ---- the two floors ---- */

static struct bench_counters *uv_counters;
static int uv_answer_fd;

static void on_uv_signal(uv_signal_t *h, int signum) {
  char c = 'x';
  (void)h;
  (void)signum;
  atomic_fetch_add(&uv_counters->callbacks[0], 1);
  while (write(uv_answer_fd, &c, 1) < 0 && errno == EINTR)
    ;
}

/* The floor for the library: the least a libuv program does to get a
 * signal as a callback. USR1 stays blocked (from start_forked) until the
 * handle is started, so that no early signal kills it. */
static void run_uv_receiver(int fd, struct bench_counters *c) {
  uv_loop_t *loop = uv_default_loop();
  uv_signal_t sig;
  sigset_t set;

  uv_answer_fd = fd;
  uv_counters = c;
  uv_signal_init(loop, &sig);
  uv_signal_start(&sig, on_uv_signal, SIGUSR1);
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  uv_run(loop, UV_RUN_DEFAULT); /* until SIGKILL */
  _exit(0);
}

/* The floor for any signal receiver: the signal stays blocked and is taken
 * synchronously; no handler, no loop. */
static void run_raw_receiver(int fd, struct bench_counters *c) {
  sigset_t set;
  char ch = 'x';
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  for (;;) {
    if (sigwaitinfo(&set, NULL) != SIGUSR1)
      continue;
    atomic_fetch_add(&c->callbacks[0], 1);
    while (write(fd, &ch, 1) < 0 && errno == EINTR)
      ;
  }
}

/* A socket pair whose sender end blocks at most 5 s: a lost signal makes
 * the benchmark fail instead of hang. */
static void answer_channel(int sv[2]) {
  struct timeval tv = { 5, 0 };
  BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
              strerror(errno));
  BENCH_CHECK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO: %s",
              strerror(errno));
}

static struct receiver start_forked(void (*run)(int, struct bench_counters *)) {
  struct receiver r;
  int sv[2];
  sigset_t set;

  answer_channel(sv);
  r.fd = sv[0];
  r.counters = bench_counters_new();
  /* USR1 blocked across the fork: a signal before the child is ready waits. */
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  r.pid = fork();
  BENCH_CHECK(r.pid >= 0, "fork: %s", strerror(errno));
  if (r.pid == 0) {
    close(sv[0]);
    run(sv[1], r.counters);
  }
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  close(sv[1]);
  return r;
}

/* ---- placement ---- */

static int cpus[2], ncpus;

static void find_cpus(void) {
  cpu_set_t set;
  int c;
  BENCH_CHECK(sched_getaffinity(0, sizeof(set), &set) == 0, "sched_getaffinity: %s",
              strerror(errno));
  for (c = 0; c < CPU_SETSIZE && ncpus < 2; c++)
    if (CPU_ISSET(c, &set))
      cpus[ncpus++] = c;
}

static void pin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  BENCH_CHECK(sched_setaffinity(pid, sizeof(set), &set) == 0, "sched_setaffinity: %s",
              strerror(errno));
}

/* The sender on one CPU, every receiver on the same one or on the other.
 * Which CPU is "one" alternates by round, to spread whatever else runs. */
static void place(int placement, int round, const struct receiver *rx) {
  int mine = cpus[round % ncpus], theirs = placement == SAME_CPU ? mine : cpus[(round + 1) % ncpus];
  int v;
  pin(0, mine);
  for (v = 0; v < NVARIANTS; v++)
    pin(rx[v].pid, theirs);
}

/* ---- the measurement ---- */

static dk_sender_t sender;

static void send_usr1(int variant, const char *pidfile, pid_t pid) {
  if (variant == V_SENDER) {
    int err = dk_sender_send(&sender, DK_SIGUSR1);
    BENCH_CHECK(err == 0, "dk_sender_send: %s", dk_strerror(err));
  } else if (variant == V_DK) {
    int err = dk_send(pidfile, DK_SIGUSR1);
    BENCH_CHECK(err == 0, "dk_send: %s", dk_strerror(err));
  } else {
    BENCH_CHECK(kill(pid, SIGUSR1) == 0, "kill: %s", strerror(errno));
  }
}

static uint64_t round_trip(int variant, const char *pidfile, const struct receiver *r) {
  uint64_t t0 = bench_now_ns();
  ssize_t n;
  char c;

  send_usr1(variant, pidfile, r->pid);
  do
    n = read(r->fd, &c, 1);
  while (n < 0 && errno == EINTR);
  BENCH_CHECK(n == 1, "%s: no answer within 5 s (%s)", variant_name[variant],
              n == 0 ? "receiver gone" : strerror(errno));
  return bench_now_ns() - t0;
}

int main(void) {
  long n = bench_count(10000, 300);
  const char *pidfile, *parked_pidfile;
  struct receiver rx[NVARIANTS];
  struct bench_counters *parked_counters;
  bench_samples_t rtt[NPLACEMENTS][NVARIANTS], call[3];
  long sent[NVARIANTS] = { 0 };
  int sv[2], v, p, k, i, round, rounds, nplacements, seq[NVARIANTS];
  bench_order_t order;
  pid_t parked;

  bench_init("latency");
  bench_become_subreaper();
  memset(rtt, 0, sizeof(rtt));
  memset(call, 0, sizeof(call));
  find_cpus();
  nplacements = ncpus >= 2 ? NPLACEMENTS : 1;
  pidfile = bench_path(0, "receiver.pid");
  parked_pidfile = bench_path(1, "parked.pid");

  answer_channel(sv);
  rx[V_DK].counters = bench_counters_new();
  rx[V_DK].pid = bench_dk_receiver(pidfile, sv[1], rx[V_DK].counters, BENCH_RX_PLAIN);
  rx[V_DK].fd = sv[0];
  close(sv[1]);
  rx[V_KILL_DK] = rx[V_DK];
  rx[V_SENDER] = rx[V_DK];
  BENCH_CHECK(dk_sender_init(&sender, pidfile) == 0, "dk_sender_init");
  rx[V_UV] = start_forked(run_uv_receiver);
  rx[V_RAW] = start_forked(run_raw_receiver);

  bench_note("%ld round trips per variant and placement, blocks of %d, CPUs %d and %d", n, BLOCK,
             cpus[0], cpus[ncpus - 1]);
  rounds = (int)((n + BLOCK - 1) / BLOCK);
  bench_order_init(&order, NVARIANTS, 1);
  for (round = 0; round < rounds; round++) {
    long todo = n - (long)round * BLOCK < BLOCK ? n - (long)round * BLOCK : BLOCK;
    for (p = 0; p < nplacements; p++) {
      place(p, round, rx);
      bench_order_next(&order, seq);
      for (k = 0; k < NVARIANTS; k++) {
        v = seq[k];
        for (i = 0; i < BLOCK_WARM; i++, sent[v]++)
          round_trip(v, pidfile, &rx[v]);
        for (i = 0; i < todo; i++, sent[v]++)
          bench_samples_add(&rtt[p][v], round_trip(v, pidfile, &rx[v]));
      }
    }
  }

  /* What was timed happened: one callback per signal sent, no more. */
  BENCH_CHECK(atomic_load(&rx[V_DK].counters->callbacks[0]) ==
                  sent[V_SENDER] + sent[V_DK] + sent[V_KILL_DK],
              "dk receiver ran %ld callbacks for %ld signals",
              atomic_load(&rx[V_DK].counters->callbacks[0]),
              sent[V_SENDER] + sent[V_DK] + sent[V_KILL_DK]);
  dk_sender_close(&sender);
  for (v = V_UV; v <= V_RAW; v++)
    BENCH_CHECK(atomic_load(&rx[v].counters->callbacks[0]) == sent[v],
                "%s: %ld callbacks for %ld signals", variant_name[v],
                atomic_load(&rx[v].counters->callbacks[0]), sent[v]);
  bench_dk_receiver_stop(rx[V_DK].pid, pidfile);
  for (v = V_UV; v <= V_RAW; v++)
    bench_kill_daemon(rx[v].pid, NULL);

  /* The sender alone: the target holds its pid file but keeps USR1
   * blocked, so each send only marks it pending; nothing wakes up and the
   * call's own work is all that is timed. In turns, like the rest: the
   * cached sender, dk_send, kill, shuffled. */
  parked_counters = bench_counters_new();
  parked = bench_dk_receiver(parked_pidfile, -1, parked_counters, BENCH_RX_PARKED);
  BENCH_CHECK(dk_sender_init(&sender, parked_pidfile) == 0, "dk_sender_init");
  pin(0, cpus[0]);
  bench_order_init(&order, 3, 4);
  for (i = 0; i < 3 * n; i++) {
    static const int turn[3] = { V_SENDER, V_DK, V_KILL_DK };
    int k3;
    if (i % (3 * BLOCK) == 0)
      bench_order_next(&order, seq);
    k3 = seq[(i / BLOCK) % 3];
    uint64_t t0 = bench_now_ns();
    send_usr1(turn[k3], parked_pidfile, parked);
    bench_samples_add(&call[k3], bench_now_ns() - t0);
  }
  dk_sender_close(&sender);
  /* The sends did signal it: USR1 is pending there (process-wide). */
  BENCH_CHECK(bench_status_field(parked, "ShdPnd", 16) & (1ull << (SIGUSR1 - 1)),
              "the parked receiver has no USR1 pending");
  bench_dk_receiver_stop(parked, parked_pidfile);
  bench_reap_all(2000);

  for (p = 0; p < nplacements; p++) {
    double p50[NVARIANTS], p99[NVARIANTS];
    for (v = 0; v < NVARIANTS; v++) {
      p50[v] = bench_quantile(&rtt[p][v], 0.50) / 1000.0;
      p99[v] = bench_quantile(&rtt[p][v], 0.99) / 1000.0;
      bench_samples_free(&rtt[p][v]);
    }
    bench_row_ratio(placement_name[p], variant_name[V_SENDER], variant_name[V_UV], n, "us",
                    p50[V_SENDER], p50[V_UV], p99[V_SENDER], p99[V_UV], "p50<=1.15");
    bench_row_ratio(placement_name[p], variant_name[V_DK], variant_name[V_UV], n, "us",
                    p50[V_DK], p50[V_UV], p99[V_DK], p99[V_UV], "p50<=1.3");
    bench_row_ratio(placement_name[p], variant_name[V_SENDER], variant_name[V_RAW], n, "us",
                    p50[V_SENDER], p50[V_RAW], p99[V_SENDER], p99[V_RAW], NULL);
    bench_row_ratio(placement_name[p], variant_name[V_DK], variant_name[V_RAW], n, "us",
                    p50[V_DK], p50[V_RAW], p99[V_DK], p99[V_RAW], NULL);
    bench_row_ratio(placement_name[p], "kill -> dk_signals (receiving side)",
                    variant_name[V_UV], n, "us", p50[V_KILL_DK], p50[V_UV], p99[V_KILL_DK],
                    p99[V_UV], NULL);
  }
  bench_row_ratio("1 send call alone (no wakeup)", "dk_sender_send()", "kill()", n, "us",
                  bench_quantile(&call[0], 0.5) / 1000.0, bench_quantile(&call[2], 0.5) / 1000.0,
                  bench_quantile(&call[0], 0.99) / 1000.0, bench_quantile(&call[2], 0.99) / 1000.0,
                  NULL);
  bench_row_ratio("1 send call alone (no wakeup)", "dk_send()", "kill()", n, "us",
                  bench_quantile(&call[1], 0.5) / 1000.0, bench_quantile(&call[2], 0.5) / 1000.0,
                  bench_quantile(&call[1], 0.99) / 1000.0, bench_quantile(&call[2], 0.99) / 1000.0,
                  NULL);
  for (k = 0; k < 3; k++)
    bench_samples_free(&call[k]);
  return 0;
}
