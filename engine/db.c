/*
 * db.c - opening and closing a database, options, result codes, statistics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define BI_DEFAULT_RESERVE (1ull << 30)
_Static_assert(BI_DEFAULT_RESERVE >= BIRCH_MIN_MAP_RESERVE, "the default map reserve is in range");

void birch_options_init(birch_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->page_size = BIRCH_DEFAULT_PAGE_SIZE;
    opts->durability = BIRCH_DURABLE_FULL;
    opts->max_readers = BI_DEFAULT_READERS;
    opts->map_reserve = BI_DEFAULT_RESERVE;
    opts->recreate = BIRCH_RECREATE_NEVER;
    opts->backend = BIRCH_BACKEND_FILE;
    opts->dirty_budget = BIRCH_DEFAULT_DIRTY_BUDGET;
}

/* BIRCH_OK, or BIRCH_EINVAL naming the first option out of range.  Every
 * field is checked, so that a value the engine would misread (a boolean
 * of 2, a reserve whose rounding overflows) is refused here, by name,
 * rather than misbehaving later. */
static int options_check(const birch_options *o)
{
    uint32_t ps = o->page_size;
    /* Checked first: options zero-initialised without birch_options_init
     * have page_size 0 too, but max_readers is the field that names the
     * mistake (birch_options_init sets it; 0 is never meant). */
    if (o->max_readers == 0)
        return bi_err(BIRCH_EINVAL, "birch_open: max_readers is 0 (at least 1; were the options "
                                    "zero-initialised without birch_options_init?)");
    if (ps < BIRCH_MIN_PAGE_SIZE || ps > BIRCH_MAX_PAGE_SIZE || (ps & (ps - 1)))
        return bi_err(BIRCH_EINVAL, "birch_open: page_size %u is not a power of two in %u..%u", ps,
                      BIRCH_MIN_PAGE_SIZE, BIRCH_MAX_PAGE_SIZE);
    if (o->durability != BIRCH_DURABLE_FULL && o->durability != BIRCH_DURABLE_NONE)
        return bi_err(BIRCH_EINVAL, "birch_open: durability %d is neither BIRCH_DURABLE_FULL nor BIRCH_DURABLE_NONE",
                      o->durability);
    if (o->max_readers > BIRCH_MAX_READERS)
        return bi_err(BIRCH_EINVAL, "birch_open: max_readers %u is above %u", o->max_readers, BIRCH_MAX_READERS);
    if (o->max_size && o->max_size < 4ull * ps)
        return bi_err(BIRCH_EINVAL, "birch_open: max_size %llu is below 4 pages (%llu bytes at page_size %u)",
                      (unsigned long long)o->max_size, 4ull * ps, ps);
    if (o->read_only != 0 && o->read_only != 1)
        return bi_err(BIRCH_EINVAL, "birch_open: read_only %d is neither 0 nor 1", o->read_only);
    if (o->map_reserve && (o->map_reserve < BIRCH_MIN_MAP_RESERVE || o->map_reserve > BIRCH_MAX_MAP_RESERVE))
        return bi_err(BIRCH_EINVAL, "birch_open: map_reserve %llu is outside %llu..%llu (0 for the default)",
                      (unsigned long long)o->map_reserve, (unsigned long long)BIRCH_MIN_MAP_RESERVE,
                      (unsigned long long)BIRCH_MAX_MAP_RESERVE);
    if (o->recreate != BIRCH_RECREATE_NEVER && o->recreate != BIRCH_RECREATE_ALWAYS)
        return bi_err(BIRCH_EINVAL, "birch_open: recreate %d is neither BIRCH_RECREATE_NEVER nor _ALWAYS", o->recreate);
    if (o->recreate == BIRCH_RECREATE_ALWAYS && o->read_only)
        return bi_err(BIRCH_EINVAL, "birch_open: BIRCH_RECREATE_ALWAYS with read_only");
    if (o->backend != BIRCH_BACKEND_FILE && o->backend != BIRCH_BACKEND_MEMORY)
        return bi_err(BIRCH_EINVAL, "birch_open: backend %d is neither BIRCH_BACKEND_FILE nor _MEMORY", o->backend);
    if (o->dirty_budget && o->dirty_budget < BIRCH_MIN_DIRTY_BUDGET)
        return bi_err(BIRCH_EINVAL, "birch_open: dirty_budget %llu is below %llu bytes (0 for the default)",
                      (unsigned long long)o->dirty_budget, (unsigned long long)BIRCH_MIN_DIRTY_BUDGET);
    if (o->backend == BIRCH_BACKEND_MEMORY && o->read_only) /* always empty */
        return bi_err(BIRCH_EINVAL, "birch_open: BIRCH_BACKEND_MEMORY with read_only (there would be nothing to read)");
    return BIRCH_OK;
}

static void set_limits(birch_db *db)
{
    db->max_key = db->psize / 4;
    /* Names are catalog keys, so they obey the key limit too. */
    db->max_name = db->max_key < BIRCH_MAX_NAME_SIZE ? db->max_key : BIRCH_MAX_NAME_SIZE;
    /* Nodes up to a third of a page: any split of a full page plus one
     * node leaves both halves within a page. */
    db->node_max = (((db->psize - BI_HDR) / 3) & ~(size_t)7) - BI_SLOT;
}

static void destroy(birch_db *db)
{
    bi_share_detach(db, db->tok_first && bi_db_forked(db)); /* before the data file's close drops its open lock */
    if (db->file) {
        if (db->map.addr) db->io.ops->unmap(db->file, db->map.addr, db->map.len);
        for (unsigned i = 0; i < db->n_old_maps; i++)
            db->io.ops->unmap(db->file, db->old_maps[i].addr, db->old_maps[i].len);
        db->io.ops->close(db->file);
    }
    for (bi_map *m = atomic_load(&db->rmap), *next; m; m = next) {
        next = m->next;
        free(m);
    }
    bi_handles_free(db);
    bi_pager_close(db); /* after the transactions bi_handles_free released */
    bi_alloc_destroy(db->alloc);
    for (uint32_t i = 0; i < db->ntables; i++) free(db->tables[i]);
    free(db->tables);
    birch_batch_free(&db->feed_log);
    free(db->old_maps);
    pthread_mutex_destroy(&db->lock);
    pthread_mutex_destroy(&db->write_lock);
    pthread_cond_destroy(&db->write_cv);
    pthread_mutex_destroy(&db->table_lock);
    free(db);
}

static int map_file(birch_db *db, uint64_t size)
{
    db->file_size = size;
    set_limits(db);
    uint64_t reserve = db->opts.map_reserve ? db->opts.map_reserve : BI_DEFAULT_RESERVE;
    return bi_map_cover(db, reserve > size ? reserve : size);
}

/* Records, for the writers of every process, the metas recovery found
 * unsound (newer than the one chosen: their pages failed verification). */
static void record_rejected(birch_db *db, const bi_meta m[2], const int ok[2])
{
    int k = 0;
    for (int c = 0; c < 2; c++)
        if (ok[c] && m[c].txnid > db->meta.txnid) atomic_store(&db->lk->rejected[k++], m[c].checksum);
}

/* Reads the database.  An empty file is initialised in place only on the
 * memory backend, whose file no other open can see; open_file never leaves
 * an empty file here.  first: no other handle has the file open, so the
 * state is recovered (the newest meta whose pages verify) and published;
 * otherwise the handles that have it open did that, and the handle takes
 * the newest sound meta (a writer takes it again at each begin). */
static int load(birch_db *db, int first)
{
    uint64_t size;
    int rc = db->io.ops->size(db->file, &size);
    if (rc) return rc;
    if (size == 0 && db->opts.read_only)
        return bi_err(BIRCH_ENOTDB, "the file is empty (0 bytes), not a birch database");
    if (size == 0) {
        db->psize = db->opts.page_size;
        rc = bi_meta_init(db, db->file);
        if (rc == BIRCH_OK) rc = db->io.ops->size(db->file, &size);
        if (rc) return rc;
    }
    bi_meta m[2];
    int ok[2];
    rc = bi_meta_read(db, size, m, ok);
    if (rc == BIRCH_OK) rc = map_file(db, size); /* verification reads through the map */
    if (rc == BIRCH_OK && !first) {
        rc = bi_meta_refresh(db);
        return rc < 0 ? rc : BIRCH_OK;
    }
    if (rc == BIRCH_OK) rc = bi_meta_choose(db, size, m, ok);
    if (rc) return rc;
    db->lk->page_size = db->psize;
    record_rejected(db, m, ok);
    bi_publish(db, &db->meta);
    /* After a crash the chosen meta may sit only in the page cache (its
     * sync never ran), where verification found it.  Before any commit
     * builds on it (and reuses the pages of the state before it), make it
     * durable: now, or, when this handle may not write, at the first
     * writer's begin in whichever process. */
    int needs = db->meta.base_txnid < db->meta.txnid || atomic_load(&db->lk->rejected[0]);
    if (!db->opts.read_only) rc = bi_checkpoint(db);
    else if (needs) atomic_store(&db->lk->need_checkpoint, 1);
    atomic_store(&db->lk->durable_ms, bi_now_ms()); /* the state opened is durable (or read-only) */
    return rc;
}

/* ---- Creating a file all-or-nothing (docs/DESIGN.md, 3.4) ------------------ */

/* Opens that meet a file replaced or removed under them start over; so
 * many in a row mean something else keeps changing the path. */
#define BI_OPEN_TRIES 64
/* How long an open waits for a handle that has the file alone (creating,
 * replacing or compacting it) before BIRCH_EBUSY. */
#define BI_OPEN_WAIT_MS 5000u

/* Whether the io layer shares files between handles (share.c); if not, a
 * handle locks the whole file (flock) for itself. */
static int shares(const birch_db *db)
{
    return db->io.ops->open_lock != NULL;
}

/* Takes f's open lock: the read lock every handle holds on its open byte
 * while it has the file open, waiting up to BI_OPEN_WAIT_MS for a handle
 * that has it alone.  Without sharing, the whole file. */
static int lock_open(birch_db *db, bi_file *f)
{
    const bi_io_ops *ops = db->io.ops;
    if (!shares(db)) return ops->lock(f, !db->opts.read_only);
    for (unsigned waited = 0, ms = 1;; waited += ms, ms = ms < 32 ? ms * 2 : 50) {
        bi_errmark mark = bi_err_mark();
        int rc = ops->byte_lock(f, BI_DATA_OPEN_BYTE, BI_LK_READ, 0);
        bi_err_end(mark, rc == BIRCH_OK);
        if (rc != BIRCH_EBUSY) return rc;
        if (waited >= BI_OPEN_WAIT_MS)
            return bi_err(BIRCH_EBUSY, "birch_open: another handle has had the database alone for %u ms (creating, "
                                       "replacing or compacting it, or writing without a lock file, where it "
                                       "cannot write one)", waited);
        struct timespec ts = {0, (long)ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Has f alone (to replace it, or without a lock file to share): BIRCH_EBUSY
 * if another handle, in this process or another, has it open. */
static int lock_alone(birch_db *db, bi_file *f, const char *why)
{
    if (!shares(db)) return BIRCH_OK; /* lock_open took the whole file */
    bi_errmark mark = bi_err_mark();
    int rc = db->io.ops->byte_lock(f, BI_DATA_OPEN_BYTE, BI_LK_WRITE, 0);
    bi_err_end(mark, rc == BIRCH_OK);
    if (rc == BIRCH_EBUSY)
        return bi_err(BIRCH_EBUSY, "birch_open: another handle (in this or another process) has the database open, "
                                   "and %s needs it alone", why);
    return rc;
}

int bi_db_alone(birch_db *db, const char *who)
{
    if (!db->file) return BIRCH_OK;
    bi_errmark mark = bi_err_mark();
    int rc = db->io.ops->open_lock ? db->io.ops->byte_lock(db->file, BI_DATA_OPEN_BYTE, BI_LK_WRITE, 0) : BIRCH_OK;
    bi_err_end(mark, rc == BIRCH_OK);
    if (rc == BIRCH_EBUSY)
        return bi_err(BIRCH_EBUSY, "%s: another handle (in this or another process) has the database open; %s needs "
                                   "it alone", who, who);
    return rc;
}

/* Builds a new empty database in a temporary file beside path, syncs it,
 * and publishes it under path: only while path is absent (BIRCH_EXISTS if
 * another open created it meanwhile), or, with replace, atomically in
 * place of the file there, which the caller has alone.  The new file is
 * locked before it has a name, so whoever opens it after the publication
 * meets the lock (and, sharing, waits until it is downgraded to the read
 * lock every handle holds).  On failure nothing is left under path that
 * was not there before (an unpublished temporary file is removed by
 * close). */
static int create_file(birch_db *db, const char *path, int replace, bi_file **out)
{
    const bi_io *io = &db->io;
    bi_file *t = NULL;
    int rc = io->ops->create_temp(io->ctx, path, &t);
    if (rc) return rc;
    db->psize = db->opts.page_size;
    rc = shares(db) ? io->ops->byte_lock(t, BI_DATA_OPEN_BYTE, BI_LK_WRITE, 0) : io->ops->lock(t, 1);
    if (rc == BIRCH_OK) rc = bi_meta_init(db, t); /* both metas, synced */
    if (rc == BIRCH_OK) rc = io->ops->publish(t, path, replace);
    /* Past the publication the file at path is whole whatever happens;
     * a failed directory sync only leaves its name's durability unknown. */
    if (rc == BIRCH_OK) rc = io->ops->sync_dir(t);
    if (rc == BIRCH_OK && shares(db)) rc = io->ops->byte_lock(t, BI_DATA_OPEN_BYTE, BI_LK_READ, 0); /* atomic */
    if (rc) {
        io->ops->close(t);
        return rc;
    }
    *out = t;
    return BIRCH_OK;
}

/* Opens and locks the database file at path into db->file.  A missing file
 * is created, and an empty one (or any, with BIRCH_RECREATE_ALWAYS) is
 * replaced by a new database, all-or-nothing, when no other handle has it
 * open.  After the lock, the path must still name the locked file: a file
 * replaced meanwhile (by another open initialising it) was locked too
 * late, and the open starts over on the file that took its place. */
static int open_file(birch_db *db, const char *path)
{
    const bi_io_ops *ops = db->io.ops;
    int ro = db->opts.read_only, recreate = db->opts.recreate == BIRCH_RECREATE_ALWAYS;
    for (int tries = 0; tries < BI_OPEN_TRIES; tries++) {
        bi_file *f = NULL;
        int rc = ops->open(db->io.ctx, path, ro ? BI_IO_RDONLY : 0, &f);
        if (rc == BIRCH_NOTFOUND && !ro) {
            rc = create_file(db, path, 0, &db->file);
            if (rc == BIRCH_EXISTS) continue; /* another open created it: open that one */
            return rc;
        }
        if (rc) return rc;
        uint64_t size = 0;
        rc = lock_open(db, f);
        if (rc == BIRCH_OK) rc = ops->at_path(f, path);
        if (rc == BIRCH_OK) rc = ops->size(f, &size);
        if (rc == BIRCH_OK && !ro && (size == 0 || recreate)) {
            /* Replaced while having f alone: any other open that wants to
             * replace it needs that too, and one that locks f later finds
             * f no longer at path. */
            rc = lock_alone(db, f, size == 0 ? "initialising an empty file" : "BIRCH_RECREATE_ALWAYS");
            bi_file *t = NULL;
            if (rc == BIRCH_OK) rc = create_file(db, path, 1, &t);
            ops->close(f);
            if (rc == BIRCH_EBUSY && size == 0 && !recreate) {
                /* Another open holds the empty file too, to initialise it
                 * as well: one of them gets it alone after a moment, and
                 * the others open its database. */
                struct timespec ts = {0, (long)(1 + tries % 8) * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            if (rc == BIRCH_OK) db->file = t;
            return rc;
        }
        if (rc == BIRCH_OK) {
            db->file = f;
            return BIRCH_OK;
        }
        ops->close(f);
        if (rc != BIRCH_NOTFOUND) return rc; /* NOTFOUND: replaced or removed under the lock */
    }
    return bi_err(BIRCH_EBUSY, "birch_open: '%s' was replaced or removed %d times while it was being opened", path,
                  BI_OPEN_TRIES);
}

/* Joins or builds the lock file (*first: no other handle has the file
 * open).  Where it cannot be written (a read-only file system, no
 * permission), a read-only handle reads without it, trusting that no
 * writer runs (birch.h, read_only), and a writing one keeps the file to
 * itself, as the private io layers and the memory backend do. */
static int attach(birch_db *db, const char *path, int *first)
{
    *first = 1;
    if (!shares(db) || !db->file) return bi_share_private(db);
    bi_errmark mark = bi_err_mark();
    int rc = bi_share_attach(db, path, first);
    int alone = rc == BIRCH_EREADONLY || rc == BIRCH_EACCES;
    bi_err_end(mark, alone);
    if (!alone) return rc;
    int why = rc;
    char detail[256];
    snprintf(detail, sizeof detail, "%s", birch_errmsg());
    bi_share_detach(db, 0);
    *first = 1;
    if (!db->opts.read_only) {
        rc = lock_alone(db, db->file, "a writer without a lock file");
        return rc ? rc : bi_share_private(db);
    }
    /* A reader without a lock file trusts that no writer runs: it marks
     * itself (so that a writer that would build a lock file refuses), then
     * refuses itself if handles share one already (a writer may be among
     * them, and would reuse pages under it).  Marked first, then the
     * test: of two such opens at once, one sees the other. */
    rc = db->io.ops->byte_lock(db->file, BI_DATA_LOCKLESS_BYTE, BI_LK_READ, 1);
    db->lockless = rc == BIRCH_OK;
    int held = rc ? rc : db->io.ops->byte_held(db->file, BI_DATA_ATTACHED_BYTE, BI_LK_WRITE);
    if (held < 0) return held;
    if (held && why == BIRCH_EACCES)
        return bi_err(BIRCH_EACCES, "birch_open: other handles share the database through its lock file, which this "
                                    "one cannot write (%s): a reader must write its slot there (give it write "
                                    "permission on the lock file, as LMDB's readers need)", detail);
    if (held)
        return bi_err(BIRCH_EREADONLY, "birch_open: other handles share the database through its lock file, which "
                                       "this one cannot write (%s)", detail);
    return bi_share_private(db);
}

int bi_open_io(const char *path, const birch_options *opts, const bi_io *io, birch_db **out)
{
    return bi_open_io_ex(path, opts, io, 0, out);
}

int bi_open_io_ex(const char *path, const birch_options *opts, const bi_io *io, int flusher, birch_db **out)
{
    if (!out || !io || !io->ops) return bi_err(BIRCH_EINVAL, "birch_open: db is NULL");
    *out = NULL;
    int memory = io->ops == &bi_io_mem;
    if (!path && !memory) return bi_err(BIRCH_EINVAL, "birch_open: path is NULL");
    birch_options defaults;
    birch_options_init(&defaults);
    if (!opts) opts = &defaults;
    int rc = options_check(opts);
    if (rc) return rc;
    birch_db *db = calloc(1, sizeof *db);
    if (!db) return bi_err(BIRCH_ENOMEM, "birch_open: out of memory");
    db->io = *io;
    db->opts = *opts;
    pthread_mutex_init(&db->lock, NULL);
    pthread_mutex_init(&db->write_lock, NULL);
    pthread_cond_init(&db->write_cv, NULL);
    pthread_mutex_init(&db->table_lock, NULL);
    db->max_readers = opts->max_readers;
    db->dirty_budget = opts->dirty_budget ? opts->dirty_budget : BIRCH_DEFAULT_DIRTY_BUDGET;
    rc = bi_handles_init(db);
    if (rc == BIRCH_OK && !opts->read_only) rc = bi_alloc_new(&db->alloc);
    /* A memory file is new and private to this open: nothing to create
     * atomically, nothing to lock against. */
    if (rc == BIRCH_OK && memory) rc = io->ops->open(io->ctx, path, BI_IO_CREATE, &db->file);
    if (rc == BIRCH_OK && memory) rc = io->ops->lock(db->file, 1);
    /* open_file probes (is the file there? was it replaced under the
     * lock?) and load may fall back to the older meta: a successful open
     * leaves birch_errmsg() as it was (err.h). */
    bi_errmark mark = bi_err_mark();
    int first = 1;
    if (rc == BIRCH_OK && !memory) rc = open_file(db, path);
    if (rc == BIRCH_OK) rc = memory ? bi_share_private(db) : attach(db, path, &first);
    if (rc == BIRCH_OK) rc = load(db, first);
    if (rc == BIRCH_OK) rc = bi_share_ready(db);
    bi_err_end(mark, rc == BIRCH_OK);
    db->flusher_ok = flusher && !opts->read_only;
    if (rc == BIRCH_OK && opts->durability == BIRCH_DURABLE_NONE)
        rc = bi_flusher_start(db); /* last: nothing after it fails */
    if (rc) {
        destroy(db);
        return rc;
    }
    *out = db;
    return BIRCH_OK;
}

int birch_open(const char *path, const birch_options *opts, birch_db **db)
{
    bi_io io = {&bi_io_posix, NULL};
    uint64_t mem_reserve = 0;
    if (opts && opts->backend == BIRCH_BACKEND_MEMORY) {
        mem_reserve = opts->max_size; /* room for max_size if it is larger than the default */
        io = (bi_io){&bi_io_mem, &mem_reserve};
    }
    int rc = bi_open_io_ex(path, opts, &io, io.ops == &bi_io_posix, db); /* files get the flusher */
    if (rc == BIRCH_OK) (*db)->io.ctx = NULL; /* &mem_reserve is read by open only */
    return rc;
}

/* "1 transaction, 2 guards" for birch_close's refusal: what is still open. */
static void open_handles(birch_db *db, char *buf, size_t cap)
{
    unsigned n[3] = {atomic_load(&db->open_txns), atomic_load(&db->open_guards), atomic_load(&db->open_streams)};
    static const char *const what[3][2] = {{"transaction", "transactions"}, {"guard", "guards"},
                                           {"stream", "streams"}};
    static const char *const state[3] = {"still open", "still unreleased", "still open"};
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < 3; i++) {
        if (!n[i]) continue;
        int k = snprintf(buf + o, cap - o, "%s%u %s %s", o ? ", " : "", n[i], what[i][n[i] != 1], state[i]);
        if (k < 0 || (size_t)k >= cap - o) break;
        o += (size_t)k;
    }
}

/* In a fork child: frees this process's copy of the handle (its memory,
 * maps and descriptor; the flock() lock stays the parent's) and writes
 * nothing.  The flusher thread and every lock holder are the parent's. */
static int close_in_child(birch_db *db)
{
    destroy(db);
    return bi_err(BIRCH_EFORK, "birch_close: the database was opened by another process (this is a child of "
                               "fork()): this process's copy was freed, the file was not touched");
}

/* Makes the last commit durable and clean (its meta's base is itself, so
 * that the next open verifies nothing) before a handle that committed
 * goes (one that did not found the state clean at open, or left it to the
 * handle that made it).  Beside other handles, under the writer lock,
 * waited for: a sync alone would not do, since another handle's next
 * non-durable commit overwrites the meta page this one's last commit is
 * in (birch.h promises that birch_close makes the commits durable). */
static int final_checkpoint(birch_db *db)
{
    if (!db->shared) return bi_checkpoint(db);
    pthread_mutex_lock(&db->lock);
    int skip = !db->committed || db->failed;
    pthread_mutex_unlock(&db->lock);
    if (skip) return BIRCH_OK;
    int rc = bi_writer_begin(db, 0, "birch_close");
    if (rc) return rc;
    rc = bi_checkpoint(db);
    bi_writer_unlock(db);
    return rc;
}

int birch_close(birch_db *db)
{
    if (!db) return BIRCH_OK;
    if (bi_db_forked(db)) return close_in_child(db);
    pthread_mutex_lock(&db->lock);
    unsigned live = db->live_txns + atomic_load(&db->pinned) + atomic_load(&db->open_txns) +
                    atomic_load(&db->open_guards) + atomic_load(&db->open_streams);
    pthread_mutex_unlock(&db->lock);
    if (live) {
        char what[160];
        open_handles(db, what, sizeof what);
        return bi_err(BIRCH_ETXN, "birch_close: %s; end them first", what[0] ? what : "transactions still open");
    }
    bi_flusher_stop(db); /* no flush may run beside the final checkpoint */
    int rc = db->opts.read_only ? BIRCH_OK : final_checkpoint(db);
    destroy(db);
    return rc;
}

size_t birch_max_key_size(const birch_db *db)
{
    return db ? db->max_key : 0;
}

size_t birch_max_name_size(const birch_db *db)
{
    return db ? db->max_name : 0;
}

uint32_t birch_page_size(const birch_db *db)
{
    return db ? db->psize : 0;
}

int birch_stat_get(birch_db *db, birch_stat *st)
{
    if (!st) return bi_err(BIRCH_EINVAL, "birch_stat_get: st is NULL");
    int rc = bi_db_check(db, "birch_stat_get");
    if (rc) return rc;
    bi_meta m;
    rc = bi_published(db, &m); /* the last commit of any handle */
    if (rc) return rc;
    uint64_t size = 0;
    rc = db->file ? db->io.ops->size(db->file, &size) : BIRCH_OK;
    if (rc) return rc;
    pthread_mutex_lock(&db->lock);
    if (size < db->file_size) size = db->file_size; /* the memory backend's */
    st->page_size = db->psize;
    st->txnid = m.txnid;
    st->page_count = m.npages;
    st->free_pages = m.free_pages;
    st->file_size = size;
    st->table_count = m.catalog.count;
    uint64_t oldest = bi_oldest_reader(db, &st->readers); /* a commit since the copy above may make it newer */
    st->oldest_txnid = oldest < m.txnid ? oldest : m.txnid;
    pthread_mutex_unlock(&db->lock);
    return BIRCH_OK;
}

int birch_readers(birch_db *db, birch_reader_fn fn, void *ctx)
{
    int rc = bi_db_check(db, "birch_readers");
    if (rc) return rc;
    if (!fn) return bi_err(BIRCH_EINVAL, "birch_readers: fn is NULL");
    for (uint32_t i = 0; i < db->nslots; i++) {
        birch_reader_info r;
        if (bi_slot_info(db, i, &r) && (rc = fn(&r, ctx)) != 0) return rc;
    }
    return BIRCH_OK;
}

int birch_readers_clear(birch_db *db, unsigned *cleared)
{
    int rc = bi_db_check(db, "birch_readers_clear");
    if (rc) return rc;
    unsigned n = 0;
    for (uint32_t i = 0; i < db->nslots; i++) n += (unsigned)bi_slot_clear(db, i);
    if (cleared) *cleared = n;
    return BIRCH_OK;
}

const char *birch_strerror(int rc)
{
    switch (rc) {
    case BIRCH_OK: return "success";
    case BIRCH_NOTFOUND: return "not found: no such key, table, file or directory, or the cursor is past the end";
    case BIRCH_EXISTS: return "already exists: the key (NOOVERWRITE) or the file, or APPEND key not after the last key";
    case BIRCH_EINVAL: return "invalid argument";
    case BIRCH_EKEYSIZE: return "key is empty or longer than birch_max_key_size()";
    case BIRCH_EVALSIZE: return "value or schema is too large";
    case BIRCH_ENOTDB: return "file is not a birch database";
    case BIRCH_EVERSION: return "database was written by an unsupported format version";
    case BIRCH_ECORRUPT: return "database file is corrupted";
    case BIRCH_EBUSY: return "busy: writer active, no reader slot free, or the file needed alone";
    case BIRCH_EREADONLY: return "write attempted in a read-only transaction or database";
    case BIRCH_EFULL: return "database is full: max_size reached or no space left on the disk";
    case BIRCH_EIO: return "I/O error; reopen the database before writing again";
    case BIRCH_ENOMEM: return "out of memory";
    case BIRCH_ETXN: return "transaction ended or failed earlier, or transactions still open at close";
    case BIRCH_ESCHEMA: return "table opened with other key or value formats than it holds";
    case BIRCH_EFORMAT: return "bytes rejected by the key or value format";
    case BIRCH_EACCES: return "permission denied by the operating system";
    case BIRCH_EFORK: return "handle used in another process than the one that opened it (after fork)";
    default: return "unknown error code";
    }
}

const char *birch_version(void)
{
    return BIRCH_VERSION_STRING;
}
