/*
 * Snippets of docs/guide/backup.md.  Each ```c block of the guide is
 * copied verbatim from this file (tests/check_guides.cmake checks it), and
 * this program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

/* [guide] */
static int report(uint64_t done, uint64_t total, void *ctx)
{
    (void)ctx;
    if (done == total)
        printf("copied %llu pages\n", (unsigned long long)total);
    return 0; /* non-zero cancels the copy and is returned as is */
}

/* An online backup: a consistent copy of the last commit, written while
 * readers and the writer go on.  path must not exist yet. */
static int backup(birch_db *db, const char *path)
{
    int rc = birch_copy(db, path, BIRCH_COPY_COMPACT, report, NULL);
    if (rc == BIRCH_EXISTS)
        fprintf(stderr, "%s exists: birch_copy never overwrites\n", path);
    return rc;
}
/* [/guide] */

/* [guide] */
/* Shrinks a database file that is not open anywhere (BIRCH_EBUSY if it
 * is): free pages are left out, and the file is replaced atomically. */
static int shrink(const char *path)
{
    return birch_compact(path, NULL, NULL, NULL);
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
    birch_db *db;
    birch_txn *txn;
    birch_table *t;
    char value[2000];
    char msg[256];

    remove("guide_backup.birch");
    remove("guide_backup_copy.birch");
    CHECK(birch_open("guide_backup.birch", NULL, &db));
    memset(value, 'x', sizeof value);
    CHECK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    CHECK(birch_table_open(txn, "t", BIRCH_CREATE, &t));
    for (unsigned i = 0; i < 200; i++)
        CHECK(birch_put(txn, t, (birch_val){&i, sizeof i}, (birch_val){value, sizeof value}, 0));
    CHECK(birch_txn_commit(txn));
    CHECK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    for (unsigned i = 0; i < 200; i += 2)
        CHECK(birch_del(txn, t, (birch_val){&i, sizeof i}));
    CHECK(birch_txn_commit(txn));

    CHECK(backup(db, "guide_backup_copy.birch"));
    if (backup(db, "guide_backup_copy.birch") != BIRCH_EXISTS)
        return EXIT_FAILURE;
    if (shrink("guide_backup.birch") != BIRCH_EBUSY) /* still open here */
        return EXIT_FAILURE;
    CHECK(birch_close(db));
    CHECK(shrink("guide_backup.birch"));

    const char *files[] = {"guide_backup.birch", "guide_backup_copy.birch"};
    for (int i = 0; i < 2; i++) {
        uint64_t n;
        CHECK(birch_open(files[i], NULL, &db));
        CHECK(birch_check(db, msg, sizeof msg));
        CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
        CHECK(birch_table_open(txn, "t", 0, &t));
        CHECK(birch_count(txn, t, &n));
        birch_txn_abort(txn);
        CHECK(birch_close(db));
        if (n != 100)
            return EXIT_FAILURE;
        remove(files[i]);
    }
    puts("backup: ok");
    return EXIT_SUCCESS;
}
