/*
 * Snippets of docs/guide/batches.md.  Each ```c block of the guide is copied
 * verbatim from this file (tests/check_guides.cmake checks it), and this
 * program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

static birch_val str(const char *s)
{
    return (birch_val){s, strlen(s)};
}

/* [guide] */
/* An order as one batch: the order, its stock changes, and the cart it
 * empties.  Nothing touches a database yet. */
static int order_batch(birch_batch *b, const char *order_id, const char *item, const char *stock_left)
{
    int rc = birch_batch_put(b, "orders", str(order_id), str(item));
    if (rc == BIRCH_OK)
        rc = birch_batch_put(b, "stock", str(item), str(stock_left));
    if (rc == BIRCH_OK) /* the whole cart: every key that starts with "cart/" */
        rc = birch_batch_del_range(b, "carts", str("cart/"), str("cart0"));
    return rc;
}

/* Applies an encoded batch (built here, read from a file or received) in
 * a write transaction of its own: every change, or none. */
static int apply_bytes(birch_db *db, birch_val bytes)
{
    birch_txn *txn;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_batch_apply(txn, bytes);
    if (rc != BIRCH_OK) {
        fprintf(stderr, "apply: %s: %s\n", birch_strerror(rc), birch_errmsg());
        birch_txn_abort(txn);
        return rc;
    }
    return birch_txn_commit(txn);
}
/* [/guide] */

/* [guide] */
/* Prints the changes of an encoded batch: an audit log, a replica, or a
 * cache kept in step read a batch this way. */
static int print_change(const birch_batch_op *op, void *ctx)
{
    static const char *const kinds[] = {"", "put", "del", "del_range"};
    (void)ctx;
    printf("%s %.*s: %.*s", kinds[op->kind], (int)op->table.size, (const char *)op->table.data,
           (int)op->key.size, (const char *)op->key.data);
    if (op->kind != BIRCH_BATCH_DEL)
        printf(" .. %.*s", (int)op->val.size, (const char *)op->val.data);
    printf("\n");
    return 0;
}
/* [/guide] */

static void die(int rc, const char *what)
{
    fprintf(stderr, "%s: %s (%s)\n", what, birch_strerror(rc), birch_errmsg());
    exit(1);
}

static birch_db *open_memory(const char *name)
{
    birch_options opts;
    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    birch_db *db;
    int rc = birch_open(name, &opts, &db);
    if (rc) die(rc, "open");
    return db;
}

/* Whether table holds key with value want (NULL: not at all). */
static int holds(birch_db *db, const char *table, const char *key, const char *want)
{
    birch_txn *txn;
    birch_table *t;
    birch_val v;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn);
    if (rc) die(rc, "begin");
    rc = birch_table_open(txn, table, 0, &t);
    if (rc == BIRCH_OK) rc = birch_get(txn, t, str(key), &v);
    int ok = want ? rc == BIRCH_OK && v.size == strlen(want) && memcmp(v.data, want, v.size) == 0
                  : rc == BIRCH_NOTFOUND;
    birch_txn_abort(txn);
    return ok;
}

int main(void)
{
    birch_db *shop = open_memory("shop"), *replica = open_memory("replica");
    birch_txn *txn;
    birch_table *carts;
    int rc = birch_txn_begin(shop, BIRCH_TXN_WRITE, &txn);
    if (rc == BIRCH_OK) rc = birch_table_open(txn, "carts", BIRCH_CREATE, &carts);
    if (rc == BIRCH_OK) rc = birch_put(txn, carts, str("cart/7"), str("tea"), 0);
    if (rc == BIRCH_OK) rc = birch_txn_commit(txn);
    if (rc) die(rc, "setup");

    birch_batch b;
    birch_val bytes;
    birch_batch_init(&b);
    if ((rc = order_batch(&b, "o-1001", "tea", "41"))) die(rc, "order_batch");
    if ((rc = birch_batch_bytes(&b, &bytes))) die(rc, "bytes");
    if ((rc = birch_batch_each(bytes, print_change, NULL))) die(rc, "each");
    /* The same bytes, applied to two databases, change both alike. */
    if ((rc = apply_bytes(shop, bytes)) || (rc = apply_bytes(replica, bytes))) die(rc, "apply");
    for (int i = 0; i < 2; i++) {
        birch_db *db = i ? replica : shop;
        if (!holds(db, "orders", "o-1001", "tea") || !holds(db, "stock", "tea", "41") ||
            !holds(db, "carts", "cart/7", NULL)) {
            fprintf(stderr, "the batch did not apply to the %s\n", i ? "replica" : "shop");
            return 1;
        }
    }
    /* A damaged batch changes nothing. */
    uint8_t *copy = malloc(bytes.size);
    memcpy(copy, bytes.data, bytes.size);
    copy[bytes.size - 1] ^= 1;
    if (apply_bytes(shop, (birch_val){copy, bytes.size}) != BIRCH_ECORRUPT) {
        fprintf(stderr, "a damaged batch was applied\n");
        return 1;
    }
    free(copy);
    birch_batch_free(&b);
    printf("done\n");
    return birch_close(shop) || birch_close(replica) ? 1 : 0;
}
