#!/bin/sh
# xargs as a user runs a command per document: one argument per command
# (-n 1), JOBS at once (-P), newline-separated paths (-d '\n' keeps spaces).
#   xargs.sh JOBS COMMAND [ARG...] < paths.txt
jobs=$1
shift
exec xargs -d '\n' -P "$jobs" -n 1 "$@"
