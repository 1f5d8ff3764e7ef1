/* e_rocksdb.c - benchmark adapter for RocksDB through its C API (Debian's
 * librocksdb). */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

#define NAME "rocksdb"

typedef struct {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table_opts;
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *bloom; /* owned by table_opts once set */
    rocksdb_writeoptions_t *wopts;
    rocksdb_writebatch_t *batch;
} rdb;

typedef struct {
    rdb *r;
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ropts;
    rocksdb_iterator_t *it;
    rocksdb_pinnableslice_t *last; /* the value returned by the last get */
} rreader;

static void check(char *err, const char *what)
{
    if (err) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        rocksdb_free(err);
        bench_die(NAME, "%s: %s", what, msg);
    }
}

static int nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static const char *r_settings(const bench_config *cfg)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "RocksDB (Debian librocksdb 7.x, C API): WriteOptions.sync=true, one WriteBatch per "
             "transaction; LRU block cache %llu MiB, bloom filter 10 bits/key, index and filter "
             "blocks in the cache, increase_parallelism(%d), other options default; reads from a "
             "snapshot per reader, one iterator per reader re-seeked for each range; sync=false "
             "for the nosync row; compaction = CompactRange over all keys; len() iterates",
             (unsigned long long)(cfg->cache_bytes >> 20), nproc());
    return buf;
}

static void *r_open(const char *dir, const bench_config *cfg)
{
    rdb *r = calloc(1, sizeof *r);
    if (!r)
        bench_die(NAME, "out of memory");
    r->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->opts, 1);
    rocksdb_options_increase_parallelism(r->opts, nproc());
    r->cache = rocksdb_cache_create_lru(cfg->cache_bytes);
    r->table_opts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->table_opts, r->cache);
    r->bloom = rocksdb_filterpolicy_create_bloom(10);
    rocksdb_block_based_options_set_filter_policy(r->table_opts, r->bloom);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(r->table_opts, 1);
    rocksdb_options_set_block_based_table_factory(r->opts, r->table_opts);

    char *err = NULL;
    r->db = rocksdb_open(r->opts, dir, &err);
    check(err, "rocksdb_open");
    r->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wopts, 1);
    r->batch = rocksdb_writebatch_create();
    return r;
}

static void r_close(void *db)
{
    rdb *r = db;
    rocksdb_close(r->db);
    rocksdb_writebatch_destroy(r->batch);
    rocksdb_writeoptions_destroy(r->wopts);
    rocksdb_options_destroy(r->opts);
    rocksdb_block_based_options_destroy(r->table_opts); /* frees the bloom filter */
    rocksdb_cache_destroy(r->cache);
    free(r);
}

static void r_set_sync(void *db, int sync)
{
    rdb *r = db;
    rocksdb_writeoptions_set_sync(r->wopts, (unsigned char)(sync != 0));
}

static void r_write_begin(void *db)
{
    rdb *r = db;
    rocksdb_writebatch_clear(r->batch);
}

static void r_put(void *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    rdb *r = db;
    rocksdb_writebatch_put(r->batch, key, klen, val, vlen);
}

static int r_del(void *db, const void *key, size_t klen)
{
    rdb *r = db;
    rocksdb_writebatch_delete(r->batch, key, klen);
    return 1; /* a blind delete: the harness checks the count afterwards */
}

static void r_write_commit(void *db)
{
    rdb *r = db;
    char *err = NULL;
    rocksdb_write(r->db, r->wopts, r->batch, &err);
    check(err, "rocksdb_write");
    rocksdb_writebatch_clear(r->batch);
}

static void *r_reader_open(void *db)
{
    rreader *rr = calloc(1, sizeof *rr);
    if (!rr)
        bench_die(NAME, "out of memory");
    rr->r = db;
    rr->snap = rocksdb_create_snapshot(rr->r->db);
    rr->ropts = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(rr->ropts, rr->snap);
    rr->it = rocksdb_create_iterator(rr->r->db, rr->ropts);
    return rr;
}

static void r_reader_close(void *reader)
{
    rreader *rr = reader;
    if (rr->last)
        rocksdb_pinnableslice_destroy(rr->last);
    rocksdb_iter_destroy(rr->it);
    rocksdb_readoptions_destroy(rr->ropts);
    rocksdb_release_snapshot(rr->r->db, rr->snap);
    free(rr);
}

static int r_get(void *reader, const void *key, size_t klen, const void **val, size_t *vlen)
{
    rreader *rr = reader;
    if (rr->last) {
        rocksdb_pinnableslice_destroy(rr->last);
        rr->last = NULL;
    }
    char *err = NULL;
    rr->last = rocksdb_get_pinned(rr->r->db, rr->ropts, key, klen, &err);
    check(err, "rocksdb_get_pinned");
    if (!rr->last)
        return 0;
    *val = rocksdb_pinnableslice_value(rr->last, vlen);
    return 1;
}

static size_t r_scan(void *reader, const void *key, size_t klen, size_t n,
                     bench_scan_fn fn, void *ctx)
{
    rreader *rr = reader;
    size_t seen = 0;
    for (rocksdb_iter_seek(rr->it, key, klen); seen < n && rocksdb_iter_valid(rr->it);) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(rr->it, &kl);
        const char *v = rocksdb_iter_value(rr->it, &vl);
        fn(ctx, k, kl, v, vl);
        if (++seen < n)
            rocksdb_iter_next(rr->it);
    }
    char *err = NULL;
    rocksdb_iter_get_error(rr->it, &err);
    check(err, "rocksdb iterator");
    return seen;
}

static uint64_t r_count(void *db)
{
    rdb *r = db;
    rocksdb_readoptions_t *ropts = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, ropts);
    uint64_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
        n++;
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    check(err, "rocksdb iterator");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ropts);
    return n;
}

static int r_compact(void *db)
{
    rdb *r = db;
    rocksdb_compact_range(r->db, NULL, 0, NULL, 0);
    return 1;
}

const bench_engine bench_rocksdb = {
    .name = NAME,
    .settings = r_settings,
    .open = r_open,
    .close = r_close,
    .set_sync = r_set_sync,
    .write_begin = r_write_begin,
    .put = r_put,
    .del = r_del,
    .write_commit = r_write_commit,
    .reader_open = r_reader_open,
    .reader_close = r_reader_close,
    .get = r_get,
    .scan = r_scan,
    .count = r_count,
    .compact = r_compact,
};
