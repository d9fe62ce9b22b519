#!/bin/sh
# Records its pid, then waits (at most 60 s) until the test opens the gate, then echoes stdin.
# The start and end times let tests check how many ran at once.
dir="$FNPOOL_TEST_PIDDIR"
start=$(date +%s.%N)
echo "$$" > "$dir/$$"
i=0
while [ ! -e "$dir/../gate" ] && [ "$i" -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
echo "$start $(date +%s.%N)" > "$dir/../times/$$"
exec cat
