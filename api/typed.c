/*
 * typed.c - typed tables and guards: the schema check on open, typed
 * puts, deletes and batches, and verified zero-copy reads.
 *
 * Everything here is built on the public record calls plus two engine
 * hooks: pinning a snapshot without allocating (guards taken outside a
 * transaction) and reading the catalog on such a snapshot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "typed_internal.h"

#define GUARD_LIVE 0x4c495645u     /* "LIVE" */
#define GUARD_RELEASED 0x44454144u /* "DEAD" */

/* ---- Running with or without a caller's transaction ------------------------ */

int bi_txn_db_use(birch_txn **txn, birch_db *db, const char *who)
{
    int rc = bi_db_check(db, who); /* a fork child is told under the caller's name */
    if (rc || (rc = bi_txn_use(txn))) return rc;
    if ((*txn)->db != db) return bi_err(BIRCH_EINVAL, "%s: txn belongs to another database", who);
    return BIRCH_OK;
}

int bi_txn_db(birch_txn *txn, birch_db *db, const char *who)
{
    return txn ? bi_txn_db_use(&txn, db, who) : bi_db_check(db, who);
}

int bi_auto_begin(birch_db *db, birch_txn *txn, unsigned flags, birch_txn **use)
{
    if (txn) {
        *use = txn;
        return BIRCH_OK;
    }
    return birch_txn_begin(db, flags, use);
}

int bi_auto_end(birch_txn *txn, birch_txn *use, int rc)
{
    if (use == txn) return rc; /* the caller's: the caller ends it */
    if (rc < 0) {
        birch_txn_abort(use);
        return rc;
    }
    int crc = birch_txn_commit(use);
    return crc ? crc : rc;
}

int bi_typed_key(const birch_typed *t, const void *key, uint8_t *buf, size_t cap, birch_val *out)
{
    size_t len = 0;
    int rc = birch_key_encode(t->key, key, buf, cap, &len);
    if (rc) return bi_key_refused(t->key, rc, len, cap, "the key");
    *out = (birch_val){buf, len};
    return BIRCH_OK;
}

int bi_key_refused(const birch_key_format *f, int rc, size_t len, size_t cap, const char *what)
{
    /* birch_key_encode recorded why; kept (a new message never overwrites
     * the current one's buffer: engine/err.c) and quoted after the format. */
    const char *why = birch_errmsg();
    char name[BIRCH_KEY_NAME_MAX];
    if (birch_key_name(f, name, sizeof name) < 0) snprintf(name, sizeof name, "?");
    if (rc == BIRCH_EKEYSIZE)
        return bi_err(rc, "%s encodes to %zu bytes in key format %s, more than any key has (%zu)", what, len, name, cap);
    if (rc == BIRCH_EINVAL)
        return bi_err(rc, "key format %s refused %s: %s", name, what, why);
    return bi_err(rc, "key format %s refused %s (%s)", name, what, birch_strerror(rc));
}

/* ---- Schema ---------------------------------------------------------------- */

/* "key NAME\nvalue DESCRIPTION\n" after the magic line. */
static int schema_text(const birch_key_format *key, const birch_value_format *value, char *buf, size_t cap)
{
    char k[256], v[512];
    int kn = birch_key_name(key, k, sizeof k);
    if (kn < 0) return bi_err(kn, "the key format has no valid name");
    if (!value->describe) return bi_err(BIRCH_EINVAL, "the value format '%s' has no describe function", value->name);
    int vn = value->describe(value, v, sizeof v);
    if (vn < 0) return bi_err(vn, "the value format '%s' cannot describe itself", value->name);
    /* A format's own encoding version is part of the schema too (shown
     * only past version 1, so that common schemas read naturally). */
    char ver[32] = "";
    if (value->version > 1) snprintf(ver, sizeof ver, " format v%u", (unsigned)value->version);
    int n = snprintf(buf, cap, SCHEMA_MAGIC "key %s\nvalue %s%s\n", k, v, ver);
    if (n < 0 || (size_t)n >= cap) return bi_err(BIRCH_EINVAL, "the formats' schema text is too long");
    return n;
}

/* The "key ... / value ..." part of a schema text, for messages. */
static void schema_summary(const char *text, size_t len, char *out, size_t cap)
{
    const char *m = SCHEMA_MAGIC;
    size_t skip = len >= strlen(m) && memcmp(text, m, strlen(m)) == 0 ? strlen(m) : 0;
    size_t o = 0;
    for (size_t i = skip; i < len && o + 4 < cap; i++) {
        if (text[i] != '\n') out[o++] = text[i];
        else if (i + 1 < len) o += (size_t)snprintf(out + o, cap - o, " / ");
    }
    out[o < cap ? o : cap - 1] = 0;
}

static int schema_mismatch(char *msg, size_t cap, const char *name, birch_val have, const char *want, size_t wlen)
{
    char h[400], w[400];
    if (have.size) schema_summary(have.data, have.size, h, sizeof h);
    else snprintf(h, sizeof h, "untyped records");
    schema_summary(want, wlen, w, sizeof w);
    /* Bounded so the message always fits t->msg (512 bytes). */
    snprintf(msg, cap, "table '%.100s' holds %.190s; opened as %.190s", name, h, w);
    return bi_err(BIRCH_ESCHEMA, "%s", msg);
}

int bi_typed_schema(birch_txn *txn, birch_table *table, const char *name, const char *want, size_t n, char *msg,
                    size_t cap)
{
    birch_val have;
    int rc = birch_table_schema(txn, table, &have);
    if (rc) return rc;
    if (have.size == n && memcmp(have.data, want, n) == 0) return BIRCH_OK;
    if (have.size == 0) {
        uint64_t count = 0;
        rc = birch_count(txn, table, &count);
        if (rc) return rc;
        if (count == 0) {
            bi_errmark mark = bi_err_mark();
            rc = birch_table_set_schema(txn, table, (birch_val){want, n});
            bi_err_end(mark, rc == BIRCH_EREADONLY); /* a reader may use an empty table: no failure */
            return rc == BIRCH_EREADONLY ? BIRCH_OK : rc;
        }
    }
    return schema_mismatch(msg, cap, name, have, want, n);
}

/* Checks (or, on a new or empty untyped table in a write transaction,
 * stores) the schema. */
static int match_schema(birch_txn *txn, birch_typed *t, const char *name)
{
    char want[1024];
    int n = schema_text(t->key, t->value, want, sizeof want);
    if (n < 0) return n;
    return bi_typed_schema(txn, t->table, name, want, (size_t)n, t->msg, sizeof t->msg);
}

int birch_typed_open(birch_db *db, birch_txn *txn, const char *name, const birch_key_format *key,
                     const birch_value_format *value, unsigned flags, birch_typed *t)
{
    if (!t) return bi_err(BIRCH_EINVAL, "birch_typed_open: t is NULL");
    memset(t, 0, sizeof *t);
    if (!db || !key || !value)
        return bi_err(BIRCH_EINVAL, "birch_typed_open: %s is NULL", !db ? "db" : !key ? "key" : "value");
    int rc_txn = bi_txn_db(txn, db, "birch_typed_open");
    if (rc_txn) return rc_txn;
    if (value->align > 8 || !value->size || !value->encode || !value->verify)
        return bi_err(BIRCH_EINVAL, "birch_typed_open: value format '%s' %s", value->name ? value->name : "?",
                      value->align > 8 ? "needs an alignment above 8" : "lacks size, encode or verify");
    t->key = key;
    t->value = value;
    birch_txn *use;
    int rc = bi_auto_begin(db, txn, (flags & BIRCH_CREATE) ? BIRCH_TXN_WRITE : BIRCH_TXN_READ, &use);
    if (rc) return rc;
    rc = birch_table_open(use, name, flags, &t->table);
    if (rc == BIRCH_OK) rc = match_schema(use, t, name);
    rc = bi_auto_end(txn, use, rc);
    if (rc) t->table = NULL;
    return rc;
}

/* ---- Writes ---------------------------------------------------------------- */

/* bi_txn_fail on the caller's token (a no-op if it has ended). */
static int fail_txn(birch_txn *txn, int rc)
{
    birch_txn *real = txn;
    if (bi_txn_use(&real) == BIRCH_OK) bi_txn_fail(real, rc);
    return rc;
}

/* bi_lent on the caller's token: 0 if it does not decode (the call that
 * uses it next reports why). */
static int lent(birch_txn *txn)
{
    birch_txn *real = txn;
    return bi_txn_use(&real) == BIRCH_OK && bi_lent(real);
}

/* bi_txn_argbuf on the caller's token. */
static int argbuf(birch_txn *txn, size_t size, uint8_t **buf)
{
    birch_txn *real = txn;
    int rc = bi_txn_use(&real);
    return rc ? rc : bi_txn_argbuf(real, size, buf);
}

/* Encodes value into out (size bytes, zero-filled by the caller). */
static int encode_aside(const birch_typed *t, const void *value, uint8_t *out, size_t size)
{
    int rc = t->value->encode(t->value, value, out, size);
    if (rc) return bi_err(rc, "value format '%s' failed to encode a value it had accepted", t->value->name);
    return BIRCH_OK;
}

/* A value format's refusal, with its own reason when it recorded one (the
 * built-in formats do; a user's format cannot, and then the message it
 * would quote is an older one: before is the message before the call). */
static int value_refused(const birch_typed *t, int rc, const char *before, const char *where)
{
    const char *now = birch_errmsg();
    return bi_err(rc, "%svalue format '%s' refused the value: %s", where, t->value->name,
                  now != before ? now : birch_strerror(rc));
}

/* Encodes value straight into the page, or, with aside set, into the
 * transaction's buffer first: the value (or what it points to) may lie in
 * a page this transaction wrote, which the reservation may move or free
 * before encode reads it.  Only a read in this transaction since its last
 * change can have handed out such a pointer (bi_lent), so the common case
 * pays nothing. */
static int put_one(birch_txn *txn, const birch_typed *t, birch_val k, const void *value, unsigned flags, int aside)
{
    size_t size;
    const char *before = birch_errmsg();
    int rc = t->value->size(t->value, value, &size);
    if (rc) return value_refused(t, rc, before, "");
    if (aside) {
        uint8_t *buf;
        if ((rc = argbuf(txn, size, &buf))) return rc;
        memset(buf, 0, size);
        if ((rc = encode_aside(t, value, buf, size))) return rc; /* nothing changed yet */
        return birch_put(txn, t->table, k, (birch_val){buf, size}, flags);
    }
    void *out;
    rc = bi_put_reserve(txn, t->table, k, size, flags, &out);
    if (rc) return rc;
    rc = t->value->encode(t->value, value, out, size);
    /* The record is in place but not filled: the transaction must not commit it. */
    if (rc == BIRCH_OK) return BIRCH_OK;
    return fail_txn(txn, bi_err(rc, "value format '%s' failed to encode a value it had accepted; the "
                                       "transaction can only be aborted", t->value->name));
}

/* Before a typed write into an empty table: stores the schema if the table
 * has none yet.  A handle opened on an empty untyped table in a read
 * transaction (or with txn NULL and no BIRCH_CREATE) did not store it, and
 * its records must not end up untyped; and if another typed open stored
 * other formats meanwhile, the write is refused. */
static int schema_before_write(birch_txn *txn, const birch_typed *t)
{
    uint64_t count = 0;
    int rc = birch_count(txn, t->table, &count);
    if (rc || count) return rc;
    char want[1024];
    int n = schema_text(t->key, t->value, want, sizeof want);
    if (n < 0) return n;
    birch_val have;
    rc = birch_table_schema(txn, t->table, &have);
    if (rc) return rc;
    if (have.size == 0) return birch_table_set_schema(txn, t->table, (birch_val){want, (size_t)n});
    if (have.size == (size_t)n && memcmp(have.data, want, (size_t)n) == 0) return BIRCH_OK;
    return bi_err(BIRCH_ESCHEMA, "table '%s' was given other formats by another handle meanwhile", t->table->name);
}

int birch_typed_put(birch_txn *txn, const birch_typed *t, const void *key, const void *value, unsigned flags)
{
    if (!t || !t->table || !key || !value)
        return bi_err(BIRCH_EINVAL, "birch_typed_put: %s", !t ? "t is NULL" : !t->table ? "t is not open" : !key ? "key is NULL" : "value is NULL");
    int rc_txn = bi_txn_db(txn, t->table->db, "birch_typed_put");
    if (rc_txn) return rc_txn;
    uint8_t kb[BI_KEY_BUF];
    birch_val k;
    int rc = bi_typed_key(t, key, kb, sizeof kb, &k);
    if (rc) return rc;
    birch_txn *use;
    rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_WRITE, &use);
    if (rc) return rc;
    int aside = lent(use); /* before schema_before_write, whose reads lend too */
    rc = schema_before_write(use, t);
    return bi_auto_end(txn, use, rc ? rc : put_one(use, t, k, value, flags, aside));
}

int birch_typed_delete(birch_txn *txn, const birch_typed *t, const void *key)
{
    if (!t || !t->table || !key)
        return bi_err(BIRCH_EINVAL, "birch_typed_delete: %s", !t ? "t is NULL" : !t->table ? "t is not open" : "key is NULL");
    int rc_txn = bi_txn_db(txn, t->table->db, "birch_typed_delete");
    if (rc_txn) return rc_txn;
    uint8_t kb[BI_KEY_BUF];
    birch_val k;
    int rc = bi_typed_key(t, key, kb, sizeof kb, &k);
    if (rc) return rc;
    birch_txn *use;
    rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_WRITE, &use);
    if (rc) return rc;
    bi_errmark mark = bi_err_mark(); /* an absent key is the answer 0, not a failure */
    rc = birch_del(use, t->table, k);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    rc = rc == BIRCH_OK ? 1 : rc == BIRCH_NOTFOUND ? 0 : rc;
    return bi_auto_end(txn, use, rc);
}

int birch_typed_contains(birch_txn *txn, const birch_typed *t, const void *key)
{
    birch_guard g;
    memset(&g, 0, sizeof g);
    bi_errmark mark = bi_err_mark(); /* an absent key is the answer 0, not a failure */
    int rc = bi_typed_lookup(txn, t, key, &g, 0);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    if (rc == BIRCH_NOTFOUND) return 0;
    if (rc) return rc;
    birch_guard_release(&g);
    return 1;
}

/* One encoded key of a batch and where its record came from. */
typedef struct batch_key {
    const uint8_t *k;
    size_t len;
    size_t idx;
    size_t vsize; /* its value's encoded size */
    size_t off;   /* where it was encoded aside (load_batch) */
} batch_key;

static int cmp_batch(const void *a, const void *b)
{
    const batch_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->k, y->k, n);
    if (c == 0) c = x->len < y->len ? -1 : x->len > y->len;
    if (c == 0) c = x->idx < y->idx ? -1 : 1; /* equal keys: input order */
    return c;
}

/* Encodes every key and checks every key length and value before anything
 * is written, so that a batch refused for a bad record changes nothing,
 * in the caller's transaction too. */
static int encode_batch(const birch_typed *t, size_t n, const uint8_t *keys, const uint8_t *values,
                        uint8_t *buf, size_t cap, batch_key *bk)
{
    size_t used = 0, max_key = t->table->db->max_key;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0, vsize;
        int rc = birch_key_encode(t->key, keys + i * t->key->c_size, buf + used, cap - used, &len);
        if (rc) {
            char what[64];
            snprintf(what, sizeof what, "the key of batch record %zu", i);
            return bi_key_refused(t->key, rc, len, cap - used, what);
        }
        if (len == 0 || len > max_key)
            return bi_err(BIRCH_EKEYSIZE, "batch record %zu: an encoded key of %zu bytes (1..%zu)", i, len, max_key);
        const char *before = birch_errmsg();
        rc = t->value->size(t->value, values + i * t->value->c_size, &vsize);
        if (rc) {
            char where[48];
            snprintf(where, sizeof where, "batch record %zu: ", i);
            return value_refused(t, rc, before, where);
        }
        if (vsize > BIRCH_MAX_VALUE_SIZE)
            return bi_err(BIRCH_EVALSIZE, "batch record %zu: a value of %zu bytes (at most %u)", i, vsize,
                          BIRCH_MAX_VALUE_SIZE);
        bk[i] = (batch_key){buf + used, len, i, vsize, 0};
        used += len;
    }
    return BIRCH_OK;
}

/* Whether the batch's first key sorts after every key in the table. */
static int after_last(birch_txn *txn, const birch_typed *t, const batch_key *first)
{
    /* A question, not a step that can fail: whatever it meets (an empty
     * table, an error the batch's puts will meet again) leaves
     * birch_errmsg() alone (err.h). */
    bi_errmark mark = bi_err_mark();
    birch_cursor *c;
    int after = 0;
    if (birch_cursor_open(txn, t->table, &c) == BIRCH_OK) {
        birch_val last;
        int rc = birch_cursor_last(c);
        after = rc == BIRCH_NOTFOUND;
        if (rc == BIRCH_OK && birch_cursor_get(c, &last, NULL) == BIRCH_OK)
            after = bi_key_cmp(first->k, first->len, last.data, last.size) > 0;
        birch_cursor_close(c);
    }
    bi_err_end(mark, 1);
    return after;
}

/* Encodes every value of the batch into the transaction's buffer before
 * the first put: a value may point into a page that an earlier record of
 * the batch changes (see put_one), and the batch must store what every
 * value held when it was called.  *aside gets the buffer. */
static int encode_batch_aside(birch_txn *txn, const birch_typed *t, size_t n, const uint8_t *values,
                              batch_key *bk, uint8_t **aside)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (total > SIZE_MAX - 8 - bk[i].vsize)
            return bi_err(BIRCH_ENOMEM, "birch_typed_put_batch: the values' total size overflows size_t");
        bk[i].off = total;
        total += BI_A8(bk[i].vsize);
    }
    int rc = argbuf(txn, total, aside);
    if (rc) return rc;
    memset(*aside, 0, total);
    for (size_t i = 0; i < n && rc == BIRCH_OK; i++)
        rc = encode_aside(t, values + bk[i].idx * t->value->c_size, *aside + bk[i].off, bk[i].vsize);
    return rc;
}

static int load_batch(birch_txn *txn, const birch_typed *t, size_t n, const uint8_t *values, batch_key *bk)
{
    uint8_t *aside = NULL;
    int rc = n && lent(txn) ? encode_batch_aside(txn, t, n, values, bk, &aside) : BIRCH_OK;
    if (rc) return rc;
    qsort(bk, n, sizeof *bk, cmp_batch);
    rc = n ? schema_before_write(txn, t) : BIRCH_OK;
    if (rc) return rc;
    unsigned flags = n && after_last(txn, t, &bk[0]) ? BIRCH_APPEND : 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && bk[i + 1].len == bk[i].len && memcmp(bk[i + 1].k, bk[i].k, bk[i].len) == 0)
            continue; /* a later record with the same key wins */
        birch_val k = {bk[i].k, bk[i].len};
        rc = aside ? birch_put(txn, t->table, k, (birch_val){aside + bk[i].off, bk[i].vsize}, flags)
                   : put_one(txn, t, k, values + bk[i].idx * t->value->c_size, flags, 0);
        if (rc) return rc;
    }
    return BIRCH_OK;
}

int birch_typed_put_batch(birch_txn *txn, const birch_typed *t, size_t n, const void *keys, const void *values)
{
    if (!t || !t->table || (n && (!keys || !values)))
        return bi_err(BIRCH_EINVAL, "birch_typed_put_batch: %s", !t ? "t is NULL" : !t->table ? "t is not open" : "keys or values is NULL");
    int rc_txn = bi_txn_db(txn, t->table->db, "birch_typed_put_batch");
    if (rc_txn) return rc_txn;
    /* Room for n keys of the longest size and n sort entries: a count so
     * large that these sizes overflow could never be allocated anyway. */
    size_t per_key = t->table->db->max_key + 1;
    if (n > SIZE_MAX / per_key || n > SIZE_MAX / sizeof(batch_key))
        return bi_err(BIRCH_EINVAL, "birch_typed_put_batch: n = %zu records is more than memory can hold "
                                    "(%zu bytes of key space each)", n, per_key);
    size_t cap = n * per_key;
    batch_key *bk = malloc((n ? n : 1) * sizeof *bk);
    uint8_t *buf = malloc(cap ? cap : 1);
    int rc = bk && buf ? encode_batch(t, n, keys, values, buf, cap, bk)
                       : bi_err(BIRCH_ENOMEM, "birch_typed_put_batch: out of memory for %zu records (%zu bytes)", n,
                                cap + n * sizeof *bk);
    birch_txn *use = NULL;
    if (rc == BIRCH_OK) rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_WRITE, &use);
    if (rc == BIRCH_OK) rc = bi_auto_end(txn, use, load_batch(use, t, n, values, bk));
    free(bk);
    free(buf);
    return rc;
}

/* ---- Guards ------------------------------------------------------------------ */

/* Finds the raw bytes of key on the guard's own pinned snapshot. */
static int pinned_get(const birch_typed *t, birch_val k, birch_guard *g, birch_val *val, size_t ahead)
{
    birch_db *db = t->table->db;
    bi_snap snap;
    int rc = bi_pin(db, &snap);
    if (rc) return rc;
    birch_txn tx;
    bi_txn_on_snapshot(&tx, db, &snap);
    bi_table_rec rec;
    rc = bi_catalog_lookup(&tx, t->table->name, strlen(t->table->name), &rec);
    if (rc == BIRCH_OK) rc = bi_tree_get_ahead(&tx, &rec.tree, k.data, k.size, val, ahead);
    if (rc) {
        bi_unpin(db, snap.slot, snap.gen);
        return rc;
    }
    g->slot_ = snap.slot;
    g->pin_ = snap.gen;
    return BIRCH_OK;
}

static void format_failure(const birch_typed *t, birch_val k, const char *why, birch_guard *g)
{
    char hex[2 * 16 + 4];
    size_t n = k.size < 16 ? k.size : 16, o = 0;
    for (size_t i = 0; i < n; i++) o += (size_t)snprintf(hex + o, sizeof hex - o, "%02x", ((const uint8_t *)k.data)[i]);
    if (k.size > n) snprintf(hex + o, sizeof hex - o, "..");
    /* Bounded so the message always fits g->msg (256 bytes). */
    snprintf(g->msg, sizeof g->msg, "table '%.48s', key %s: %.150s", t->table->name, hex, why);
}

/* Verification reads the whole value, and on a random get its cache lines
 * past the first are usually cold: without a hint the verifier meets them
 * one miss after another (an archive's strings and vectors, a FlatBuffers
 * vtable and vectors).  Asking for the first VERIFY_AHEAD bytes at once
 * lets the misses overlap; bench/formats.c measured 100-110 ns saved per
 * get of a 200-byte archive or FlatBuffers value (gets of 800-1000 ns on
 * a busy machine; bench/README.md).  They were asked for once the get had
 * returned; the leaf search now asks for them at every node that may hold
 * the key, as soon as it is validated (bi_get's ahead, cmp_slot in
 * btree.c), so that they arrive with the node itself (issue 15). */
#define VERIFY_AHEAD 512

/* Records a guard taken in txn (a token, live): its id joins the
 * transaction's live guards, which its release must find.  Decoded anew:
 * the value format's verify, the caller's code, ran since the lookup
 * decoded it, and could have ended it. */
static int guard_register(birch_txn *txn, birch_guard *g)
{
    int rc = bi_txn_use(&txn);
    if (rc) return rc;
    if (txn->nguards == txn->guards_cap) {
        size_t cap = txn->guards_cap ? 2 * txn->guards_cap : 8;
        uint64_t *v = realloc(txn->guards, cap * sizeof *v);
        if (!v) return bi_err(BIRCH_ENOMEM, "birch_typed_get: out of memory for the transaction's guards");
        txn->guards = v;
        txn->guards_cap = cap;
    }
    g->pin_ = ++txn->guard_next;
    txn->guards[txn->nguards++] = g->pin_;
    return BIRCH_OK;
}

int bi_typed_lookup(birch_txn *txn, const birch_typed *t, const void *key, birch_guard *g, int verify)
{
    if (!g) return bi_err(BIRCH_EINVAL, "birch_typed_get: g is NULL");
    if (g->state_ == GUARD_LIVE) /* a live guard: release it first */
        return bi_err(BIRCH_EINVAL, "birch_typed_get: the guard is live; release it before reusing it");
    g->view = NULL;
    g->bytes = (birch_val){NULL, 0};
    g->state_ = 0;
    g->msg[0] = 0;
    if (!t || !t->table || !key)
        return bi_err(BIRCH_EINVAL, "birch_typed_get: %s", !t ? "t is NULL" : !t->table ? "t is not open" : "key is NULL");
    birch_txn *use = txn; /* decoded once for the checks and the get */
    int rc_txn = txn ? bi_txn_db_use(&use, t->table->db, "birch_typed_get") : bi_db_check(t->table->db, "birch_typed_get");
    if (rc_txn) return rc_txn;
    uint8_t kb[BI_KEY_BUF];
    birch_val k, val;
    int rc = bi_typed_key(t, key, kb, sizeof kb, &k);
    if (rc) return rc;
    /* birch_get checks this with a transaction; the pinned path reads the
     * tree directly and must refuse the same keys. */
    size_t max_key = t->table->db->max_key;
    if (k.size == 0 || k.size > max_key)
        return bi_err(BIRCH_EKEYSIZE, "birch_typed_get: an encoded key of %zu bytes (1..%zu)", k.size, max_key);
    g->db_ = t->table->db;
    g->txn_ = txn;
    size_t ahead = verify ? VERIFY_AHEAD : 0;
    rc = txn ? bi_get(use, t->table, k, &val, ahead) : pinned_get(t, k, g, &val, ahead);
    if (rc) return rc;
    char why[200]; /* written only when verification fails */
    why[0] = 0;
    rc = verify ? t->value->verify(t->value, val.data, val.size, why, sizeof why) : BIRCH_OK;
    if (rc) {
        format_failure(t, k, why, g);
        if (!txn) bi_unpin(g->db_, g->slot_, g->pin_);
        return bi_err(BIRCH_EFORMAT, "%s", g->msg);
    }
    rc = txn ? guard_register(txn, g) : BIRCH_OK;
    if (rc) return rc;
    if (!txn) atomic_fetch_add(&g->db_->open_guards, 1);
    g->bytes = val;
    g->view = t->value->view ? t->value->view(t->value, val.data, val.size) : val.data;
    g->state_ = GUARD_LIVE;
    return BIRCH_OK;
}

int birch_typed_get(birch_txn *txn, const birch_typed *t, const void *key, birch_guard *g)
{
    return bi_typed_lookup(txn, t, key, g, 1);
}

/* A release of a guard taken outside a transaction: lets its reader slot
 * go by compare-and-swap of the pin's generation, so that a copy released
 * after the original (or the original after a copy) is refused, even once
 * another pin holds the slot. */
static int release_pinned(birch_guard *g)
{
    birch_db *db = g->db_;
    int rc = bi_db_check(db, "birch_guard_release");
    if (rc) return rc;
    if (bi_unpin(db, g->slot_, g->pin_))
        return bi_err(BIRCH_ETXN, "birch_guard_release: the guard was released twice (a copy of it was released "
                                  "already)");
    atomic_fetch_sub(&db->open_guards, 1);
    return BIRCH_OK;
}

/* A release of a guard taken in a transaction: its id must still be among
 * the transaction's live guards. */
static int release_in_txn(birch_guard *g)
{
    birch_txn *txn = g->txn_;
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_ETXN)
        return bi_err(BIRCH_ETXN, "birch_guard_release: the guard's transaction has ended (release guards "
                                  "before it ends)");
    if (rc) return rc;
    for (size_t i = txn->nguards; i-- > 0;) { /* guards are mostly released last-taken first */
        if (txn->guards[i] != g->pin_) continue;
        txn->guards[i] = txn->guards[--txn->nguards];
        return BIRCH_OK;
    }
    return bi_err(BIRCH_ETXN, "birch_guard_release: the guard was released twice (a copy of it was released "
                              "already)");
}

int birch_guard_release(birch_guard *g)
{
    if (!g || g->state_ == 0) return BIRCH_OK; /* zero-initialised or never filled */
    if (g->state_ != GUARD_LIVE)
        return bi_err(BIRCH_ETXN, "birch_guard_release: the guard was released twice (or its memory was "
                                  "overwritten)");
    int rc = g->txn_ ? release_in_txn(g) : release_pinned(g);
    g->state_ = GUARD_RELEASED;
    g->view = NULL;
    g->bytes = (birch_val){NULL, 0};
    return rc;
}
