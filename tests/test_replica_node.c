/*
 * test_replica_node.c - a replica node on libraft's raft_uv (replica/node.c):
 * a one-node cluster in this process, on a uv loop.  It proves that writes
 * are acknowledged with their index and readable at once, that a batch
 * every node refuses comes back with its code (and the index advances),
 * that a barrier completes, that the batch limit and the reserved table are
 * refused before anything is submitted, that membership changes go through
 * libraft (a spare added, then removed), and that a node closed and opened
 * again on its directory replays libraft's log without applying any entry
 * twice; bad options and a directory of another node or cluster are
 * refused, named.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "birch.h"
#include "birch_replica.h"
#include "replica_internal.h" /* stopped_refuses: the state machine's stop flag */
#include "support.h"

#define RP_OK(expr)                                                                                \
    do {                                                                                           \
        int rp_rc_ = (expr);                                                                       \
        ck_assert_msg(rp_rc_ == BIRCH_OK, "%s returned %d (%s: %s)", #expr, rp_rc_,               \
                      birch_replica_strerror(rp_rc_), birch_replica_errmsg());                      \
    } while (0)

typedef struct done {
    int fired, rc;
    uint64_t index;
    char msg[256];
} done;

static void on_done(void *ctx, int rc, uint64_t index, const char *msg)
{
    done *d = ctx;
    d->fired = 1;
    d->rc = rc;
    d->index = index;
    snprintf(d->msg, sizeof d->msg, "%s", msg ? msg : "");
}

static void on_closed(void *ctx)
{
    *(int *)ctx = 1;
}

/* Runs the loop until *flag is set (at most about 20 s). */
static void run_until(uv_loop_t *loop, const int *flag)
{
    for (int i = 0; i < 20000 && !*flag; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (!*flag)
            usleep(1000);
    }
    ck_assert_msg(*flag, "timed out waiting on the loop");
}

typedef struct node_env {
    uv_loop_t loop;
    char dir[512], address[64];
    birch_replica_peer peer;
    birch_replica_options o;
    birch_replica *node;
} node_env;

static void env_init(node_env *e)
{
    memset(e, 0, sizeof *e);
    char *p = bt_path("node");
    snprintf(e->dir, sizeof e->dir, "%s.d", p);
    free(p);
    /* Below Linux's ephemeral ports (32768 and up), which the connections
     * of tests running beside this one take, and apart from the process
     * tests' (20000 and up). */
    snprintf(e->address, sizeof e->address, "127.0.0.1:%d", 10000 + (int)(getpid() % 9000));
    ck_assert_int_eq(uv_loop_init(&e->loop), 0);
    birch_replica_options_init(&e->o);
    e->o.id = 1;
    e->o.cluster_id = "node-test";
    e->o.dir = e->dir;
    e->o.address = e->address;
    e->peer = (birch_replica_peer){1, e->address};
    e->o.peers = &e->peer;
    e->o.n_peers = 1;
    e->o.max_batch = 4096;
    e->o.snapshot_threshold = 16;
    e->o.snapshot_trailing = 4;
}

static void node_open(node_env *e)
{
    RP_OK(birch_replica_open(&e->loop, &e->o, &e->node));
    birch_replica_status st;
    for (int i = 0; i < 5000; i++) { /* a one-node cluster elects itself */
        birch_replica_status_get(e->node, &st);
        if (strcmp(st.state, "leader") == 0)
            return;
        uv_run(&e->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    ck_abort_msg("the one-node cluster has no leader (state %s)", st.state);
}

static void node_close(node_env *e)
{
    int closed = 0;
    birch_replica_close(e->node, on_closed, &closed);
    run_until(&e->loop, &closed);
    e->node = NULL;
}

static int write_put(node_env *e, const char *table, const char *key, const char *val, done *d)
{
    birch_batch b;
    birch_val bytes;
    birch_batch_init(&b);
    BT_OK(birch_batch_put(&b, table, bt_str(key), bt_str(val)));
    BT_OK(birch_batch_bytes(&b, &bytes));
    memset(d, 0, sizeof *d);
    int rc = birch_replica_write(e->node, bytes, on_done, d);
    birch_batch_free(&b);
    if (rc == BIRCH_OK)
        run_until(&e->loop, &d->fired);
    return rc;
}

static int read_key(node_env *e, const char *table, const char *key, char *out, size_t cap,
                    uint64_t *applied)
{
    birch_txn *txn;
    birch_table *t;
    birch_val v;
    RP_OK(birch_replica_read(e->node, &txn, applied));
    int rc = birch_table_open(txn, table, 0, &t);
    if (rc == BIRCH_OK)
        rc = birch_get(txn, t, bt_str(key), &v);
    if (rc == BIRCH_OK)
        snprintf(out, cap, "%.*s", (int)v.size, (const char *)v.data);
    birch_txn_abort(txn);
    return rc;
}

START_TEST(writes_reads_restart)
{
    node_env e;
    env_init(&e);
    node_open(&e);
    done d;
    char key[32], val[64];
    uint64_t last = 0, applied;
    for (int i = 0; i < 40; i++) { /* past the snapshot threshold twice */
        snprintf(key, sizeof key, "k%02d", i % 10);
        snprintf(val, sizeof val, "v%d", i);
        RP_OK(write_put(&e, "t", key, val, &d));
        ck_assert_msg(d.rc == BIRCH_OK, "write %d: %s", i, d.msg);
        ck_assert_uint_gt(d.index, last);
        last = d.index;
        ck_assert_int_eq(read_key(&e, "t", key, val, sizeof val, &applied), BIRCH_OK);
        ck_assert_uint_eq(applied, d.index);
    }

    /* Refused on every node alike: the code comes back, the index moves. */
    char big[1200];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = 0;
    RP_OK(write_put(&e, "t", big, "1", &d));
    ck_assert_int_eq(d.rc, BIRCH_EKEYSIZE);
    ck_assert_uint_gt(d.index, last);
    ck_assert_ptr_nonnull(strstr(d.msg, "key"));
    last = d.index;

    /* Refused before submitting. */
    char huge[5000];
    memset(huge, 'v', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    ck_assert_int_eq(write_put(&e, "t", "k", huge, &d), BIRCH_REPLICA_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "4096"));
    ck_assert_int_eq(write_put(&e, BIRCH_REPLICA_TABLE, "applied", "x", &d), BIRCH_EINVAL);

    /* A barrier, then membership: a spare added and removed. */
    memset(&d, 0, sizeof d);
    RP_OK(birch_replica_barrier(e.node, on_done, &d));
    run_until(&e.loop, &d.fired);
    ck_assert_int_eq(d.rc, BIRCH_OK);
    memset(&d, 0, sizeof d);
    RP_OK(birch_replica_add(e.node, 9, "127.0.0.1:9", on_done, &d));
    run_until(&e.loop, &d.fired);
    ck_assert_msg(d.rc == BIRCH_OK, "add: %s", d.msg);
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(birch_replica_assign(e.node, 9, 77, on_done, &d), BIRCH_REPLICA_ERAFT);
    RP_OK(birch_replica_remove(e.node, 9, on_done, &d));
    run_until(&e.loop, &d.fired);
    ck_assert_msg(d.rc == BIRCH_OK, "remove: %s", d.msg);
    /* The only voter can be neither removed nor demoted: no leader could
     * ever be elected again. */
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(birch_replica_remove(e.node, 1, on_done, &d), BIRCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "only voter"));
    ck_assert_int_eq(birch_replica_assign(e.node, 1, RAFT_SPARE, on_done, &d), BIRCH_EINVAL);
    ck_assert_int_eq(birch_replica_assign(e.node, 1, RAFT_STANDBY, on_done, &d), BIRCH_EINVAL);
    ck_assert_int_eq(d.fired, 0);

    birch_replica_status st;
    birch_replica_status_get(e.node, &st);
    uint64_t db_applied = st.sm.applied;
    ck_assert_uint_eq(db_applied, last);
    node_close(&e);

    /* Open again: libraft loads its last snapshot and replays the log
     * after it; the database is ahead of the snapshot, so it is kept and
     * the replayed entries are skipped, none written. */
    node_open(&e);
    memset(&d, 0, sizeof d);
    RP_OK(birch_replica_barrier(e.node, on_done, &d)); /* replay done once it is applied */
    run_until(&e.loop, &d.fired);
    birch_replica_status_get(e.node, &st);
    ck_assert_uint_eq(st.sm.applied, db_applied);
    ck_assert_uint_eq(st.sm.written, 0);
    ck_assert_uint_eq(st.sm.restored, 0);
    ck_assert_int_eq(read_key(&e, "t", "k09", val, sizeof val, &applied), BIRCH_OK);
    ck_assert_str_eq(val, "v39");
    RP_OK(write_put(&e, "t", "after", "1", &d));
    ck_assert_int_eq(d.rc, BIRCH_OK);
    ck_assert_uint_gt(d.index, last);
    node_close(&e);

    /* Another node's directory, another cluster. */
    e.o.id = 2;
    e.peer.id = 2;
    ck_assert_int_eq(birch_replica_open(&e.loop, &e.o, &e.node), BIRCH_REPLICA_EIDENTITY);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "belongs to node 1, not 2"));
    e.o.id = 1;
    e.peer.id = 1;
    e.o.cluster_id = "other";
    ck_assert_int_eq(birch_replica_open(&e.loop, &e.o, &e.node), BIRCH_REPLICA_EIDENTITY);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "cluster"));
    ck_assert_int_eq(uv_loop_close(&e.loop), 0);
}
END_TEST

/* Misuse of a node: a second node on a directory in use, NULL handles,
 * calls while it closes, and a second close, which must neither crash nor
 * take effect. */
START_TEST(misuse)
{
    node_env e;
    env_init(&e);
    node_open(&e);
    uv_loop_t loop2;
    ck_assert_int_eq(uv_loop_init(&loop2), 0);
    birch_replica_options o2 = e.o;
    char address2[64];
    snprintf(address2, sizeof address2, "127.0.0.1:%d", 10000 + (int)(getpid() % 9000) + 1);
    o2.address = address2;
    o2.peers = NULL; /* a node joining, so that only the directory is wrong */
    o2.n_peers = 0;
    birch_replica *second = NULL;
    ck_assert_int_eq(birch_replica_open(&loop2, &o2, &second), BIRCH_EBUSY);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "in use"));
    ck_assert_ptr_null(second);

    birch_replica_status st;
    birch_replica_status_get(NULL, &st);
    ck_assert_str_eq(st.state, "unavailable");
    birch_replica_status_get(e.node, NULL);
    ck_assert_ptr_null(birch_replica_state_machine(NULL));
    ck_assert_ptr_null(birch_replica_sm_db(NULL));
    ck_assert_uint_eq(birch_replica_sm_applied(NULL), 0);
    ck_assert_ptr_null(birch_replica_sm_failure(NULL, 1));
    birch_replica_sm_stat sst;
    birch_replica_sm_stat_get(NULL, &sst);
    ck_assert_uint_eq(sst.written, 0);
    birch_replica_close(NULL, NULL, NULL);

    int closed = 0, closed2 = 0;
    done d;
    memset(&d, 0, sizeof d);
    birch_replica_close(e.node, on_closed, &closed);
    ck_assert_int_eq(write_put(&e, "t", "k", "v", &d), BIRCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "closing"));
    ck_assert_int_eq(birch_replica_barrier(e.node, on_done, &d), BIRCH_EINVAL);
    birch_replica_close(e.node, on_closed, &closed2); /* no-op */
    run_until(&e.loop, &closed);
    ck_assert_int_eq(closed2, 0);
    ck_assert_int_eq(d.fired, 0);

    /* Closed: the directory is free again. */
    RP_OK(birch_replica_open(&loop2, &o2, &second));
    closed = 0;
    birch_replica_close(second, on_closed, &closed);
    run_until(&loop2, &closed);
    ck_assert_int_eq(uv_loop_close(&loop2), 0);
    ck_assert_int_eq(uv_loop_close(&e.loop), 0);
}
END_TEST

START_TEST(bad_options)
{
    node_env e;
    env_init(&e);
    birch_replica *n;
    e.o.id = 0;
    ck_assert_int_eq(birch_replica_open(&e.loop, &e.o, &n), BIRCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "id"));
    e.o.id = 1;
    e.o.cluster_id = "has space";
    ck_assert_int_eq(birch_replica_open(&e.loop, &e.o, &n), BIRCH_EINVAL);
    e.o.cluster_id = "ok";
    e.peer.id = 5; /* the node is not among its peers */
    ck_assert_int_eq(birch_replica_open(&e.loop, &e.o, &n), BIRCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "peers"));
    e.peer.id = 1;
    e.peer.address = "127.0.0.1:1"; /* listed at another address than its own */
    ck_assert_int_eq(birch_replica_open(&e.loop, &e.o, &n), BIRCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "is listed at 127.0.0.1:1"));
    e.peer.address = e.address;
    e.o.max_batch = BIRCH_REPLICA_MAX_MAX_BATCH + 1;
    ck_assert_int_eq(birch_replica_open(&e.loop, &e.o, &n), BIRCH_EINVAL);
    ck_assert_int_eq(uv_loop_close(&e.loop), 0);
}
END_TEST

/* A state machine stopped by a failed group commit (fsm.c's stop) applies
 * nothing more, so libraft would never call back a write or barrier it
 * accepted: they are refused (BIRCH_EIO) instead of left waiting for ever.
 * The failure itself is simulated by the flag stop sets. */
START_TEST(stopped_refuses)
{
    node_env e;
    env_init(&e);
    node_open(&e);
    done d;
    RP_OK(write_put(&e, "t", "k", "v", &d));
    ck_assert_int_eq(d.rc, BIRCH_OK);
    birch_replica_sm *sm = birch_replica_state_machine(e.node);
    sm->broken = 1;
    snprintf(sm->broken_msg, sizeof sm->broken_msg, "committing applied entries: simulated");
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(write_put(&e, "t", "k", "v2", &d), BIRCH_EIO);
    ck_assert_ptr_nonnull(strstr(birch_replica_errmsg(), "simulated"));
    ck_assert_int_eq(birch_replica_barrier(e.node, on_done, &d), BIRCH_EIO);
    ck_assert_int_eq(d.fired, 0);
    sm->broken = 0; /* the close commits nothing either way */
    node_close(&e);
    ck_assert_int_eq(uv_loop_close(&e.loop), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replica_node");
    bt_add_case(s, "writes_reads_restart", writes_reads_restart);
    bt_add_case(s, "misuse", misuse);
    bt_add_case(s, "bad_options", bad_options);
    bt_add_case(s, "stopped_refuses", stopped_refuses);
    return bt_run(s);
}
