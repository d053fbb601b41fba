/* SPDX-License-Identifier: MIT */
/* The pid file format, shared by every platform: "<pid>\n", as written by
 * start-stop-daemon, systemd's PIDFile= and `echo $$ > f`. Reading is strict
 * because a pid that is misread gets an unrelated process signalled. */
#include "internal.h"

/* Largest pid we accept: pid_t is 32 bits on every platform we build for. */
#define DK__PID_LIMIT 2147483647L

int dk__pid_parse(const char *buf, size_t len, long *pid) {
  long value = 0;
  size_t i;

  if (len > 0 && buf[len - 1] == '\n')
    len--;
  /* A pid never has a leading zero, and 10 digits hold any 32-bit pid. */
  if (len == 0 || len > 10 || buf[0] == '0')
    return DK_EBADPIDFILE;
  for (i = 0; i < len; i++) {
    if (buf[i] < '0' || buf[i] > '9')
      return DK_EBADPIDFILE;
    /* Checked before the step, not after: long is 32 bits on Windows, where
     * value * 10 overflowed and "4294967298" wrapped to pid 2 (the fuzz
     * target's 32-bit-long build, test/fuzz/, catches it). */
    if (value > (DK__PID_LIMIT - (buf[i] - '0')) / 10)
      return DK_EBADPIDFILE;
    value = value * 10 + (buf[i] - '0');
  }
  /* 0 and 1 would mean "the whole group" and init to kill(). */
  if (value <= 1)
    return DK_EBADPIDFILE;
  *pid = value;
  return 0;
}

size_t dk__pid_format(long pid, char *buf) {
  char digits[20];
  size_t n = 0, len = 0;
  do {
    digits[n++] = (char)('0' + pid % 10);
    pid /= 10;
  } while (pid > 0 && n < sizeof(digits));
  while (n > 0)
    buf[len++] = digits[--n];
  buf[len++] = '\n';
  return len;
}
