#!/usr/bin/env bash
# build.sh - install what birch needs, build it, run the example or the tests.
#
#   ./build.sh deps              install missing Debian packages (quiet if none)
#   ./build.sh example           Release build in build/release: the libraries
#                                (libbirch.a, libbirch.so), the birch command
#                                (tools/birch) and the examples, which it runs:
#                                quickstart, customer_store, json_format
#   ./build.sh test [CONFIG...]  build and run the test suite in each CONFIG:
#                                  plain  gcc, RelWithDebInfo, -Werror       (build/plain)
#                                  debug  gcc, Debug (-O0 -g), -Werror, strict:
#                                         birch_check after every commit of
#                                         the model tests      (build/debug)
#                                  asan   clang, ASan+UBSan, -Werror         (build/asan)
#                                  tsan   clang, TSan, threaded tests only   (build/tsan)
#                                  fuzz   clang, libFuzzer: each harness for
#                                         FUZZ_SECONDS (default 20)         (build/fuzz)
#                                  bench  bench/run.sh --quick, --formats --quick and --replica --quick (build/bench)
#                                default: all six
#
# Environment: BIRCH_JOBS (parallel build and test jobs, default 2),
# FUZZ_SECONDS.  Longer randomized runs: tests/soak.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
JOBS=${BIRCH_JOBS:-2}

# Debian packages: the build tools, both compilers (clang's sanitizer
# runtimes are in libclang-rt-dev, which clang only recommends), the xxhash
# library, the Check unit-test framework, and cJSON for examples/json_format.c
# (a user-defined value format; the library itself does not use it), and
# lmdb-utils (mdb_dump, mdb_load) for tests/test_tool.c, and libraft-dev and
# libuv1-dev for replica/ (Raft replication, built only when they are found).
PACKAGES=(cmake make gcc clang libclang-rt-dev pkg-config libxxhash-dev check libcjson-dev flatbuffers-compiler lmdb-utils libraft-dev libuv1-dev)

say() { printf 'build.sh: %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        installed "$p" || printf '%s\n' "$p"
    done
}

cmd_deps() {
    command -v dpkg >/dev/null ||
        die "no dpkg: not a Debian system; install by hand: ${PACKAGES[*]}"
    local missing
    mapfile -t missing < <(missing_packages)
    [ ${#missing[@]} -eq 0 ] && return 0

    # Root installs directly; anyone else only through a sudo that needs no
    # password (CI has no terminal to type one into).
    local -a sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            printf 'build.sh: missing packages: %s\n' "${missing[*]}" >&2
            printf 'build.sh: install them with:\n  sudo apt-get update && sudo apt-get install -y %s\n' \
                "${missing[*]}" >&2
            exit 1
        fi
    fi
    say "installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    mapfile -t missing < <(missing_packages)
    [ ${#missing[@]} -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
}

# configure DIR CMAKE-ARGS...: configure (quietly) a build tree.
configure() {
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$dir" --log-level=WARNING "$@"
}

# The example programs, in the order they run; customer_store is the main one.
EXAMPLES=(quickstart customer_store json_format)

cmd_example() {
    cmd_deps
    local dir=build/release name
    configure "$dir" -DCMAKE_BUILD_TYPE=Release -DBIRCH_WERROR=OFF \
        -DBIRCH_BUILD_TESTS=OFF -DBIRCH_BUILD_EXAMPLES=ON
    # The libraries and the birch command too: README.md points to them.
    cmake --build "$dir" -j"$JOBS" --target birch_static birch_shared birch_tool \
        "${EXAMPLES[@]/#/example_}"
    # birch-replica (README.md, "Replication"), when libraft was found.  (grep
    # reads all of help: with -q it would stop early, and pipefail would take
    # cmake's SIGPIPE for a miss.)
    if cmake --build "$dir" --target help | grep birch_replica_server >/dev/null; then
        cmake --build "$dir" -j"$JOBS" --target birch_replica_server
    fi
    # Run each in a scratch directory so its database file lands there.
    local tmp rc=0
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/birch-example.XXXXXX")
    for name in "${EXAMPLES[@]}"; do
        echo
        say "running $dir/examples/$name in $tmp"
        (cd "$tmp" && "$ROOT/$dir/examples/$name") || rc=$?
        [ "$rc" -eq 0 ] || break
    done
    rm -rf "$tmp"
    [ "$rc" -eq 0 ] || die "$name failed (exit $rc)"
    say "examples: ok"
    say "built in $dir: libbirch.a, libbirch.so, tools/birch, examples/ (and replica/birch-replica with libraft)"
}

# The cmake arguments of one test configuration, into the array ARGS.
# NDEBUG is left out of every test build so that assert()s run in the tests.
# debug is the build a developer steps through: unoptimised, where some
# warnings (format truncation, say) come out differently than at -O2.
config_args() {
    local type=RelWithDebInfo
    case $1 in
    plain) ARGS=(-DCMAKE_C_COMPILER=gcc "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g") ;;
    debug) type=Debug; ARGS=(-DCMAKE_C_COMPILER=gcc "-DCMAKE_C_FLAGS_DEBUG=-O0 -g") ;;
    asan) ARGS=(-DCMAKE_C_COMPILER=clang "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g"
        -DBIRCH_ASAN=ON) ;;
    tsan) ARGS=(-DCMAKE_C_COMPILER=clang "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g"
        -DBIRCH_TSAN=ON -DBIRCH_BUILD_EXAMPLES=OFF) ;;
    fuzz) ARGS=(-DCMAKE_C_COMPILER=clang "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g"
        -DBIRCH_FUZZ=ON -DBIRCH_BUILD_TESTS=OFF -DBIRCH_BUILD_EXAMPLES=OFF) ;;
    bench) ARGS=() ;;
    *) die "unknown test configuration '$1' (plain, debug, asan, tsan, fuzz, bench)" ;;
    esac
    ARGS+=(-DCMAKE_BUILD_TYPE="$type" -DBIRCH_WERROR=ON)
}

# record NAME PASSED FAILED SECONDS: one summary line and the totals.
record() {
    TOTAL_PASSED=$((TOTAL_PASSED + $2))
    TOTAL_FAILED=$((TOTAL_FAILED + $3))
    if [ "$3" -eq 0 ]; then
        SUMMARY+=("$1: PASS ($2 passed, ${4}s)")
    else
        SUMMARY+=("$1: FAIL ($2 passed, $3 failed, ${4}s)")
        FAILED_CONFIGS=$((FAILED_CONFIGS + 1))
    fi
}

# Every libFuzzer harness runs for FUZZ_SECONDS (default 20) from a copy of
# its seed corpus; a crash, leak, sanitizer report or hang fails it, and
# libFuzzer leaves the input that did it (crash-*, leak-*, timeout-*) in
# build/fuzz/artifacts/.
run_fuzz() {
    local dir=build/fuzz start=$SECONDS passed=0 failed=0 h exe
    config_args fuzz
    say "=== fuzz: configure and build in $dir"
    if ! configure "$dir" "${ARGS[@]}" || ! cmake --build "$dir" -j"$JOBS"; then
        record fuzz 0 1 $((SECONDS - start))
        return 0
    fi
    mkdir -p "$dir/artifacts"
    for exe in "$dir"/fuzz/fuzz_*; do
        h=${exe##*/fuzz_}
        case $h in *_replay | gen_seeds) continue ;; esac
        local work="$dir/corpus-run/$h"
        rm -rf "$work" && mkdir -p "$work"
        [ -d "fuzz/corpus/$h" ] && cp -r "fuzz/corpus/$h/." "$work/"
        say "fuzz_$h for ${FUZZ_SECONDS:-20}s"
        if "$exe" -max_total_time="${FUZZ_SECONDS:-20}" -timeout=30 -rss_limit_mb=2048 \
            -artifact_prefix="$dir/artifacts/$h-" -print_final_stats=1 "$work" \
            >"$dir/fuzz_$h.log" 2>&1; then
            passed=$((passed + 1))
            grep -E '^stat::number_of_executed_units' "$dir/fuzz_$h.log" || true
        else
            failed=$((failed + 1))
            tail -40 "$dir/fuzz_$h.log"
            say "fuzz_$h FAILED: reproduce with $exe $dir/artifacts/$h-*"
        fi
    done
    record fuzz "$passed" "$failed" $((SECONDS - start))
}

# bench/run.sh --quick: every engine through every row of the reference
# benchmark on a small data set, then the value formats' verification cost
# (--formats) and the replication run (--replica: 3 birch-replica
# processes, a node wiped and caught up); it checks the harnesses, not the
# speed.
run_bench() {
    local start=$SECONDS
    say "=== bench: bench/run.sh --quick, then --formats --quick and --replica --quick"
    if bench/run.sh --quick --dir build/bench/quick &&
        bench/run.sh --formats --quick --dir build/bench/quick &&
        bench/run.sh --replica --quick --dir build/bench/quick; then
        record bench 1 0 $((SECONDS - start))
    else
        record bench 0 1 $((SECONDS - start))
    fi
}

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
FAILED_CONFIGS=0

# run_config NAME: build and test one configuration; records a summary line.
run_config() {
    local name=$1 dir=build/$1 start=$SECONDS log
    config_args "$name"
    say "=== $name: configure and build in $dir"
    if ! configure "$dir" "${ARGS[@]}" || ! cmake --build "$dir" -j"$JOBS"; then
        SUMMARY+=("$name: FAIL (build)")
        FAILED_CONFIGS=$((FAILED_CONFIGS + 1))
        TOTAL_FAILED=$((TOTAL_FAILED + 1)) # counted as one failure
        return 0
    fi

    local ntests
    ntests=$(ctest --test-dir "$dir" -N | sed -n 's/^Total Tests: //p')
    if [ "${ntests:-0}" -eq 0 ] && [ "$name" = tsan ]; then
        SUMMARY+=("$name: skipped (no threaded tests: none named *thread* or *concurr*)")
        return 0
    fi

    say "=== $name: ctest"
    log="$dir/ctest.log"
    # The debug configuration is also the strict one: the randomized model
    # tests run birch_check after every commit (tests/support.h,
    # bt_strict_check).
    local -a env=()
    [ "$name" = debug ] && env=(BIRCH_STRICT=1)
    local rc=0
    env "${env[@]}" ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$JOBS" \
        --timeout 1200 2>&1 | tee "$log" || rc=$?
    # Count the test programs from ctest's result lines, e.g.
    #   " 3/11 Test  #3: test_cursor ......   Passed    1.47 sec"
    #   " 4/11 Test  #2: test_check .......***Failed    2.39 sec"
    # leaving out the fixture that resets the test directories.
    local passed failed
    passed=$(grep -cE 'Test +#[0-9]+: test_[^ ]+ .* Passed ' "$log" || true)
    failed=$(grep -cE 'Test +#[0-9]+: test_[^ ]+ .*\*\*\*' "$log" || true)
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    local secs=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("$name: PASS ($passed passed, ${secs}s)")
    else
        [ "$failed" -gt 0 ] || TOTAL_FAILED=$((TOTAL_FAILED + 1)) # ctest itself failed
        SUMMARY+=("$name: FAIL ($passed passed, $failed failed, ctest exit $rc, ${secs}s)")
        FAILED_CONFIGS=$((FAILED_CONFIGS + 1))
    fi
}

cmd_test() {
    cmd_deps
    local -a configs=("$@")
    [ ${#configs[@]} -gt 0 ] || configs=(plain debug asan tsan fuzz bench)
    local c
    for c in "${configs[@]}"; do
        config_args "$c" # reject unknown names before building anything
    done
    for c in "${configs[@]}"; do
        case $c in
        fuzz) run_fuzz ;;
        bench) run_bench ;;
        *) run_config "$c" ;;
        esac
    done
    echo
    say "summary"
    for c in "${SUMMARY[@]}"; do
        printf '  %s\n' "$c"
    done
    # The closing line, in the "N passed, N failed" form CI reads.
    printf 'tests: %d passed, %d failed\n' "$TOTAL_PASSED" "$TOTAL_FAILED"
    [ "$FAILED_CONFIGS" -eq 0 ]
}

usage() {
    sed -n '2,20s/^# \{0,1\}//p' "$ROOT/build.sh"
}

case ${1:-} in
deps) cmd_deps ;;
example) cmd_example ;;
test) shift; cmd_test "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
