/* e_birch.c - benchmark adapter for birch itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"
#include "engine.h"

#define NAME "birch"

typedef struct {
    char path[4096];
    birch_db *db;
    birch_table *table;
    birch_txn *wtxn;
} bdb;

typedef struct {
    bdb *b;
    birch_txn *txn;
    birch_cursor *cur;
} breader;

static void check(int rc, const char *what)
{
    if (rc != BIRCH_OK)
        bench_die(NAME, "%s: %s (%d)", what, birch_strerror(rc), rc);
}

static void b_reopen(bdb *b, int durability)
{
    if (b->db)
        check(birch_close(b->db), "birch_close");
    birch_options opts;
    birch_options_init(&opts);
    opts.durability = durability;
    check(birch_open(b->path, &opts, &b->db), "birch_open");

    birch_txn *txn;
    check(birch_txn_begin(b->db, BIRCH_TXN_WRITE, &txn), "birch_txn_begin");
    check(birch_table_open(txn, "x", BIRCH_CREATE, &b->table), "birch_table_open");
    check(birch_txn_commit(txn), "birch_txn_commit");
}

static const char *b_settings(const bench_config *cfg)
{
    (void)cfg;
    return "birch " BIRCH_VERSION_STRING ": birch_open with default options "
           "(4 KiB pages, BIRCH_DURABLE_FULL), one table; BIRCH_DURABLE_NONE for the "
           "nosync row; compaction = birch_compact (a compact copy swapped in for the file)";
}

static void *b_open(const char *dir, const bench_config *cfg)
{
    (void)cfg;
    bdb *b = calloc(1, sizeof *b);
    if (!b)
        bench_die(NAME, "out of memory");
    snprintf(b->path, sizeof b->path, "%s/db.birch", dir);
    b_reopen(b, BIRCH_DURABLE_FULL);
    return b;
}

/* A handle of its own on the file b_open made, as a second process opens
 * it: default options (so it joins the lock file every handle shares) and
 * no write transaction, since the table exists. */
static void *b_open_existing(const char *dir, const bench_config *cfg)
{
    (void)cfg;
    bdb *b = calloc(1, sizeof *b);
    if (!b)
        bench_die(NAME, "out of memory");
    snprintf(b->path, sizeof b->path, "%s/db.birch", dir);
    check(birch_open(b->path, NULL, &b->db), "birch_open");
    birch_txn *txn;
    check(birch_txn_begin(b->db, BIRCH_TXN_READ, &txn), "birch_txn_begin(read)");
    check(birch_table_open(txn, "x", 0, &b->table), "birch_table_open");
    birch_txn_abort(txn); /* the table handle is the database's: it stays valid */
    return b;
}

static void b_close(void *db)
{
    bdb *b = db;
    check(birch_close(b->db), "birch_close");
    free(b);
}

static void b_set_sync(void *db, int sync)
{
    b_reopen(db, sync ? BIRCH_DURABLE_FULL : BIRCH_DURABLE_NONE);
}

static void b_write_begin(void *db)
{
    bdb *b = db;
    check(birch_txn_begin(b->db, BIRCH_TXN_WRITE, &b->wtxn), "birch_txn_begin(write)");
}

static void b_put(void *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    bdb *b = db;
    check(birch_put(b->wtxn, b->table, (birch_val){key, klen}, (birch_val){val, vlen}, 0),
          "birch_put");
}

static int b_del(void *db, const void *key, size_t klen)
{
    bdb *b = db;
    int rc = birch_del(b->wtxn, b->table, (birch_val){key, klen});
    if (rc == BIRCH_NOTFOUND)
        return 0;
    check(rc, "birch_del");
    return 1;
}

static void b_write_commit(void *db)
{
    bdb *b = db;
    check(birch_txn_commit(b->wtxn), "birch_txn_commit");
    b->wtxn = NULL;
}

static void *b_reader_open(void *db)
{
    breader *r = calloc(1, sizeof *r);
    if (!r)
        bench_die(NAME, "out of memory");
    r->b = db;
    check(birch_txn_begin(r->b->db, BIRCH_TXN_READ, &r->txn), "birch_txn_begin(read)");
    check(birch_cursor_open(r->txn, r->b->table, &r->cur), "birch_cursor_open");
    return r;
}

static void b_reader_close(void *reader)
{
    breader *r = reader;
    birch_cursor_close(r->cur);
    birch_txn_abort(r->txn);
    free(r);
}

static int b_get(void *reader, const void *key, size_t klen, const void **val, size_t *vlen)
{
    breader *r = reader;
    birch_val v;
    int rc = birch_get(r->txn, r->b->table, (birch_val){key, klen}, &v);
    if (rc == BIRCH_NOTFOUND)
        return 0;
    check(rc, "birch_get");
    *val = v.data;
    *vlen = v.size;
    return 1;
}

static size_t b_scan(void *reader, const void *key, size_t klen, size_t n,
                     bench_scan_fn fn, void *ctx)
{
    breader *r = reader;
    size_t seen = 0;
    int rc = birch_cursor_seek(r->cur, (birch_val){key, klen});
    while (rc == BIRCH_OK && seen < n) {
        birch_val k, v;
        check(birch_cursor_get(r->cur, &k, &v), "birch_cursor_get");
        fn(ctx, k.data, k.size, v.data, v.size);
        seen++;
        if (seen < n)
            rc = birch_cursor_next(r->cur);
    }
    if (rc != BIRCH_OK && rc != BIRCH_NOTFOUND)
        check(rc, "birch_cursor_seek/next");
    return seen;
}

static uint64_t b_count(void *db)
{
    bdb *b = db;
    birch_txn *txn;
    uint64_t n;
    check(birch_txn_begin(b->db, BIRCH_TXN_READ, &txn), "birch_txn_begin(read)");
    check(birch_count(txn, b->table, &n), "birch_count");
    birch_txn_abort(txn);
    return n;
}

/* The table's levels (birch_table_stat: one walk of its pages, done once
 * after the bulk load). */
static int b_depth(void *db)
{
    bdb *b = db;
    birch_txn *txn;
    struct birch_table_stat st;
    check(birch_txn_begin(b->db, BIRCH_TXN_READ, &txn), "birch_txn_begin(read)");
    check(birch_table_stat(txn, b->table, &st), "birch_table_stat");
    birch_txn_abort(txn);
    return (int)st.depth;
}

/* birch_compact: a compact copy (no free pages, pages renumbered in order)
 * swapped in for the file, as LMDB's adapter does with MDB_CP_COMPACT. */
static int b_compact(void *db)
{
    bdb *b = db;
    check(birch_close(b->db), "birch_close");
    b->db = NULL;
    check(birch_compact(b->path, NULL, NULL, NULL), "birch_compact");
    b_reopen(b, BIRCH_DURABLE_FULL);
    return 1;
}

const bench_engine bench_birch = {
    .name = NAME,
    .settings = b_settings,
    .open = b_open,
    .open_existing = b_open_existing,
    .close = b_close,
    .set_sync = b_set_sync,
    .write_begin = b_write_begin,
    .put = b_put,
    .del = b_del,
    .write_commit = b_write_commit,
    .reader_open = b_reader_open,
    .reader_close = b_reader_close,
    .get = b_get,
    .scan = b_scan,
    .count = b_count,
    .compact = b_compact,
    .depth = b_depth,
};
