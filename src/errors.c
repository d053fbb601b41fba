/* SPDX-License-Identifier: MIT */
/* Messages for the library's own codes; everything else is libuv's. */
#include "internal.h"

const char *dk_strerror(int err) {
  switch (err) {
  case DK_ERUNNING: return "a live daemon already holds the pid file";
  case DK_ESTALE: return "no live daemon holds the pid file (stale pid file)";
  case DK_EBADPIDFILE: return "the pid file does not hold one valid pid";
  case DK_EDIED: return "the daemon exited before it reported success";
  case DK_ENOUSER: return "no such user or group";
  default: return uv_strerror(err);
  }
}

const char *dk_err_name(int err) {
  switch (err) {
  case DK_ERUNNING: return "DK_ERUNNING";
  case DK_ESTALE: return "DK_ESTALE";
  case DK_EBADPIDFILE: return "DK_EBADPIDFILE";
  case DK_EDIED: return "DK_EDIED";
  case DK_ENOUSER: return "DK_ENOUSER";
  default: return uv_err_name(err);
  }
}
