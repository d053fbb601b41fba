/* Signals on the loop, POSIX: dk_signals_* in this process, where libuv's
 * state can be inspected (uv_walk, uv_backend_timeout), and in real daemons
 * started by dk_daemonize and signalled with dk_send from the test. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"


/* --- in this process ------------------------------------------------------ */

/* What a callback saw: how often it ran, for which signal, and whether it
 * ran on the thread that called uv_run. */
static struct {
  int calls;
  int signums[16];
  int off_thread;
  int in_run;
  int outside_run;
  uv_thread_t loop_thread;
} seen;

static void seen_reset(void) {
  memset(&seen, 0, sizeof(seen));
  seen.loop_thread = uv_thread_self();
}

static void record(int dk_signum) {
  uv_thread_t now = uv_thread_self();
  if (seen.calls < (int)N_ELEMS(seen.signums))
    seen.signums[seen.calls] = dk_signum;
  seen.calls++;
  if (!uv_thread_equal(&now, &seen.loop_thread))
    seen.off_thread++;
  if (!seen.in_run)
    seen.outside_run++;
}

static void on_signal(dk_signals_t *sig, int dk_signum) {
  (void)sig;
  record(dk_signum);
}

/* uv_run with the in_run flag set: a callback outside it is counted. */
static int run(uv_loop_t *loop, uv_run_mode mode) {
  int r;
  seen.in_run = 1;
  r = uv_run(loop, mode);
  seen.in_run = 0;
  return r;
}

struct census {
  int handles;       /* every handle the loop has */
  int active;        /* of them, active ones */
  int signals;       /* uv_signal_t handles */
  unsigned watched;  /* bit n set: an active uv_signal_t watches host signal n */
};

static void count_handle(uv_handle_t *h, void *arg) {
  struct census *c = arg;
  c->handles++;
  if (uv_is_active(h))
    c->active++;
  if (h->type == UV_SIGNAL) {
    c->signals++;
    if (uv_is_active(h))
      c->watched |= 1u << ((uv_signal_t *)h)->signum;
  }
}

static struct census take_census(uv_loop_t *loop) {
  struct census c;
  memset(&c, 0, sizeof(c));
  uv_walk(loop, count_handle, &c);
  return c;
}

#define BIT(s) (1u << (s))
#define ALWAYS (BIT(SIGINT) | BIT(SIGTERM) | BIT(SIGABRT))

static void close_all(uv_loop_t *loop, dk_signals_t *sig) {
  dk_signals_close(sig, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(loop), 0);
}

START_TEST(test_idle_started_signals_do_not_poll) {
  uv_loop_t loop;
  dk_signals_t sig;
  struct census c;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);

  c = take_census(&loop);
  ck_assert_int_eq(c.handles, 6);
  ck_assert_int_eq(c.signals, 6);
  ck_assert_int_eq(c.active, 4);
  ck_assert_uint_eq(c.watched, ALWAYS | BIT(SIGUSR1));
  ck_assert(uv_loop_alive(&loop));
  /* Nothing is due: no timer, no idle or prepare handle, nothing pending.
   * uv_run would sleep in epoll_wait until a signal comes. */
  ck_assert_int_ne(run(&loop, UV_RUN_NOWAIT), 0);
  ck_assert_int_eq(seen.calls, 0);
  /* Now that uv_run registered the descriptors it watches (before, libuv
   * says 0: "call uv_run first"). */
  ck_assert_int_eq(uv_backend_timeout(&loop), -1);
  ck_assert_int_ne(run(&loop, UV_RUN_NOWAIT), 0);
  ck_assert_int_eq(seen.calls, 0);
  ck_assert_int_eq(dk_signals_received(&sig), 0);

  /* Stopped, nothing keeps the loop alive. */
  ck_assert_int_eq(dk_signals_stop(&sig), 0);
  ck_assert(!uv_loop_alive(&loop));
  ck_assert_int_eq(take_census(&loop).active, 0);
  ck_assert_int_eq(run(&loop, UV_RUN_DEFAULT), 0);
  close_all(&loop, &sig);
}
END_TEST

START_TEST(test_hup_usr1_usr2_watched_only_once_set) {
  uv_loop_t loop;
  dk_signals_t sig;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  /* Before start, nothing is watched, whatever is set. */
  ck_assert_int_eq(take_census(&loop).active, 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS);
  ck_assert_int_eq(take_census(&loop).active, 3);

  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGHUP, on_signal), 0);
  ck_assert_int_eq(take_census(&loop).active, 4);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS | BIT(SIGHUP));
  ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGUSR1), 0);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS | BIT(SIGHUP) | BIT(SIGUSR1));
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR2, on_signal), 0);
  ck_assert_int_eq(take_census(&loop).active, 6);

  /* Back to default: HUP's own default action (terminate) again. */
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGHUP, NULL), 0);
  ck_assert_int_eq(take_census(&loop).active, 5);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS | BIT(SIGUSR1) | BIT(SIGUSR2));
  /* INT, TERM, ABRT stay watched: their default is the library's. */
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGINT, on_signal), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGINT, NULL), 0);
  ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGTERM), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGTERM, NULL), 0);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS | BIT(SIGUSR1) | BIT(SIGUSR2));
  /* Setting the same thing twice changes nothing. */
  ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGUSR1), 0);
  ck_assert_int_eq(take_census(&loop).active, 5);
  close_all(&loop, &sig);
}
END_TEST

START_TEST(test_bad_signal_numbers_are_einval) {
  const int bad[] = { 0, -1, 3, 9, 11, 13, 14, 16, 17, 19, 31, 64, 1000 };
  uv_loop_t loop;
  dk_signals_t sig;
  size_t i;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(NULL, &sig, NULL), UV_EINVAL);
  ck_assert_int_eq(dk_signals_init(&loop, NULL, NULL), UV_EINVAL);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  for (i = 0; i < N_ELEMS(bad); i++) {
    ck_assert_int_eq(dk_signals_set(&sig, bad[i], on_signal), UV_EINVAL);
    ck_assert_int_eq(dk_signals_set(&sig, bad[i], NULL), UV_EINVAL);
    ck_assert_int_eq(dk_signals_ignore(&sig, bad[i]), UV_EINVAL);
  }
  ck_assert_int_eq(dk_signals_set(NULL, DK_SIGUSR1, on_signal), UV_EINVAL);
  ck_assert_int_eq(dk_signals_ignore(NULL, DK_SIGUSR1), UV_EINVAL);
  ck_assert_int_eq(dk_signals_start(NULL), UV_EINVAL);
  ck_assert_int_eq(dk_signals_stop(NULL), UV_EINVAL);
  ck_assert_int_eq(dk_signals_received(NULL), 0);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS);
  close_all(&loop, &sig);
}
END_TEST

START_TEST(test_signal_runs_callback_inside_uv_run_on_loop_thread) {
  uv_loop_t loop;
  dk_signals_t sig;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(uv_kill(getpid(), SIGUSR1), 0);
  /* Delivered (a signal to oneself is, before kill returns), not run. */
  ck_assert_int_eq(seen.calls, 0);
  run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(seen.calls, 1);
  ck_assert_int_eq(seen.signums[0], DK_SIGUSR1);
  ck_assert_int_eq(seen.off_thread, 0);
  ck_assert_int_eq(seen.outside_run, 0);
  ck_assert_int_eq(dk_signals_received(&sig), 0); /* a callback is no default */
  close_all(&loop, &sig);
}
END_TEST

START_TEST(test_signals_dispatched_in_order_none_swallowed) {
  const int host[] = { SIGUSR1, SIGUSR2, SIGUSR1, SIGHUP, SIGINT, SIGTERM, SIGABRT, SIGUSR2 };
  const int dk[] = { DK_SIGUSR1, DK_SIGUSR2, DK_SIGUSR1, DK_SIGHUP,
                     DK_SIGINT, DK_SIGTERM, DK_SIGABRT, DK_SIGUSR2 };
  uv_loop_t loop;
  dk_signals_t sig;
  size_t i;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  for (i = 0; i < N_ELEMS(dk); i++)
    ck_assert_int_eq(dk_signals_set(&sig, dk[i], on_signal), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  for (i = 0; i < N_ELEMS(host); i++)
    ck_assert_int_eq(raise(host[i]), 0);
  run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(seen.calls, (int)N_ELEMS(dk));
  for (i = 0; i < N_ELEMS(dk); i++)
    ck_assert_int_eq(seen.signums[i], dk[i]);
  ck_assert_int_eq(seen.off_thread, 0);
  close_all(&loop, &sig);
}
END_TEST

static void on_guard_timer(uv_timer_t *t) {
  *(int *)t->data = 1;
  uv_stop(t->loop);
}

static void check_default_stops_loop(int dk_signum, int host_signum) {
  uv_loop_t loop;
  uv_timer_t other_work;
  dk_signals_t sig;
  int timer_fired = 0;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  /* Something else keeps the loop alive: only uv_stop makes uv_run return. */
  ck_assert_int_eq(uv_timer_init(&loop, &other_work), 0);
  other_work.data = &timer_fired;
  ck_assert_int_eq(uv_timer_start(&other_work, on_guard_timer, 20000, 0), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(raise(host_signum), 0);
  ck_assert_int_ne(run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(timer_fired, 0);
  ck_assert_int_eq(dk_signals_received(&sig), dk_signum);
  ck_assert_int_eq(seen.calls, 0);
  /* The default handler stopped its own watching; the timer is left. */
  ck_assert_uint_eq(take_census(&loop).watched, 0);
  ck_assert_int_eq(take_census(&loop).active, 1);
  uv_close((uv_handle_t *)&other_work, NULL);
  close_all(&loop, &sig);
}

START_TEST(test_default_int_stops_loop_in_process) {
  check_default_stops_loop(DK_SIGINT, SIGINT);
}
END_TEST

START_TEST(test_default_term_stops_loop_in_process) {
  check_default_stops_loop(DK_SIGTERM, SIGTERM);
}
END_TEST

START_TEST(test_default_abrt_stops_loop_in_process) {
  check_default_stops_loop(DK_SIGABRT, SIGABRT);
}
END_TEST

START_TEST(test_ignored_signal_calls_nothing_in_process) {
  uv_loop_t loop;
  dk_signals_t sig;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGUSR1), 0);
  ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGTERM), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR2, on_signal), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(raise(SIGUSR1), 0);
  ck_assert_int_eq(raise(SIGTERM), 0);
  ck_assert_int_eq(raise(SIGUSR2), 0);
  run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(seen.calls, 1);
  ck_assert_int_eq(seen.signums[0], DK_SIGUSR2);
  ck_assert_int_eq(dk_signals_received(&sig), 0);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS | BIT(SIGUSR1) | BIT(SIGUSR2));
  close_all(&loop, &sig);
}
END_TEST

static void on_signal_raise_again(dk_signals_t *sig, int dk_signum) {
  record(dk_signum);
  if (seen.calls < 3)
    raise(SIGUSR1);
  else
    dk_signals_stop(sig); /* no active handle left: uv_run returns */
}

START_TEST(test_signal_raised_during_its_callback_is_not_lost) {
  uv_loop_t loop;
  uv_timer_t guard;
  dk_signals_t sig;
  int guard_fired = 0;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_timer_init(&loop, &guard), 0);
  guard.data = &guard_fired;
  ck_assert_int_eq(uv_timer_start(&guard, on_guard_timer, 20000, 0), 0);
  uv_unref((uv_handle_t *)&guard); /* a fuse, not a reason to run */
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal_raise_again), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(raise(SIGUSR1), 0);
  ck_assert_int_eq(run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(guard_fired, 0);
  ck_assert_int_eq(seen.calls, 3);
  ck_assert_int_eq(seen.off_thread, 0);
  uv_close((uv_handle_t *)&guard, NULL);
  close_all(&loop, &sig);
}
END_TEST

static void on_signal_swap(dk_signals_t *sig, int dk_signum) {
  record(dk_signum);
  seen.signums[seen.calls - 1] = -dk_signum; /* marks the first handler */
  dk_signals_set(sig, dk_signum, on_signal);
}

START_TEST(test_handler_changed_inside_callback_takes_effect) {
  uv_loop_t loop;
  dk_signals_t sig;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  /* Set while started. */
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal_swap), 0);
  ck_assert_int_eq(raise(SIGUSR1), 0);
  ck_assert_int_eq(raise(SIGUSR1), 0);
  run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(seen.calls, 2);
  ck_assert_int_eq(seen.signums[0], -DK_SIGUSR1);
  ck_assert_int_eq(seen.signums[1], DK_SIGUSR1);
  /* From callback to ignore to callback, and INT from default to callback. */
  ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGUSR1), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGINT, on_signal), 0);
  ck_assert_int_eq(raise(SIGUSR1), 0);
  ck_assert_int_eq(raise(SIGINT), 0);
  run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(seen.calls, 3);
  ck_assert_int_eq(seen.signums[2], DK_SIGINT);
  ck_assert_int_eq(dk_signals_received(&sig), 0);
  close_all(&loop, &sig);
}
END_TEST

START_TEST(test_stop_then_start_watches_again) {
  uv_loop_t loop;
  dk_signals_t sig;
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGHUP, on_signal), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0); /* twice is once */
  ck_assert_int_eq(take_census(&loop).active, 4);
  ck_assert_int_eq(dk_signals_stop(&sig), 0);
  ck_assert_int_eq(dk_signals_stop(&sig), 0);
  ck_assert_int_eq(take_census(&loop).active, 0);
  /* Handlers set while stopped apply at the next start. */
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR2, on_signal), 0);
  ck_assert_int_eq(take_census(&loop).active, 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS | BIT(SIGHUP) | BIT(SIGUSR2));
  ck_assert_int_eq(raise(SIGHUP), 0);
  ck_assert_int_eq(raise(SIGUSR2), 0);
  run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(seen.calls, 2);
  ck_assert_int_eq(raise(SIGINT), 0);
  run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(dk_signals_received(&sig), DK_SIGINT);
  ck_assert_int_eq(take_census(&loop).active, 0);
  /* After the default stopped it, it can be started again. */
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(take_census(&loop).active, 5);
  close_all(&loop, &sig);
}
END_TEST

static int close_calls;
static dk_signals_t *closed_sig;

static void on_closed(dk_signals_t *sig) {
  close_calls++;
  closed_sig = sig;
}

START_TEST(test_close_calls_back_once_and_loop_closes) {
  uv_loop_t loop;
  dk_signals_t sig;
  int i;
  for (i = 0; i < 2; i++) { /* started, then never started */
    close_calls = 0;
    closed_sig = NULL;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
    ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal), 0);
    if (i == 0)
      ck_assert_int_eq(dk_signals_start(&sig), 0);
    dk_signals_close(&sig, on_closed);
    dk_signals_close(&sig, on_closed); /* a second close is a no-op */
    ck_assert_int_eq(close_calls, 0);  /* like uv_close: from the loop */
    ck_assert_int_eq(dk_signals_start(&sig), UV_EINVAL);
    ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal), UV_EINVAL);
    ck_assert_int_eq(dk_signals_ignore(&sig, DK_SIGUSR1), UV_EINVAL);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(close_calls, 1);
    ck_assert_ptr_eq(closed_sig, &sig);
    ck_assert_int_eq(take_census(&loop).handles, 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
  }
  /* Closing twice from one with no close callback. */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  dk_signals_close(&sig, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* --- in a daemon, signalled with dk_send ---------------------------------- */

static const int all_signals[] = { DK_SIGINT, DK_SIGTERM, DK_SIGABRT,
                                   DK_SIGHUP, DK_SIGUSR1, DK_SIGUSR2 };

START_TEST(test_each_signal_reaches_its_callback_on_daemon_loop) {
  /* Two handlers, so that reaching "a" callback is not enough. */
  const struct dk_test_cmd setup[] = {
    { DK_TEST_SET_A, DK_SIGINT }, { DK_TEST_SET_B, DK_SIGTERM }, { DK_TEST_SET_A, DK_SIGABRT },
    { DK_TEST_SET_B, DK_SIGHUP }, { DK_TEST_SET_A, DK_SIGUSR1 }, { DK_TEST_SET_B, DK_SIGUSR2 },
  };
  struct dk_test_sigd d;
  size_t i;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup, N_ELEMS(setup)), DK_PARENT);
  for (i = 0; i < N_ELEMS(setup); i++) {
    ck_assert_int_eq(dk_send("d.pid", setup[i].signum), 0);
    dk_test_sigd_expect_cb(&d, setup[i].signum,
                           setup[i].op == DK_TEST_SET_A ? DK_TEST_HANDLER_A : DK_TEST_HANDLER_B);
  }
  /* Twice round, the other way: each was a callback, no default ran. */
  for (i = N_ELEMS(all_signals); i-- > 0;) {
    ck_assert_int_eq(dk_send("d.pid", all_signals[i]), 0);
    dk_test_sigd_expect_cb(&d, all_signals[i], i % 2 == 0 ? DK_TEST_HANDLER_A : DK_TEST_HANDLER_B);
  }
  ck_assert(dk_test_sigd_quiet(&d));
  dk_test_sigd_release(&d);
}
END_TEST

static void check_default_makes_daemon_exit(int dk_signum) {
  struct dk_test_sigd d;
  uv_pid_t pid = 0;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_pid_file_check("d.pid", &pid), 0);
  ck_assert_int_eq(pid, d.pid);
  ck_assert_int_eq(dk_send("d.pid", dk_signum), 0);
  /* uv_run returned with the signal recorded, the daemon closed its loop,
   * exited with 0, and its atexit handler removed the pid file. */
  dk_test_sigd_expect_exit(&d, dk_signum);
  ck_assert_int_eq(dk_send("d.pid", dk_signum), UV_ENOENT);
  dk_test_sigd_close(&d);
}

START_TEST(test_default_int_makes_daemon_exit_cleanly) {
  check_default_makes_daemon_exit(DK_SIGINT);
}
END_TEST

START_TEST(test_default_term_makes_daemon_exit_cleanly) {
  check_default_makes_daemon_exit(DK_SIGTERM);
}
END_TEST

START_TEST(test_default_abrt_makes_daemon_exit_cleanly) {
  check_default_makes_daemon_exit(DK_SIGABRT);
}
END_TEST

START_TEST(test_ignored_signals_leave_daemon_running_and_call_nothing) {
  const struct dk_test_cmd setup[] = {
    { DK_TEST_IGNORE, DK_SIGTERM }, { DK_TEST_IGNORE, DK_SIGINT }, { DK_TEST_IGNORE, DK_SIGHUP },
    { DK_TEST_IGNORE, DK_SIGUSR1 }, { DK_TEST_SET_A, DK_SIGUSR2 },
  };
  const int ignored[] = { DK_SIGTERM, DK_SIGINT, DK_SIGHUP, DK_SIGUSR1 };
  struct dk_test_sigd d;
  size_t i;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup, N_ELEMS(setup)), DK_PARENT);
  for (i = 0; i < N_ELEMS(ignored); i++) {
    /* The ignored one first, then a watched one: only the second is seen,
     * and the default (exit) did not run either. */
    ck_assert_int_eq(dk_send("d.pid", ignored[i]), 0);
    ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR2), 0);
    dk_test_sigd_expect_cb(&d, DK_SIGUSR2, DK_TEST_HANDLER_A);
    ck_assert(dk_test_sigd_quiet(&d));
    ck_assert(dk_test_alive(d.pid));
  }
  /* Ignoring can be undone: TERM's default acts again. */
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SET_DEFAULT, DK_SIGTERM), 0);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGTERM), 0);
  dk_test_sigd_expect_exit(&d, DK_SIGTERM);
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_handler_swapped_while_running_takes_effect) {
  const struct dk_test_cmd setup[] = { { DK_TEST_SET_A, DK_SIGUSR1 },
                                       { DK_TEST_SET_SWAP, DK_SIGUSR2 } };
  struct dk_test_sigd d;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup, N_ELEMS(setup)), DK_PARENT);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR1), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR1, DK_TEST_HANDLER_A);
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SET_B, DK_SIGUSR1), 0);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR1), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR1, DK_TEST_HANDLER_B);

  /* A handler that replaces itself, from inside its callback. */
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR2), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR2, DK_TEST_HANDLER_SWAP);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGUSR2), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGUSR2, DK_TEST_HANDLER_B);

  /* TERM: default -> callback -> default, all while running. */
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SET_A, DK_SIGTERM), 0);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGTERM), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGTERM, DK_TEST_HANDLER_A);
  ck_assert(dk_test_sigd_quiet(&d));
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SET_DEFAULT, DK_SIGTERM), 0);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGTERM), 0);
  dk_test_sigd_expect_exit(&d, DK_SIGTERM);
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_hup_watched_once_set_and_default_again_when_reset) {
  struct dk_test_sigd d;
  int status = 0;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", NULL, 0), DK_PARENT);
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SET_A, DK_SIGHUP), 0);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGHUP), 0);
  dk_test_sigd_expect_cb(&d, DK_SIGHUP, DK_TEST_HANDLER_A);
  /* NULL: back to the default, which for HUP is the system's: it kills. */
  ck_assert_int_eq(dk_test_sigd_command(&d, DK_TEST_SET_DEFAULT, DK_SIGHUP), 0);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGHUP), 0);
  ck_assert_int_eq(dk_test_reap(d.pid, 10000, &status), 1);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP);
  /* Killed: no cleanup ran, and the file left behind is stale. */
  ck_assert_int_eq(access("d.pid", F_OK), 0);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGHUP), DK_ESTALE);
  dk_test_sigd_close(&d);
}
END_TEST

START_TEST(test_burst_of_alternating_signals_delivers_both) {
  const struct dk_test_cmd setup[] = { { DK_TEST_SET_A, DK_SIGUSR1 },
                                       { DK_TEST_SET_A, DK_SIGUSR2 } };
  const int n = 1000;
  struct dk_test_sigd d;
  struct dk_test_report r;
  int i, seen1 = 0, seen2 = 0, calls = 0, last1 = 0, last2 = 0, got;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup, N_ELEMS(setup)), DK_PARENT);
  for (i = 1; i <= n; i++) {
    int s = i % 2 ? DK_SIGUSR1 : DK_SIGUSR2;
    /* Written before the send: a callback that reads i started after
     * this send began. */
    __atomic_store_n(&d.shared->seq[s], i, __ATOMIC_SEQ_CST);
    ck_assert_int_eq(dk_send("d.pid", s), 0);
    if (s == DK_SIGUSR1)
      last1 = i;
    else
      last2 = i;
  }
  /* At least one callback of each ran after the last send of each. */
  while (!(seen1 && seen2)) {
    got = dk_test_sigd_next(&d, &r, 10000);
    ck_assert_msg(got == 1, "got %d after %d callbacks: USR1 last seen %d, USR2 %d; daemon state %c",
                  got, calls, seen1, seen2, (char)dk_test_stat_field(d.pid, 3));
    ck_assert_int_eq(r.kind, DK_TEST_REP_CB);
    ck_assert(r.on_loop_thread);
    calls++;
    if (r.signum == DK_SIGUSR1 && r.seq == last1)
      seen1 = 1;
    else if (r.signum == DK_SIGUSR2 && r.seq == last2)
      seen2 = 1;
    else
      ck_assert(r.signum == DK_SIGUSR1 || r.signum == DK_SIGUSR2);
  }
  ck_assert_int_le(calls, n); /* one callback per delivery at most */
  /* Late callbacks for coalesced signals may still come: drain them. */
  shutdown(d.sock, SHUT_WR);
  while ((got = dk_test_sigd_next(&d, &r, 10000)) == 1 && r.kind == DK_TEST_REP_CB)
    ck_assert(r.signum == DK_SIGUSR1 || r.signum == DK_SIGUSR2);
  ck_assert_int_eq(got, 1);
  ck_assert_int_eq(r.kind, DK_TEST_REP_EXIT);
  ck_assert_int_eq(r.signum, 0);
  ck_assert_int_eq(dk_test_reap(d.pid, 10000, NULL), 1);
  ck_assert(dk_test_wait_path(dk_test_path(0, "d.pid"), 0, 10000));
  dk_test_sigd_close(&d);
}
END_TEST

static Suite *signals_suite(void) {
  Suite *s = suite_create("signals");
  TCase *tc = tcase_create("loop");
  tcase_add_checked_fixture(tc, dk_test_daemon_setup, dk_test_daemon_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_idle_started_signals_do_not_poll);
  tcase_add_test(tc, test_hup_usr1_usr2_watched_only_once_set);
  tcase_add_test(tc, test_bad_signal_numbers_are_einval);
  tcase_add_test(tc, test_signal_runs_callback_inside_uv_run_on_loop_thread);
  tcase_add_test(tc, test_signals_dispatched_in_order_none_swallowed);
  tcase_add_test(tc, test_default_int_stops_loop_in_process);
  tcase_add_test(tc, test_default_term_stops_loop_in_process);
  tcase_add_test(tc, test_default_abrt_stops_loop_in_process);
  tcase_add_test(tc, test_ignored_signal_calls_nothing_in_process);
  tcase_add_test(tc, test_signal_raised_during_its_callback_is_not_lost);
  tcase_add_test(tc, test_handler_changed_inside_callback_takes_effect);
  tcase_add_test(tc, test_stop_then_start_watches_again);
  tcase_add_test(tc, test_close_calls_back_once_and_loop_closes);
  suite_add_tcase(s, tc);

  tc = tcase_create("daemon");
  tcase_add_checked_fixture(tc, dk_test_daemon_setup, dk_test_daemon_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_each_signal_reaches_its_callback_on_daemon_loop);
  tcase_add_test(tc, test_default_int_makes_daemon_exit_cleanly);
  tcase_add_test(tc, test_default_term_makes_daemon_exit_cleanly);
  tcase_add_test(tc, test_default_abrt_makes_daemon_exit_cleanly);
  tcase_add_test(tc, test_ignored_signals_leave_daemon_running_and_call_nothing);
  tcase_add_test(tc, test_handler_swapped_while_running_takes_effect);
  tcase_add_test(tc, test_hup_watched_once_set_and_default_again_when_reset);
  suite_add_tcase(s, tc);

  /* Tagged: the TSan leg leaves floods out (see .ci/sanitizers). */
  tc = tcase_create("flood");
  tcase_set_tags(tc, "flood");
  tcase_add_checked_fixture(tc, dk_test_daemon_setup, dk_test_daemon_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_burst_of_alternating_signals_delivers_both);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return dk_test_run(signals_suite());
}
