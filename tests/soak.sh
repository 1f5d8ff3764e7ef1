#!/usr/bin/env bash
# tests/soak.sh - runs the stochastic crash tests and the fuzzers for a given
# time with new seeds, for runs longer than CI allows.
#
#   tests/soak.sh [SECONDS]      default 3600
#
# Builds an ASan+UBSan test tree (build/soak) and a fuzz tree (build/fuzz),
# then loops until the time is up: each round picks a fresh seed, runs the
# power-loss, kill, fault and model tests with it (and larger counts than
# CI uses), then gives every fuzzer a slice of time, growing its corpus in
# build/soak/corpus.  The first failure stops the run and prints the seed
# (or the fuzzer's crash file) that reproduces it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
total=${1:-3600}
jobs=${BIRCH_JOBS:-2}
deadline=$((SECONDS + total))

./build.sh deps
cmake -S . -B build/soak --log-level=WARNING -DCMAKE_C_COMPILER=clang -DBIRCH_ASAN=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g" -DBIRCH_BUILD_EXAMPLES=OFF
cmake --build build/soak -j"$jobs"
cmake -S . -B build/fuzz --log-level=WARNING -DCMAKE_C_COMPILER=clang -DBIRCH_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g" \
    -DBIRCH_BUILD_TESTS=OFF -DBIRCH_BUILD_EXAMPLES=OFF
cmake --build build/fuzz -j"$jobs"

# The stochastic tests and the environment that widens each.
tests=(test_powerloss test_kill test_fault test_model_threads test_stream test_keys)
export BIRCH_POWERLOSS_SEEDS=${BIRCH_POWERLOSS_SEEDS:-200}
export BIRCH_KILL_CHAINS=${BIRCH_KILL_CHAINS:-32}
export BIRCH_MODEL_OPS=${BIRCH_MODEL_OPS:-400000}

mkdir -p build/soak/corpus build/soak/artifacts
round=0
while [ "$SECONDS" -lt "$deadline" ]; do
    round=$((round + 1))
    seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
    echo "soak: round $round, seed $seed ($((deadline - SECONDS))s left)"
    for t in "${tests[@]}"; do
        exe=build/soak/tests/$t
        [ -x "$exe" ] || continue
        dir=$(mktemp -d "${TMPDIR:-/tmp}/birch-soak.XXXXXX")
        if ! (cd "$dir" && BIRCH_SEED=$seed BIRCH_TEST_DIR=$dir CK_DEFAULT_TIMEOUT=3600 "$root/$exe") \
            >"build/soak/$t.log" 2>&1; then
            tail -30 "build/soak/$t.log"
            echo "soak: $t FAILED with seed $seed: rerun with BIRCH_SEED=$seed $exe"
            exit 1
        fi
        rm -rf "$dir"
    done
    slice=$(((deadline - SECONDS) / 10))
    [ "$slice" -gt 120 ] && slice=120
    [ "$slice" -lt 10 ] && slice=10
    for exe in build/fuzz/fuzz/fuzz_*; do
        h=${exe##*/fuzz_}
        case $h in *_replay | gen_seeds) continue ;; esac
        corpus=build/soak/corpus/$h
        if [ ! -d "$corpus" ]; then
            mkdir -p "$corpus"
            [ -d "fuzz/corpus/$h" ] && cp -r "fuzz/corpus/$h/." "$corpus/"
        fi
        if ! "$exe" -max_total_time="$slice" -timeout=30 -rss_limit_mb=2048 -seed="$((seed % 4294967295))" \
            -artifact_prefix="build/soak/artifacts/$h-" "$corpus" >"build/soak/fuzz_$h.log" 2>&1; then
            tail -30 "build/soak/fuzz_$h.log"
            echo "soak: fuzz_$h FAILED: reproduce with $exe build/soak/artifacts/$h-*"
            exit 1
        fi
    done
done
echo "soak: $round rounds in ${total}s, no failure"
