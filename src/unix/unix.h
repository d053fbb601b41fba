/* Declarations shared by the files of the POSIX half. */
#ifndef DK_UNIX_H
#define DK_UNIX_H

#include <sys/stat.h>
#include <sys/types.h>
#include "../internal.h"

/* On POSIX libuv's codes are negated errno values. */
#define DK__ERR(e) (-(e))

/* pidfile.c. Claiming and dropping run in the daemon after fork: they
 * neither allocate nor lock. */
int dk__pidfile_claim(const char *abs_path);
int dk__pidfile_inherit(int on);
int dk__pidfile_read(const char *path, int *fd_out, pid_t *pid_out);
int dk__pidfile_read_stat(const char *path, int *fd_out, pid_t *pid_out, struct stat *st);
int dk__pidfile_parse_fd(int fd, pid_t *pid_out);
pid_t dk__pidfile_lock_holder(int fd);
int dk__pidfile_holder_ok(int fd, pid_t pid, int *by_record_lock);
void dk__pidfile_remove_if_stale(const char *path, pid_t pid, const struct stat *before);

/* send.c: the checks of dk_send, shared with the cached sender (sender.c).
 * dk__send_check reads the pid file and proves its holder, as dk_send does;
 * with pidfd, pins the process first (*pidfd is -1 without pidfds); with
 * fd_out, hands the pid file's descriptor over instead of closing it, with
 * *st from its fstat and *by_record_lock from dk__pidfile_holder_ok. */
int dk__send_check(const char *pid_file, pid_t *pid, int *pidfd, int *fd_out, struct stat *st,
                   int *by_record_lock);
int dk__send_pinned(int pidfd, pid_t pid, int host_signum);

/* setup.c: the steps a daemon takes, each safe between fork and return. */
void dk__reset_signals(void);
int dk__close_inherited(const int *keep, size_t nkeep, int also_keep);
int dk__redirect_stdio(const dk_options_t *opts, int null_by_default);
int dk__resolve_ids(dk_daemonizer_t *dz, const dk_options_t *opts);
int dk__drop_ids(const dk_daemonizer_t *dz);

/* notify.c: systemd's readiness protocol, without libsystemd. */
int dk__notify(const char *state);

/* signals.c: DK signal number to this platform's, and back. */
int dk__host_signal(int dk_signum);
/* signals.c: called by the daemon at the end of its setup (after fork:
 * async-signal-safe), so that dk_signals_init and dk_signals_start refuse
 * a loop made before it (UV_EBADF). */
void dk__note_daemonized(void);

#endif
