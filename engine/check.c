/*
 * check.c - birch_check: verifies the last committed state page by page.
 *
 * It checks exactly one snapshot: the one a read transaction pins (its
 * meta as published, its trees, its npages), so it runs beside a writer
 * without false reports.  The writer may reuse and overwrite the pages
 * that snapshot lists as free while check runs, so check reads only their
 * numbers (from the free-space map's records, which the snapshot pins),
 * never their contents.  What check does with the meta pages on disk is in
 * check_meta_on_disk.
 *
 * Every page's checksum is verified against the one its parent (or the
 * meta, or the table's catalog record) keeps, so check also finds bit rot
 * that leaves a page's structure plausible.
 *
 * Every tree (catalog, each table) is walked from its root with the key
 * range each page must respect, and the free-space map's records are
 * replayed (freemap.c).  Each page is marked in a bitmap;
 * a page marked twice is shared by two owners, and a page never marked is
 * lost.  Together with the meta checksum that accounts for every page of
 * the state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct chk chk;
typedef int (*entry_fn)(chk *c, uint8_t *leaf, unsigned i);

struct chk {
    birch_txn *txn;
    uint8_t *seen;       /* one bit per page */
    uint64_t npages;
    uint64_t entries;    /* leaf entries of the tree being walked */
    uint64_t free_pages; /* free and pending pages the map lists */
    entry_fn on_entry;
    uint32_t *spans;     /* per page: node offset << 16 | node size / 8 */
    char *msg;
    size_t msg_size;
    birch_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    uint64_t marked, reported; /* pages marked so far, and at the last report */
    int nomark;          /* walking a savepoint's state: its pages are the current
                            state's or pending, marked by those */
    const char *table;   /* the table being walked, and whether it is a multimap */
    int multi;
    uint64_t sp_min;     /* the oldest savepoint's commit seen so far */
};

/* Reports the first problem found, in msg and in birch_errmsg(), with the
 * check's place in this file (as BI_CORRUPT does), so that a report names
 * the check that failed. */
#define fail(c, ...) fail_at(c, __FILE__, __LINE__, __VA_ARGS__)
static int fail_at(chk *c, const char *file, int line, const char *fmt, ...) BI_PRINTF(4, 5);
static int fail_at(chk *c, const char *file, int line, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    bi_corrupt_record(file, line, "birch_check: %s", buf); /* formats the place as BI_CORRUPT does */
    char full[512];
    snprintf(full, sizeof full, "%s", birch_errmsg());
    if (c->msg && c->msg_size) snprintf(c->msg, c->msg_size, "%s", full);
    return bi_err(BIRCH_ECORRUPT, "%s", full);
}

static int mark(chk *c, uint64_t pgno, uint64_t n, const char *what)
{
    if (pgno < BI_META_PAGES || pgno > c->npages || n > c->npages - pgno)
        return fail(c, "%s: page %llu (+%llu) outside the file's %llu pages", what,
                    (unsigned long long)pgno, (unsigned long long)n, (unsigned long long)c->npages);
    if (c->nomark) return BIRCH_OK;
    for (uint64_t p = pgno; p < pgno + n; p++) {
        if (c->seen[p / 8] & (1u << (p % 8)))
            return fail(c, "%s: page %llu is referenced twice", what, (unsigned long long)p);
        c->seen[p / 8] |= (uint8_t)(1u << (p % 8));
    }
    c->marked += n;
    /* Every page of the state is marked once (or check fails), so the
     * marks count the work done out of npages - 2. */
    if (c->progress && c->marked - c->reported >= 4096) {
        c->reported = c->marked;
        return c->progress(c->marked, c->npages - BI_META_PAGES, c->progress_ctx);
    }
    return BIRCH_OK;
}

typedef struct range {
    const uint8_t *lo, *hi; /* lo <= key < hi; NULL: unbounded */
    size_t lolen, hilen;
} range;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The nodes must tile [upper, page end) exactly: sorted by offset, each
 * ends where the next begins.  spans[i] = offset << 16 | size / 8. */
static int check_tiling(chk *c, uint8_t *p, uint64_t pgno, unsigned n)
{
    qsort(c->spans, n, sizeof *c->spans, cmp_u32);
    uint64_t at = bi_hdr(p)->upper;
    for (unsigned i = 0; i < n; i++) {
        uint64_t off = c->spans[i] >> 16, size = (uint64_t)(c->spans[i] & 0xffff) * 8;
        if (off != at) return fail(c, "page %llu: nodes overlap or leave a gap at offset %llu",
                                   (unsigned long long)pgno, (unsigned long long)at);
        at = off + size;
    }
    if (at != c->txn->db->psize) return fail(c, "page %llu: nodes do not reach the page end", (unsigned long long)pgno);
    return BIRCH_OK;
}

/* Slots: in bounds, heads right, keys ascending and inside the range. */
static int check_slots(chk *c, uint8_t *p, uint64_t pgno, const range *r)
{
    unsigned n = bi_nkeys(p);
    int branch = !bi_is_leaf(p);
    for (unsigned i = 0; i < n; i++) {
        if (bi_slot_ok(c->txn, p, i))
            return fail(c, "page %llu: slot %u out of bounds (%s)", (unsigned long long)pgno, i, birch_errmsg());
        const uint8_t *k = bi_node_key(p, i);
        size_t kl = bi_node_klen(p, i);
        size_t size = branch ? bi_bnode_size(kl)
                             : bi_lnode_size(kl, bi_leaf_node(p, i)->vlen, bi_leaf_node(p, i)->flags & BI_N_BIG);
        c->spans[i] = (uint32_t)bi_slots(p)[i].off << 16 | (uint32_t)(size / 8);
        if (branch && i == 0) {
            if (kl) return fail(c, "page %llu: first branch key is not empty", (unsigned long long)pgno);
            continue;
        }
        if (bi_slots(p)[i].head != bi_key_head(k, kl))
            return fail(c, "page %llu: slot %u head does not match its key", (unsigned long long)pgno, i);
        if (!branch && kl == 0) return fail(c, "page %llu: empty key", (unsigned long long)pgno);
        if (i > (unsigned)branch) {
            unsigned j = i - 1;
            if (bi_key_cmp(bi_node_key(p, j), bi_node_klen(p, j), k, kl) >= 0)
                return fail(c, "page %llu: keys %u and %u out of order", (unsigned long long)pgno, j, i);
        }
        if ((r->lo && bi_key_cmp(k, kl, r->lo, r->lolen) < 0) || (r->hi && bi_key_cmp(k, kl, r->hi, r->hilen) >= 0))
            return fail(c, "page %llu: key %u outside the range its parent gives", (unsigned long long)pgno, i);
    }
    return check_tiling(c, p, pgno, n);
}

static int check_leaf(chk *c, uint8_t *p, uint64_t pgno, int *big)
{
    for (unsigned i = 0; i < bi_nkeys(p); i++) {
        birch_val v;
        if (bi_leaf_value(c->txn, p, i, &v))
            return fail(c, "page %llu: slot %u has a bad overflow value", (unsigned long long)pgno, i);
        if (bi_leaf_node(p, i)->flags & BI_N_BIG) {
            *big = 1;
            bi_bigval bv;
            memcpy(&bv, bi_leaf_val(p, i), sizeof bv);
            uint32_t np = bi_overflow_pages(c->txn->db, v.size);
            int rc = mark(c, bv.pgno, np, "overflow run");
            if (rc) return rc;
            const uint8_t *run = (const uint8_t *)v.data - BI_HDR;
            if (bi_sum(run, (size_t)np * c->txn->db->psize) != bv.csum)
                return fail(c, "overflow run at page %llu: checksum mismatch", (unsigned long long)bv.pgno);
        }
        c->entries++;
        if (c->on_entry) {
            int rc = c->on_entry(c, p, i);
            if (rc) return rc;
        }
    }
    return BIRCH_OK;
}

/* Walks the subtree at pgno, whose parent (or the meta, or the catalog)
 * says its page hashes to csum; *n gets its records and *big whether one
 * of them is in an overflow run (what its parent's count word must say). */
static int walk(chk *c, uint64_t pgno, int level, const range *r, int root, uint64_t csum, uint64_t *n, int *big)
{
    uint8_t *p;
    if (bi_page_read(c->txn, pgno, level, &p)) /* its message says what is wrong: keep it */
        return fail(c, "page %llu: bad page header or wrong level (%s)", (unsigned long long)pgno, birch_errmsg());
    if (bi_sum(p, c->txn->db->psize) != csum)
        return fail(c, "page %llu: checksum mismatch", (unsigned long long)pgno);
    int rc = mark(c, pgno, 1, "tree page");
    if (rc == BIRCH_OK) rc = check_slots(c, p, pgno, r);
    if (rc) return rc;
    if (!root && bi_nkeys(p) == 0) return fail(c, "page %llu: empty non-root page", (unsigned long long)pgno);
    *n = 0;
    *big = 0;
    if (bi_is_leaf(p)) {
        *n = bi_nkeys(p);
        return check_leaf(c, p, pgno, big);
    }
    if (bi_nkeys(p) == 0) return fail(c, "page %llu: empty branch", (unsigned long long)pgno);
    for (unsigned i = 0; i < bi_nkeys(p); i++) {
        range cr = *r;
        if (i > 0) cr.lo = bi_node_key(p, i), cr.lolen = bi_node_klen(p, i);
        if (i + 1 < bi_nkeys(p)) cr.hi = bi_node_key(p, i + 1), cr.hilen = bi_node_klen(p, i + 1);
        uint64_t cn, w = bi_branch_count(p, i);
        int cbig;
        rc = walk(c, bi_branch_child(p, i), (int)bi_level(p) - 1, &cr, 0, bi_branch_csum(p, i), &cn, &cbig);
        if (rc) return rc;
        /* The big mark may stay set after the last big value left (it is
         * cleared by splits and merges only): only a missing one is wrong. */
        if ((w & BI_COUNT_MASK) != cn || (cbig && !(w & BI_COUNT_BIG)))
            return fail(c, "page %llu slot %u: its count word says %llu records%s, the subtree holds %llu%s",
                        (unsigned long long)pgno, i, (unsigned long long)(w & BI_COUNT_MASK),
                        w & BI_COUNT_BIG ? " (some big)" : "", (unsigned long long)cn, cbig ? " (some big)" : "");
        *n += cn;
        *big |= cbig;
    }
    return BIRCH_OK;
}

static int walk_tree(chk *c, const bi_tree *t, const char *name, entry_fn fn)
{
    c->entries = 0;
    c->on_entry = fn;
    range r = {0};
    if (!t->root && t->csum) return fail(c, "%s: empty tree with a non-zero checksum", name);
    if (t->root) {
        uint64_t n;
        int big;
        int rc = walk(c, t->root, -1, &r, 1, t->csum, &n, &big);
        if (rc) return rc;
    }
    if (c->entries != t->count)
        return fail(c, "%s: %llu entries found, %llu recorded", name, (unsigned long long)c->entries,
                    (unsigned long long)t->count);
    return BIRCH_OK;
}

/* A table's record.  In a multimap table each record is a pair (FORMAT.md
 * 9.1): its key a key of 1.. bytes escaped and ended, then the value; its
 * own value empty.  Reads of a record that is not refuse it (cursor.c,
 * bi_multi_decode); a put never writes one. */
static int table_entry(chk *c, uint8_t *leaf, unsigned i)
{
    if (!c->multi) return BIRCH_OK;
    unsigned long long pg = (unsigned long long)bi_hdr(leaf)->pgno;
    const uint8_t *v;
    size_t kn, vn;
    if (bi_multi_decode(bi_node_key(leaf, i), bi_node_klen(leaf, i), NULL, &kn, &v, &vn))
        return fail(c, "multimap table '%s', page %llu slot %u: a record whose key is not a pair's (a key of 1.. "
                       "bytes escaped, 00 -> 00 FF, and ended by 00 00, then the value)", c->table, pg, i);
    const bi_lnode *n = bi_leaf_node(leaf, i);
    if (n->vlen || (n->flags & BI_N_BIG))
        return fail(c, "multimap table '%s', page %llu slot %u: a record with a %u-byte value (a pair is all key)",
                    c->table, pg, i, n->vlen);
    return BIRCH_OK;
}

static int catalog_entry(chk *c, uint8_t *leaf, unsigned i)
{
    birch_val v;
    bi_table_rec rec;
    char name[BIRCH_MAX_NAME_SIZE + 1];
    size_t kl = bi_node_klen(leaf, i);
    if (kl > BIRCH_MAX_NAME_SIZE) return fail(c, "catalog: table name too long");
    if (kl == 0 || memchr(bi_node_key(leaf, i), 0, kl)) return fail(c, "catalog: table name empty or with a NUL byte");
    memcpy(name, bi_node_key(leaf, i), kl);
    name[kl] = 0;
    bi_leaf_value(c->txn, leaf, i, &v);
    if (v.size < sizeof rec) return fail(c, "catalog: record of table '%s' too short", name);
    memcpy(&rec, v.data, sizeof rec);
    if (rec.schema_len > BIRCH_MAX_SCHEMA_SIZE || v.size != sizeof rec + rec.schema_len)
        return fail(c, "catalog: record of table '%s' has a bad schema length", name);
    if (rec.flags & ~BI_TABLE_MULTIMAP)
        return fail(c, "catalog: record of table '%s' has unknown flags %#x (birch knows %#x, multimap)", name,
                    rec.flags, BI_TABLE_MULTIMAP);
    /* Tables are walked after the catalog walk: the walk state is shared. */
    uint64_t saved = c->entries;
    entry_fn fn = c->on_entry;
    c->table = name;
    c->multi = (rec.flags & BI_TABLE_MULTIMAP) != 0;
    int rc = walk_tree(c, &rec.tree, name, table_entry);
    c->entries = saved;
    c->on_entry = fn;
    c->table = NULL;
    c->multi = 0;
    return rc;
}

/* A savepoint: its name and record, and the whole state it keeps, walked
 * like the current one (checksums from its catalog down, key order,
 * counts, runs) without marking its pages, which belong to the current
 * state or wait, pending, for the savepoint to go. */
static int savepoint_entry(chk *c, uint8_t *leaf, unsigned i)
{
    birch_val v;
    bi_savepoint sp;
    const bi_meta *m = &c->txn->meta;
    size_t kl = bi_node_klen(leaf, i);
    if (kl == 0 || kl > BIRCH_MAX_SAVEPOINT_NAME || memchr(bi_node_key(leaf, i), 0, kl))
        return fail(c, "savepoint tree: a name of %zu bytes, or one holding NUL", kl);
    bi_leaf_value(c->txn, leaf, i, &v);
    if (v.size != sizeof sp) return fail(c, "savepoint tree: a record of %zu bytes", v.size);
    memcpy(&sp, v.data, sizeof sp);
    if (sp.txnid >= m->txnid) /* it keeps a commit before the one that made it */
        return fail(c, "savepoint %.*s keeps commit %llu, not before the snapshot's %llu", (int)kl,
                    (const char *)bi_node_key(leaf, i), (unsigned long long)sp.txnid, (unsigned long long)m->txnid);
    if (sp.npages > m->npages)
        return fail(c, "savepoint %.*s: %llu pages, more than the file's %llu", (int)kl,
                    (const char *)bi_node_key(leaf, i), (unsigned long long)sp.npages, (unsigned long long)m->npages);
    if (sp.txnid < c->sp_min) c->sp_min = sp.txnid;
    uint64_t saved = c->entries;
    entry_fn fn = c->on_entry;
    c->nomark++;
    int rc = walk_tree(c, &sp.catalog, "a savepoint's catalog", catalog_entry);
    c->nomark--;
    c->entries = saved;
    c->on_entry = fn;
    return rc;
}

/* A run the free-space map lists: its pages are marked like a tree's.
 * (A group freed by a commit after the snapshot's, which the limits could
 * never reach, is a leak the replay itself refuses, freemap.c.) */
static int map_run(void *ctx, int kind, uint64_t start, uint64_t len, uint64_t txnid, int young)
{
    chk *c = ctx;
    (void)txnid;
    (void)young;
    if (kind != BI_FM_RECORD) c->free_pages += len;
    return mark(c, start, len, kind == BI_FM_RECORD ? "free-space map record" : "free-space map");
}

/* The map's records verify and replay (freemap.c), and every page they list
 * is marked once. */
static int check_map(chk *c)
{
    int rc = bi_freemap_walk(c->txn, map_run, c);
    if (rc == BIRCH_ECORRUPT && c->msg && c->msg_size && !c->msg[0]) return fail(c, "%s", birch_errmsg());
    return rc;
}

/* The snapshot's meta, as the handle published it: the copy must still
 * hash to its checksum and describe a state of this database. */
static int check_meta(chk *c)
{
    const bi_meta *m = &c->txn->meta;
    unsigned long long id = (unsigned long long)m->txnid;
    if (!bi_meta_valid(m)) return fail(c, "meta of transaction %llu: checksum mismatch", id);
    if (m->version != BI_FORMAT_VERSION)
        return fail(c, "meta of transaction %llu: format version %u", id, m->version);
    if (m->page_size != c->txn->db->psize)
        return fail(c, "meta of transaction %llu: page size %u, the database's is %u", id, m->page_size,
                    c->txn->db->psize);
    if (m->npages < BI_META_PAGES) return fail(c, "meta of transaction %llu: %llu pages", id, (unsigned long long)m->npages);
    return BIRCH_OK;
}

/* The meta page on disk that holds the snapshot must hold exactly its
 * meta.  Done on read-only handles only, while no writer of any handle
 * runs (the writer lock, tried: a busy writer skips the comparison, and a
 * handle open for writing may itself be rewriting its meta pages), and
 * only while the snapshot is still the last commit: a commit since moves
 * the metas on (a non-durable one overwrites the slot of the one before),
 * and so does a newer sound meta a writer killed before publishing it left
 * in the file. */
static int check_meta_on_disk(chk *c)
{
    birch_db *db = c->txn->db;
    if (!db->opts.read_only) return BIRCH_OK;
    bi_errmark mark = bi_err_mark();
    int rc = bi_writer_lock(db, 1, bi_thread_id(), "birch_check");
    bi_err_end(mark, rc == BIRCH_EBUSY);
    if (rc) return rc == BIRCH_EBUSY ? BIRCH_OK : rc;
    bi_meta pub, disk[2];
    if (bi_published(db, &pub)) pub.txnid = UINT64_MAX; /* unreadable: nothing to compare */
    int found = -1, newer = 0, damaged = db->meta_slot;
    for (int s = 0; s < 2 && rc == BIRCH_OK && pub.txnid == c->txn->meta.txnid; s++) {
        rc = db->io.ops->read(db->file, &disk[s], sizeof disk[s], (uint64_t)s * db->psize);
        if (rc) break;
        if (!memcmp(&disk[s], &c->txn->meta, sizeof disk[s])) found = s;
        if (bi_meta_valid(&disk[s]) && disk[s].txnid > pub.txnid) newer = 1;
        if (disk[s].txnid == pub.txnid) damaged = s;
    }
    bi_writer_unlock(db);
    if (rc || found >= 0 || newer || pub.txnid != c->txn->meta.txnid) return rc;
    return fail(c, "meta page %d on disk no longer holds the meta of transaction %llu (it holds %s, transaction %llu)",
                damaged, (unsigned long long)c->txn->meta.txnid,
                bi_meta_valid(&disk[damaged]) ? "a sound meta" : "a damaged meta",
                (unsigned long long)disk[damaged].txnid);
}

static int run(chk *c)
{
    const bi_meta *m = &c->txn->meta;
    int rc = check_meta(c);
    if (rc == BIRCH_OK) rc = check_meta_on_disk(c);
    if (rc == BIRCH_OK) rc = walk_tree(c, &m->catalog, "catalog", catalog_entry);
    c->sp_min = UINT64_MAX;
    if (rc == BIRCH_OK) rc = walk_tree(c, &m->savepoints, "savepoints", savepoint_entry);
    if (rc == BIRCH_OK && m->savepoints.count && m->sp_oldest != c->sp_min)
        rc = fail(c, "meta: the oldest savepoint is commit %llu, the meta says %llu", (unsigned long long)c->sp_min,
                  (unsigned long long)m->sp_oldest);
    if (rc == BIRCH_OK) rc = check_map(c);
    if (rc) return rc;
    if (c->free_pages != m->free_pages)
        return fail(c, "free-space map lists %llu pages, meta records %llu", (unsigned long long)c->free_pages,
                    (unsigned long long)m->free_pages);
    for (uint64_t p = BI_META_PAGES; p < c->npages; p++)
        if (!(c->seen[p / 8] & (1u << (p % 8))))
            return fail(c, "page %llu is neither in use nor free (leaked)", (unsigned long long)p);
    return BIRCH_OK;
}

int bi_check(birch_db *db, char *msg, size_t msg_size, birch_progress_fn progress, void *ctx)
{
    int rc = bi_db_check(db, "birch_check"); /* its own name in the message, not birch_txn_begin's */
    if (rc) return rc;
    if (msg && msg_size) msg[0] = 0;
    birch_txn *tok, *txn;
    rc = birch_txn_begin(db, BIRCH_TXN_READ, &tok);
    if (rc) return rc;
    txn = tok;
    (void)bi_txn_use(&txn); /* just begun: live */
    chk c = {.txn = txn, .npages = txn->meta.npages, .msg = msg, .msg_size = msg_size, .progress = progress,
             .progress_ctx = ctx};
    c.seen = calloc(c.npages / 8 + 1, 1);
    c.spans = malloc(db->psize / BI_SLOT * sizeof *c.spans);
    rc = c.seen && c.spans ? run(&c) : bi_err(BIRCH_ENOMEM, "birch_check: out of memory for a map of %llu pages",
                                              (unsigned long long)c.npages);
    if (rc == BIRCH_OK && progress) rc = progress(c.npages - BI_META_PAGES, c.npages - BI_META_PAGES, ctx);
    if (rc == BIRCH_OK && msg && msg_size) snprintf(msg, msg_size, "ok: %llu pages checked", (unsigned long long)c.npages);
    free(c.seen);
    free(c.spans);
    birch_txn_abort(tok);
    return rc;
}

int birch_check(birch_db *db, char *msg, size_t msg_size)
{
    return bi_check(db, msg, msg_size, NULL, NULL);
}
