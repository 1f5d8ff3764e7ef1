/*
 * quickstart.c - a tour of birch's public API (api/birch.h).
 *
 *   ./quickstart [path]      (default: quickstart.birch in the current dir)
 *
 * Creates a database, stores a few records in a write transaction, reads
 * them back in a read transaction and with a cursor, reopens the file and
 * checks it.  Exits non-zero, with birch_strerror's message, on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "birch.h"

/* Every birch call returns BIRCH_OK (0) or a negative BIRCH_E* code; this
 * turns a failed call into a message naming it, and a jump to cleanup. */
#define TRY(call)                                                       \
    do {                                                                \
        rc = (call);                                                    \
        if (rc != BIRCH_OK) {                                           \
            fprintf(stderr, "quickstart: %s failed: %s (%d)\n", #call,  \
                    birch_strerror(rc), rc);                            \
            goto out;                                                   \
        }                                                               \
    } while (0)

/* A birch_val over a C string, without its terminating NUL. */
static birch_val str(const char *s)
{
    birch_val v = {s, strlen(s)};
    return v;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "quickstart.birch";
    static const char *const fruits[][2] = {
        {"apple", "red"}, {"banana", "yellow"}, {"cherry", "dark red"},
        {"kiwi", "green"}, {"plum", "purple"},
    };
    const size_t nfruits = sizeof fruits / sizeof fruits[0];

    birch_db *db = NULL;
    birch_txn *txn = NULL;
    birch_cursor *cur = NULL;
    birch_table *table = NULL;
    birch_val key, val;
    uint64_t count = 0;
    char msg[256];
    int rc = BIRCH_OK;

    /* Line-buffered, so that progress and error messages stay in order
     * when the output goes to a pipe or a log. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Start from nothing so that every run prints the same. */
    unlink(path);
    printf("birch %s: creating %s\n", birch_version(), path);

    /* NULL options: the defaults (4 KiB pages, durable commits). */
    TRY(birch_open(path, NULL, &db));

    /* Writes happen in a write transaction; nothing is visible to others,
     * or on disk, until the commit returns. */
    TRY(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    TRY(birch_table_open(txn, "fruits", BIRCH_CREATE, &table));
    for (size_t i = 0; i < nfruits; i++) {
        TRY(birch_put(txn, table, str(fruits[i][0]), str(fruits[i][1]), 0));
        printf("put %s=%s\n", fruits[i][0], fruits[i][1]);
    }
    /* commit frees the transaction whether it succeeds or not. */
    rc = birch_txn_commit(txn);
    txn = NULL;
    TRY(rc);
    printf("committed %zu records\n", nfruits);

    /* A read transaction sees the snapshot committed when it began.  The
     * value points into the database map: no copy, valid until the
     * transaction ends, so it is printed with its length. */
    TRY(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    TRY(birch_get(txn, table, str("cherry"), &val));
    printf("get cherry -> %.*s\n", (int)val.size, (const char *)val.data);

    /* A cursor walks the keys in order (memcmp order, shorter first). */
    TRY(birch_cursor_open(txn, table, &cur));
    printf("all records in key order:\n");
    for (rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur)) {
        TRY(birch_cursor_get(cur, &key, &val));
        printf("  %.*s=%.*s\n", (int)key.size, (const char *)key.data,
               (int)val.size, (const char *)val.data);
    }
    if (rc != BIRCH_NOTFOUND) /* NOTFOUND just means "past the end" */
        TRY(rc);
    birch_cursor_close(cur);
    cur = NULL;
    rc = birch_txn_commit(txn); /* ends a read transaction, and frees it */
    txn = NULL;
    TRY(rc);

    /* Close and reopen: the records are in the file. */
    TRY(birch_close(db));
    db = NULL;
    printf("reopening %s\n", path);
    TRY(birch_open(path, NULL, &db));
    TRY(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    TRY(birch_table_open(txn, "fruits", 0, &table));
    TRY(birch_count(txn, table, &count));
    printf("table fruits holds %llu records\n", (unsigned long long)count);
    birch_txn_abort(txn);
    txn = NULL;
    if (count != nfruits) {
        fprintf(stderr, "quickstart: expected %zu records\n", nfruits);
        rc = BIRCH_ECORRUPT;
        goto out;
    }

    /* Verify the whole file: checksums, key order, free list, ... */
    msg[0] = '\0';
    rc = birch_check(db, msg, sizeof msg);
    if (rc != BIRCH_OK) {
        fprintf(stderr, "quickstart: birch_check: %s: %s\n", birch_strerror(rc), msg);
        goto out;
    }
    printf("birch_check: ok\n");

out:
    birch_cursor_close(cur);
    birch_txn_abort(txn);
    if (db != NULL) {
        int crc = birch_close(db);
        if (rc == BIRCH_OK && crc != BIRCH_OK) {
            fprintf(stderr, "quickstart: birch_close: %s\n", birch_strerror(crc));
            rc = crc;
        }
    }
    if (rc == BIRCH_OK)
        printf("done\n");
    return rc == BIRCH_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
