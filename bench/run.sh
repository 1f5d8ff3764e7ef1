#!/usr/bin/env bash
# bench/run.sh - builds and runs the reference benchmark suite.
#
#   bench/run.sh --quick                 # small run that checks the harness (CI)
#   bench/run.sh                         # full run, 1,000,000 records
#   bench/run.sh --elements 5000000      # redb's size
#   bench/run.sh --formats [--quick]     # the cost of verification per value
#                                        # format, and the generated FlatBuffers
#                                        # declarations against hand-written ones
#                                        # (build/bench/birch-bench-formats)
#   bench/run.sh --features [--quick] [--repeat N] [--elements N]
#                                        # issue 14's ratios: ranks, range counts,
#                                        # cursor deletes, range deletes
#                                        # (build/bench/birch-bench-features)
#   bench/run.sh --feed [--quick] [--repeat N] [--commits N] [--puts K]
#                                        # issue 16's change feed: commits with
#                                        # and without a hook, against building
#                                        # or copying the same changes by hand
#                                        # (build/bench/birch-bench-feed)
#   bench/run.sh --replica [--quick] [--repeat N] [--batches N] [--puts K]
#                [--clients LIST] [--records N] [--ways LIST]
#                                        # issue 16's replication: durable batch
#                                        # commits through 3 birch-replica
#                                        # processes against birch alone (FULL),
#                                        # LMDB, 1-node Raft and a raw write +
#                                        # fdatasync; the catch-up of a node
#                                        # wiped after 1,000,000 records
#                                        # (build/bench/birch-bench-replica)
#   bench/run.sh --rows LIST             # only these rows (default all), from
#       bulk,individual,batch,nosync,len,reads,ranges,threads,removals,size,
#       compaction,limit,bulkcommits,churn,procs,procreads-writer
#     procs             random reads in 1, 2, 4, 8 processes (--threads), each
#                       beside the threads row of its count, and their quotient;
#                       under them the map reads, the machine's own cost of
#                       processes: random 8-byte loads of a read-only shared map
#                       of the engine's data file (4 per get of the reads) in
#                       as many threads, then processes, and their quotient
#     procreads-writer  the individual writes made beside 4 reader processes,
#                       and the gets those made meanwhile
#   e.g. bench/run.sh --engines birch,lmdb --rows procs,procreads-writer
#
# Installs the engines' Debian packages when missing (as root, or through
# sudo), configures a Release build with -DBIRCH_BENCH=ON in build/bench,
# builds, and runs build/bench/birch-bench with the arguments given.  The
# results go to build/bench/results/ unless --dir says otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/bench"

# flatbuffers-compiler: flatc, which `birch fbs` runs to generate the
# declarations of bench/event.fbs for birch-bench-formats.
# libraft-dev, libuv1-dev: birch-replica, which the --replica run starts.
packages=(cmake gcc make pkg-config libxxhash-dev flatbuffers-compiler
          liblmdb-dev libsqlite3-dev librocksdb-dev libleveldb-dev libraft-dev libuv1-dev)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "run.sh: installing ${missing[*]}" >&2
        apt-get install -y "${missing[@]}" >&2 ||
            { apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; }
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        echo "run.sh: installing ${missing[*]}" >&2
        sudo apt-get install -y "${missing[@]}" >&2 ||
            { sudo apt-get update >&2 && sudo apt-get install -y "${missing[@]}" >&2; }
    else
        echo "run.sh: missing packages; install them with:" >&2
        echo "  sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBIRCH_BENCH=ON -DBIRCH_REPLICA=ON \
      -DBIRCH_BUILD_TESTS=OFF -DBIRCH_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target birch_bench birch_bench_formats birch_bench_get_instructions \
    birch_bench_features birch_bench_feed birch_bench_replica >/dev/null

args=()
has_dir=0
exe="$build/birch-bench"
for a in "$@"; do
    if [[ $a == --formats ]]; then
        exe="$build/birch-bench-formats"
        continue
    fi
    if [[ $a == --features ]]; then
        exe="$build/birch-bench-features"
        continue
    fi
    if [[ $a == --feed ]]; then
        exe="$build/birch-bench-feed"
        continue
    fi
    if [[ $a == --replica ]]; then
        exe="$build/birch-bench-replica"
        continue
    fi
    [[ $a == --dir ]] && has_dir=1
    args+=("$a")
done
if ((!has_dir)); then
    args+=(--dir "$build/results")
fi
exec "$exe" "${args[@]}"
