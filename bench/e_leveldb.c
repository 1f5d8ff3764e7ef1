/* e_leveldb.c - benchmark adapter for LevelDB through its C API (Debian's
 * libleveldb). */
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define NAME "leveldb"

typedef struct {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *bloom;
    leveldb_writeoptions_t *wopts;
    leveldb_writebatch_t *batch;
} ldb;

typedef struct {
    ldb *l;
    const leveldb_snapshot_t *snap;
    leveldb_readoptions_t *ropts;
    leveldb_iterator_t *it;
    char *last; /* the value returned by the last get (a malloc'd copy) */
} lreader;

static void check(char *err, const char *what)
{
    if (err) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        leveldb_free(err);
        bench_die(NAME, "%s: %s", what, msg);
    }
}

static const char *l_settings(const bench_config *cfg)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "LevelDB %d.%d (C API): WriteOptions.sync=true, one WriteBatch per transaction; "
             "LRU block cache %llu MiB, bloom filter 10 bits/key, other options default; reads "
             "from a snapshot per reader (leveldb_get returns a copy), one iterator per reader "
             "re-seeked for each range; sync=false for the nosync row; compaction = "
             "CompactRange over all keys; len() iterates",
             leveldb_major_version(), leveldb_minor_version(),
             (unsigned long long)(cfg->cache_bytes >> 20));
    return buf;
}

static void *l_open(const char *dir, const bench_config *cfg)
{
    ldb *l = calloc(1, sizeof *l);
    if (!l)
        bench_die(NAME, "out of memory");
    l->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->opts, 1);
    l->cache = leveldb_cache_create_lru(cfg->cache_bytes);
    leveldb_options_set_cache(l->opts, l->cache);
    l->bloom = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_filter_policy(l->opts, l->bloom);

    char *err = NULL;
    l->db = leveldb_open(l->opts, dir, &err);
    check(err, "leveldb_open");
    l->wopts = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wopts, 1);
    l->batch = leveldb_writebatch_create();
    return l;
}

static void l_close(void *db)
{
    ldb *l = db;
    leveldb_close(l->db);
    leveldb_writebatch_destroy(l->batch);
    leveldb_writeoptions_destroy(l->wopts);
    leveldb_options_destroy(l->opts);
    leveldb_filterpolicy_destroy(l->bloom);
    leveldb_cache_destroy(l->cache);
    free(l);
}

static void l_set_sync(void *db, int sync)
{
    ldb *l = db;
    leveldb_writeoptions_set_sync(l->wopts, (uint8_t)(sync != 0));
}

static void l_write_begin(void *db)
{
    ldb *l = db;
    leveldb_writebatch_clear(l->batch);
}

static void l_put(void *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    ldb *l = db;
    leveldb_writebatch_put(l->batch, key, klen, val, vlen);
}

static int l_del(void *db, const void *key, size_t klen)
{
    ldb *l = db;
    leveldb_writebatch_delete(l->batch, key, klen);
    return 1; /* a blind delete: the harness checks the count afterwards */
}

static void l_write_commit(void *db)
{
    ldb *l = db;
    char *err = NULL;
    leveldb_write(l->db, l->wopts, l->batch, &err);
    check(err, "leveldb_write");
    leveldb_writebatch_clear(l->batch);
}

static void *l_reader_open(void *db)
{
    lreader *r = calloc(1, sizeof *r);
    if (!r)
        bench_die(NAME, "out of memory");
    r->l = db;
    r->snap = leveldb_create_snapshot(r->l->db);
    r->ropts = leveldb_readoptions_create();
    leveldb_readoptions_set_snapshot(r->ropts, r->snap);
    r->it = leveldb_create_iterator(r->l->db, r->ropts);
    return r;
}

static void l_reader_close(void *reader)
{
    lreader *r = reader;
    leveldb_free(r->last);
    leveldb_iter_destroy(r->it);
    leveldb_readoptions_destroy(r->ropts);
    leveldb_release_snapshot(r->l->db, r->snap);
    free(r);
}

static int l_get(void *reader, const void *key, size_t klen, const void **val, size_t *vlen)
{
    lreader *r = reader;
    leveldb_free(r->last);
    r->last = NULL;
    char *err = NULL;
    r->last = leveldb_get(r->l->db, r->ropts, key, klen, vlen, &err);
    check(err, "leveldb_get");
    if (!r->last)
        return 0;
    *val = r->last;
    return 1;
}

static size_t l_scan(void *reader, const void *key, size_t klen, size_t n,
                     bench_scan_fn fn, void *ctx)
{
    lreader *r = reader;
    size_t seen = 0;
    for (leveldb_iter_seek(r->it, key, klen); seen < n && leveldb_iter_valid(r->it);) {
        size_t kl, vl;
        const char *k = leveldb_iter_key(r->it, &kl);
        const char *v = leveldb_iter_value(r->it, &vl);
        fn(ctx, k, kl, v, vl);
        if (++seen < n)
            leveldb_iter_next(r->it);
    }
    char *err = NULL;
    leveldb_iter_get_error(r->it, &err);
    check(err, "leveldb iterator");
    return seen;
}

static uint64_t l_count(void *db)
{
    ldb *l = db;
    leveldb_readoptions_t *ropts = leveldb_readoptions_create();
    leveldb_iterator_t *it = leveldb_create_iterator(l->db, ropts);
    uint64_t n = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it))
        n++;
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    check(err, "leveldb iterator");
    leveldb_iter_destroy(it);
    leveldb_readoptions_destroy(ropts);
    return n;
}

static int l_compact(void *db)
{
    ldb *l = db;
    leveldb_compact_range(l->db, NULL, 0, NULL, 0);
    return 1;
}

const bench_engine bench_leveldb = {
    .name = NAME,
    .settings = l_settings,
    .open = l_open,
    .close = l_close,
    .set_sync = l_set_sync,
    .write_begin = l_write_begin,
    .put = l_put,
    .del = l_del,
    .write_commit = l_write_commit,
    .reader_open = l_reader_open,
    .reader_close = l_reader_close,
    .get = l_get,
    .scan = l_scan,
    .count = l_count,
    .compact = l_compact,
};
