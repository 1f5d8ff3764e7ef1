/*
 * engine.h - the adapter interface of the birch benchmark harness.
 *
 * Each engine under test (birch, LMDB, SQLite, RocksDB, LevelDB) provides
 * one `bench_engine` in its own file e_<name>.c.  The harness (bench.c)
 * drives every engine through these calls only, with the same keys, values
 * and row order, so that the timings compare like with like.
 *
 * Conventions
 *   - An adapter never returns an error: on any failure it calls bench_die()
 *     with a message, which ends the run with exit status 1.
 *   - The harness gives each engine an empty directory of its own; the
 *     engine keeps all its files in it (the size rows sum the files there).
 *   - Writes: write_begin, then put/del any number of times, then
 *     write_commit.  A commit is durable (survives power loss when it
 *     returns) unless set_sync(db, 0) was called; set_sync(db, 1) restores
 *     durable commits.  An adapter may close and reopen its database inside
 *     set_sync (never while a transaction is open).
 *   - Reads go through a reader: reader_open starts a read transaction or
 *     snapshot (whatever the engine needs for a consistent view) and
 *     reader_close ends it.  A reader belongs to one thread; the threaded
 *     rows open one reader per thread on the same db handle.  Pointers
 *     returned by get stay valid until the next call on the same reader.
 *   - Processes: the processes rows fork reader processes while the
 *     harness keeps its own handle open.  A child never touches a handle
 *     it inherited; it opens one of its own with open_existing, reads
 *     through it and closes it with close.
 */
#ifndef BIRCH_BENCH_ENGINE_H
#define BIRCH_BENCH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* Sizing hints the harness passes to open. */
typedef struct bench_config {
    uint64_t elements;     /* total records the run will hold at most */
    uint64_t cache_bytes;  /* block cache for engines that keep their own */
    int threads_max;       /* most reader threads that will run at once */
} bench_config;

/* Called for each record a range scan visits; returns nothing. */
typedef void (*bench_scan_fn)(void *ctx, const void *key, size_t klen,
                              const void *val, size_t vlen);

typedef struct bench_engine {
    const char *name;  /* column name, e.g. "lmdb" */

    /* One line describing the settings this engine runs with (shown under
     * the table).  Valid after open; may depend on the config. */
    const char *(*settings)(const bench_config *cfg);

    void *(*open)(const char *dir, const bench_config *cfg);
    /* Opens the database that open made in dir as another process would
     * (called in a child of fork(), while the parent's handle stays open):
     * a new handle of its own, writing nothing, for reads and close only.
     * NULL: the engine does not share a file between processes, and the
     * processes rows say n/a. */
    void *(*open_existing)(const char *dir, const bench_config *cfg);
    void (*close)(void *db);
    void (*set_sync)(void *db, int sync);

    void (*write_begin)(void *db);
    void (*put)(void *db, const void *key, size_t klen, const void *val, size_t vlen);
    /* Returns 0 if the key was absent, 1 if it was removed or the engine
     * cannot tell without a read (blind deletes; the harness checks the
     * count afterwards). */
    int (*del)(void *db, const void *key, size_t klen);
    void (*write_commit)(void *db);

    void *(*reader_open)(void *db);
    void (*reader_close)(void *reader);
    /* Returns 1 and sets *val, *vlen if found; 0 if absent. */
    int (*get)(void *reader, const void *key, size_t klen, const void **val, size_t *vlen);
    /* Visits up to n records starting at the first key >= key, in key
     * order; returns how many were visited. */
    size_t (*scan)(void *reader, const void *key, size_t klen, size_t n,
                   bench_scan_fn fn, void *ctx);

    /* Number of records (the len() row), in whatever way is fastest. */
    uint64_t (*count)(void *db);

    /* Compacts the database into as little space as the engine can;
     * returns 1, or 0 when the engine has no compaction (NULL: same). */
    int (*compact)(void *db);

    /* Levels of the table's tree from root to leaf (1: the root is a leaf),
     * or 0 when the engine does not publish it (NULL: same).  Used to size
     * the "durable commit limit" row: one write of depth + 1 pages. */
    int (*depth)(void *db);
} bench_engine;

/* Fatal error: prints "bench: <engine>: <message>" and exits with 1. */
_Noreturn void bench_die(const char *engine, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Removes a directory tree (used by adapters that compact into a copy). */
void bench_rmtree(const char *path);

extern const bench_engine bench_birch, bench_lmdb, bench_sqlite, bench_sqlite_wal,
    bench_rocksdb, bench_leveldb;

#endif
