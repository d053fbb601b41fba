/* SPDX-License-Identifier: MIT */
/* The dk_signals_t that live in this process, and what the console tells
 * them. A console control event is the one signal Windows itself sends a
 * console program, and it comes in its own thread, which the system starts
 * in the process and which kills the process when every handler declined:
 *
 *   Ctrl+C, Ctrl+Break   DK_SIGINT (GenerateConsoleCtrlEvent, NSSM and
 *                        other service wrappers stopping a console program)
 *   console closed       DK_SIGHUP; the process is ended when the handler
 *                        returns, or about 5 s later, so the handler does
 *                        not return: the loop gets those seconds
 *   logoff, shutdown     not mapped, as libuv does not: a console program
 *                        gets them only as a service, which has its own
 *                        notifications; interactive ones are ended
 *
 * Each is delivered, as dk_send's are, to every started dk_signals_t that
 * watches the signal, by the same hand-over to the loop as the waiter
 * thread's; if none watches it, the system's default ends the process, as
 * an unwatched signal does on POSIX. Two dk_signals_t of one process on
 * one pid file are refused (UV_EBUSY): each named event wakes one waiter,
 * so one of the two would miss what the other got. */
#include <string.h>

#include "win.h"

static SRWLOCK lock = SRWLOCK_INIT;
static dk_signals_t *live; /* linked through ->next */
static int handler_installed;

static BOOL WINAPI on_console(DWORD type) {
  dk_signals_t *sig;
  int index, delivered = 0;

  if (type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT)
    index = dk__signal_index(DK_SIGINT);
  else if (type == CTRL_CLOSE_EVENT)
    index = dk__signal_index(DK_SIGHUP);
  else
    return FALSE;
  AcquireSRWLockShared(&lock);
  for (sig = live; sig != NULL; sig = sig->next)
    if (sig->started && !sig->closing && dk__signals_is_watched(sig, index)) {
      dk__pending_mark(sig->pending, index);
      uv_async_send(&sig->async);
      delivered = 1;
    }
  ReleaseSRWLockShared(&lock);
  if (!delivered)
    return FALSE;
  if (type == CTRL_CLOSE_EVENT)
    Sleep(INFINITE); /* main's return, or the system, ends the process */
  return TRUE;
}

int dk__signals_register(dk_signals_t *sig, const dk__file_id *id) {
  dk_signals_t *other;
  int err = 0;

  AcquireSRWLockExclusive(&lock);
  for (other = live; other != NULL; other = other->next)
    if (memcmp(other->channel_id, id, sizeof(*id)) == 0)
      err = UV_EBUSY;
  if (err == 0 && !handler_installed) {
    if (SetConsoleCtrlHandler(on_console, TRUE))
      handler_installed = 1;
    else
      err = DK__WIN_ERR(GetLastError());
  }
  if (err == 0) {
    memcpy(sig->channel_id, id, sizeof(*id));
    sig->next = live;
    live = sig;
  }
  ReleaseSRWLockExclusive(&lock);
  return err;
}

void dk__signals_unregister(dk_signals_t *sig) {
  dk_signals_t **at;
  AcquireSRWLockExclusive(&lock);
  for (at = &live; *at != NULL; at = &(*at)->next)
    if (*at == sig) {
      *at = sig->next;
      break;
    }
  ReleaseSRWLockExclusive(&lock);
}

/* A signal for this process's own dk_signals_t, as dk_send would deliver
 * it to their events (a service control, with no pid file to name them):
 * an unstarted one gets it once started. */
void dk__signals_raise(int index) {
  dk_signals_t *sig;
  AcquireSRWLockShared(&lock);
  for (sig = live; sig != NULL; sig = sig->next)
    if (!sig->closing)
      SetEvent(sig->events[index]);
  ReleaseSRWLockShared(&lock);
}

void dk__signals_set_started(dk_signals_t *sig, int started) {
  AcquireSRWLockExclusive(&lock);
  sig->started = started;
  ReleaseSRWLockExclusive(&lock);
  /* A process started with CREATE_NEW_PROCESS_GROUP, as every daemon is,
   * inherits Ctrl+C switched off, and then no handler sees it; a started
   * dk_signals_t decides instead, as uv_signal_start overrides an
   * inherited SIG_IGN on POSIX. */
  if (started)
    SetConsoleCtrlHandler(NULL, FALSE);
}
