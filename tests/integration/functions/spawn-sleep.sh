#!/bin/sh
# Starts a grandchild and waits on it: tests check that a time-out or a cancelled call kills both.
sleep 300 &
echo "$$ $!" > "$FNPOOL_TEST_PIDDIR/$$"
wait
