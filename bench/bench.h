/* SPDX-License-Identifier: MIT */
/* Shared by the benchmarks: a clock, samples and their percentiles, result
 * rows for the report, loud failure, and the process plumbing every
 * benchmark needs (spawning, pid files, reaping every daemon it started).
 *
 * Machines are shared and noisy, so no benchmark reports an absolute number
 * alone: each row puts the thing measured next to its floor, measured in
 * the same run, interleaved with it. bench-report turns the rows into the
 * table and results.json.
 *
 * Environment (set by bench/run.sh):
 *   BENCH_SMOKE=1      a short pass: checks that everything works, judges no ratio
 *   BENCH_RESULTS=F    the TSV file rows are appended to
 *   BENCH_BUILDDIR=D   the build directory (bench/idle-dk, tools/daemoniker)
 *   BENCH_SRCDIR=D     the source directory (bench/pydaemon.py)
 */
#ifndef DK_BENCH_H
#define DK_BENCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- time and samples ---- */

uint64_t bench_now_ns(void); /* CLOCK_MONOTONIC */
void bench_sleep_ms(unsigned ms);

typedef struct {
  uint64_t *v;
  size_t n, cap;
} bench_samples_t;

void bench_samples_add(bench_samples_t *s, uint64_t ns);
/* The q-quantile (0..1) by the nearest-rank method; sorts s in place. */
double bench_quantile(bench_samples_t *s, double q);
void bench_samples_free(bench_samples_t *s);

/* ---- the order variants run in ----
 *
 * Interleaving alone is not fair if the order is fixed or only rotated:
 * each variant then always follows the same one, and inherits what that
 * one left behind (a warm or cold cache, a page-table teardown still
 * going, a CPU frequency). So every round runs the variants in a new
 * pseudo-random order (a fixed seed: runs are repeatable) in which no
 * variant has the place it had in the round before, and as few as can be
 * (none, from 4 variants up) have the predecessor they had, the last one
 * of the round before counting as the first one's. */

#define BENCH_MAX_ORDER 16
typedef struct {
  int n, have_prev;
  int prev[BENCH_MAX_ORDER]; /* the round before */
  int first_pred;            /* what ran before its first one, or -1 */
  uint64_t rng;
} bench_order_t;

void bench_order_init(bench_order_t *o, int n, uint64_t seed);
/* The next round's order: a permutation of 0..n-1 into order[]. */
void bench_order_next(bench_order_t *o, int *order);

/* ---- run mode and results ---- */

int bench_smoke(void);
/* n in a full run, smoke_n in a smoke run. */
long bench_count(long n, long smoke_n);

/* A ratio row: subject against floor, both measured in this run.
 * target: "p50<=1.15", "p99<=2", or NULL for none. Values are in `unit`. */
void bench_row_ratio(const char *bench, const char *subject, const char *floor_name, long n,
                     const char *unit, double subj_p50, double floor_p50, double subj_p99,
                     double floor_p99, const char *target);
/* A value row: one number next to its floor's (a count, a difference).
 * target: "value<=0", "diff<=64", or NULL. */
void bench_row_value(const char *bench, const char *subject, const char *floor_name, long n,
                     const char *unit, double subj, double floor_value, const char *target);

/* Prints "bench: PROG: FAILED: ..." to stderr, kills and reaps every child
 * (daemons included: see bench_become_subreaper), removes the scratch
 * directory and exits 1. A benchmark whose measured thing did not happen
 * must never print a number. */
void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define BENCH_CHECK(cond, ...)                                                           \
  do {                                                                                   \
    if (!(cond))                                                                         \
      bench_fail(__VA_ARGS__);                                                           \
  } while (0)

void bench_init(const char *prog); /* names the program in messages, makes the scratch dir */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* progress, stderr */
const char *bench_builddir(void);
const char *bench_srcdir(void);

/* ---- processes ---- */

/* Every process we start, and every daemon they double-fork, stays our
 * descendant: as a child subreaper we inherit the orphans, so we can reap
 * them and prove that none is left. */
void bench_become_subreaper(void);

/* A fresh scratch directory (under $TMPDIR or /tmp), removed at exit;
 * bench_path gives name inside it, in a static buffer per slot 0..7. */
const char *bench_dir(void);
const char *bench_path(int slot, const char *name);

/* posix_spawn with stdin, stdout and stderr on /dev/null; extra_env (or
 * NULL) is one "NAME=value" added to our environment. */
pid_t bench_spawn(char *const argv[], const char *extra_env);
/* The same, with stderr going to the file err_path (created or truncated). */
pid_t bench_spawn_err(char *const argv[], const char *extra_env, const char *err_path);
/* Waits for a child; returns its wait status. */
int bench_wait(pid_t pid);
/* Waits up to timeout_ms for a child to exit; 1 if it did (*status set). */
int bench_wait_timeout(pid_t pid, int *status, int timeout_ms);

/* The pid in a pid file, or -1 (missing, empty or not a number). */
pid_t bench_pidfile_pid(const char *path);
/* Waits until `path` names a live process that is our child (a daemon that
 * double-forked is reparented to us): the daemon really is up. Returns its
 * pid; fails the benchmark after timeout_ms. */
pid_t bench_wait_daemon(const char *path, int timeout_ms);
/* SIGKILLs a daemon that is our child, reaps it and removes its pid file. */
void bench_kill_daemon(pid_t pid, const char *pidfile);
/* Reaps every child; fails if one still runs after timeout_ms (a leftover
 * daemon), after killing it. */
void bench_reap_all(int timeout_ms);
/* A "Name:" line of /proc/PID/status, as a number in `base` (16 for the
 * signal masks, 10 for counts and kB); fails the benchmark if missing. */
unsigned long long bench_status_field(pid_t pid, const char *name, int base);
/* Whether `pid` exists and has us as its parent. */
int bench_is_our_child(pid_t pid);

/* ---- a shared page for counters that a daemon updates ---- */

struct bench_counters {
  /* Per signal, index 0 SIGUSR1, 1 SIGUSR2. */
  atomic_long callbacks[2];     /* dk or uv callbacks that ran */
  atomic_long callback_saw[2];  /* send_started seen by the latest callback */
  /* Kept by the instrumented receiver's signal handler (bench-burst.c): */
  atomic_long deliveries[2];    /* handler invocations */
  atomic_long dropped[2];       /* ... that libuv could not queue to its loop */
  atomic_long last_delivery[2]; /* send_started seen by the latest delivery */
  atomic_int last_dropped[2];   /* whether the latest delivery was dropped */
  atomic_long send_started;     /* the sender's sequence number, bumped
                                   before each send */
};

/* MAP_SHARED anonymous memory: survives fork, so a daemon we daemonize
 * shares it with us. */
struct bench_counters *bench_counters_new(void);

/* ---- a dk daemon that answers signals (bench-dk.c) ---- */

enum bench_rx_mode {
  BENCH_RX_PLAIN,      /* USR1 and USR2 callbacks */
  BENCH_RX_INSTRUMENT, /* the same, and libuv's handler wrapped to count
                          deliveries (see bench-burst.c) */
  BENCH_RX_PARKED      /* USR1 and USR2 blocked: a signal sent stays pending
                          and wakes nothing, to time a sender alone */
};

/* Daemonizes (dk_daemonize, detached, DK_WAIT_READY) a receiver that holds
 * `pidfile` and runs dk_signals on a libuv loop: USR1 and USR2 callbacks
 * count into `counters` and, when answer_fd >= 0, write one byte to
 * answer_fd. TERM keeps dk's default (stop the loop, exit, remove the pid
 * file). Returns the daemon's pid, once it is ready, in the caller; never
 * returns in the daemon. */
pid_t bench_dk_receiver(const char *pidfile, int answer_fd, struct bench_counters *counters,
                        enum bench_rx_mode mode);
/* Stops a receiver the way a user would (dk_send TERM), checks that it
 * exited and removed its pid file. */
void bench_dk_receiver_stop(pid_t pid, const char *pidfile);

#endif
