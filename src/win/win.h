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

/* A pid file's identity, which names the daemon's channels: the volume and
 * file index survive any spelling of the path (case, 8.3, relative). */
typedef struct {
  unsigned long volume, index_high, index_low;
} dk__file_id;

/* Where the lock sits: one byte far past any pid file's content, because
 * Windows locks are mandatory and a lock on the text would keep `type` and
 * dk_send from reading it. */
#define DK__LOCK_OFFSET_HIGH 0x40000000u

/* names.c */
int dk__utf8_to_wide(const char *s, WCHAR *out, size_t size);
int dk__channel_name(unsigned long pid, const dk__file_id *id, const char *what, WCHAR *out,
                     size_t size);
int dk__file_id_of(HANDLE h, dk__file_id *id);

/* pidfile.c */
int dk__pidfile_claim(const char *abs_path);
int dk__pidfile_held_id(dk__file_id *id);
int dk__pidfile_read(const char *path, long *pid, dk__file_id *id);
void dk__pidfile_remove_if_stale(const char *path, unsigned long pid);

#endif
