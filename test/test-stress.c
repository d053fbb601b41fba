/* SPDX-License-Identifier: MIT */
/* Stress, bounded: 1,000 iterations per test, each wait with a deadline.
 *
 *  - A daemon (dk_daemonize, dk_signals on its loop) gets a storm of mixed
 *    signals from several processes, and in the middle of it a TERM that
 *    its default handler acts on: the storm goes on while it shuts down.
 *    It must exit cleanly every time: its exit status 0 (read by waitpid:
 *    this test is its subreaper), its loop closed, its pid file gone, no
 *    callback after it closed its signals.
 *  - In this process, dk_signals_start/stop/close race deliveries sent by
 *    another thread and another process: the loop closes cleanly every time
 *    (uv_loop_close returns 0), no callback comes after close or while
 *    stopped, and a signal delivered while started is never lost.
 *
 * Both need a signal that has a callback to stay harmless while nothing
 * watches it (after the default TERM stopped the watching, after stop, after
 * close): test_handled_signals_are_ignored_not_deadly_once_not_watched
 * pins that down without any race. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "children.h"
#include "helpers.h"


static int disposition(int host_signum) {
  struct sigaction sa;
  ck_assert_int_eq(sigaction(host_signum, NULL, &sa), 0);
  if (sa.sa_handler == SIG_IGN)
    return 'I';
  if (sa.sa_handler == SIG_DFL)
    return 'D';
  return 'H'; /* libuv's handler */
}

/* --- the ground rule, without a race --------------------------------------- */

static int calls;
static void count_call(dk_signals_t *sig, int signum) {
  (void)sig;
  (void)signum;
  calls++;
}

START_TEST(test_handled_signals_are_ignored_not_deadly_once_not_watched) {
  uv_loop_t loop;
  dk_signals_t sig;
  calls = 0;
  /* nohup's HUP: the application's own, never touched by a default mode. */
  signal(SIGHUP, SIG_IGN);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, count_call), 0);
  ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGUSR2), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(disposition(SIGUSR1), 'H');
  ck_assert_int_eq(disposition(SIGTERM), 'H');

  /* Stopped: a USR1 it has a callback for is ignored (it would kill), and
   * calls nothing; TERM, left to the default, gets the system's back. */
  ck_assert_int_eq(dk_signals_stop(&sig), 0);
  ck_assert_int_eq(disposition(SIGUSR1), 'I');
  ck_assert_int_eq(disposition(SIGUSR2), 'I');
  ck_assert_int_eq(disposition(SIGTERM), 'D');
  ck_assert_int_eq(disposition(SIGHUP), 'I');
  ck_assert_int_eq(raise(SIGUSR1), 0);
  ck_assert_int_eq(raise(SIGUSR2), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(calls, 0);

  /* Started again, it is watched again. */
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(disposition(SIGUSR1), 'H');
  ck_assert_int_eq(raise(SIGUSR1), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(calls, 1);

  /* Back to default, started or not: the system's default again. */
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, NULL), 0);
  ck_assert_int_eq(disposition(SIGUSR1), 'D');
  ck_assert_int_eq(dk_signals_stop(&sig), 0);
  ck_assert_int_eq(disposition(SIGUSR2), 'I');
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR2, NULL), 0);
  ck_assert_int_eq(disposition(SIGUSR2), 'D');
  ck_assert_int_eq(disposition(SIGHUP), 'I'); /* never the library's */

  /* The default handler stops the watching: what has a callback stays
   * harmless while main cleans up, and after close. */
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, count_call), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(raise(SIGTERM), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(dk_signals_received(&sig), DK_SIGTERM);
  ck_assert_int_eq(disposition(SIGUSR1), 'I');
  ck_assert_int_eq(raise(SIGUSR1), 0);
  dk_signals_close(&sig, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(disposition(SIGUSR1), 'I');
  ck_assert_int_eq(raise(SIGUSR1), 0);
  ck_assert_int_eq(calls, 1);
}
END_TEST

/* --- a daemon shutting down in a storm ------------------------------------ */

#define STORM_ROUNDS 5
#define STORM_SENDERS 4
#define STORM_PER_SENDER (1000 / STORM_ROUNDS / STORM_SENDERS)

/* A sender: once `go` closes, sends its share of USR1, USR2 and HUP to
 * `target`; sender 0 sends TERM halfway through its share. */
static pid_t start_sender(pid_t target, int index, int go[2]) {
  static const int mix[] = { SIGUSR1, SIGUSR2, SIGHUP };
  pid_t parent = getpid(), pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    struct pollfd p;
    char c;
    int i;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
      _exit(1);
    close(go[1]);
    p.fd = go[0];
    p.events = POLLIN;
    if (poll(&p, 1, 10000) != 1 || read(go[0], &c, 1) != 0)
      _exit(2);
    for (i = 0; i < STORM_PER_SENDER; i++) {
      if (index == 0 && i == STORM_PER_SENDER / 2)
        kill(target, SIGTERM);
      /* The target is the test's child until the test reaps it: its pid
       * can not have been reused. */
      kill(target, mix[(i + index) % 3]);
    }
    _exit(0);
  }
  return pid;
}

START_TEST(test_daemon_exits_cleanly_when_term_comes_in_a_signal_storm) {
  const struct dk_test_cmd setup_cmds[] = {
    { DK_TEST_SET_A, DK_SIGUSR1 }, { DK_TEST_SET_B, DK_SIGUSR2 }, { DK_TEST_SET_A, DK_SIGHUP },
  };
  int round;
  for (round = 0; round < STORM_ROUNDS; round++) {
    struct dk_test_sigd d;
    struct dk_test_report r;
    int go[2], i, got, status = -1, callbacks = 0;
    ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup_cmds, N_ELEMS(setup_cmds)),
                     DK_PARENT);
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    for (i = 0; i < STORM_SENDERS; i++)
      start_sender(d.pid, i, go);
    close(go[0]);
    close(go[1]); /* go */

    /* Callbacks, then the exit report, then nothing: the daemon closed its
     * signals and exited. */
    while ((got = dk_test_sigd_next(&d, &r, 10000)) == 1 && r.kind == DK_TEST_REP_CB) {
      ck_assert(r.signum == DK_SIGUSR1 || r.signum == DK_SIGUSR2 || r.signum == DK_SIGHUP);
      ck_assert(r.on_loop_thread);
      callbacks++;
    }
    ck_assert_msg(got == 1 && r.kind == DK_TEST_REP_EXIT,
                  "round %d: after %d callbacks the daemon %s (report %d, kind %d)", round,
                  callbacks, got == -1 ? "went without its exit report" : "said nothing", got,
                  r.kind);
    ck_assert_int_eq(r.signum, DK_SIGTERM);
    ck_assert_int_eq(r.value, 0); /* uv_loop_close */
    ck_assert_int_eq(dk_test_sigd_next(&d, &r, 10000), -1);
    ck_assert_int_eq(dk_test_reap(d.pid, 10000, &status), 1);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "round %d: daemon %s %d", round,
                  WIFSIGNALED(status) ? "killed by signal" : "exit status",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    ck_assert(dk_test_wait_path(dk_test_path(0, "d.pid"), 0, 10000));
    ck_assert_int_eq(dk_test_reap_all(10000, 0, NULL), STORM_SENDERS);
    dk_test_sigd_close(&d);
  }
}
END_TEST

/* --- start, stop and close racing deliveries, in this process ------------ */

/* Each iteration makes a loop and a dk_signals_t, starts, stops, starts
 * and closes it, and just before one of those calls (a different one each
 * time) sets off a burst of USR1 and HUP from another thread and from
 * another process, which lands while the call runs. The bursts are bounded:
 * libuv passes each delivery through a pipe of 4096 messages that the loop
 * empties, and drops what does not fit; a flood that keeps the loop from
 * running that long loses signals whatever the library does
 * (dk_signals(3), CAVEATS). */
#define RACE_ITERATIONS 1000
#define RACE_BURST 48
#define PROBE_MS 5000

static struct {
  pthread_t loop_thread;
  int req[2], ack[2];       /* the loop's commands to the storm thread */
  int probes;               /* USR2 callbacks: only probes send USR2 */
  int while_stopped;        /* callbacks while stopped */
  int after_close;          /* callbacks after dk_signals_close */
  int closes;               /* close callbacks */
  int state;                /* 0 stopped, 1 started, 2 closed */
} race;

static void race_cb(dk_signals_t *sig, int signum) {
  (void)sig;
  if (race.state == 0)
    race.while_stopped++;
  if (race.state == 2)
    race.after_close++;
  if (signum == DK_SIGUSR2)
    race.probes++;
}

static void race_closed(dk_signals_t *sig) {
  (void)sig;
  race.closes++;
}

/* Another thread. 'b': a burst of USR1 and HUP at the loop's thread; 'p':
 * one USR2 probe, then an acknowledgment; 'q' or EOF: the end. It blocks
 * every signal itself, as threads beside a libuv loop should, so that the
 * storm process's signals go to the loop's thread. */
static void *storm_thread(void *arg) {
  sigset_t all;
  char c;
  int k;
  (void)arg;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  for (;;) {
    struct pollfd p = { race.req[0], POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || read(race.req[0], &c, 1) != 1 || c == 'q')
      break;
    if (c == 'b')
      for (k = 0; k < RACE_BURST; k++)
        pthread_kill(race.loop_thread, k % 2 ? SIGUSR1 : SIGHUP);
    if (c == 'p') {
      pthread_kill(race.loop_thread, SIGUSR2);
      if (write(race.ack[1], &c, 1) != 1)
        break;
    }
  }
  return NULL;
}

/* Another process: a burst of USR1 and HUP at this process for each byte
 * it reads, until EOF. */
static pid_t start_storm_process(int cmd[2]) {
  pid_t parent = getpid(), pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    struct pollfd p;
    char c;
    int k;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
      _exit(1);
    close(cmd[1]);
    p.fd = cmd[0];
    p.events = POLLIN;
    while (poll(&p, 1, 10000) == 1 && read(cmd[0], &c, 1) == 1)
      for (k = 0; k < RACE_BURST; k++)
        kill(parent, k % 2 ? SIGUSR1 : SIGHUP); /* its parent: not reused */
    _exit(0);
  }
  close(cmd[0]);
  return pid;
}

static int storm_cmd[2];

static void burst(void) {
  char c = 'b';
  ck_assert_int_eq(write(race.req[1], &c, 1), 1);
  ck_assert_int_eq(write(storm_cmd[1], &c, 1), 1);
}

/* Runs the loop until the storm thread acknowledged its probe. */
static int wait_ack(uv_loop_t *loop) {
  long long deadline = dk_test_now_ms() + PROBE_MS;
  char c;
  while (read(race.ack[0], &c, 1) != 1) {
    if (dk_test_now_ms() >= deadline)
      return 0;
    uv_run(loop, UV_RUN_NOWAIT);
  }
  return 1;
}

/* Runs the loop until the probe count reaches `want`, or the deadline. */
static int wait_probe(uv_loop_t *loop, int want) {
  long long deadline = dk_test_now_ms() + PROBE_MS;
  while (race.probes < want && dk_test_now_ms() < deadline)
    uv_run(loop, UV_RUN_NOWAIT);
  return race.probes == want;
}

START_TEST(test_start_stop_close_racing_deliveries) {
  pthread_t thread;
  int i, probes = 0, running = 0;
  memset(&race, 0, sizeof(race));
  race.loop_thread = pthread_self();
  ck_assert_int_eq(pipe2(race.req, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(race.ack, O_CLOEXEC | O_NONBLOCK), 0);
  ck_assert_int_eq(pipe2(storm_cmd, O_CLOEXEC), 0);

  for (i = 0; i < RACE_ITERATIONS; i++) {
    uv_loop_t loop;
    dk_signals_t sig;
    int before, phase = i % 4;
    char c = 'p';

    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
    ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, race_cb), 0);
    ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR2, race_cb), 0);
    ck_assert_int_eq(dk_signals_set(&sig, DK_SIGHUP, race_cb), 0);
    if (phase == 0 && running)
      burst(); /* lands on the start (USR1 and HUP are ignored until then) */
    ck_assert_int_eq(dk_signals_start(&sig), 0);
    race.state = 1;
    if (!running) {
      /* Only now: until the first start USR1 and HUP still kill. */
      ck_assert_int_eq(pthread_create(&thread, NULL, storm_thread, NULL), 0);
      start_storm_process(storm_cmd);
      running = 1;
    }

    /* Delivered while started, raised by this thread: its callback comes. */
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_msg(wait_probe(&loop, ++probes), "iteration %d: raised probe lost", i);

    /* Stopped, signals coming: nothing is called, nothing kills. */
    if (phase == 1)
      burst();
    ck_assert_int_eq(dk_signals_stop(&sig), 0);
    race.state = 0;
    before = race.while_stopped;
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(race.while_stopped, before);

    /* Started again; a probe sent by the other thread. Once it has
     * acknowledged, the signal was delivered (pthread_kill comes first, and
     * our read of the ack returns only after its handler ran). */
    if (phase == 2)
      burst();
    ck_assert_int_eq(dk_signals_start(&sig), 0);
    race.state = 1;
    ck_assert_int_eq(write(race.req[1], &c, 1), 1);
    ck_assert_msg(wait_ack(&loop), "iteration %d: the storm thread did not answer", i);
    ck_assert_msg(wait_probe(&loop, ++probes), "iteration %d: probe from the thread lost", i);

    /* Closed while started, or after a stop, signals coming. */
    if (phase == 3)
      burst();
    if (i % 2)
      ck_assert_int_eq(dk_signals_stop(&sig), 0);
    race.state = 2;
    dk_signals_close(&sig, race_closed);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(race.closes, i + 1);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
  }

  {
    char q = 'q';
    ck_assert_int_eq(write(race.req[1], &q, 1), 1);
  }
  ck_assert_int_eq(pthread_join(thread, NULL), 0);
  close(storm_cmd[1]);
  ck_assert_int_eq(dk_test_reap_all(10000, 0, NULL), 1);
  ck_assert_int_eq(race.after_close, 0);
  ck_assert_int_eq(race.while_stopped, 0);
  ck_assert_int_eq(race.probes, 2 * RACE_ITERATIONS); /* each exactly once */
}
END_TEST

static Suite *stress_suite(void) {
  Suite *s = suite_create("stress");
  TCase *tc = dk_test_tcase(s, "stress", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_handled_signals_are_ignored_not_deadly_once_not_watched);
  tcase_add_test(tc, test_daemon_exits_cleanly_when_term_comes_in_a_signal_storm);
  tcase_add_test(tc, test_start_stop_close_racing_deliveries);
  return s;
}

int main(void) {
  return dk_test_run(stress_suite());
}
