/* SPDX-License-Identifier: MIT */
#include "internal.h"

#define DK_STR_(x) #x
#define DK_STR(x) DK_STR_(x)

const char *dk_version_string(void) {
  return DK_STR(DK_VERSION_MAJOR) "." DK_STR(DK_VERSION_MINOR) "." DK_STR(DK_VERSION_PATCH);
}
