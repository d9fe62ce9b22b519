#!/bin/sh
# Succeeds at once but leaves children holding its stdout: one in its own process group (must
# be killed with it) and, with "escape", one in a new session (out of reach; the test kills it).
dir="$FNPOOL_TEST_PIDDIR"
sleep 300 &
echo "$$ $!" > "$dir/$$"
if [ "$1" = escape ]; then
  setsid sleep 300 &
  echo "$!" > "$dir/../escaped"
fi
exec cat
