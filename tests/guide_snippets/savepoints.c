/*
 * Snippets of docs/guide/savepoints.md.  Each ```c block of the guide is copied
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
/* Imports a batch of records; a record the batch refuses (here: an empty
 * value) undoes that one record's changes only, in a child transaction,
 * and the import goes on. */
static int import(birch_txn *txn, birch_table *t, const char *const *keys, const char *const *vals, int n)
{
    for (int i = 0; i < n; i++) {
        birch_txn *child;
        int rc = birch_txn_begin_nested(txn, &child);
        if (rc != BIRCH_OK)
            return rc;
        rc = birch_put(child, t, str(keys[i]), str(vals[i]), 0);
        if (rc == BIRCH_OK && vals[i][0] == 0)
            rc = BIRCH_EINVAL; /* the application's own check, after the put */
        if (rc == BIRCH_OK)
            rc = birch_txn_commit(child); /* folds into txn */
        else
            birch_txn_abort(child); /* undoes this record only */
    }
    return BIRCH_OK;
}
/* [/guide] */

/* [guide] */
/* Keeps the current state as "before-migration", runs a migration, and
 * goes back to the kept state if the migration's result is not wanted. */
static int migrate(birch_db *db, int keep_result)
{
    birch_txn *txn;
    birch_table *t;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc == BIRCH_OK)
        rc = birch_savepoint_create(txn, "before-migration"); /* the last commit */
    if (rc == BIRCH_OK)
        rc = birch_txn_commit(txn);
    if (rc != BIRCH_OK)
        return rc;
    /* The migration: any number of commits. */
    rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc == BIRCH_OK)
        rc = birch_table_open(txn, "fruits", 0, &t);
    if (rc == BIRCH_OK)
        rc = birch_table_drop(txn, "fruits");
    if (rc == BIRCH_OK)
        rc = birch_txn_commit(txn);
    if (rc != BIRCH_OK)
        return rc;
    /* Back, or forward: either way the savepoint goes. */
    rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc == BIRCH_OK && !keep_result)
        rc = birch_savepoint_restore(txn, "before-migration");
    if (rc == BIRCH_OK)
        rc = birch_savepoint_drop(txn, "before-migration");
    if (rc == BIRCH_OK)
        return birch_txn_commit(txn);
    birch_txn_abort(txn);
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
    birch_table *t;
    int rc = birch_open("savepoints", &opts, &db);
    if (rc) die(rc, "open");
    if ((rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn))) die(rc, "begin");
    if ((rc = birch_table_open(txn, "fruits", BIRCH_CREATE, &t))) die(rc, "table");
    const char *keys[] = {"apple", "kiwi", "plum"}, *vals[] = {"red", "", "purple"};
    if ((rc = import(txn, t, keys, vals, 3))) die(rc, "import");
    uint64_t n;
    if ((rc = birch_count(txn, t, &n)) || n != 2) die(rc ? rc : BIRCH_ECORRUPT, "count after import");
    if ((rc = birch_txn_commit(txn))) die(rc, "commit");
    if ((rc = migrate(db, 0))) die(rc, "migrate");
    if ((rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn))) die(rc, "begin");
    if ((rc = birch_table_open(txn, "fruits", 0, &t))) die(rc, "fruits came back");
    if ((rc = birch_count(txn, t, &n)) || n != 2) die(rc ? rc : BIRCH_ECORRUPT, "count after restore");
    printf("fruits restored: %llu records\n", (unsigned long long)n);
    birch_txn_abort(txn);
    return birch_close(db) ? 1 : 0;
}
