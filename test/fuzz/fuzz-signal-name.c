/* SPDX-License-Identifier: MIT */
/* libFuzzer target for dk_signal_from_name and dk_signal_name. The input,
 * up to its first NUL, is the string (a NUL-terminated copy is passed).
 * Beyond "does not crash", the result must be what the documented forms
 * give, from a reference written from the specification alone:
 *   - a name of the six portable signals with or without the "SIG"
 *     prefix, in any ASCII case ("TERM", "SIGTERM", "sigterm", "Term");
 *   - or the number as decimal text ("15"); leading zeros are accepted, as
 *     kill(1) accepts them ("015"): the number's value is what counts;
 *   - and nothing else: UV_EINVAL (no sign, no blank, no other signal).
 * And every accepted result round-trips: dk_signal_name gives "SIG" and
 * the upper-case name, which dk_signal_from_name maps back, with and
 * without the prefix. The input's first bytes, read as an int, are also
 * given to dk_signal_name: a name for the six numbers only.
 *
 * Reproduce a crash: ./fuzz-signal-name <artifact> (see .ci/fuzz). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemoniker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The documented names and numbers (API.md), not the library's table. */
static const struct {
  const char *name;
  int num;
} documented[] = {
  { "SIGHUP", DK_SIGHUP },   { "SIGINT", DK_SIGINT },   { "SIGABRT", DK_SIGABRT },
  { "SIGUSR1", DK_SIGUSR1 }, { "SIGUSR2", DK_SIGUSR2 }, { "SIGTERM", DK_SIGTERM },
};
#define NDOCUMENTED (sizeof(documented) / sizeof(documented[0]))

static void fail(const char *what, const char *s, int got, int want) {
  const unsigned char *p;
  fprintf(stderr, "fuzz-signal-name: contract violated: %s; got %d, want %d; input:", what, got,
          want);
  for (p = (const unsigned char *)s; *p; p++)
    fprintf(stderr, " %02x", *p);
  fprintf(stderr, "\n");
  abort();
}

static int ascii_upper(int c) {
  return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static int equal_ascii_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_upper((unsigned char)*a) != ascii_upper((unsigned char)*b))
      return 0;
  return *a == *b;
}

static int number_of(int value) {
  size_t i;
  for (i = 0; i < NDOCUMENTED; i++)
    if (documented[i].num == value)
      return value;
  return UV_EINVAL;
}

static int reference(const char *s) {
  size_t i, len = strlen(s), first;
  int value = 0;
  if (len > 0 && strspn(s, "0123456789") == len) {
    for (first = 0; first < len && s[first] == '0'; first++)
      ;
    if (len - first > 2) /* every signal number has at most 2 digits */
      return UV_EINVAL;
    for (i = first; i < len; i++)
      value = value * 10 + (s[i] - '0');
    return number_of(value);
  }
  for (i = 0; i < NDOCUMENTED; i++)
    if (equal_ascii_nocase(s, documented[i].name) || equal_ascii_nocase(s, documented[i].name + 3))
      return documented[i].num;
  return UV_EINVAL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *name;
  char *s;
  int got, want;
  size_t i;

  s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  if (dk_signal_from_name(NULL) != UV_EINVAL)
    fail("NULL was accepted", "", dk_signal_from_name(NULL), UV_EINVAL);
  got = dk_signal_from_name(s);
  want = reference(s);
  if (got != want)
    fail(want == UV_EINVAL ? "accepted a form that is not documented"
                           : "refused or misread a documented form",
         s, got, want);

  if (got != UV_EINVAL) {
    if (got <= 0)
      fail("a signal number that is not > 0", s, got, want);
    name = dk_signal_name(got);
    if (name == NULL || strncmp(name, "SIG", 3) != 0)
      fail("dk_signal_name has no SIG name for the result", s, got, want);
    for (i = 0; name[i]; i++)
      if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9')))
        fail("dk_signal_name's name is not upper-case letters and digits", s, got, want);
    if (dk_signal_from_name(name) != got || dk_signal_from_name(name + 3) != got)
      fail("the name does not round-trip", s, got, want);
  }

  /* The first bytes as a number: dk_signal_name knows the six only. */
  if (size >= sizeof(int)) {
    int num;
    memcpy(&num, data, sizeof(num));
    name = dk_signal_name(num);
    if ((name != NULL) != (number_of(num) != UV_EINVAL))
      fail("dk_signal_name is wrong about whether a number is a signal", s, num, number_of(num));
    if (name != NULL && dk_signal_from_name(name) != num)
      fail("dk_signal_name's name does not map back", s, num, num);
  }

  free(s);
  return 0;
}
