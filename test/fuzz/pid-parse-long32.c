/* SPDX-License-Identifier: MIT */
/* src/pid-parse.c once more, with `long` 32 bits wide as on Windows, where
 * long is 32 bits also on 64-bit machines (LLP64). The fuzz targets run on
 * Linux, whose long is 64 bits: without this build they could not see a
 * parser whose arithmetic only fits a 64-bit long. The macro is defined
 * after every system header is in (internal.h is include-guarded, so
 * pid-parse.c's own include of it adds nothing) and renames the functions
 * so that both builds link into one fuzzer. Test code only. */
#include "internal.h"

int dk__pid_parse_long32(const char *buf, size_t len, int *pid);
size_t dk__pid_format_long32(int pid, char *buf);

#define dk__pid_parse dk__pid_parse_long32
#define dk__pid_format dk__pid_format_long32
#define long int
#include "../../src/pid-parse.c"
