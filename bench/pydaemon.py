#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The python-daemon peer of bench-daemonize: the usual DaemonContext with a
locked pid file, then idle until killed. Run with Debian's /usr/bin/python3
(python3-daemon); the benchmark times the whole process, from exec until
this script's parent process exited and the pid file names the daemon."""
import signal
import sys

import daemon
import daemon.pidfile


def main():
    pidfile = daemon.pidfile.TimeoutPIDLockFile(sys.argv[1], acquire_timeout=5)
    with daemon.DaemonContext(pidfile=pidfile):
        while True:
            signal.pause()


if __name__ == "__main__":
    main()
