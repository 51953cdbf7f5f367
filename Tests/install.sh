#!/usr/bin/env bash
# make install into a temporary prefix, then use the installed copy the way a
# user would: batchhost called by name through PATH (and as ./batchhost in
# PREFIX/bin) finds the bundled plugins and the worker executable, and a C
# host builds with pkg-config and runs with no LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prefix=$(mktemp -d /tmp/batchcore-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
passed=0 failed=0
check() {  # check NAME COMMAND...
    if "${@:2}" >"$prefix/log" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAILED: $1"; sed 's/^/    /' "$prefix/log"; fi
}

# expect_results FILE COUNT ID FIELD VALUE: FILE holds COUNT results, all ok,
# and the result of ID has output FIELD equal to VALUE ("" for the output itself).
expect_results() {
    python3 - "$@" <<'EOF'
import json, sys
path, count, id, field, value = sys.argv[1:]
results = [json.loads(line) for line in open(path)]
statuses = [r["status"] for r in results]
assert len(results) == int(count), f"{len(results)} results, expected {count}"
assert statuses == ["ok"] * len(results), f"statuses: {statuses}"
output = {r["id"]: r["output"] for r in results}[id]
got = output[field] if field else output
assert got == value, f"{id}: output {field or ''} is {got!r}, expected {value!r}"
EOF
}

make --no-print-directory install PREFIX="$prefix" >/dev/null
export PATH="$prefix/bin:$PATH"
notes=$root/samples/notes
sha=$(sha256sum "$notes/note-01.txt" | cut -d' ' -f1)
crc=$(python3 -c "import sys, zlib; print('%08x' % zlib.crc32(open(sys.argv[1], 'rb').read()))" "$notes/note-01.txt")

# run_in DIR OUT ARGS...: batchhost by name, in DIR, over the sample notes.
run_in() { (cd "$1" && batchhost run "$notes" -q -o "$2" "${@:3}"); }

check "batchhost is found through PATH" \
    sh -c "command -v batchhost | grep -qx '$prefix/bin/batchhost'"
check "installed batchhost lists the installed text plugin" \
    sh -c "cd / && batchhost plugins | grep -q '$prefix/lib/libbatchcore-text.so'"
check "installed batchhost runs the text plugin" \
    eval 'run_in / "$prefix/text.jsonl" -p text && expect_results "$prefix/text.jsonl" 12 "$notes/note-01.txt" sha256 "$sha"'
check "./batchhost in PREFIX/bin runs the text plugin" \
    eval '(cd "$prefix/bin" && ./batchhost run "$notes" -q -o "$prefix/dot.jsonl" -p text) &&
          expect_results "$prefix/dot.jsonl" 12 "$notes/note-01.txt" sha256 "$sha"'
check "installed batchhost finds the bundled declared processors" \
    eval 'run_in / "$prefix/crc.jsonl" -p crc32 && expect_results "$prefix/crc.jsonl" 12 "$notes/note-01.txt" "" "$crc"'
check "installed batchhost finds the installed worker executable (isolation=process)" \
    eval 'run_in / "$prefix/process.jsonl" -p text --isolation process &&
          expect_results "$prefix/process.jsonl" 12 "$notes/note-01.txt" sha256 "$sha"'
check "pkg-config builds a C host against the installed library" \
    sh -c "PKG_CONFIG_PATH='$prefix/lib/pkgconfig' cc -std=c99 examples/c-host/host.c \$(PKG_CONFIG_PATH='$prefix/lib/pkgconfig' pkg-config --cflags --libs batchcore) -o '$prefix/host'"
check "the installed C host runs without LD_LIBRARY_PATH" \
    sh -c "env -u LD_LIBRARY_PATH '$prefix/host' samples/letters | grep -q '^12 documents: 12 ok, 0 partial, 0 failed'"
echo "install: $passed passed, $failed failed"
((failed == 0))
