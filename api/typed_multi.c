/*
 * typed_multi.c - typed multimap tables: a multimap table (birch.h,
 * "Multimap tables") whose keys and values are C values of two key
 * formats (birch_key.h).  Values are a sorted set, so their format is a
 * key format too: its encoding orders them.  Both formats are named in the
 * table's schema ("key NAME\nvalues NAME\n"), checked on every open like a
 * typed table's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "typed_internal.h"

static int schema_text(const birch_typed_multi *t, char *buf, size_t cap)
{
    char k[256], v[256];
    int kn = birch_key_name(t->key, k, sizeof k);
    if (kn < 0) return bi_err(kn, "the key format has no valid name");
    int vn = birch_key_name(t->value, v, sizeof v);
    if (vn < 0) return bi_err(vn, "the value format has no valid name");
    int n = snprintf(buf, cap, SCHEMA_MAGIC "key %s\nvalues %s\n", k, v);
    if (n < 0 || (size_t)n >= cap) return bi_err(BIRCH_EINVAL, "the formats' schema text is too long");
    return n;
}

int birch_typed_multi_open(birch_db *db, birch_txn *txn, const char *name, const birch_key_format *key,
                           const birch_key_format *value, unsigned flags, birch_typed_multi *t)
{
    if (!t) return bi_err(BIRCH_EINVAL, "birch_typed_multi_open: t is NULL");
    memset(t, 0, sizeof *t);
    if (!db || !key || !value)
        return bi_err(BIRCH_EINVAL, "birch_typed_multi_open: %s is NULL", !db ? "db" : !key ? "key" : "value");
    if (flags & ~BIRCH_CREATE) return bi_err(BIRCH_EINVAL, "birch_typed_multi_open: unknown flags %#x", flags);
    int rc = bi_txn_db(txn, db, "birch_typed_multi_open");
    if (rc) return rc;
    t->key = key;
    t->value = value;
    char want[600];
    int n = schema_text(t, want, sizeof want);
    if (n < 0) return n;
    birch_txn *use;
    rc = bi_auto_begin(db, txn, (flags & BIRCH_CREATE) ? BIRCH_TXN_WRITE : BIRCH_TXN_READ, &use);
    if (rc) return rc;
    rc = birch_table_open(use, name, flags | BIRCH_MULTIMAP, &t->table);
    if (rc == BIRCH_ESCHEMA) snprintf(t->msg, sizeof t->msg, "table '%.100s' is not a multimap table", name);
    if (rc == BIRCH_OK) rc = bi_typed_schema(use, t->table, name, want, (size_t)n, t->msg, sizeof t->msg);
    rc = bi_auto_end(txn, use, rc);
    if (rc) t->table = NULL;
    return rc;
}

/* Encodes a C value of format f (what names it in messages). */
static int encode(const birch_key_format *f, const void *c, uint8_t *buf, birch_val *out, const char *what)
{
    size_t len;
    int rc = birch_key_encode(f, c, buf, BI_KEY_BUF, &len);
    if (rc) return bi_key_refused(f, rc, len, BI_KEY_BUF, what);
    *out = (birch_val){buf, len};
    return BIRCH_OK;
}

/* The checks and encodings every call makes: t open, key (and value). */
static int args(birch_txn *txn, const birch_typed_multi *t, const void *key, const void *value, int want_value,
                const char *fn, uint8_t *kb, uint8_t *vb, birch_val *k, birch_val *v)
{
    if (!t || !t->table || !key || (want_value && !value))
        return bi_err(BIRCH_EINVAL, "%s: %s", fn, !t ? "t is NULL" : !t->table ? "t is not open" : !key ? "key is NULL"
                                                                                                     : "value is NULL");
    int rc = bi_txn_db(txn, t->table->db, fn);
    if (rc == BIRCH_OK) rc = encode(t->key, key, kb, k, "the key");
    if (rc == BIRCH_OK && want_value) rc = encode(t->value, value, vb, v, "the value");
    return rc;
}

int birch_typed_multi_put(birch_txn *txn, const birch_typed_multi *t, const void *key, const void *value)
{
    uint8_t kb[BI_KEY_BUF], vb[BI_KEY_BUF];
    birch_val k, v;
    int rc = args(txn, t, key, value, 1, "birch_typed_multi_put", kb, vb, &k, &v);
    birch_txn *use;
    if (rc == BIRCH_OK) rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_WRITE, &use);
    if (rc) return rc;
    return bi_auto_end(txn, use, birch_multi_put(use, t->table, k, v, 0));
}

int birch_typed_multi_delete(birch_txn *txn, const birch_typed_multi *t, const void *key, const void *value)
{
    uint8_t kb[BI_KEY_BUF], vb[BI_KEY_BUF];
    birch_val k, v;
    int rc = args(txn, t, key, value, 1, "birch_typed_multi_delete", kb, vb, &k, &v);
    birch_txn *use;
    if (rc == BIRCH_OK) rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_WRITE, &use);
    if (rc) return rc;
    bi_errmark mark = bi_err_mark();
    rc = birch_multi_del(use, t->table, k, v);
    bi_err_end(mark, rc == BIRCH_NOTFOUND); /* an answer: 0 */
    return bi_auto_end(txn, use, rc == BIRCH_NOTFOUND ? 0 : rc == BIRCH_OK ? 1 : rc);
}

int birch_typed_multi_delete_all(birch_txn *txn, const birch_typed_multi *t, const void *key, uint64_t *deleted)
{
    uint8_t kb[BI_KEY_BUF];
    birch_val k;
    int rc = args(txn, t, key, NULL, 0, "birch_typed_multi_delete_all", kb, NULL, &k, NULL);
    birch_txn *use;
    if (rc == BIRCH_OK) rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_WRITE, &use);
    if (rc) return rc;
    uint64_t n = 0;
    bi_errmark mark = bi_err_mark();
    rc = birch_multi_del_all(use, t->table, k, &n);
    bi_err_end(mark, rc == BIRCH_NOTFOUND); /* none is an answer: 0 */
    if (deleted) *deleted = rc == BIRCH_OK ? n : 0;
    return bi_auto_end(txn, use, rc == BIRCH_NOTFOUND ? BIRCH_OK : rc);
}

int birch_typed_multi_count(birch_txn *txn, const birch_typed_multi *t, const void *key, uint64_t *count)
{
    uint8_t kb[BI_KEY_BUF];
    birch_val k;
    if (!count) return bi_err(BIRCH_EINVAL, "birch_typed_multi_count: count is NULL");
    int rc = args(txn, t, key, NULL, 0, "birch_typed_multi_count", kb, NULL, &k, NULL);
    birch_txn *use;
    if (rc == BIRCH_OK) rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_READ, &use);
    if (rc) return rc;
    return bi_auto_end(txn, use, birch_multi_count(use, t->table, k, count));
}

int birch_typed_multi_values(birch_txn *txn, const birch_typed_multi *t, const void *key,
                             int (*fn)(const void *value, void *ctx), void *ctx)
{
    uint8_t kb[BI_KEY_BUF];
    birch_val k;
    if (!fn) return bi_err(BIRCH_EINVAL, "birch_typed_multi_values: fn is NULL");
    int rc = args(txn, t, key, NULL, 0, "birch_typed_multi_values", kb, NULL, &k, NULL);
    birch_txn *use;
    if (rc == BIRCH_OK) rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_READ, &use);
    if (rc) return rc;
    birch_cursor *c = NULL;
    /* A C value (aligned for any type) and the scratch its decoding may
     * use for variable-length parts (strings, bytes: they point there). */
    void *value = malloc(t->value->c_size ? t->value->c_size : 1);
    uint8_t *scratch = malloc(BI_KEY_BUF);
    if (!value || !scratch) rc = bi_err(BIRCH_ENOMEM, "birch_typed_multi_values: out of memory");
    if (rc == BIRCH_OK) rc = birch_cursor_open(use, t->table, &c);
    bi_errmark mark = bi_err_mark();
    if (rc == BIRCH_OK) rc = birch_cursor_seek(c, k);
    int first = 1;
    while (rc == BIRCH_OK) {
        birch_val ck, cv;
        rc = birch_cursor_get(c, &ck, &cv);
        if (rc) break;
        if (first && (ck.size != k.size || memcmp(ck.data, k.data, k.size))) break; /* the key has no value */
        first = 0;
        rc = birch_key_decode(t->value, cv.data, cv.size, value, scratch, BI_KEY_BUF);
        if (rc) {
            rc = bi_err(BIRCH_EFORMAT, "birch_typed_multi_values: a stored value that key format %s does not decode "
                                       "(%s)", t->value->name ? t->value->name : "?", birch_strerror(rc));
            break;
        }
        int r = fn(value, ctx);
        if (r) {
            rc = r;
            break;
        }
        rc = birch_cursor_next_value(c);
    }
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    if (rc == BIRCH_NOTFOUND) rc = BIRCH_OK; /* the end of the key's values */
    birch_cursor_close(c);
    free(value);
    free(scratch);
    return bi_auto_end(txn, use, rc);
}
