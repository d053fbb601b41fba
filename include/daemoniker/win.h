/* SPDX-License-Identifier: MIT */
/* libdaemoniker: the Windows private fields of the public structs. Included
 * by daemoniker.h; not for including on its own. Their layout is part of
 * the ABI (README "Versioning"). */
#ifndef DAEMONIKER_WIN_H
#define DAEMONIKER_WIN_H

#define DK_DAEMONIZER_PRIVATE_FIELDS                                          \
  void *report_handle;   /* daemon: write end of the pipe to the parent */   \
  int relaunched;

#define DK_SIGNALS_PRIVATE_FIELDS                                             \
  uv_async_t async;                                                           \
  uv_thread_t thread;                                                         \
  int thread_running;                                                         \
  void *events[DK__NSIGNALS + 1]; /* the six named events, then stop */       \
  void *alive;                     /* ALIVE, when no dk_daemonize made it */  \
  long pending[DK__NSIGNALS];      /* set by the waiter thread, atomically */ \
  unsigned long channel_id[3];     /* the pid file's identity */              \
  struct dk_signals_s *next;       /* the process's live ones */

/* Windows keeps nothing between sends. */
#define DK_SENDER_PRIVATE_FIELDS /* none */

#define DK_WATCHDOG_PRIVATE_FIELDS /* none */

#endif /* DAEMONIKER_WIN_H */
