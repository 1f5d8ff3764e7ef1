/*
 * Snippets of docs/guide/tables.md.  Each ```c block of the guide is copied
 * verbatim from this file (tests/check_guides.cmake checks it), and this
 * program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

/* [guide] */
/* A birch_val over a C string, without its NUL. */
static birch_val str(const char *s)
{
    return (birch_val){s, strlen(s)};
}

/* Creates the table "fruits" and stores three records in one commit. */
static int fill(birch_db *db, birch_table **fruits)
{
    birch_txn *txn;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_table_open(txn, "fruits", BIRCH_CREATE, fruits);
    if (rc == BIRCH_OK)
        rc = birch_put(txn, *fruits, str("apple"), str("red"), 0);
    if (rc == BIRCH_OK)
        rc = birch_put(txn, *fruits, str("kiwi"), str("green"), 0);
    if (rc == BIRCH_OK) /* BIRCH_EXISTS instead of overwriting */
        rc = birch_put(txn, *fruits, str("plum"), str("purple"), BIRCH_NOOVERWRITE);
    if (rc != BIRCH_OK) {
        birch_txn_abort(txn);
        return rc;
    }
    return birch_txn_commit(txn); /* frees txn, whatever it returns */
}
/* [/guide] */

/* [guide] */
/* Prints one value and every record in key order. */
static int show(birch_db *db, birch_table *fruits)
{
    birch_txn *txn;
    birch_cursor *cur;
    birch_val key, val;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_get(txn, fruits, str("kiwi"), &val);
    if (rc == BIRCH_OK) /* val points into the map: print it with its size */
        printf("kiwi is %.*s\n", (int)val.size, (const char *)val.data);
    if (rc == BIRCH_OK)
        rc = birch_cursor_open(txn, fruits, &cur);
    if (rc == BIRCH_OK) {
        for (rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur)) {
            rc = birch_cursor_get(cur, &key, &val);
            if (rc != BIRCH_OK)
                break;
            printf("  %.*s = %.*s\n", (int)key.size, (const char *)key.data,
                   (int)val.size, (const char *)val.data);
        }
        if (rc == BIRCH_NOTFOUND) /* past the last key: done */
            rc = BIRCH_OK;
        birch_cursor_close(cur);
    }
    birch_txn_abort(txn); /* ends a read transaction (commit would too) */
    return rc;
}
/* [/guide] */

/* [guide] */
static int print_name(const char *name, void *ctx)
{
    (void)ctx;
    printf("table %s\n", name);
    return 0; /* non-zero stops the listing */
}

/* Deletes a record, counts what is left, lists the tables, drops one. */
static int tidy(birch_db *db, birch_table *fruits)
{
    birch_txn *txn;
    uint64_t n = 0;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_del(txn, fruits, str("apple")); /* BIRCH_NOTFOUND if absent */
    if (rc == BIRCH_OK)
        rc = birch_count(txn, fruits, &n);
    if (rc == BIRCH_OK) {
        printf("%llu fruits left\n", (unsigned long long)n);
        rc = birch_table_list(txn, print_name, NULL);
    }
    if (rc == BIRCH_OK)
        rc = birch_table_drop(txn, "fruits");
    if (rc != BIRCH_OK) {
        birch_txn_abort(txn);
        return rc;
    }
    return birch_txn_commit(txn);
}
/* [/guide] */

/* [guide] */
/* Renames "fruits" to "produce" and prints the table's figures. */
static int rename_and_stat(birch_db *db, birch_table **produce)
{
    birch_txn *txn;
    struct birch_table_stat st;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_table_rename(txn, "fruits", "produce"); /* BIRCH_EXISTS if taken */
    if (rc == BIRCH_OK) /* the handle of the new name sees the records */
        rc = birch_table_open(txn, "produce", 0, produce);
    if (rc == BIRCH_OK) /* one walk of the table's pages */
        rc = birch_table_stat(txn, *produce, &st);
    if (rc == BIRCH_OK)
        printf("%llu records, %llu key and %llu value bytes, depth %u, "
               "%llu leaf pages, %.1f%% full\n",
               (unsigned long long)st.records, (unsigned long long)st.key_bytes,
               (unsigned long long)st.value_bytes, (unsigned)st.depth,
               (unsigned long long)st.leaf_pages, st.fill * 100);
    if (rc != BIRCH_OK) {
        birch_txn_abort(txn);
        return rc;
    }
    return birch_txn_commit(txn);
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

int main(void)
{
    birch_options opts;
    birch_db *db;
    birch_table *fruits;
    birch_txn *txn;

    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    CHECK(birch_open(NULL, &opts, &db));
    CHECK(fill(db, &fruits));
    CHECK(show(db, fruits));
    CHECK(tidy(db, fruits));
    /* The handle outlives the drop: the table is simply missing now. */
    CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    birch_val v;
    if (birch_get(txn, fruits, str("kiwi"), &v) != BIRCH_NOTFOUND)
        return EXIT_FAILURE;
    birch_txn_abort(txn);
    /* Filled again, then renamed: the old name's handle sees no table, the
     * new one holds the three records. */
    birch_table *produce;
    uint64_t n = 0;
    CHECK(fill(db, &fruits));
    CHECK(rename_and_stat(db, &produce));
    CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    if (birch_get(txn, fruits, str("kiwi"), &v) != BIRCH_NOTFOUND)
        return EXIT_FAILURE;
    CHECK(birch_count(txn, produce, &n));
    if (n != 3)
        return EXIT_FAILURE;
    CHECK(birch_get(txn, produce, str("kiwi"), &v));
    birch_txn_abort(txn);
    CHECK(birch_close(db));
    puts("tables: ok");
    return EXIT_SUCCESS;
}
