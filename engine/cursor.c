/*
 * cursor.c - ordered iteration over a table.
 *
 * A cursor is a root-to-leaf path.  In a read transaction the pages under
 * it never change, so moves just walk the path.  In a write transaction a
 * put or delete may move or free those pages; the cursor therefore keeps a
 * copy of its current key and, when the transaction has changed since
 * (txn->mod_seq), finds its place again by searching for that key.
 *
 * A cursor belongs to its caller: birch_cursor_open allocates it and
 * birch_cursor_close frees it, whenever it is called, touching nothing
 * else.  It holds its transaction's token (handles.c) and decodes it on
 * every call, so a cursor of an ended transaction answers BIRCH_ETXN,
 * whatever ran since, until it is closed.
 *
 * A read transaction may be reset and renewed (txn.c): its snapshot goes
 * and a newer one comes, and the path of a cursor names pages of the old
 * one, which writers may have reused since.  While the transaction is
 * reset every call answers BIRCH_ETXN; after the renew the cursor finds
 * its recorded snapshot generation (gen) behind the transaction's and
 * forgets its path: it is unpositioned, as if just opened, and never
 * reads a page of the snapshot that went.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int null_cursor(void)
{
    return bi_err_s(BIRCH_EINVAL, "the cursor is NULL");
}

static int ended(void)
{
    return bi_err_s(BIRCH_ETXN, "the cursor's transaction has ended or failed");
}

/* Every call's first step: decodes the cursor's transaction into cur->txn
 * (BIRCH_ETXN once it ended, BIRCH_EFORK in a fork child). */
static int live(birch_cursor *cur)
{
    /* The full decode's answer, without its arithmetic: the header still
     * has its magic and the slot still holds this transaction's number. */
    if (cur->hdr->magic != BI_TOK_MAGIC || atomic_load_explicit(cur->word, memory_order_acquire) != cur->n) {
        birch_txn *txn = cur->tok;
        int rc = bi_txn_use(&txn); /* says why: ended, or a fork child */
        if (rc) return rc;
        return ended();
    }
    birch_txn *txn = cur->txn;
    if (txn->state != BI_TXN_LIVE) return txn->state == BI_TXN_RESET ? bi_txn_parked() : ended();
    if (txn->write) {
        bi_txn_seen(txn); /* this thread holds it now (txn.c) */
    } else if (cur->gen != txn->snap_gen) { /* renewed since the path was taken: it names old pages */
        cur->positioned = 0;
        cur->gen = txn->snap_gen;
    }
    return BIRCH_OK;
}

static int tree_of(birch_cursor *cur, bi_tree **tree)
{
    bi_tstate *ts;
    int rc = bi_table_state(cur->txn, cur->table, &ts);
    if (rc == BIRCH_OK) *tree = &ts->tree;
    return rc;
}

/* Records the outcome of a move: positioned, and its key saved when the
 * pages under the cursor may change. */
static int settle(birch_cursor *cur, int rc)
{
    cur->positioned = rc == BIRCH_OK;
    BI_ASSERT(rc || (cur->path.depth >= 1 && cur->path.depth <= BI_MAX_DEPTH));
    if (rc || !cur->txn->write) return rc;
    bi_path *p = &cur->path;
    uint8_t *leaf = p->pg[p->depth - 1];
    unsigned i = p->idx[p->depth - 1];
    if ((rc = bi_slot_ok(cur->txn, leaf, i))) return cur->positioned = 0, rc;
    cur->keylen = bi_node_klen(leaf, i);
    memcpy(cur->keybuf, bi_node_key(leaf, i), cur->keylen);
    cur->seq = cur->txn->mod_seq;
    return BIRCH_OK;
}

/* Searches key; leaves the path at the first entry >= key.  *exact tells
 * whether it is key itself. */
static int lower_bound(birch_cursor *cur, const uint8_t *key, size_t klen, int *exact)
{
    bi_tree *tree;
    int rc = tree_of(cur, &tree);
    if (rc == BIRCH_OK) rc = bi_tree_search(cur->txn, tree, key, klen, &cur->path, exact);
    if (rc) return rc;
    bi_path *p = &cur->path;
    if (!p->depth) return bi_err_s(BIRCH_NOTFOUND, "the table is empty");
    unsigned n = bi_nkeys(p->pg[p->depth - 1]);
    if (p->idx[p->depth - 1] < n) return BIRCH_OK;
    if (n == 0) return bi_err_s(BIRCH_NOTFOUND, "no key at or after the one sought");
    p->idx[p->depth - 1] = n - 1; /* past the leaf's end: step to the next leaf */
    return bi_path_next(cur->txn, p);
}

/* True when the saved path may point at pages the transaction changed. */
static int stale(const birch_cursor *cur)
{
    return cur->txn->write && cur->seq != cur->txn->mod_seq;
}

int birch_cursor_open(birch_txn *txn, birch_table *t, birch_cursor **out)
{
    if (!txn || !t || !out)
        return bi_err(BIRCH_EINVAL, "birch_cursor_open: %s is NULL", !txn ? "txn" : !t ? "the table" : "cur");
    birch_txn *tok = txn;
    int rc = bi_txn_use(&txn);
    if (rc) return rc;
    bi_tstate *ts;
    rc = bi_table_state(txn, t, &ts);
    if (rc) return rc;
    birch_cursor *cur = calloc(1, sizeof *cur);
    if (!cur) return bi_err(BIRCH_ENOMEM, "out of memory for a cursor");
    if (txn->write && !(cur->keybuf = malloc(txn->db->max_key))) {
        free(cur);
        return bi_err(BIRCH_ENOMEM, "out of memory for a cursor");
    }
    cur->tok = tok;
    cur->txn = txn;
    cur->hdr = (const bi_tokhdr *)((uintptr_t)tok & ~(BI_TOK_REGION - 1));
    cur->word = &txn->tslot->cur;
    cur->n = (uint64_t)((uintptr_t)tok - cur->hdr->first);
    cur->table = t;
    cur->gen = txn->snap_gen;
    *out = cur;
    return BIRCH_OK;
}

int birch_cursor_seek(birch_cursor *cur, birch_val key)
{
    if (!cur) return bi_err(BIRCH_EINVAL, "birch_cursor_seek: cur is NULL");
    if (!key.data && key.size) return bi_err(BIRCH_EINVAL, "birch_cursor_seek: key.data is NULL with size %zu", key.size);
    int rc = live(cur);
    if (rc) return rc;
    if (key.size == 0 || key.size > cur->txn->db->max_key)
        return bi_err(BIRCH_EKEYSIZE, "birch_cursor_seek: a key of %zu bytes (1..%zu)", key.size, cur->txn->db->max_key);
    int exact;
    return settle(cur, lower_bound(cur, key.data, key.size, &exact));
}

int birch_cursor_first(birch_cursor *cur)
{
    if (!cur) return null_cursor();
    bi_tree *tree;
    int rc = live(cur);
    if (rc == BIRCH_OK) rc = tree_of(cur, &tree);
    if (rc == BIRCH_OK) rc = bi_path_first(cur->txn, tree, &cur->path);
    return settle(cur, rc);
}

int birch_cursor_last(birch_cursor *cur)
{
    if (!cur) return null_cursor();
    bi_tree *tree;
    int rc = live(cur);
    if (rc == BIRCH_OK) rc = tree_of(cur, &tree);
    if (rc == BIRCH_OK) rc = bi_path_last(cur->txn, tree, &cur->path);
    return settle(cur, rc);
}

int birch_cursor_next(birch_cursor *cur)
{
    if (!cur) return null_cursor();
    int rc0 = live(cur);
    if (rc0) return rc0;
    if (!cur->positioned) return birch_cursor_first(cur);
    if (stale(cur)) {
        int exact, rc = lower_bound(cur, cur->keybuf, cur->keylen, &exact);
        if (rc || !exact) return settle(cur, rc); /* the saved key is gone: its successor is next */
    }
    if (cur->txn->state != BI_TXN_LIVE) return ended();
    return settle(cur, bi_path_next(cur->txn, &cur->path));
}

int birch_cursor_prev(birch_cursor *cur)
{
    if (!cur) return null_cursor();
    int rc0 = live(cur);
    if (rc0) return rc0;
    if (!cur->positioned) return birch_cursor_last(cur);
    if (stale(cur)) {
        bi_tree *tree;
        int exact, rc = tree_of(cur, &tree);
        if (rc == BIRCH_OK) rc = bi_tree_search(cur->txn, tree, cur->keybuf, cur->keylen, &cur->path, &exact);
        if (rc == BIRCH_OK && !cur->path.depth) rc = bi_err_s(BIRCH_NOTFOUND, "the table is empty");
        if (rc) return settle(cur, rc);
        /* the path is at the first key >= the saved one: the one before it is prev */
    }
    if (cur->txn->state != BI_TXN_LIVE) return ended();
    return settle(cur, bi_path_prev(cur->txn, &cur->path));
}

int birch_cursor_get(birch_cursor *cur, birch_val *key, birch_val *val)
{
    if (!cur) return null_cursor();
    int rc0 = live(cur);
    if (rc0) return rc0;
    if (!cur->positioned) return bi_err_s(BIRCH_NOTFOUND, "the cursor is not positioned");
    bi_path *p = &cur->path;
    if (stale(cur)) {
        int exact, rc = lower_bound(cur, cur->keybuf, cur->keylen, &exact);
        if (rc) return rc;
        if (!exact) return bi_err_s(BIRCH_NOTFOUND, "the cursor's record was deleted"); /* next/prev still work */
        cur->seq = cur->txn->mod_seq;
    }
    uint8_t *leaf = p->pg[p->depth - 1];
    unsigned i = p->idx[p->depth - 1];
    /* bi_leaf_value validates the slot too: once is enough */
    int rc = val ? bi_leaf_value(cur->txn, leaf, i, val) : bi_slot_ok(cur->txn, leaf, i);
    if (rc) return rc;
    if (key) *key = (birch_val){bi_node_key(leaf, i), bi_node_klen(leaf, i)};
    if (cur->txn->write) { /* pointers a later put may be given (internal.h) */
        bi_lend(cur->txn, leaf);
        if (val) bi_lend(cur->txn, val->data);
    }
    return rc;
}

void birch_cursor_close(birch_cursor *cur)
{
    /* The caller's memory only: never the transaction or the database,
     * which may be gone (ended, closed) by now. */
    if (!cur) return;
    free(cur->keybuf);
    free(cur);
}
