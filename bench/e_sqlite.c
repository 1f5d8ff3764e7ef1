/* e_sqlite.c - benchmark adapter for SQLite (Debian's libsqlite3), in two
 * variants: its default rollback journal, and journal_mode=WAL. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

typedef struct {
    const char *name;
    int wal;
    char path[4096];
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *put, *del;
    int sync_default; /* PRAGMA synchronous as the defaults left it */
} sdb;

typedef struct {
    sdb *s;
    sqlite3 *db;
    sqlite3_stmt *get, *scan;
} sreader;

static void check(sdb *s, sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        bench_die(s->name, "%s: %s (%d)", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
}

static void exec(sdb *s, sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        bench_die(s->name, "%s: %s", sql, err ? err : "?");
}

static sqlite3_stmt *prepare(sdb *s, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    check(s, db, sqlite3_prepare_v2(db, sql, -1, &st, NULL), sql);
    return st;
}

static void run(sdb *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        check(s, s->db, rc, what);
    sqlite3_reset(st);
}

static int pragma_int(sdb *s, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = prepare(s, db, sql);
    int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

static const char *sync_name(int v)
{
    switch (v) {
    case 0: return "OFF";
    case 1: return "NORMAL";
    case 2: return "FULL";
    case 3: return "EXTRA";
    default: return "?";
    }
}

/* Filled at open from the connection itself, so it shows the defaults
 * this build of SQLite really has. */
static char settings_buf[2][512];

static void note_settings(sdb *s)
{
    snprintf(settings_buf[s->wal], sizeof settings_buf[0],
             "SQLite %s: table x (key BLOB PRIMARY KEY, value BLOB), %s, "
             "synchronous=%s, cache_size=%d (defaults); synchronous=OFF for the nosync row; "
             "compaction = VACUUM; one connection per reader thread",
             sqlite3_libversion(),
             s->wal ? "journal_mode=WAL" : "journal_mode=DELETE (default)",
             sync_name(s->sync_default), pragma_int(s, s->db, "PRAGMA cache_size"));
}

static const char *settings_common(int wal)
{
    return settings_buf[wal][0] ? settings_buf[wal] : (wal ? "SQLite, journal_mode=WAL" : "SQLite");
}

static const char *s_settings(const bench_config *cfg) { (void)cfg; return settings_common(0); }
static const char *w_settings(const bench_config *cfg) { (void)cfg; return settings_common(1); }

static void *open_common(const char *dir, int wal)
{
    sdb *s = calloc(1, sizeof *s);
    if (!s)
        bench_die("sqlite", "out of memory");
    s->name = wal ? "sqlite-wal" : "sqlite";
    s->wal = wal;
    snprintf(s->path, sizeof s->path, "%s/db.sqlite", dir);
    check(s, NULL, sqlite3_open_v2(s->path, &s->db,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   NULL),
          "sqlite3_open_v2");
    sqlite3_busy_timeout(s->db, 10000);
    if (wal)
        exec(s, s->db, "PRAGMA journal_mode=WAL");
    s->sync_default = pragma_int(s, s->db, "PRAGMA synchronous");
    note_settings(s);
    exec(s, s->db, "CREATE TABLE IF NOT EXISTS x (key BLOB PRIMARY KEY, value BLOB)");
    s->begin = prepare(s, s->db, "BEGIN");
    s->commit = prepare(s, s->db, "COMMIT");
    s->put = prepare(s, s->db, "INSERT OR REPLACE INTO x (key, value) VALUES (?, ?)");
    s->del = prepare(s, s->db, "DELETE FROM x WHERE key = ?");
    return s;
}

static void *s_open(const char *dir, const bench_config *cfg) { (void)cfg; return open_common(dir, 0); }
static void *w_open(const char *dir, const bench_config *cfg) { (void)cfg; return open_common(dir, 1); }

static void s_close(void *db)
{
    sdb *s = db;
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->del);
    check(s, s->db, sqlite3_close(s->db), "sqlite3_close");
    free(s);
}

static void s_set_sync(void *db, int sync)
{
    sdb *s = db;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%d", sync ? s->sync_default : 0);
    exec(s, s->db, sql);
}

static void s_write_begin(void *db)
{
    sdb *s = db;
    run(s, s->begin, "BEGIN");
}

static void s_put(void *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    sdb *s = db;
    sqlite3_bind_blob(s->put, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_blob(s->put, 2, val, (int)vlen, SQLITE_STATIC);
    run(s, s->put, "INSERT");
}

static int s_del(void *db, const void *key, size_t klen)
{
    sdb *s = db;
    sqlite3_bind_blob(s->del, 1, key, (int)klen, SQLITE_STATIC);
    run(s, s->del, "DELETE");
    return sqlite3_changes(s->db) > 0;
}

static void s_write_commit(void *db)
{
    sdb *s = db;
    run(s, s->commit, "COMMIT");
}

static void *s_reader_open(void *db)
{
    sdb *s = db;
    sreader *r = calloc(1, sizeof *r);
    if (!r)
        bench_die(s->name, "out of memory");
    r->s = s;
    check(s, NULL, sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL),
          "sqlite3_open_v2(reader)");
    sqlite3_busy_timeout(r->db, 10000);
    r->get = prepare(s, r->db, "SELECT value FROM x WHERE key = ?");
    r->scan = prepare(s, r->db, "SELECT key, value FROM x WHERE key >= ? ORDER BY key LIMIT ?");
    /* One read transaction for the reader's life, like the others. */
    exec(s, r->db, "BEGIN");
    exec(s, r->db, "SELECT count(*) FROM sqlite_schema"); /* takes the read lock now */
    return r;
}

static void s_reader_close(void *reader)
{
    sreader *r = reader;
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->scan);
    exec(r->s, r->db, "COMMIT");
    check(r->s, r->db, sqlite3_close(r->db), "sqlite3_close(reader)");
    free(r);
}

static int s_get(void *reader, const void *key, size_t klen, const void **val, size_t *vlen)
{
    sreader *r = reader;
    sqlite3_reset(r->get); /* the previous value stays valid until here */
    sqlite3_bind_blob(r->get, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(r->get);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        check(r->s, r->db, rc, "SELECT value");
    *val = sqlite3_column_blob(r->get, 0);
    *vlen = (size_t)sqlite3_column_bytes(r->get, 0);
    return 1;
}

static size_t s_scan(void *reader, const void *key, size_t klen, size_t n,
                     bench_scan_fn fn, void *ctx)
{
    sreader *r = reader;
    size_t seen = 0;
    sqlite3_bind_blob(r->scan, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(r->scan, 2, (sqlite3_int64)n);
    int rc;
    while ((rc = sqlite3_step(r->scan)) == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(r->scan, 0);
        size_t kl = (size_t)sqlite3_column_bytes(r->scan, 0);
        const void *v = sqlite3_column_blob(r->scan, 1);
        size_t vl = (size_t)sqlite3_column_bytes(r->scan, 1);
        fn(ctx, k, kl, v, vl);
        seen++;
    }
    if (rc != SQLITE_DONE)
        check(r->s, r->db, rc, "SELECT range");
    sqlite3_reset(r->scan);
    return seen;
}

static uint64_t s_count(void *db)
{
    sdb *s = db;
    sqlite3_stmt *st = prepare(s, s->db, "SELECT count(*) FROM x");
    if (sqlite3_step(st) != SQLITE_ROW)
        check(s, s->db, sqlite3_errcode(s->db), "SELECT count(*)");
    uint64_t n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int s_compact(void *db)
{
    sdb *s = db;
    exec(s, s->db, "VACUUM");
    return 1;
}

#define SQLITE_ENGINE(var, nm, settings_fn, open_fn)                                      \
    const bench_engine var = {                                                            \
        .name = nm,                                                                       \
        .settings = settings_fn,                                                          \
        .open = open_fn,                                                                  \
        .close = s_close,                                                                 \
        .set_sync = s_set_sync,                                                           \
        .write_begin = s_write_begin,                                                     \
        .put = s_put,                                                                     \
        .del = s_del,                                                                     \
        .write_commit = s_write_commit,                                                   \
        .reader_open = s_reader_open,                                                     \
        .reader_close = s_reader_close,                                                   \
        .get = s_get,                                                                     \
        .scan = s_scan,                                                                   \
        .count = s_count,                                                                 \
        .compact = s_compact,                                                             \
    }

SQLITE_ENGINE(bench_sqlite, "sqlite", s_settings, s_open);
SQLITE_ENGINE(bench_sqlite_wal, "sqlite-wal", w_settings, w_open);
