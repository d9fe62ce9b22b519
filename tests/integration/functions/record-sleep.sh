#!/bin/sh
# Records its pid (so tests can see it started), sleeps $1 seconds, then echoes stdin.
echo "$$" > "$FNPOOL_TEST_PIDDIR/$$"
sleep "${1:-1}"
exec cat
