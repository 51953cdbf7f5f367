#!/usr/bin/env bash
# Tests/c/run.sh — build and run the C tests against the built library.
#
#   Tests/c/run.sh [BUILD_DIR]        BUILD_DIR defaults to .build/release
#
# Builds, from the repository root:
#   - Tests/c/headers.c (C99) and Tests/c/headers.cpp (C++17), strict flags,
#     and a use of the deprecated BC_PLUGIN_ABI_VERSION (compiles, warns);
#   - the example plugin examples/plugin/upper.c and the broken plugins of
#     Tests/c/plugins/ into a temporary plugin directory;
#   - the test programs Tests/c/test_*.c into .build/ctests/, linked against
#     BUILD_DIR/libbatchcore.so with an rpath (no LD_LIBRARY_PATH needed);
#   - the example host examples/c-host/host.c.
# Runs every program, then prints one line "N passed, N failed" summing the
# programs' own summary lines. A build step, the header check and the example
# host count as one check each; a program that dies before its summary line
# counts as one failure. Exits non-zero on any failure.
#
# CC and CXX pick the compilers (default cc and c++).
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 2

build=${1:-.build/release}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
lib=$build/libbatchcore.so
if [[ ! -f $lib ]]; then
    echo "run.sh: $lib does not exist." >&2
    echo "run.sh: build the library first (swift build -c release), or pass its directory: Tests/c/run.sh BUILD_DIR" >&2
    exit 2
fi
if ! compgen -G "$build/*text*.so" >/dev/null; then
    echo "run.sh: warning: no text plugin next to $lib; the text plugin checks will fail" >&2
fi

CC=${CC:-cc}
CXX=${CXX:-c++}
out=$root/.build/ctests
mkdir -p "$out" || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/batchcore-ctests.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT
plugins=$tmp/plugins
mkdir -p "$plugins"

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAILED: $*" >&2
}

# step DESCRIPTION COMMAND... — run a build step, counted as one check.
step() {
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}

strict=(-std=c99 -Wall -Wextra -Werror -pedantic -Iinclude)

echo "== headers"
step "headers.c (C99)" "$CC" "${strict[@]}" -c Tests/c/headers.c -o "$tmp/headers_c.o"
step "headers.cpp (C++17)" "$CXX" -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude \
    -c Tests/c/headers.cpp -o "$tmp/headers_cpp.o"

# The ABI major's deprecated first name still compiles, and warns.
printf '#include "batchcore_plugin.h"\nint old_abi(void);\nint old_abi(void) { return BC_PLUGIN_ABI_VERSION; }\n' >"$tmp/old_abi.c"
step "BC_PLUGIN_ABI_VERSION still compiles" "$CC" -std=c99 -Iinclude -Wno-deprecated-declarations \
    -c "$tmp/old_abi.c" -o "$tmp/old_abi.o"
step "BC_PLUGIN_ABI_VERSION warns as deprecated" bash -c '! "$@" 2>/dev/null' - "$CC" -std=c99 -Iinclude \
    -Werror=deprecated-declarations -c "$tmp/old_abi.c" -o "$tmp/old_abi.o"

echo "== plugins -> $plugins"
# The tutorial's own command, then with strict flags.
step "upper.so (tutorial command)" "$CC" -shared -fPIC -Iinclude examples/plugin/upper.c -o "$plugins/upper.so"
step "upper.c (strict)" "$CC" "${strict[@]}" -shared -fPIC examples/plugin/upper.c -o "$tmp/upper-strict.so"
for src in Tests/c/plugins/*.c; do
    name=$(basename "$src" .c)
    [ "$name" = refused ] && continue
    step "plugin $name" "$CC" "${strict[@]}" -shared -fPIC "$src" -o "$plugins/$name.so"
done
# One source, three descriptors the host must refuse: name, then flags.
for variant in "wrong_abi" "newer_minor -DNEWER_MINOR" "small_struct -DSMALL_STRUCT"; do
    read -r name flags <<<"$variant"
    # shellcheck disable=SC2086  # $flags is empty or one word
    step "plugin $name" "$CC" "${strict[@]}" -shared -fPIC $flags Tests/c/plugins/refused.c -o "$plugins/$name.so"
done

echo "== programs -> $out"
programs=()
for src in Tests/c/test_*.c; do
    name=$(basename "$src" .c)
    if "$CC" -std=c99 -Wall -Wextra -Werror -Iinclude "$src" -L"$build" -lbatchcore \
        -Wl,-rpath,"$build" -lpthread -o "$out/$name"; then
        programs+=("$name")
    else
        fail "build of $name"
    fi
done
step "examples/c-host/host.c" "$CC" -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude \
    examples/c-host/host.c -L"$build" -lbatchcore -Wl,-rpath,"$build" -o "$out/example-host"

# Run with a clean environment for what the engine reads.
runner=(env -u LD_LIBRARY_PATH -u BATCHCORE_PLUGIN_PATH)
if command -v timeout >/dev/null 2>&1; then runner+=(timeout 600); fi

for name in ${programs[@]+"${programs[@]}"}; do
    args=()
    [[ $name == test_plugins || $name == test_pending ]] && args=("$plugins")
    echo "== $name"
    log=$tmp/$name.log
    "${runner[@]}" "$out/$name" ${args[@]+"${args[@]}"} 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [[ -z $summary ]]; then
        fail "$name ended (exit $rc) without a summary line"
        continue
    fi
    read -r p _ f _ <<<"$summary"
    passed=$((passed + p))
    failed=$((failed + f))
    if ((rc != 0 && f == 0)); then fail "$name exited with $rc"; fi
done

if [[ -x $out/example-host ]]; then
    echo "== example host"
    docs=$tmp/docs
    mkdir -p "$docs/sub"
    printf 'hello\n' >"$docs/a.txt"
    printf 'two words\n' >"$docs/sub/b.txt"
    # What it must print: both batches' counts, each id's length, and the
    # text plugin's real figures for each file.
    expected=()
    for f in "$docs/a.txt" "$docs/sub/b.txt"; do
        read -r bytes lines words < <(wc -c -l -w <"$f" | awk '{print $3, $1, $2}')
        sha=$(sha256sum "$f" | cut -d' ' -f1)
        expected+=("ok      $f: ${#f}"
            "ok      $f: {\"bytes\":$bytes,\"lines\":$lines,\"words\":$words,\"characters\":$bytes,\"sha256\":\"$sha\",\"encoding\":\"utf-8\"}")
    done
    if "${runner[@]}" "$out/example-host" "$docs" >"$tmp/host.log" 2>&1; then
        host_ok=1
        [[ $(grep -c '^2 documents: 2 ok, 0 partial, 0 failed' "$tmp/host.log") == 2 ]] || host_ok=0
        for line in "${expected[@]}"; do
            grep -qF -- "  $line" "$tmp/host.log" || { host_ok=0; echo "example host: missing '$line'" >&2; }
        done
        if ((host_ok)); then pass; else fail "example host's figures on $docs"; fi
    else
        fail "example host on $docs"
    fi
    cat "$tmp/host.log"
fi

echo "$passed passed, $failed failed"
((failed == 0))
