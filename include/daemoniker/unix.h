/* SPDX-License-Identifier: MIT */
/* libdaemoniker: the POSIX private fields of the public structs. Included
 * by daemoniker.h; not for including on its own. Their layout is part of
 * the ABI (README "Versioning"). */
#ifndef DAEMONIKER_UNIX_H
#define DAEMONIKER_UNIX_H

#define DK_DAEMONIZER_PRIVATE_FIELDS                                          \
  int report_fd;         /* daemon: its end of the channel to the parent */  \
  int have_ids;                                                               \
  unsigned uid, gid;     /* resolved in the parent: lookups may allocate */  \
  int ngroups;                                                                \
  void *groups;          /* gid_t[ngroups], mapped in the parent */

#define DK_SIGNALS_PRIVATE_FIELDS                                             \
  uv_signal_t handles[DK__NSIGNALS];                                          \
  int active[DK__NSIGNALS];

/* Fixed-width, not long long: the header must compile as C++98. */
#define DK_SENDER_PRIVATE_FIELDS                                              \
  int fd;                 /* the pid file as checked; -1: nothing cached */   \
  int pidfd;              /* its holder, pinned */                            \
  int pid;                /* the holder's pid, named in the file */           \
  unsigned mode, uid, gid;                                                    \
  uint64_t dev, ino;                                                          \
  int64_t ctime_sec;                                                          \
  long ctime_nsec;

#define DK_WATCHDOG_PRIVATE_FIELDS /* none */

#endif /* DAEMONIKER_UNIX_H */
