/*
 * spill.c - transactions larger than memory: writing dirty pages early.
 *
 * A write transaction keeps its dirty pages in memory until the commit
 * writes them (pager.c).  When their bytes pass db->dirty_budget, the next
 * change first "spills" leaves and overflow runs, as LMDB does: each is
 * sealed as the commit would seal it (seal.c: its header names this
 * commit, a leaf's runs' checksums are in its nodes), written to its final
 * place in the file, and its buffer freed; the dirty entry keeps the
 * page's checksum (buf NULL).  Until the commit, reads find a spilled page
 * through the map (bi_page_get), and a change reads it back into a
 * buffer under its own number (bi_page_touch, as LMDB unspills), to be
 * written there again.  The commit seals a page still spilled into its
 * parent with the kept checksum and does not write it again; its one sync
 * covers the pages spilled before it.
 *
 * Why this keeps the crash guarantees: the allocator hands out only pages
 * that no snapshot and no durable state uses, so a crash (or an abort)
 * before the commit's meta leaves garbage in free pages only.
 *
 * Branch pages stay in memory: they are few, and their child checksums
 * change while their children change.  Spills happen at the start of a
 * change only (records.c), never inside the B+tree, whose paths hold page
 * pointers; they bump mod_seq so that cursors find their place again.  A
 * pointer a read lent (bi_lent) may be an argument of the very change that
 * spills: the buffers are then freed only when that change ends
 * (bi_dirty_release_deferred, pager.c), so the argument stays readable and unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Clean pages first (read back and unchanged: the file holds them, so
 * they leave memory without a write), then runs (never changed after they
 * are filled, and large), then leaves; in page order within each, so that
 * neighbours go out in one write. */
static int victim_rank(const bi_dirty *d)
{
    return d->clean ? 0 : bi_hdr(d->buf)->type != BI_P_LEAF ? 1 : 2;
}

static int cmp_victim(const void *a, const void *b)
{
    const bi_dirty *x = *(bi_dirty *const *)a, *y = *(bi_dirty *const *)b;
    int rx = victim_rank(x), ry = victim_rank(y);
    if (rx != ry) return rx - ry;
    return x->pgno < y->pgno ? -1 : x->pgno > y->pgno;
}

static int cmp_pgno(const void *a, const void *b)
{
    uint64_t x = (*(bi_dirty *const *)a)->pgno, y = (*(bi_dirty *const *)b)->pgno;
    return x < y ? -1 : x > y;
}

/* The dirty entries that may spill: leaves and overflow runs in memory
 * (at most cap: each holds a page or more of txn->dirty_bytes). */
static size_t victims(birch_txn *txn, bi_dirty **v, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < txn->dirty_cap; i++) {
        bi_dirty *d = &txn->dirty[i];
        if (!d->pgno || !d->buf) continue;
        unsigned type = bi_hdr(d->buf)->type;
        if (type != BI_P_LEAF && type != BI_P_OVERFLOW) continue;
        if (n == cap) break; /* never, while dirty_bytes counts right */
        v[n++] = d;
    }
    return n;
}

/* Marks the written (or clean) entries v[0..n) spilled and frees (or
 * defers) their buffers. */
static int forget(birch_txn *txn, bi_dirty **v, size_t n, const uint64_t *csum, int lent)
{
    for (size_t i = 0; i < n; i++) {
        bi_dirty *d = v[i];
        if (lent) {
            int rc = bi_dirty_defer(txn, d->buf);
            if (rc) return rc; /* d stays in memory: still correct, only unspilled */
        } else {
            bi_pagebuf_put(txn->db, d->buf);
        }
        d->buf = NULL;
        d->csum = csum[i];
        txn->dirty_bytes -= (uint64_t)d->npages * txn->db->psize;
        txn->spilled_now += d->npages;
        if (d->clean) { /* spilled before: counted in the range and the totals then */
            d->clean = 0;
            continue;
        }
        if (!txn->spilled || d->pgno < txn->spill_lo) txn->spill_lo = d->pgno;
        if (d->pgno + d->npages > txn->spill_hi) txn->spill_hi = d->pgno + d->npages;
        txn->spilled += d->npages;
        txn->db->spilled_pages += d->npages;
    }
    return BIRCH_OK;
}

/* Writes the sealed entries v[0..n) (in page order), consecutive pages in
 * one writev, and forgets each group once written; a clean entry is in
 * the file already. */
static int write_out(birch_txn *txn, bi_dirty **v, size_t n, const uint64_t *csum, int lent)
{
    birch_db *db = txn->db;
    struct iovec iov[64];
    int rc = BIRCH_OK;
    for (size_t i = 0; i < n && rc == BIRCH_OK;) {
        if (v[i]->clean) {
            rc = forget(txn, v + i, 1, csum + i, lent);
            i++;
            continue;
        }
        size_t first = i;
        int cnt = 0;
        uint64_t start = v[i]->pgno, next = start;
        while (i < n && cnt < 64 && v[i]->pgno == next && !v[i]->clean) {
            iov[cnt].iov_base = v[i]->buf;
            iov[cnt].iov_len = (size_t)v[i]->npages * db->psize;
            next += v[i]->npages;
            cnt++;
            i++;
        }
        rc = db->io.ops->writev(db->file, iov, cnt, start * db->psize);
        if (rc == BIRCH_OK) rc = forget(txn, v + first, i - first, csum + first, lent);
    }
    return rc;
}

/* Makes the file and the map hold every page the transaction took. */
static int make_room(birch_txn *txn)
{
    birch_db *db = txn->db;
    int rc = bi_pager_grow(txn);
    if (rc) return rc;
    pthread_mutex_lock(&db->lock);
    rc = bi_map_cover(db, txn->meta.npages * (uint64_t)db->psize);
    if (rc == BIRCH_OK) txn->map = db->map.addr; /* the old map stays valid until close */
    pthread_mutex_unlock(&db->lock);
    return rc;
}

/* Picks the entries to spill from the n victims in v (moved to its front,
 * in page order): runs, then leaves, until what stays in memory is below
 * half the budget, so that the next spill is some changes away. */
static size_t choose(birch_txn *txn, bi_dirty **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_victim);
    size_t k = 0;
    uint64_t left = txn->dirty_bytes;
    while (k < n && left > txn->db->dirty_budget / 2) left -= (uint64_t)v[k++]->npages * txn->db->psize;
    qsort(v, k, sizeof *v, cmp_pgno);
    return k;
}

/* Drops the resident copies (io.h, drop_resident) of the pages this
 * transaction has spilled, in map, the map it read them through since the
 * last drop.  A spilled page read back (found again by a search, changed,
 * freed) is a page of the shared file map, which stays resident until the
 * kernel reclaims it, and with it up to BI_FAULT_AROUND of its neighbours:
 * without this, a transaction far larger than its budget ended with most
 * of the file it wrote in its resident set, which is the process's peak
 * RSS (VmHWM, ru_maxrss) even though the kernel may reclaim it.  The range
 * is every page spilled so far, not only the last round's: a page spilled
 * earlier is the one read back since.  The bytes stay readable: other
 * threads' readers lose only the residency of their pages in the range
 * (the next access faults them back in from the page cache), and a pointer
 * this transaction lent (bi_lent) reads the same bytes again. */
static void drop_spilled(birch_txn *txn, uint8_t *map)
{
    birch_db *db = txn->db;
    txn->map_read = txn->map_last = 0;
    if (!txn->spilled) return;
    pthread_mutex_lock(&db->lock);
    uint64_t len = bi_map_len(db, map); /* map may be an older one now: make_room may have moved it */
    pthread_mutex_unlock(&db->lock);
    uint64_t lo = txn->spill_lo * db->psize, hi = txn->spill_hi * db->psize;
    if (hi > len) hi = len; /* pages spilled this round, past that map: not read through it */
    if (lo < hi) db->io.ops->drop_resident(db->file, map + lo, hi - lo);
}

/* Bytes of the page range the transaction has spilled into: the most
 * that reading its spilled pages back can make resident.  While it is
 * within the budget no drop is needed to bound the peak, and none is
 * made: a drop makes the next reads of those pages fault again, which
 * made a removal of half of 1,000,000 records (about 270 MiB of leaves,
 * just past the default budget) 3.4 times LMDB's time. */
static uint64_t spilled_range(const birch_txn *txn)
{
    return (txn->spill_hi - txn->spill_lo) * (uint64_t)txn->db->psize;
}

/* Whether a drop of the spilled range bounds anything: the range is past
 * the budget, and at least two thirds of it are pages spilled now (in the
 * file, not read back into memory: txn->spilled_now).  A large transaction on a file whose free
 * space is scattered spills pages all over the file, so the range is
 * mostly pages it did not write, which it reads through the map anyway
 * (they are resident whatever a drop does) and whose every drop made it
 * fault on again: a removal of half of 1,000,000 records in a file left
 * fragmented by small commits took 5.3 s, against 3.5 s without drops,
 * with the same peak RSS.  A transaction that writes new data spills into
 * a range of its own pages, which stays dense.  A count, not a scan of
 * the dirty table: it is asked once a budget of map reads, which with a
 * small budget is every few reads, and a scan of a table that grows with
 * the transaction made a 1 MiB-budget update of 600,000 records spend
 * half its CPU time there (7% of it at 300,000: quadratic). */
static int drop_pays(const birch_txn *txn)
{
    uint64_t range = spilled_range(txn);
    if (range <= txn->db->dirty_budget) return 0;
    /* Half was the threshold until the branch pages grew by a count word
     * (format 3): the removal of test_spill's scattered case then spilled
     * into a range 51% of which was its own, and dropped 22 times; a range
     * a transaction fills with new pages is nearly all its own. */
    return txn->spilled_now * 3 * (uint64_t)txn->db->psize >= range * 2;
}

static int spill(birch_txn *txn)
{
    birch_db *db = txn->db;
    int lent = bi_lent(txn);
    uint8_t *read_map = txn->map; /* what the changes since the last spill read through */
    /* Entries in memory hold a page or more each: at most this many (the
     * table also holds every spilled one, which may be far more). */
    size_t cap = (size_t)(txn->dirty_bytes / db->psize) + 1;
    bi_dirty **v = malloc(cap * sizeof *v);
    uint64_t *csum = malloc(cap * sizeof *csum);
    int rc = v && csum ? BIRCH_OK : bi_err(BIRCH_ENOMEM, "out of memory spilling %zu dirty pages", cap);
    size_t k = rc ? 0 : choose(txn, v, victims(txn, v, cap));
    for (size_t i = 0; i < k && rc == BIRCH_OK; i++)
        rc = v[i]->clean ? (csum[i] = v[i]->csum, BIRCH_OK) : bi_seal_one(txn, v[i]->buf, v[i]->npages, &csum[i]);
    if (rc == BIRCH_OK && k) rc = make_room(txn);
    if (rc == BIRCH_OK) rc = write_out(txn, v, k, csum, lent);
    /* As a commit's failed page write (txn.c, io_failure): an I/O error
     * leaves the disk in doubt, so the handle refuses writes until reopened;
     * a full disk fails this transaction only. */
    if (rc == BIRCH_EIO) bi_mark_failed(db, "a transaction failed writing the pages it spilled", birch_errmsg());
    /* Only reads (gets, cursors), overflow runs, a merge's sibling and
     * bi_dirty_unspill's fallback still read spilled pages through the
     * map: a change's search reads them back (pager.c, read_back).
     * Nothing read, nothing to drop. */
    if (txn->map_read && drop_pays(txn)) drop_spilled(txn, read_map);
    else txn->map_read = txn->map_last = 0;
    free(v);
    free(csum);
    /* Cursors' paths may name freed buffers: they find their place again.
     * A pointer lent before stays lent for this change. */
    txn->mod_seq++;
    if (lent) txn->lent_seq = txn->mod_seq + 1;
    /* Branch pages never spill but count: once they alone pass the budget
     * (long keys, or a transaction of many gigabytes), every change would
     * spill a page or two after scanning the whole table.  The next spill
     * waits for half a budget of new dirty bytes instead, so the work
     * stays linear; the memory is then the branches plus the budget. */
    txn->spill_next = txn->dirty_bytes + db->dirty_budget / 2;
    return rc;
}

int bi_spill_maybe(birch_txn *txn)
{
    if (txn->dirty_bytes > txn->db->dirty_budget && txn->dirty_bytes > txn->spill_next) {
        bi_feed_settle(txn); /* a spill frees the buffer a reserved value may be in */
        return spill(txn);
    }
    /* Between spills, the spilled pages read back make map pages resident
     * faster than they make dirty ones (each fault maps its neighbours
     * too): dropped once they may hold a budget, so that the map adds at
     * most that to the budget's dirty memory.  Half a budget bounded the
     * peak a little lower but cost random updates in a spilling
     * transaction four times their time (each drop makes the next reads
     * fault again); a budget halves the drops. */
    if (txn->map_read > txn->db->dirty_budget) {
        if (drop_pays(txn)) drop_spilled(txn, txn->map);
        else txn->map_read = txn->map_last = 0; /* looked at once a budget of reads */
    }
    return BIRCH_OK;
}
