/*
 * alloc.c - the page allocator's calls (alloc.h): a write transaction's
 * pages, taken and freed, and its run.
 *
 * The state (freespace.c) lives in memory between write transactions and
 * is loaded from the map (freemap.c) on a transaction's first need; a
 * transaction that aborts drops it, and the next replays the committed
 * map.  Single pages come from the transaction's run, so that a commit's
 * pages are contiguous (DESIGN.md 5.2); runs of pages (overflow values)
 * from the shortest free run that holds them.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc_impl.h"

#define RES_MIN 8u      /* a one-put commit: its path, the catalog leaf, the map's record */
#define RES_MAX 1024u   /* large transactions take runs this long */
#define RES_SCAN 64u    /* free runs looked at, lowest first, for one */
#define RES_FLOOR 8u    /* a shorter free run is scattered pages: a one-put commit needs up to 8 */
#define RES_PLENTY 128u /* free pages (or 1/16 of the file) that are used even scattered */

int bi_alloc_begin(birch_txn *txn, uint64_t oldest, uint64_t durable)
{
    birch_db *db = txn->db;
    bi_alloc *a = db->alloc;
    a->lim[0] = oldest < durable ? oldest : durable;
    a->lim[1] = oldest;
    a->durable = durable;
    a->dry = a->persisted = 0;
    a->res_len = 0;
    a->res_want = RES_MIN;
    a->ops.n = 0;
    a->freed[0].n = a->freed[1].n = 0;
    uint64_t committed = txn->meta.txnid - 1;
    if (a->loaded && (a->state != committed || memcmp(&a->head, &txn->meta.freemap, sizeof a->head)))
        bi_fs_clear(a); /* another commit's state: load this one when first needed */
    return BIRCH_OK;
}

/* Loads the committed map on the transaction's first use of it, so that a
 * damaged map fails the writes that need it, not every write transaction
 * (reads and a transaction that only reads go on). */
int bi_alloc_loaded(birch_txn *txn, bi_alloc *a)
{
    if (a->loaded) return BIRCH_OK;
    bi_fm_src s = {txn->db, txn->map, txn->snap_npages};
    bi_meta m = txn->meta;
    m.txnid--; /* the committed state's */
    m.npages = txn->snap_npages;
    int rc = bi_fm_load(a, &s, &m, 1);
    if (rc) bi_fs_clear(a);
    return rc;
}

/* Pages past the end of the file's state (which the pager grows at commit). */
uint64_t bi_alloc_del_reserve(const birch_db *db)
{
    uint64_t pages = db->opts.max_size / db->psize;
    return pages / 8 < BI_DEL_RESERVE ? pages / 8 : BI_DEL_RESERVE;
}

uint64_t bi_alloc_max_pages(const birch_txn *txn)
{
    const birch_db *db = txn->db;
    if (!db->opts.max_size) return UINT64_MAX;
    uint64_t pages = db->opts.max_size / db->psize;
    return txn->grows ? pages - bi_alloc_del_reserve(db) : pages;
}

static int extend(birch_txn *txn, uint64_t n, uint64_t *pgno)
{
    birch_db *db = txn->db;
    uint64_t have = txn->meta.npages, limit = UINT64_MAX / db->psize; /* pages with a byte offset */
    if (n > limit || have > limit - n)
        return bi_err(BIRCH_EFULL, "%llu + %llu pages of %u bytes would exceed 2^64 bytes", (unsigned long long)have,
                      (unsigned long long)n, db->psize);
    uint64_t next = have + n, most = bi_alloc_max_pages(txn);
    if (next > most)
        return bi_err(BIRCH_EFULL, "max_size reached: %llu pages of %u bytes would exceed %llu bytes%s",
                      (unsigned long long)next, db->psize, (unsigned long long)db->opts.max_size,
                      txn->grows ? " (less the pages kept for deletes)" : "");
    *pgno = have;
    txn->meta.npages = next;
    return BIRCH_OK;
}

/* Takes n pages: free ones, then (once per transaction, if may_reclaim)
 * every pending group that has become free, then the file's end.
 * *from_free tells whether they came from free (a delta records that). */
int bi_alloc_take(birch_txn *txn, bi_alloc *a, uint64_t n, int may_reclaim, uint64_t *pgno, int *from_free)
{
    int rc = bi_fs_take(a, n, pgno, from_free);
    if (rc == BIRCH_OK && !*from_free && may_reclaim && !a->dry) {
        int got;
        a->dry = 1; /* the limits are fixed and groups only come at commit */
        rc = bi_fs_reclaim(a, &got);
        if (rc == BIRCH_OK && got) rc = bi_fs_take(a, n, pgno, from_free);
    }
    if (rc) return rc;
    return *from_free ? BIRCH_OK : extend(txn, n, pgno);
}

int bi_alloc_log(bi_alloc *a, int op, uint64_t x, uint64_t y)
{
    int rc = bi_varint_put(&a->ops, (uint64_t)op);
    if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, x);
    if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, y);
    return rc;
}

int bi_alloc_log_pend(bi_alloc *a, uint64_t key, uint64_t start, uint64_t len)
{
    int rc = bi_varint_put(&a->ops, OP_PEND);
    if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, key);
    if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, start);
    if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, len);
    return rc;
}

/* The run to refill the transaction's run from: the lowest of the
 * lowest RES_SCAN free runs that holds want pages, else the longest of
 * them (the scan is bounded: a fragmented file has many runs, and every
 * commit refills once). */
static size_t res_fit(const bi_alloc *a, uint64_t want)
{
    size_t longest = a->free.n;
    for (size_t k = 0, i = a->free.n; k < RES_SCAN && i-- > 0; k++) {
        uint64_t len = a->free.v[i].len;
        if (len >= want) return i;
        if (longest == a->free.n || len > a->free.v[longest].len) longest = i;
    }
    return longest;
}

/* Whether free space is plentiful: then a transaction takes free pages
 * even where they are scattered, rather than grow the file for a run. */
static int free_plenty(const birch_txn *txn, const bi_alloc *a)
{
    uint64_t floor = txn->meta.npages / 16 > RES_PLENTY ? txn->meta.npages / 16 : RES_PLENTY;
    return a->free_pages >= floor;
}

/* Takes a new run for the transaction (the old one is used up), want
 * pages (twice the last, up to RES_MAX): the shortest free run that holds
 * them among the lowest RES_SCAN, else the longest of those, once pending
 * groups that have become free are reclaimed.  A run shorter than
 * RES_FLOOR (scattered pages) is taken only when free space is plentiful;
 * otherwise RES_MIN pages at the file's end make the run, and what the
 * commit leaves of them is free for the next ones, which keeps small
 * commits contiguous in steady state (DESIGN.md 5.2). */
static int refill(birch_txn *txn, bi_alloc *a)
{
    uint64_t want = a->res_want;
    if (a->res_want < RES_MAX) a->res_want *= 2;
    int rc = BIRCH_OK, got;
    size_t i = res_fit(a, want);
    if ((i == a->free.n || a->free.v[i].len < want) && !a->dry) { /* pending pages may make a longer run */
        a->dry = 1;
        rc = bi_fs_reclaim(a, &got);
        if (rc == BIRCH_OK && got) i = res_fit(a, want);
    }
    if (rc) return rc;
    uint64_t have = i < a->free.n ? a->free.v[i].len : 0;
    if (have < RES_FLOOR && (!have || !free_plenty(txn, a))) {
        uint64_t n = RES_MIN, room = bi_alloc_max_pages(txn);
        if (room > txn->meta.npages && room - txn->meta.npages < n) n = room - txn->meta.npages;
        if (room <= txn->meta.npages) n = 1; /* full: the message names the one page needed */
        bi_errmark mark = bi_err_mark(); /* past max_size: free pages, if any, will do */
        rc = extend(txn, n, &a->res_start);
        bi_err_end(mark, rc == BIRCH_OK || have);
        if (rc == BIRCH_OK) {
            a->res_len = n;
            a->res_end = 1;
            return BIRCH_OK;
        }
        if (!have) return rc;
    }
    uint64_t start = a->free.v[i].start, len = have < want ? have : want;
    rc = bi_fs_del(a, start, len);
    if (rc == BIRCH_OK) rc = bi_alloc_log(a, OP_TAKE, start, len);
    if (rc) return rc;
    a->res_start = start;
    a->res_len = len;
    a->res_end = 0;
    return BIRCH_OK;
}

/* Gives the rest of the transaction's run back: a run taken at the
 * file's end that still ends there shrinks npages (those pages were never
 * handed out, and a commit that only grew the file then records nothing
 * in the map); any other goes back to free. */
int bi_alloc_release_run(birch_txn *txn, bi_alloc *a)
{
    if (!a->res_len) return BIRCH_OK;
    if (a->res_end && a->res_start + a->res_len == txn->meta.npages) {
        txn->meta.npages = a->res_start;
        a->res_len = 0;
        return BIRCH_OK;
    }
    int rc = bi_fs_add(a, a->res_start, a->res_len);
    if (rc == BIRCH_OK) rc = bi_alloc_log(a, OP_FREE, a->res_start, a->res_len);
    a->res_len = 0;
    return rc;
}

/* bi_page_alloc; zero: the buffer is zeroed (a copy that overwrites it
 * whole need not be). */
static int alloc_pages(birch_txn *txn, uint32_t n, int zero, uint64_t *pgno, uint8_t **buf)
{
    bi_alloc *a = txn->db->alloc;
    int from_free = 0;
    int rc = bi_alloc_loaded(txn, a);
    if (rc == BIRCH_OK && n == 1) { /* the common case: the next page of the transaction's run */
        if (!a->res_len) rc = refill(txn, a);
        if (rc) return rc;
        *pgno = a->res_start++;
        a->res_len--;
        if (bi_page_is_dirty(txn, *pgno))
            return BI_CORRUPT("free-space map: page %llu listed as free while this transaction uses it",
                              (unsigned long long)*pgno);
        return bi_dirty_new(txn, *pgno, 1, zero, buf);
    }
    if (rc == BIRCH_OK) rc = bi_alloc_take(txn, a, n, 1, pgno, &from_free);
    if (rc) return rc;
    if (from_free) {
        /* A damaged map may list a page this transaction already holds. */
        for (uint32_t i = 0; i < n; i++)
            if (bi_page_is_dirty(txn, *pgno + i))
                return BI_CORRUPT("free-space map: page %llu listed as free while this transaction uses it",
                                  (unsigned long long)(*pgno + i));
        rc = bi_alloc_log(a, OP_TAKE, *pgno, n);
        if (rc) return rc;
    }
    return bi_dirty_new(txn, *pgno, n, zero, buf);
}

int bi_page_alloc(birch_txn *txn, uint32_t n, uint64_t *pgno, uint8_t **buf)
{
    return alloc_pages(txn, n, 1, pgno, buf);
}

/* bi_page_free; unread: the page is not read to tell whether it is young
 * (a range deletion frees leaves by their numbers), and goes with the
 * durable state's pages, whose reuse waits the longer. */
static int page_free(birch_txn *txn, uint64_t pgno, uint32_t n, int unread);

int bi_page_free(birch_txn *txn, uint64_t pgno, uint32_t n)
{
    return page_free(txn, pgno, n, 0);
}

int bi_page_free_unread(birch_txn *txn, uint64_t pgno, uint32_t n)
{
    return page_free(txn, pgno, n, 1);
}

static int page_free(birch_txn *txn, uint64_t pgno, uint32_t n, int unread)
{
    bi_alloc *a = txn->db->alloc;
    int rc = bi_alloc_loaded(txn, a);
    if (rc == BIRCH_OK && txn->nest_level) rc = bi_nest_keep(txn, pgno); /* a parent's page: kept for an abort */
    if (rc) return rc;
    if (bi_dirty_drop(txn, pgno)) { /* born in this transaction: no snapshot has seen it */
        rc = bi_fs_add(a, pgno, n);
        return rc ? rc : bi_alloc_log(a, OP_FREE, pgno, n);
    }
    if (bi_fs_has(a, pgno, n) || (pgno < a->res_start + a->res_len && pgno + n > a->res_start))
        return BI_CORRUPT("free-space map: page %llu listed as free while a tree still used it (the tree just freed it)",
                          (unsigned long long)pgno);
    /* A page written after the durable state is not part of it: only
     * snapshots constrain its reuse. */
    const uint8_t *p = unread ? NULL : bi_page_get(txn, pgno);
    int young = p && ((const bi_phdr *)(const void *)p)->txnid > a->durable;
    return bi_rv_push(&a->freed[young], pgno, n);
}

int bi_page_touch(birch_txn *txn, uint64_t pgno, uint64_t *newpgno, uint8_t **buf)
{
    uint8_t *src = bi_page_get(txn, pgno);
    if (!src) return BI_CORRUPT("page %llu: outside the file", (unsigned long long)pgno);
    if (txn->nest_level) { /* a parent's page is copied before a child changes it */
        int rc = bi_nest_keep(txn, pgno);
        if (rc) return rc;
        src = bi_page_get(txn, pgno);
    }
    if (bi_page_changing(txn, pgno)) {
        *newpgno = pgno;
        *buf = src;
        return BIRCH_OK;
    }
    /* A spilled page (spill.c) is this transaction's: read back into
     * memory at its own number, as LMDB unspills, and written again at
     * commit.  Copying it to a new page instead would free one page per
     * touch and leave a large transaction's file full of scattered holes. */
    uint64_t csum;
    if (bi_page_spilled(txn, pgno, &csum)) {
        *newpgno = pgno;
        return bi_dirty_unspill(txn, pgno, buf);
    }
    int rc = alloc_pages(txn, 1, 0, newpgno, buf);
    if (rc) return rc;
    if (*newpgno == pgno)
        return BI_CORRUPT("free-space map: page %llu listed as free while a tree uses it", (unsigned long long)pgno);
    memcpy(*buf, src, txn->db->psize);
    bi_hdr(*buf)->pgno = *newpgno;
    return bi_page_free(txn, pgno, 1);
}

int bi_alloc_changed(const birch_txn *txn)
{
    const bi_alloc *a = txn->db->alloc;
    return a->ops.n || a->freed[0].n || a->freed[1].n || a->res_len;
}

uint64_t bi_alloc_freed_durable(const birch_txn *txn)
{
    const bi_alloc *a = txn->db->alloc;
    uint64_t n = 0;
    for (size_t i = 0; i < a->freed[0].n; i++) n += a->freed[0].v[i].len;
    return n;
}

void bi_alloc_end(birch_txn *txn, int committed)
{
    bi_alloc *a = txn->db->alloc;
    if (!a) return;
    if (committed && a->loaded && (a->persisted || !bi_alloc_changed(txn))) {
        if (a->persisted) a->state = txn->meta.txnid; /* else the state is still the last commit's */
        a->ops.n = 0;
        a->freed[0].n = a->freed[1].n = 0;
    } else {
        bi_fs_clear(a);
    }
}

int bi_alloc_save(birch_txn *txn, bi_alloc **saved)
{
    bi_alloc *c = malloc(sizeof *c);
    if (!c) return bi_err(BIRCH_ENOMEM, "out of memory for a nested transaction");
    int rc = bi_fs_copy(c, txn->db->alloc);
    if (rc) {
        free(c);
        return rc;
    }
    *saved = c;
    return BIRCH_OK;
}

void bi_alloc_restore(birch_txn *txn, bi_alloc *saved)
{
    bi_alloc *a = txn->db->alloc;
    bi_fs_clear(a);
    *a = *saved; /* the copy's vectors are the allocator's now */
    free(saved);
}

void bi_alloc_forget(bi_alloc *saved)
{
    if (!saved) return;
    bi_fs_clear(saved);
    free(saved);
}

/* ---- Savepoints: pages in use again ------------------------------------------ */

typedef struct rv_ent {
    uint64_t start, len;
    uint64_t key;   /* the group's (txnid << 1 | young), or FREED_BY_TXN | queue */
} rv_ent;

#define FREED_BY_TXN (UINT64_MAX - 1)

struct bi_revive {
    rv_ent *v;
    size_t n, cap;
};

static int rv_add(bi_revive *ix, uint64_t start, uint64_t len, uint64_t key)
{
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 256;
        rv_ent *v = realloc(ix->v, cap * sizeof *v);
        if (!v) return bi_err(BIRCH_ENOMEM, "out of memory listing %zu pending runs", cap);
        ix->v = v;
        ix->cap = cap;
    }
    ix->v[ix->n++] = (rv_ent){start, len, key};
    return BIRCH_OK;
}

static int cmp_rv(const void *x, const void *y)
{
    uint64_t a = ((const rv_ent *)x)->start, b = ((const rv_ent *)y)->start;
    return a < b ? -1 : a > b;
}

int bi_alloc_revive_begin(birch_txn *txn, uint64_t after, bi_revive **out)
{
    bi_alloc *a = txn->db->alloc;
    int rc = bi_alloc_loaded(txn, a);
    bi_revive *ix = calloc(1, sizeof *ix);
    if (rc == BIRCH_OK && !ix) rc = bi_err(BIRCH_ENOMEM, "out of memory restoring a savepoint");
    for (int k = 0; k < 2 && rc == BIRCH_OK; k++) {
        for (size_t g = a->q[k].head; g < a->q[k].n && rc == BIRCH_OK; g++) {
            const group *gr = &a->q[k].v[g];
            if (gr->txnid <= after) continue;
            for (size_t i = 0; i < gr->runs.n && rc == BIRCH_OK; i++)
                rc = rv_add(ix, gr->runs.v[i].start, gr->runs.v[i].len, gr->txnid << 1 | (uint64_t)k);
        }
        for (size_t i = 0; i < a->freed[k].n && rc == BIRCH_OK; i++)
            rc = rv_add(ix, a->freed[k].v[i].start, a->freed[k].v[i].len, FREED_BY_TXN | (uint64_t)k);
    }
    if (rc) {
        bi_alloc_revive_end(ix);
        return rc;
    }
    if (ix->n) qsort(ix->v, ix->n, sizeof *ix->v, cmp_rv); /* qsort(NULL, 0) is undefined */
    *out = ix;
    return BIRCH_OK;
}

int bi_alloc_revive(birch_txn *txn, bi_revive *ix, uint64_t pgno, uint32_t n, int *revived)
{
    *revived = 0;
    size_t lo = 0, hi = ix->n; /* the last run starting at or below pgno */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->v[mid].start <= pgno) lo = mid + 1;
        else hi = mid;
    }
    if (!lo) return BIRCH_OK;
    const rv_ent *e = &ix->v[lo - 1];
    if (pgno + n > e->start + e->len) return BIRCH_OK; /* not pending: still in use */
    bi_alloc *a = txn->db->alloc;
    int rc, found = 1;
    if ((e->key & ~(uint64_t)1) == FREED_BY_TXN) {
        rc = bi_rv_cut(&a->freed[e->key & 1], pgno, n, &found);
        if (rc == BIRCH_OK && !found)
            rc = BI_CORRUPT("page %llu: freed by this transaction, yet not in its list", (unsigned long long)pgno);
    } else {
        rc = bi_fs_unpend(a, e->key, pgno, n);
        if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, OP_UNPEND);
        if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, e->key);
        if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, pgno);
        if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, n);
    }
    if (rc == BIRCH_OK) *revived = 1;
    return rc;
}

void bi_alloc_revive_end(bi_revive *ix)
{
    if (!ix) return;
    free(ix->v);
    free(ix);
}
