/* SPDX-License-Identifier: MIT */
/* The middle process: the one between the caller and the daemon, which
 * becomes a session leader, forks the daemon, reports the daemon's pid and
 * exits (daemonize.c has the whole picture).
 *
 * Each fork copies the caller's page tables, which for a caller with much
 * memory is most of what daemonizing costs. So where it is safe the middle
 * is made with clone(CLONE_VM | CLONE_VFORK) instead of fork: it shares the
 * caller's memory, on a stack of its own, while the caller waits in clone
 * until it has exited; only the daemon's fork copies anything. The daemon
 * then comes out of that fork on the middle's stack, and gets back onto
 * its copy of the caller's stack with siglongjmp, as if it had returned
 * from a fork there. Why that is sound, step by step, is in docs/design.md
 * ("A middle process that shares the caller's memory"); in short:
 *   - the caller is single-threaded, so the caller's thread, suspended in
 *     clone, is the only other user of the memory the middle shares, and
 *     it is suspended at a known point, holding no lock of the C library;
 *   - every signal is blocked across the clone, so no handler of the
 *     application runs in the middle;
 *   - the middle writes nothing the caller reads afterwards: its own stack,
 *     errno, and what fork() itself does, which is what the caller's own
 *     fork would do (the same atfork handlers on the same memory);
 *   - the daemon is a real fork: its memory is its own.
 * Anywhere else (threads, valgrind, no clone, no stack) the middle is a
 * plain fork, as it always was. Nothing here allocates or takes a lock
 * between the clone or fork and the daemon's return. */
#define _GNU_SOURCE
/* The daemon's siglongjmp goes from the middle's stack to another one,
 * which the fortified longjmp would take for a jump into a frame that
 * does not exist yet, and abort. */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"

/* glibc's __GLIBC_PREREQ is tested only where it is defined: elsewhere
 * the preprocessor could not parse it. */
#if DK__LINUX_EXTRAS && defined(__GLIBC__)
#if __GLIBC_PREREQ(2, 32)
#define DK__GLIBC_2_32 1
#endif
#endif

#ifdef DK__GLIBC_2_32
#include <sched.h>
#include <sys/single_threaded.h>
#define DK__CAN_CLONE 1
#if __GLIBC_PREREQ(2, 35) && defined(SYS_rseq)
#include <sys/rseq.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#endif

#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* AddressSanitizer keeps the bounds of each thread's stack, and the middle
 * runs as the caller's thread (it has its thread-local storage). It is told
 * of each change of stack, or it takes the daemon's siglongjmp for a jump
 * within a stack of 400 GB, warns and stops checking that stack. */
#if defined(__SANITIZE_ADDRESS__)
#define DK__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DK__ASAN 1
#endif
#endif
#ifdef DK__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define DK__STACK_SWITCH_START(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define DK__STACK_SWITCH_END(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
/* The frames the daemon's siglongjmp left (the caller's, below this one,
 * inside clone) keep their poisoned red zones: cleared, as a return would. */
#define DK__UNPOISON_BELOW(here) \
  __asan_unpoison_memory_region((const char *)(here) - 65536, 65536)
#else
#define DK__STACK_SWITCH_START(save, bottom, size) ((void)0)
#define DK__STACK_SWITCH_END(save, bottom, size) ((void)0)
#define DK__UNPOISON_BELOW(here) ((void)0)
#endif

/* A send that raises no SIGPIPE rather than write(): a daemon whose parent
 * died must get EPIPE, not a SIGPIPE that kills it. */
void dk__send_report(int fd, int kind, int value) {
  struct dk__report r;
  r.kind = kind;
  r.value = value;
  r.pid = (int)getpid();
  (void)dk__send_nosigpipe(fd, &r, sizeof(r), 0, NULL, 0);
}

/* The middle's work, either way it was made: returns only in the daemon. */
static void be_middle(int fd) {
  pid_t daemon_pid;

  if (setsid() < 0) {
    dk__send_report(fd, DK__REPORT_RESULT, DK__ERR(errno));
    _exit(1);
  }
  /* Not a session leader any more, so no open() can give it a terminal. */
  daemon_pid = fork();
  if (daemon_pid < 0) {
    dk__send_report(fd, DK__REPORT_RESULT, DK__ERR(errno));
    _exit(1);
  }
  if (daemon_pid > 0) {
    dk__send_report(fd, DK__REPORT_PID, (int)daemon_pid);
    _exit(0);
  }
}

static pid_t fork_middle(int fd) {
  pid_t pid = fork();
  if (pid == 0)
    be_middle(fd);
  return pid;
}

#ifdef DK__CAN_CLONE
/* Enough for fork() and the application's atfork handlers; only the pages
 * touched are ever backed. The lowest page is a guard: an overflow kills
 * the middle (the caller then reports DK_EDIED) instead of writing below. */
#define DK__MIDDLE_STACK (256 * 1024)

struct middle {
  int fd;
  char *stack;
  sigjmp_buf back;
  void *asan_save;           /* AddressSanitizer's, see DK__ASAN */
  const void *caller_bottom; /* the caller's stack, as it knows it */
  size_t caller_size;
};

/* The daemon has the restartable-sequences area of the caller's thread,
 * which the C library registered with the kernel; but the kernel does not
 * carry a registration over to a process that shares its parent's memory,
 * nor from there to that one's fork. Without it, sched_getcpu() (and any
 * allocator with per-CPU caches) would go on reading the CPU the caller
 * ran on when it forked. So it is registered again; if that fails, the
 * area says so, as the C library's own failed registration does. */
static void register_rseq_again(void) {
#ifdef RSEQ_SIG
  if (__rseq_size > 0) {
    struct rseq *area = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
    unsigned len = __rseq_size < 32 ? 32 : __rseq_size;
    if (syscall(SYS_rseq, area, len, 0, RSEQ_SIG) != 0 && errno != EBUSY)
      area->cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED;
  }
#endif
}

static int middle_main(void *arg) {
  struct middle *m = arg;
  DK__STACK_SWITCH_END(m->asan_save, &m->caller_bottom, &m->caller_size);
  be_middle(m->fd);
  /* The daemon, in memory of its own: back to the frame of clone_middle,
   * which in this copy is still where the caller was suspended. */
  DK__STACK_SWITCH_START(&m->asan_save, m->caller_bottom, m->caller_size);
  siglongjmp(m->back, 1);
}

/* Whether the middle may share the caller's memory: see the top. Valgrind
 * runs clone(CLONE_VM | CLONE_VFORK) as a plain fork: neither path would
 * be what it checks, so under valgrind the middle is forked. */
static int may_share_memory(void) {
  return __libc_single_threaded && !RUNNING_ON_VALGRIND;
}

/* 0: the daemon (*is_daemon set); > 0: the middle's pid, which has exited
 * by now; -1: no middle could be cloned, errno says why. */
static pid_t clone_middle(int fd, int *is_daemon) {
  struct middle m;
  sigset_t all, saved;
  pid_t pid;
  int err;

  m.fd = fd;
  m.asan_save = NULL;
  m.caller_bottom = NULL;
  m.caller_size = 0;
  m.stack = mmap(NULL, DK__MIDDLE_STACK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m.stack == MAP_FAILED)
    return -1;
  if (mprotect(m.stack, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE) < 0) {
    err = errno;
    munmap(m.stack, DK__MIDDLE_STACK);
    errno = err;
    return -1;
  }
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &saved);
  if (sigsetjmp(m.back, 0) != 0) {
    /* The daemon. m was not written after sigsetjmp: its fields hold. It
     * keeps every signal blocked until dk__reset_signals unblocks them. */
    DK__STACK_SWITCH_END(m.asan_save, NULL, NULL);
    DK__UNPOISON_BELOW(&m);
    register_rseq_again();
    munmap(m.stack, DK__MIDDLE_STACK);
    *is_daemon = 1;
    return 0;
  }
  DK__STACK_SWITCH_START(&m.asan_save, m.stack, DK__MIDDLE_STACK);
  pid = clone(middle_main, m.stack + DK__MIDDLE_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &m);
  err = errno;
  /* The middle ran as this thread, on its stack: back to this one. Where
   * the clone failed, its part of the switch is done here. */
  if (pid < 0)
    DK__STACK_SWITCH_END(m.asan_save, &m.caller_bottom, &m.caller_size);
  DK__STACK_SWITCH_START(&m.asan_save, m.caller_bottom, m.caller_size);
  DK__STACK_SWITCH_END(m.asan_save, NULL, NULL);
  sigprocmask(SIG_SETMASK, &saved, NULL);
  munmap(m.stack, DK__MIDDLE_STACK);
  errno = err;
  return pid;
}
#endif

int dk__middle_is_cloned(void) {
#ifdef DK__CAN_CLONE
  return may_share_memory();
#else
  return 0;
#endif
}

pid_t dk__start_middle(int fd, int *is_daemon) {
  pid_t pid;

  *is_daemon = 0;
#ifdef DK__CAN_CLONE
  if (may_share_memory()) {
    pid = clone_middle(fd, is_daemon);
    /* Could not: a seccomp filter, a sandbox, no memory for the stack.
     * A fork can still do it, or says why not. */
    if (pid >= 0)
      return pid;
  }
#endif
  pid = fork_middle(fd);
  if (pid == 0)
    *is_daemon = 1;
  return pid;
}
