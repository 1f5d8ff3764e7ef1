/*
 * txn.c - transactions and the reader table.
 *
 * A read transaction pins the published snapshot (readers.c: a copy of the
 * last commit's meta and a reader slot, taken with atomics, no lock), so
 * that no writer reuses a page it can see; gets and cursor moves take no
 * lock either.  birch_txn_reset lets the pin go and keeps the handle;
 * birch_txn_renew pins the newest snapshot again, without allocating
 * (docs/DESIGN.md 9.1).
 *
 * The commit (see docs/DESIGN.md):
 *   1. seal the changed tables (seal.c: checksums, bottom up), write their
 *      roots into the catalog and seal it, record the pages taken and
 *      freed in the free-space map (alloc.c, freemap.c);
 *   2. write every dirty page to a location no durable state uses, then
 *      the meta into the slot that does not hold the durable meta;
 *   3. sync once (durable commits), then publish the meta to new readers.
 * A commit is durable or not as its transaction says (txn->durability:
 * BIRCH_TXN_DURABLE or _NONDURABLE at begin, else the database's option).
 * A crash before the sync completes may leave the new meta with some of
 * its pages missing; open then fails to verify it and returns to the other
 * slot, whose pages no commit since has overwritten.  Non-durable commits
 * skip the sync, mark the meta weak, and are made durable every
 * BI_CHECKPOINT_MS milliseconds (or sooner, see need_checkpoint), by the
 * flusher when no commit follows (flush.c), and at close.  A write
 * transaction that changed nothing writes nothing (txn_changed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define BI_CHECKPOINT_PAGES 1024u

int bi_txn_fail(birch_txn *txn, int rc)
{
    if (txn->write) txn->state = BI_TXN_FAILED;
    return rc;
}

int bi_txn_writable(birch_txn *txn)
{
    if (txn->state != BI_TXN_LIVE) return bi_err(BIRCH_ETXN, "the transaction has ended or failed earlier");
    if (!txn->write) return bi_err(BIRCH_EREADONLY, "a write in a read transaction");
    return BIRCH_OK;
}

void bi_txn_on_snapshot(birch_txn *txn, birch_db *db, const bi_snap *s)
{
    memset(txn, 0, sizeof *txn);
    txn->db = db;
    txn->snap = *s;
    txn->meta = s->meta;
    txn->map = s->map;
    txn->snap_npages = s->meta.npages;
}

/* oldest, or the oldest savepoint of the durable state if that is older.
 * The durable meta is read from its page in the map (the writer gate is
 * held: no commit writes a meta page meanwhile); if it is not there
 * (never expected), no pending page is reused in this transaction.
 * Caller holds db->lock. */
static uint64_t durable_savepoints(birch_db *db, uint64_t oldest)
{
    if (db->meta.txnid == db->steady_txnid) return oldest; /* the last commit is durable: done above */
    bi_meta d;
    memcpy(&d, db->map.addr + (uint64_t)db->steady_slot * db->psize, sizeof d);
    if (!bi_meta_valid(&d) || d.txnid != db->steady_txnid) return 0;
    return d.savepoints.count && d.sp_oldest < oldest ? d.sp_oldest : oldest;
}

/* Takes the snapshot: a pinned one for readers; for the writer, the last
 * commit (it is the only one who makes commits) and the reuse limit. */
static int snapshot(birch_db *db, birch_txn *txn)
{
    if (!txn->write) {
        int rc = bi_pin(db, &txn->snap);
        if (rc) return rc;
        txn->meta = txn->snap.meta;
        txn->map = txn->snap.map;
        txn->snap_npages = txn->meta.npages;
        return BIRCH_OK;
    }
    pthread_mutex_lock(&db->lock);
    txn->meta = db->meta;
    txn->map = db->map.addr;
    txn->snap_npages = db->meta.npages;
    uint64_t oldest = bi_oldest_reader(db, NULL), durable = db->steady_txnid;
    /* A savepoint keeps its commit's pages as a reader of it would: those
     * of the last commit, and those of the durable state, which a power
     * loss returns to (a savepoint dropped by a weak commit still holds
     * its pages until a durable state without it). */
    if (db->meta.savepoints.count && db->meta.sp_oldest < oldest) oldest = db->meta.sp_oldest;
    oldest = durable_savepoints(db, oldest);
    txn->meta.txnid++;
    db->live_txns++;
    pthread_mutex_unlock(&db->lock);
    int rc = bi_alloc_begin(txn, oldest, durable);
    if (rc) {
        pthread_mutex_lock(&db->lock);
        db->live_txns--;
        pthread_mutex_unlock(&db->lock);
    }
    return rc;
}

void bi_gate_open_locked(birch_db *db)
{
    db->writer_active = BI_GATE_FREE;
    pthread_cond_signal(&db->write_cv);
    if (db->flush_waiting) pthread_cond_signal(&db->flush_cv);
}

static void unlock_writer(birch_db *db)
{
    bi_writer_unlock(db);
    pthread_mutex_lock(&db->write_lock);
    bi_gate_open_locked(db);
    pthread_mutex_unlock(&db->write_lock);
}

/* This thread's identity for the writer gate: random, never 0, drawn the
 * first time the thread asks.  Not pthread_self(), which the system gives
 * again to a thread created after one has exited: a new thread would then
 * pass for a gone thread that began a write transaction and handed it
 * over, and get BIRCH_EBUSY instead of waiting.  A fresh thread's
 * thread-local starts at 0, so it draws its own. */
uint64_t bi_thread_id(void)
{
    static _Thread_local uint64_t id;
    if (!id) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        x ^= (uint64_t)(uintptr_t)&id * 0x9e3779b97f4a7c15ull; /* threads alive at once differ here */
        id = bi_mix64(x) | 1;
    }
    return id;
}

/* A write transaction's holder is the thread that last called into it:
 * the one that began it, or the one it was handed to, from its first call
 * on.  One relaxed load per call of a write transaction (the store only
 * when a hand-over changed the thread); the field lives beside the gate,
 * which readers never read, so a writer's calls dirty no line of theirs. */
void bi_txn_seen(birch_txn *txn)
{
    birch_db *db = txn->db;
    uint64_t self = bi_thread_id();
    if (atomic_load_explicit(&db->writer_thread, memory_order_relaxed) != self) {
        atomic_store_explicit(&db->writer_thread, self, memory_order_relaxed);
        if (db->shared) atomic_store(&db->lk->writer_holder, bi_holder_id(db, self)); /* for other handles */
    }
}

/* The state the last commit left, which another handle may have made:
 * the newest sound meta in the file (a writer killed after writing its
 * meta left a whole commit, which the next one builds on and publishes),
 * the file's size, a map that covers it, and a checkpoint a read-only
 * recovery left to a writer (load in db.c). */
static int writer_sync(birch_db *db)
{
    int changed = bi_meta_refresh(db);
    if (changed < 0) return changed;
    int rc = BIRCH_OK;
    if (changed) {
        uint64_t size = 0;
        rc = db->io.ops->size(db->file, &size);
        pthread_mutex_lock(&db->lock);
        if (rc == BIRCH_OK && size > db->file_size) db->file_size = size;
        if (rc == BIRCH_OK) rc = bi_map_cover(db, db->meta.npages * (uint64_t)db->psize);
        pthread_mutex_unlock(&db->lock);
        if (rc) return rc;
    }
    bi_meta pub;
    bi_errmark mark = bi_err_mark();
    int bad = bi_published(db, &pub) != BIRCH_OK;
    bi_err_end(mark, 1); /* repaired below: not this call's error */
    if (bad || pub.txnid < db->meta.txnid) bi_publish(db, &db->meta); /* a dead writer's commit, or a damaged publication */
    if (atomic_load(&db->lk->need_checkpoint)) {
        rc = bi_checkpoint(db);
        if (rc == BIRCH_OK) atomic_store(&db->lk->need_checkpoint, 0);
    }
    return rc;
}

int bi_writer_begin(birch_db *db, int try, const char *who)
{
    if (!db->shared) return BIRCH_OK;
    int rc = bi_writer_lock(db, try, bi_thread_id(), who);
    if (rc) return rc;
    rc = writer_sync(db);
    if (rc) bi_writer_unlock(db);
    return rc;
}

/* Becomes the writer for who (birch_txn_begin or birch_sync): waits for
 * the gate, or BIRCH_EBUSY when BIRCH_TXN_TRY is given and a transaction
 * (or birch_sync) holds it; a flush in progress is waited for even then,
 * since it is no writer the caller could know of.  A thread that holds the
 * write transaction gets BIRCH_EBUSY at once: it would wait for itself.
 * BIRCH_EIO if an earlier I/O error forbids writing. */
static int lock_writer(birch_db *db, unsigned flags, const char *who)
{
    uint64_t self = bi_thread_id();
    pthread_mutex_lock(&db->write_lock);
    int mine = db->writer_active == BI_GATE_TXN &&
               atomic_load_explicit(&db->writer_thread, memory_order_relaxed) == self;
    if (mine || (db->writer_active == BI_GATE_TXN && (flags & BIRCH_TXN_TRY))) {
        pthread_mutex_unlock(&db->write_lock);
        if (mine)
            return bi_err(BIRCH_EBUSY, "%s: this thread holds the write transaction: commit or abort it first", who);
        return bi_err(BIRCH_EBUSY, "%s: another write transaction is active (BIRCH_TXN_TRY)", who);
    }
    while (db->writer_active != BI_GATE_FREE) pthread_cond_wait(&db->write_cv, &db->write_lock);
    db->writer_active = BI_GATE_TXN;
    atomic_store_explicit(&db->writer_thread, self, memory_order_relaxed);
    pthread_mutex_unlock(&db->write_lock);
    int rc = bi_writer_begin(db, (flags & BIRCH_TXN_TRY) != 0, who);
    if (rc) {
        pthread_mutex_lock(&db->write_lock);
        bi_gate_open_locked(db);
        pthread_mutex_unlock(&db->write_lock);
        return rc;
    }
    pthread_mutex_lock(&db->lock);
    int failed = db->failed;
    char why[sizeof db->failed_why];
    memcpy(why, db->failed_why, sizeof why);
    pthread_mutex_unlock(&db->lock);
    if (failed) {
        unlock_writer(db);
        return bi_err(BIRCH_EIO, "%s: an earlier write failed, so the file's state is unknown: reopen the database "
                                 "(%s)", who, why[0] ? why : "no detail");
    }
    return BIRCH_OK;
}

/* Takes a slot for a transaction (handles.c); a writer gets its scratch. */
static int txn_new(birch_db *db, int write, int durability, birch_txn **out)
{
    birch_txn *txn;
    int rc = bi_txn_claim(db, &txn);
    if (rc) return rc;
    txn->db = db;
    txn->write = write;
    txn->durability = durability;
    if (write && !(txn->scratch = malloc(2 * (size_t)db->psize))) {
        bi_txn_unclaim(txn);
        return bi_err(BIRCH_ENOMEM, "out of memory for a transaction");
    }
    *out = txn;
    return BIRCH_OK;
}

/* The durability a write transaction's commit gets (*durability): its
 * flag, else the database's option.  BIRCH_EINVAL for both flags, or
 * either on a read transaction. */
static int durability_of(const birch_db *db, unsigned flags, int *durability)
{
    unsigned d = flags & (BIRCH_TXN_DURABLE | BIRCH_TXN_NONDURABLE);
    if (d == (BIRCH_TXN_DURABLE | BIRCH_TXN_NONDURABLE))
        return bi_err(BIRCH_EINVAL, "birch_txn_begin: BIRCH_TXN_DURABLE and BIRCH_TXN_NONDURABLE together");
    if (d && !(flags & BIRCH_TXN_WRITE))
        return bi_err(BIRCH_EINVAL, "birch_txn_begin: BIRCH_TXN_%sDURABLE without BIRCH_TXN_WRITE (a read "
                                    "transaction commits nothing)", d == BIRCH_TXN_NONDURABLE ? "NON" : "");
    *durability = d == BIRCH_TXN_DURABLE      ? BIRCH_DURABLE_FULL
                  : d == BIRCH_TXN_NONDURABLE ? BIRCH_DURABLE_NONE
                                              : db->opts.durability;
    return BIRCH_OK;
}

int birch_txn_begin(birch_db *db, unsigned flags, birch_txn **out)
{
    int rc = bi_db_check(db, "birch_txn_begin");
    if (rc) return rc;
    if (!out) return bi_err(BIRCH_EINVAL, "birch_txn_begin: txn is NULL");
    if (flags & ~(unsigned)(BIRCH_TXN_WRITE | BIRCH_TXN_TRY | BIRCH_TXN_DURABLE | BIRCH_TXN_NONDURABLE))
        return bi_err(BIRCH_EINVAL, "birch_txn_begin: unknown flags %#x", flags);
    int durability;
    if ((rc = durability_of(db, flags, &durability))) return rc;
    int write = (flags & BIRCH_TXN_WRITE) != 0;
    if (write && db->opts.read_only) return bi_err(BIRCH_EREADONLY, "a write transaction on a database opened read-only");
    /* The writer gate first: a writer waiting for it holds no slot. */
    if (write && (rc = lock_writer(db, flags, "birch_txn_begin"))) return rc;
    /* A weak commit on a database opened BIRCH_DURABLE_FULL needs the
     * flusher that keeps BIRCH_DURABLE_NONE's promise: the first such
     * writer starts it, holding the gate (flush.c; DESIGN.md 4.2). */
    if (write && durability == BIRCH_DURABLE_NONE && (rc = bi_flusher_start(db))) {
        unlock_writer(db);
        return rc;
    }
    birch_txn *txn = NULL;
    rc = txn_new(db, write, durability, &txn);
    if (rc == BIRCH_OK && write) rc = bi_feed_begin(txn); /* the hook is fixed while the gate is held */
    if (rc == BIRCH_OK) rc = snapshot(db, txn); /* fails only for readers (no free slot) */
    if (rc) {
        if (txn) {
            free(txn->scratch);
            bi_txn_unclaim(txn);
        }
        if (write) unlock_writer(db);
        return rc;
    }
    atomic_fetch_add(&db->open_txns, 1);
    *out = txn->token;
    return BIRCH_OK;
}

uint64_t birch_txn_id(const birch_txn *txn)
{
    birch_txn *t = (birch_txn *)txn;
    if (!t || bi_txn_decode(&t) || t->state == BI_TXN_RESET) return 0;
    if (t->nest_root) t = t->nest_root; /* a child commits with its root */
    return t->meta.txnid;
}

/* Checks the handle for reset and renew: decodes it (a reset one too), and
 * refuses a fork child even where the kernel does not wipe tokens (its pin
 * or unpin would change the parent's reader slot, which the lock file
 * shares) and a write transaction. */
static int reset_target(birch_txn **txn, const char *who)
{
    if (!*txn) return bi_err(BIRCH_EINVAL, "%s: txn is NULL", who);
    int rc = bi_txn_decode(txn);
    if (rc) return rc;
    birch_db *db = (*txn)->db;
    if (!atomic_load_explicit(&db->tok_wiped, memory_order_relaxed) && bi_db_forked(db))
        return bi_db_check(db, who);
    if ((*txn)->write)
        return bi_err(BIRCH_EINVAL, "%s: a write transaction (only a read transaction can be reset and renewed: "
                                    "commit or abort it)", who);
    return BIRCH_OK;
}

int birch_txn_reset(birch_txn *txn)
{
    int rc = reset_target(&txn, "birch_txn_reset");
    if (rc) return rc;
    if (txn->state == BI_TXN_RESET) return BIRCH_OK; /* reset already: nothing left to let go */
    /* A guard's view points into the snapshot, and the caller reads it
     * without a call birch could refuse: the snapshot must outlive it. */
    if (txn->nguards)
        return bi_err(BIRCH_EBUSY, "birch_txn_reset: %zu guard%s taken in the transaction %s still unreleased: "
                                   "release %s first", txn->nguards, txn->nguards == 1 ? "" : "s",
                      txn->nguards == 1 ? "is" : "are", txn->nguards == 1 ? "it" : "them");
    int gone = bi_unpin(txn->db, txn->snap.slot, txn->snap.gen);
    BI_ASSERT(gone == 0); /* only this transaction lets its pin go */
    (void)gone;
    /* Forget everything read from the snapshot: table states (kept
     * allocated, so that renew and the reads after it allocate nothing) and
     * where the snapshot's pages are, so that a stray read finds no page
     * instead of one a writer may be reusing. */
    if (txn->ts) memset(txn->ts, 0, txn->nts * sizeof *txn->ts);
    memset(&txn->meta, 0, sizeof txn->meta);
    txn->map = NULL;
    txn->snap_npages = 0;
    txn->state = BI_TXN_RESET;
    txn->snap_gen++;
    return BIRCH_OK;
}

int birch_txn_renew(birch_txn *txn)
{
    int rc = reset_target(&txn, "birch_txn_renew");
    if (rc) return rc;
    if (txn->state != BI_TXN_RESET)
        return bi_err(BIRCH_EINVAL, "birch_txn_renew: the transaction is not reset (birch_txn_reset first)");
    rc = snapshot(txn->db, txn); /* pins the newest commit, as a begin does; allocates nothing */
    if (rc) return rc;           /* still reset: it holds no slot */
    txn->state = BI_TXN_LIVE;
    txn->snap_gen++;
    return BIRCH_OK;
}

/* Ends the transaction: its memory and reader slot, then its handle slot,
 * after which its token (and every cursor's) decodes to BIRCH_ETXN; then,
 * for a writer, the commit hook (published: the commit wrote a new state)
 * and the writer gate.  The hook runs with the transaction ended, so that
 * nothing it calls can use it, and with the gate held and the
 * transaction still counted open, so that commits stay in order and
 * birch_close waits.  committed: a write transaction's commit succeeded,
 * so the allocator keeps the state it persisted. */
static void finish(birch_txn *txn, int committed, int published)
{
    birch_db *db = txn->db;
    int write = txn->write, internal = txn->internal;
    uint64_t txnid = txn->meta.txnid;
    const birch_batch *feed = txn->feed;
    if (write) {
        bi_nest_end_all(txn); /* children end with their root */
        bi_alloc_end(txn, committed);
        bi_pager_release(txn);
    }
    if (txn->ts != txn->ts_inline) free(txn->ts);
    txn->ts = NULL;
    txn->nts = 0;
    free(txn->guards);
    txn->guards = NULL;
    if (!write && txn->state != BI_TXN_RESET) bi_unpin(db, txn->snap.slot, txn->snap.gen);
    bi_txn_unclaim(txn);
    if (write) {
        if (published) bi_feed_commit(db, txnid, feed);
        bi_feed_end(db);
        unlock_writer(db);
        pthread_mutex_lock(&db->lock);
        db->live_txns--;
        pthread_mutex_unlock(&db->lock);
    }
    if (!internal) atomic_fetch_sub(&db->open_txns, 1);
}

void birch_txn_abort(birch_txn *txn)
{
    /* An ended transaction (or one of another process) is left alone; a
     * reset one ends like any; a child undoes its own changes only. */
    if (!txn || bi_txn_decode(&txn) != BIRCH_OK) return;
    if (txn->nest_root) bi_nest_abort(txn);
    else finish(txn, 0, 0);
}

/* An I/O error after writing began leaves the file's state unknown to this
 * handle (a failed fsync may have dropped pages): refuse writes until the
 * database is reopened, which re-reads the metas. */
static int io_failure(birch_db *db, int rc)
{
    if (rc == BIRCH_EIO) bi_mark_failed(db, "a commit failed writing its pages", birch_errmsg());
    return rc;
}

/* A failed meta write or sync leaves the file's state unknown, whatever
 * the system said (a full disk included): the commit reports BIRCH_EIO and
 * the handle refuses writes until the database is reopened. */
static int meta_failure(birch_db *db, int rc)
{
    char why[256];
    snprintf(why, sizeof why, "%s: %s", birch_strerror(rc), birch_errmsg()); /* bi_err below overwrites it */
    bi_mark_failed(db, "syncing the file or writing the meta page failed", why);
    return bi_err(BIRCH_EIO, "syncing the file or writing the meta page failed (%s); reopen the database", why);
}

/* Seals every table the transaction changed. */
static int seal_tables(birch_txn *txn)
{
    for (uint32_t i = 0; i < txn->nts; i++) {
        bi_tstate *ts = &txn->ts[i];
        if (!ts->dirty || !ts->exists) continue;
        int rc = bi_seal_tree(txn, &ts->tree);
        if (rc) return rc;
    }
    return BIRCH_OK;
}

/* Steps 1-2 of the commit, but the meta.  The table trees are final
 * before the catalog changes, the catalog before the allocator records
 * what every tree took and freed (its record takes pages of its own, which
 * no tree names). */
static int write_pages(birch_txn *txn)
{
    birch_db *db = txn->db;
    int rc = seal_tables(txn);
    if (rc == BIRCH_OK) rc = bi_catalog_flush(txn);
    if (rc == BIRCH_OK) rc = bi_seal_tree(txn, &txn->meta.catalog);
    if (rc == BIRCH_OK) rc = bi_seal_tree(txn, &txn->meta.savepoints);
    if (rc == BIRCH_OK) rc = bi_alloc_persist(txn);
    if (rc) return rc;
    pthread_mutex_lock(&db->lock);
    rc = bi_map_cover(db, txn->meta.npages * (uint64_t)db->psize);
    pthread_mutex_unlock(&db->lock);
    if (rc == BIRCH_OK) rc = bi_pager_flush(txn);
    return rc;
}

uint64_t bi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A non-durable commit becomes durable (a checkpoint) when the last one is
 * BI_CHECKPOINT_MS old, which bounds what a power loss can take back, as
 * libmdbx's sync period does; or once weak commits have freed a quarter of
 * the file (at least BI_CHECKPOINT_PAGES) of pages the durable state still
 * holds, which bounds the file's growth (pages written after the durable
 * state are reused without one, alloc.c).  A count of commits would
 * sync far more often under a fast workload (the benchmark's 50,000
 * non-durable commits spent most of their time in 50 checkpoints). */
static int need_checkpoint(const birch_txn *txn)
{
    birch_db *db = txn->db;
    uint64_t freed = atomic_load(&db->lk->weak_freed) + bi_alloc_freed_durable(txn);
    uint64_t limit = txn->meta.npages / 4 > BI_CHECKPOINT_PAGES ? txn->meta.npages / 4 : BI_CHECKPOINT_PAGES;
    /* Under max_size, pages that wait for a checkpoint may be all the room
     * left: a database near its limit checkpoints once they are half of
     * what it has left, so that the next commits (deletes included) find
     * them free instead of BIRCH_EFULL. */
    if (db->opts.max_size) {
        uint64_t most = db->opts.max_size / db->psize;
        uint64_t room = most > txn->meta.npages ? most - txn->meta.npages : 0;
        if (freed && freed >= room / 2) return 1;
    }
    return freed >= limit || bi_now_ms() - atomic_load(&db->lk->durable_ms) >= BI_CHECKPOINT_MS;
}

/* Publishes m (in slot) as the last commit. */
static void publish(birch_db *db, const bi_meta *m, int slot, uint64_t freed)
{
    pthread_mutex_lock(&db->lock);
    db->meta = *m;
    db->meta_slot = slot;
    bi_publish(db, m);
    if (!(m->flags & BI_META_WEAK)) {
        db->steady_slot = slot;
        db->steady_txnid = m->txnid;
        atomic_store(&db->lk->weak_freed, 0);
        atomic_store(&db->lk->durable_ms, bi_now_ms());
    } else {
        atomic_fetch_add(&db->lk->weak_freed, freed);
    }
    pthread_mutex_unlock(&db->lock);
}

/* Step 2's meta write and step 3: one sync covers pages and meta. */
static int write_meta(birch_txn *txn)
{
    birch_db *db = txn->db;
    int durable = txn->durability == BIRCH_DURABLE_FULL || need_checkpoint(txn);
    bi_meta m = txn->meta;
    BI_ASSERT(m.txnid == db->meta.txnid + 1); /* the gate kept every other writer out since begin */
    m.flags = durable ? 0 : BI_META_WEAK;
    m.base_txnid = db->steady_txnid;
    int slot = db->steady_slot ^ 1;
    int rc = bi_meta_write(db, &m, slot, durable);
    if (rc) return meta_failure(db, rc);
    publish(db, &m, slot, bi_alloc_freed_durable(txn));
    db->committed = 1;
    return BIRCH_OK;
}

/* Rewrites the last commit's meta with base = its own id into the other
 * slot, after a sync: open then trusts it without verifying any page.
 * Writing the other slot, not this one, keeps a torn write harmless. */
int bi_checkpoint(birch_db *db)
{
    pthread_mutex_lock(&db->lock);
    bi_meta m = db->meta;
    int slot = db->meta_slot ^ 1, skip = db->failed || m.base_txnid >= m.txnid;
    pthread_mutex_unlock(&db->lock);
    if (skip) return BIRCH_OK;
    /* Sync even after a durable commit: at open it may not have synced. */
    int rc = db->io.ops->sync(db->file);
    m.flags = 0;
    m.base_txnid = m.txnid;
    if (rc == BIRCH_OK) rc = bi_meta_write(db, &m, slot, 1);
    if (rc) return meta_failure(db, rc);
    publish(db, &m, slot, 0);
    return BIRCH_OK;
}

int birch_sync(birch_db *db)
{
    int rc = bi_db_check(db, "birch_sync");
    if (rc) return rc;
    if (db->opts.read_only) return BIRCH_OK;
    rc = lock_writer(db, 0, "birch_sync"); /* no commit may write a meta meanwhile */
    if (rc) return rc;
    pthread_mutex_lock(&db->lock);
    int weak = (db->meta.flags & BI_META_WEAK) != 0;
    pthread_mutex_unlock(&db->lock);
    rc = weak ? bi_checkpoint(db) : BIRCH_OK;
    unlock_writer(db);
    return rc;
}

/* Whether a write transaction changed anything.  Every change to a tree
 * (put, del, table create or drop, schema) copies at least one page, a
 * sequence number marks its table's state dirty, and
 * every page a transaction allocates ends up dirty or, freed again, in the
 * allocator's log; every page it frees, in its freed lists.  So a
 * transaction that holds none of these changed nothing: its commit writes
 * no page and no meta, syncs nothing, and leaves its id to the next
 * writer, as LMDB does.  A put undone by a del did copy pages (to new
 * places) and commits like any other: telling that its trees are equal
 * would cost a comparison of every page it touched.  A weak commit whose
 * checkpoint is due stays weak until the next commit or the flusher. */
static int txn_changed(const birch_txn *txn)
{
    if (txn->ndirty || bi_alloc_changed(txn)) return 1;
    BI_ASSERT(txn->meta.npages == txn->snap_npages);
    /* A sequence number taken changes a table's record and no page yet. */
    for (uint32_t i = 0; i < txn->nts; i++)
        if (txn->ts[i].dirty) return 1;
    return 0;
}

int birch_txn_commit(birch_txn *txn)
{
    if (!txn) return bi_err(BIRCH_EINVAL, "birch_txn_commit: txn is NULL");
    int rc = bi_txn_decode(&txn); /* a reset read transaction ends like any */
    if (rc) return rc;
    if (txn->nest_root) return bi_nest_commit(txn); /* folds into its parent */
    if (txn->nest_level)
        return bi_err(BIRCH_EBUSY, "birch_txn_commit: the transaction has an open child: commit or abort the child "
                                   "first (nothing was committed)");
    if (!atomic_load_explicit(&txn->db->tok_wiped, memory_order_relaxed) && bi_db_forked(txn->db)) /* no MADV_WIPEONFORK: the pid tells */
        return bi_db_check(txn->db, "birch_txn_commit");
    int published = 0;
    if (txn->write) {
        if (txn->state != BI_TXN_LIVE)
            rc = bi_err(BIRCH_ETXN, "birch_txn_commit: an earlier call failed in this transaction, "
                                    "so it was aborted");
        else if (txn_changed(txn)) {
            bi_feed_settle(txn); /* before the commit's page work */
            rc = write_pages(txn);
            rc = rc == BIRCH_OK ? write_meta(txn) : io_failure(txn->db, rc);
            published = rc == BIRCH_OK;
        }
    }
    finish(txn, rc == BIRCH_OK, published); /* the hook, if any, once the commit is visible */
    return rc;
}
