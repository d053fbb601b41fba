/* SPDX-License-Identifier: MIT */
/* The test harness, for the Check suites: include this one header.
 *   fixture.h  a throw-away directory per test, files, waits, registration
 *   probes.h   what /proc says of a process and of a pid file's locks
 *   procs.h    one clock; waiting for, reaping and killing processes
 *   sigd.h     the test daemon and its command protocol
 * spawn.h (suites that run the tool and the example server) comes on top. */
#ifndef DK_TEST_HELPERS_H
#define DK_TEST_HELPERS_H

#include "fixture.h"
#include "probes.h"
#include "procs.h"
#include "sigd.h"

#endif
