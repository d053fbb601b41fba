/* SPDX-License-Identifier: MIT */
/* The hand-over from a waiter thread to the loop (src/signals.c:
 * dk__pending_mark, dk__pending_take, dk__signals_dispatch_pending): the
 * Windows half's event-waiting thread marks a signal pending and wakes the
 * loop with uv_async_send; the loop's async callback dispatches what is
 * pending to the dk_signals_t's callbacks. The logic is portable, so it is
 * tested here, on POSIX, with a real thread doing what the Windows waiter
 * does (and under ThreadSanitizer by .ci/sanitizers). Proven:
 *  - a mark made after the previous dispatch of its signal began is
 *    dispatched at least once after it (no lost wake-up), also when it
 *    lands while that signal's own callback runs;
 *  - marks of different signals never swallow each other;
 *  - one mark is dispatched once, never twice: the waiter counts its marks,
 *    the callbacks count their calls, and a signal is marked again only
 *    once the dispatch of its previous mark began, so the two counts must
 *    end equal, and a call can never get ahead of the marks.
 * Marks are made free-running in random bursts (also into a loop that
 * dispatches all the time, so that they land in the middle of a take), and
 * at the moments that matter, made to happen by holding a callback while
 * the waiter marks. The loop thread never waits without a deadline: a lost
 * wake-up shows as a failed test, not a hang. */
#include <stdio.h>
#include <string.h>

#include <check.h>
#include "../src/internal.h"

#define N DK__NSIGNALS
#define WAIT_MS 10000   /* any one wait of either thread */
#define GUARD_MS 30000  /* the loop's own deadline: longer than any wait */
#define STRESS_MARKS 20000

/* A counter that threads wait on, with a deadline. */
struct gate {
  uv_mutex_t lock;
  uv_cond_t cond;
  int count;
};

static void gate_init(struct gate *g) {
  ck_assert_int_eq(uv_mutex_init(&g->lock), 0);
  ck_assert_int_eq(uv_cond_init(&g->cond), 0);
  g->count = 0;
}

static void gate_destroy(struct gate *g) {
  uv_cond_destroy(&g->cond);
  uv_mutex_destroy(&g->lock);
}

static void gate_post(struct gate *g) {
  uv_mutex_lock(&g->lock);
  g->count++;
  uv_cond_broadcast(&g->cond);
  uv_mutex_unlock(&g->lock);
}

static int gate_count(struct gate *g) {
  int n;
  uv_mutex_lock(&g->lock);
  n = g->count;
  uv_mutex_unlock(&g->lock);
  return n;
}

/* 1 once the count reached `target`, 0 if it did not within WAIT_MS. */
static int gate_wait(struct gate *g, int target) {
  uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;
  int ok;
  uv_mutex_lock(&g->lock);
  while (g->count < target) {
    uint64_t now = uv_hrtime();
    if (now >= deadline)
      break;
    (void)uv_cond_timedwait(&g->cond, &g->lock, deadline - now);
  }
  ok = g->count >= target;
  uv_mutex_unlock(&g->lock);
  return ok;
}

struct hand;
typedef void (*waiter_fn)(struct hand *h);

struct hand {
  uv_loop_t loop;
  uv_async_t async;
  uv_timer_t guard;
  uv_idle_t busy;     /* if `busy_loop`: dispatches over and over */
  int busy_loop;
  dk_signals_t sig;
  uv_thread_t waiter;
  uv_thread_t loop_thread;
  waiter_fn waiter_body;
  long pending[N];    /* the flags under test */
  int marks[N];       /* the waiter's, counted before each mark (atomic) */
  int dispatched[N];  /* the callbacks', counted first thing (atomic) */
  int done;           /* the waiter marks no more (atomic) */
  int hold;           /* index whose next callback waits for `released` (atomic) */
  unsigned seed;
  /* The loop thread's. */
  int finished, timed_out, ahead_of_marks, off_thread, holds, hold_failed;
  /* The waiter's, read after the join. */
  char failure[256];
  struct gate begun;    /* posted as each callback begins */
  struct gate released; /* lets a held callback return */
};

static int load(const int *p) {
  return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* The waiter's side: counted before it can be seen, so that a callback
 * it causes finds it counted. */
static void mark(struct hand *h, int i) {
  __atomic_add_fetch(&h->marks[i], 1, __ATOMIC_SEQ_CST);
  dk__pending_mark(h->pending, i);
}

static void waiter_fail(struct hand *h, const char *what, int i);

/* No ck_assert on the waiter thread: failures are recorded for the test. */
static void wake(struct hand *h) {
  if (uv_async_send(&h->async) != 0)
    waiter_fail(h, "uv_async_send failed", 0);
}

static void on_signal(dk_signals_t *sig, int dk_signum) {
  struct hand *h = sig->data;
  uv_thread_t self = uv_thread_self();
  int i = dk__signal_index(dk_signum), expect = i;
  int n = __atomic_add_fetch(&h->dispatched[i], 1, __ATOMIC_SEQ_CST);
  /* More calls than marks: one mark was dispatched twice. */
  if (n > load(&h->marks[i]))
    h->ahead_of_marks++;
  if (!uv_thread_equal(&self, &h->loop_thread))
    h->off_thread++;
  gate_post(&h->begun);
  if (__atomic_compare_exchange_n(&h->hold, &expect, -1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    /* Held while the waiter marks: its marks land during this callback.
     * The waiter releases each hold once, in order. */
    if (!gate_wait(&h->released, ++h->holds))
      h->hold_failed++;
  } else if (n % 8 == 0) {
    /* Now and then a slower callback, for marks to land during one. */
    volatile int spin;
    for (spin = 0; spin < 2000; spin++)
      ;
  }
}

static void finish(struct hand *h) {
  if (h->finished)
    return;
  h->finished = 1;
  /* The waiter's waits all have deadlines: this join ends. */
  uv_thread_join(&h->waiter);
  uv_close((uv_handle_t *)&h->async, NULL);
  uv_close((uv_handle_t *)&h->guard, NULL);
  if (h->busy_loop)
    uv_close((uv_handle_t *)&h->busy, NULL);
  dk_signals_close(&h->sig, NULL);
}

/* What the library's Windows half does in its async callback. `done` is
 * read first: every mark before it is then taken by this dispatch. */
static void on_wake(uv_async_t *async) {
  struct hand *h = async->data;
  int done = __atomic_load_n(&h->done, __ATOMIC_ACQUIRE);
  dk__signals_dispatch_pending(&h->sig, h->pending);
  if (done)
    finish(h);
}

/* A loop that is never idle: it takes flags all the time, mostly finding
 * none, so that marks land in the middle of a take (the lost wake-up of a
 * take that reads, then clears, in two steps). */
static void on_busy(uv_idle_t *idle) {
  struct hand *h = idle->data;
  dk__signals_dispatch_pending(&h->sig, h->pending);
}

static void on_guard(uv_timer_t *t) {
  struct hand *h = t->data;
  h->timed_out = 1;
  finish(h);
}

static void waiter_main(void *arg) {
  struct hand *h = arg;
  h->waiter_body(h);
  __atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
  (void)uv_async_send(&h->async);
}

static void waiter_fail(struct hand *h, const char *what, int i) {
  if (h->failure[0] == '\0')
    snprintf(h->failure, sizeof(h->failure), "%s (%s: marked %d, dispatched %d)", what,
             dk_signal_name(dk__signal_at(i)), load(&h->marks[i]), load(&h->dispatched[i]));
}

static void describe(const struct hand *h, char *buf, size_t size) {
  size_t len = 0;
  int i;
  buf[0] = '\0';
  for (i = 0; i < N && len < size; i++)
    len += (size_t)snprintf(buf + len, size - len, " %s %d/%d%s", dk_signal_name(dk__signal_at(i)),
                            load(&h->dispatched[i]), load(&h->marks[i]),
                            h->pending[i] ? " (pending)" : "");
}

/* Runs `body` on a waiter thread against a loop in this thread that
 * dispatches through dk__signals_dispatch_pending to callbacks set with
 * dk_signals_set, until the waiter is done and all it marked was taken. */
static void run_hand(struct hand *h, waiter_fn body, unsigned seed, int busy_loop) {
  char state[256];
  int i;

  memset(h, 0, sizeof(*h));
  h->busy_loop = busy_loop;
  h->waiter_body = body;
  h->seed = seed;
  h->hold = -1;
  gate_init(&h->begun);
  gate_init(&h->released);
  ck_assert_int_eq(uv_loop_init(&h->loop), 0);
  ck_assert_int_eq(uv_async_init(&h->loop, &h->async, on_wake), 0);
  h->async.data = h;
  ck_assert_int_eq(uv_timer_init(&h->loop, &h->guard), 0);
  h->guard.data = h;
  ck_assert_int_eq(uv_timer_start(&h->guard, on_guard, GUARD_MS, 0), 0);
  if (busy_loop) {
    ck_assert_int_eq(uv_idle_init(&h->loop, &h->busy), 0);
    h->busy.data = h;
    ck_assert_int_eq(uv_idle_start(&h->busy, on_busy), 0);
  }
  /* On POSIX this makes uv_signal_t handles, never started here: the
   * dispatch under test calls the callbacks set, as on Windows. */
  ck_assert_int_eq(dk_signals_init(&h->loop, &h->sig, NULL), 0);
  h->sig.data = h;
  for (i = 0; i < N; i++)
    ck_assert_int_eq(dk_signals_set(&h->sig, dk__signal_at(i), on_signal), 0);
  h->loop_thread = uv_thread_self();

  ck_assert_int_eq(uv_thread_create(&h->waiter, waiter_main, h), 0);
  ck_assert_int_eq(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&h->loop), 0);
  gate_destroy(&h->begun);
  gate_destroy(&h->released);

  describe(h, state, sizeof(state));
  ck_assert_msg(h->failure[0] == '\0', "waiter: %s; dispatched/marked:%s", h->failure, state);
  ck_assert_msg(!h->timed_out, "the loop was not done after %d ms:%s", GUARD_MS, state);
  ck_assert_msg(h->ahead_of_marks == 0, "%d calls came before their mark:%s", h->ahead_of_marks,
                state);
  ck_assert_int_eq(h->off_thread, 0);
  ck_assert_int_eq(h->hold_failed, 0);
  for (i = 0; i < N; i++)
    ck_assert_msg(h->pending[i] == 0, "a mark was never taken:%s", state);
}

static void assert_each_mark_dispatched_once(const struct hand *h, int want_marks) {
  char state[256];
  int i;
  describe(h, state, sizeof(state));
  for (i = 0; i < N; i++) {
    ck_assert_msg(load(&h->dispatched[i]) == load(&h->marks[i]),
                  "every mark must be dispatched exactly once:%s", state);
    if (want_marks >= 0)
      ck_assert_msg(load(&h->marks[i]) == want_marks, "want %d marks each:%s", want_marks, state);
  }
}

/* --- free-running bursts -------------------------------------------------- */

static unsigned next_random(unsigned *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

/* Marks signals in bursts of 1 to 6, waking the loop after each mark or
 * once per burst. A signal is marked again as soon as the dispatch of its
 * previous mark began, often while that callback still runs; when every
 * signal waits for its dispatch, the waiter waits for the next one to
 * begin, with a deadline: a lost wake-up ends it with a failure. */
static void stress(struct hand *h) {
  unsigned x = h->seed;
  int total = 0;
  while (total < STRESS_MARKS) {
    int burst = 1 + (int)(next_random(&x) % N), start = (int)(next_random(&x) % N);
    int marked = 0, k, seen;
    seen = gate_count(&h->begun); /* before looking: a dispatch after it posts */
    for (k = 0; k < N && marked < burst && total < STRESS_MARKS; k++) {
      int i = (start + k) % N;
      if (load(&h->dispatched[i]) != load(&h->marks[i]))
        continue; /* its previous mark's dispatch has not begun */
      mark(h, i);
      marked++;
      total++;
      if (next_random(&x) % 2)
        wake(h);
    }
    if (marked > 0) {
      wake(h);
      continue;
    }
    if (!gate_wait(&h->begun, seen + 1)) {
      for (k = 0; k < N; k++)
        if (load(&h->dispatched[k]) != load(&h->marks[k]))
          break;
      waiter_fail(h, "lost wake-up: a marked signal was not dispatched", k < N ? k : 0);
      return;
    }
  }
}

START_TEST(test_bursts_each_mark_dispatched_exactly_once) {
  struct hand h;
  run_hand(&h, stress, 2463534242u + (unsigned)_i * 7919u, 0);
  assert_each_mark_dispatched_once(&h, -1);
}
END_TEST

START_TEST(test_bursts_into_a_busy_loop_each_mark_dispatched_exactly_once) {
  struct hand h;
  run_hand(&h, stress, 88172645u + (unsigned)_i * 7919u, 1);
  assert_each_mark_dispatched_once(&h, -1);
}
END_TEST

/* --- marks at the moments that matter, made to happen --------------------- */

/* Signal i's callback is running (its flag was taken) when it is marked
 * again: that mark must give a second call. */
static void mark_during_own_callback(struct hand *h) {
  int i;
  for (i = 0; i < N; i++) {
    __atomic_store_n(&h->hold, i, __ATOMIC_SEQ_CST);
    mark(h, i);
    wake(h);
    if (!gate_wait(&h->begun, 2 * i + 1)) {
      waiter_fail(h, "the first mark was not dispatched", i);
      return;
    }
    mark(h, i); /* its callback is held: it runs now */
    wake(h);
    gate_post(&h->released);
    if (!gate_wait(&h->begun, 2 * i + 2)) {
      waiter_fail(h, "lost wake-up: marked during its own callback, not dispatched again", i);
      return;
    }
  }
}

START_TEST(test_mark_during_its_own_callback_is_dispatched_again) {
  struct hand h;
  run_hand(&h, mark_during_own_callback, 1, 0);
  assert_each_mark_dispatched_once(&h, 2);
}
END_TEST

/* While signal m's callback runs, every signal is marked once: those the
 * dispatch already passed (m and below) and those it has yet to look at.
 * Each must be called exactly once more: none swallowed by another, none
 * twice. One wake-up for all of them, sent during the callback. */
static void mark_all_during_one_callback(struct hand *h) {
  int m, i, begun = 0;
  for (m = 0; m < N; m++) {
    __atomic_store_n(&h->hold, m, __ATOMIC_SEQ_CST);
    mark(h, m);
    wake(h);
    if (!gate_wait(&h->begun, ++begun)) {
      waiter_fail(h, "the first mark was not dispatched", m);
      return;
    }
    for (i = 0; i < N; i++)
      mark(h, i);
    wake(h);
    gate_post(&h->released);
    begun += N;
    if (!gate_wait(&h->begun, begun)) {
      for (i = 0; i < N && load(&h->dispatched[i]) == load(&h->marks[i]); i++)
        ;
      waiter_fail(h, "a signal marked during another's callback was swallowed", i < N ? i : m);
      return;
    }
  }
}

START_TEST(test_marks_during_another_callback_are_not_swallowed) {
  struct hand h;
  run_hand(&h, mark_all_during_one_callback, 1, 0);
  /* Each was marked once as m, and once in each of the N rounds. */
  assert_each_mark_dispatched_once(&h, 1 + N);
}
END_TEST

/* Marks of one signal repeated before the loop takes them may coalesce
 * (as POSIX signals do), into at least one call; marks of the other
 * signals made at the same time each keep their own. */
static void mark_repeatedly_while_held(struct hand *h) {
  int i, k, usr1 = dk__signal_index(DK_SIGUSR1), hup = dk__signal_index(DK_SIGHUP);
  __atomic_store_n(&h->hold, hup, __ATOMIC_SEQ_CST);
  mark(h, hup);
  wake(h);
  if (!gate_wait(&h->begun, 1)) {
    waiter_fail(h, "the first mark was not dispatched", hup);
    return;
  }
  for (k = 0; k < 100; k++) {
    mark(h, usr1);
    wake(h);
  }
  for (i = 0; i < N; i++)
    if (i != usr1)
      mark(h, i);
  wake(h);
  gate_post(&h->released);
  if (!gate_wait(&h->begun, 1 + N))
    waiter_fail(h, "a mark was lost", usr1);
}

START_TEST(test_repeated_marks_coalesce_others_keep_their_own) {
  struct hand h;
  int i, usr1 = dk__signal_index(DK_SIGUSR1), hup = dk__signal_index(DK_SIGHUP);
  run_hand(&h, mark_repeatedly_while_held, 1, 0);
  ck_assert_int_eq(load(&h.marks[usr1]), 100);
  ck_assert_int_ge(load(&h.dispatched[usr1]), 1);
  for (i = 0; i < N; i++)
    if (i != usr1)
      ck_assert_int_eq(load(&h.dispatched[i]), i == hup ? 2 : 1);
}
END_TEST

/* --- in one thread -------------------------------------------------------- */

static int calls;

static void count_call(dk_signals_t *sig, int dk_signum) {
  (void)sig;
  (void)dk_signum;
  calls++;
}

START_TEST(test_take_is_once_and_closing_set_calls_nothing) {
  long pending[N];
  uv_loop_t loop;
  dk_signals_t sig;
  int i;
  memset(pending, 0, sizeof(pending));
  ck_assert_int_eq(dk__pending_take(pending, 2), 0);
  dk__pending_mark(pending, 2);
  dk__pending_mark(pending, 2);
  ck_assert_int_eq(dk__pending_take(pending, 2), 1);
  ck_assert_int_eq(dk__pending_take(pending, 2), 0);

  /* Marks that reach a set being closed are taken, and call nothing. */
  calls = 0;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dk_signals_init(&loop, &sig, NULL), 0);
  for (i = 0; i < N; i++)
    ck_assert_int_eq(dk_signals_set(&sig, dk__signal_at(i), count_call), 0);
  dk__pending_mark(pending, 0);
  dk__signals_dispatch_pending(&sig, pending);
  ck_assert_int_eq(calls, 1);
  for (i = 0; i < N; i++)
    dk__pending_mark(pending, i);
  dk_signals_close(&sig, NULL);
  dk__signals_dispatch_pending(&sig, pending);
  ck_assert_int_eq(calls, 1);
  for (i = 0; i < N; i++)
    ck_assert_int_eq(pending[i], 0);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *pending_suite(void) {
  Suite *s = suite_create("pending");
  TCase *tc = tcase_create("hand-over");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_take_is_once_and_closing_set_calls_nothing);
  tcase_add_test(tc, test_mark_during_its_own_callback_is_dispatched_again);
  tcase_add_test(tc, test_marks_during_another_callback_are_not_swallowed);
  tcase_add_test(tc, test_repeated_marks_coalesce_others_keep_their_own);
  tcase_add_loop_test(tc, test_bursts_each_mark_dispatched_exactly_once, 0, 3);
  tcase_add_loop_test(tc, test_bursts_into_a_busy_loop_each_mark_dispatched_exactly_once, 0, 3);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(pending_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
