/* SPDX-License-Identifier: MIT */
/* libFuzzer target for dk__pid_parse, the strict pid-file parser, and
 * dk__pid_format, its inverse. Beyond "does not crash", it checks the
 * contract against a reference written from the specification alone:
 *   - 0 is returned exactly when the input is 1 to 10 decimal digits with
 *     no leading zero, optionally followed by one '\n', and nothing else,
 *     whose value is within 2..2147483647 (0 and 1 would make kill() hit a
 *     group or init; pid_t is 32 bits);
 *   - then *pid is that value and dk__pid_format(*pid) gives back the
 *     input's digits followed by '\n';
 *   - otherwise it returns DK_EBADPIDFILE and *pid is untouched.
 * Every input also goes through a second build of the parser in which
 * `long` is 32 bits, as on Windows (LLP64, see pid-parse-long32.c), so a
 * parser that is only correct with a 64-bit long fails here too.
 *
 * Reproduce a crash: ./fuzz-pid-parse <artifact> (see .ci/fuzz). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* pid-parse-long32.c: the same source compiled with a 32-bit long. */
int dk__pid_parse_long32(const char *buf, size_t len, int *pid);
size_t dk__pid_format_long32(int pid, char *buf);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SENTINEL (-77)

static void fail(const char *what, const uint8_t *data, size_t size) {
  size_t i;
  fprintf(stderr, "fuzz-pid-parse: contract violated: %s; input (%zu bytes):", what, size);
  for (i = 0; i < size; i++)
    fprintf(stderr, " %02x", data[i]);
  fprintf(stderr, "\n");
  abort();
}

/* The reference: 1 and the value if the input is one valid pid, else 0. */
static int reference(const uint8_t *data, size_t size, uint64_t *value) {
  size_t len = size, i;
  uint64_t v = 0;
  if (len > 0 && data[len - 1] == '\n')
    len--;
  if (len < 1 || len > 10 || data[0] == '0')
    return 0;
  for (i = 0; i < len; i++) {
    if (data[i] < '0' || data[i] > '9')
      return 0;
    v = v * 10 + (uint64_t)(data[i] - '0'); /* at most 10 digits: no overflow */
  }
  if (v < 2 || v > 2147483647u)
    return 0;
  *value = v;
  return 1;
}

/* What dk__pid_format must write back for a valid input. */
static void check_format(const char *text, size_t len, const uint8_t *data, size_t size,
                         const char *which) {
  size_t digits = size - (data[size - 1] == '\n');
  if (len != digits + 1 || text[len - 1] != '\n' || memcmp(text, data, digits) != 0)
    fail(which, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t want = 0;
  int valid = reference(data, size, &want);
  char text[24];
  char *buf;
  long pid = SENTINEL;
  int pid32 = SENTINEL;
  int r, r32;

  /* An exact-size copy, so that AddressSanitizer sees any read past it. */
  buf = malloc(size ? size : 1);
  if (buf == NULL)
    return 0;
  if (size)
    memcpy(buf, data, size);

  r = dk__pid_parse(buf, size, &pid);
  if (valid) {
    if (r != 0)
      fail("a valid pid was refused", data, size);
    if (pid != (long)want)
      fail("the pid is not the input's value", data, size);
    check_format(text, dk__pid_format(pid, text), data, size,
                 "dk__pid_format does not give the input back");
  } else {
    if (r == 0)
      fail("an invalid pid file was accepted", data, size);
    if (r != DK_EBADPIDFILE)
      fail("an error other than DK_EBADPIDFILE", data, size);
    if (pid != SENTINEL)
      fail("*pid was written on error", data, size);
  }

  r32 = dk__pid_parse_long32(buf, size, &pid32);
  if (valid) {
    if (r32 != 0 || pid32 != (int)want)
      fail("with a 32-bit long: a valid pid was refused or misread", data, size);
    check_format(text, dk__pid_format_long32(pid32, text), data, size,
                 "with a 32-bit long: dk__pid_format does not give the input back");
  } else if (r32 != DK_EBADPIDFILE || pid32 != SENTINEL) {
    fail("with a 32-bit long: an invalid pid file was accepted, or *pid written", data, size);
  }

  free(buf);
  return 0;
}
