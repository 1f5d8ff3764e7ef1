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
    if (txn->nest_level != cur->level) /* a child is open, or (a child's) not the deepest */
        return bi_err_s(BIRCH_EBUSY, "the cursor's transaction has an open child: commit or abort it first");
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
    if (rc == BIRCH_OK && ((ts->flags & BI_TABLE_MULTIMAP) != 0) != cur->multi) /* dropped and made again */
        rc = bi_err(BIRCH_ESCHEMA, "table '%s' was %s a multimap table when the cursor was opened (dropped and made "
                                   "again since)", cur->table->name, cur->multi ? "" : "not");
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
    int rc = bi_txn_decode(&txn);
    uint32_t level = rc == BIRCH_OK && txn->nest_root ? txn->nest_level : 0; /* a child's cursor */
    if (rc == BIRCH_OK && txn->nest_level) rc = bi_txn_nested(&txn);
    else if (rc == BIRCH_OK && txn->state == BI_TXN_RESET) rc = bi_txn_parked(); /* as bi_txn_use */
    if (rc) return rc;
    bi_tstate *ts;
    rc = bi_table_state(txn, t, &ts);
    if (rc) return rc;
    birch_cursor *cur = calloc(1, sizeof *cur);
    if (!cur) return bi_err(BIRCH_ENOMEM, "out of memory for a cursor");
    cur->multi = (ts->flags & BI_TABLE_MULTIMAP) != 0;
    /* Two keys: the current one, and birch_cursor_put's copy of its key;
     * a multimap cursor's decoded key. */
    if ((txn->write && !(cur->keybuf = malloc(2 * txn->db->max_key))) ||
        (cur->multi && !(cur->mkey = malloc(txn->db->max_key)))) {
        free(cur->keybuf);
        free(cur);
        return bi_err(BIRCH_ENOMEM, "out of memory for a cursor");
    }
    cur->tok = tok;
    cur->txn = txn;
    cur->level = level;
    /* The token's slot, not the struct's: a child's cursor ends with the
     * child, though it works on the root's struct. */
    cur->hdr = (const bi_tokhdr *)((uintptr_t)tok & ~(BI_TOK_REGION - 1));
    cur->n = (uint64_t)((uintptr_t)tok - cur->hdr->first);
    cur->word = &cur->hdr->slots[cur->n & cur->hdr->mask].cur;
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
    if (!cur->multi) return settle(cur, lower_bound(cur, key.data, key.size, &exact));
    uint8_t *enc; /* a multimap table: the key's first pair */
    size_t n;
    rc = bi_multi_key(cur->txn->db, key, NULL, 0, "birch_cursor_seek", &enc, &n);
    if (rc) return rc;
    rc = settle(cur, lower_bound(cur, enc, n, &exact));
    free(enc);
    return rc;
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
    if (cur->multi) { /* the pair: its key decoded, its value in the record's key */
        int rc = bi_slot_ok(cur->txn, leaf, i);
        const uint8_t *v;
        size_t kn, vn;
        if (rc == BIRCH_OK) rc = bi_multi_decode(bi_node_key(leaf, i), bi_node_klen(leaf, i), cur->mkey, &kn, &v, &vn);
        if (rc) return rc;
        if (key) *key = (birch_val){cur->mkey, kn};
        if (val) *val = (birch_val){v, vn};
        if (cur->txn->write) bi_lend(cur->txn, leaf);
        return BIRCH_OK;
    }
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

int birch_cursor_seek_rank(birch_cursor *cur, uint64_t n)
{
    if (!cur) return null_cursor();
    bi_tree *tree;
    int rc = live(cur);
    if (rc == BIRCH_OK) rc = tree_of(cur, &tree);
    if (rc == BIRCH_OK) rc = bi_path_seek_rank(cur->txn, tree, n, &cur->path);
    return settle(cur, rc);
}

/* Finds the cursor's place again after a change in its transaction: the
 * record it stood on, or BIRCH_NOTFOUND if that was deleted. */
static int refind(birch_cursor *cur)
{
    if (!stale(cur)) return BIRCH_OK;
    int exact, rc = lower_bound(cur, cur->keybuf, cur->keylen, &exact);
    if (rc) return rc;
    if (!exact) return bi_err_s(BIRCH_NOTFOUND, "the cursor's record was deleted");
    cur->seq = cur->txn->mod_seq;
    return BIRCH_OK;
}

int birch_cursor_rank(birch_cursor *cur, uint64_t *rank)
{
    if (!cur || !rank) return bi_err(BIRCH_EINVAL, "birch_cursor_rank: %s is NULL", cur ? "rank" : "cur");
    int rc = live(cur);
    if (rc) return rc;
    if (!cur->positioned) return bi_err_s(BIRCH_NOTFOUND, "the cursor is not positioned");
    bi_tree *tree;
    if ((rc = refind(cur)) || (rc = tree_of(cur, &tree))) return rc;
    return bi_path_rank(cur->txn, &cur->path, tree->count, rank);
}

/* The write calls' checks: a live cursor of a write transaction. */
static int writable(birch_cursor *cur, const char *fn)
{
    if (!cur) return bi_err(BIRCH_EINVAL, "%s: cur is NULL", fn);
    int rc = live(cur);
    if (rc == BIRCH_OK) rc = bi_txn_writable(cur->txn);
    return rc;
}

int birch_cursor_put(birch_cursor *cur, birch_val key, birch_val val, unsigned flags)
{
    int rc = writable(cur, "birch_cursor_put");
    if (rc) return rc;
    if (cur->multi)
        return bi_err(BIRCH_ESCHEMA, "birch_cursor_put: table '%s' is a multimap table: use birch_multi_put",
                      cur->table->name);
    if (flags & ~(unsigned)(BIRCH_NOOVERWRITE | BIRCH_APPEND | BIRCH_CURRENT))
        return bi_err(BIRCH_EINVAL, "birch_cursor_put: unknown flags %#x", flags);
    size_t max = cur->txn->db->max_key;
    uint8_t *copy = cur->keybuf + max; /* key may point into a page the put changes */
    if (flags & BIRCH_CURRENT) {
        if (flags != BIRCH_CURRENT)
            return bi_err(BIRCH_EINVAL, "birch_cursor_put: BIRCH_CURRENT with BIRCH_NOOVERWRITE or BIRCH_APPEND");
        if (!cur->positioned) return bi_err_s(BIRCH_NOTFOUND, "birch_cursor_put: the cursor is not positioned");
        if ((rc = refind(cur))) return rc;
        if (key.size && (!key.data || bi_key_cmp(key.data, key.size, cur->keybuf, cur->keylen) != 0))
            return bi_err(BIRCH_EINVAL, "birch_cursor_put: BIRCH_CURRENT with a key other than the cursor's");
        key = (birch_val){cur->keybuf, cur->keylen};
        flags = 0;
    }
    if (key.data && key.size && key.size <= max) memmove(copy, key.data, key.size);
    rc = birch_put(cur->tok, cur->table, key, val, flags); /* checks key and val */
    if (rc) return rc;
    memcpy(cur->keybuf, copy, key.size);
    cur->keylen = key.size;
    int exact;
    rc = lower_bound(cur, cur->keybuf, cur->keylen, &exact);
    if (rc == BIRCH_OK && !exact) rc = BI_CORRUPT("birch_cursor_put: the record just put is missing");
    return settle(cur, rc);
}

/* Records the delete of the cursor's record for the change feed: a
 * multimap table's is of a pair, which the record's key encodes. */
static int record_del(birch_cursor *cur)
{
    bi_batch_mark m = {0, 0, 0, 0};
    if (!cur->multi)
        return bi_feed_add_slow(cur->txn, BIRCH_BATCH_DEL, cur->table->name, (birch_val){cur->keybuf, cur->keylen},
                                (birch_val){NULL, 0}, 0, &m);
    size_t kn, vn;
    const uint8_t *v;
    int rc = bi_multi_decode(cur->keybuf, cur->keylen, cur->mkey, &kn, &v, &vn);
    if (rc) return rc;
    return bi_feed_add_slow(cur->txn, BIRCH_BATCH_MULTI_DEL, cur->table->name, (birch_val){cur->mkey, kn},
                            (birch_val){v, vn}, 0, &m);
}

int birch_cursor_del(birch_cursor *cur)
{
    int rc = writable(cur, "birch_cursor_del");
    if (rc) return rc;
    if (!cur->positioned) return bi_err_s(BIRCH_NOTFOUND, "birch_cursor_del: the cursor is not positioned");
    if ((rc = refind(cur))) return rc;
    bi_tstate *ts;
    if ((rc = bi_table_state(cur->txn, cur->table, &ts))) return rc;
    birch_txn *txn = cur->txn;
    bi_feed_settle(txn);
    if (txn->feed && (rc = record_del(cur))) return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    if (stale(cur) && (rc = refind(cur))) return bi_txn_fail(txn, rc); /* a spill moved the pages */
    int kept;
    rc = bi_tree_del_at(txn, &ts->tree, &cur->path, &kept);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc) return bi_txn_fail(txn, rc);
    ts->dirty = 1;
    /* The next record: where the path now stands when the tree kept its
     * shape, else found again from the deleted key (its successor). */
    bi_path *p = &cur->path;
    int exact, d = p->depth - 1;
    bi_errmark mark = bi_err_mark(); /* no record after the deleted one is an answer, not a failure */
    if (!kept) rc = lower_bound(cur, cur->keybuf, cur->keylen, &exact);
    else if (p->idx[d] >= bi_nkeys(p->pg[d])) rc = (p->idx[d]--, bi_path_next(txn, p));
    rc = settle(cur, rc);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}

/* ---- Multimap cursors ---------------------------------------------------------- */

static int multi_cursor(birch_cursor *cur, const char *fn)
{
    if (!cur) return bi_err(BIRCH_EINVAL, "%s: cur is NULL", fn);
    int rc = live(cur);
    if (rc == BIRCH_OK && !cur->multi)
        rc = bi_err(BIRCH_ESCHEMA, "%s: table '%s' is not a multimap table", fn, cur->table->name);
    return rc;
}

int birch_cursor_seek_value(birch_cursor *cur, birch_val key, birch_val val)
{
    int rc = multi_cursor(cur, "birch_cursor_seek_value");
    uint8_t *enc = NULL, *lo = NULL;
    size_t n, ln;
    if (rc == BIRCH_OK && !val.data && val.size)
        rc = bi_err(BIRCH_EINVAL, "birch_cursor_seek_value: val.data is NULL with size %zu", val.size);
    if (rc == BIRCH_OK && val.size > cur->txn->db->max_key) /* no pair holds a longer value */
        rc = bi_err(BIRCH_EVALSIZE, "birch_cursor_seek_value: a value of %zu bytes (at most %zu)", val.size,
                    cur->txn->db->max_key);
    if (rc == BIRCH_OK) rc = bi_multi_key(cur->txn->db, key, NULL, 0, "birch_cursor_seek_value", &lo, &ln);
    if (rc == BIRCH_OK) { /* a pair that cannot exist still has a place */
        if (!(enc = malloc(ln + val.size))) rc = bi_err(BIRCH_ENOMEM, "birch_cursor_seek_value: out of memory");
        else if (!val.data && val.size) rc = bi_err(BIRCH_EINVAL, "birch_cursor_seek_value: val.data is NULL");
        else n = bi_multi_encode(key.data, key.size, val.data, val.size, 0, enc);
    }
    if (rc) { /* a refusal: the cursor stays where it was, as after the other calls' */
        free(enc);
        free(lo);
        return rc;
    }
    int exact;
    rc = lower_bound(cur, enc, n, &exact);
    if (rc == BIRCH_OK) { /* the first pair >= (key, val) must still be key's */
        bi_path *p = &cur->path;
        uint8_t *leaf = p->pg[p->depth - 1];
        unsigned i = p->idx[p->depth - 1];
        rc = bi_slot_ok(cur->txn, leaf, i);
        if (rc == BIRCH_OK && (bi_node_klen(leaf, i) < ln || memcmp(bi_node_key(leaf, i), lo, ln)))
            rc = bi_err_s(BIRCH_NOTFOUND, "birch_cursor_seek_value: no value of the key at or after the one sought");
    }
    free(enc);
    free(lo);
    return settle(cur, rc);
}

/* The length of the escaped and ended key of the pair under the cursor
 * (the prefix its key's pairs share). */
static int pair_prefix(birch_cursor *cur, const uint8_t **k, size_t *n)
{
    bi_path *p = &cur->path;
    uint8_t *leaf = p->pg[p->depth - 1];
    unsigned i = p->idx[p->depth - 1];
    int rc = bi_slot_ok(cur->txn, leaf, i);
    const uint8_t *v;
    size_t kn, vn;
    if (rc == BIRCH_OK) rc = bi_multi_decode(bi_node_key(leaf, i), bi_node_klen(leaf, i), cur->mkey, &kn, &v, &vn);
    if (rc) return rc;
    *k = bi_node_key(leaf, i);
    *n = (size_t)(v - *k);
    return BIRCH_OK;
}

/* next_value / prev_value: a step that stays among the key's pairs, or
 * BIRCH_NOTFOUND with the cursor left where it was. */
static int step_value(birch_cursor *cur, int fwd, const char *fn)
{
    int rc = multi_cursor(cur, fn);
    if (rc) return rc;
    if (!cur->positioned) return bi_err_s(BIRCH_NOTFOUND, "the cursor is not positioned");
    if ((rc = refind(cur))) return rc;
    const uint8_t *k;
    size_t n;
    if ((rc = pair_prefix(cur, &k, &n))) return rc;
    uint8_t *here = malloc(cur->txn->db->max_key); /* the pair it stands on, to come back to */
    if (!here) return bi_err(BIRCH_ENOMEM, "%s: out of memory", fn);
    bi_path *p = &cur->path;
    size_t hn = bi_node_klen(p->pg[p->depth - 1], p->idx[p->depth - 1]);
    memcpy(here, bi_node_key(p->pg[p->depth - 1], p->idx[p->depth - 1]), hn);
    bi_errmark mark = bi_err_mark();
    rc = fwd ? bi_path_next(cur->txn, p) : bi_path_prev(cur->txn, p);
    const uint8_t *k2;
    size_t n2;
    int same = rc == BIRCH_OK && pair_prefix(cur, &k2, &n2) == BIRCH_OK && n2 == n && !memcmp(k2, here, n);
    bi_err_end(mark, 1);
    if (same) {
        free(here);
        return settle(cur, BIRCH_OK);
    }
    int exact;
    rc = lower_bound(cur, here, hn, &exact); /* back where it was */
    free(here);
    rc = settle(cur, rc);
    return rc ? rc : bi_err_s(BIRCH_NOTFOUND, fwd ? "no value of the key after this one" : "no value of the key "
                                                                                             "before this one");
}

int birch_cursor_next_value(birch_cursor *cur) { return step_value(cur, 1, "birch_cursor_next_value"); }

int birch_cursor_prev_value(birch_cursor *cur) { return step_value(cur, 0, "birch_cursor_prev_value"); }

int birch_cursor_count_values(birch_cursor *cur, uint64_t *count)
{
    int rc = multi_cursor(cur, "birch_cursor_count_values");
    if (rc == BIRCH_OK && !count) rc = bi_err(BIRCH_EINVAL, "birch_cursor_count_values: count is NULL");
    if (rc) return rc;
    birch_val key;
    if ((rc = birch_cursor_get(cur, &key, NULL))) return rc;
    bi_tree *tree;
    uint64_t a, b;
    rc = tree_of(cur, &tree);
    if (rc == BIRCH_OK) rc = bi_multi_ranks(cur->txn, tree, key, "birch_cursor_count_values", &a, &b);
    if (rc == BIRCH_OK) *count = b - a;
    return rc;
}

void birch_cursor_close(birch_cursor *cur)
{
    /* The caller's memory only: never the transaction or the database,
     * which may be gone (ended, closed) by now. */
    if (!cur) return;
    free(cur->keybuf);
    free(cur->mkey);
    free(cur);
}
