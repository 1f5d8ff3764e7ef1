/* e_lmdb.c - benchmark adapter for LMDB (Debian's liblmdb). */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"

#define NAME "lmdb"

typedef struct {
    char dir[4096];
    size_t map_size;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *wtxn;
} ldb;

typedef struct {
    ldb *l;
    MDB_txn *txn;
    MDB_cursor *cur;
} lreader;

static void check(int rc, const char *what)
{
    if (rc != MDB_SUCCESS)
        bench_die(NAME, "%s: %s (%d)", what, mdb_strerror(rc), rc);
}

static size_t map_size_for(const bench_config *cfg)
{
    /* About 1 KiB of map per record (the data takes about a third of
     * that), at least 1 GiB: a map that fits with room to spare. */
    uint64_t size = cfg->elements * 1024u;
    if (size < (1ull << 30))
        size = 1ull << 30;
    return (size_t)size;
}

static const char *l_settings(const bench_config *cfg)
{
    static char buf[256];
    snprintf(buf, sizeof buf,
             "LMDB %d.%d.%d: default flags, map size %zu MiB; MDB_NOSYNC for the nosync row; "
             "compaction = mdb_env_copy2(MDB_CP_COMPACT) into a new file that replaces the old",
             MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH, map_size_for(cfg) >> 20);
    return buf;
}

/* txn_flags: 0 (the harness's own handle), or MDB_RDONLY for a reader
 * process's, which must not take the writer's lock to find the table. */
static void l_env_open(ldb *l, unsigned txn_flags)
{
    check(mdb_env_create(&l->env), "mdb_env_create");
    check(mdb_env_set_mapsize(l->env, l->map_size), "mdb_env_set_mapsize");
    check(mdb_env_open(l->env, l->dir, 0, 0644), "mdb_env_open");
    MDB_txn *txn;
    check(mdb_txn_begin(l->env, NULL, txn_flags, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, NULL, 0, &l->dbi), "mdb_dbi_open");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
}

static void *l_open(const char *dir, const bench_config *cfg)
{
    ldb *l = calloc(1, sizeof *l);
    if (!l)
        bench_die(NAME, "out of memory");
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->map_size = map_size_for(cfg);
    l_env_open(l, 0);
    return l;
}

/* An environment of its own on the directory l_open made, as a second
 * process opens it (mdb_env_open in each process, LMDB's way to share). */
static void *l_open_existing(const char *dir, const bench_config *cfg)
{
    ldb *l = calloc(1, sizeof *l);
    if (!l)
        bench_die(NAME, "out of memory");
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->map_size = map_size_for(cfg);
    l_env_open(l, MDB_RDONLY);
    return l;
}

static void l_close(void *db)
{
    ldb *l = db;
    mdb_env_close(l->env);
    free(l);
}

static void l_set_sync(void *db, int sync)
{
    ldb *l = db;
    check(mdb_env_set_flags(l->env, MDB_NOSYNC, sync ? 0 : 1), "mdb_env_set_flags");
    if (sync)
        check(mdb_env_sync(l->env, 1), "mdb_env_sync");
}

static void l_write_begin(void *db)
{
    ldb *l = db;
    check(mdb_txn_begin(l->env, NULL, 0, &l->wtxn), "mdb_txn_begin(write)");
}

static void l_put(void *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    ldb *l = db;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    check(mdb_put(l->wtxn, l->dbi, &k, &v, 0), "mdb_put");
}

static int l_del(void *db, const void *key, size_t klen)
{
    ldb *l = db;
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(l->wtxn, l->dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return 0;
    check(rc, "mdb_del");
    return 1;
}

static void l_write_commit(void *db)
{
    ldb *l = db;
    check(mdb_txn_commit(l->wtxn), "mdb_txn_commit");
    l->wtxn = NULL;
}

static void *l_reader_open(void *db)
{
    lreader *r = calloc(1, sizeof *r);
    if (!r)
        bench_die(NAME, "out of memory");
    r->l = db;
    check(mdb_txn_begin(r->l->env, NULL, MDB_RDONLY, &r->txn), "mdb_txn_begin(read)");
    check(mdb_cursor_open(r->txn, r->l->dbi, &r->cur), "mdb_cursor_open");
    return r;
}

static void l_reader_close(void *reader)
{
    lreader *r = reader;
    mdb_cursor_close(r->cur);
    mdb_txn_abort(r->txn);
    free(r);
}

static int l_get(void *reader, const void *key, size_t klen, const void **val, size_t *vlen)
{
    lreader *r = reader;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(r->txn, r->l->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    check(rc, "mdb_get");
    *val = v.mv_data;
    *vlen = v.mv_size;
    return 1;
}

static size_t l_scan(void *reader, const void *key, size_t klen, size_t n,
                     bench_scan_fn fn, void *ctx)
{
    lreader *r = reader;
    MDB_val k = {klen, (void *)key}, v;
    size_t seen = 0;
    int rc = mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && seen < n) {
        fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        seen++;
        if (seen < n)
            rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        check(rc, "mdb_cursor_get");
    return seen;
}

static uint64_t l_count(void *db)
{
    ldb *l = db;
    MDB_txn *txn;
    MDB_stat st;
    check(mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin(read)");
    check(mdb_stat(txn, l->dbi, &st), "mdb_stat");
    mdb_txn_abort(txn);
    return st.ms_entries;
}

static int l_depth(void *db)
{
    ldb *l = db;
    MDB_txn *txn;
    MDB_stat st;
    check(mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin(read)");
    check(mdb_stat(txn, l->dbi, &st), "mdb_stat");
    mdb_txn_abort(txn);
    return (int)st.ms_depth;
}

static int l_compact(void *db)
{
    ldb *l = db;
    char tmp[4200], from[4300], to[4300];
    snprintf(tmp, sizeof tmp, "%s.compact", l->dir);
    bench_rmtree(tmp);
    if (mkdir(tmp, 0755) != 0)
        bench_die(NAME, "mkdir %s failed", tmp);
    check(mdb_env_copy2(l->env, tmp, MDB_CP_COMPACT), "mdb_env_copy2");
    mdb_env_close(l->env);
    snprintf(from, sizeof from, "%s/data.mdb", tmp);
    snprintf(to, sizeof to, "%s/data.mdb", l->dir);
    if (rename(from, to) != 0)
        bench_die(NAME, "rename %s -> %s failed", from, to);
    bench_rmtree(tmp);
    l_env_open(l, 0);
    return 1;
}

const bench_engine bench_lmdb = {
    .name = NAME,
    .settings = l_settings,
    .open = l_open,
    .open_existing = l_open_existing,
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
    .depth = l_depth,
};
