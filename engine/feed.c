/*
 * feed.c - the change feed (birch.h, "The change feed"): each write
 * transaction of a handle with a commit hook records its changes, as they
 * are made, into a write batch (batch.c's encoding), and the commit gives
 * that batch to the hook.
 *
 * Recording happens before each change is made, from the caller's
 * arguments, which may point into pages the change rewrites; a change that
 * then fails or finds nothing to do is cut back out (bi_feed_cut).  A
 * nested transaction's abort cuts back to where its level began (nest.c).
 * A value written through birch_put_reserve is known only once the caller
 * has filled it: its room is recorded with the put, and its bytes are
 * copied in at the next change, nested begin or commit, while the pointer
 * birch.h lets the caller hold is still valid.
 *
 * Without a hook (or with BIRCH_ON_COMMIT_IDS) txn->feed is NULL and each
 * change pays one test of it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A batch grown past this is freed after its transaction, not kept. */
#define BI_FEED_KEEP (4u << 20)

int bi_feed_begin(birch_txn *txn)
{
    birch_db *db = txn->db;
    if (!db->hook || (db->hook_flags & BIRCH_ON_COMMIT_IDS)) return BIRCH_OK;
    birch_batch *b = &db->feed_log;
    birch_batch_clear(b);
    birch_val empty;
    int rc = bi_batch_finish(b, &empty, "birch_txn_begin"); /* the header's room, so the commit never allocates */
    if (rc) return rc;
    txn->feed = b;
    return BIRCH_OK;
}

int bi_feed_add_slow(birch_txn *txn, int kind, const char *table, birch_val key, birch_val val, uint64_t num,
                     bi_batch_mark *m)
{
    *m = bi_batch_mark_of(txn->feed);
    bi_change c = {kind, table, table ? strlen(table) : 0, key, val, num};
    return bi_batch_append(txn->feed, &c, NULL, "recording a change for the change feed");
}

int bi_feed_reserve(birch_txn *txn, const char *table, birch_val key, size_t size, size_t *at, bi_batch_mark *m)
{
    *m = bi_batch_mark_of(txn->feed);
    bi_change c = {BIRCH_BATCH_PUT, table, strlen(table), key, {NULL, size}, 0};
    return bi_batch_append(txn->feed, &c, at, "recording a change for the change feed");
}

void bi_feed_pending(birch_txn *txn, size_t at, const uint8_t *p, size_t size)
{
    txn->feed_pending = p;
    txn->feed_pending_at = at;
    txn->feed_pending_size = size;
}

void bi_feed_settle_slow(birch_txn *txn)
{
    if (txn->feed_pending_size) memcpy(txn->feed->data_ + txn->feed_pending_at, txn->feed_pending, txn->feed_pending_size);
    txn->feed_pending = NULL;
}

void bi_feed_cut(birch_txn *txn, bi_batch_mark m)
{
    if (!txn->feed) return;
    if (txn->feed_pending && txn->feed_pending_at >= m.size) txn->feed_pending = NULL; /* its put is undone */
    bi_batch_cut(txn->feed, m);
}

bi_batch_mark bi_feed_mark(const birch_txn *txn)
{
    return txn->feed ? bi_batch_mark_of(txn->feed) : (bi_batch_mark){0, 0, 0, 0};
}

void bi_feed_commit(birch_db *db, uint64_t txnid, const birch_batch *feed)
{
    if (!db->hook) return;
    birch_val changes = {NULL, 0};
    if (feed) bi_batch_finish(&db->feed_log, &changes, "birch_txn_commit"); /* its room was taken at begin */
    db->hook(txnid, changes, db->hook_ctx);
}

void bi_feed_end(birch_db *db)
{
    if (db->feed_log.cap_ > BI_FEED_KEEP) birch_batch_free(&db->feed_log);
}

int birch_on_commit_flags(birch_db *db, unsigned flags, birch_commit_fn fn, void *ctx)
{
    const char *who = "birch_on_commit";
    int rc = bi_db_check(db, who);
    if (rc) return rc;
    if (flags & ~BIRCH_ON_COMMIT_IDS) return bi_err(BIRCH_EINVAL, "%s: unknown flags %#x", who, flags);
    if (db->opts.read_only) return bi_err(BIRCH_EREADONLY, "%s: a database opened read-only commits nothing", who);
    uint64_t self = bi_thread_id();
    pthread_mutex_lock(&db->write_lock);
    if (db->writer_active == BI_GATE_TXN && atomic_load_explicit(&db->writer_thread, memory_order_relaxed) == self) {
        pthread_mutex_unlock(&db->write_lock);
        return bi_err(BIRCH_EBUSY, "%s: this thread holds a write transaction (or is in the commit hook): the hook "
                                   "changes between write transactions", who);
    }
    /* A write transaction records whole or not at all: wait for it. */
    int waited = 0;
    while (db->writer_active != BI_GATE_FREE) {
        pthread_cond_wait(&db->write_cv, &db->write_lock);
        waited = 1;
    }
    db->hook = fn;
    db->hook_ctx = fn ? ctx : NULL;
    db->hook_flags = fn ? flags : 0;
    if (waited) bi_gate_open_locked(db); /* the wake-up this call took was a writer's */
    pthread_mutex_unlock(&db->write_lock);
    return BIRCH_OK;
}

int birch_on_commit(birch_db *db, birch_commit_fn fn, void *ctx)
{
    return birch_on_commit_flags(db, 0, fn, ctx);
}
