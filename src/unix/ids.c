/* SPDX-License-Identifier: MIT */
/* The user and group a daemon switches to: looked up in the parent (NSS
 * may allocate, open files and lock), switched to in the daemon after it
 * claimed its pid file (no allocation there). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unix.h"

/* A group's entry lists its members, so it can be any size: the lookup
 * buffer grows on ERANGE up to this. */
#define DK__LOOKUP_MAX (16u << 20)

enum { DK__BY_USER_NAME, DK__BY_UID, DK__BY_GROUP_NAME };

/* One passwd or group lookup into *buf, grown as needed (the caller frees
 * it; strings of the entry point into it). 1 found, 0 no such entry, <0
 * error. */
static int lookup(int how, const char *name, uid_t uid, struct passwd *pw, struct group *gr,
                  char **buf) {
  long hint = sysconf(how == DK__BY_GROUP_NAME ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
  size_t size = hint > 0 && hint <= 65536 ? (size_t)hint : 4096;
  for (;;) {
    struct passwd *pwp = NULL;
    struct group *grp = NULL;
    char *grown = realloc(*buf, size);
    int r;
    if (grown == NULL)
      return UV_ENOMEM;
    *buf = grown;
    if (how == DK__BY_USER_NAME)
      r = getpwnam_r(name, pw, *buf, size, &pwp);
    else if (how == DK__BY_UID)
      r = getpwuid_r(uid, pw, *buf, size, &pwp);
    else
      r = getgrnam_r(name, gr, *buf, size, &grp);
    if (r == 0 || r == ENOENT || r == ESRCH)
      return pwp != NULL || grp != NULL;
    if (r == EINTR)
      continue;
    if (r != ERANGE || size >= DK__LOOKUP_MAX)
      return DK__ERR(r);
    size *= 2;
  }
}

/* A decimal id, as systemd and start-stop-daemon take it; (uid_t)-1 is
 * setuid's "no change" and no id. 1 if text is one. */
static int parse_id(const char *text, uid_t *id) {
  unsigned long long v = 0;
  if (*text == '\0')
    return 0;
  for (; *text != '\0'; text++) {
    if (*text < '0' || *text > '9')
      return 0;
    v = v * 10 + (unsigned)(*text - '0');
    if (v >= (uid_t)-1)
      return 0;
  }
  *id = (uid_t)v;
  return 1;
}

/* Keeps the list for the daemon in pages of its own: the daemon unmaps its
 * copy once it has set them, which neither allocates nor locks, so no
 * process is left holding it whether or not dk_daemonizer_cleanup runs. */
static int keep_groups(dk_daemonizer_t *dz, const gid_t *groups, int n) {
  void *p;
  if (n == 0)
    return 0;
  p = mmap(NULL, (size_t)n * sizeof(gid_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
           -1, 0);
  if (p == MAP_FAILED)
    return DK__ERR(errno);
  memcpy(p, groups, (size_t)n * sizeof(gid_t));
  dz->groups = p;
  dz->ngroups = n;
  return 0;
}

/* How many groups setgroups(2) takes. musl's sysconf answers its own
 * NGROUPS_MAX (32), not the kernel's limit, which Linux publishes here;
 * elsewhere sysconf is the system's answer. */
static long groups_max(void) {
#if DK__LINUX_EXTRAS
  char buf[32];
  ssize_t n;
  long max;
  int fd = open("/proc/sys/kernel/ngroups_max", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    do
      n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n > 0) {
      buf[n] = '\0';
      if ((max = strtol(buf, NULL, 10)) > 0)
        return max;
    }
  }
#endif
  return sysconf(_SC_NGROUPS_MAX);
}

/* All of the user's groups, however many: getgrouplist says how many there
 * are when they do not fit. More than the kernel takes is E2BIG. */
static int user_groups(dk_daemonizer_t *dz, const char *user, gid_t gid) {
  long max = groups_max();
  int limit = max > 0 && max < INT_MAX ? (int)max : 65536, cap = 64, n, err;
  gid_t *list = NULL;
  for (;;) {
    gid_t *grown = realloc(list, (size_t)cap * sizeof(gid_t));
    if (grown == NULL) {
      free(list);
      return UV_ENOMEM;
    }
    list = grown;
    n = cap;
    if (getgrouplist(user, gid, list, &n) >= 0)
      break;
    if (cap >= limit) {
      free(list);
      return UV_E2BIG;
    }
    cap = n > cap ? n : cap * 2;
    if (cap > limit)
      cap = limit;
  }
  err = keep_groups(dz, list, n);
  free(list);
  return err;
}

/* Looks the user and group up in the parent: NSS may allocate, open files
 * and lock, none of which is allowed after fork. A name is looked up as a
 * name first, then as a number. A group that is a number needs no entry;
 * a user that is one without an entry has no gid or groups to go with it,
 * so it needs options.group and gets no supplementary groups. */
static int resolve_ids(dk_daemonizer_t *dz, const dk_options_t *opts, char **buf) {
  struct passwd pw;
  struct group gr;
  uid_t id;
  int found;

  if (opts->group != NULL) {
    found = lookup(DK__BY_GROUP_NAME, opts->group, 0, NULL, &gr, buf);
    if (found < 0)
      return found;
    if (found)
      dz->gid = gr.gr_gid;
    else if (parse_id(opts->group, &id))
      dz->gid = (unsigned)id;
    else
      return DK_ENOUSER;
  }
  if (opts->user == NULL) {
    gid_t only = (gid_t)dz->gid;
    dz->uid = getuid();
    return keep_groups(dz, &only, 1);
  }
  found = lookup(DK__BY_USER_NAME, opts->user, 0, &pw, NULL, buf);
  if (found == 0 && parse_id(opts->user, &id)) {
    found = lookup(DK__BY_UID, NULL, id, &pw, NULL, buf);
    if (found == 0) {
      if (opts->group == NULL)
        return DK_ENOUSER;
      dz->uid = (unsigned)id;
      return 0;
    }
  }
  if (found <= 0)
    return found < 0 ? found : DK_ENOUSER;
  dz->uid = pw.pw_uid;
  if (opts->group == NULL)
    dz->gid = pw.pw_gid;
  /* The groups of the gid it runs as, as initgroups(3) takes them. */
  return user_groups(dz, pw.pw_name, (gid_t)dz->gid);
}

int dk__resolve_ids(dk_daemonizer_t *dz, const dk_options_t *opts) {
  char *buf = NULL;
  int err;

  dz->have_ids = 0;
  dz->ngroups = 0;
  dz->groups = NULL;
  if (opts->user == NULL && opts->group == NULL)
    return 0;
  err = resolve_ids(dz, opts, &buf);
  free(buf);
  if (err < 0) {
    dk__release_ids(dz);
    return err;
  }
  dz->have_ids = 1;
  return 0;
}

void dk__release_ids(dk_daemonizer_t *dz) {
  if (dz->groups != NULL)
    (void)munmap(dz->groups, (size_t)dz->ngroups * sizeof(gid_t));
  dz->groups = NULL;
  dz->ngroups = 0;
}

/* Groups first: once the uid is no longer root they can not be changed. */
int dk__drop_ids(const dk_daemonizer_t *dz) {
  if (!dz->have_ids)
    return 0;
  /* EPERM is what an ordinary user gets when it "switches" to itself, and
   * is harmless there. Switching to another uid it is not: root whose
   * setgroups is denied (a user namespace's /proc/PID/setgroups) would go
   * on as the new user with root's supplementary groups (group 0...). */
  if (setgroups((size_t)dz->ngroups, (const gid_t *)dz->groups) < 0 &&
      (errno != EPERM || (uid_t)dz->uid != geteuid()))
    return DK__ERR(errno);
  if (setgid((gid_t)dz->gid) < 0)
    return DK__ERR(errno);
  if (setuid((uid_t)dz->uid) < 0)
    return DK__ERR(errno);
  return 0;
}
