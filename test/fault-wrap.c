/* SPDX-License-Identifier: MIT */
/* The wrappers of fault-wrap.h. The link (-Wl,--wrap=NAME) sends every call
 * to NAME made by the objects of test-faults (the library's, the test's, and
 * Check's static library) here; __real_NAME is the C library's. Only an
 * armed rule for the calling process's role changes anything.
 *
 * Everything here runs between fork and exec in the middle process and the
 * daemon: no allocation, no locks, no stdio. */
#define _GNU_SOURCE
#include "fault-wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct dk_fault rules[DKF_MAX_RULES];
static int nrules;
static int role = -1;           /* -1: not armed */
static int seen[DKF_MAX_RULES]; /* matching calls so far, in this process */
static int *fired;              /* MAP_SHARED: survives into forked children */

void dk_fault_arm(const struct dk_fault *r, int n) {
  int i;
  if (fired == NULL) {
    void *p = mmap(NULL, sizeof(int) * DKF_MAX_RULES, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return; /* dk_fault_fired() then says 0: the test fails, as it should */
    fired = p;
  }
  if (n > DKF_MAX_RULES)
    n = DKF_MAX_RULES;
  for (i = 0; i < DKF_MAX_RULES; i++) {
    __atomic_store_n(&fired[i], 0, __ATOMIC_SEQ_CST);
    seen[i] = 0;
  }
  if (n > 0)
    memcpy(rules, r, sizeof(*r) * (size_t)n);
  nrules = n;
  role = DKF_PARENT;
}

void dk_fault_disarm(void) {
  nrules = 0;
  role = -1;
}

int dk_fault_fired(int i) {
  if (fired == NULL || i < 0 || i >= DKF_MAX_RULES)
    return 0;
  return __atomic_load_n(&fired[i], __ATOMIC_SEQ_CST);
}

const char *dk_fault_call_name(int call) {
  static const char *const names[DKF_NCALLS] = {
    "?", "fork", "setsid", "socketpair", "open", "flock", "fcntl", "ftruncate", "pwrite",
    "dup2", "chdir", "setgroups", "setgid", "setuid", "send", "recv", "poll", "waitpid", "syscall", "linkat", "clone", "mmap",
  };
  return call > 0 && call < DKF_NCALLS ? names[call] : "?";
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* The rule that fires for this call, or NULL. */
static const struct dk_fault *hit(int call, long arg, const char *path) {
  int i, zero = 0;
  if (role < 0)
    return NULL;
  for (i = 0; i < nrules; i++) {
    const struct dk_fault *r = &rules[i];
    if (r->call != call || r->role != role)
      continue;
    if (r->arg != DKF_ANY && r->arg != arg)
      continue;
    if (r->path != NULL && (path == NULL || !ends_with(path, r->path)))
      continue;
    if (++seen[i] != r->nth)
      continue;
    /* Once, whichever process gets there. */
    if (fired != NULL &&
        __atomic_compare_exchange_n(&fired[i], &zero, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return r;
  }
  return NULL;
}

/* Carries out CRASH and STALL; returns 1 if the caller must fail the call
 * with r->err, 0 if it must make it (STALL, SHORT, ZERO are the caller's). */
static int act(const struct dk_fault *r) {
  struct timespec stall = { 10, 0 };
  switch (r->action) {
  case DKF_CRASH:
    kill(getpid(), SIGKILL);
    for (;;)
      pause();
  case DKF_STALL:
    while (nanosleep(&stall, &stall) < 0 && errno == EINTR)
      ;
    return 0;
  case DKF_FAIL:
    errno = r->err;
    return 1;
  default:
    return 0;
  }
}

#define FAULT(call, arg, path) \
  do { \
    const struct dk_fault *f_ = hit((call), (arg), (path)); \
    if (f_ != NULL && act(f_)) \
      return -1; \
  } while (0)

/* The real ones; each __wrap_ below is its own declaration. */
pid_t __real_fork(void);
int __real_setsid(void);
int __real_socketpair(int, int, int, int *);
int __real_open(const char *, int, ...);
int __real_openat(int, const char *, int, ...);
int __real_flock(int, int);
int __real_fcntl(int, int, ...);
int __real_ftruncate(int, off_t);
ssize_t __real_pwrite(int, const void *, size_t, off_t);
int __real_dup2(int, int);
int __real_chdir(const char *);
int __real_setgroups(size_t, const gid_t *);
int __real_setgid(gid_t);
int __real_setuid(uid_t);
ssize_t __real_send(int, const void *, size_t, int);
ssize_t __real_recv(int, void *, size_t, int);
int __real_poll(struct pollfd *, nfds_t, int);
pid_t __real_waitpid(pid_t, int *, int);
long __real_syscall(long, ...);
int __real_clone(int (*)(void *), void *, int, void *, ...);
void *__real_mmap(void *, size_t, int, int, int, off_t);
int __real_linkat(int, const char *, int, const char *, int);

pid_t __wrap_fork(void) {
  pid_t pid;
  FAULT(DKF_FORK, DKF_ANY, NULL);
  pid = __real_fork();
  if (pid == 0 && role >= 0)
    role++;
  return pid;
}

struct clone_call {
  int (*fn)(void *);
  void *arg;
};

static int clone_child(void *p) {
  const struct clone_call *c = p;
  if (role >= 0)
    role++;
  return c->fn(c->arg);
}

/* Only what the library uses: no parent_tid, tls or child_tid. */
int __wrap_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...) {
  struct clone_call c;
  int pid;
  FAULT(DKF_CLONE, DKF_ANY, NULL);
  c.fn = fn;
  c.arg = arg;
  pid = __real_clone(clone_child, stack, flags, &c);
  if (pid > 0 && (flags & CLONE_VM) && role > 0)
    role--;
  return pid;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  const struct dk_fault *f = hit(DKF_MMAP, DKF_ANY, NULL);
  if (f != NULL && act(f))
    return MAP_FAILED;
  return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_setsid(void) {
  FAULT(DKF_SETSID, DKF_ANY, NULL);
  return __real_setsid();
}

int __wrap_socketpair(int domain, int type, int protocol, int *sv) {
  FAULT(DKF_SOCKETPAIR, DKF_ANY, NULL);
  return __real_socketpair(domain, type, protocol, sv);
}

/* As the C library's own open decides (__OPEN_NEEDS_MODE): O_TMPFILE
 * holds O_DIRECTORY's bit, which alone takes no mode. */
static int needs_mode(int flags) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* open (at = 0) and openat, the mode taken from ap as the flags say. */
static int open_wrapped(int at, int dirfd, const char *path, int flags, va_list ap) {
  mode_t mode = needs_mode(flags) ? (mode_t)va_arg(ap, int) : 0;
  FAULT(DKF_OPEN, DKF_ANY, path);
  if (at)
    return __real_openat(dirfd, path, flags, mode);
  return __real_open(path, flags, mode);
}

int __wrap_open(const char *path, int flags, ...) {
  va_list ap;
  int r;
  va_start(ap, flags);
  r = open_wrapped(0, AT_FDCWD, path, flags, ap);
  va_end(ap);
  return r;
}

int __wrap_openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  int r;
  va_start(ap, flags);
  r = open_wrapped(1, dirfd, path, flags, ap);
  va_end(ap);
  return r;
}

int __wrap_flock(int fd, int op) {
  FAULT(DKF_FLOCK, DKF_ANY, NULL);
  return __real_flock(fd, op);
}

/* The third argument is an int or a pointer, or absent: passed on as the
 * C library's own fcntl reads it, as one machine word. */
int __wrap_fcntl(int fd, int cmd, ...) {
  void *arg;
  va_list ap;
  va_start(ap, cmd);
  arg = va_arg(ap, void *);
  va_end(ap);
  FAULT(DKF_FCNTL, cmd, NULL);
  return __real_fcntl(fd, cmd, arg);
}

int __wrap_ftruncate(int fd, off_t len) {
  FAULT(DKF_FTRUNCATE, DKF_ANY, NULL);
  return __real_ftruncate(fd, len);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off) {
  const struct dk_fault *f = hit(DKF_PWRITE, DKF_ANY, NULL);
  if (f != NULL && act(f))
    return -1;
  if (f != NULL && f->action == DKF_ZERO)
    return 0;
  if (f != NULL && f->action == DKF_SHORT && len > 1)
    len = 1;
  return __real_pwrite(fd, buf, len, off);
}

int __wrap_dup2(int oldfd, int newfd) {
  FAULT(DKF_DUP2, newfd, NULL);
  return __real_dup2(oldfd, newfd);
}

int __wrap_chdir(const char *path) {
  FAULT(DKF_CHDIR, DKF_ANY, path);
  return __real_chdir(path);
}

int __wrap_setgroups(size_t n, const gid_t *groups) {
  FAULT(DKF_SETGROUPS, DKF_ANY, NULL);
  return __real_setgroups(n, groups);
}

int __wrap_setgid(gid_t gid) {
  FAULT(DKF_SETGID, DKF_ANY, NULL);
  return __real_setgid(gid);
}

int __wrap_setuid(uid_t uid) {
  FAULT(DKF_SETUID, DKF_ANY, NULL);
  return __real_setuid(uid);
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags) {
  FAULT(DKF_SEND, DKF_ANY, NULL);
  return __real_send(fd, buf, len, flags);
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags) {
  FAULT(DKF_RECV, DKF_ANY, NULL);
  return __real_recv(fd, buf, len, flags);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout) {
  FAULT(DKF_POLL, DKF_ANY, NULL);
  return __real_poll(fds, n, timeout);
}

pid_t __wrap_waitpid(pid_t pid, int *status, int options) {
  FAULT(DKF_WAITPID, DKF_ANY, NULL);
  return __real_waitpid(pid, status, options);
}

int __wrap_linkat(int olddir, const char *old, int newdir, const char *new_path, int flags) {
  FAULT(DKF_LINKAT, DKF_ANY, NULL);
  return __real_linkat(olddir, old, newdir, new_path, flags);
}

/* syscall(2) takes up to six word-sized arguments; the library passes at
 * most five, which are all in registers. A sixth would be read from the
 * caller's stack, past what it passed: AddressSanitizer reports that once
 * the caller's frame has a red zone there (the daemon's, inlined into
 * dk_daemonize's). */
long __wrap_syscall(long number, ...) {
  long a[5];
  va_list ap;
  int i;
  va_start(ap, number);
  for (i = 0; i < 5; i++)
    a[i] = va_arg(ap, long);
  va_end(ap);
  FAULT(DKF_SYSCALL, number, NULL);
  return __real_syscall(number, a[0], a[1], a[2], a[3], a[4], 0L);
}
