/*
 * freelist.c - the free tree: which pages can be written again.
 *
 * Pages a commit frees may still be read by older snapshots, so they are
 * not reused at once.  Each commit stores the pages it freed in the free
 * tree under its own transaction id (8 bytes, big-endian, so the oldest
 * record comes first).  A later writer takes a record once no reader and no
 * durable meta can see the pages in it (txn->reuse_limit), as LMDB does.
 *
 * Non-durable commits (BIRCH_DURABLE_NONE) add a second kind of record:
 * pages that were themselves written after the durable state ("young"
 * pages) are not part of it, so only readers constrain their reuse.  They
 * are keyed by the commit id with the top bit set (BI_YOUNG), after every
 * ordinary record, and taken once the oldest reader has passed that
 * commit.  Without them, a non-durable workload could reuse nothing until
 * the next checkpoint.  (Should a power loss return to an older weak meta
 * that still names such a page, open's verification rejects that meta: the
 * page no longer hashes to what its parent says.)
 * The free tree is an ordinary copy-on-write B+tree, so it is as crash-safe
 * as every other tree.
 *
 * Changing the free tree allocates and frees pages itself.  Two rules keep
 * that from recursing: while the free tree is being changed
 * (txn->freelist_busy) the allocator takes no records and grows the file
 * instead, and the commit's record is written in reserved space and filled
 * only after the last page has been allocated.
 *
 * A free list that names a page still in use would let the writer
 * overwrite live data, so the writer does not trust it (DESIGN.md 5.4):
 * it verifies the checksum of every free-tree page and record it reads,
 * refuses a page listed twice, and, at commit, a page that a tree freed in
 * this transaction while the free list also offered it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int bi_pgvec_push(bi_pgvec *v, uint64_t pgno)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint64_t *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return bi_err(BIRCH_ENOMEM, "out of memory for a list of %zu pages", cap);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = pgno;
    return BIRCH_OK;
}

void bi_pgvec_free(bi_pgvec *v)
{
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

int bi_pgvec_insert_desc(bi_pgvec *v, uint64_t pgno)
{
    int rc = bi_pgvec_push(v, pgno);
    if (rc) return rc;
    size_t lo = 0, hi = v->n - 1;
    while (lo < hi) { /* first position whose value is below pgno */
        size_t mid = (lo + hi) / 2;
        if (v->v[mid] > pgno) lo = mid + 1;
        else hi = mid;
    }
    memmove(v->v + lo + 1, v->v + lo, (v->n - 1 - lo) * sizeof *v->v);
    v->v[lo] = pgno;
    return BIRCH_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void put_be64(uint8_t *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) b[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | b[i];
    return v;
}

/* Whether the free-list page p (a header checked by bi_page_read, or an
 * overflow run's) needs its checksum verified: not when this transaction
 * wrote it, nor when this handle did (a commit after the open): that page
 * came from the handle's own memory, so once each free-tree page of the
 * file as opened has been copied (the first commits after open), the
 * writer hashes nothing more. */
static int untrusted(birch_txn *txn, uint64_t pgno, const uint8_t *p)
{
    return !bi_page_is_dirty(txn, pgno) && ((const bi_phdr *)(const void *)p)->txnid <= txn->db->open_txnid;
}

int bi_freelist_verify(birch_txn *txn, uint64_t pgno, const uint8_t *p, uint64_t csum)
{
    if (!untrusted(txn, pgno, p) || bi_sum(p, txn->db->psize) == csum) return BIRCH_OK;
    return BI_CORRUPT("free list page %llu: checksum mismatch (the free list is damaged: none of its pages is reused)",
                      (unsigned long long)pgno);
}

/* The overflow run of a big free record, like its pages (the leaf keeps
 * its checksum); inline records are covered by their leaf's checksum. */
static int record_verify(birch_txn *txn, uint8_t *leaf, unsigned i, birch_val val)
{
    const bi_lnode *n = bi_leaf_node(leaf, i);
    if (!(n->flags & BI_N_BIG)) return BIRCH_OK;
    bi_bigval bv;
    memcpy(&bv, bi_leaf_val(leaf, i), sizeof bv);
    const uint8_t *run = (const uint8_t *)val.data - BI_HDR; /* bi_leaf_value checked the run */
    if (!untrusted(txn, bv.pgno, run)) return BIRCH_OK;
    if (bi_sum(run, (size_t)bi_overflow_pages(txn->db, n->vlen) * txn->db->psize) == bv.csum) return BIRCH_OK;
    return BI_CORRUPT("free list: the record in overflow run %llu (page %llu slot %u): checksum mismatch",
                      (unsigned long long)bv.pgno, (unsigned long long)bi_hdr(leaf)->pgno, i);
}

/* Appends the record's page numbers (0 entries are padding) to avail. */
static int take_pages(birch_txn *txn, birch_val val, uint64_t *count)
{
    if (val.size % 8) return BI_CORRUPT("free list: a record of %zu bytes (a multiple of 8 belongs)", val.size);
    const uint64_t *pg = val.data;
    size_t n = val.size / 8;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pg[i]) continue;
        if (pg[i] < BI_META_PAGES || pg[i] >= txn->snap_npages)
            return BI_CORRUPT("free list: page %llu is not in 2..%llu", (unsigned long long)pg[i],
                              (unsigned long long)txn->snap_npages - 1);
        int rc = bi_pgvec_push(&txn->avail, pg[i]);
        if (rc) return rc;
        (*count)++;
    }
    if (!*count) return BIRCH_OK;
    qsort(txn->avail.v, txn->avail.n, sizeof *txn->avail.v, cmp_desc);
    /* Sorted, a page listed twice (in this record, an earlier one, or
     * among the pages this transaction freed) sits next to itself. */
    for (size_t i = 1; i < txn->avail.n; i++)
        if (txn->avail.v[i] == txn->avail.v[i - 1])
            return BI_CORRUPT("free list: page %llu is listed as free twice", (unsigned long long)txn->avail.v[i]);
    return BIRCH_OK;
}

#define BI_YOUNG (1ull << 63)

/* Moves the record under the path into avail, if its kind's limit allows:
 * 1 if it did, 0 if not. */
static int load_at(birch_txn *txn, bi_path *path, int young)
{
    uint8_t *leaf = path->pg[path->depth - 1];
    unsigned i = path->idx[path->depth - 1];
    if (i >= bi_nkeys(leaf)) return 0; /* past the last record */
    int rc = bi_slot_ok(txn, leaf, i);
    if (rc) return rc;
    if (bi_node_klen(leaf, i) != 8)
        return BI_CORRUPT("free list page %llu slot %u: a key of %zu bytes (8 belong)",
                          (unsigned long long)bi_hdr(leaf)->pgno, i, bi_node_klen(leaf, i));
    uint8_t key[8];
    memcpy(key, bi_node_key(leaf, i), 8);
    uint64_t k = get_be64(key);
    if (young != ((k & BI_YOUNG) != 0)) return 0;
    if ((k & ~BI_YOUNG) > (young ? txn->oldest_reader : txn->reuse_limit)) return 0;
    birch_val val;
    rc = bi_leaf_value(txn, leaf, i, &val);
    if (rc == BIRCH_OK) rc = record_verify(txn, leaf, i, val);
    uint64_t count = 0;
    if (rc == BIRCH_OK) rc = take_pages(txn, val, &count);
    /* The pages are in avail before the delete, so the delete's own
     * copy-on-write allocations are served from them. */
    if (rc == BIRCH_OK) rc = bi_tree_del(txn, &txn->meta.freetree, key, 8);
    if (rc == BIRCH_NOTFOUND) rc = BI_CORRUPT("free list: record %llu not found again (keys out of order)",
                                              (unsigned long long)k);
    if (rc) return rc;
    txn->meta.free_pages = txn->meta.free_pages >= count ? txn->meta.free_pages - count : 0;
    return 1;
}

/* The oldest ordinary record, else the oldest young one. */
static int load_first(birch_txn *txn)
{
    bi_path path;
    bi_errmark mark = bi_err_mark(); /* an empty free list is no failure of the commit (err.h) */
    int rc = bi_path_first(txn, &txn->meta.freetree, &path);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    if (rc == BIRCH_NOTFOUND) return 0;
    if (rc == BIRCH_OK) rc = load_at(txn, &path, 0);
    if (rc) return rc;
    uint8_t young[8];
    put_be64(young, BI_YOUNG);
    int exact;
    rc = bi_tree_search(txn, &txn->meta.freetree, young, 8, &path, &exact);
    if (rc || !path.depth) return rc;
    unsigned n = bi_nkeys(path.pg[path.depth - 1]);
    if (path.idx[path.depth - 1] >= n) { /* past this leaf's end: the next leaf */
        if (n == 0) return 0;
        path.idx[path.depth - 1] = n - 1;
        mark = bi_err_mark(); /* no young record after this leaf: none at all, no failure */
        rc = bi_path_next(txn, &path);
        bi_err_end(mark, rc == BIRCH_NOTFOUND);
        if (rc) return rc == BIRCH_NOTFOUND ? 0 : rc;
    }
    return load_at(txn, &path, 1);
}

int bi_freelist_load(birch_txn *txn)
{
    /* The limits are fixed at begin and only the commit adds records, so
     * once none is reusable, none will be in this transaction. */
    if (!txn->meta.freetree.root || txn->freelist_dry) return 0;
    txn->freelist_busy = 1;
    int rc = load_first(txn);
    txn->freelist_busy = 0;
    if (rc == 0) txn->freelist_dry = 1;
    return rc;
}

/* Points *out at the reserved value of record key (a dirty page of this
 * transaction, so writing it allocates nothing). */
static int reserved(birch_txn *txn, const uint8_t key[8], size_t cap, uint8_t **out)
{
    birch_val v;
    int rc = bi_tree_get(txn, &txn->meta.freetree, key, 8, &v);
    if (rc == BIRCH_NOTFOUND) return BI_CORRUPT("free list: the record just reserved is missing");
    if (rc) return rc;
    if (v.size != cap * 8) return BI_CORRUPT("free list: the record just reserved has %zu bytes, not %zu", v.size, cap * 8);
    *out = (uint8_t *)(uintptr_t)v.data;
    return BIRCH_OK;
}

/* Writes vectors a and b into a record of cap entries, zero padded. */
static int fill(birch_txn *txn, const uint8_t key[8], size_t cap, const bi_pgvec *a, const bi_pgvec *b)
{
    uint8_t *out;
    int rc = reserved(txn, key, cap, &out);
    if (rc) return rc;
    if (a->n) memcpy(out, a->v, a->n * 8);
    if (b && b->n) memcpy(out + a->n * 8, b->v, b->n * 8);
    size_t used = a->n + (b ? b->n : 0);
    memset(out + used * 8, 0, (cap - used) * 8);
    txn->meta.free_pages += used;
    return BIRCH_OK;
}

/* Reserves room for both records (ordinary: pending; young: young and
 * unused available pages, which were reusable already), then fills them.
 * The puts may allocate (from avail or the file end) and free (old
 * free-tree pages), which changes the vectors; the slack absorbs that, and
 * larger reservations are tried if it was not enough.  Only once both puts
 * are done are the records found again and filled: the second put may
 * have moved the first. */
static int save(birch_txn *txn)
{
    uint8_t key[8], ykey[8];
    put_be64(key, txn->meta.txnid);
    put_be64(ykey, txn->meta.txnid | BI_YOUNG);
    /* A put copies at most one path (depth pages freed) and splits at
     * most one page per level. */
    size_t depth = 0;
    if (txn->meta.freetree.root) {
        uint8_t *root;
        int rc = bi_page_read(txn, txn->meta.freetree.root, -1, &root);
        if (rc) return rc;
        depth = bi_level(root) + 1u;
    }
    size_t slack = 4 * depth + 8;
    for (;;) {
        size_t cap = txn->pending.n + slack, ycap = txn->young.n + txn->avail.n + slack;
        if (ycap > BIRCH_MAX_VALUE_SIZE / 8 || cap > BIRCH_MAX_VALUE_SIZE / 8)
            return bi_err(BIRCH_EFULL, "one commit freed %zu pages, more than a free-list record holds (%u): "
                                       "commit more often", cap > ycap ? cap : ycap, BIRCH_MAX_VALUE_SIZE / 8);
        int rc = bi_tree_put(txn, &txn->meta.freetree, key, 8, NULL, cap * 8, 0, NULL);
        if (rc == BIRCH_OK) rc = bi_tree_put(txn, &txn->meta.freetree, ykey, 8, NULL, ycap * 8, 0, NULL);
        if (rc) return rc;
        if (txn->pending.n <= cap && txn->young.n + txn->avail.n <= ycap) {
            rc = fill(txn, key, cap, &txn->pending, NULL);
            return rc ? rc : fill(txn, ykey, ycap, &txn->young, &txn->avail);
        }
        slack *= 2;
    }
}

int bi_pgvec_has_desc(const bi_pgvec *v, uint64_t pgno)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->v[mid] == pgno) return 1;
        if (v->v[mid] > pgno) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* A page a tree freed in this transaction (pending, young) was in use
 * until then, so the free list must not have offered it: it must be
 * neither still available nor handed out again (dirty).  Such a page was
 * never reused within the transaction legitimately: freed pages wait for
 * a later one.  One hash lookup and one binary search per freed page. */
static int freed_not_offered(birch_txn *txn, const bi_pgvec *freed)
{
    for (size_t i = 0; i < freed->n; i++) {
        uint64_t p = freed->v[i];
        if (bi_page_is_dirty(txn, p) || bi_pgvec_has_desc(&txn->avail, p))
            return BI_CORRUPT("free list: page %llu was listed as free while a tree still used it (the tree freed it "
                              "in this transaction, and it was %s)", (unsigned long long)p,
                              bi_page_is_dirty(txn, p) ? "handed out again" : "offered for reuse");
    }
    return BIRCH_OK;
}

int bi_freelist_save(birch_txn *txn)
{
    int rc = freed_not_offered(txn, &txn->pending);
    if (rc == BIRCH_OK) rc = freed_not_offered(txn, &txn->young);
    if (rc) return rc;
    if (!txn->pending.n && !txn->young.n && !txn->avail.n) return BIRCH_OK;
    txn->freelist_busy = 1;
    rc = save(txn);
    txn->freelist_busy = 0;
    return rc;
}
