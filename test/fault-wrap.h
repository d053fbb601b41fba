/* SPDX-License-Identifier: MIT */
/* Fault injection for test-faults: the system calls the daemonizing path
 * makes, replaced at link time (-Wl,--wrap=NAME, see Makefile.am) by
 * fault-wrap.c's __wrap_NAME, which passes each call through to the real
 * one unless an armed rule says to fail it.
 *
 * test-faults links the library's own objects into itself (the shared
 * library is not involved, so nothing outside the test is wrapped). The
 * rules are plain memory: dk_daemonize's forks copy them into the middle
 * process and the daemon, and a counter in MAP_SHARED memory tells the test
 * whether (and how often) a rule fired in whichever process it fired. */
#ifndef DK_FAULT_WRAP_H
#define DK_FAULT_WRAP_H

enum dk_fault_call {
  DKF_FORK = 1,
  DKF_SETSID,
  DKF_SOCKETPAIR,
  DKF_OPEN,      /* path: the path must end with it */
  DKF_FLOCK,
  DKF_FCNTL,     /* arg: the command (F_SETLK...) */
  DKF_FTRUNCATE,
  DKF_PWRITE,
  DKF_DUP2,      /* arg: the new descriptor (0, 1, 2) */
  DKF_CHDIR,
  DKF_SETGROUPS,
  DKF_SETGID,
  DKF_SETUID,
  DKF_SEND,
  DKF_RECV,
  DKF_POLL,
  DKF_WAITPID,
  DKF_SYSCALL,   /* arg: the system call's number (SYS_close_range...) */
  DKF_LINKAT,
  DKF_CLONE,     /* the middle process sharing the caller's memory */
  DKF_MMAP,
  DKF_NCALLS
};

/* Which process a rule applies in. Arming makes the caller the parent;
 * each fork() or clone() after that makes the child one step further (a
 * clone(CLONE_VM) child shares the memory the role is kept in: the step
 * is taken back in the parent once clone returns, which with CLONE_VFORK
 * is after the child is gone). */
enum dk_fault_role { DKF_PARENT = 0, DKF_MIDDLE = 1, DKF_DAEMON = 2 };

enum dk_fault_action {
  DKF_FAIL = 0, /* return -1 with errno = err, without making the call */
  DKF_SHORT,    /* pwrite: write 1 byte only (a short write) */
  DKF_ZERO,     /* pwrite: return 0 without writing */
  DKF_CRASH,    /* SIGKILL the calling process instead of making the call */
  DKF_STALL     /* block (at most 10 s, or until killed), then make the call */
};

#define DKF_ANY (-1L)

struct dk_fault {
  int call;         /* enum dk_fault_call */
  int role;         /* enum dk_fault_role */
  int nth;          /* fire at the nth matching call in that process (1: first) */
  int action;       /* enum dk_fault_action */
  int err;          /* DKF_FAIL: the errno */
  long arg;         /* DKF_ANY, or see enum dk_fault_call */
  const char *path; /* DKF_OPEN: NULL, or a suffix the path must have */
};

/* Arms up to DKF_MAX_RULES rules (each fires at most once, in all
 * processes together) and makes this process the parent. */
#define DKF_MAX_RULES 4
void dk_fault_arm(const struct dk_fault *rules, int n);
/* Every call passes through again (in this process). */
void dk_fault_disarm(void);
/* How many times rule i fired, in any process since it was armed. */
int dk_fault_fired(int i);
const char *dk_fault_call_name(int call);

#endif
