#!/usr/bin/env bash
# make install into a temporary prefix, then use the installed copy the way a
# user would: batchhost finds the bundled plugins, and a C host builds with
# pkg-config and runs with no LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d /tmp/batchcore-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
passed=0 failed=0
check() {  # check NAME COMMAND...
    if "${@:2}" >"$prefix/log" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAILED: $1"; sed 's/^/    /' "$prefix/log"; fi
}

make --no-print-directory install PREFIX="$prefix" >/dev/null
check "installed batchhost lists the installed text plugin" \
    sh -c "cd / && '$prefix/bin/batchhost' plugins | grep -q '$prefix/lib/libbatchcore-text.so'"
check "installed batchhost runs the text plugin" \
    sh -c "cd / && '$prefix/bin/batchhost' run '$PWD/samples/notes' -p text -q | grep -c sha256 | grep -qx 12"
check "installed batchhost finds the bundled declared processors" \
    sh -c "cd / && '$prefix/bin/batchhost' run '$PWD/samples/notes/note-01.txt' -p crc32 -q | grep -q '\"status\":\"ok\"'"
check "installed batchhost finds the installed worker executable (isolation=process)" \
    sh -c "cd / && '$prefix/bin/batchhost' run '$PWD/samples/notes' -p text -q --isolation process | grep -c sha256 | grep -qx 12"
check "pkg-config builds a C host against the installed library" \
    sh -c "PKG_CONFIG_PATH='$prefix/lib/pkgconfig' cc -std=c99 examples/c-host/host.c \$(PKG_CONFIG_PATH='$prefix/lib/pkgconfig' pkg-config --cflags --libs batchcore) -o '$prefix/host'"
check "the installed C host runs without LD_LIBRARY_PATH" \
    sh -c "env -u LD_LIBRARY_PATH '$prefix/host' samples/letters | grep -q 'ok'"
echo "install: $passed passed, $failed failed"
((failed == 0))
