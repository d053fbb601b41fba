/* dk_sender_t on POSIX: dk_send and dk_pid_file_check, with what a full
 * check proved kept in the caller's struct, so that signalling the same
 * daemon again costs three cheap calls and the signal instead of eight.
 *
 * The full check is dk_send's own (dk__prove in proof.c): open the pid
 * file, read the pid P it names, pin P with a pidfd, and find P holding the
 * file's POSIX record lock. After one that succeeded through the record
 * lock, the sender keeps the file's descriptor (O_CLOEXEC), its identity
 * (device, inode) and attributes (mode, owner, ctime), P, and the pidfd.
 * A call then checks, in this order:
 *
 *  1. lstat(path) gives the device and inode of the descriptor: the name
 *     still refers to the file we checked. An inode number is unique on
 *     its device among the inodes that exist, and the one we hold open
 *     cannot be freed while we do, so its number is not handed to another
 *     file meanwhile: a file removed and made again, or another renamed
 *     over the name, has another number. lstat and not stat, because
 *     dk_send refuses a symlink (O_NOFOLLOW): a symlink has an inode of its
 *     own, so a name turned into a symlink mismatches, and the full check
 *     refuses it just as dk_send does. Directories on the way are looked
 *     up afresh each time, as dk_send's open does (a relative path against
 *     the cwd of the moment). The same mode, owner and ctime too: nobody
 *     changed the file's permissions since we opened it (ctime moves on
 *     chmod, chown, ACL edits, writes), so the access dk_send's open would
 *     be granted still stands; after any change the full check judges it.
 *  2. pread(fd) parses to P: the file still names P. dk_send reads the
 *     content on every call, so this does too: a file rewritten in place
 *     (same inode: by a new daemon that claims a file a killed one left,
 *     or by hand) names someone else now. A ctime comparison alone would
 *     not do: timestamps move in clock ticks (or whole seconds on some
 *     file systems), and a rewrite within the tick of the write we read
 *     would leave ctime as it was.
 *  3. F_GETLK on fd names P: the process with pid P holds the file's
 *     record lock now. Record locks belong to a process: they are not
 *     inherited by fork, they go when it exits (before it is a zombie) and
 *     when it closes any descriptor of the file; so this proves a live
 *     holder at this moment, not one that held the lock once.
 *  4. pidfd_send_signal on the kept pidfd. It refers to the process X that
 *     had pid P and held the lock at the full check. While X exists, even
 *     as a zombie, no other process can have pid P: so if the call
 *     succeeds, X existed from the full check until now, and the pidfd
 *     dk_send would have opened for P is X's too: the same target. If X is
 *     gone, P may belong to someone else by now (a new daemon holding this
 *     very file, or anybody), but the pidfd still refers to X and the call
 *     fails with ESRCH: nothing is signalled.
 *
 * Any mismatch or failure, ESRCH included, drops what was kept and runs
 * the full check, which is dk_send exactly, and keeps what it proves. The
 * steps before the signal have no effect, and a pidfd_send_signal that
 * failed signalled nobody, so nothing is ever sent twice. dk_sender_check
 * takes steps 1 to 3: they are the conditions dk_pid_file_check tests.
 *
 * Nothing is kept when the full check succeeded through /proc (the daemon
 * dropped its record lock: F_GETLK cannot vouch for it, so every call is
 * the full check), nor without pidfds (kernels before 5.3, valgrind): a pid
 * alone cannot be pinned. The one thing a kept descriptor does not follow
 * is the caller's own credentials: it keeps the access it was opened with,
 * as every open descriptor does.
 *
 * Keeping the descriptor open is harmless to locks: a process's record
 * locks on a file go when it closes any descriptor of that file, but a
 * sender keeps one only while another process holds the file's write lock,
 * so the sender's process holds no lock on it to lose. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unix.h"

int dk_sender_init(dk_sender_t *s, const char *pid_file) {
  size_t len;

  if (s == NULL)
    return UV_EINVAL;
  s->fd = -1;
  s->pidfd = -1;
  s->pid = 0;
  s->path[0] = '\0';
  if (pid_file == NULL || (len = strlen(pid_file)) >= sizeof(s->path))
    return UV_EINVAL;
  memcpy(s->path, pid_file, len + 1);
  return 0;
}

void dk_sender_close(dk_sender_t *s) {
  if (s == NULL)
    return;
  if (s->fd >= 0)
    close(s->fd);
  if (s->pidfd >= 0)
    close(s->pidfd);
  s->fd = -1;
  s->pidfd = -1;
  s->pid = 0;
}

static int same_file(const dk_sender_t *s, const struct stat *st) {
  return s->dev == (unsigned long long)st->st_dev && s->ino == (unsigned long long)st->st_ino &&
         s->mode == (unsigned)st->st_mode && s->uid == (unsigned)st->st_uid &&
         s->gid == (unsigned)st->st_gid && s->ctime_sec == (long long)st->st_ctim.tv_sec &&
         s->ctime_nsec == (long)st->st_ctim.tv_nsec;
}

/* Steps 1 to 3 above: 1 if what was kept still holds. */
static int kept_holds(const dk_sender_t *s) {
  struct stat st;
  pid_t named;

  if (s->fd < 0)
    return 0;
  if (lstat(s->path, &st) < 0 || !same_file(s, &st))
    return 0;
  if (dk__pidfile_parse_fd(s->fd, &named) < 0 || named != (pid_t)s->pid)
    return 0;
  return dk__pidfile_lock_holder(s->fd) == (pid_t)s->pid;
}

/* Step 4 above: 0 if the kept pidfd took the signal. */
static int send_kept(const dk_sender_t *s, int host_signum) {
#ifdef SYS_pidfd_send_signal
  return (int)syscall(SYS_pidfd_send_signal, s->pidfd, host_signum, NULL, 0);
#else
  (void)s;
  (void)host_signum;
  return -1; /* never reached: without pidfds nothing is kept */
#endif
}

/* dk_send's full check and, for host_signum > 0, its signal; keeps what a
 * success through the record lock proved. A process never keeps its own
 * pid file's descriptor: it is the one the daemon holds. */
static int full(dk_sender_t *s, int host_signum, pid_t *pid_out) {
  struct dk__proof p;
  int err = dk__prove(s->path, 1, &p);

  if (err == 0 && host_signum > 0)
    err = dk__send_pinned(p.pidfd, p.pid, host_signum);
  if ((err == 0 || err == DK_ERUNNING) && pid_out != NULL)
    *pid_out = p.holder;
  if (err == 0 && p.by_record_lock && p.pidfd >= 0 && !p.own) {
    s->fd = p.fd;
    s->pidfd = p.pidfd;
    s->pid = (int)p.pid;
    s->dev = (unsigned long long)p.st.st_dev;
    s->ino = (unsigned long long)p.st.st_ino;
    s->mode = (unsigned)p.st.st_mode;
    s->uid = (unsigned)p.st.st_uid;
    s->gid = (unsigned)p.st.st_gid;
    s->ctime_sec = (long long)p.st.st_ctim.tv_sec;
    s->ctime_nsec = (long)p.st.st_ctim.tv_nsec;
  } else {
    dk__proof_release(&p);
  }
  return err;
}

int dk_sender_send(dk_sender_t *s, int dk_signum) {
  int host = dk__host_signal(dk_signum);

  if (s == NULL || host < 0)
    return UV_EINVAL;
  if (kept_holds(s) && send_kept(s, host) == 0)
    return 0;
  dk_sender_close(s);
  return full(s, host, NULL);
}

int dk_sender_check(dk_sender_t *s, uv_pid_t *pid) {
  pid_t found;
  int err;

  if (s == NULL)
    return UV_EINVAL;
  if (kept_holds(s)) {
    if (pid != NULL)
      *pid = (uv_pid_t)s->pid;
    return 0;
  }
  dk_sender_close(s);
  err = full(s, 0, &found);
  if ((err == 0 || err == DK_ERUNNING) && pid != NULL)
    *pid = (uv_pid_t)found;
  return err;
}
