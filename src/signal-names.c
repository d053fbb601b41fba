/* SPDX-License-Identifier: MIT */
/* Portable signal numbers and their names. */
#include <string.h>
#include "internal.h"

static const struct {
  int num;
  const char *name;
} signals[DK__NSIGNALS] = {
  { DK_SIGINT, "SIGINT" },   { DK_SIGTERM, "SIGTERM" }, { DK_SIGABRT, "SIGABRT" },
  { DK_SIGHUP, "SIGHUP" },   { DK_SIGUSR1, "SIGUSR1" }, { DK_SIGUSR2, "SIGUSR2" },
};

int dk__signal_index(int dk_signum) {
  int i;
  for (i = 0; i < DK__NSIGNALS; i++)
    if (signals[i].num == dk_signum)
      return i;
  return -1;
}

int dk__signal_at(int index) {
  return signals[index].num;
}

const char *dk_signal_name(int dk_signum) {
  int i = dk__signal_index(dk_signum);
  return i < 0 ? NULL : signals[i].name;
}

/* ASCII only: toupper() follows the locale, and in a Turkish one "sigint"
 * would not match "SIGINT". */
static char ascii_upper(char c) {
  return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static int equal_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_upper(*a) != ascii_upper(*b))
      return 0;
  return *a == *b;
}

static int from_number(const char *s) {
  int n = 0;
  if (*s == '\0')
    return UV_EINVAL;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || n > 100)
      return UV_EINVAL;
    n = n * 10 + (*s - '0');
  }
  return dk__signal_index(n) < 0 ? UV_EINVAL : n;
}

int dk_signal_from_name(const char *s) {
  int i;
  if (s == NULL)
    return UV_EINVAL;
  if (*s >= '0' && *s <= '9')
    return from_number(s);
  for (i = 0; i < DK__NSIGNALS; i++)
    if (equal_nocase(s, signals[i].name) || equal_nocase(s, signals[i].name + 3))
      return signals[i].num;
  return UV_EINVAL;
}
