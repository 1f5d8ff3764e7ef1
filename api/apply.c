/*
 * apply.c - birch_batch_apply: a write batch (engine/batch.c, FORMAT.md
 * 21) applied through the public calls, in one nested transaction, so
 * that it lands whole or not at all.  Each kind of change is the call
 * birch.h's BIRCH_BATCH_* line names; deletes of what is missing are no
 * error, so that a batch replays onto a database that never had it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "birch.h"
#include "err.h"
#include "internal.h"

/* The table the changes go to: its name in the batch, its handle (NULL:
 * missing) and whether it is a multimap table.  Forgotten (name.size 0)
 * by whatever may make, remove or change a table: create, drop, rename,
 * a savepoint's restore. */
typedef struct target {
    birch_val name;
    birch_table *t;
    int multi;
} target;

static int deletes(int kind)
{
    return kind == BIRCH_BATCH_DEL || kind == BIRCH_BATCH_DEL_RANGE || kind == BIRCH_BATCH_DROP ||
           kind == BIRCH_BATCH_MULTI_DEL || kind == BIRCH_BATCH_MULTI_DEL_ALL || kind == BIRCH_BATCH_MULTI_DEL_RANGE;
}

static int multi_kind(int kind)
{
    return kind >= BIRCH_BATCH_MULTI_PUT && kind <= BIRCH_BATCH_MULTI_DEL_RANGE;
}

static void cstr(char *out, birch_val v)
{
    memcpy(out, v.data, v.size);
    out[v.size] = 0;
}

/* Opens the table op names into *g: created when op makes it (a put, a
 * multimap put, a create), else NULL when missing. */
static int open_target(birch_txn *txn, const birch_batch_op *op, target *g)
{
    char name[BI_BATCH_MAX_NAME + 1];
    cstr(name, op->table);
    unsigned flags = op->kind == BIRCH_BATCH_PUT         ? BIRCH_CREATE
                     : op->kind == BIRCH_BATCH_MULTI_PUT ? BIRCH_CREATE | BIRCH_MULTIMAP
                     : op->kind == BIRCH_BATCH_CREATE    ? BIRCH_CREATE | (unsigned)op->num
                                                         : 0;
    *g = (target){op->table, NULL, 0};
    bi_errmark mark = bi_err_mark();
    int rc = birch_table_open(txn, name, flags, &g->t);
    bi_err_end(mark, rc == BIRCH_NOTFOUND && deletes(op->kind)); /* a missing table's deletes are no failure */
    if (rc == BIRCH_NOTFOUND) g->t = NULL;
    if (rc) return rc;
    unsigned have = 0;
    rc = birch_table_flags(txn, g->t, &have);
    g->multi = (have & BIRCH_MULTIMAP) != 0;
    return rc;
}

static int savepoint(birch_txn *txn, const birch_batch_op *op)
{
    char name[BIRCH_MAX_SAVEPOINT_NAME + 1];
    cstr(name, op->key);
    if (op->kind == BIRCH_BATCH_SAVEPOINT_CREATE) return birch_savepoint_create(txn, name);
    if (op->kind == BIRCH_BATCH_SAVEPOINT_RESTORE) return birch_savepoint_restore(txn, name);
    bi_errmark mark = bi_err_mark();
    int rc = birch_savepoint_drop(txn, name);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}

/* rc, with a miss (BIRCH_NOTFOUND, or BIRCH_EKEYSIZE / BIRCH_EVALSIZE: a
 * key or pair longer than anything this database holds) made no failure,
 * and the message from before mark kept then. */
static int miss_ok(bi_errmark mark, int rc)
{
    if (rc == BIRCH_NOTFOUND || rc == BIRCH_EKEYSIZE || rc == BIRCH_EVALSIZE) rc = BIRCH_OK;
    bi_err_end(mark, rc == BIRCH_OK);
    return rc;
}

/* A delete of a key, a pair or a key's pairs: a miss is no failure. */
static int delete_one(birch_txn *txn, const birch_batch_op *op, const target *g)
{
    bi_errmark mark = bi_err_mark();
    int rc = op->kind == BIRCH_BATCH_DEL         ? birch_del(txn, g->t, op->key)
             : op->kind == BIRCH_BATCH_MULTI_DEL ? birch_multi_del(txn, g->t, op->key, op->val)
                                                 : birch_multi_del_all(txn, g->t, op->key, NULL);
    return miss_ok(mark, rc);
}

/* A change to g's table, which exists. */
static int change(birch_txn *txn, const birch_batch_op *op, target *g)
{
    char to[BI_BATCH_MAX_NAME + 1], from[BI_BATCH_MAX_NAME + 1];
    int plain = op->kind <= BIRCH_BATCH_DEL_RANGE;
    if ((plain && g->multi) || (multi_kind(op->kind) && !g->multi))
        return bi_err_s(BIRCH_ESCHEMA, g->multi ? "a multimap table (change it with birch_multi_*)"
                                                : "not a multimap table");
    switch (op->kind) {
    case BIRCH_BATCH_PUT: return birch_put(txn, g->t, op->key, op->val, 0);
    case BIRCH_BATCH_DEL:
    case BIRCH_BATCH_MULTI_DEL:
    case BIRCH_BATCH_MULTI_DEL_ALL: return delete_one(txn, op, g);
    case BIRCH_BATCH_DEL_RANGE:
    case BIRCH_BATCH_MULTI_DEL_RANGE: return birch_del_range(txn, g->t, op->key, op->val, NULL);
    case BIRCH_BATCH_CREATE:
        if (g->multi != (op->num != 0))
            return bi_err_s(BIRCH_ESCHEMA, g->multi ? "the table exists as a multimap table" : "the table exists as a plain table");
        return BIRCH_OK;
    case BIRCH_BATCH_DROP:
        cstr(from, op->table);
        g->name.size = 0;
        return birch_table_drop(txn, from);
    case BIRCH_BATCH_RENAME:
        cstr(from, op->table);
        cstr(to, op->val);
        g->name.size = 0;
        return birch_table_rename(txn, from, to);
    case BIRCH_BATCH_SET_SCHEMA: return birch_table_set_schema(txn, g->t, op->val);
    case BIRCH_BATCH_SEQUENCE_SET: return birch_sequence_set(txn, g->t, op->num);
    default: return birch_multi_put(txn, g->t, op->key, op->val, 0);
    }
}

/* One change, in txn (the nested transaction of the apply).  A delete of
 * what this database cannot hold (a name or a key longer than its limits)
 * finds nothing, as for a missing one: a batch recorded with larger pages
 * replays here as far as its deletes go. */
static int apply_one(birch_txn *txn, birch_db *db, const birch_batch_op *op, target *g)
{
    if (!op->table.size) {
        g->name.size = 0; /* a restore may make, remove or change any table */
        return savepoint(txn, op);
    }
    int del = deletes(op->kind), rc;
    if (del && op->table.size > birch_max_name_size(db)) return BIRCH_OK;
    if (op->kind == BIRCH_BATCH_DEL && op->key.size > birch_max_key_size(db)) return BIRCH_OK;
    int other = g->name.size != op->table.size || memcmp(g->name.data, op->table.data, op->table.size) != 0;
    /* A table a delete found missing is looked for again by any other kind:
     * a put makes it, a rename or schema change finds it missing. */
    if ((other || (!g->t && !del)) && (rc = open_target(txn, op, g))) return rc == BIRCH_NOTFOUND && del ? BIRCH_OK : rc;
    if (!g->t) return BIRCH_OK; /* a delete from a missing table */
    return change(txn, op, g);
}

static int apply_copy(birch_txn *txn, birch_txn *use, birch_val batch);

/* The batch's bytes may be a value read in txn, on a page the changes
 * are about to rewrite: they are checked and applied from a copy. */
int birch_batch_apply(birch_txn *txn, birch_val batch)
{
    if (!txn) return bi_err_s(BIRCH_EINVAL, "birch_batch_apply: txn is NULL");
    birch_txn *use = txn;
    int rc = bi_txn_use(&use);
    if (rc == BIRCH_OK) rc = bi_txn_writable(use); /* a read transaction: BIRCH_EREADONLY */
    if (rc) return rc;
    if (!batch.data && batch.size)
        return bi_err(BIRCH_EINVAL, "birch_batch_apply: batch is NULL with a size of %zu", batch.size);
    uint8_t *copy = malloc(batch.size ? batch.size : 1);
    if (!copy) return bi_err(BIRCH_ENOMEM, "birch_batch_apply: out of memory for a copy of %zu bytes", batch.size);
    if (batch.size) memcpy(copy, batch.data, batch.size);
    rc = apply_copy(txn, use, (birch_val){copy, batch.size});
    free(copy);
    return rc;
}

/* Says which change failed, before the abort (whose work could set
 * another message). */
static int failed(int rc, const bi_batch_reader *r, const birch_batch_op *op)
{
    static const char *const kinds[BI_BATCH_KINDS] = {
        "", "put", "delete", "range delete", "table create", "table drop", "table rename", "schema set",
        "sequence set", "multimap put", "multimap delete", "multimap delete of a key", "multimap range delete",
        "savepoint create", "savepoint restore", "savepoint drop"};
    char name[BI_BATCH_MAX_NAME + 1];
    birch_val n = op->table.size ? op->table : op->key;
    for (size_t i = 0; i <= n.size; i++) { /* a name may hold any byte but NUL: '?' for the unprintable */
        uint8_t c = i < n.size ? ((const uint8_t *)n.data)[i] : 0;
        name[i] = (char)(i == n.size ? 0 : c >= 0x20 && c < 0x7f ? c : '?');
    }
    char why[256];
    snprintf(why, sizeof why, "%s", birch_errmsg());
    return bi_err(rc, "birch_batch_apply: change %u (a %s %s '%s') failed, nothing was applied: %s", r->index - 1,
                  kinds[op->kind], op->table.size ? "in table" : "named", name, why);
}

static int apply_copy(birch_txn *txn, birch_txn *use, birch_val batch)
{
    bi_batch_reader r;
    int rc = bi_batch_open(batch, &r, "birch_batch_apply");
    if (rc) return rc;
    birch_txn *child;
    if ((rc = birch_txn_begin_nested(txn, &child))) return rc;
    birch_db *db = use->db;
    target g = {{NULL, 0}, NULL, 0};
    birch_batch_op op;
    while (bi_batch_next(&r, &op) == 1) {
        if ((rc = apply_one(child, db, &op, &g)) == BIRCH_OK) continue;
        rc = failed(rc, &r, &op);
        birch_txn_abort(child);
        return rc;
    }
    return birch_txn_commit(child);
}
