/*
 * catalog.c - named tables.
 *
 * The catalog is a B+tree from table name to a bi_table_rec (root, record
 * count, schema blob).  A table handle (birch_table) belongs to the
 * database and only names the table; what the table holds depends on the
 * transaction, so each transaction keeps a bi_tstate per handle, read from
 * the catalog on first use and written back at commit when it changed.
 *
 * Invariant: in a live transaction, a handle's loaded state says the table
 * exists exactly when the transaction's catalog holds its name.  Create,
 * drop and rename change both together; the state's tree may be newer than
 * the record's (dirty), and bi_catalog_flush writes it back under the
 * handle's name at commit.  A catalog record is changed by copying it whole
 * and replacing the fields the change is about, never rebuilt field by
 * field, so that fields it gains keep their values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* BIRCH_OK if name is a valid table name for db (its length in *len),
 * else BIRCH_EINVAL with the reason; fn names the caller for the message.
 * Names are catalog keys, so the limit is db->max_name (the key limit
 * where that is below BIRCH_MAX_NAME_SIZE): a longer name must be refused
 * here, not by the catalog put at commit as a damaged page. */
static int name_ok(const char *fn, const birch_db *db, const char *name, size_t *len)
{
    if (!name) return bi_err(BIRCH_EINVAL, "%s: the table name is NULL", fn);
    *len = strnlen(name, BIRCH_MAX_NAME_SIZE + 1);
    if (*len == 0) return bi_err(BIRCH_EINVAL, "%s: the table name is empty", fn);
    if (*len > db->max_name) {
        char n[32]; /* strnlen stopped one past the absolute limit */
        if (*len > BIRCH_MAX_NAME_SIZE) snprintf(n, sizeof n, "more than %u", BIRCH_MAX_NAME_SIZE);
        else snprintf(n, sizeof n, "%zu", *len);
        return bi_err(BIRCH_EINVAL, "%s: a table name of %s bytes; this database's limit is %zu "
                                    "(birch_max_name_size: min(%u, page size %u / 4))",
                      fn, n, db->max_name, BIRCH_MAX_NAME_SIZE, db->psize);
    }
    return BIRCH_OK;
}

/* Parses a catalog value, checking that its lengths agree and that its
 * flags are ones birch knows (FORMAT.md 9: other bits are 0; a table whose
 * records are kept in a way birch does not know is not read as another
 * kind). */
static int parse_rec(birch_val v, bi_table_rec *rec, const uint8_t **schema)
{
    if (v.size < sizeof *rec) return BI_CORRUPT("catalog: a table record of %zu bytes (at least %zu)", v.size, sizeof *rec);
    memcpy(rec, v.data, sizeof *rec);
    if (rec->schema_len > BIRCH_MAX_SCHEMA_SIZE || v.size != sizeof *rec + rec->schema_len)
        return BI_CORRUPT("catalog: a table record of %zu bytes names a %u-byte schema", v.size, rec->schema_len);
    if (rec->flags & ~BI_TABLE_MULTIMAP)
        return BI_CORRUPT("catalog: a table record with unknown flags %#x (birch knows %#x, multimap)", rec->flags,
                          BI_TABLE_MULTIMAP);
    if (schema) *schema = (const uint8_t *)v.data + sizeof *rec;
    return BIRCH_OK;
}

int bi_catalog_lookup(birch_txn *txn, const char *name, size_t len, bi_table_rec *rec)
{
    birch_val v;
    int rc = bi_tree_get(txn, &txn->meta.catalog, (const uint8_t *)name, len, &v);
    return rc ? rc : parse_rec(v, rec, NULL);
}

/* Finds or registers the handle for name. */
static int handle_for(birch_db *db, const char *name, birch_table **out)
{
    int rc = BIRCH_OK;
    pthread_mutex_lock(&db->table_lock);
    for (uint32_t i = 0; i < db->ntables; i++) {
        if (strcmp(db->tables[i]->name, name) == 0) {
            *out = db->tables[i];
            goto done;
        }
    }
    if (db->ntables == db->tables_cap) {
        uint32_t cap = db->tables_cap ? db->tables_cap * 2 : 8;
        birch_table **nt = realloc(db->tables, cap * sizeof *nt);
        if (!nt) {
            rc = bi_err(BIRCH_ENOMEM, "out of memory for %u table handles", cap);
            goto done;
        }
        db->tables = nt;
        db->tables_cap = cap;
    }
    birch_table *t = calloc(1, sizeof *t);
    if (!t) {
        rc = bi_err(BIRCH_ENOMEM, "out of memory for a table handle");
        goto done;
    }
    t->db = db;
    t->id = db->ntables;
    strcpy(t->name, name);
    db->tables[db->ntables++] = t;
    *out = t;
done:
    pthread_mutex_unlock(&db->table_lock);
    return rc;
}

/* The transaction's state slot for t, loaded from the catalog on first use. */
static int state_slot(birch_txn *txn, birch_table *t, bi_tstate **out)
{
    if (t->id < BI_TS_INLINE && !txn->ts) { /* the first tables: no malloc on a reader's path */
        txn->ts = txn->ts_inline;
        txn->nts = BI_TS_INLINE; /* zeroed with the struct (bi_txn_claim) */
    }
    if (t->id >= txn->nts) {
        uint32_t n = t->id + 8;
        int inline_ts = txn->ts == txn->ts_inline;
        bi_tstate *ts = realloc(inline_ts ? NULL : txn->ts, n * sizeof *ts);
        if (!ts) return bi_err(BIRCH_ENOMEM, "out of memory for %u table states", n);
        if (inline_ts) memcpy(ts, txn->ts_inline, sizeof txn->ts_inline);
        memset(ts + txn->nts, 0, (n - txn->nts) * sizeof *ts);
        txn->ts = ts;
        txn->nts = n;
    }
    bi_tstate *ts = &txn->ts[t->id];
    if (!ts->loaded) {
        bi_table_rec rec;
        bi_errmark mark = bi_err_mark(); /* a table missing from the snapshot is a state, not a failure */
        int rc = bi_catalog_lookup(txn, t->name, strlen(t->name), &rec);
        bi_err_end(mark, rc == BIRCH_NOTFOUND);
        if (rc && rc != BIRCH_NOTFOUND) return rc;
        ts->loaded = 1;
        ts->exists = rc == BIRCH_OK;
        if (ts->exists) {
            ts->tree = rec.tree;
            ts->seq = rec.sequence;
            ts->flags = rec.flags;
        }
    }
    *out = ts;
    return BIRCH_OK;
}

int bi_table_state(birch_txn *txn, birch_table *t, bi_tstate **out)
{
    if (!t) return bi_err(BIRCH_EINVAL, "the table handle is NULL");
    if (t->db != txn->db) return bi_err(BIRCH_EINVAL, "table '%s' belongs to another database", t->name);
    if (txn->state != BI_TXN_LIVE) return bi_err(BIRCH_ETXN, "the transaction has ended or failed");
    int rc = state_slot(txn, t, out);
    if (rc) return rc;
    if ((*out)->exists) return BIRCH_OK;
    return bi_err(BIRCH_NOTFOUND, "table '%s' does not exist in this transaction's snapshot", t->name);
}

/* Writes rec + schema under the table's name. */
static int store(birch_txn *txn, const char *name, const bi_table_rec *rec, const void *schema)
{
    uint8_t buf[sizeof *rec + BIRCH_MAX_SCHEMA_SIZE];
    memcpy(buf, rec, sizeof *rec);
    if (rec->schema_len) memcpy(buf + sizeof *rec, schema, rec->schema_len);
    return bi_tree_put(txn, &txn->meta.catalog, (const uint8_t *)name, strlen(name), buf,
                       sizeof *rec + rec->schema_len, 0, NULL);
}

int bi_catalog_flush(birch_txn *txn)
{
    birch_db *db = txn->db;
    for (uint32_t i = 0; i < txn->nts; i++) {
        bi_tstate *ts = &txn->ts[i];
        if (!ts->dirty || !ts->exists) continue;
        pthread_mutex_lock(&db->table_lock);
        const char *name = db->tables[i]->name;
        pthread_mutex_unlock(&db->table_lock);
        birch_val v;
        bi_table_rec rec;
        const uint8_t *schema;
        uint8_t copy[BIRCH_MAX_SCHEMA_SIZE];
        int rc = bi_tree_get(txn, &txn->meta.catalog, (const uint8_t *)name, strlen(name), &v);
        if (rc == BIRCH_OK) rc = parse_rec(v, &rec, &schema);
        if (rc) return rc;
        memcpy(copy, schema, rec.schema_len); /* the put may move the old value */
        rec.tree = ts->tree;
        rec.sequence = ts->seq;
        rc = store(txn, name, &rec, copy);
        if (rc) return rc;
        ts->dirty = 0;
    }
    return BIRCH_OK;
}

static int create(birch_txn *txn, birch_table *t, uint32_t flags)
{
    bi_table_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.flags = flags;
    int rc = store(txn, t->name, &rec, NULL);
    if (rc) return bi_txn_fail(txn, rc);
    bi_tstate *ts;
    rc = state_slot(txn, t, &ts);
    if (rc) return bi_txn_fail(txn, rc);
    *ts = (bi_tstate){.flags = flags, .loaded = 1, .exists = 1};
    return BIRCH_OK;
}

int birch_table_open(birch_txn *txn, const char *name, unsigned flags, birch_table **table)
{
    size_t len;
    if (!txn) return bi_err(BIRCH_EINVAL, "birch_table_open: txn is NULL");
    if (!table) return bi_err(BIRCH_EINVAL, "birch_table_open: table is NULL");
    int rc = bi_txn_use(&txn);
    if (rc) return rc;
    rc = name_ok("birch_table_open", txn->db, name, &len);
    if (rc) return rc;
    if (flags & ~(BIRCH_CREATE | BIRCH_MULTIMAP)) return bi_err(BIRCH_EINVAL, "birch_table_open: unknown flags %#x", flags);
    if (txn->state != BI_TXN_LIVE) return bi_err(BIRCH_ETXN, "birch_table_open: the transaction has ended or failed");
    bi_table_rec rec;
    bi_errmark mark = bi_err_mark(); /* a miss creates the table (or fails below with its own message) */
    rc = bi_catalog_lookup(txn, name, len, &rec);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    if (rc && rc != BIRCH_NOTFOUND) return rc;
    int missing = rc == BIRCH_NOTFOUND;
    if (missing && !(flags & BIRCH_CREATE)) return bi_err(BIRCH_NOTFOUND, "no table named '%s'", name);
    if (missing && (rc = bi_txn_writable(txn))) return rc;
    birch_table *t;
    rc = handle_for(txn->db, name, &t);
    if (rc) return rc;
    bi_tstate *ts;
    rc = state_slot(txn, t, &ts);
    if (rc) return rc;
    uint32_t multi = flags & BIRCH_MULTIMAP ? BI_TABLE_MULTIMAP : 0;
    bi_batch_mark m = {0, 0, 0, 0};
    if (missing && !ts->exists) bi_feed_settle(txn); /* a table create ends a reserved value's pointer */
    if (missing && !ts->exists &&
        ((rc = bi_feed_add(txn, BIRCH_BATCH_CREATE, name, (birch_val){NULL, 0}, (birch_val){NULL, 0},
                           flags & BIRCH_MULTIMAP, &m)) ||
         (rc = create(txn, t, multi))))
        return rc;
    if (multi && !(ts->flags & BI_TABLE_MULTIMAP))
        return bi_err(BIRCH_ESCHEMA, "birch_table_open: table '%s' exists and is not a multimap table", name);
    *table = t;
    return BIRCH_OK;
}

int birch_table_drop(birch_txn *txn, const char *name)
{
    size_t len;
    if (!txn) return bi_err(BIRCH_EINVAL, "birch_table_drop: txn is NULL");
    int rc = bi_txn_use(&txn);
    if (rc) return rc;
    rc = name_ok("birch_table_drop", txn->db, name, &len);
    if (rc == BIRCH_OK) rc = bi_txn_writable(txn);
    if (rc) return rc;
    birch_table *t;
    bi_tstate *ts;
    rc = handle_for(txn->db, name, &t);
    if (rc == BIRCH_OK) rc = bi_table_state(txn, t, &ts);
    bi_batch_mark m = {0, 0, 0, 0};
    if (rc == BIRCH_OK) bi_feed_settle(txn);
    if (rc == BIRCH_OK) rc = bi_feed_add(txn, BIRCH_BATCH_DROP, name, (birch_val){NULL, 0}, (birch_val){NULL, 0}, 0, &m);
    if (rc) return rc;
    txn->mod_seq++;
    rc = bi_tree_free_all(txn, &ts->tree);
    if (rc == BIRCH_OK) rc = bi_tree_del(txn, &txn->meta.catalog, (const uint8_t *)name, len);
    if (rc) return bi_txn_fail(txn, rc);
    *ts = (bi_tstate){.loaded = 1, .exists = 0};
    return BIRCH_OK;
}

/* Whether table name (len bytes) is in the transaction's catalog: 1 or 0,
 * or an error (a damaged catalog). */
static int catalog_has(birch_txn *txn, const char *name, size_t len)
{
    bi_table_rec rec;
    bi_errmark mark = bi_err_mark(); /* a miss is an answer, not a failure */
    int rc = bi_catalog_lookup(txn, name, len, &rec);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    return rc == BIRCH_OK ? 1 : rc == BIRCH_NOTFOUND ? 0 : rc;
}

int birch_table_rename(birch_txn *txn, const char *from, const char *to)
{
    size_t flen, tlen;
    if (!txn) return bi_err(BIRCH_EINVAL, "birch_table_rename: txn is NULL");
    int rc = bi_txn_use(&txn);
    if (rc) return rc;
    rc = name_ok("birch_table_rename: from", txn->db, from, &flen);
    if (rc == BIRCH_OK) rc = name_ok("birch_table_rename: to", txn->db, to, &tlen);
    if (rc == BIRCH_OK) rc = bi_txn_writable(txn);
    if (rc) return rc;
    /* The names, and the record of from whole (whatever fields it has),
     * copied before the catalog changes: the arguments may point anywhere
     * (birch.h, "Memory rules"), and the record's page may move. */
    char fname[BIRCH_MAX_NAME_SIZE + 1], tname[BIRCH_MAX_NAME_SIZE + 1];
    memcpy(fname, from, flen + 1);
    memcpy(tname, to, tlen + 1);
    from = fname;
    to = tname;
    uint8_t buf[sizeof(bi_table_rec) + BIRCH_MAX_SCHEMA_SIZE];
    birch_val v;
    bi_table_rec rec;
    rc = bi_tree_get(txn, &txn->meta.catalog, (const uint8_t *)from, flen, &v);
    if (rc == BIRCH_NOTFOUND) return bi_err(BIRCH_NOTFOUND, "birch_table_rename: no table named '%s'", from);
    if (rc == BIRCH_OK) rc = parse_rec(v, &rec, NULL); /* v.size then fits buf */
    if (rc) return rc;
    if (flen == tlen && memcmp(from, to, flen) == 0) return BIRCH_OK; /* the table keeps its name */
    memcpy(buf, v.data, v.size);
    size_t len = v.size;
    if ((rc = catalog_has(txn, to, tlen)) != 0)
        return rc < 0 ? rc : bi_err(BIRCH_EXISTS, "birch_table_rename: a table named '%s' exists", to);
    /* The handles of both names and their states in this transaction, got
     * before anything changes (they may allocate).  state_slot may move
     * txn->ts: the states are taken by index once both are there. */
    birch_table *tf, *tt;
    bi_tstate *ts;
    if ((rc = handle_for(txn->db, from, &tf)) || (rc = handle_for(txn->db, to, &tt)) ||
        (rc = state_slot(txn, tf, &ts)) || (rc = state_slot(txn, tt, &ts)))
        return rc;
    bi_tstate *fs = &txn->ts[tf->id], *tts = &txn->ts[tt->id];
    BI_ASSERT(fs->loaded && fs->exists && tts->loaded && !tts->exists);
    bi_batch_mark m = {0, 0, 0, 0};
    bi_feed_settle(txn);
    if ((rc = bi_feed_add(txn, BIRCH_BATCH_RENAME, from, (birch_val){NULL, 0}, (birch_val){to, tlen}, 0, &m))) return rc;
    txn->mod_seq++; /* cursors re-seek: those of from find no table */
    rc = bi_tree_put(txn, &txn->meta.catalog, (const uint8_t *)to, tlen, buf, len, BI_PUT_NOOVERWRITE, NULL);
    if (rc == BIRCH_OK) rc = bi_tree_del(txn, &txn->meta.catalog, (const uint8_t *)from, flen);
    if (rc) return bi_txn_fail(txn, rc);
    /* The state moves with the table, dirty tree included: the commit
     * writes it under the new name, and from's handle sees no table. */
    *tts = *fs;
    *fs = (bi_tstate){.loaded = 1, .exists = 0};
    return BIRCH_OK;
}

/* The first or next catalog entry.  BIRCH_NOTFOUND past the last is how
 * the walk ends, not a failure: it leaves birch_errmsg() alone (err.h). */
static int catalog_step(birch_txn *txn, bi_path *path, int first)
{
    bi_errmark mark = bi_err_mark();
    int rc = first ? bi_path_first(txn, &txn->meta.catalog, path) : bi_path_next(txn, path);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    return rc;
}

int birch_table_list(birch_txn *txn, int (*fn)(const char *name, void *ctx), void *ctx)
{
    if (!txn || !fn) return bi_err(BIRCH_EINVAL, "birch_table_list: %s is NULL", txn ? "fn" : "txn");
    int rc0 = bi_txn_use(&txn);
    if (rc0) return rc0;
    if (txn->state != BI_TXN_LIVE) return bi_err(BIRCH_ETXN, "birch_table_list: the transaction has ended or failed");
    bi_path path;
    int rc = catalog_step(txn, &path, 1);
    while (rc == BIRCH_OK) {
        uint8_t *leaf = path.pg[path.depth - 1];
        unsigned i = path.idx[path.depth - 1];
        size_t len = bi_node_klen(leaf, i);
        if ((rc = bi_slot_ok(txn, leaf, i))) return rc;
        if (len == 0 || len > txn->db->max_name || memchr(bi_node_key(leaf, i), 0, len))
            return BI_CORRUPT("catalog page %llu slot %u: a table name of %zu bytes, or one holding NUL",
                              (unsigned long long)bi_hdr(leaf)->pgno, i, len); /* names are C strings */
        char name[BIRCH_MAX_NAME_SIZE + 1];
        memcpy(name, bi_node_key(leaf, i), len);
        name[len] = 0;
        int r = fn(name, ctx);
        if (r) return r;
        rc = catalog_step(txn, &path, 0);
    }
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}

int birch_table_schema(birch_txn *txn, birch_table *t, birch_val *schema)
{
    if (!txn || !t || !schema)
        return bi_err(BIRCH_EINVAL, "birch_table_schema: %s is NULL", !txn ? "txn" : !t ? "t" : "schema");
    bi_tstate *ts;
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = bi_table_state(txn, t, &ts);
    if (rc) return rc;
    birch_val v;
    bi_table_rec rec;
    const uint8_t *s;
    rc = bi_tree_get(txn, &txn->meta.catalog, (const uint8_t *)t->name, strlen(t->name), &v);
    if (rc == BIRCH_OK) rc = parse_rec(v, &rec, &s);
    if (rc == BIRCH_NOTFOUND) return BI_CORRUPT("catalog: table '%s' is missing its record", t->name);
    if (rc) return rc;
    *schema = (birch_val){s, rec.schema_len};
    if (txn->write) bi_lend(txn, s);
    return BIRCH_OK;
}

int birch_table_set_schema(birch_txn *txn, birch_table *t, birch_val schema)
{
    if (!txn || !t) return bi_err(BIRCH_EINVAL, "birch_table_set_schema: %s is NULL", !txn ? "txn" : "t");
    int rc0 = bi_txn_use(&txn);
    if (rc0) return rc0;
    if (!schema.data && schema.size)
        return bi_err(BIRCH_EINVAL, "birch_table_set_schema: schema.data is NULL with size %zu", schema.size);
    if (schema.size > BIRCH_MAX_SCHEMA_SIZE)
        return bi_err(BIRCH_EVALSIZE, "birch_table_set_schema: a schema of %zu bytes (at most %u)", schema.size,
                      BIRCH_MAX_SCHEMA_SIZE);
    int rc = bi_txn_writable(txn);
    if (rc) return rc;
    bi_tstate *ts;
    rc = bi_table_state(txn, t, &ts);
    if (rc) return rc;
    /* The record as it is (flags and any other field kept), with the
     * transaction's tree and the new schema. */
    birch_val v;
    bi_table_rec rec;
    rc = bi_tree_get(txn, &txn->meta.catalog, (const uint8_t *)t->name, strlen(t->name), &v);
    if (rc == BIRCH_OK) rc = parse_rec(v, &rec, NULL);
    if (rc == BIRCH_NOTFOUND) return BI_CORRUPT("catalog: table '%s' is missing its record", t->name);
    if (rc) return rc;
    rec.tree = ts->tree;
    rec.flags = ts->flags;
    rec.sequence = ts->seq;
    rec.schema_len = (uint32_t)schema.size;
    bi_feed_settle(txn);
    bi_batch_mark m = {0, 0, 0, 0}; /* schema may point into the catalog page store rewrites: recorded first */
    if ((rc = bi_feed_add(txn, BIRCH_BATCH_SET_SCHEMA, t->name, (birch_val){NULL, 0}, schema, 0, &m))) return rc;
    txn->mod_seq++;
    rc = store(txn, t->name, &rec, schema.data);
    return rc ? bi_txn_fail(txn, rc) : BIRCH_OK;
}

int birch_table_flags(birch_txn *txn, birch_table *t, unsigned *flags)
{
    if (!txn || !t || !flags)
        return bi_err(BIRCH_EINVAL, "birch_table_flags: %s is NULL", !txn ? "txn" : !t ? "the table" : "flags");
    bi_tstate *ts;
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = bi_table_state(txn, t, &ts);
    if (rc == BIRCH_OK) *flags = ts->flags & BI_TABLE_MULTIMAP ? BIRCH_MULTIMAP : 0;
    return rc;
}

const char *birch_table_name(const birch_table *t)
{
    return t ? t->name : NULL;
}
