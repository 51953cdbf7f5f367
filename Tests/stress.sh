#!/usr/bin/env bash
# Many short batchhost runs at once, to catch crashes that happen once in
# thousands of runs (a thread still running while the process exits).
# Each run sends 16 documents through the text plugin with 8 workers, and
# every document fails (max_bytes=1), which makes the runs as short as can be.
# Fails when any run dies of a signal or exits other than 1.
#
#   Tests/stress.sh [BUILD_DIR]     RUNS (default 3000), JOBS (default: 2 × cores)
#                                   and SECONDS_MAX (default 270) bound the work.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-.build/release}
runs=${RUNS:-3000}
jobs=${JOBS:-$(($(nproc) * 2))}
seconds=${SECONDS_MAX:-270}
batchhost=$(realpath "$build/batchhost")
work=$(mktemp -d /tmp/batchcore-stress.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir "$work/docs"
for i in $(seq -w 1 16); do echo "document $i" >"$work/docs/doc-$i.txt"; done

started=$(date +%s)
deadline=$((started + seconds))

# One run (none once the time is up); prints its exit status when it is not the expected 1.
cat >"$work/one" <<EOF
#!/usr/bin/env bash
[ \$(date +%s) -lt $deadline ] || exit 0
"$batchhost" run "$work/docs" -p text --set max_bytes=1 -w 8 -q --progress off --no-checkpoint \\
    -o "$work/out.\$1" 2>"$work/err.\$1"
code=\$?
if [ \$code -gt 128 ]; then echo "run \$1: killed by SIG\$(kill -l \$((code - 128)))"; elif [ \$code -ne 1 ]; then echo "run \$1: exit \$code"; sed 's/^/    /' "$work/err.\$1"; fi
rm -f "$work/err.\$1" "$work/out.\$1"
echo >>"$work/done"
EOF
chmod +x "$work/one"

seq 1 "$runs" | xargs -P "$jobs" -n 1 "$work/one" >"$work/failures"
elapsed=$(($(date +%s) - started))
done_runs=$(wc -l <"$work/done" 2>/dev/null || echo 0)
if [ "$done_runs" -lt "$runs" ]; then echo "stress: out of time after $seconds s; $done_runs of $runs runs made"; fi
if [ -s "$work/failures" ]; then
    cat "$work/failures"
    echo "stress: $(grep -c '^run ' "$work/failures") of $done_runs runs failed ($elapsed s)"
    exit 1
fi
echo "stress: $done_runs runs, none crashed ($elapsed s)"
