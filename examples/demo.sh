#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo behind `make demo` and `./bootstrap demo`: the example echo
# server is daemonized, talked to, signalled with the daemoniker tool, and
# stopped; each step says what it did and what came back.
set -euo pipefail

bin=${1:?usage: demo.sh BUILD_DIR}
server=$bin/examples/echo-server
tool=$bin/tools/daemoniker
dir=$(mktemp -d "${TMPDIR:-/tmp}/daemoniker-demo.XXXXXX")
pidfile=$dir/echo.pid
log=$dir/echo.log
trap 'rm -rf "$dir"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. Start the echo server as a daemon (returns once it listens)"
run "$server" --pidfile "$pidfile" --log "$log" --port 0
pid=$(cat "$pidfile")
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | tail -n 1)
echo "pid file $pidfile holds $pid; it listens on port $port"
ps -o pid,ppid,sid,tty,cmd -p "$pid"

step "2. Ask the tool about it"
run "$tool" status "$pidfile"

step "3. Talk to it"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'hello, daemon\n' >&3
read -r -t 5 reply <&3
echo "sent 'hello, daemon', got back '$reply'"
exec 3>&-

step "4. A second instance on the same pid file is refused"
run "$server" --pidfile "$pidfile" --log "$log" --port 0 || echo "(exit $?: the running daemon is untouched, pid file still says $(cat "$pidfile"))"

step "5. Rotate the log and send SIGHUP: the daemon reopens it"
mv "$log" "$log.1"
run "$tool" send "$pidfile" HUP
for _ in $(seq 50); do [ -s "$log" ] && break; sleep 0.1; done
echo "new log: $(cat "$log")"

step "6. Send SIGTERM: it stops accepting, finishes, exits 0"
run "$tool" send "$pidfile" TERM
timeout 10 tail --pid="$pid" -s 0.1 -f /dev/null
echo "process $pid is gone"
run "$tool" status "$pidfile" || echo "(exit $?: LSB 'not running')"
[ -e "$pidfile" ] && echo "pid file LEFT BEHIND" || echo "pid file removed by the daemon"

step "7. What the daemon logged"
cat "$log.1" "$log"

step "8. Signalling a daemon that is gone signals nobody"
echo "$pid" > "$pidfile"
run "$tool" send "$pidfile" TERM || echo "(exit $?: the pid file names no live holder)"

step "9. The tool daemonizes any command, and reports one that cannot start"
run "$tool" run --pidfile "$dir/nap.pid" -- sleep 60
run "$tool" status "$dir/nap.pid"
run "$tool" send "$dir/nap.pid" TERM
run "$tool" run --pidfile "$dir/nap.pid" -- no-such-command || echo "(exit $?: reported by the parent, nothing left running)"
