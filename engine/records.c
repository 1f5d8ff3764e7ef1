/*
 * records.c - birch_put, birch_get, birch_del and birch_count: argument
 * checks and error policy around the B+tree.
 *
 * A failure that may have left a change half done (no memory, full disk,
 * corrupt page) marks the write transaction failed, so it can only be
 * aborted; refusals decided before anything changed (bad key, key exists,
 * key missing) leave the transaction usable.
 *
 * Every change starts with bi_spill_maybe: a transaction whose dirty pages
 * passed the budget writes some to the file first (spill.c).  Only here,
 * never inside the B+tree, whose paths hold page pointers.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Plain writes on a multimap table would store a record that is not a
 * pair (FORMAT.md 9.1). */
static int not_multimap(const bi_tstate *ts, const birch_table *t, const char *fn)
{
    if (!(ts->flags & BI_TABLE_MULTIMAP)) return BIRCH_OK;
    return bi_err(BIRCH_ESCHEMA, "%s: table '%s' is a multimap table: use birch_multi_put / birch_multi_del", fn,
                  t->name);
}

static int key_ok(const birch_db *db, birch_val key)
{
    if (!key.data && key.size) return bi_err(BIRCH_EINVAL, "key.data is NULL with key.size %zu", key.size);
    if (key.size == 0) return bi_err_s(BIRCH_EKEYSIZE, "the key is empty (keys are 1..birch_max_key_size() bytes)");
    if (key.size > db->max_key)
        return bi_err(BIRCH_EKEYSIZE, "a key of %zu bytes; this database's limit is %zu (page size / 4)", key.size,
                      db->max_key);
    return BIRCH_OK;
}

/* The common part of put and put_reserve: data NULL reserves. */
static int put(birch_txn *txn, birch_table *t, birch_val key, const void *data, size_t size,
               unsigned flags, uint8_t **out)
{
    if (!txn || !t) return bi_err(BIRCH_EINVAL, "birch_put: %s is NULL", txn ? "the table" : "txn");
    int rc0 = bi_txn_use(&txn);
    if (rc0) return rc0;
    if (flags & ~(unsigned)(BIRCH_NOOVERWRITE | BIRCH_APPEND))
        return bi_err(BIRCH_EINVAL, "birch_put: unknown flags %#x", flags);
    int rc = key_ok(txn->db, key);
    if (rc) return rc;
    if (size > BIRCH_MAX_VALUE_SIZE)
        return bi_err(BIRCH_EVALSIZE, "a value of %zu bytes (at most %u)", size, BIRCH_MAX_VALUE_SIZE);
    if ((rc = bi_txn_writable(txn))) return rc;
    bi_tstate *ts;
    if ((rc = bi_table_state(txn, t, &ts)) || (rc = not_multimap(ts, t, "birch_put"))) return rc;
    bi_feed_settle(txn); /* a put ends a reserved value's pointer (birch.h) */
    bi_batch_mark m = {0, 0, 0, 0};
    size_t at = 0;
    if (txn->feed && (rc = data ? bi_feed_add_slow(txn, BIRCH_BATCH_PUT, t->name, key, (birch_val){data, size}, 0, &m)
                                : bi_feed_reserve(txn, t->name, key, size, &at, &m)))
        return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    txn->grows = 1; /* max_size's reserve for deletes is now off limits (alloc.c) */
    rc = bi_tree_put(txn, &ts->tree, key.data, key.size, data, size, flags, out);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc == BIRCH_OK) ts->dirty = 1;
    else if (rc != BIRCH_EXISTS) bi_txn_fail(txn, rc);
    if (rc && txn->feed) bi_feed_cut(txn, m);
    else if (txn->feed && !data) bi_feed_pending(txn, at, *out, size);
    return rc;
}

int birch_put(birch_txn *txn, birch_table *t, birch_val key, birch_val val, unsigned flags)
{
    if (!val.data && val.size) return bi_err(BIRCH_EINVAL, "birch_put: val.data is NULL with val.size %zu", val.size);
    return put(txn, t, key, val.data ? val.data : "", val.size, flags, NULL);
}

int bi_put_reserve(birch_txn *txn, birch_table *t, birch_val key, size_t size, unsigned flags, void **out)
{
    if (!out) return bi_err(BIRCH_EINVAL, "birch_put_reserve: out is NULL");
    uint8_t *p = NULL;
    int rc = put(txn, t, key, NULL, size, flags, &p);
    if (rc == BIRCH_OK) *out = p;
    return rc;
}

int birch_put_reserve(birch_txn *txn, birch_table *t, birch_val key, size_t size, unsigned flags,
                      void **out)
{
    int rc = bi_put_reserve(txn, t, key, size, flags, out);
    birch_txn *real = txn; /* the token decodes: put just used it */
    if (rc == BIRCH_OK && bi_txn_use(&real) == BIRCH_OK) bi_lend(real, *out); /* the caller may pass it to the next put */
    return rc;
}

/* birch_get on a multimap table: the key's first value (as LMDB gives a
 * key's first duplicate), a pointer into the record's key. */
static int multi_first(birch_txn *txn, bi_tstate *ts, birch_val key, birch_val *val)
{
    uint8_t *lo;
    size_t n;
    bi_path path;
    int exact, rc = bi_multi_key(txn->db, key, NULL, 0, "birch_get", &lo, &n);
    if (rc) return rc;
    rc = bi_tree_search(txn, &ts->tree, lo, n, &path, &exact);
    if (rc == BIRCH_OK && !path.depth) rc = bi_err_s(BIRCH_NOTFOUND, "the key has no value (the table is empty)");
    if (rc == BIRCH_OK && path.idx[path.depth - 1] >= bi_nkeys(path.pg[path.depth - 1])) {
        /* past the leaf's end: the first pair, if any, begins the next leaf */
        path.idx[path.depth - 1]--;
        rc = bi_path_next(txn, &path);
    }
    uint8_t *leaf = rc ? NULL : path.pg[path.depth - 1];
    unsigned i = rc ? 0 : path.idx[path.depth - 1];
    if (rc == BIRCH_OK) rc = bi_slot_ok(txn, leaf, i);
    if (rc == BIRCH_OK && (bi_node_klen(leaf, i) < n || memcmp(bi_node_key(leaf, i), lo, n)))
        rc = bi_err_s(BIRCH_NOTFOUND, "the key has no value"); /* the next record is another key's */
    free(lo);
    if (rc) return rc;
    *val = (birch_val){bi_node_key(leaf, i) + n, bi_node_klen(leaf, i) - n};
    if (txn->write) bi_lend(txn, leaf);
    return BIRCH_OK;
}

int bi_get(birch_txn *txn, birch_table *t, birch_val key, birch_val *val, size_t ahead)
{
    int rc = key_ok(txn->db, key);
    if (rc) return rc;
    bi_tstate *ts;
    if ((rc = bi_table_state(txn, t, &ts))) return rc;
    if (ts->flags & BI_TABLE_MULTIMAP) return multi_first(txn, ts, key, val);
    rc = bi_tree_get_ahead(txn, &ts->tree, key.data, key.size, val, ahead);
    if (rc == BIRCH_OK && txn->write) bi_lend(txn, val->data);
    return rc;
}

int birch_get(birch_txn *txn, birch_table *t, birch_val key, birch_val *val)
{
    if (!txn || !t || !val) return bi_err(BIRCH_EINVAL, "birch_get: %s is NULL", !txn ? "txn" : !t ? "the table" : "val");
    int rc = bi_txn_use(&txn);
    return rc ? rc : bi_get(txn, t, key, val, 0);
}

int birch_del(birch_txn *txn, birch_table *t, birch_val key)
{
    if (!txn || !t) return bi_err(BIRCH_EINVAL, "birch_del: %s is NULL", txn ? "the table" : "txn");
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = key_ok(txn->db, key);
    if (rc) return rc;
    if ((rc = bi_txn_writable(txn))) return rc;
    bi_tstate *ts;
    if ((rc = bi_table_state(txn, t, &ts)) || (rc = not_multimap(ts, t, "birch_del"))) return rc;
    bi_feed_settle(txn);
    bi_batch_mark m = {0, 0, 0, 0};
    if ((rc = bi_feed_add(txn, BIRCH_BATCH_DEL, t->name, key, (birch_val){NULL, 0}, 0, &m))) return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    rc = bi_tree_del(txn, &ts->tree, key.data, key.size);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc == BIRCH_OK) ts->dirty = 1;
    else if (rc != BIRCH_NOTFOUND) bi_txn_fail(txn, rc);
    if (rc) bi_feed_cut(txn, m);
    return rc;
}

int birch_count(birch_txn *txn, birch_table *t, uint64_t *count)
{
    if (!txn || !t || !count)
        return bi_err(BIRCH_EINVAL, "birch_count: %s is NULL", !txn ? "txn" : !t ? "the table" : "count");
    bi_tstate *ts;
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = bi_table_state(txn, t, &ts);
    if (rc) return rc;
    *count = ts->tree.count;
    return BIRCH_OK;
}

/* A range bound: empty (size 0) for an open end, else a valid key. */
static int bound_ok(const birch_db *db, birch_val b, const char *fn, const char *which)
{
    if (!b.data && b.size) return bi_err(BIRCH_EINVAL, "%s: %s.data is NULL with size %zu", fn, which, b.size);
    if (b.size > db->max_key)
        return bi_err(BIRCH_EKEYSIZE, "%s: %s is a key of %zu bytes; this database's limit is %zu", fn, which, b.size,
                      db->max_key);
    return BIRCH_OK;
}

/* The ranks [*rlo, *rhi) of the records in [lo, hi) of table t. */
static int range_ranks(birch_txn *txn, bi_tstate *ts, birch_val lo, birch_val hi, const char *fn, uint64_t *rlo,
                       uint64_t *rhi)
{
    if (lo.size && hi.size && bi_key_cmp(lo.data, lo.size, hi.data, hi.size) > 0)
        return bi_err(BIRCH_EINVAL, "%s: lo sorts after hi (an empty range is lo == hi)", fn);
    /* In a multimap table the bounds are keys: all of a key's pairs are
     * inside or outside together. */
    int multi = (ts->flags & BI_TABLE_MULTIMAP) != 0, rc = BIRCH_OK;
    uint8_t *l = NULL, *h = NULL;
    size_t ln = lo.size, hn = hi.size;
    if (multi && lo.size) rc = bi_multi_key(txn->db, lo, NULL, 0, fn, &l, &ln);
    if (multi && hi.size && rc == BIRCH_OK) rc = bi_multi_key(txn->db, hi, NULL, 0, fn, &h, &hn);
    if (rc == BIRCH_OK) rc = bi_tree_ranks(txn, &ts->tree, multi ? l : lo.data, ln, multi ? h : hi.data, hn, rlo, rhi);
    free(l);
    free(h);
    return rc;
}

/* The checks count_range and del_range share: the table's state. */
static int range_args(birch_txn **txn, birch_table *t, birch_val lo, birch_val hi, const char *fn, bi_tstate **ts)
{
    if (!*txn || !t) return bi_err(BIRCH_EINVAL, "%s: %s is NULL", fn, *txn ? "the table" : "txn");
    int rc = bi_txn_use(txn);
    if (rc == BIRCH_OK) rc = bound_ok((*txn)->db, lo, fn, "lo");
    if (rc == BIRCH_OK) rc = bound_ok((*txn)->db, hi, fn, "hi");
    if (rc == BIRCH_OK) rc = bi_table_state(*txn, t, ts);
    return rc;
}

int birch_count_range(birch_txn *txn, birch_table *t, birch_val lo, birch_val hi, uint64_t *count)
{
    if (!count) return bi_err(BIRCH_EINVAL, "birch_count_range: count is NULL");
    bi_tstate *ts;
    uint64_t a, b;
    int rc = range_args(&txn, t, lo, hi, "birch_count_range", &ts);
    if (rc == BIRCH_OK) rc = range_ranks(txn, ts, lo, hi, "birch_count_range", &a, &b);
    if (rc == BIRCH_OK) *count = b > a ? b - a : 0;
    return rc;
}

int birch_del_range(birch_txn *txn, birch_table *t, birch_val lo, birch_val hi, uint64_t *deleted)
{
    bi_tstate *ts = NULL;
    uint64_t a, b;
    int rc = range_args(&txn, t, lo, hi, "birch_del_range", &ts);
    if (rc == BIRCH_OK) rc = bi_txn_writable(txn);
    if (rc == BIRCH_OK) rc = range_ranks(txn, ts, lo, hi, "birch_del_range", &a, &b);
    if (rc == BIRCH_OK && b > a) { /* else nothing in the range: nothing changes */
        bi_feed_settle(txn);
        int kind = ts->flags & BI_TABLE_MULTIMAP ? BIRCH_BATCH_MULTI_DEL_RANGE : BIRCH_BATCH_DEL_RANGE;
        bi_batch_mark m = {0, 0, 0, 0};
        rc = bi_feed_add(txn, kind, t->name, lo, hi, 0, &m);
        if (rc == BIRCH_OK) rc = bi_del_ranks(txn, ts, a, b);
    }
    if (rc == BIRCH_OK && deleted) *deleted = b > a ? b - a : 0; /* only once done */
    return rc;
}

int bi_del_ranks(birch_txn *txn, bi_tstate *ts, uint64_t a, uint64_t b)
{
    int rc = bi_spill_maybe(txn);
    if (rc) return bi_txn_fail(txn, rc);
    rc = bi_tree_del_ranks(txn, &ts->tree, a, b);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc) return bi_txn_fail(txn, rc);
    ts->dirty = 1;
    return BIRCH_OK;
}

/* Table t's state in write transaction *txn, for a change of its
 * sequence. */
static int sequence_state(birch_txn **txn, birch_table *t, bi_tstate **ts)
{
    int rc = bi_txn_use(txn);
    if (rc == BIRCH_OK) rc = bi_txn_writable(*txn);
    return rc == BIRCH_OK ? bi_table_state(*txn, t, ts) : rc;
}

/* Sets the sequence: a change of the table's record, written back by the
 * commit's catalog flush, undone by an abort like any change. */
static int sequence_put(birch_txn *txn, birch_table *t, bi_tstate *ts, uint64_t v)
{
    bi_batch_mark m = {0, 0, 0, 0};
    int rc = bi_feed_add(txn, BIRCH_BATCH_SEQUENCE_SET, t->name, (birch_val){NULL, 0}, (birch_val){NULL, 0}, v, &m);
    if (rc) return rc;
    txn->mod_seq++;
    ts->seq = v;
    ts->dirty = 1;
    return BIRCH_OK;
}

int birch_sequence_next(birch_txn *txn, birch_table *t, uint64_t *value)
{
    if (!txn || !t || !value)
        return bi_err(BIRCH_EINVAL, "birch_sequence_next: %s is NULL", !txn ? "txn" : !t ? "the table" : "value");
    bi_tstate *ts;
    int rc = sequence_state(&txn, t, &ts);
    if (rc) return rc;
    if (ts->seq == UINT64_MAX)
        return bi_err(BIRCH_EFULL, "birch_sequence_next: table '%s' has given every 64-bit number", t->name);
    if ((rc = sequence_put(txn, t, ts, ts->seq + 1))) return rc;
    *value = ts->seq;
    return BIRCH_OK;
}

int birch_sequence_set(birch_txn *txn, birch_table *t, uint64_t value)
{
    if (!txn || !t) return bi_err(BIRCH_EINVAL, "birch_sequence_set: %s is NULL", !txn ? "txn" : "the table");
    bi_tstate *ts;
    int rc = sequence_state(&txn, t, &ts);
    return rc ? rc : sequence_put(txn, t, ts, value);
}

int birch_sequence_get(birch_txn *txn, birch_table *t, uint64_t *value)
{
    if (!txn || !t || !value)
        return bi_err(BIRCH_EINVAL, "birch_sequence_get: %s is NULL", !txn ? "txn" : !t ? "the table" : "value");
    bi_tstate *ts;
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = bi_table_state(txn, t, &ts);
    if (rc == BIRCH_OK) *value = ts->seq;
    return rc;
}
