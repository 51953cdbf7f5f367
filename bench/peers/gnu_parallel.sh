#!/bin/sh
# GNU parallel as a user runs a command per document, JOBS at once, paths
# on standard input; --will-cite only silences the citation notice.
#   gnu_parallel.sh JOBS COMMAND [ARG...] < paths.txt   ({} is the path)
jobs=$1
shift
exec parallel --will-cite -j "$jobs" "$@"
