/* SPDX-License-Identifier: MIT */
/* Declarations shared by the files of the Windows half. */
#ifndef DK_WIN_H
#define DK_WIN_H

#include "../internal.h" /* uv.h brings winsock2.h, which must come first */
#include <windows.h>

/* A Win32 error as a libuv code. */
#define DK__WIN_ERR(e) uv_translate_sys_error((int)(e))

/* The environment variable that marks a relaunched daemon; its value is
 * the inherited pipe handle's number. */
#define DK__RELAUNCH_ENV "DK_DAEMONIZER_PIPE"

/* Room for any DK_PATH_MAX-byte UTF-8 path in UTF-16, with a \\?\UNC\
 * prefix. */
#define DK__WPATH_MAX (DK_PATH_MAX + 16)

/* A pid file's identity, which names the daemon's channels: the volume and
 * file index survive any spelling of the path (case, 8.3, relative). */
typedef struct {
  unsigned long volume, index_high, index_low;
} dk__file_id;

/* Where the lock sits: one byte far past any pid file's content, because
 * Windows locks are mandatory and a lock on the text would keep `type` and
 * dk_send from reading it. */
#define DK__LOCK_OFFSET_HIGH 0x40000000u

/* A daemon's channels: one event per signal, in dk__signal_at order, then
 * ALIVE. */
#define DK__NCHANNELS (DK__NSIGNALS + 1)
#define DK__ALIVE DK__NSIGNALS

/* What crosses the report pipe before anything else: the options, then
 * their strings in this order, then the payload. */
#define DK__BLOB_MAGIC 0x444b4431u /* "DKD1" */
#define DK__NO_STRING 0xffffffffu
enum { DK__STR_PID_FILE, DK__STR_WORKDIR, DK__STR_STDIN, DK__STR_STDOUT, DK__STR_STDERR,
       DK__STR_COUNT };
struct dk__blob_head {
  unsigned int magic;
  unsigned int flags, umask, timeout_ms;
  unsigned int len[DK__STR_COUNT];
  unsigned long long payload_len;
};

/* paths.c */
int dk__utf8_to_wide(const char *s, WCHAR *out, size_t size);
int dk__wide_to_utf8(const WCHAR *s, char *out, size_t size);
int dk__full_path(const char *path, char *out, size_t size);
int dk__system_path(const char *path, WCHAR *out, size_t size);

/* names.c */
const char *dk__channel_what(int index);
int dk__channels_create(unsigned long pid, const dk__file_id *id, HANDLE *out, int count);
void dk__channels_close(HANDLE *handles, int count);
int dk__channel_open(unsigned long pid, const dk__file_id *id, const char *what, DWORD access,
                     HANDLE *out);
int dk__file_id_of(HANDLE h, dk__file_id *id);

/* pidfile.c */
int dk__pidfile_claim(const char *abs_path);
int dk__pidfile_held(dk__file_id *id, HANDLE events[DK__NSIGNALS]);
int dk__pidfile_read(const char *path, long *pid, dk__file_id *id);
void dk__pidfile_remove_if_stale(const char *path, unsigned long pid);
int dk__pidfile_raise(int index);

/* console.c: the live dk_signals_t of this process, and the console's
 * control events delivered to them. */
int dk__signals_register(dk_signals_t *sig, const dk__file_id *id);
void dk__signals_unregister(dk_signals_t *sig);
void dk__signals_set_started(dk_signals_t *sig, int started);
void dk__signals_raise(int index);

/* service.c: DK_SERVICE under the Service Control Manager. connect: 1 a
 * service, 0 not started by the SCM, <0 error. */
int dk__service_connect(unsigned timeout_ms);
int dk__service_active(void);
void dk__service_ready(int status);
void dk__service_failed(int err);
void dk__service_stopping(void);
void dk__service_exit(void);

/* parent.c */
int dk__run_parent(dk_daemonizer_t *dz, const dk_options_t *opts, void *payload,
                   size_t payload_len);

#endif
