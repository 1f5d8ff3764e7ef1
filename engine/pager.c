/*
 * pager.c - pages: where a transaction finds them, how it validates them,
 * and how a write transaction allocates, copies, frees and finally writes
 * them.
 *
 * Committed pages are read straight from the shared read-only map.  A write
 * transaction never changes a committed page: it copies it to a page that
 * no snapshot can see (a free page or a new one at the end of the file),
 * keeps the copy in memory in a hash table keyed by page number, and writes
 * all copies at commit.  That is what makes snapshots stable and commits
 * atomic.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"

uint64_t bi_sum(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

/* The pager's error state, as SQLite's pager has one: after a write or a
 * sync of the file failed with an I/O error, what the file holds is
 * unknown to this handle (Linux may have dropped the dirty pages), so
 * every later write transaction gets BIRCH_EIO until it is reopened. */
void bi_mark_failed(birch_db *db, const char *what, const char *detail)
{
    pthread_mutex_lock(&db->lock);
    db->failed = 1;
    snprintf(db->failed_why, sizeof db->failed_why, "%s: %s", what, detail);
    pthread_mutex_unlock(&db->lock);
}

/* ---- Page buffers ------------------------------------------------------------ */

void bi_pager_close(birch_db *db)
{
    bi_pagebuf_close(db);
    free(db->dirty_keep);
    db->dirty_keep = NULL;
    db->dirty_keep_cap = 0;
}

/* ---- Dirty page table: open addressing, linear probing -------------------- */

static size_t dirty_hash(uint64_t pgno, size_t cap)
{
    return (size_t)((pgno * 0x9E3779B97F4A7C15ull) >> 29) & (cap - 1);
}

static bi_dirty *dirty_find(birch_txn *txn, uint64_t pgno)
{
    if (!txn->dirty_cap) return NULL;
    size_t mask = txn->dirty_cap - 1;
    for (size_t i = dirty_hash(pgno, txn->dirty_cap);; i = (i + 1) & mask) {
        bi_dirty *d = &txn->dirty[i];
        if (d->pgno == pgno) return d;
        if (d->pgno == 0) return NULL;
    }
}

static void dirty_insert_raw(bi_dirty *tab, size_t cap, bi_dirty e)
{
    size_t i = dirty_hash(e.pgno, cap);
    while (tab[i].pgno) i = (i + 1) & (cap - 1);
    tab[i] = e;
}

static int dirty_add(birch_txn *txn, uint64_t pgno, uint8_t *buf, uint32_t npages)
{
    /* A page is dirty once: bi_page_alloc refuses a free page this
     * transaction already holds, and the file's end gives new ones. */
    BI_ASSERT(pgno >= BI_META_PAGES && npages > 0 && !dirty_find(txn, pgno));
    if (!txn->dirty && txn->db->dirty_keep) { /* the last transaction's, zeroed */
        txn->dirty = txn->db->dirty_keep;
        txn->dirty_cap = txn->db->dirty_keep_cap;
        txn->db->dirty_keep = NULL;
    }
    if ((txn->ndirty + 1) * 2 > txn->dirty_cap) {
        size_t cap = txn->dirty_cap ? txn->dirty_cap * 2 : 256;
        bi_dirty *tab = calloc(cap, sizeof *tab);
        if (!tab) return bi_err(BIRCH_ENOMEM, "out of memory for the table of %zu dirty pages", cap);
        for (size_t i = 0; i < txn->dirty_cap; i++)
            if (txn->dirty[i].pgno) dirty_insert_raw(tab, cap, txn->dirty[i]);
        free(txn->dirty);
        txn->dirty = tab;
        txn->dirty_cap = cap;
    }
    dirty_insert_raw(txn->dirty, txn->dirty_cap, (bi_dirty){.pgno = pgno, .buf = buf, .npages = npages});
    txn->ndirty++;
    txn->dirty_bytes += (uint64_t)npages * txn->db->psize;
    return BIRCH_OK;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void dirty_remove(birch_txn *txn, bi_dirty *d)
{
    size_t mask = txn->dirty_cap - 1;
    size_t hole = (size_t)(d - txn->dirty);
    for (size_t i = (hole + 1) & mask; txn->dirty[i].pgno; i = (i + 1) & mask) {
        size_t home = dirty_hash(txn->dirty[i].pgno, txn->dirty_cap);
        /* Move entry i into the hole unless its home lies in (hole, i]. */
        int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            txn->dirty[hole] = txn->dirty[i];
            hole = i;
        }
    }
    txn->dirty[hole] = (bi_dirty){0};
    txn->ndirty--;
}

bi_dirty *bi_dirty_find(birch_txn *txn, uint64_t pgno)
{
    return dirty_find(txn, pgno);
}

int bi_page_is_dirty(birch_txn *txn, uint64_t pgno)
{
    return txn->write && dirty_find(txn, pgno) != NULL;
}

/* ---- Reading and validating ---------------------------------------------- */

uint8_t *bi_page_changing(birch_txn *txn, uint64_t pgno)
{
    bi_dirty *d = txn->write ? dirty_find(txn, pgno) : NULL;
    if (!d) return NULL;
    d->clean = 0;
    return d->buf;
}

int bi_page_spilled(birch_txn *txn, uint64_t pgno, uint64_t *csum)
{
    bi_dirty *d = txn->write ? dirty_find(txn, pgno) : NULL;
    if (!d || (d->buf && !d->clean)) return 0;
    *csum = d->csum;
    return 1;
}

/* Reads spilled entry d back into a buffer of its own with the io layer's
 * read, or returns NULL (no memory, a failed read: the caller reads the
 * map instead, and no message is left behind).  Not through the map: a
 * fault maps the page's whole folio and its neighbours into the process
 * (64 KiB to a few MiB on Linux 6, and on a virtual machine each page
 * table change traps), which a spilling transaction then had to drop from
 * its resident set to keep its peak RSS near the budget, only to fault
 * them in again.  A 4 KiB pread from the page cache costs 1.8 us here; a
 * random page of a 1 GiB map, dropped every 4,000 reads, 12.9 us. */
/* Spilled entry d's bytes are in mem now: it holds memory again. */
static void hold(birch_txn *txn, bi_dirty *d, uint8_t *mem)
{
    d->buf = mem;
    txn->dirty_bytes += (uint64_t)d->npages * txn->db->psize;
    txn->spilled_now -= d->npages;
}

static uint8_t *read_back(birch_txn *txn, bi_dirty *d)
{
    birch_db *db = txn->db;
    size_t bytes = (size_t)d->npages * db->psize;
    uint8_t *mem = bi_pagebuf_get(db, d->npages);
    if (!mem) return NULL;
    bi_errmark mark = bi_err_mark();
    int rc = db->io.ops->read(db->file, mem, bytes, d->pgno * db->psize);
    bi_err_end(mark, rc != BIRCH_OK);
    if (rc) {
        bi_pagebuf_put(db, mem);
        return NULL;
    }
    hold(txn, d, mem);
    d->clean = 1;
    return mem;
}

uint8_t *bi_page_get(birch_txn *txn, uint64_t pgno)
{
    if (txn->write && txn->ndirty) {
        bi_dirty *d = dirty_find(txn, pgno);
        /* A spilled page is in the file, possibly past the snapshot's
         * end: the spill made txn->map cover it.  Reading it may make
         * map pages resident (spill.c, bi_spill_maybe drops them). */
        if (d && d->buf) return d->buf;
        if (d && txn->read_back) {
            uint8_t *mem = read_back(txn, d);
            if (mem) return mem;
        }
        if (d) {
            uint64_t off = pgno * txn->db->psize;
            if (off / BI_FAULT_AROUND + 1 != txn->map_last) { /* a search and a touch read a leaf twice */
                txn->map_last = off / BI_FAULT_AROUND + 1;
                txn->map_read += (uint64_t)d->npages * txn->db->psize + BI_FAULT_AROUND;
            }
            return txn->map + off;
        }
    }
    if (pgno < BI_META_PAGES || pgno >= txn->snap_npages) return NULL;
    return txn->map + pgno * txn->db->psize;
}

/* Why page p (NULL: outside the snapshot) fails bi_page_read's checks.
 * The checks run on every level of every search, so they are one
 * condition there; this cold path finds which one failed for the message. */
static BI_COLD int page_bad(const birch_txn *txn, const uint8_t *p, uint64_t pgno, int level)
{
    unsigned long long n = (unsigned long long)pgno;
    if (!p)
        return BI_CORRUPT("page %llu: named by a tree but outside the snapshot's pages 2..%llu", n,
                          (unsigned long long)txn->snap_npages - 1);
    const bi_phdr *h = (const bi_phdr *)(const void *)p;
    uint32_t ps = txn->db->psize;
    if (h->type != BI_P_BRANCH && h->type != BI_P_LEAF)
        return BI_CORRUPT("page %llu: type %u where a branch or leaf page belongs", n, h->type);
    if ((h->type == BI_P_LEAF) != (h->level == 0))
        return BI_CORRUPT("page %llu: type %u at level %u", n, h->type, h->level);
    if (h->level >= BI_MAX_DEPTH || (level >= 0 && h->level != level))
        return BI_CORRUPT("page %llu: level %u where level %d belongs", n, h->level, level);
    if (h->pgno != pgno)
        return BI_CORRUPT("page %llu: its header says page %llu (misplaced write)", n, (unsigned long long)h->pgno);
    return BI_CORRUPT("page %llu: %u slots and node area from %u do not fit a %u-byte page", n, h->nkeys, h->upper,
                      ps);
}

int bi_page_read(birch_txn *txn, uint64_t pgno, int level, uint8_t **out)
{
    uint8_t *p = bi_page_get(txn, pgno);
    if (p) {
        const bi_phdr *h = (const bi_phdr *)(const void *)p;
        uint32_t ps = txn->db->psize;
        int kind = h->type == BI_P_LEAF ? h->level == 0 : h->type == BI_P_BRANCH && h->level != 0;
        if (kind && h->level < BI_MAX_DEPTH && (level < 0 || h->level == level) && h->pgno == pgno &&
            h->upper <= ps && h->upper >= BI_HDR + (uint64_t)BI_SLOT * h->nkeys) {
            *out = p;
            return BIRCH_OK;
        }
    }
    return page_bad(txn, p, pgno, level);
}

/* Why slot i of page p fails bi_slot_ok's checks (cold, as page_bad). */
BI_COLD int bi_slot_bad(const birch_txn *txn, uint8_t *p, unsigned i)
{
    const birch_db *db = txn->db;
    bi_slot s = bi_slots(p)[i];
    size_t end = (size_t)s.off + BI_NODE_HDR + BI_A8(s.klen);
    unsigned long long pg = (unsigned long long)bi_hdr(p)->pgno;
    if (s.off < bi_hdr(p)->upper || (s.off & 7))
        return BI_CORRUPT("page %llu slot %u: node offset %u outside the node area (from %u, 8-aligned)", pg, i,
                          s.off, bi_hdr(p)->upper);
    if (s.klen > db->max_key) return BI_CORRUPT("page %llu slot %u: key of %u bytes (limit %zu)", pg, i, s.klen, db->max_key);
    if (end > db->psize) return BI_CORRUPT("page %llu slot %u: node runs past the page end", pg, i);
    if (!bi_is_leaf(p)) return BI_CORRUPT("page %llu slot %u: child checksum and count run past the page end", pg, i);
    const bi_lnode *n = bi_leaf_node(p, i);
    if (n->flags & ~BI_N_BIG) return BI_CORRUPT("page %llu slot %u: unknown node flags %#x", pg, i, n->flags);
    return BI_CORRUPT("page %llu slot %u: value of %u bytes runs past the page end", pg, i, n->vlen);
}

int bi_slot_ok(const birch_txn *txn, uint8_t *p, unsigned i)
{
    if (!bi_is_leaf(p)) return bi_branch_slot_ok(txn, p, i);
    const birch_db *db = txn->db;
    bi_slot s = bi_slots(p)[i];
    size_t end = (size_t)s.off + BI_NODE_HDR + BI_A8(s.klen);
    if (s.off < bi_hdr(p)->upper || (s.off & 7) || s.klen > db->max_key || end > db->psize)
        return bi_slot_bad(txn, p, i);
    const bi_lnode *n = bi_leaf_node(p, i);
    size_t vend = end + ((n->flags & BI_N_BIG) ? sizeof(bi_bigval) : n->vlen);
    if (!(n->flags & ~BI_N_BIG) && vend <= db->psize) return BIRCH_OK;
    return bi_slot_bad(txn, p, i);
}

uint32_t bi_overflow_pages(const birch_db *db, uint64_t vlen)
{
    return (uint32_t)((BI_HDR + vlen + db->psize - 1) / db->psize);
}

/* ---- Dirty pages for the allocator ------------------------------------------ */

int bi_dirty_new(birch_txn *txn, uint64_t pgno, uint32_t n, int zero, uint8_t **buf)
{
    size_t bytes = (size_t)n * txn->db->psize;
    void *mem = bi_pagebuf_get(txn->db, n);
    if (!mem) return bi_err(BIRCH_ENOMEM, "out of memory for %u dirty page(s)", n);
    if (zero) memset(mem, 0, bytes);
    int rc = dirty_add(txn, pgno, mem, n);
    if (rc == BIRCH_OK && txn->nest_level && (rc = bi_nest_born(txn, pgno))) bi_dirty_drop(txn, pgno);
    else if (rc) bi_pagebuf_put(txn->db, mem);
    if (rc) return rc;
    if (txn->nest_level) dirty_find(txn, pgno)->level = (uint16_t)txn->nest_level;
    bi_hdr(mem)->pgno = pgno;
    *buf = mem;
    return BIRCH_OK;
}

int bi_dirty_restore(birch_txn *txn, uint64_t pgno, uint8_t *buf, uint32_t npages, unsigned lvl)
{
    bi_dirty *d = dirty_find(txn, pgno);
    if (d) bi_dirty_drop(txn, pgno);
    int rc = dirty_add(txn, pgno, buf, npages);
    if (rc) return rc;
    dirty_find(txn, pgno)->level = (uint16_t)lvl;
    return BIRCH_OK;
}

void bi_dirty_drop_level(birch_txn *txn, uint64_t pgno, unsigned lvl)
{
    bi_dirty *d = dirty_find(txn, pgno);
    if (d && d->level == lvl) bi_dirty_drop(txn, pgno);
}

int bi_dirty_unspill(birch_txn *txn, uint64_t pgno, uint8_t **buf)
{
    bi_dirty *d = dirty_find(txn, pgno);
    BI_ASSERT(d && !d->buf);
    if (!read_back(txn, d)) { /* the map holds it too: spill.c made the map cover it */
        uint8_t *mem = bi_pagebuf_get(txn->db, d->npages);
        if (!mem) return bi_err(BIRCH_ENOMEM, "out of memory reading back a spilled page");
        memcpy(mem, txn->map + pgno * txn->db->psize, (size_t)d->npages * txn->db->psize);
        hold(txn, d, mem);
    }
    d->clean = 0;
    d->csum = 0;
    *buf = d->buf;
    return BIRCH_OK;
}

int bi_dirty_defer(birch_txn *txn, uint8_t *buf)
{
    if (txn->ndefer == txn->defer_cap) {
        size_t cap = txn->defer_cap ? txn->defer_cap * 2 : 256;
        uint8_t **d = realloc(txn->defer, cap * sizeof *d);
        if (!d) return bi_err(BIRCH_ENOMEM, "out of memory spilling dirty pages");
        txn->defer = d;
        txn->defer_cap = cap;
    }
    txn->defer[txn->ndefer++] = buf;
    return BIRCH_OK;
}

void bi_dirty_release_deferred(birch_txn *txn)
{
    for (size_t i = 0; i < txn->ndefer; i++) bi_pagebuf_put(txn->db, txn->defer[i]);
    txn->ndefer = 0;
}

int bi_dirty_drop(birch_txn *txn, uint64_t pgno)
{
    bi_dirty *d = dirty_find(txn, pgno);
    if (!d) return 0;
    if (d->buf) txn->dirty_bytes -= (uint64_t)d->npages * txn->db->psize;
    else txn->spilled_now -= d->npages;
    bi_pagebuf_put(txn->db, d->buf); /* NULL when spilled: its copy in the file is garbage in a free page */
    dirty_remove(txn, d);
    return 1;
}

/* ---- Writing a commit ------------------------------------------------------ */

static int cmp_dirty(const void *a, const void *b)
{
    uint64_t x = ((const bi_dirty *)a)->pgno, y = ((const bi_dirty *)b)->pgno;
    return x < y ? -1 : x > y;
}

/* Grows the file to hold the transaction's pages.  Growing in steps of an
 * eighth of the file (at least 16 pages, at most 1 GiB) keeps small
 * commits from paying for a resize each time, and a small database small
 * (a 10-record table's file is 20 pages, not a megabyte).  The arithmetic saturates: extend()
 * keeps need below 2^64, and near that the step just shrinks to need. */
int bi_pager_grow(birch_txn *txn)
{
    birch_db *db = txn->db;
    uint64_t need = txn->meta.npages * db->psize;
    if (need <= db->file_size) return BIRCH_OK;
    /* Another handle may have grown the file since this one looked (a
     * transaction of its that spilled, then aborted, leaves no commit to
     * tell): its size is asked before growing, so that the file never
     * shrinks under another process's map. */
    uint64_t size = 0;
    int rc = db->io.ops->size(db->file, &size);
    if (rc) return rc;
    if (size > db->file_size) {
        pthread_mutex_lock(&db->lock);
        db->file_size = size;
        pthread_mutex_unlock(&db->lock);
        if (need <= size) return BIRCH_OK;
    }
    uint64_t step = db->file_size / 8;
    if (step < 16u * db->psize) step = 16u * db->psize;
    if (step > (1u << 30)) step = 1u << 30;
    uint64_t want = db->file_size > UINT64_MAX - step ? need : db->file_size + step;
    if (want < need) want = need;
    if (want % db->psize) want = want > UINT64_MAX - db->psize ? need : want + (db->psize - want % db->psize);
    if (db->opts.max_size && want > db->opts.max_size) want = need;
    /* The growth step is a wish: if the disk cannot hold it, the pages
     * needed will do, and the first attempt's failure is no failure of
     * the commit (err.h). */
    bi_errmark mark = bi_err_mark();
    rc = db->io.ops->resize(db->file, want);
    int retry = rc == BIRCH_EFULL && want > need;
    bi_err_end(mark, retry);
    if (retry) rc = db->io.ops->resize(db->file, need), want = need;
    if (rc) return rc;
    pthread_mutex_lock(&db->lock); /* birch_stat_get reads it */
    db->file_size = want;
    pthread_mutex_unlock(&db->lock);
    return BIRCH_OK;
}

int bi_pager_flush(birch_txn *txn)
{
    birch_db *db = txn->db;
    int rc = bi_pager_grow(txn);
    if (rc || !txn->ndirty) return rc;
    bi_dirty *list = malloc(txn->ndirty * sizeof *list);
    struct iovec *iov = malloc(1024 * sizeof *iov);
    if (!list || !iov) {
        free(list);
        free(iov);
        return bi_err(BIRCH_ENOMEM, "out of memory writing %zu pages", txn->ndirty);
    }
    size_t n = 0;
    for (size_t i = 0; i < txn->dirty_cap; i++) /* spilled and clean pages are written already */
        if (txn->dirty[i].pgno && txn->dirty[i].buf && !txn->dirty[i].clean) list[n++] = txn->dirty[i];
    qsort(list, n, sizeof *list, cmp_dirty);
    /* Consecutive pages go out in one writev; a commit that will not be
     * synced soon may take the io layer's lazy path (io.h). */
    int lazy = txn->durability == BIRCH_DURABLE_NONE;
    for (size_t i = 0; i < n && rc == BIRCH_OK;) {
        int cnt = 0;
        uint64_t start = list[i].pgno, next = start;
        while (i < n && cnt < 1024 && list[i].pgno == next) {
            iov[cnt].iov_base = list[i].buf;
            iov[cnt].iov_len = (size_t)list[i].npages * db->psize;
            next += list[i].npages;
            cnt++;
            i++;
        }
        rc = lazy ? bi_io_write_lazy(db->io.ops, db->file, iov, cnt, start * db->psize)
                  : db->io.ops->writev(db->file, iov, cnt, start * db->psize);
    }
    free(list);
    free(iov);
    return rc;
}

void bi_pager_release(birch_txn *txn)
{
    birch_db *db = txn->db;
    for (size_t i = 0; i < txn->dirty_cap; i++)
        if (txn->dirty[i].pgno) {
            bi_pagebuf_put(db, txn->dirty[i].buf);
            txn->dirty[i] = (bi_dirty){0};
        }
    if (txn->dirty && txn->dirty_cap <= BI_DIRTY_KEEP_MAX && !db->dirty_keep) { /* zeroed above */
        db->dirty_keep = txn->dirty;
        db->dirty_keep_cap = txn->dirty_cap;
    } else {
        free(txn->dirty);
    }
    txn->dirty = NULL;
    txn->ndirty = txn->dirty_cap = 0;
    txn->dirty_bytes = txn->spilled = txn->spilled_now = txn->spill_lo = txn->spill_hi = txn->map_read = txn->map_last = 0;
    txn->spill_next = 0;
    bi_dirty_release_deferred(txn);
    free(txn->defer);
    txn->defer = NULL;
    txn->defer_cap = 0;
    bi_pagebuf_trim(db); /* after a nested level's copies and the deferred buffers went back */
    free(txn->scratch);
    txn->scratch = NULL;
    free(txn->argbuf);
    txn->argbuf = NULL;
    txn->argcap = 0;
}

int bi_txn_argbuf(birch_txn *txn, size_t size, uint8_t **buf)
{
    if (size > txn->argcap) {
        size_t cap = txn->argcap ? txn->argcap : 4096;
        while (cap < size) cap = cap > SIZE_MAX / 2 ? size : cap * 2;
        uint8_t *p = malloc(cap); /* malloc's alignment is at least 8 */
        if (!p) return bi_err(BIRCH_ENOMEM, "out of memory for a %zu-byte copy of a value", size);
        free(txn->argbuf);
        txn->argbuf = p;
        txn->argcap = cap;
    }
    *buf = txn->argbuf;
    return BIRCH_OK;
}

/* ---- The map ----------------------------------------------------------------- */

/* The map length for bytes: the smallest 1 MiB * 2^k that covers them, or
 * bytes itself past 2^63, where doubling would overflow (the map then
 * fails as more than the address space, BIRCH_ENOMEM, never loops). */
static uint64_t map_len_for(uint64_t cur, uint64_t bytes)
{
    uint64_t len = cur ? cur : (1u << 20);
    while (len < bytes) {
        if (len > UINT64_MAX / 2) return bytes;
        len *= 2;
    }
    return len;
}

int bi_map_cover(birch_db *db, uint64_t bytes)
{
    if (bytes <= db->map.len) return BIRCH_OK;
    uint64_t len = map_len_for(db->map.len, bytes);
    bi_map *rec = malloc(sizeof *rec);
    if (!rec) return bi_err(BIRCH_ENOMEM, "out of memory for a map");
    void *addr = NULL;
    int rc = db->io.ops->map(db->file, len, &addr);
    if (rc) {
        free(rec);
        return rc;
    }
    if (db->map.addr) {
        /* Readers may hold pointers into the old map: keep it until close. */
        bi_map *m = realloc(db->old_maps, (db->n_old_maps + 1) * sizeof *m);
        if (!m) {
            db->io.ops->unmap(db->file, addr, len);
            free(rec);
            return bi_err(BIRCH_ENOMEM, "out of memory keeping the old map");
        }
        db->old_maps = m;
        db->old_maps[db->n_old_maps++] = db->map;
    }
    db->map.addr = addr;
    db->map.len = len;
    /* Readers find the map through a record of their own: it never changes
     * once published, and the list keeps every one until close. */
    *rec = (bi_map){addr, len, atomic_load_explicit(&db->rmap, memory_order_relaxed)};
    atomic_store_explicit(&db->rmap, rec, memory_order_release);
    return BIRCH_OK;
}

uint64_t bi_map_len(const birch_db *db, const uint8_t *addr)
{
    if (addr == db->map.addr) return db->map.len;
    for (unsigned i = 0; i < db->n_old_maps; i++)
        if (db->old_maps[i].addr == addr) return db->old_maps[i].len;
    return 0;
}
