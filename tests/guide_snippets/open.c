/*
 * Snippets of docs/guide/open.md.  Each ```c block of the guide is copied
 * verbatim from this file (tests/check_guides.cmake checks it), and this
 * program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

/* [guide] */
/* Opens (or creates) the database at path with 8 KiB pages and a 256 MiB
 * size limit.  Returns BIRCH_OK or a BIRCH_E* code. */
static int open_db(const char *path, birch_db **db)
{
    birch_options opts;
    birch_options_init(&opts);        /* defaults first, always */
    opts.page_size = 8192;            /* used only when the file is created */
    opts.max_size = 256u << 20;       /* BIRCH_EFULL past 256 MiB */
    int rc = birch_open(path, &opts, db);
    if (rc != BIRCH_OK)
        fprintf(stderr, "open %s: %s\n", path, birch_strerror(rc));
    return rc;
}
/* [/guide] */

/* [guide] */
/* A scratch database in memory: nothing touches the disk, and it is gone
 * at birch_close. */
static int open_scratch(birch_db **db)
{
    birch_options opts;
    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    return birch_open(NULL, &opts, db);
}
/* [/guide] */

/* [guide] */
/* Fast commits: BIRCH_DURABLE_NONE skips the fsync of each commit, and
 * birch_sync makes everything committed so far durable at once. */
static int load_quickly(const char *path)
{
    birch_options opts;
    birch_db *db;
    birch_options_init(&opts);
    opts.durability = BIRCH_DURABLE_NONE;
    int rc = birch_open(path, &opts, &db);
    if (rc != BIRCH_OK)
        return rc;
    /* ... many small commits ... */
    rc = birch_sync(db);              /* durable from here on */
    int crc = birch_close(db);        /* syncs too */
    return rc != BIRCH_OK ? rc : crc;
}
/* [/guide] */

/* [guide] */
/* A read-only open: no write transactions, and a missing file is
 * BIRCH_NOTFOUND instead of being created. */
static int inspect(const char *path)
{
    birch_options opts;
    birch_db *db;
    birch_stat st;
    char msg[256];
    birch_options_init(&opts);
    opts.read_only = 1;
    int rc = birch_open(path, &opts, &db);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_stat_get(db, &st);
    if (rc == BIRCH_OK)
        printf("%llu tables, %llu pages of %u bytes, %llu free\n",
               (unsigned long long)st.table_count, (unsigned long long)st.page_count,
               (unsigned)st.page_size, (unsigned long long)st.free_pages);
    if (rc == BIRCH_OK)
        rc = birch_check(db, msg, sizeof msg); /* verifies the whole file */
    printf("check: %s\n", rc == BIRCH_OK ? msg : birch_strerror(rc));
    birch_close(db);
    return rc;
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
    birch_db *db, *db2;
    birch_options opts;

    remove("guide_open.birch");
    CHECK(open_db("guide_open.birch", &db));
    if (birch_page_size(db) != 8192 || birch_max_key_size(db) != 2048)
        return EXIT_FAILURE;
    /* A second open shares the file (as another process's would); only
     * compaction needs it alone. */
    CHECK(birch_open("guide_open.birch", NULL, &db2));
    if (birch_compact("guide_open.birch", NULL, NULL, NULL) != BIRCH_EBUSY)
        return EXIT_FAILURE;
    CHECK(birch_close(db2));
    CHECK(birch_close(db));

    CHECK(open_scratch(&db));
    CHECK(birch_close(db));

    CHECK(load_quickly("guide_open.birch"));
    CHECK(inspect("guide_open.birch"));

    birch_options_init(&opts);
    opts.read_only = 1;
    remove("guide_missing.birch");
    if (birch_open("guide_missing.birch", &opts, &db) != BIRCH_NOTFOUND)
        return EXIT_FAILURE;
    remove("guide_open.birch");
    puts("open: ok");
    return EXIT_SUCCESS;
}
