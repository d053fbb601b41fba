/* SPDX-License-Identifier: MIT */
/* Host signals by name or number, for `send` and `stop --signal`: every
 * signal this host knows, not only the six portable ones. */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define SIG(name) { #name, SIG##name }
static const struct {
  const char *name;
  int num;
} names[] = {
  SIG(HUP), SIG(INT), SIG(QUIT), SIG(ILL), SIG(TRAP), SIG(ABRT), SIG(BUS), SIG(FPE),
  SIG(KILL), SIG(USR1), SIG(SEGV), SIG(USR2), SIG(PIPE), SIG(ALRM), SIG(TERM), SIG(CHLD),
  SIG(CONT), SIG(STOP), SIG(TSTP), SIG(TTIN), SIG(TTOU), SIG(URG), SIG(XCPU), SIG(XFSZ),
  SIG(VTALRM), SIG(PROF), SIG(WINCH), SIG(SYS),
#ifdef SIGIO
  SIG(IO),
#endif
#ifdef SIGPOLL
  SIG(POLL),
#endif
#ifdef SIGPWR
  SIG(PWR),
#endif
#ifdef SIGSTKFLT
  SIG(STKFLT),
#endif
#ifdef SIGIOT
  SIG(IOT),
#endif
#ifdef SIGEMT
  SIG(EMT),
#endif
#ifdef SIGINFO
  SIG(INFO),
#endif
#ifdef SIGLOST
  SIG(LOST),
#endif
#ifdef SIGTHR
  SIG(THR),
#endif
};

/* ASCII only: toupper() follows the locale. */
static int upper(int c) {
  return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static int prefix_nocase(const char *s, const char *prefix) {
  for (; *prefix; s++, prefix++)
    if (upper((unsigned char)*s) != *prefix)
      return 0;
  return 1;
}

/* A decimal number of digits only, up to `max`; -1 if not. */
static int small_number(const char *s, int max) {
  char *end;
  long v;
  if (s[0] < '0' || s[0] > '9')
    return -1;
  v = strtol(s, &end, 10);
  return *end == '\0' && v <= max ? (int)v : -1;
}

int tool_signal_from_name(const char *s) {
  size_t i;
  int n;

  if (s[0] >= '0' && s[0] <= '9')
    return small_number(s, NSIG - 1);
  if (prefix_nocase(s, "SIG"))
    s += 3;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strlen(s) == strlen(names[i].name) && prefix_nocase(s, names[i].name))
      return names[i].num;
#ifdef SIGRTMIN
  /* RTMIN, RTMIN+n, RTMAX, RTMAX-n, as kill(1) spells them. */
  if (prefix_nocase(s, "RTMIN") || prefix_nocase(s, "RTMAX")) {
    int max = prefix_nocase(s, "RTMAX"), span = SIGRTMAX - SIGRTMIN;
    if (s[5] == '\0')
      return max ? SIGRTMAX : SIGRTMIN;
    if (s[5] != (max ? '-' : '+') || (n = small_number(s + 6, span)) < 0)
      return -1;
    return max ? SIGRTMAX - n : SIGRTMIN + n;
  }
#endif
  (void)n;
  return -1;
}
