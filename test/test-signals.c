/* SPDX-License-Identifier: MIT */
/* Signals on the loop, POSIX: dk_signals_* in this process, where libuv's
 * state can be inspected (uv_walk, uv_backend_timeout), and in real daemons
 * started by dk_daemonize and signalled with dk_send from the test. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
  /* The default handler stopped the other watchers; INT, TERM and ABRT
   * stay caught, so that a second one can not kill the cleanup, but they
   * keep no loop alive: only the timer does. */
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS);
  uv_close((uv_handle_t *)&other_work, NULL);
  ck_assert_int_eq(run(&loop, UV_RUN_DEFAULT), 0);
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
  /* The default stopped HUP and USR2; INT, TERM and ABRT stay caught but
   * keep nothing alive. */
  ck_assert_uint_eq(take_census(&loop).watched, ALWAYS);
  ck_assert(!uv_loop_alive(&loop));
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

static void on_idle_pass(uv_idle_t *idle) {
  if (++*(int *)idle->data == 3)
    uv_close((uv_handle_t *)idle, NULL);
}

/* Once the default acted on TERM, the cleanup runs the loop again to let
 * its handles close. TERM, INT and ABRT that come then are caught: no
 * death, no callback, no second uv_stop (which would end that uv_run with
 * its closes unfinished), and dk_signals_received still names the first.
 * After dk_signals_close they stay ignored until the process exits. */
START_TEST(test_signals_after_default_acted_neither_kill_nor_stop_cleanup) {
  uv_loop_t loop;
  uv_idle_t idle;
  dk_signals_t sig;
  struct sigaction sa;
  int passes = 0, s;
  const int again[] = { SIGTERM, SIGINT, SIGABRT };
  seen_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(raise(SIGTERM), 0);
  run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(dk_signals_received(&sig), DK_SIGTERM);

  /* The cleanup's uv_run: an idle handle that closes on its third pass.
   * The signals are already in libuv's pipe; the first pass polls them. */
  for (s = 0; s < (int)N_ELEMS(again); s++)
    ck_assert_int_eq(raise(again[s]), 0);
  ck_assert_int_eq(uv_idle_init(&loop, &idle), 0);
  idle.data = &passes;
  ck_assert_int_eq(uv_idle_start(&idle, on_idle_pass), 0);
  ck_assert_int_eq(run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_msg(passes == 3, "uv_run returned after %d idle passes: stopped again", passes);
  ck_assert_int_eq(seen.calls, 0);
  ck_assert_int_eq(dk_signals_received(&sig), DK_SIGTERM);

  /* Also while dk_signals_close is under way, and after it. */
  dk_signals_close(&sig, NULL);
  ck_assert_int_eq(raise(SIGTERM), 0);
  ck_assert_int_eq(run(&loop, UV_RUN_DEFAULT), 0);
  for (s = 0; s < (int)N_ELEMS(again); s++) {
    ck_assert_int_eq(sigaction(again[s], NULL, &sa), 0);
    ck_assert_msg(sa.sa_handler == SIG_IGN, "signal %d is not ignored after the close", again[s]);
    ck_assert_int_eq(raise(again[s]), 0);
  }
  ck_assert_int_eq(dk_signals_received(&sig), DK_SIGTERM);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static int walk_close_calls;
static int handles_left_at_close;

static void on_closed_count_handles(dk_signals_t *sig) {
  uv_loop_t *loop = sig->data;
  walk_close_calls++;
  handles_left_at_close = take_census(loop).handles;
  memset(sig, 0xa5, sizeof(*sig)); /* as if freed: nothing may touch it now */
  sig->data = loop;
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* libuv's shutdown idiom: uv_walk closes every handle of the loop, ours
 * too; dk_signals_stop and dk_signals_close must cope (not trip libuv's
 * assertion on a closing handle), call back once, after libuv is done with
 * each of its handles, and leave a loop that closes. */
START_TEST(test_close_after_uv_walk_closed_every_handle) {
  uv_loop_t loop;
  uv_timer_t timer;
  dk_signals_t sig;
  int i;
  for (i = 0; i < 3; i++) { /* started; never started; the default acted */
    walk_close_calls = 0;
    handles_left_at_close = -1;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(uv_timer_init(&loop, &timer), 0);
    ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
    sig.data = &loop;
    ck_assert_int_eq(dk_signals_set(&sig, DK_SIGUSR1, on_signal), 0);
    if (i != 1)
      ck_assert_int_eq(dk_signals_start(&sig), 0);
    if (i == 2) {
      ck_assert_int_eq(raise(SIGINT), 0);
      run(&loop, UV_RUN_NOWAIT);
      ck_assert_int_eq(dk_signals_received(&sig), DK_SIGINT);
    }
    uv_walk(&loop, close_handle, NULL);
    ck_assert_int_eq(dk_signals_stop(&sig), 0);
    dk_signals_close(&sig, on_closed_count_handles);
    ck_assert_int_eq(walk_close_calls, 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(walk_close_calls, 1);
    ck_assert_int_eq(handles_left_at_close, 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
  }
}
END_TEST

/* A write to a pipe nobody reads is an error after dk_signals_start, not
 * a death, and stays one after stop and close; a SIGPIPE handler the
 * application set is left alone. */
static int write_to_closed_pipe(void) {
  int p[2], r;
  ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  r = write(p[1], "x", 1) < 0 ? errno : 0;
  close(p[1]);
  return r;
}

static void on_sigpipe(int s) {
  (void)s;
}

START_TEST(test_sigpipe_is_ignored_once_started) {
  uv_loop_t loop;
  dk_signals_t sig;
  struct sigaction sa;
  ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
  ck_assert(sa.sa_handler == SIG_DFL); /* Check's test process: as a daemon starts */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(write_to_closed_pipe(), EPIPE);
  ck_assert_int_eq(dk_signals_stop(&sig), 0);
  ck_assert_int_eq(write_to_closed_pipe(), EPIPE);
  close_all(&loop, &sig);
  ck_assert_int_eq(write_to_closed_pipe(), EPIPE);
  ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
  ck_assert(sa.sa_handler == SIG_IGN);

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigpipe;
  ck_assert_int_eq(sigaction(SIGPIPE, &sa, NULL), 0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
  ck_assert(sa.sa_handler == on_sigpipe);
  close_all(&loop, &sig);
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
  dk_test_sigd_stop(&d, "d.pid");
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
  dk_test_sigd_stop(&d, "d.pid");
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

/* Runs the loop made before dk_daemonize in the daemon: what dk_signals_init
 * and dk_signals_start say there is the status of dk_ready, which the
 * parent's dk_daemonize returns. keep_backend: the loop's epoll descriptor
 * is kept open across (keep_fds), so it still is one, shared with this
 * process; init_before: dk_signals_init ran here, before. */
static int daemonize_with_loop_made_before(int keep_backend, int init_before) {
  uv_loop_t *loop = uv_default_loop();
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_signals_t sig;
  int r, err = 0, keep[1];

  ck_assert_ptr_nonnull(loop);
  ck_assert_int_eq(dk_daemonizer_init(&dz), 1);
  dk_options_init(&opts);
  opts.pid_file = "d.pid";
  opts.timeout_ms = 10000;
  opts.flags = DK_WAIT_READY;
  if (keep_backend) {
    keep[0] = uv_backend_fd(loop);
    ck_assert_int_ge(keep[0], 0);
    opts.keep_fds = keep;
    opts.keep_fds_count = 1;
    /* Only its age tells this loop from one made in the daemon: let it be
     * older than the library's allowance for a coarse uv_now clock. */
    while (uv_hrtime() / 1000000 < uv_now(loop) + 500)
      uv_sleep(50);
  }
  if (init_before)
    ck_assert_int_eq(dk_signals_init(loop, &sig, NULL), 0);
  r = dk_daemonize(&dz, &opts, NULL, 0);
  if (r == DK_DAEMON) {
    if (!init_before)
      err = dk_signals_init(loop, &sig, dk_daemonizer_pid_file(&dz));
    if (err == 0)
      err = dk_signals_start(&sig);
    dk_ready(&dz, err);
    exit(err == 0 ? 0 : 1);
  }
  if (dk_daemon_pid(&dz) > 0)
    dk_test_track_pid(dk_daemon_pid(&dz));
  if (init_before) {
    dk_signals_close(&sig, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
  }
  ck_assert_int_eq(uv_loop_close(loop), 0);
  return r;
}

/* libuv's default loop made before dk_daemonize: in the daemon its epoll
 * descriptor was closed (and its number reused), so it could never see a
 * signal. The daemon must not be reported as started. */
START_TEST(test_loop_made_before_daemonizing_is_refused) {
  int r = daemonize_with_loop_made_before(0, 0);
  ck_assert_msg(r == UV_EBADF, "dk_daemonize returned %d (%s), want UV_EBADF from the daemon's "
                "dk_signals_init", r, dk_err_name(r));
  ck_assert(dk_test_wait_path(dk_test_path(0, "d.pid"), 0, 10000));
}
END_TEST

START_TEST(test_signals_inited_before_daemonizing_are_refused_at_start) {
  int r = daemonize_with_loop_made_before(0, 1);
  ck_assert_msg(r == UV_EBADF, "dk_daemonize returned %d (%s), want UV_EBADF from the daemon's "
                "dk_signals_start", r, dk_err_name(r));
  ck_assert(dk_test_wait_path(dk_test_path(0, "d.pid"), 0, 10000));
}
END_TEST

/* The same loop with its epoll descriptor kept open: an epoll instance
 * still, but the parent's, and the rest of the loop's descriptors closed. */
START_TEST(test_loop_kept_from_before_daemonizing_is_refused) {
  int r = daemonize_with_loop_made_before(1, 0);
  ck_assert_msg(r == UV_EBADF, "dk_daemonize returned %d (%s), want UV_EBADF", r, dk_err_name(r));
  ck_assert(dk_test_wait_path(dk_test_path(0, "d.pid"), 0, 10000));
}
END_TEST

/* DK_FOREGROUND neither forks nor closes descriptors: a loop made before
 * is the process's own and works. */
START_TEST(test_loop_made_before_foreground_daemonize_works) {
  uv_loop_t *loop = uv_default_loop();
  dk_daemonizer_t dz;
  dk_options_t opts;
  dk_signals_t sig;
  ck_assert_ptr_nonnull(loop);
  ck_assert_int_eq(dk_daemonizer_init(&dz), 1);
  dk_options_init(&opts);
  opts.pid_file = "fg.pid";
  opts.workdir = dk_test_dir();
  opts.flags = DK_FOREGROUND;
  ck_assert_int_eq(dk_daemonize(&dz, &opts, NULL, 0), DK_DAEMON);
  ck_assert_int_eq(dk_signals_init(loop, &sig, dk_daemonizer_pid_file(&dz)), 0);
  ck_assert_int_eq(dk_signals_start(&sig), 0);
  ck_assert_int_eq(raise(SIGTERM), 0);
  uv_run(loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(dk_signals_received(&sig), DK_SIGTERM);
  close_all(loop, &sig);
  dk_daemonizer_cleanup(&dz);
  ck_assert_int_eq(access("fg.pid", F_OK), -1);
}
END_TEST

/* Waits for the daemon's cleanup to be held (DK_TEST_HOLD_CLEANUP) after
 * the default acted on `received`. */
static void expect_cleanup_held(struct dk_test_sigd *d, int received) {
  struct dk_test_report r;
  ck_assert_msg(dk_test_sigd_next(d, &r, 10000) == 1, "the daemon did not report its cleanup");
  ck_assert_msg(r.kind == DK_TEST_REP_CLEANUP && r.signum == received,
                "want the cleanup report for %s, got kind %d signum %d value %d",
                dk_signal_name(received), r.kind, r.signum, r.value);
}

/* As dk_test_sigd_quiet, saying what came instead of an answer. */
static void expect_pings_answered(struct dk_test_sigd *d) {
  const struct dk_test_cmd ping = { DK_TEST_PING, 0 };
  struct dk_test_report r;
  int i, got;
  for (i = 0; i < 2; i++) {
    ck_assert_msg(send(d->sock, &ping, sizeof(ping), MSG_NOSIGNAL) == (ssize_t)sizeof(ping),
                  "ping %d: the daemon is gone during its cleanup (%s; state %c)", i,
                  strerror(errno), (char)dk_test_stat_field(d->pid, 3));
    got = dk_test_sigd_next(d, &r, 10000);
    ck_assert_msg(got == 1, "ping %d: no answer from the daemon during its cleanup (%d; state %c)",
                  i, got, (char)dk_test_stat_field(d->pid, 3));
    ck_assert_msg(r.kind == DK_TEST_REP_ACK && r.seq == DK_TEST_PING && r.value == 0,
                  "ping %d: got report kind %d signum %d value %d seq %d (kind 5: the daemon "
                  "failed at sigd.c line value)", i, r.kind, r.signum, r.value, r.seq);
  }
}

/* TERM, then TERM, INT and ABRT again while the daemon cleans up (before
 * and after its dk_signals_close): the cleanup finishes, the daemon exits
 * 0 and removes its pid file, and dk_signals_received says TERM. */
static void check_cleanup_survives_signals(int when) {
  const struct dk_test_cmd setup[] = { { DK_TEST_HOLD_CLEANUP, when } };
  const int again[] = { DK_SIGTERM, DK_SIGINT, DK_SIGABRT, DK_SIGTERM };
  struct dk_test_sigd d;
  size_t i;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup, 1), DK_PARENT);
  ck_assert_int_eq(dk_send("d.pid", DK_SIGTERM), 0);
  expect_cleanup_held(&d, DK_SIGTERM);
  /* One at a time, each delivered and dispatched before the next (under
   * TSan, whose late signal handlers ignore libuv's sa_mask, two pending
   * at once can deadlock libuv's handler): the loop still serves. */
  for (i = 0; i < N_ELEMS(again); i++) {
    ck_assert_int_eq(dk_send("d.pid", again[i]), 0);
    expect_pings_answered(&d);
    ck_assert(dk_test_alive_unsignalled(d.pid));
  }
  shutdown(d.sock, SHUT_WR);
  dk_test_sigd_expect_exit(&d, DK_SIGTERM);
  dk_test_sigd_close(&d);
}

START_TEST(test_second_term_during_cleanup_is_not_fatal) {
  check_cleanup_survives_signals(1);
}
END_TEST

START_TEST(test_term_after_signals_closed_in_cleanup_is_not_fatal) {
  check_cleanup_survives_signals(2);
}
END_TEST

/* The daemon cleans up with uv_walk closing every handle (DK_TEST_WALK_CLEANUP),
 * after the default acted on TERM (uv_run returned) or from a callback
 * inside uv_run (the test closing its end): the close callback runs once,
 * with no handle left on the loop, and the loop closes. */
static void check_walk_cleanup(int by_term) {
  const struct dk_test_cmd setup[] = { { DK_TEST_WALK_CLEANUP, 0 } };
  struct dk_test_sigd d;
  struct dk_test_report r;
  int received = by_term ? DK_SIGTERM : 0;
  ck_assert_int_eq(dk_test_sigd_launch(&d, "d.pid", setup, 1), DK_PARENT);
  if (by_term)
    ck_assert_int_eq(dk_send("d.pid", DK_SIGTERM), 0);
  else
    shutdown(d.sock, SHUT_WR);
  ck_assert_msg(dk_test_sigd_next(&d, &r, 10000) == 1, "no report from the daemon's cleanup "
                "(state %c, pid file there: %d)", (char)dk_test_stat_field(d.pid, 3),
                access("d.pid", F_OK) == 0);
  ck_assert_msg(r.kind == DK_TEST_REP_CLOSED, "want the close callback's report, got kind %d "
                "signum %d value %d", r.kind, r.signum, r.value);
  ck_assert_int_eq(r.signum, received);
  ck_assert_msg(r.value == 0, "%d handles still on the loop when the close callback ran", r.value);
  dk_test_sigd_expect_exit(&d, received); /* also: no second close callback */
  dk_test_sigd_close(&d);
}

START_TEST(test_walk_cleanup_after_default_term) {
  check_walk_cleanup(1);
}
END_TEST

START_TEST(test_walk_cleanup_inside_uv_run) {
  check_walk_cleanup(0);
}
END_TEST

static Suite *signals_suite(void) {
  Suite *s = suite_create("signals");
  TCase *tc = dk_test_tcase(s, "loop", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
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
  tcase_add_test(tc, test_signals_after_default_acted_neither_kill_nor_stop_cleanup);
  tcase_add_test(tc, test_close_after_uv_walk_closed_every_handle);
  tcase_add_test(tc, test_sigpipe_is_ignored_once_started);
  tcase_add_test(tc, test_loop_made_before_foreground_daemonize_works);

  tc = dk_test_tcase(s, "daemon", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_add_test(tc, test_each_signal_reaches_its_callback_on_daemon_loop);
  tcase_add_test(tc, test_default_int_makes_daemon_exit_cleanly);
  tcase_add_test(tc, test_default_term_makes_daemon_exit_cleanly);
  tcase_add_test(tc, test_default_abrt_makes_daemon_exit_cleanly);
  tcase_add_test(tc, test_ignored_signals_leave_daemon_running_and_call_nothing);
  tcase_add_test(tc, test_handler_swapped_while_running_takes_effect);
  tcase_add_test(tc, test_hup_watched_once_set_and_default_again_when_reset);
  DK_TEST_ADD_LINUX(tc, test_loop_made_before_daemonizing_is_refused);
  DK_TEST_ADD_LINUX(tc, test_signals_inited_before_daemonizing_are_refused_at_start);
  tcase_add_test(tc, test_loop_kept_from_before_daemonizing_is_refused);
  tcase_add_test(tc, test_second_term_during_cleanup_is_not_fatal);
  tcase_add_test(tc, test_term_after_signals_closed_in_cleanup_is_not_fatal);
  tcase_add_test(tc, test_walk_cleanup_after_default_term);
  tcase_add_test(tc, test_walk_cleanup_inside_uv_run);

  /* Tagged: the TSan leg leaves floods out (see .ci/sanitizers). */
  tc = dk_test_tcase(s, "flood", dk_test_daemon_setup, dk_test_daemon_teardown, 60);
  tcase_set_tags(tc, "flood");
  tcase_add_test(tc, test_burst_of_alternating_signals_delivers_both);
  return s;
}

int main(void) {
  return dk_test_run(signals_suite());
}
