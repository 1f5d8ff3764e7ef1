/*
 * handles.c - transaction handles as generation-checked tokens, and the
 * fork() check.
 *
 * A birch_txn * given to the user is never a pointer to memory: it is a
 * token inside a reserved, inaccessible address range of its database.
 * Per database (and per 2^32 transactions) birch reserves a region of
 * BI_TOK_REGION bytes aligned on its size; the first page is readable and
 * holds a header (bi_tokhdr), the rest is PROT_NONE, so that dereferencing
 * a token faults at once.  The n-th transaction begun in a region gets the
 * token first + n; it lives in slot n mod nslots of the region's slot
 * table, which records n while the transaction is live.  Decoding
 * (bi_txn_use, internal.h) masks the token down to the header and compares
 * the slot's number with n: an ended transaction, whatever ran since,
 * finds another number (or none) there and gets BIRCH_ETXN.  Slots and
 * their structs are reused, never freed before birch_close, so a stale
 * token is never a use-after-free.
 *
 * Numbers are taken round-robin (an atomic counter), so a slot is reused
 * as late as possible; nslots exceeds the transactions that can be live at
 * once (max_readers readers and a writer), so a free slot is always near.
 * When a region's numbers run out, a new region takes over; the old one
 * stays mapped with its header until birch_close, so that its tokens still
 * decode (to BIRCH_ETXN once their transactions end).
 *
 * fork(): the header page is MADV_WIPEONFORK, so in a child it reads as
 * zeros; every decode there, and every database call (bi_db_forked), sees
 * the missing magic and returns BIRCH_EFORK without touching the file.
 * Where the kernel lacks MADV_WIPEONFORK, the pid recorded at open is
 * compared at begin, commit, sync and close instead.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, MADV_WIPEONFORK */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int bi_txn_bad(const void *hdr)
{
    if (((const bi_tokhdr *)hdr)->magic == 0)
        return bi_err_s(BIRCH_EFORK, "the transaction was begun in another process (this is a child of fork(): "
                                     "open the database anew)");
    return bi_err_s(BIRCH_ETXN, "not a transaction handle");
}

int bi_txn_ended(void)
{
    return bi_err_s(BIRCH_ETXN, "the transaction has ended (committed or aborted)");
}

int bi_txn_parked(void)
{
    return bi_err_s(BIRCH_ETXN, "the transaction is reset (birch_txn_reset): renew it with birch_txn_renew "
                                "before using it, or end it");
}

/* Where a region's numbering starts: somewhere in its first half, drawn
 * from the clock and the address.  A database closed and opened again
 * often gets its region at the same address; were numbering to start at 0
 * each time, the first transaction of the new handle would get the very
 * token of the first one of the old, and a handle kept across the close
 * (undefined, but the commonest such mistake) would act on another
 * transaction instead of getting BIRCH_ETXN. */
static uint64_t first_number(const bi_tokhdr *h, uint64_t limit)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return bi_mix64(x ^ (uint64_t)(uintptr_t)h) % (limit / 2 + 1);
}

/* Maps a new region: BI_TOK_REGION bytes aligned on their size, the
 * header page readable and wiped on fork.  Records it in db->regions. */
static int region_new(birch_db *db, bi_tokhdr **out)
{
    const uintptr_t size = BI_TOK_REGION;
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    bi_region *list = realloc(db->regions, (db->nregions + 1) * sizeof *list);
    if (!list) return bi_err(BIRCH_ENOMEM, "out of memory for transaction handles");
    db->regions = list;
    uint8_t *p = mmap(NULL, 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return bi_err_os(BIRCH_ENOMEM, errno, "reserving %llu bytes of address space for transaction handles",
                         (unsigned long long)size);
    uintptr_t a = ((uintptr_t)p + size - 1) & ~(size - 1), end = (uintptr_t)p + 2 * size;
    if (a > (uintptr_t)p) munmap(p, a - (uintptr_t)p);
    if (end > a + size) munmap((void *)(a + size), end - (a + size));
    /* Aligned as the type asks (internal.h): calloc's 16 bytes would not do. */
    void *mem = NULL;
    size_t bytes = db->tok_nslots * sizeof(bi_tslot);
    int merr = posix_memalign(&mem, _Alignof(bi_tslot), bytes);
    bi_tslot *slots = merr ? NULL : mem;
    if (merr) errno = merr;
    else memset(slots, 0, bytes);
    if (!slots || mprotect((void *)a, ps, PROT_READ | PROT_WRITE)) {
        int e = errno;
        free(slots);
        munmap((void *)a, size);
        return bi_err_os(BIRCH_ENOMEM, e, "setting up transaction handles");
    }
#ifdef MADV_WIPEONFORK
    int wiped = madvise((void *)a, ps, MADV_WIPEONFORK) == 0;
#else
    int wiped = 0;
#endif
    /* One region the kernel would not wipe puts the whole database on the
     * pid check (read by every begin: an atomic). */
    if (!db->nregions) atomic_init(&db->tok_wiped, wiped);
    else if (!wiped) atomic_store(&db->tok_wiped, 0);
    for (uint64_t i = 0; i < db->tok_nslots; i++) atomic_init(&slots[i].cur, BI_TOK_FREE);
    bi_tokhdr *h = (bi_tokhdr *)a;
    h->magic = BI_TOK_MAGIC;
    h->db = db;
    h->slots = slots;
    h->mask = db->tok_nslots - 1;
    h->first = a + ps;
    h->limit = db->tok_limit ? db->tok_limit : size - ps;
    atomic_init(&h->next, db->tok_limit ? 0 : first_number(h, h->limit));
    db->regions[db->nregions++] = (bi_region){h, slots};
    *out = h;
    return BIRCH_OK;
}

int bi_handles_init(birch_db *db)
{
    uint64_t n = 1;
    while (n < (uint64_t)db->max_readers + 2) n *= 2; /* every reader, the writer, one ending */
    db->tok_nslots = n;
    db->pid = getpid();
    bi_tokhdr *h;
    int rc = region_new(db, &h);
    if (rc) return rc;
    atomic_init(&db->tok, h);
    db->tok_first = h; /* never changes: the fork check reads it without a lock */
    return BIRCH_OK;
}

void bi_handles_free(birch_db *db)
{
    for (unsigned r = 0; r < db->nregions; r++) {
        bi_region *g = &db->regions[r];
        /* Live slots only remain in a fork child, whose copies these are. */
        for (uint64_t i = 0; i < db->tok_nslots; i++) {
            birch_txn *t = &g->slots[i].txn;
            if (atomic_load(&g->slots[i].cur) == BI_TOK_FREE) continue;
            if (t->write) bi_pager_release(t);
            if (t->ts != t->ts_inline) free(t->ts);
        }
        free(g->slots);
        munmap(g->hdr, BI_TOK_REGION);
    }
    free(db->regions);
    db->regions = NULL;
    db->nregions = 0;
}

int bi_db_forked(birch_db *db)
{
    if (db->tok_first->magic != BI_TOK_MAGIC) return 1;
    return !atomic_load_explicit(&db->tok_wiped, memory_order_relaxed) && getpid() != db->pid;
}

int bi_db_check(birch_db *db, const char *who)
{
    if (!db) return bi_err(BIRCH_EINVAL, "%s: db is NULL", who);
    if (bi_db_forked(db))
        return bi_err(BIRCH_EFORK, "%s: the database was opened by another process (this is a child of fork(): "
                                   "open it anew)", who);
    return BIRCH_OK;
}

int bi_txn_claim(birch_db *db, birch_txn **out)
{
    uint64_t tries = 0;
    for (;;) {
        bi_tokhdr *h = atomic_load_explicit(&db->tok, memory_order_acquire);
        uint64_t n = atomic_fetch_add_explicit(&h->next, 1, memory_order_relaxed);
        /* Every slot of the region held (readers are capped below the
         * slots, but nested transactions are not): after two laps, a new
         * region, with slots of its own, rather than billions of numbers. */
        if (++tries > 2 * (h->mask + 1)) n = h->limit, tries = 0;
        if (n >= h->limit) {
            /* This region's numbers are used up: the first to see it makes
             * the next; the others find it made. */
            int rc = BIRCH_OK;
            pthread_mutex_lock(&db->lock);
            if (atomic_load(&db->tok) == h) {
                bi_tokhdr *nh;
                rc = region_new(db, &nh);
                if (rc == BIRCH_OK) atomic_store_explicit(&db->tok, nh, memory_order_release);
            }
            pthread_mutex_unlock(&db->lock);
            if (rc) return rc;
            continue;
        }
        bi_tslot *s = &h->slots[n & h->mask];
        uint64_t want = BI_TOK_FREE;
        if (!atomic_compare_exchange_strong_explicit(&s->cur, &want, n, memory_order_acquire,
                                                     memory_order_relaxed))
            continue; /* a long transaction holds this slot: the next number */
        memset(&s->txn, 0, sizeof s->txn);
        s->txn.token = (birch_txn *)(h->first + n);
        s->txn.tslot = s;
        *out = &s->txn;
        return BIRCH_OK;
    }
}

void bi_txn_unclaim(birch_txn *txn)
{
    /* Ending a transaction twice would free a slot another may hold. */
    BI_ASSERT(atomic_load_explicit(&txn->tslot->cur, memory_order_relaxed) != BI_TOK_FREE);
    atomic_store_explicit(&txn->tslot->cur, BI_TOK_FREE, memory_order_release);
}
