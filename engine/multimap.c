/*
 * multimap.c - multimap tables (LMDB's MDB_DUPSORT, redb's MultimapTable):
 * a key maps to a sorted set of values.
 *
 * Each (key, value) pair is one record of the table's tree, whose key is
 * the pair's key escaped and ended (every 00 byte written 00 FF, then
 * 00 00) followed by the value, and whose value is empty (FORMAT.md 9.1).
 * Escaping keeps memcmp order and makes a key's pairs one contiguous
 * range, [esc(k) 00 00, esc(k) 00 01), so that everything the engine does
 * for ranges works for a key's values: the count of a key's values is a
 * range count (O(log n)), deleting them all a range deletion, walking
 * them a cursor scan.  The price is the key limit: the escaped key, its
 * end and the value must fit in one key (birch_max_key_size()).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t bi_multi_encode(const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, int next, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < kn; i++) {
        out[o++] = k[i];
        if (!k[i]) out[o++] = 0xff;
    }
    out[o++] = 0;
    out[o++] = next ? 1 : 0;
    if (vn) memcpy(out + o, v, vn);
    return o + vn;
}

size_t bi_multi_escaped(const uint8_t *k, size_t kn)
{
    size_t n = kn + 2;
    for (size_t i = 0; i < kn; i++) n += !k[i];
    return n;
}

int bi_multi_decode(const uint8_t *rec, size_t n, uint8_t *key, size_t *kn, const uint8_t **val, size_t *vn)
{
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (rec[i]) {
            if (key) key[o] = rec[i];
            o++;
            continue;
        }
        if (rec[i + 1] == 0) {
            if (o == 0) break; /* keys are 1.. bytes: birch never encodes an empty one */
            *kn = o;
            *val = rec + i + 2;
            *vn = n - i - 2;
            return BIRCH_OK;
        }
        if (rec[i + 1] != 0xff) break;
        if (key) key[o] = 0;
        o++;
        i++;
    }
    return BI_CORRUPT("a record of a multimap table whose key is not escaped and ended, or is empty (%zu bytes)", n);
}

/* ---- The calls ------------------------------------------------------------------ */

/* A pair's record key in a buffer of its own (the caller frees *buf); a
 * bound (the start of a key's range, or its end with next) when val is
 * NULL, which need not fit in a key. */
int bi_multi_key(birch_db *db, birch_val key, const birch_val *pval, int next, const char *fn, uint8_t **buf,
                    size_t *n)
{
    birch_val val = pval ? *pval : (birch_val){NULL, 0};
    if (!key.data && key.size) return bi_err(BIRCH_EINVAL, "%s: key.data is NULL with size %zu", fn, key.size);
    if (!val.data && val.size) return bi_err(BIRCH_EINVAL, "%s: val.data is NULL with size %zu", fn, val.size);
    if (key.size == 0 || key.size > db->max_key)
        return bi_err(BIRCH_EKEYSIZE, "%s: a key of %zu bytes (1..%zu)", fn, key.size, db->max_key);
    size_t esc = bi_multi_escaped(key.data, key.size);
    if (pval && (val.size > db->max_key || esc + val.size > db->max_key))
        return bi_err(BIRCH_EVALSIZE, "%s: a %zu-byte value with a %zu-byte key (%zu escaped): a multimap pair must "
                                      "fit in birch_max_key_size() = %zu bytes", fn, val.size, key.size, esc,
                      db->max_key);
    if (!(*buf = malloc(esc + val.size))) return bi_err(BIRCH_ENOMEM, "%s: out of memory", fn);
    *n = bi_multi_encode(key.data, key.size, val.data, val.size, next, *buf);
    return BIRCH_OK;
}

/* The state of multimap table t (BIRCH_ESCHEMA for a plain one). */
static int multi_state(birch_txn **txn, birch_table *t, const char *fn, bi_tstate **ts)
{
    if (!*txn || !t) return bi_err(BIRCH_EINVAL, "%s: %s is NULL", fn, *txn ? "the table" : "txn");
    int rc = bi_txn_use(txn);
    if (rc == BIRCH_OK) rc = bi_table_state(*txn, t, ts);
    if (rc == BIRCH_OK && !((*ts)->flags & BI_TABLE_MULTIMAP))
        rc = bi_err(BIRCH_ESCHEMA, "%s: table '%s' is not a multimap table (open it with BIRCH_MULTIMAP)", fn, t->name);
    return rc;
}

int bi_multi_ranks(birch_txn *txn, const bi_tree *tree, birch_val key, const char *fn, uint64_t *a, uint64_t *b)
{
    uint8_t *lo, *hi;
    size_t ln, hn;
    int rc = bi_multi_key(txn->db, key, NULL, 0, fn, &lo, &ln);
    if (rc) return rc;
    rc = bi_multi_key(txn->db, key, NULL, 1, fn, &hi, &hn);
    if (rc == BIRCH_OK) rc = bi_tree_ranks(txn, tree, lo, ln, hi, hn, a, b);
    free(lo);
    free(hi);
    return rc;
}

int birch_multi_put(birch_txn *txn, birch_table *t, birch_val key, birch_val val, unsigned flags)
{
    bi_tstate *ts;
    uint8_t *rec = NULL;
    size_t n;
    int rc = multi_state(&txn, t, "birch_multi_put", &ts);
    if (rc == BIRCH_OK && (flags & ~BIRCH_NOOVERWRITE))
        rc = bi_err(BIRCH_EINVAL, "birch_multi_put: unknown flags %#x (0 or BIRCH_NOOVERWRITE)", flags);
    if (rc == BIRCH_OK) rc = bi_txn_writable(txn);
    if (rc == BIRCH_OK) rc = bi_multi_key(txn->db, key, &val, 0, "birch_multi_put", &rec, &n); /* copies key and val */
    bi_batch_mark m = {0, 0, 0, 0};
    if (rc == BIRCH_OK) bi_feed_settle(txn);
    if (rc == BIRCH_OK) rc = bi_feed_add(txn, BIRCH_BATCH_MULTI_PUT, t->name, key, val, 0, &m);
    if (rc) {
        free(rec);
        return rc;
    }
    if ((rc = bi_spill_maybe(txn))) {
        free(rec);
        return bi_txn_fail(txn, rc);
    }
    txn->grows = 1;
    rc = bi_tree_put(txn, &ts->tree, rec, n, "", 0, BI_PUT_NOOVERWRITE, NULL);
    free(rec);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc == BIRCH_OK) ts->dirty = 1;
    else bi_feed_cut(txn, m); /* the pair was there already, or the transaction failed */
    if (rc == BIRCH_EXISTS) return flags & BIRCH_NOOVERWRITE ? bi_err(BIRCH_EXISTS, "birch_multi_put: the key has "
                                                                                    "this value already")
                                                             : BIRCH_OK; /* a set: adding a member twice is no change */
    return rc ? bi_txn_fail(txn, rc) : BIRCH_OK;
}

int birch_multi_del(birch_txn *txn, birch_table *t, birch_val key, birch_val val)
{
    bi_tstate *ts;
    uint8_t *rec = NULL;
    size_t n;
    int rc = multi_state(&txn, t, "birch_multi_del", &ts);
    if (rc == BIRCH_OK) rc = bi_txn_writable(txn);
    if (rc == BIRCH_OK) rc = bi_multi_key(txn->db, key, &val, 0, "birch_multi_del", &rec, &n);
    bi_batch_mark m = {0, 0, 0, 0};
    if (rc == BIRCH_OK) bi_feed_settle(txn);
    if (rc == BIRCH_OK) rc = bi_feed_add(txn, BIRCH_BATCH_MULTI_DEL, t->name, key, val, 0, &m);
    if (rc) {
        free(rec);
        return rc;
    }
    if ((rc = bi_spill_maybe(txn))) {
        free(rec);
        return bi_txn_fail(txn, rc);
    }
    rc = bi_tree_del(txn, &ts->tree, rec, n);
    free(rec);
    if (txn->ndefer) bi_dirty_release_deferred(txn);
    if (rc == BIRCH_OK) ts->dirty = 1;
    else bi_feed_cut(txn, m);
    if (rc == BIRCH_NOTFOUND) return bi_err(BIRCH_NOTFOUND, "birch_multi_del: the key does not have this value");
    return rc ? bi_txn_fail(txn, rc) : BIRCH_OK;
}

int birch_multi_del_all(birch_txn *txn, birch_table *t, birch_val key, uint64_t *deleted)
{
    bi_tstate *ts;
    uint64_t a, b;
    int rc = multi_state(&txn, t, "birch_multi_del_all", &ts);
    if (rc == BIRCH_OK) rc = bi_txn_writable(txn);
    if (rc == BIRCH_OK) rc = bi_multi_ranks(txn, &ts->tree, key, "birch_multi_del_all", &a, &b);
    if (rc) return rc;
    if (a == b) {
        if (deleted) *deleted = 0;
        return bi_err(BIRCH_NOTFOUND, "birch_multi_del_all: the key has no value");
    }
    bi_feed_settle(txn);
    bi_batch_mark m = {0, 0, 0, 0};
    rc = bi_feed_add(txn, BIRCH_BATCH_MULTI_DEL_ALL, t->name, key, (birch_val){NULL, 0}, 0, &m);
    if (rc == BIRCH_OK) rc = bi_del_ranks(txn, ts, a, b);
    if (rc == BIRCH_OK && deleted) *deleted = b - a; /* only once done */
    return rc;
}

int birch_multi_count(birch_txn *txn, birch_table *t, birch_val key, uint64_t *count)
{
    if (!count) return bi_err(BIRCH_EINVAL, "birch_multi_count: count is NULL");
    bi_tstate *ts;
    uint64_t a, b;
    int rc = multi_state(&txn, t, "birch_multi_count", &ts);
    if (rc == BIRCH_OK) rc = bi_multi_ranks(txn, &ts->tree, key, "birch_multi_count", &a, &b);
    if (rc == BIRCH_OK) *count = b - a;
    return rc;
}
