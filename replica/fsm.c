/*
 * fsm.c - the replicated state machine: Raft log entries (encoded write
 * batches) applied to a birch database, one write transaction each.
 *
 * The invariant it keeps: the database's reserved table
 * (BIRCH_REPLICA_TABLE) records, in the same commit as the changes, the
 * Raft index of the last entry applied.  An entry at or below that index
 * is skipped, so however often libraft replays its log (after a restart
 * it re-applies every entry after its last snapshot), each entry changes
 * the file once.  libraft's apply callback does not pass the index: it
 * is raft_last_applied() + 1, since libraft 0.15 advances last_applied
 * only after the callback returns (docs/DESIGN.md 23.2).
 *
 * A batch that cannot be applied for a reason every node shares (a
 * malformed batch, a key too long for the page size, a multimap table, the
 * reserved table) is refused on every node alike: its index is recorded,
 * nothing else changes, and the code goes back to the submitter as the
 * entry's result.  Any other failure (I/O, memory, a full disk) is this
 * node's alone: the entry is not recorded, and libraft is told, which
 * stops applying here until it retries, rather than letting this node's
 * state part from the others'.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica_internal.h"

/* ---- Checking a batch ------------------------------------------------------- */

/* birch_batch_each's callback: stops (1) at a change to the reserved
 * table; notes a savepoint change in *ctx (an int), if ctx is given. */
static int scan_op(const birch_batch_op *op, void *ctx)
{
    size_t n = strlen(BIRCH_REPLICA_TABLE);
    if (ctx && (op->kind == BIRCH_BATCH_SAVEPOINT_CREATE || op->kind == BIRCH_BATCH_SAVEPOINT_RESTORE ||
                op->kind == BIRCH_BATCH_SAVEPOINT_DROP))
        *(int *)ctx = 1;
    return op->table.size == n && memcmp(op->table.data, BIRCH_REPLICA_TABLE, n) == 0;
}

/* savepoints (may be NULL) is set when the batch has a savepoint change. */
static int check_batch(birch_val batch, size_t max_size, int *savepoints)
{
    if (batch.data == NULL && batch.size != 0)
        return rp_err(BIRCH_EINVAL, "batch: NULL data with a size of %zu", batch.size);
    if (batch.size > max_size)
        return rp_err(BIRCH_REPLICA_ETOOBIG, "batch of %zu bytes: the limit (max_batch) is %zu",
                      batch.size, max_size);
    int rc = birch_batch_each(batch, scan_op, savepoints);
    if (rc > 0)
        return rp_err(BIRCH_EINVAL, "batch changes table \"%s\", which replication reserves",
                      BIRCH_REPLICA_TABLE);
    if (rc < 0)
        return rp_err_birch(rc, "batch");
    return BIRCH_OK;
}

int birch_replica_check_batch(birch_val batch, size_t max_size)
{
    return check_batch(batch, max_size ? max_size : BIRCH_REPLICA_DEFAULT_MAX_BATCH, NULL);
}

/* Failures that every node meets alike for the same entry (they depend on
 * the batch, the page size and the tables, which the log fixes), as
 * opposed to this node's own trouble. */
static int shared_failure(int rc)
{
    switch (rc) {
    case BIRCH_EINVAL:
    case BIRCH_ECORRUPT:
    case BIRCH_EVERSION:
    case BIRCH_EKEYSIZE:
    case BIRCH_EVALSIZE:
    case BIRCH_ESCHEMA:
    case BIRCH_EXISTS:
    case BIRCH_NOTFOUND:
        return 1;
    default:
        return 0;
    }
}

/* ---- Log entries ---------------------------------------------------------------- */

int birch_replica_sm_entry(birch_val batch, struct raft_buffer *out)
{
    if (!out || (batch.data == NULL && batch.size != 0))
        return rp_err(BIRCH_EINVAL, "birch_replica_sm_entry: NULL argument");
    size_t len = 8 + ((batch.size + 7) & ~(size_t)7);
    unsigned char *p = raft_malloc(len);
    if (!p)
        return rp_err(BIRCH_ENOMEM, "birch_replica_sm_entry: out of memory");
    rp_put64(p, batch.size);
    if (batch.size)
        memcpy(p + 8, batch.data, batch.size);
    memset(p + 8 + batch.size, 0, len - 8 - batch.size);
    out->base = p;
    out->len = len;
    return BIRCH_OK;
}

/* The batch inside an entry; BIRCH_ECORRUPT for bytes no node wrote. */
static int entry_batch(const struct raft_buffer *buf, birch_val *batch)
{
    const unsigned char *p = buf->base;
    if (buf->len < 8 || buf->len % 8 != 0)
        return rp_err(BIRCH_ECORRUPT, "entry of %zu bytes: not a whole number of 8-byte words", buf->len);
    uint64_t n = rp_get64(p);
    if (n > buf->len - 8 || buf->len - 8 - n >= 8)
        return rp_err(BIRCH_ECORRUPT, "entry of %zu bytes says its batch has %llu", buf->len,
                      (unsigned long long)n);
    for (size_t i = 8 + (size_t)n; i < buf->len; i++)
        if (p[i] != 0)
            return rp_err(BIRCH_ECORRUPT, "entry: padding byte %zu is not 0", i);
    *batch = (birch_val){p + 8, (size_t)n};
    return BIRCH_OK;
}

/* ---- The reserved table ---------------------------------------------------- */

int rp_read_identity(birch_txn *txn, uint64_t *index, char *cluster, size_t cap)
{
    birch_table *t;
    birch_val v;
    *index = 0;
    cluster[0] = 0;
    int rc = birch_table_open(txn, BIRCH_REPLICA_TABLE, 0, &t);
    if (rc == BIRCH_NOTFOUND)
        return BIRCH_OK;
    if (rc)
        return rp_err_birch(rc, "reading " BIRCH_REPLICA_TABLE);
    rc = birch_get(txn, t, (birch_val){RP_KEY_APPLIED, strlen(RP_KEY_APPLIED)}, &v);
    if (rc == BIRCH_OK) {
        if (v.size != 8)
            return rp_err(BIRCH_ECORRUPT, BIRCH_REPLICA_TABLE " \"applied\" holds %zu bytes, not 8",
                          v.size);
        *index = rp_get64(v.data);
    } else if (rc != BIRCH_NOTFOUND) {
        return rp_err_birch(rc, "reading the applied index");
    }
    rc = birch_get(txn, t, (birch_val){RP_KEY_CLUSTER, strlen(RP_KEY_CLUSTER)}, &v);
    if (rc == BIRCH_OK) {
        if (v.size == 0 || v.size >= cap)
            return rp_err(BIRCH_ECORRUPT, BIRCH_REPLICA_TABLE " \"cluster\" holds %zu bytes", v.size);
        memcpy(cluster, v.data, v.size);
        cluster[v.size] = 0;
    } else if (rc != BIRCH_NOTFOUND) {
        return rp_err_birch(rc, "reading the cluster id");
    }
    return BIRCH_OK;
}

static int put_reserved(birch_txn *txn, const char *key, birch_val val)
{
    birch_table *t;
    int rc = birch_table_open(txn, BIRCH_REPLICA_TABLE, BIRCH_CREATE, &t);
    if (rc == BIRCH_OK)
        rc = birch_put(txn, t, (birch_val){key, strlen(key)}, val, 0);
    return rc ? rp_err_birch(rc, "writing " BIRCH_REPLICA_TABLE) : BIRCH_OK;
}

/* ---- Opening ---------------------------------------------------------------- */

int rp_sm_open_db(birch_replica_sm *sm)
{
    birch_options opts;
    birch_options_init(&opts);
    opts.durability = sm->durability;
    int rc = birch_open(sm->db_path, &opts, &sm->db);
    if (rc)
        return rp_err(rc, "opening %s: %s", sm->db_path, birch_errmsg());

    birch_txn *txn;
    char cluster[BIRCH_REPLICA_MAX_CLUSTER_ID + 1];
    rc = birch_txn_begin(sm->db, BIRCH_TXN_WRITE, &txn);
    if (rc) {
        rp_err_birch(rc, "reading the replica state");
        goto fail;
    }
    rc = rp_read_identity(txn, &sm->applied, cluster, sizeof cluster);
    if (rc == BIRCH_OK && cluster[0] && strcmp(cluster, sm->cluster) != 0)
        rc = rp_err(BIRCH_REPLICA_EIDENTITY, "%s belongs to cluster \"%s\", not \"%s\"", sm->db_path,
                    cluster, sm->cluster);
    if (rc == BIRCH_OK && !cluster[0]) /* a new database: it is this cluster's from now on */
        rc = put_reserved(txn, RP_KEY_CLUSTER, (birch_val){sm->cluster, strlen(sm->cluster)});
    if (rc) {
        birch_txn_abort(txn);
        goto fail;
    }
    rc = birch_txn_commit(txn);
    if (rc) {
        rp_err_birch(rc, "recording the cluster id");
        goto fail;
    }
    sm->stat.applied = sm->applied;
    return BIRCH_OK;
fail:
    birch_close(sm->db);
    sm->db = NULL;
    return rc;
}

int rp_valid_cluster_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > BIRCH_REPLICA_MAX_CLUSTER_ID)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (id[i] <= ' ' || id[i] > '~')
            return 0;
    return 1;
}

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

static int sm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result);

int birch_replica_sm_open(const char *db_path, const char *cluster_id, int durability,
                          struct raft_fsm *fsm, birch_replica_sm **out)
{
    if (!db_path || !cluster_id || !fsm || !out)
        return rp_err(BIRCH_EINVAL, "birch_replica_sm_open: NULL argument");
    if (!rp_valid_cluster_id(cluster_id))
        return rp_err(BIRCH_EINVAL, "cluster id \"%s\": 1 to %u printable bytes without spaces",
                      cluster_id, BIRCH_REPLICA_MAX_CLUSTER_ID);
    if (durability != BIRCH_DURABLE_FULL && durability != BIRCH_DURABLE_NONE)
        return rp_err(BIRCH_EINVAL, "durability %d: BIRCH_DURABLE_FULL or BIRCH_DURABLE_NONE",
                      durability);
    birch_replica_sm *sm = calloc(1, sizeof *sm);
    if (!sm)
        return rp_err(BIRCH_ENOMEM, "birch_replica_sm_open: out of memory");
    sm->db_path = concat(db_path, "");
    sm->snap_path = concat(db_path, ".snap");
    sm->restore_path = concat(db_path, ".restore");
    strcpy(sm->cluster, cluster_id);
    sm->durability = durability;
    int rc = BIRCH_ENOMEM;
    if (!sm->db_path || !sm->snap_path || !sm->restore_path) {
        rp_err(rc, "birch_replica_sm_open: out of memory");
        goto fail;
    }
    if ((rc = rp_sm_open_db(sm)) != BIRCH_OK)
        goto fail;
    memset(fsm, 0, sizeof *fsm);
    fsm->version = 2; /* snapshot_finalize: the snapshot's buffers are ours (a map) */
    fsm->data = sm;
    fsm->apply = sm_apply;
    fsm->snapshot = rp_snapshot;
    fsm->snapshot_finalize = rp_snapshot_finalize;
    fsm->restore = rp_restore;
    *out = sm;
    return BIRCH_OK;
fail:
    free(sm->db_path);
    free(sm->snap_path);
    free(sm->restore_path);
    free(sm);
    return rc;
}

void birch_replica_sm_bind(birch_replica_sm *sm, struct raft *r)
{
    if (sm)
        sm->raft = r;
}

birch_db *birch_replica_sm_db(birch_replica_sm *sm)
{
    return sm ? sm->db : NULL;
}

uint64_t birch_replica_sm_applied(const birch_replica_sm *sm)
{
    return sm ? sm->applied : 0;
}

void birch_replica_sm_stat_get(const birch_replica_sm *sm, birch_replica_sm_stat *st)
{
    if (!st)
        return;
    if (!sm) {
        memset(st, 0, sizeof *st);
        return;
    }
    *st = sm->stat;
    st->applied = sm->applied;
}

int birch_replica_sm_result(void *result)
{
    return (int)(intptr_t)result;
}

const char *birch_replica_sm_failure(const birch_replica_sm *sm, uint64_t index)
{
    return sm && sm->fail_index == index && index ? sm->fail_msg : NULL;
}

int birch_replica_sm_read(birch_replica_sm *sm, birch_txn **txn, uint64_t *applied)
{
    if (!sm || !txn)
        return rp_err(BIRCH_EINVAL, "birch_replica_sm_read: NULL argument");
    if (!sm->db)
        return rp_err(BIRCH_EIO, "the database is closed: installing a snapshot failed");
    int rc = birch_txn_begin(sm->db, BIRCH_TXN_READ, txn);
    if (rc)
        return rp_err_birch(rc, "beginning a read");
    if (applied) {
        char cluster[BIRCH_REPLICA_MAX_CLUSTER_ID + 1];
        rc = rp_read_identity(*txn, applied, cluster, sizeof cluster);
        if (rc) {
            birch_txn_abort(*txn);
            *txn = NULL;
        }
    }
    return rc;
}

int birch_replica_sm_close(birch_replica_sm *sm)
{
    if (!sm)
        return BIRCH_OK;
    int rc = birch_replica_sm_flush(sm);
    birch_txn_abort(sm->group); /* stopped: birch_close would refuse an open transaction */
    int crc = birch_close(sm->db);
    rc = rc ? rc : crc;
    if (rc)
        rp_err_birch(rc, "closing the database");
    free(sm->db_path);
    free(sm->snap_path);
    free(sm->restore_path);
    free(sm);
    return rc;
}

/* ---- Applying an entry ------------------------------------------------------- */

/* Records a batch's failure for birch_replica_sm_failure. */
static void note_failure(birch_replica_sm *sm, uint64_t index, int rc, const char *msg)
{
    sm->fail_index = index;
    snprintf(sm->fail_msg, sizeof sm->fail_msg, "%s: %.200s", birch_replica_strerror(rc), msg);
    sm->stat.refused++;
}

/* Stops the state machine after a failure: the open group, whose entries
 * libraft counts applied, is discarded, and nothing more is applied here
 * until a restart replays the log past the index the file records. */
static void stop(birch_replica_sm *sm)
{
    snprintf(sm->broken_msg, sizeof sm->broken_msg, "%s", birch_replica_errmsg());
    sm->broken = 1;
    birch_txn_abort(sm->group);
    sm->group = NULL;
    sm->group_n = 0;
}

/* Commits the group of entries applied since the last commit, if any. */
int birch_replica_sm_flush(birch_replica_sm *sm)
{
    if (!sm)
        return rp_err(BIRCH_EINVAL, "birch_replica_sm_flush: NULL state machine");
    if (sm->broken)
        return rp_err(BIRCH_EIO, "the state machine stopped: %s", sm->broken_msg);
    if (!sm->group)
        return BIRCH_OK;
    birch_txn *txn = sm->group;
    sm->group = NULL;
    sm->group_n = 0;
    int rc = birch_txn_commit(txn);
    if (rc) {
        /* libraft counts these entries applied and will not give them
         * again: only a restart can, lest this node part from the others. */
        rp_err_birch(rc, "committing applied entries");
        stop(sm);
        return rc;
    }
    sm->applied = sm->group_index;
    return BIRCH_OK;
}

void birch_replica_sm_group(birch_replica_sm *sm, unsigned max_entries)
{
    sm->group_max = max_entries;
}

/* The write transaction an entry is applied in: the open group's, a new
 * group's, or (alone: group mode off, or an entry with savepoint changes,
 * whose meaning depends on where transactions begin) one of its own. */
static int entry_txn(birch_replica_sm *sm, int alone, birch_txn **txn)
{
    int rc = BIRCH_OK;
    if (alone || sm->group_max == 0) {
        if ((rc = birch_replica_sm_flush(sm)) != BIRCH_OK)
            return rc;
    } else if (sm->group) {
        *txn = sm->group;
        return BIRCH_OK;
    }
    rc = birch_txn_begin(sm->db, BIRCH_TXN_WRITE, txn);
    if (rc)
        return rp_err_birch(rc, "applying an entry");
    if (!alone && sm->group_max)
        sm->group = *txn;
    return BIRCH_OK;
}

/* Ends an entry's transaction: commits one of its own; in a group,
 * counts it and commits the group once full.  On failure the entry is not
 * recorded (its own transaction) or the state machine stopped (a group). */
static int entry_done(birch_replica_sm *sm, birch_txn *txn, uint64_t index)
{
    if (txn != sm->group) {
        int rc = birch_txn_commit(txn);
        if (rc)
            return rp_err_birch(rc, "committing an entry");
        sm->applied = index;
        return BIRCH_OK;
    }
    sm->group_index = index;
    return ++sm->group_n >= sm->group_max ? birch_replica_sm_flush(sm) : BIRCH_OK;
}

/* Leaves an entry's transaction without recording it, so that libraft,
 * which gives the entry again later, finds it not applied.  Its own
 * transaction is aborted.  In a group, a batch that failed undid itself
 * (birch_batch_apply is atomic): the entries before it are committed;
 * but a batch that was applied cannot be undone without the rest of the
 * group, so the state machine stops. */
static void entry_undo(birch_replica_sm *sm, birch_txn *txn, int batch_applied)
{
    if (txn != sm->group)
        birch_txn_abort(txn);
    else if (batch_applied)
        stop(sm);
    else
        (void)birch_replica_sm_flush(sm);
}

static int sm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    birch_replica_sm *sm = fsm->data;
    *result = NULL;
    if (!sm->raft || !sm->db || sm->broken) /* not bound, a failed restore closed it, or stopped */
        return RAFT_INVALID;
    uint64_t index = raft_last_applied(sm->raft) + 1;
    if (index <= sm->applied) { /* replayed: the file has it already */
        sm->stat.skipped++;
        return 0;
    }
    birch_val batch;
    int savepoints = 0;
    int brc = entry_batch(buf, &batch);
    if (brc == BIRCH_OK)
        brc = check_batch(batch, SIZE_MAX, &savepoints);
    const char *msg = birch_replica_errmsg();
    char saved[256]; /* msg is birch_replica_errmsg()'s buffer, which rp_err below writes */
    snprintf(saved, sizeof saved, "%s", msg);
    birch_txn *txn;
    if (entry_txn(sm, savepoints, &txn) != BIRCH_OK)
        return RAFT_IOERR;
    msg = saved;
    int local = 0;
    if (brc == BIRCH_OK) {
        brc = birch_batch_apply(txn, batch);
        msg = birch_errmsg();
        /* check_batch verified the whole encoding (birch_batch_each):
         * BIRCH_ECORRUPT now means a damaged page of this node's file,
         * which the other nodes do not share. */
        local = brc == BIRCH_ECORRUPT || brc == BIRCH_EVERSION;
    }
    if (brc != BIRCH_OK && (local || !shared_failure(brc))) {
        rp_err(brc, "entry %llu: %s", (unsigned long long)index, msg);
        entry_undo(sm, txn, 0);
        return RAFT_IOERR;
    }
    if (brc != BIRCH_OK)
        note_failure(sm, index, brc, msg); /* before the next call replaces msg */
    unsigned char le[8];
    rp_put64(le, index);
    if (put_reserved(txn, RP_KEY_APPLIED, (birch_val){le, 8}) != BIRCH_OK) {
        entry_undo(sm, txn, 1);
        return RAFT_IOERR;
    }
    if (entry_done(sm, txn, index) != BIRCH_OK)
        return RAFT_IOERR;
    sm->stat.written++;
    *result = (void *)(intptr_t)brc;
    return 0;
}
