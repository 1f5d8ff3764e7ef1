/*
 * Snippets of docs/guide/typed-tables.md.  Each ```c block of the guide is
 * copied verbatim from this file (tests/check_guides.cmake checks it), and
 * this program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

/* [guide] */
typedef struct Customer {
    uint64_t id;
    char name[32];
    double revenue;
} Customer;

/* The value format: the struct as it is in memory, layout version 1. */
BIRCH_POD_FORMAT(customer_format, Customer, 1);
/* customers_open, _put, _get, _view, _release, _delete, _contains, _stream:
 * uint64_t keys (in numeric order) and Customer values, checked by the
 * compiler. */
BIRCH_TYPED_TABLE(customers, uint64_t, Customer, birch_key_u64, customer_format);
/* [/guide] */

/* [guide] */
static int customers_demo(birch_db *db)
{
    birch_typed t;
    customers_guard g;
    Customer ada = {1, "Ada Lovelace", 12500.0};

    /* txn NULL: each call runs in a transaction of its own. */
    int rc = customers_open(db, NULL, BIRCH_CREATE, &t);
    if (rc == BIRCH_ESCHEMA)
        fprintf(stderr, "%s\n", t.msg); /* which formats the table holds */
    if (rc == BIRCH_OK)
        rc = customers_put(NULL, &t, ada.id, &ada); /* committed when it returns */
    if (rc == BIRCH_OK)
        rc = customers_get(NULL, &t, 1, &g);
    if (rc == BIRCH_OK) {
        const Customer *c = customers_view(&g); /* in place, verified, aligned */
        printf("%s: %.2f\n", c->name, c->revenue);
        customers_release(&g); /* exactly once per successful get */
    }
    return rc;
}
/* [/guide] */

/* [guide] */
/* Many writes in one transaction: one commit instead of one per record.
 * Guards taken in a write transaction must be released before the next
 * write in it. */
static int import(birch_db *db, const Customer *list, size_t n)
{
    birch_txn *txn;
    birch_typed t;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc != BIRCH_OK)
        return rc;
    rc = customers_open(db, txn, BIRCH_CREATE, &t);
    for (size_t i = 0; rc == BIRCH_OK && i < n; i++)
        rc = customers_put(txn, &t, list[i].id, &list[i]);
    if (rc == BIRCH_OK && customers_contains(txn, &t, 0) == 1)
        rc = customers_delete(txn, &t, 0) == 1 ? BIRCH_OK : BIRCH_NOTFOUND;
    if (rc != BIRCH_OK) {
        birch_txn_abort(txn);
        return rc;
    }
    return birch_txn_commit(txn);
}
/* [/guide] */

/* [guide] */
/* Bulk load through the untyped calls: arrays of C keys and values, sorted
 * and appended in one transaction (txn NULL: one commit). */
static int bulk_load(birch_db *db, const uint64_t *ids, const Customer *list, size_t n)
{
    birch_typed t;
    int rc = birch_typed_open(db, NULL, "customers", &birch_key_u64, &customer_format,
                              BIRCH_CREATE, &t);
    if (rc != BIRCH_OK)
        return rc;
    return birch_typed_put_batch(NULL, &t, n, ids, list);
}
/* [/guide] */

#define CHECK(call)                                                                    \
    do {                                                                               \
        int rc_ = (call);                                                              \
        if (rc_ != BIRCH_OK) {                                                         \
            fprintf(stderr, "%s: %s (%d)\n", #call, birch_strerror(rc_), rc_);         \
            exit(EXIT_FAILURE);                                                        \
        }                                                                              \
    } while (0)

BIRCH_POD_FORMAT(customer_format_v2, Customer, 2);

int main(void)
{
    birch_options opts;
    birch_db *db;
    birch_typed t;
    uint64_t ids[100];
    Customer list[100];
    birch_txn *txn;
    birch_table *raw;
    uint64_t n;

    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    CHECK(birch_open(NULL, &opts, &db));
    CHECK(customers_demo(db));
    for (size_t i = 0; i < 100; i++) {
        ids[i] = 1000 - i;
        list[i] = (Customer){ids[i], "", (double)i};
        snprintf(list[i].name, sizeof list[i].name, "customer %zu", i);
    }
    CHECK(import(db, list, 10));
    CHECK(bulk_load(db, ids, list, 100));
    CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    CHECK(birch_table_open(txn, "customers", 0, &raw));
    CHECK(birch_count(txn, raw, &n));
    birch_txn_abort(txn);
    if (n != 101)
        return EXIT_FAILURE;
    /* Another layout version of the value is refused. */
    if (birch_typed_open(db, NULL, "customers", &birch_key_u64, &customer_format_v2, 0, &t) !=
        BIRCH_ESCHEMA)
        return EXIT_FAILURE;
    printf("ESCHEMA: %s\n", t.msg);
    CHECK(birch_close(db));
    puts("typed tables: ok");
    return EXIT_SUCCESS;
}
