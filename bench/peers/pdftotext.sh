#!/bin/sh
# pdftotext (poppler-utils) once per document, WORKERS at once: paths on stdin.
#   pdftotext.sh WORKERS < PATHS.txt
exec xargs -d '\n' -P "$1" -I '{}' pdftotext -q '{}' /dev/null
