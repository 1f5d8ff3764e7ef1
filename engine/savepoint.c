/*
 * savepoint.c - persistent savepoints (redb's persistent savepoints): a
 * named committed state kept in the file, which a later write transaction
 * can restore.
 *
 * A savepoint is a record in the meta's savepoint tree: the commit it
 * keeps, that commit's catalog and page count (FORMAT.md 9.2).  Keeping it
 * costs no copy: like a reader of that commit, it stops the allocator from
 * reusing the pages later commits free (meta.sp_oldest, the oldest
 * savepoint, is taken as a reader's snapshot by every writer, txn.c).
 *
 * Restoring savepoint S in write transaction T:
 *   1. the pages of the current state that S does not have are freed: a
 *      page written after S (its header's txnid, or dirty in T) is new,
 *      and under a page written at or before S everything is as old
 *      (copy-on-write rewrites a page's parents with it), so the walk
 *      stops at the first old page of every path;
 *   2. the pages of S that commits after S (or T) freed are taken out of
 *      the pending lists, where S kept them (UNPEND): a page of S that is
 *      not pending is still in use, and so is everything under it, so this
 *      walk too stops at the first page in use;
 *   3. S's catalog becomes T's (its tables, records, schemas, sequences),
 *      and the savepoints made after S are dropped (their states are not
 *      ancestors of the restored one).
 * Both walks touch only what changed since S, not the database.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Names are keys of the savepoint tree: 1..BIRCH_MAX_SAVEPOINT_NAME bytes. */
static int name_ok(const char *fn, const char *name, size_t *len)
{
    if (!name) return bi_err(BIRCH_EINVAL, "%s: the savepoint name is NULL", fn);
    *len = strnlen(name, BIRCH_MAX_SAVEPOINT_NAME + 1);
    if (*len == 0) return bi_err(BIRCH_EINVAL, "%s: the savepoint name is empty", fn);
    if (*len > BIRCH_MAX_SAVEPOINT_NAME)
        return bi_err(BIRCH_EINVAL, "%s: a savepoint name longer than %u bytes", fn, BIRCH_MAX_SAVEPOINT_NAME);
    return BIRCH_OK;
}

static int parse(birch_val v, bi_savepoint *sp)
{
    if (v.size != sizeof *sp) return BI_CORRUPT("a savepoint record of %zu bytes (%zu)", v.size, sizeof *sp);
    memcpy(sp, v.data, sizeof *sp);
    return BIRCH_OK;
}

static int lookup(birch_txn *txn, const char *name, size_t len, bi_savepoint *sp)
{
    birch_val v;
    bi_errmark mark = bi_err_mark();
    int rc = bi_tree_get(txn, &txn->meta.savepoints, (const uint8_t *)name, len, &v);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    if (rc == BIRCH_NOTFOUND) return bi_err(BIRCH_NOTFOUND, "no savepoint named '%s'", name);
    return rc ? rc : parse(v, sp);
}

/* Records a savepoint change for the change feed (feed.c), before it is
 * made: every failure after this one fails the transaction. */
static int record(birch_txn *txn, int kind, const char *name, size_t len)
{
    bi_batch_mark m = {0, 0, 0, 0};
    return bi_feed_add(txn, kind, NULL, (birch_val){name, len}, (birch_val){NULL, 0}, 0, &m);
}

/* Common checks: a live write transaction and a valid name. */
static int begin(birch_txn **txn, const char *fn, const char *name, size_t *len)
{
    if (!*txn) return bi_err(BIRCH_EINVAL, "%s: txn is NULL", fn);
    int rc = bi_txn_use(txn);
    if (rc == BIRCH_OK) rc = name_ok(fn, name, len);
    if (rc == BIRCH_OK) rc = bi_txn_writable(*txn);
    return rc;
}

/* Calls fn for every savepoint of the tree, in name order, until it
 * returns non-zero (returned as is). */
static int each(birch_txn *txn, int (*fn)(birch_txn *, const uint8_t *, size_t, const bi_savepoint *, void *),
                void *ctx)
{
    bi_path path;
    bi_errmark mark = bi_err_mark();
    int rc = bi_path_first(txn, &txn->meta.savepoints, &path);
    while (rc == BIRCH_OK) {
        uint8_t *leaf = path.pg[path.depth - 1];
        unsigned i = path.idx[path.depth - 1];
        birch_val v;
        bi_savepoint sp;
        rc = bi_leaf_value(txn, leaf, i, &v);
        if (rc == BIRCH_OK) rc = parse(v, &sp);
        if (rc == BIRCH_OK) rc = fn(txn, bi_node_key(leaf, i), bi_node_klen(leaf, i), &sp, ctx);
        if (rc) return rc;
        rc = bi_path_next(txn, &path);
    }
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}

static int min_txnid(birch_txn *txn, const uint8_t *k, size_t kn, const bi_savepoint *sp, void *ctx)
{
    (void)txn, (void)k, (void)kn;
    uint64_t *m = ctx;
    if (sp->txnid < *m) *m = sp->txnid;
    return 0;
}

/* meta.sp_oldest after the savepoint tree changed: a walk of every
 * savepoint (drop of the oldest, restore).  Create and the drop of any
 * other need none (below). */
static int update_oldest(birch_txn *txn)
{
    uint64_t m = UINT64_MAX;
    int rc = each(txn, min_txnid, &m);
    if (rc == BIRCH_OK) txn->meta.sp_oldest = txn->meta.savepoints.count ? m : 0;
    return rc;
}

int birch_savepoint_create(birch_txn *txn, const char *name)
{
    size_t len;
    int rc = begin(&txn, "birch_savepoint_create", name, &len);
    if (rc) return rc;
    bi_savepoint sp;
    bi_errmark mark = bi_err_mark();
    rc = lookup(txn, name, len, &sp);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    if (rc == BIRCH_OK) return bi_err(BIRCH_EXISTS, "birch_savepoint_create: a savepoint named '%s' exists", name);
    if (rc != BIRCH_NOTFOUND) return rc;
    /* A savepoint keeps the last commit, and a restore needs the state it
     * keeps to be an ancestor of the one it replaces: after a restore in
     * this transaction the last commit is not one. */
    if (txn->sp_restored)
        return bi_err(BIRCH_EINVAL, "birch_savepoint_create: this transaction restored a savepoint: make the new one "
                                    "in a later transaction");
    /* The committed state this transaction began from: the last commit,
     * which no other writer can have moved on (the gate). */
    birch_db *db = txn->db;
    pthread_mutex_lock(&db->lock);
    bi_meta base = db->meta;
    pthread_mutex_unlock(&db->lock);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sp = (bi_savepoint){base.txnid, base.npages, base.catalog,
                        (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u};
    if ((rc = record(txn, BIRCH_BATCH_SAVEPOINT_CREATE, name, len))) return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    txn->mod_seq++;
    int first = txn->meta.savepoints.count == 0;
    rc = bi_tree_put(txn, &txn->meta.savepoints, (const uint8_t *)name, len, &sp, sizeof sp, 0, NULL);
    /* The new savepoint keeps the last commit, no older than any other's:
     * the oldest changes only when it is the first. */
    if (rc == BIRCH_OK && (first || sp.txnid < txn->meta.sp_oldest)) txn->meta.sp_oldest = sp.txnid;
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    return rc ? bi_txn_fail(txn, rc) : BIRCH_OK;
}

int birch_savepoint_drop(birch_txn *txn, const char *name)
{
    size_t len;
    int rc = begin(&txn, "birch_savepoint_drop", name, &len);
    bi_savepoint sp;
    if (rc == BIRCH_OK) rc = lookup(txn, name, len, &sp);
    if (rc == BIRCH_OK) rc = record(txn, BIRCH_BATCH_SAVEPOINT_DROP, name, len);
    if (rc) return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    rc = bi_tree_del(txn, &txn->meta.savepoints, (const uint8_t *)name, len);
    /* Only the drop of (one of) the oldest moves the oldest. */
    if (rc == BIRCH_OK && (sp.txnid <= txn->meta.sp_oldest || !txn->meta.savepoints.count)) rc = update_oldest(txn);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    return rc ? bi_txn_fail(txn, rc) : BIRCH_OK;
}

/* ---- Listing -------------------------------------------------------------- */

typedef struct list_ctx {
    int (*fn)(const birch_savepoint_info *sp, void *ctx);
    void *ctx;
} list_ctx;

static int list_one(birch_txn *txn, const uint8_t *k, size_t kn, const bi_savepoint *sp, void *ctx)
{
    (void)txn;
    list_ctx *l = ctx;
    char name[BIRCH_MAX_SAVEPOINT_NAME + 1];
    if (kn == 0 || kn > BIRCH_MAX_SAVEPOINT_NAME || memchr(k, 0, kn))
        return BI_CORRUPT("savepoint tree: a name of %zu bytes, or one holding NUL", kn);
    memcpy(name, k, kn);
    name[kn] = 0;
    birch_savepoint_info info = {name, sp->txnid, sp->created_ms};
    return l->fn(&info, l->ctx);
}

int birch_savepoint_list(birch_txn *txn, int (*fn)(const birch_savepoint_info *sp, void *ctx), void *ctx)
{
    if (!txn || !fn) return bi_err(BIRCH_EINVAL, "birch_savepoint_list: %s is NULL", txn ? "fn" : "txn");
    int rc = bi_txn_use(&txn);
    if (rc) return rc;
    if (txn->state != BI_TXN_LIVE) return bi_err(BIRCH_ETXN, "birch_savepoint_list: the transaction has failed");
    list_ctx l = {fn, ctx};
    return each(txn, list_one, &l);
}

/* ---- Restoring ------------------------------------------------------------- */

typedef struct restore {
    birch_txn *txn;
    uint64_t s;        /* the savepoint's commit */
    bi_revive *ix;     /* pending pages (step 2) */
    uint64_t visits;   /* pages entered: a damaged tree naming pages twice ends */
} restore;

static int visit(restore *r, uint64_t pgno)
{
    if (++r->visits <= 4 * r->txn->meta.npages + 16) return BIRCH_OK;
    return BI_CORRUPT("page %llu: restoring a savepoint visits more pages than the file has (pages named by several "
                      "parents)", (unsigned long long)pgno);
}

/* Whether page pgno of the current state was written after the savepoint. */
static int is_new(restore *r, uint64_t pgno)
{
    if (bi_page_is_dirty(r->txn, pgno)) return 1;
    const uint8_t *p = bi_page_get(r->txn, pgno);
    return p && ((const bi_phdr *)(const void *)p)->txnid > r->s;
}

static int overflow_of(birch_txn *txn, uint8_t *leaf, unsigned i, uint64_t *pgno, uint32_t *np)
{
    birch_val v;
    int rc = bi_leaf_value(txn, leaf, i, &v); /* validates the run */
    if (rc) return rc;
    memcpy(pgno, bi_leaf_val(leaf, i), 8);
    *np = bi_overflow_pages(txn->db, v.size);
    return BIRCH_OK;
}

/* The table tree a catalog record names. */
static int record_tree(birch_txn *txn, uint8_t *leaf, unsigned i, bi_tree *tree)
{
    birch_val v;
    bi_table_rec rec;
    int rc = bi_leaf_value(txn, leaf, i, &v);
    if (rc == BIRCH_OK && v.size < sizeof rec) rc = BI_CORRUPT("a catalog record of %zu bytes", v.size);
    if (rc == BIRCH_OK) memcpy(&rec, v.data, sizeof rec), *tree = rec.tree;
    return rc;
}

/* Step 1: frees the new pages of the subtree at pgno (and, in a catalog,
 * of the tables its records name). */
static int free_new(restore *r, uint64_t pgno, int level, int catalog)
{
    birch_txn *txn = r->txn;
    if (!is_new(r, pgno)) return BIRCH_OK;
    uint8_t *p;
    int rc = visit(r, pgno);
    if (rc == BIRCH_OK) rc = bi_page_read(txn, pgno, level, &p);
    for (unsigned i = 0; rc == BIRCH_OK && i < bi_nkeys(p); i++) {
        if ((rc = bi_slot_ok(txn, p, i))) break;
        if (!bi_is_leaf(p)) {
            rc = free_new(r, bi_branch_child(p, i), (int)bi_level(p) - 1, catalog);
            continue;
        }
        bi_tree t;
        if (catalog && (rc = record_tree(txn, p, i, &t)) == BIRCH_OK && t.root) rc = free_new(r, t.root, -1, 0);
        if (rc == BIRCH_OK && (bi_leaf_node(p, i)->flags & BI_N_BIG)) {
            uint64_t ov;
            uint32_t np;
            rc = overflow_of(txn, p, i, &ov, &np);
            if (rc == BIRCH_OK && is_new(r, ov)) rc = bi_page_free(txn, ov, np);
        }
    }
    return rc ? rc : bi_page_free(txn, pgno, 1); /* last: freeing may release p's buffer */
}

/* Step 2: takes the pages of the savepoint's subtree at pgno out of the
 * pending lists, down to the pages still in use. */
static int revive(restore *r, uint64_t pgno, int level, int catalog)
{
    birch_txn *txn = r->txn;
    int back, rc = visit(r, pgno);
    if (rc == BIRCH_OK) rc = bi_alloc_revive(txn, r->ix, pgno, 1, &back);
    if (rc || !back) return rc;
    uint8_t *p;
    rc = bi_page_read(txn, pgno, level, &p);
    for (unsigned i = 0; rc == BIRCH_OK && i < bi_nkeys(p); i++) {
        if ((rc = bi_slot_ok(txn, p, i))) break;
        if (!bi_is_leaf(p)) {
            rc = revive(r, bi_branch_child(p, i), (int)bi_level(p) - 1, catalog);
            continue;
        }
        bi_tree t;
        if (catalog && (rc = record_tree(txn, p, i, &t)) == BIRCH_OK && t.root) rc = revive(r, t.root, -1, 0);
        if (rc == BIRCH_OK && (bi_leaf_node(p, i)->flags & BI_N_BIG)) {
            uint64_t ov;
            uint32_t np;
            rc = overflow_of(txn, p, i, &ov, &np);
            if (rc == BIRCH_OK) rc = bi_alloc_revive(txn, r->ix, ov, np, &back);
        }
    }
    return rc;
}

typedef struct later {
    uint64_t s;
    uint8_t (*names)[BIRCH_MAX_SAVEPOINT_NAME];
    size_t *lens;
    size_t n, cap;
} later;

static int find_later(birch_txn *txn, const uint8_t *k, size_t kn, const bi_savepoint *sp, void *ctx)
{
    (void)txn;
    later *l = ctx;
    if (sp->txnid <= l->s) return 0;
    if (kn > BIRCH_MAX_SAVEPOINT_NAME) return BI_CORRUPT("savepoint tree: a name of %zu bytes", kn);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        void *a = realloc(l->names, cap * sizeof *l->names), *b = a ? realloc(l->lens, cap * sizeof *l->lens) : NULL;
        if (a) l->names = a;
        if (!a || !b) return bi_err(BIRCH_ENOMEM, "out of memory restoring a savepoint");
        l->lens = b;
        l->cap = cap;
    }
    memcpy(l->names[l->n], k, kn);
    l->lens[l->n++] = kn;
    return 0;
}

/* Step 3's second half: savepoints of commits after s go. */
static int drop_later(birch_txn *txn, uint64_t s)
{
    later l = {s, NULL, NULL, 0, 0};
    int rc = each(txn, find_later, &l);
    for (size_t i = 0; i < l.n && rc == BIRCH_OK; i++)
        rc = bi_tree_del(txn, &txn->meta.savepoints, l.names[i], l.lens[i]);
    free(l.names);
    free(l.lens);
    return rc;
}

int birch_savepoint_restore(birch_txn *txn, const char *name)
{
    size_t len;
    int rc = begin(&txn, "birch_savepoint_restore", name, &len);
    bi_savepoint sp;
    if (rc == BIRCH_OK) rc = lookup(txn, name, len, &sp);
    if (rc) return rc;
    if (sp.txnid >= txn->meta.txnid || sp.npages > txn->meta.npages)
        return BI_CORRUPT("savepoint '%s' keeps commit %llu (%llu pages), not before this transaction's %llu", name,
                          (unsigned long long)sp.txnid, (unsigned long long)sp.npages,
                          (unsigned long long)txn->meta.txnid);
    bi_feed_settle(txn); /* a restore replaces every page a reserved value could be in */
    if ((rc = record(txn, BIRCH_BATCH_SAVEPOINT_RESTORE, name, len))) return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    txn->mod_seq++;
    txn->sp_restored = 1;
    restore r = {txn, sp.txnid, NULL, 0};
    /* The tables' states go into the catalog first, so that step 1 sees
     * every tree as this transaction left it. */
    rc = bi_catalog_flush(txn);
    if (rc == BIRCH_OK && txn->meta.catalog.root) rc = free_new(&r, txn->meta.catalog.root, -1, 1);
    if (rc == BIRCH_OK) rc = bi_alloc_revive_begin(txn, sp.txnid, &r.ix);
    if (rc == BIRCH_OK && sp.catalog.root) rc = revive(&r, sp.catalog.root, -1, 1);
    bi_alloc_revive_end(r.ix);
    if (rc == BIRCH_OK) {
        txn->meta.catalog = sp.catalog;
        for (uint32_t i = 0; i < txn->nts; i++) txn->ts[i] = (bi_tstate){0}; /* read again from the catalog */
        rc = drop_later(txn, sp.txnid);
    }
    if (rc == BIRCH_OK) rc = update_oldest(txn);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    return rc ? bi_txn_fail(txn, rc) : BIRCH_OK;
}
