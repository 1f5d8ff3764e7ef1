/*
 * readers.c - the reader table and the published snapshot: how a read
 * transaction or a guard pins a snapshot without a lock or a system call,
 * in any process that has the file open (the table lives in the lock
 * file, share.h; or in the handle's memory when it is private).
 *
 * The writer publishes each commit's meta double-buffered: it rewrites
 * the copy readers are not directed to (its sequence odd meanwhile), then
 * directs them to it.  A reader copies the words and retries if the
 * copy's sequence moved or was odd; a writer killed mid-rewrite leaves
 * the other copy whole, so no reader ever waits for a dead process.  A
 * reader then pins a slot its handle holds by compare-and-swap, storing
 * the snapshot's transaction id, and checks that the published id is
 * still the one it copied.  If it is, any writer that computes the oldest
 * reader from now on sees the slot; a writer that computed it earlier
 * started from this very snapshot, so it only reuses pages this snapshot
 * cannot see.  If it is not, the reader lets the slot go and starts over.
 * LMDB registers its readers the same way.
 *
 * A handle takes slots for itself, one by one as concurrent readers need
 * them, and keeps them until close, so that the read path touches only
 * slots no other handle writes.  A slot whose handle died (its process
 * was killed) is stale: writers skip it (the oldest reader ignores it)
 * and a handle that needs a slot takes it over.
 *
 * Each slot also has a generation, bumped when it is pinned and when it is
 * let go (by compare-and-swap against the pin's own): a guard copied and
 * released twice finds the generation moved on and is refused, even when
 * another pin holds the slot by then.
 */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "internal.h"

void bi_publish(birch_db *db, const bi_meta *m)
{
    uint64_t w[BI_META_WORDS];
    memcpy(w, m, sizeof w);
    bi_lkhdr *h = db->lk;
    uint64_t j = (atomic_load_explicit(&h->pub_idx, memory_order_relaxed) + 1) & 1;
    bi_lkpub *p = &h->pub[j];
    /* Odd whatever a writer killed here left: (s + 2) | 1. */
    uint64_t seq = (atomic_load_explicit(&p->seq, memory_order_relaxed) + 2) | 1;
    atomic_store_explicit(&p->seq, seq, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < BI_META_WORDS; i++) atomic_store_explicit(&p->w[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&p->seq, seq + 1, memory_order_release);
    atomic_store_explicit(&h->pub_idx, j, memory_order_release);
}

static uint64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* the vDSO: no system call */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A copy readers are directed to is rewritten only by a publication two
 * commits later, so a reader retries at most a few times.  One that keeps
 * finding it mid-rewrite is reading garbage (the lock file damaged while
 * in use): after this long, an error instead of a spin without end. */
#define BI_PUB_PATIENCE_MS 1000u

int bi_published(birch_db *db, bi_meta *m)
{
    uint64_t w[BI_META_WORDS];
    bi_lkhdr *h = db->lk;
    uint64_t deadline = 0;
    for (unsigned spins = 1;; spins++) {
        bi_lkpub *p = &h->pub[atomic_load_explicit(&h->pub_idx, memory_order_acquire) & 1];
        uint64_t s1 = atomic_load_explicit(&p->seq, memory_order_acquire);
        if (!(s1 & 1)) {
            for (size_t i = 0; i < BI_META_WORDS; i++) w[i] = atomic_load_explicit(&p->w[i], memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&p->seq, memory_order_relaxed) == s1) break;
        }
        if (spins % 1024) continue;
        uint64_t now = coarse_ms();
        if (!deadline) deadline = now + BI_PUB_PATIENCE_MS;
        else if (now >= deadline)
            return bi_err(BIRCH_ECORRUPT, "the lock file's published snapshot is damaged (its copy stays "
                                          "mid-rewrite): close every handle of the database, and the next open "
                                          "rebuilds the lock file");
        sched_yield();
    }
    memcpy(m, w, sizeof *m);
    return BIRCH_OK;
}

/* The published transaction id, or UINT64_MAX when the publication is
 * damaged (a pin then fails; bi_oldest_reader falls back). */
static uint64_t published_txnid(birch_db *db)
{
    bi_meta m;
    return bi_published(db, &m) == BIRCH_OK ? m.txnid : UINT64_MAX;
}

/* The map that covers npages pages: another process may have grown the
 * file past this one's map, which is then mapped again (the old map stays,
 * so no pointer handed out moves). */
static int map_for(birch_db *db, uint64_t npages, uint8_t **map)
{
    uint64_t need = npages * (uint64_t)db->psize;
    bi_map *m = atomic_load_explicit(&db->rmap, memory_order_acquire);
    if (m->len >= need) {
        *map = m->addr;
        return BIRCH_OK;
    }
    pthread_mutex_lock(&db->lock);
    int rc = bi_map_cover(db, need);
    m = atomic_load_explicit(&db->rmap, memory_order_acquire);
    pthread_mutex_unlock(&db->lock);
    *map = m->addr;
    return rc;
}


static void used_at_least(bi_lkhdr *h, uint32_t n)
{
    uint32_t u = atomic_load(&h->used);
    while (u < n && !atomic_compare_exchange_weak(&h->used, &u, n)) {
    }
}

/* Takes slot i for this handle if its owner is want (0: free; else a dead
 * handle's token).  The new holder alone writes it from now on. */
static int slot_take(birch_db *db, uint32_t i, uint64_t want)
{
    bi_lkslot *s = &db->slots[i];
    if (!atomic_compare_exchange_strong(&s->owner, &want, db->token)) return 0;
    atomic_store(&s->txnid, BI_FREE_SLOT);
    /* A holder killed while pinned left the generation odd: idle is even. */
    uint64_t g = atomic_load(&s->gen);
    if (g & 1) atomic_store(&s->gen, g + 1);
    uint32_t k = atomic_load(&db->nown);
    db->own[k] = i;
    atomic_store_explicit(&db->nown, k + 1, memory_order_release);
    used_at_least(db->lk, i + 1);
    return 1;
}

/* One more slot for this handle (db->lock held): a free one, else one a
 * dead handle held.  BIRCH_EBUSY when every slot is held by live ones. */
static int slot_claim(birch_db *db)
{
    if (atomic_load(&db->nown) >= db->max_readers)
        return bi_err(BIRCH_EBUSY, "all %u reader slots are taken (read transactions, guards and streams; "
                                   "see birch_options.max_readers)", db->max_readers);
    for (uint32_t i = 0; i < db->nslots; i++)
        if (atomic_load(&db->slots[i].owner) == 0 && slot_take(db, i, 0)) return BIRCH_OK;
    for (uint32_t i = 0; i < db->nslots; i++) {
        uint64_t o = atomic_load(&db->slots[i].owner);
        if (o != BI_SLOT_CLEARING && !bi_owner_alive(db, o, 1) && slot_take(db, i, o)) return BIRCH_OK;
    }
    return bi_err(BIRCH_EBUSY, "all %u reader slots of the lock file are held by live handles (read transactions, "
                               "guards and streams in every process; the first open's max_readers sets the number)",
                  db->nslots);
}

/* Pins T in one of this handle's idle slots: its index, or -1. */
static int64_t slot_pin(birch_db *db, uint64_t t)
{
    uint32_t n = atomic_load_explicit(&db->nown, memory_order_acquire);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = db->own[k];
        uint64_t want = BI_FREE_SLOT;
        if (atomic_compare_exchange_strong(&db->slots[i].txnid, &want, t)) return i;
    }
    return -1;
}

int bi_pin(birch_db *db, bi_snap *s)
{
    for (;;) {
        int rc = bi_published(db, &s->meta);
        if (rc) return rc;
        int64_t i = slot_pin(db, s->meta.txnid);
        if (i < 0) {
            pthread_mutex_lock(&db->lock);
            rc = slot_claim(db);
            pthread_mutex_unlock(&db->lock);
            if (rc) return rc;
            continue;
        }
        bi_lkslot *sl = &db->slots[i];
        if (published_txnid(db) == s->meta.txnid) {
            rc = map_for(db, s->meta.npages, &s->map);
            if (rc) {
                atomic_store(&sl->txnid, BI_FREE_SLOT);
                return rc;
            }
            s->slot = (uint32_t)i;
            /* Only the holder moves the generation while it holds the slot:
             * pins get odd numbers, unpins even ones, never reused. */
            s->gen = atomic_fetch_add(&sl->gen, 1) + 1;
            BI_ASSERT(s->gen & 1); /* an even generation would be a free slot's */
            atomic_store_explicit(&sl->pin_ms, coarse_ms(), memory_order_relaxed);
            atomic_fetch_add(&db->pinned, 1);
            return BIRCH_OK;
        }
        atomic_store(&sl->txnid, BI_FREE_SLOT); /* a commit slipped in: again */
    }
}

int bi_unpin(birch_db *db, uint32_t slot, uint64_t gen)
{
    bi_lkslot *s = &db->slots[slot];
    if (!atomic_compare_exchange_strong(&s->gen, &gen, gen + 1)) return -1;
    atomic_store(&s->txnid, BI_FREE_SLOT);
    atomic_fetch_sub(&db->pinned, 1);
    return 0;
}

uint64_t bi_oldest_reader(birch_db *db, uint32_t *live)
{
    uint64_t oldest = published_txnid(db);
    if (oldest == UINT64_MAX) oldest = db->meta.txnid; /* damaged: the writer republishes (txn.c) */
    uint32_t used = atomic_load(&db->lk->used);
    if (live) *live = 0;
    for (uint32_t i = 0; i < used && i < db->nslots; i++) {
        uint64_t t = atomic_load(&db->slots[i].txnid);
        if (t == BI_FREE_SLOT || (t >= oldest && !live)) continue; /* a writer asks only about older pins */
        /* Read after the id: a slot taken over since shows its new holder,
         * whose pin is the published snapshot (this writer holds the lock,
         * so none newer exists) and never lowers the limit. */
        if (!bi_owner_alive(db, atomic_load(&db->slots[i].owner), 0)) continue;
        if (live) (*live)++;
        if (t < oldest) oldest = t;
    }
    return oldest;
}

int bi_slot_info(birch_db *db, uint32_t i, birch_reader_info *r)
{
    bi_lkslot *s = &db->slots[i];
    uint64_t o = atomic_load(&s->owner);
    if (o == 0 || o == BI_SLOT_CLEARING) return 0;
    uint64_t t = atomic_load(&s->txnid), at = atomic_load(&s->pin_ms), now = coarse_ms();
    memset(r, 0, sizeof *r);
    r->slot = i;
    uint32_t k = BI_TOKEN_INDEX(o);
    r->pid = k < db->nslots ? atomic_load(&db->owners[k].pid) : 0;
    r->txnid = t == BI_FREE_SLOT ? 0 : t;
    r->age_ms = t == BI_FREE_SLOT || now < at ? 0 : now - at;
    pthread_mutex_lock(&db->lock);
    r->alive = bi_owner_alive(db, o, 1);
    pthread_mutex_unlock(&db->lock);
    return 1;
}

int bi_slot_clear(birch_db *db, uint32_t i)
{
    bi_lkslot *s = &db->slots[i];
    uint64_t o = atomic_load(&s->owner);
    if (o == 0 || o == BI_SLOT_CLEARING) return 0;
    pthread_mutex_lock(&db->lock);
    int alive = bi_owner_alive(db, o, 1);
    pthread_mutex_unlock(&db->lock);
    /* Emptied under a marker no claimer takes, so that a handle taking the
     * slot over meanwhile never has its pin wiped. */
    if (alive || !atomic_compare_exchange_strong(&s->owner, &o, BI_SLOT_CLEARING)) return 0;
    atomic_store(&s->txnid, BI_FREE_SLOT);
    atomic_store(&s->owner, 0);
    return 1;
}
