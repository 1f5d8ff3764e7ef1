/*
 * Snippets of docs/guide/ranges.md.  Each ```c block of the guide is copied
 * verbatim from this file (tests/check_guides.cmake checks it), and this
 * program runs them: edit both together.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

static birch_val str(const char *s)
{
    return (birch_val){s, strlen(s)};
}

/* [guide] */
/* Stores an order under a new id from the table's sequence: big-endian,
 * so that ids sort in the order they were given. */
static int add_order(birch_txn *txn, birch_table *orders, const char *what)
{
    uint64_t id;
    int rc = birch_sequence_next(txn, orders, &id);
    if (rc != BIRCH_OK)
        return rc;
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(id >> (56 - 8 * i));
    return birch_put(txn, orders, (birch_val){key, 8}, str(what), 0);
}
/* [/guide] */

/* [guide] */
/* Prints page `page` (of `per` records) of the table, and how many pages
 * there are: a count and a seek by rank, both O(log n). */
static int print_page(birch_txn *txn, birch_table *t, uint64_t page, uint64_t per)
{
    uint64_t total;
    birch_cursor *cur;
    int rc = birch_count(txn, t, &total);
    if (rc == BIRCH_OK)
        rc = birch_cursor_open(txn, t, &cur);
    if (rc != BIRCH_OK)
        return rc;
    printf("page %" PRIu64 " of %" PRIu64 ":", page + 1, (total + per - 1) / per);
    rc = birch_cursor_seek_rank(cur, page * per);
    for (uint64_t i = 0; i < per && rc == BIRCH_OK; i++) {
        birch_val val;
        rc = birch_cursor_get(cur, NULL, &val);
        if (rc == BIRCH_OK)
            printf(" %.*s", (int)val.size, (const char *)val.data);
        if (rc == BIRCH_OK)
            rc = birch_cursor_next(cur);
    }
    printf("\n");
    birch_cursor_close(cur);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc; /* the last page may be short */
}
/* [/guide] */

/* [guide] */
/* Deletes, in one pass, every record whose value starts with "old",
 * and the keys from "k100" to "k199" with one call. */
static int clean(birch_txn *txn, birch_table *t)
{
    birch_cursor *cur;
    uint64_t gone;
    int rc = birch_cursor_open(txn, t, &cur);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_cursor_first(cur);
    while (rc == BIRCH_OK) {
        birch_val val;
        rc = birch_cursor_get(cur, NULL, &val);
        if (rc != BIRCH_OK)
            break;
        if (val.size >= 3 && memcmp(val.data, "old", 3) == 0)
            rc = birch_cursor_del(cur); /* and now on the next record */
        else
            rc = birch_cursor_next(cur);
    }
    birch_cursor_close(cur);
    if (rc != BIRCH_NOTFOUND)
        return rc;
    rc = birch_del_range(txn, t, str("k100"), str("k200"), &gone); /* [k100, k200) */
    if (rc == BIRCH_OK)
        printf("deleted %" PRIu64 " keys of the k1xx range\n", gone);
    return rc;
}
/* [/guide] */

static void die(int rc, const char *what)
{
    fprintf(stderr, "%s: %s (%s)\n", what, birch_strerror(rc), birch_errmsg());
    exit(1);
}

int main(void)
{
    birch_options opts;
    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    birch_db *db;
    birch_txn *txn;
    birch_table *orders, *t;
    int rc = birch_open("ranges", &opts, &db);
    if (rc) die(rc, "open");
    if ((rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn))) die(rc, "begin");
    if ((rc = birch_table_open(txn, "orders", BIRCH_CREATE, &orders))) die(rc, "table");
    const char *items[] = {"tea", "jam", "salt", "rice", "figs", "oats", "kale"};
    for (size_t i = 0; i < sizeof items / sizeof *items; i++)
        if ((rc = add_order(txn, orders, items[i]))) die(rc, "add_order");
    if ((rc = print_page(txn, orders, 1, 3))) die(rc, "print_page");
    if ((rc = birch_table_open(txn, "t", BIRCH_CREATE, &t))) die(rc, "table t");
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        if ((rc = birch_put(txn, t, str(k), str(i % 3 ? "new" : "old"), 0))) die(rc, "put");
    }
    if ((rc = clean(txn, t))) die(rc, "clean");
    uint64_t n;
    if ((rc = birch_count(txn, t, &n))) die(rc, "count");
    uint64_t want = 0; /* neither "old" (i % 3 == 0) nor in [k100, k200) */
    for (int i = 0; i < 300; i++) want += (i < 100 || i >= 200) && i % 3;
    if (n != want) die(BIRCH_ECORRUPT, "count after clean");
    if ((rc = birch_txn_commit(txn))) die(rc, "commit");
    return birch_close(db) ? 1 : 0;
}
