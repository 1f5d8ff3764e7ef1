/*
 * nest.c - nested transactions (LMDB's nested transactions, SQLite's
 * SAVEPOINT): a child of a write transaction whose commit folds into its
 * parent and whose abort undoes only its own changes, at any depth.
 *
 * All levels share the root transaction's state: its dirty pages, table
 * states and allocator.  A child is a handle of its own (a token that
 * ends with it) whose struct names the root and its level; the calls made
 * through it run on the root.  What a level can undo:
 *   - pages dirty from an earlier level that it changes or frees: their
 *     contents are copied once, when the level first touches them (the
 *     dirty entry's level says whether it has), so a child costs a copy
 *     of the pages it changes that its parents had written, and nothing
 *     for untouched pages (clean pages are copied on write anyway);
 *   - pages it makes (born): dropped by its abort;
 *   - the transaction's meta (the catalog's root, the page count), its
 *     table states, failure state, whether it restored a savepoint, and
 *     the allocator: copied as the level begins (the allocator's vectors
 *     of free runs, not pages).
 * A commit hands the level's copies to its parent, keeping the parent's
 * own where it has one (the older contents win); an abort puts them back.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Nesting deeper than this is refused: dirty entries keep their level in
 * 16 bits. */
#define BI_NEST_MAX 65535u

typedef struct bi_undo {
    uint64_t pgno;
    uint8_t *buf;     /* the page's contents before the level changed it */
    uint32_t npages;
    uint32_t prev;    /* the entry's level before */
} bi_undo;

typedef struct bi_nlevel {
    bi_undo *undo;
    size_t nundo, undo_cap;
    uint64_t *born;
    size_t nborn, born_cap;
    bi_meta meta;          /* the root's meta as the level began */
    bi_tstate *ts;         /* its table states */
    uint32_t nts;
    int state;
    int sp_restored;       /* whether a savepoint had been restored (savepoint.c) */
    bi_alloc *alloc;       /* the allocator */
    bi_batch_mark feed;    /* the change feed's batch (feed.c) */
    birch_txn *child;      /* the level's handle (struct) */
} bi_nlevel;

struct bi_nest {
    bi_nlevel *v;           /* v[0] is level 1 */
    uint32_t cap;
};

static bi_nlevel *level_of(birch_txn *root, uint32_t lvl)
{
    return &root->nest->v[lvl - 1];
}

static void level_free(birch_db *db, bi_nlevel *l)
{
    for (size_t i = 0; i < l->nundo; i++) bi_pagebuf_put(db, l->undo[i].buf);
    free(l->undo);
    free(l->born);
    free(l->ts);
    bi_alloc_forget(l->alloc);
    memset(l, 0, sizeof *l);
}

int bi_txn_nested(birch_txn **txn)
{
    birch_txn *t = *txn;
    if (!t->nest_root)
        return bi_err(BIRCH_EBUSY, "the transaction has an open child (birch_txn_begin_nested): commit or abort "
                                   "the child first");
    birch_txn *root = t->nest_root;
    if (root->nest_level != t->nest_level)
        return bi_err(BIRCH_EBUSY, "this child transaction has an open child of its own: commit or abort it first");
    *txn = root;
    return BIRCH_OK;
}

int bi_nest_keep(birch_txn *txn, uint64_t pgno)
{
    bi_dirty *d = bi_dirty_find(txn, pgno);
    if (!d || d->level >= txn->nest_level) return BIRCH_OK; /* clean, or this level's already */
    bi_nlevel *l = level_of(txn, txn->nest_level);
    if (l->nundo == l->undo_cap) {
        size_t cap = l->undo_cap ? l->undo_cap * 2 : 16;
        bi_undo *u = realloc(l->undo, cap * sizeof *u);
        if (!u) return bi_err(BIRCH_ENOMEM, "out of memory keeping a page for a nested transaction");
        l->undo = u;
        l->undo_cap = cap;
    }
    size_t bytes = (size_t)d->npages * txn->db->psize;
    uint8_t *copy = bi_pagebuf_get(txn->db, d->npages);
    if (!copy) return bi_err(BIRCH_ENOMEM, "out of memory keeping a page for a nested transaction");
    /* A spilled page is in the file, which the map covers (spill.c). */
    memcpy(copy, d->buf ? d->buf : txn->map + pgno * txn->db->psize, bytes);
    l->undo[l->nundo++] = (bi_undo){pgno, copy, d->npages, d->level};
    d->level = (uint16_t)txn->nest_level;
    return BIRCH_OK;
}

int bi_nest_born(birch_txn *txn, uint64_t pgno)
{
    bi_nlevel *l = level_of(txn, txn->nest_level);
    if (l->nborn == l->born_cap) {
        size_t cap = l->born_cap ? l->born_cap * 2 : 32;
        uint64_t *b = realloc(l->born, cap * sizeof *b);
        if (!b) return bi_err(BIRCH_ENOMEM, "out of memory for a nested transaction's pages");
        l->born = b;
        l->born_cap = cap;
    }
    l->born[l->nborn++] = pgno;
    return BIRCH_OK;
}

int birch_txn_begin_nested(birch_txn *parent, birch_txn **out)
{
    if (!parent || !out) return bi_err(BIRCH_EINVAL, "birch_txn_begin_nested: %s is NULL", parent ? "child" : "parent");
    birch_txn *root = parent;
    int rc = bi_txn_use(&root); /* EBUSY if parent has an open child */
    if (rc) return rc;
    if (!root->write) return bi_err(BIRCH_EINVAL, "birch_txn_begin_nested: the parent is a read transaction (only "
                                                  "write transactions nest)");
    if (root->state != BI_TXN_LIVE)
        return bi_err(BIRCH_ETXN, "birch_txn_begin_nested: the parent failed earlier: abort it");
    uint32_t lvl = root->nest_level + 1;
    if (lvl > BI_NEST_MAX) return bi_err(BIRCH_EINVAL, "birch_txn_begin_nested: more than %u levels", BI_NEST_MAX);
    if (!root->nest && !(root->nest = calloc(1, sizeof *root->nest)))
        return bi_err(BIRCH_ENOMEM, "out of memory for a nested transaction");
    struct bi_nest *n = root->nest;
    if (lvl > n->cap) {
        uint32_t cap = n->cap ? n->cap * 2 : 4;
        bi_nlevel *v = realloc(n->v, cap * sizeof *v);
        if (!v) return bi_err(BIRCH_ENOMEM, "out of memory for a nested transaction");
        memset(v + n->cap, 0, (cap - n->cap) * sizeof *v);
        n->v = v;
        n->cap = cap;
    }
    bi_nlevel *l = level_of(root, lvl);
    memset(l, 0, sizeof *l);
    l->feed = bi_feed_mark(root); /* a reserved value still unfilled stays pending past it */
    l->meta = root->meta;
    l->state = root->state;
    l->sp_restored = root->sp_restored;
    l->nts = root->nts;
    if (l->nts && !(l->ts = malloc(l->nts * sizeof *l->ts))) rc = bi_err(BIRCH_ENOMEM, "out of memory for a nested transaction");
    if (rc == BIRCH_OK && l->nts) memcpy(l->ts, root->ts, l->nts * sizeof *l->ts);
    if (rc == BIRCH_OK) rc = bi_alloc_save(root, &l->alloc);
    birch_txn *c = NULL;
    if (rc == BIRCH_OK) rc = bi_txn_claim(root->db, &c);
    if (rc) {
        level_free(root->db, l);
        return rc;
    }
    c->db = root->db;
    c->write = 1;
    c->internal = 1;
    c->nest_root = root;
    c->nest_level = lvl;
    l->child = c;
    root->nest_level = lvl;
    *out = c->token;
    return BIRCH_OK;
}

/* Undoes the deepest level, lvl (root->nest_level): its pages, then its
 * copies.  A failure to put a page back (no memory for the dirty table)
 * fails the root instead. */
static void undo_level(birch_txn *root, uint32_t lvl)
{
    bi_nlevel *l = level_of(root, lvl);
    int rc = BIRCH_OK;
    for (size_t i = l->nborn; i-- > 0;) bi_dirty_drop_level(root, l->born[i], lvl);
    for (size_t i = l->nundo; i-- > 0;) {
        bi_undo *u = &l->undo[i];
        if (rc == BIRCH_OK) rc = bi_dirty_restore(root, u->pgno, u->buf, u->npages, u->prev);
        if (rc == BIRCH_OK) u->buf = NULL; /* the dirty table's now */
    }
    root->meta = l->meta;
    bi_feed_cut(root, l->feed);
    for (uint32_t i = 0; i < root->nts; i++) /* tables first used by the level are read again */
        root->ts[i] = i < l->nts ? l->ts[i] : (bi_tstate){0};
    bi_alloc_restore(root, l->alloc);
    l->alloc = NULL;
    root->state = rc ? BI_TXN_FAILED : l->state;
    root->sp_restored = l->sp_restored; /* a restore the level made is undone: savepoints can be made again */
    root->mod_seq++; /* cursors find their place again; lent pointers end */
}

/* Ends level lvl, the deepest: its handle, then what it kept. */
static void end_level(birch_txn *root, uint32_t lvl)
{
    bi_nlevel *l = level_of(root, lvl);
    birch_txn *c = l->child;
    root->nest_level = lvl - 1;
    level_free(root->db, l);
    if (c) bi_txn_unclaim(c);
}

void bi_nest_abort(birch_txn *child)
{
    birch_txn *root = child->nest_root;
    uint32_t lvl = child->nest_level;
    while (root->nest_level >= lvl) {
        uint32_t deepest = root->nest_level;
        undo_level(root, deepest);
        end_level(root, deepest);
    }
}

/* Hands level lvl's copies to its parent: where the parent (a child
 * itself) has its own copy of a page, or made the page, the older one is
 * the parent's; otherwise this level's copy is what the parent must put
 * back.  The root keeps no copies. */
static int fold(birch_txn *root, uint32_t lvl)
{
    bi_nlevel *l = level_of(root, lvl), *p = lvl > 1 ? level_of(root, lvl - 1) : NULL;
    /* Room first, in the parent's lists, for everything handed over: a
     * failure must come before anything moved (the child's abort then
     * puts back what it kept, whole). */
    if (p && p->nundo + l->nundo > p->undo_cap) {
        size_t cap = p->nundo + l->nundo;
        bi_undo *v = realloc(p->undo, cap * sizeof *v);
        if (!v) return bi_err(BIRCH_ENOMEM, "out of memory committing a nested transaction");
        p->undo = v;
        p->undo_cap = cap;
    }
    if (p && p->nborn + l->nborn > p->born_cap) {
        size_t cap = p->nborn + l->nborn;
        uint64_t *b = realloc(p->born, cap * sizeof *b);
        if (!b) return bi_err(BIRCH_ENOMEM, "out of memory committing a nested transaction");
        p->born = b;
        p->born_cap = cap;
    }
    for (size_t i = 0; i < l->nundo; i++) {
        bi_undo *u = &l->undo[i];
        bi_dirty *d = bi_dirty_find(root, u->pgno);
        if (d && d->level == lvl) d->level = (uint16_t)(lvl - 1);
        if (!p || u->prev == lvl - 1) continue;
        p->undo[p->nundo++] = *u;
        u->buf = NULL; /* the parent's now */
    }
    for (size_t i = 0; i < l->nborn; i++) {
        bi_dirty *d = bi_dirty_find(root, l->born[i]);
        if (d && d->level == lvl) d->level = (uint16_t)(lvl - 1);
        if (p) p->born[p->nborn++] = l->born[i];
    }
    return BIRCH_OK;
}

int bi_nest_commit(birch_txn *child)
{
    birch_txn *root = child->nest_root;
    uint32_t lvl = child->nest_level;
    if (root->nest_level != lvl)
        return bi_err(BIRCH_EBUSY, "birch_txn_commit: this child transaction has an open child: commit or abort it "
                                   "first");
    if (root->state != BI_TXN_LIVE) {
        bi_nest_abort(child);
        return bi_err(BIRCH_ETXN, "birch_txn_commit: an earlier call failed in this child transaction, so it was "
                                  "aborted (its parent goes on)");
    }
    int rc = fold(root, lvl);
    if (rc) {
        bi_nest_abort(child); /* the parent goes on without the child's changes */
        return rc;
    }
    end_level(root, lvl);
    return BIRCH_OK;
}

void bi_nest_end_all(birch_txn *root)
{
    if (!root->nest) return;
    while (root->nest_level) {
        end_level(root, root->nest_level);
    }
    free(root->nest->v);
    free(root->nest);
    root->nest = NULL;
}
