/*
 * readers.c - the reader table and the published snapshot: how a read
 * transaction or a guard pins a snapshot without a lock or a syscall.
 *
 * The writer publishes each commit's meta (and the map it needs) under a
 * sequence lock: an odd sequence number means a publication is under way,
 * and a reader copies the words and retries if the number moved.  A reader
 * then claims a slot in the reader table by compare-and-swap, storing the
 * snapshot's transaction id, and checks that the published id is still
 * the one it copied.  If it is, any writer that computes the oldest reader
 * from now on sees the slot; a writer that computed it earlier started
 * from this very snapshot, so it only reuses pages this snapshot cannot
 * see.  If it is not, the reader lets the slot go and starts over.  LMDB
 * registers its readers the same way.
 *
 * Each slot also has a generation, bumped when it is pinned and when it is
 * let go (by compare-and-swap against the pin's own): a guard copied and
 * released twice finds the generation moved on and is refused, even when
 * another pin holds the slot by then.
 *
 * All shared words are C11 atomics, so the scheme is also clean under
 * ThreadSanitizer.
 */
#include <string.h>

#include "internal.h"

#define BI_FREE_SLOT UINT64_MAX

void bi_readers_init(birch_db *db)
{
    for (uint32_t i = 0; i < db->max_readers; i++) {
        atomic_init(&db->readers[i], BI_FREE_SLOT);
        atomic_init(&db->reader_gen[i], 0);
    }
    atomic_init(&db->pub_seq, 0);
    for (size_t i = 0; i < BI_PUB_WORDS; i++) atomic_init(&db->pub[i], 0);
    atomic_init(&db->pinned, 0);
}

void bi_publish(birch_db *db, const bi_meta *m, uint8_t *map)
{
    uint64_t w[BI_PUB_WORDS];
    memcpy(w, m, sizeof *m);
    w[BI_PUB_WORDS - 1] = (uint64_t)(uintptr_t)map;
    uint64_t seq = atomic_load_explicit(&db->pub_seq, memory_order_relaxed);
    atomic_store_explicit(&db->pub_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < BI_PUB_WORDS; i++) atomic_store_explicit(&db->pub[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&db->pub_seq, seq + 2, memory_order_release);
}

/* Copies the published snapshot; retries while a publication runs. */
static void read_published(birch_db *db, bi_snap *s)
{
    uint64_t w[BI_PUB_WORDS];
    for (;;) {
        uint64_t s1 = atomic_load_explicit(&db->pub_seq, memory_order_acquire);
        if (s1 & 1) continue;
        for (size_t i = 0; i < BI_PUB_WORDS; i++) w[i] = atomic_load_explicit(&db->pub[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&db->pub_seq, memory_order_relaxed) == s1) break;
    }
    memcpy(&s->meta, w, sizeof s->meta);
    s->map = (uint8_t *)(uintptr_t)w[BI_PUB_WORDS - 1];
}

static uint64_t published_txnid(birch_db *db)
{
    bi_snap s;
    read_published(db, &s);
    return s.meta.txnid;
}

int bi_pin(birch_db *db, bi_snap *s)
{
    for (;;) {
        read_published(db, s);
        uint32_t i;
        for (i = 0; i < db->max_readers; i++) {
            uint64_t want = BI_FREE_SLOT;
            if (atomic_compare_exchange_strong(&db->readers[i], &want, s->meta.txnid)) break;
        }
        if (i == db->max_readers)
            return bi_err(BIRCH_EBUSY, "all %u reader slots are taken (read transactions, guards and streams; "
                                       "see birch_options.max_readers)", db->max_readers);
        if (published_txnid(db) == s->meta.txnid) {
            s->slot = i;
            /* Only the holder moves the generation while it holds the slot:
             * pins get odd numbers, unpins even ones, never reused. */
            s->gen = atomic_fetch_add(&db->reader_gen[i], 1) + 1;
            BI_ASSERT(s->gen & 1); /* an even generation would be a free slot's */
            atomic_fetch_add(&db->pinned, 1);
            return BIRCH_OK;
        }
        atomic_store(&db->readers[i], BI_FREE_SLOT); /* a commit slipped in: again */
    }
}

int bi_unpin(birch_db *db, uint32_t slot, uint64_t gen)
{
    if (!atomic_compare_exchange_strong(&db->reader_gen[slot], &gen, gen + 1)) return -1;
    atomic_store(&db->readers[slot], BI_FREE_SLOT);
    atomic_fetch_sub(&db->pinned, 1);
    return 0;
}

uint64_t bi_oldest_reader(birch_db *db)
{
    uint64_t oldest = published_txnid(db);
    for (uint32_t i = 0; i < db->max_readers; i++) {
        uint64_t t = atomic_load(&db->readers[i]);
        if (t < oldest) oldest = t;
    }
    return oldest;
}
