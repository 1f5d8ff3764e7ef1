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
#include "internal.h"

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
    if ((rc = bi_table_state(txn, t, &ts))) return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    txn->grows = 1; /* max_size's reserve for deletes is now off limits (alloc.c) */
    rc = bi_tree_put(txn, &ts->tree, key.data, key.size, data, size, flags, out);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc == BIRCH_OK) ts->dirty = 1;
    else if (rc != BIRCH_EXISTS) bi_txn_fail(txn, rc);
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

int birch_get(birch_txn *txn, birch_table *t, birch_val key, birch_val *val)
{
    if (!txn || !t || !val) return bi_err(BIRCH_EINVAL, "birch_get: %s is NULL", !txn ? "txn" : !t ? "the table" : "val");
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = key_ok(txn->db, key);
    if (rc) return rc;
    bi_tstate *ts;
    if ((rc = bi_table_state(txn, t, &ts))) return rc;
    rc = bi_tree_get(txn, &ts->tree, key.data, key.size, val);
    if (rc == BIRCH_OK && txn->write) bi_lend(txn, val->data);
    return rc;
}

int birch_del(birch_txn *txn, birch_table *t, birch_val key)
{
    if (!txn || !t) return bi_err(BIRCH_EINVAL, "birch_del: %s is NULL", txn ? "the table" : "txn");
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = key_ok(txn->db, key);
    if (rc) return rc;
    if ((rc = bi_txn_writable(txn))) return rc;
    bi_tstate *ts;
    if ((rc = bi_table_state(txn, t, &ts))) return rc;
    if ((rc = bi_spill_maybe(txn))) return bi_txn_fail(txn, rc);
    rc = bi_tree_del(txn, &ts->tree, key.data, key.size);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc == BIRCH_OK) ts->dirty = 1;
    else if (rc != BIRCH_NOTFOUND) bi_txn_fail(txn, rc);
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
