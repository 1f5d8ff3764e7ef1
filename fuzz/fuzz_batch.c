/*
 * fuzz_batch.c - libFuzzer harness for write batches (engine/batch.c,
 * api/apply.c).
 *
 * Input: byte 0's low bit asks for the checksum to be recomputed (so that
 * mutated records reach the record parser, not only the checksum test);
 * the rest is an encoded batch, copied to a heap block of its exact size
 * so that ASan sees any read past it.  The batch is applied to a database
 * in memory that holds a few records: the apply must succeed, or fail with
 * the database exactly as it was (compared record by record).  When it
 * succeeds, the same changes applied one by one (each as a batch of its
 * own, from birch_batch_each) in a second database give the same tables,
 * records and savepoints; and a batch rebuilt from those changes with
 * birch_batch_add encodes to the input's very bytes (the encoding is
 * canonical).
 *
 * Seeds (corpus/batch) are batches the builder wrote: to write them again,
 *
 *   cc -std=gnu11 -DFB_GEN_MAIN -DFZ_NO_ENTRY -Iapi -Iengine -Ifuzz fuzz/fuzz_batch.c \
 *      fuzz/fz_common.c build/plain/libbirch_internal.a -lxxhash -lpthread -o /tmp/fb_gen && /tmp/fb_gen fuzz/corpus/batch
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "birch.h"
#include "fz.h"

#define FB_HDR 24

static birch_db *fb_open(void)
{
    birch_options o;
    birch_options_init(&o);
    o.backend = BIRCH_BACKEND_MEMORY;
    birch_db *db = NULL;
    FZ_REQUIRE(birch_open("fuzz-batch", &o, &db) == BIRCH_OK, "open: %s", birch_errmsg());
    birch_txn *txn;
    birch_table *t;
    FZ_REQUIRE(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn) == BIRCH_OK, "begin");
    FZ_REQUIRE(birch_table_open(txn, "one", BIRCH_CREATE, &t) == BIRCH_OK, "create");
    for (int i = 0; i < 8; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        FZ_REQUIRE(birch_put(txn, t, (birch_val){k, strlen(k)}, (birch_val){"v", 1}, 0) == BIRCH_OK, "put");
    }
    FZ_REQUIRE(birch_table_open(txn, "multi", BIRCH_CREATE | BIRCH_MULTIMAP, &t) == BIRCH_OK, "multimap");
    FZ_REQUIRE(birch_txn_commit(txn) == BIRCH_OK, "commit");
    return db;
}

typedef struct fb_dump {
    birch_txn *txn;
    XXH64_hash_t h;
} fb_dump;

static int fb_table(const char *name, void *c)
{
    fb_dump *d = c;
    birch_table *t;
    birch_cursor *cur;
    d->h = XXH3_64bits_withSeed(name, strlen(name) + 1, d->h);
    FZ_REQUIRE(birch_table_open(d->txn, name, 0, &t) == BIRCH_OK && birch_cursor_open(d->txn, t, &cur) == BIRCH_OK,
               "open %s", name);
    unsigned flags;
    uint64_t seq;
    birch_val schema;
    FZ_REQUIRE(birch_table_flags(d->txn, t, &flags) == BIRCH_OK && birch_sequence_get(d->txn, t, &seq) == BIRCH_OK &&
                   birch_table_schema(d->txn, t, &schema) == BIRCH_OK,
               "table %s", name);
    d->h = XXH3_64bits_withSeed(schema.data, schema.size, d->h ^ flags ^ (seq << 8) ^ ((uint64_t)schema.size << 40));
    for (int rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur)) {
        birch_val k, v;
        FZ_REQUIRE(birch_cursor_get(cur, &k, &v) == BIRCH_OK, "cursor");
        d->h = XXH3_64bits_withSeed(k.data, k.size, d->h ^ k.size);
        d->h = XXH3_64bits_withSeed(v.data, v.size, d->h ^ ((uint64_t)v.size << 20));
    }
    birch_cursor_close(cur);
    return 0;
}

static int fb_savepoint(const birch_savepoint_info *sp, void *c)
{
    fb_dump *d = c;
    d->h = XXH3_64bits_withSeed(sp->name, strlen(sp->name) + 1, d->h ^ 0x5a5a);
    return 0;
}

/* Every table (its kind, schema, sequence) and record, and the names of
 * the savepoints, hashed. */
static uint64_t fb_digest(birch_db *db)
{
    fb_dump d = {NULL, 1};
    FZ_REQUIRE(birch_txn_begin(db, BIRCH_TXN_READ, &d.txn) == BIRCH_OK, "begin");
    FZ_REQUIRE(birch_table_list(d.txn, fb_table, &d) == 0, "list");
    FZ_REQUIRE(birch_savepoint_list(d.txn, fb_savepoint, &d) == 0, "savepoints");
    birch_txn_abort(d.txn);
    return d.h;
}

static int fb_apply(birch_db *db, birch_val batch)
{
    birch_txn *txn;
    FZ_REQUIRE(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn) == BIRCH_OK, "begin");
    int rc = birch_batch_apply(txn, batch);
    FZ_REQUIRE(birch_txn_commit(txn) == BIRCH_OK, "commit after apply (%d): %s", rc, birch_errmsg());
    return rc;
}

typedef struct fb_replay {
    birch_txn *txn; /* the second database's */
    birch_batch rebuilt, one;
} fb_replay;

/* One change, recorded again, and applied alone (as a batch of one) in
 * the second database, where it must apply as it did in the whole. */
static int fb_one(const birch_batch_op *op, void *c)
{
    fb_replay *r = c;
    FZ_REQUIRE(birch_batch_add(&r->rebuilt, op) == BIRCH_OK, "a change birch_batch_each gave is refused: %s",
               birch_errmsg());
    birch_batch_clear(&r->one);
    FZ_REQUIRE(birch_batch_add(&r->one, op) == BIRCH_OK, "add: %s", birch_errmsg());
    birch_val v;
    FZ_REQUIRE(birch_batch_bytes(&r->one, &v) == BIRCH_OK, "bytes");
    FZ_REQUIRE(birch_batch_apply(r->txn, v) == BIRCH_OK, "a change that applied in the batch fails alone: %s",
               birch_errmsg());
    return 0;
}

int fz_batch_run(const uint8_t *data, size_t size);
int fz_batch_run(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *in = malloc(n ? n : 1);
    FZ_REQUIRE(in != NULL, "out of memory");
    memcpy(in, data + 1, n);
    if ((data[0] & 1) && n >= FB_HDR) {
        uint64_t h = XXH3_64bits_withSeed(in + FB_HDR, n - FB_HDR, XXH3_64bits(in, 16));
        for (int i = 0; i < 8; i++) in[16 + i] = (uint8_t)(h >> (8 * i));
    }
    birch_db *db = fb_open();
    uint64_t before = fb_digest(db);
    int rc = fb_apply(db, (birch_val){in, n});
    if (rc != BIRCH_OK) {
        /* A batch's damage is the batch's, not a file's: its BIRCH_ECORRUPT
         * names the batch (fz_known_rc wants a damaged file's detail). */
        FZ_REQUIRE(rc == BIRCH_ECORRUPT ? strstr(birch_errmsg(), "batch") != NULL : fz_known_rc(rc),
                   "apply returned %d: %s", rc, birch_errmsg());
        FZ_REQUIRE(fb_digest(db) == before, "a refused batch (%d: %s) changed the database", rc, birch_errmsg());
    } else {
        birch_db *db2 = fb_open();
        fb_replay r;
        birch_batch_init(&r.rebuilt);
        birch_batch_init(&r.one);
        FZ_REQUIRE(birch_txn_begin(db2, BIRCH_TXN_WRITE, &r.txn) == BIRCH_OK, "begin");
        FZ_REQUIRE(birch_batch_each((birch_val){in, n}, fb_one, &r) == BIRCH_OK, "each: %s", birch_errmsg());
        FZ_REQUIRE(birch_txn_commit(r.txn) == BIRCH_OK, "commit");
        FZ_REQUIRE(fb_digest(db) == fb_digest(db2), "the batch did not apply as its changes one by one");
        birch_val again;
        FZ_REQUIRE(birch_batch_bytes(&r.rebuilt, &again) == BIRCH_OK, "bytes");
        FZ_REQUIRE(again.size == n && memcmp(again.data, in, n) == 0, "rebuilt, the batch encodes to other bytes");
        birch_batch_free(&r.rebuilt);
        birch_batch_free(&r.one);
        FZ_REQUIRE(birch_close(db2) == BIRCH_OK, "close");
    }
    FZ_REQUIRE(birch_close(db) == BIRCH_OK, "close");
    free(in);
    return 0;
}

#ifdef FB_GEN_MAIN
/* Writes the seeds of corpus/batch into dir. */
static void fb_seed(const char *dir, const char *name, birch_batch *b)
{
    birch_val v;
    FZ_REQUIRE(birch_batch_bytes(b, &v) == BIRCH_OK, "bytes");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *buf = malloc(v.size + 1);
    buf[0] = 1;
    memcpy(buf + 1, v.data, v.size);
    fz_write_file(path, buf, v.size + 1);
    free(buf);
    birch_batch_clear(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    birch_batch b;
    birch_batch_init(&b);
    fb_seed(argv[1], "empty", &b);
    birch_batch_put(&b, "one", (birch_val){"k1", 2}, (birch_val){"new", 3});
    birch_batch_put(&b, "two", (birch_val){"a", 1}, (birch_val){"", 0});
    birch_batch_del(&b, "one", (birch_val){"k2", 2});
    fb_seed(argv[1], "puts-del", &b);
    birch_batch_del_range(&b, "one", (birch_val){"k3", 2}, (birch_val){"k6", 2});
    birch_batch_del_range(&b, "one", (birch_val){NULL, 0}, (birch_val){"k1", 2});
    birch_batch_del(&b, "missing", (birch_val){"x", 1});
    birch_batch_put(&b, "missing", (birch_val){"x", 1}, (birch_val){"y", 1});
    fb_seed(argv[1], "ranges", &b);
    birch_batch_put(&b, "multi", (birch_val){"k", 1}, (birch_val){"v", 1});
    fb_seed(argv[1], "multimap-refused", &b);
    birch_batch_multi_put(&b, "multi", (birch_val){"k", 1}, (birch_val){"v1", 2});
    birch_batch_multi_put(&b, "multi", (birch_val){"k", 1}, (birch_val){"v2", 2});
    birch_batch_multi_put(&b, "multi", (birch_val){"m", 1}, (birch_val){"v", 1});
    birch_batch_multi_del(&b, "multi", (birch_val){"k", 1}, (birch_val){"v1", 2});
    birch_batch_create(&b, "made", BIRCH_MULTIMAP);
    birch_batch_multi_put(&b, "made", (birch_val){"a", 1}, (birch_val){"", 0});
    birch_batch_multi_del_all(&b, "multi", (birch_val){"m", 1});
    birch_batch_multi_del_range(&b, "made", (birch_val){NULL, 0}, (birch_val){"b", 1});
    fb_seed(argv[1], "multimap", &b);
    birch_batch_create(&b, "plain", 0);
    birch_batch_set_schema(&b, "plain", (birch_val){"schema", 6});
    birch_batch_sequence_set(&b, "plain", 300);
    birch_batch_rename(&b, "plain", "renamed");
    birch_batch_put(&b, "renamed", (birch_val){"k", 1}, (birch_val){"v", 1});
    birch_batch_drop(&b, "one");
    birch_batch_drop(&b, "never");
    fb_seed(argv[1], "tables", &b);
    birch_batch_savepoint_create(&b, "sp");
    birch_batch_put(&b, "one", (birch_val){"k9", 2}, (birch_val){"v", 1});
    birch_batch_savepoint_create(&b, "sp2");
    birch_batch_savepoint_drop(&b, "sp2");
    birch_batch_savepoint_drop(&b, "never");
    fb_seed(argv[1], "savepoints", &b);
    birch_batch_savepoint_restore(&b, "never");
    fb_seed(argv[1], "restore-missing", &b);
    birch_batch_free(&b);
    return 0;
}
#endif

/* Defining FZ_NO_ENTRY leaves the entry point out, so that a test can
 * include this file next to the other harnesses and call fz_batch_run. */
#ifndef FZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_batch_run(data, size); }
#endif
