#!/bin/bash
# replica_server.sh BIRCH_REPLICA [bad|cluster]: birch-replica as a user
# runs it, real processes on loopback (ctest runs both parts).
#
#   bad      one node: malformed lines, a line past --max-line and a batch
#            past --max-batch each get an ERR line and the connection goes
#            on; a client that sends puts or gets without reading does not
#            grow the server; SIGTERM with writes in flight exits 0; a node started on another node's data directory, or with
#            another cluster id, refuses to start (exit 1, named).
#   cluster  three nodes: a client writes $REPLICA_BATCHES batches (default
#            1000 when run by hand; ctest sets 20000, the issue's count, in the
#            optimized build) of 10 puts through the leader,
#            following ENOTLEADER, while the leader is killed with SIGKILL
#            twice and restarted; then the three databases (every record,
#            scanned) are identical and hold every acknowledged write; then
#            a node is wiped and restarted, and catches up by a snapshot.
#
# Ports: $REPLICA_PORT (default: from the process id) and up.  Only bash
# (/dev/tcp) and coreutils are needed.
set -u
BIN=$1
PART=${2:-bad}
WORK=${BIRCH_TEST_DIR:-${TMPDIR:-/tmp}}/replica_server_$PART.$$
# Below Linux's ephemeral ports (32768 and up), which outgoing connections
# take: a node could not listen on one of those.
BASE=${REPLICA_PORT:-$((20000 + ($$ % 1000) * 10))}
BATCHES=${REPLICA_BATCHES:-1000}
mkdir -p "$WORK"
declare -A PID

fail() {
    echo "FAIL: $*" >&2
    for i in "${!PID[@]}"; do kill -9 "${PID[$i]}" 2>/dev/null; done
    for f in "$WORK"/log*; do [ -f "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
    exit 1
}

raft_port() { echo $((BASE + $1)); }
client_port() { echo $((BASE + 100 + $1)); }

# start I [options...]: node I of a cluster of $NODES, in $WORK/nI.
start() {
    local i=$1
    shift
    local peers=()
    for ((p = 1; p <= NODES; p++)); do peers+=(--peer "$p=127.0.0.1:$(raft_port $p)"); done
    "$BIN" --id "$i" --cluster test --dir "$WORK/n$i" --raft "127.0.0.1:$(raft_port "$i")" \
        --client "127.0.0.1:$(client_port "$i")" "${peers[@]}" "$@" >>"$WORK/log$i" 2>&1 &
    PID[$i]=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$(client_port "$i")") 2>/dev/null && return 0
        kill -0 "${PID[$i]}" 2>/dev/null || fail "node $i exited at start"
        sleep 0.1
    done
    fail "node $i does not listen"
}

stop() { kill "${PID[$1]}" 2>/dev/null && wait "${PID[$1]}" 2>/dev/null; unset "PID[$1]"; }
crash() { kill -9 "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; unset "PID[$1]"; }

# open I: connection to node I on descriptor 4.  ask LINE: one request, one reply in $REPLY.
open() { exec 4<>"/dev/tcp/127.0.0.1/$(client_port "$1")" || fail "cannot connect to node $1"; }
ask() {
    printf '%s\n' "$1" >&4 || return 1
    IFS= read -r -t 20 REPLY <&4 || return 1
    return 0
}
expect() { # expect LINE PATTERN: the reply must match the glob
    ask "$1" || fail "no reply to: ${1:0:60}"
    # shellcheck disable=SC2053
    [[ $REPLY == $2 ]] || fail "reply to '${1:0:60}' is '$REPLY', expected '$2'"
}

# status I FIELD: a field of node I's status line.
status() {
    local line
    line=$(exec 5<>"/dev/tcp/127.0.0.1/$(client_port "$1")" && printf 'status\n' >&5 && IFS= read -r -t 5 l <&5 && echo "$l")
    sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$line"
}

# dump I: every record of table t on node I, one per line.
dump() {
    # A scan returns at most 100,000 records: pages, each from the last key of
    # the one before (which it repeats first).
    local from="" got last="" l
    exec 5<>"/dev/tcp/127.0.0.1/$(client_port "$1")" || return 1
    while :; do
        if [ -z "$from" ]; then printf 'scan t 100000\n' >&5; else printf 'scan t %s 100000\n' "$from" >&5; fi
        got=0
        while IFS= read -r -t 20 l <&5; do
            [[ $l == END* ]] && break
            got=$((got + 1))
            [ -n "$from" ] && [ "$got" -eq 1 ] && continue
            echo "$l"
            last=$l
        done
        [ "$got" -lt 100000 ] && break
        from=$(echo "$last" | cut -d' ' -f2)
    done
    exec 5<&-
}

part_bad() {
    NODES=1
    start 1 --max-batch 3000 --max-line 8000
    open 1
    for _ in $(seq 50); do ask "status" && [[ $REPLY == *state=leader* ]] && break; sleep 0.1; done
    [[ $REPLY == *state=leader* ]] || fail "a one-node cluster has no leader: $REPLY"
    expect "bogus" "ERR EINVAL *"
    expect "put t a 1" "OK *"
    expect "put t" "ERR EINVAL *"
    expect "scan t a 0" "ERR EINVAL *"
    expect "get t a" "VALUE * 1"
    expect "$(printf 'x%.0s' $(seq 9000))" "ERR EINVAL line longer than 8000 bytes"
    expect "get t a" "VALUE * 1"
    expect "put t big $(printf 'v%.0s' $(seq 3100))" "ERR ETOOBIG *3000*"
    # More words than an mput takes: refused whole, not cut at 1024 pairs.
    expect "mput t$(printf ' k%d v' $(seq 1025))" "ERR EINVAL more than*"
    expect "get t k1" "NOTFOUND *"
    # A NUL or CR inside a line: refused, not cut there.
    printf 'put t nul v1\0junk\n' >&4 && IFS= read -r -t 20 REPLY <&4 && [[ $REPLY == "ERR EINVAL"* ]] ||
        fail "a line with a NUL: $REPLY"
    expect "get t nul" "NOTFOUND *"
    expect "put t cr a$(printf '\r')b" "ERR EINVAL*"
    # Values come back whole, however long.
    local long
    long=$(printf 'w%.0s' $(seq 2500))
    expect "put t long $long" "OK *"
    expect "get t long" "VALUE * $long"
    expect "scan t long 1" "KEY long $long"
    IFS= read -r -t 20 REPLY <&4 && [[ $REPLY == "END "* ]] || fail "scan of one: $REPLY"
    expect "put birch.replica applied 1" "ERR EINVAL *reserve*"
    expect "get t a" "VALUE * 1"
    exec 4<&-

    # A client that sends without reading: once a line and 128 KiB of its
    # requests wait, the server stops reading it, so what it takes stops at
    # that and the sockets' buffers (a few MB), not at what the client has.
    local line sent
    line="put t flood $(printf 'f%.0s' $(seq 900))"
    exec 7>"/dev/tcp/127.0.0.1/$(client_port 1)" || fail "cannot connect to node 1"
    yes "$line" | head -c 100000000 | timeout 5 tee "$WORK/flood" >&7
    exec 7>&-
    sent=$(stat -c %s "$WORK/flood")
    rm -f "$WORK/flood"
    [ "$sent" -lt 50000000 ] || fail "a client that does not read sent $sent bytes in 5 s: the server took them all"

    # A client that sends gets without reading the replies: once 1 MiB of
    # replies waits for it, the server takes no more of its requests (each
    # get of "long" is answered with 2,500 bytes).
    local queued
    exec 7>"/dev/tcp/127.0.0.1/$(client_port 1)" || fail "cannot connect to node 1"
    yes "get t long" | head -c 20000000 | timeout 5 cat >&7
    queued=$(status 1 queued)
    [ -n "$queued" ] && [ "$queued" -le $((2 << 20)) ] ||
        fail "replies waiting for a client that does not read: '$queued' bytes"
    exec 7>&-

    # SIGTERM while writes are in flight: they are answered, then the node
    # stops and exits 0.
    local fd rc
    for fd in 5 6 7 8 9; do
        eval "exec $fd<>/dev/tcp/127.0.0.1/$(client_port 1)" || fail "cannot connect to node 1"
        printf 'put t inflight%d v\n' "$fd" >&"$fd"
    done
    kill -TERM "${PID[1]}"
    wait "${PID[1]}"
    rc=$?
    unset "PID[1]"
    [ "$rc" -eq 0 ] || fail "SIGTERM with writes in flight: exit status $rc"
    for fd in 5 6 7 8 9; do eval "exec $fd<&-"; done

    # Another node's directory, another cluster: refused, named.
    "$BIN" --id 2 --cluster test --dir "$WORK/n1" --raft "127.0.0.1:$(raft_port 1)" \
        --client "127.0.0.1:$(client_port 1)" 2>"$WORK/err" && fail "node 2 started on node 1's directory"
    grep -q "belongs to node 1, not 2" "$WORK/err" || fail "node 2 on node 1's directory: $(cat "$WORK/err")"
    "$BIN" --id 1 --cluster other --dir "$WORK/n1" --raft "127.0.0.1:$(raft_port 1)" \
        --client "127.0.0.1:$(client_port 1)" 2>"$WORK/err" && fail "started with another cluster id"
    grep -q 'belongs to cluster "test", not "other"' "$WORK/err" || fail "cluster id: $(cat "$WORK/err")"
    "$BIN" --id 1 --cluster test --dir "$WORK/n1" 2>/dev/null
    [ $? -eq 2 ] || fail "missing options: exit status is not 2"
    echo "bad input: ok"
}

# leader: the id of the node all running nodes agree leads, or nothing.
leader() {
    for i in "${!PID[@]}"; do
        if [ "$(status "$i" state)" = leader ]; then echo "$i"; return; fi
    done
}

part_cluster() {
    NODES=3
    for i in 1 2 3; do start "$i" --snapshot-threshold 256 --snapshot-trailing 32; done
    local acked=0 b=0 l="" kills=0 k
    declare -a KEYS
    while [ "$b" -lt "$BATCHES" ]; do
        if [ -z "$l" ]; then
            for _ in $(seq 100); do l=$(leader); [ -n "$l" ] && break; sleep 0.1; done
            [ -n "$l" ] || fail "no leader"
            open "$l"
        fi
        # Kill the leader at a third and at two thirds of the run.
        if [ "$kills" -lt 2 ] && [ "$b" -ge $(((kills + 1) * BATCHES / 3)) ]; then
            crash "$l"
            kills=$((kills + 1))
            exec 4<&-
            local dead=$l
            l=""
            for _ in $(seq 100); do
                l=$(leader)
                [ -n "$l" ] && break
                sleep 0.1
            done
            start "$dead" --snapshot-threshold 256 --snapshot-trailing 32
            l=""
            continue
        fi
        local line="mput t"
        for ((k = 0; k < 10; k++)); do line+=" b${b}k$k v$b.$k"; done
        if ! ask "$line"; then l=""; continue; fi
        case $REPLY in
        OK*) acked=$((acked + 1)); KEYS+=("b${b}k0"); b=$((b + 1)) ;;
        "ERR ENOTLEADER"* | "ERR ELOST"*) exec 4<&-; l=""; sleep 0.05 ;; # retried: puts are idempotent
        *) fail "batch $b: $REPLY" ;;
        esac
    done
    exec 4<&-

    # Every node applies the same last index, then the scans must agree.
    local want
    for _ in $(seq 200); do
        want=$(status 1 db_applied)
        [ -n "$want" ] && [ "$(status 2 db_applied)" = "$want" ] && [ "$(status 3 db_applied)" = "$want" ] && break
        sleep 0.1
    done
    dump 1 >"$WORK/dump1"
    dump 2 >"$WORK/dump2"
    dump 3 >"$WORK/dump3"
    cmp -s "$WORK/dump1" "$WORK/dump2" || fail "nodes 1 and 2 differ"
    cmp -s "$WORK/dump1" "$WORK/dump3" || fail "nodes 1 and 3 differ"
    [ "$(wc -l <"$WORK/dump1")" -eq $((BATCHES * 10)) ] ||
        fail "$(wc -l <"$WORK/dump1") records, expected $((BATCHES * 10))"
    printf 'KEY %s \n' "${KEYS[@]}" >"$WORK/acked"
    [ "$(grep -c -F -f "$WORK/acked" "$WORK/dump1")" -eq "$acked" ] || fail "an acknowledged write is missing"

    # A node wiped and restarted catches up by a snapshot.
    local w=1 ref=2
    [ "$(leader)" = 1 ] && w=3
    stop "$w"
    rm -rf "${WORK:?}/n$w"
    start "$w" --snapshot-threshold 256 --snapshot-trailing 32
    for _ in $(seq 300); do
        [ "$(status "$w" db_applied)" = "$(status $ref db_applied)" ] &&
            [ "$(status "$w" restored)" -ge 1 ] 2>/dev/null && break
        sleep 0.1
    done
    [ "$(status "$w" restored)" -ge 1 ] 2>/dev/null || fail "wiped node $w installed no snapshot"
    dump "$w" >"$WORK/dumpw"
    cmp -s "$WORK/dump1" "$WORK/dumpw" || fail "wiped node $w differs after catching up"
    for i in 1 2 3; do stop "$i"; done
    echo "cluster: $BATCHES batches, $acked acknowledged, leader killed twice, node $w wiped and caught up: ok"
}

case $PART in
bad) part_bad ;;
cluster) part_cluster ;;
*) echo "usage: $0 BIRCH_REPLICA [bad|cluster]" >&2; exit 2 ;;
esac
rm -rf "$WORK"
