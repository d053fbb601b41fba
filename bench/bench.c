/* SPDX-License-Identifier: MIT */
/* The benchmarks' shared helpers: see bench.h. Plain libc, so that the
 * programs that must not link libdaemoniker (the floors) could use it too. */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *prog = "bench";
static char scratch[PATH_MAX];
static pid_t scratch_owner; /* children forked from us must not remove it */

/* ---- time and samples ---- */

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ms(unsigned ms) {
  struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

void bench_samples_add(bench_samples_t *s, uint64_t ns) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *v = realloc(s->v, cap * sizeof(*v));
    BENCH_CHECK(v != NULL, "out of memory");
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

double bench_quantile(bench_samples_t *s, double q) {
  size_t rank;
  BENCH_CHECK(s->n > 0, "quantile of no samples");
  qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
  /* Nearest rank: the smallest sample with at least q of all at or below it. */
  rank = (size_t)(q * (double)s->n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > s->n)
    rank = s->n;
  return (double)s->v[rank - 1];
}

void bench_samples_free(bench_samples_t *s) {
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}

/* ---- the order variants run in ---- */

void bench_order_init(bench_order_t *o, int n, uint64_t seed) {
  BENCH_CHECK(n > 0 && n <= BENCH_MAX_ORDER, "bench_order_init: %d variants", n);
  memset(o, 0, sizeof(*o));
  o->n = n;
  o->rng = seed * 2654435761u + 0x9e3779b97f4a7c15ull;
}

static uint64_t next_random(bench_order_t *o) {
  /* xorshift64* */
  o->rng ^= o->rng >> 12;
  o->rng ^= o->rng << 25;
  o->rng ^= o->rng >> 27;
  return o->rng * 0x2545f4914f6cdd1dull;
}

/* How far `cand` is from what the round before was: the number of
 * variants in the same place times n (places weigh most), plus those after
 * the same predecessor. */
static int sameness(const bench_order_t *o, const int *cand) {
  int place[BENCH_MAX_ORDER], pred[BENCH_MAX_ORDER], k, score = 0;
  for (k = 0; k < o->n; k++) {
    place[o->prev[k]] = k;
    pred[o->prev[k]] = k > 0 ? o->prev[k - 1] : o->first_pred;
  }
  for (k = 0; k < o->n; k++) {
    int before = k > 0 ? cand[k - 1] : o->prev[o->n - 1];
    if (place[cand[k]] == k)
      score += o->n;
    if (pred[cand[k]] == before)
      score++;
  }
  return score;
}

void bench_order_next(bench_order_t *o, int *order) {
  int best[BENCH_MAX_ORDER], cand[BENCH_MAX_ORDER], best_score = -1, tries, k;
  for (tries = 0; tries < 256 && best_score != 0; tries++) {
    int score;
    for (k = 0; k < o->n; k++)
      cand[k] = k;
    for (k = o->n - 1; k > 0; k--) { /* Fisher-Yates */
      int j = (int)(next_random(o) % (uint64_t)(k + 1)), t = cand[k];
      cand[k] = cand[j];
      cand[j] = t;
    }
    score = o->have_prev && o->n > 1 ? sameness(o, cand) : 0;
    if (best_score < 0 || score < best_score) {
      best_score = score;
      memcpy(best, cand, sizeof(int) * (size_t)o->n);
    }
  }
  memcpy(order, best, sizeof(int) * (size_t)o->n);
  o->first_pred = o->have_prev ? o->prev[o->n - 1] : -1;
  memcpy(o->prev, best, sizeof(int) * (size_t)o->n);
  o->have_prev = 1;
}

/* ---- run mode and results ---- */

int bench_smoke(void) {
  const char *s = getenv("BENCH_SMOKE");
  return s != NULL && s[0] != '\0' && strcmp(s, "0") != 0;
}

long bench_count(long n, long smoke_n) {
  return bench_smoke() ? smoke_n : n;
}

static void append_row(const char *line) {
  const char *path = getenv("BENCH_RESULTS");
  FILE *f;
  if (path == NULL || path[0] == '\0') {
    fputs(line, stdout); /* run by hand: the row goes to stdout */
    return;
  }
  f = fopen(path, "a");
  BENCH_CHECK(f != NULL, "cannot append to %s: %s", path, strerror(errno));
  fputs(line, f);
  BENCH_CHECK(fclose(f) == 0, "cannot write %s: %s", path, strerror(errno));
}

/* One TSV line per row; bench-report.c reads the same columns:
 * kind bench subject floor n unit s50 f50 s99 f99 target */
void bench_row_ratio(const char *bench, const char *subject, const char *floor_name, long n,
                     const char *unit, double subj_p50, double floor_p50, double subj_p99,
                     double floor_p99, const char *target) {
  char line[1024];
  snprintf(line, sizeof(line), "ratio\t%s\t%s\t%s\t%ld\t%s\t%.6g\t%.6g\t%.6g\t%.6g\t%s\n", bench,
           subject, floor_name, n, unit, subj_p50, floor_p50, subj_p99, floor_p99,
           target ? target : "-");
  append_row(line);
}

void bench_row_value(const char *bench, const char *subject, const char *floor_name, long n,
                     const char *unit, double subj, double floor_value, const char *target) {
  char line[1024];
  snprintf(line, sizeof(line), "value\t%s\t%s\t%s\t%ld\t%s\t%.6g\t%.6g\t0\t0\t%s\n", bench,
           subject, floor_name, n, unit, subj, floor_value, target ? target : "-");
  append_row(line);
}

static void kill_children(void);
static void remove_scratch(void);
static void each_entry(const char *dir, void (*fn)(const char *dir, const char *name));
static void note_child(const char *dir, const char *name);
static volatile int found;
static volatile long found_pid;

void bench_fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "bench: %s: FAILED: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  /* A daemon forked from us that fails a check must not take the whole
   * tree down with it; only the benchmark's own process cleans up. */
  if (getpid() == scratch_owner) {
    kill_children();
    remove_scratch();
  }
  _exit(1);
}

void bench_note(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "  %s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

const char *bench_builddir(void) {
  const char *d = getenv("BENCH_BUILDDIR");
  return d != NULL && d[0] ? d : ".";
}

const char *bench_srcdir(void) {
  const char *d = getenv("BENCH_SRCDIR");
  return d != NULL && d[0] ? d : bench_builddir();
}

/* ---- cleanup, also from a signal handler ----
 *
 * On a failed check, and on Ctrl-C, TERM, HUP or a closed pipe, every
 * process we started (daemons included: they are our children, see
 * bench_become_subreaper) is killed and the scratch directory removed.
 * Since that can run in a signal handler, it uses syscalls only: no stdio,
 * no malloc, no opendir. */

struct dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* Calls fn(dir, name) for each entry of dir but "." and "..". */
static void each_entry(const char *dir, void (*fn)(const char *dir, const char *name)) {
  char buf[4096];
  long n, off;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
    for (off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      off += d->d_reclen;
      if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
        fn(dir, d->d_name);
    }
  }
  close(fd);
}

static size_t join(char *out, size_t size, const char *a, const char *b, const char *c) {
  size_t n = 0;
  const char *parts[3] = { a, b, c }, *p;
  int i;
  for (i = 0; i < 3; i++)
    for (p = parts[i]; p != NULL && *p && n + 1 < size; p++)
      out[n++] = *p;
  out[n] = '\0';
  return n;
}

/* State and parent from a /proc/PID/stat file. Async-signal-safe (the
 * cleanup after a signal uses it): no stdio. The command name may hold
 * spaces and parentheses, so the fields are read after the last ')'. */
static int read_stat(const char *path, long *ppid, char *state) {
  char buf[512], *p;
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  p = strrchr(buf, ')'); /* "pid (comm) S ppid ..." */
  if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
    return -1;
  *state = p[2];
  for (*ppid = 0, p += 4; *p >= '0' && *p <= '9'; p++)
    *ppid = *ppid * 10 + (*p - '0');
  return 0;
}

/* The parent of /proc/NAME, or -1. */
static long parent_of(const char *name) {
  char path[64], state;
  long ppid;
  if (name[0] < '1' || name[0] > '9')
    return -1;
  join(path, sizeof(path), "/proc/", name, "/stat");
  return read_stat(path, &ppid, &state) == 0 ? ppid : -1;
}

static long to_pid(const char *name) {
  long v = 0;
  for (; *name >= '0' && *name <= '9'; name++)
    v = v * 10 + (*name - '0');
  return v;
}

static void note_child(const char *dir, const char *name) {
  (void)dir;
  if (parent_of(name) == (long)getpid()) {
    found++;
    found_pid = to_pid(name);
  }
}

static void kill_child(const char *dir, const char *name) {
  (void)dir;
  if (parent_of(name) == (long)getpid()) {
    kill((pid_t)to_pid(name), SIGKILL);
    found++;
  }
}

static void kill_children(void) {
  struct timespec pause = { 0, 10000000 };
  int round;
  /* Killing a middle process can orphan a daemon onto us: repeat. */
  for (round = 0; round < 10; round++) {
    found = 0;
    each_entry("/proc", kill_child);
    if (found == 0)
      break;
    nanosleep(&pause, NULL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
  }
}

static void unlink_entry(const char *dir, const char *name) {
  char path[PATH_MAX + 256];
  join(path, sizeof(path), dir, "/", name);
  unlink(path);
}

static void remove_scratch(void) {
  if (scratch[0] == '\0' || getpid() != scratch_owner)
    return;
  each_entry(scratch, unlink_entry);
  rmdir(scratch);
  scratch[0] = '\0';
}

static void on_fatal_signal(int sig) {
  if (getpid() == scratch_owner) {
    kill_children();
    remove_scratch();
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

/* ---- scratch directory ---- */

void bench_init(const char *name) {
  const char *tmp = getenv("TMPDIR");
  prog = name;
  scratch_owner = getpid();
  snprintf(scratch, sizeof(scratch), "%s/dk-bench-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
  BENCH_CHECK(mkdtemp(scratch) != NULL, "mkdtemp: %s", strerror(errno));
  atexit(remove_scratch);
  {
    static const int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
    struct sigaction sa;
    size_t i;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigfillset(&sa.sa_mask);
    for (i = 0; i < sizeof(fatal) / sizeof(*fatal); i++)
      sigaction(fatal[i], &sa, NULL);
  }
  /* Output goes to a pipe under make: keep notes and rows in order. */
  setvbuf(stdout, NULL, _IOLBF, 0);
}

const char *bench_dir(void) {
  return scratch;
}

const char *bench_path(int slot, const char *name) {
  static char paths[8][PATH_MAX + 64];
  snprintf(paths[slot & 7], sizeof(paths[0]), "%s/%s", scratch, name);
  return paths[slot & 7];
}

/* ---- processes ---- */

void bench_become_subreaper(void) {
  BENCH_CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0,
              "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
}

pid_t bench_spawn(char *const argv[], const char *extra_env) {
  return bench_spawn_err(argv, extra_env, NULL);
}

pid_t bench_spawn_err(char *const argv[], const char *extra_env, const char *err_path) {
  posix_spawn_file_actions_t fa;
  char **env = environ, **own = NULL;
  pid_t pid;
  int err, fd;

  if (extra_env != NULL) {
    size_t n = 0, i, name_len = strcspn(extra_env, "=");
    while (environ[n] != NULL)
      n++;
    own = calloc(n + 2, sizeof(*own));
    BENCH_CHECK(own != NULL, "out of memory");
    for (i = 0, n = 0; environ[i] != NULL; i++)
      if (strncmp(environ[i], extra_env, name_len + 1) != 0)
        own[n++] = environ[i];
    own[n] = (char *)extra_env;
    env = own;
  }
  posix_spawn_file_actions_init(&fa);
  for (fd = 0; fd < 3; fd++) {
    if (fd == 2 && err_path != NULL)
      posix_spawn_file_actions_addopen(&fa, fd, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else
      posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  }
  err = posix_spawn(&pid, argv[0], &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(own);
  BENCH_CHECK(err == 0, "cannot run %s: %s", argv[0], strerror(err));
  return pid;
}

int bench_wait(pid_t pid) {
  int status;
  pid_t r;
  do
    r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  BENCH_CHECK(r == pid, "waitpid(%ld): %s", (long)pid, strerror(errno));
  return status;
}

int bench_wait_timeout(pid_t pid, int *status, int timeout_ms) {
  uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      return 1;
    BENCH_CHECK(r == 0 || errno == EINTR, "waitpid(%ld): %s", (long)pid, strerror(errno));
    if (bench_now_ns() > deadline)
      return 0;
    bench_sleep_ms(1);
  }
}

pid_t bench_pidfile_pid(const char *path) {
  char buf[32];
  ssize_t n;
  long v;
  char *end;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  v = strtol(buf, &end, 10);
  if (end == buf || v <= 1 || (*end != '\0' && *end != '\n'))
    return -1;
  return (pid_t)v;
}

/* ppid and state from /proc/PID/stat. */
static int proc_stat(pid_t pid, pid_t *ppid, char *state) {
  char path[64];
  long pp;
  snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
  if (read_stat(path, &pp, state) < 0)
    return -1;
  *ppid = (pid_t)pp;
  return 0;
}

unsigned long long bench_status_field(pid_t pid, const char *name, int base) {
  char path[64], line[256];
  size_t len = strlen(name);
  FILE *f;

  snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
  f = fopen(path, "re");
  BENCH_CHECK(f != NULL, "%s: %s", path, strerror(errno));
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, name, len) == 0 && line[len] == ':') {
      fclose(f);
      return strtoull(line + len + 1, NULL, base);
    }
  }
  fclose(f);
  bench_fail("%s has no %s line", path, name);
}

int bench_is_our_child(pid_t pid) {
  pid_t ppid;
  char state;
  return proc_stat(pid, &ppid, &state) == 0 && ppid == getpid() && state != 'Z' && state != 'X';
}

pid_t bench_wait_daemon(const char *path, int timeout_ms) {
  uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
  struct timespec pause = { 0, 100000 };
  pid_t pid;

  /* Polled every 0.1 ms, not watched with inotify: closing an inotify
   * descriptor waits for an RCU grace period, milliseconds that would be
   * charged to whatever is being timed. A reparenting, which this also
   * waits for, has no event anyway. */
  for (;;) {
    pid = bench_pidfile_pid(path);
    if (pid > 0 && bench_is_our_child(pid))
      return pid;
    BENCH_CHECK(bench_now_ns() < deadline,
                "no daemon came up within %d ms: %s names %ld, which is %s", timeout_ms, path,
                (long)pid, pid > 0 ? "not a live child of ours" : "nothing");
    nanosleep(&pause, NULL);
  }
}

void bench_kill_daemon(pid_t pid, const char *pidfile) {
  int status;
  BENCH_CHECK(bench_is_our_child(pid), "daemon %ld is gone or not ours", (long)pid);
  kill(pid, SIGKILL);
  BENCH_CHECK(bench_wait_timeout(pid, &status, 5000), "daemon %ld survived SIGKILL", (long)pid);
  if (pidfile != NULL)
    unlink(pidfile);
}

void bench_reap_all(int timeout_ms) {
  uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    pid_t r = waitpid(-1, NULL, WNOHANG);
    if (r > 0)
      continue;
    if (r < 0 && errno == ECHILD)
      return;
    if (bench_now_ns() > deadline) {
      found = 0;
      each_entry("/proc", note_child);
      bench_fail("%d process(es) left running (one: %ld)", found, (long)found_pid);
    }
    bench_sleep_ms(1);
  }
}

struct bench_counters *bench_counters_new(void) {
  void *p = mmap(NULL, sizeof(struct bench_counters), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  BENCH_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
  memset(p, 0, sizeof(struct bench_counters));
  return p;
}
