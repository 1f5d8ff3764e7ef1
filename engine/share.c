/*
 * share.c - the lock file: attaching to it, owners and their liveness, and
 * the writer lock every process obeys (docs/DESIGN.md 12, FORMAT.md 11).
 *
 * Every handle of a file database holds a read lock on a byte of the data
 * file (BI_DATA_OPEN_BYTE, db.c) and, while it shares, an owner entry of
 * the lock file with a write lock on that entry's byte.  Those locks are
 * the kernel's (open file description locks): a killed process loses them
 * at once, whatever it was doing.  So an owner is alive exactly while its
 * byte is locked; its pid is only shown (a pid is reused, and another pid
 * namespace sees another number), and its generation, bumped by each
 * claim, tells a token of a handle gone from one of the handle that took
 * the entry since.
 *
 * The first handle to open the lock file (the one that gets the write lock
 * on BI_LK_INIT_BYTE) builds it afresh, recovers the database (db.c) and
 * then turns that lock into a read lock; later ones wait for the read lock
 * and check what the first one built.  A lock file whose database handles
 * are all gone is therefore never trusted: garbage, a truncated file or
 * one of another version is simply rebuilt.
 *
 * The writer lock is a word in the header: the holder's owner token, taken
 * by compare-and-swap, so that a commit with no other process in the way
 * makes no system call for it.  A waiter sleeps on a futex beside it and,
 * every BI_WRITER_POLL_MS, checks whether the holder is still alive: a
 * holder killed mid-transaction is replaced within that time.  The word,
 * not an fcntl lock, because a write transaction may end on another
 * thread than the one that began it, which a robust mutex forbids.
 */
#define _GNU_SOURCE /* syscall, SYS_futex */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BI_WRITER_POLL_MS 50u  /* a waiting writer checks the holder's life this often */
#define BI_LIVE_TTL_MS 100u    /* a writer trusts an "alive" verdict this long */
#define BI_LK_RETRY 1          /* lock_file_join: not a table (yet): try again (db->join_rc) */

/* Milliseconds on the monotonic clock, which every process shares. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- Private tables ----------------------------------------------------------- */

static int table_alloc(birch_db *db, uint32_t n)
{
    db->own = calloc(db->max_readers, sizeof *db->own);
    db->live = calloc(n, sizeof *db->live);
    if (!db->own || !db->live) return bi_err(BIRCH_ENOMEM, "birch_open: out of memory for %u reader slots", n);
    return BIRCH_OK;
}

static void table_bind(birch_db *db, uint8_t *base, uint32_t n)
{
    db->lk = (bi_lkhdr *)base;
    db->owners = (bi_lkowner *)(base + BI_LK_HDR);
    db->slots = (bi_lkslot *)(base + BI_LK_HDR + (uint64_t)n * sizeof(bi_lkowner));
    db->nslots = n;
}

/* A fresh table in base (zeroed by the caller): every slot free. */
static void table_init(birch_db *db, uint8_t *base, uint32_t n)
{
    table_bind(db, base, n);
    bi_lkhdr *h = db->lk;
    h->version = BI_LK_VERSION;
    h->nslots = n;
    h->page_size = db->psize;
    h->hdr_bytes = BI_LK_HDR;
    for (uint32_t i = 0; i < n; i++) {
        atomic_init(&db->owners[i].gen, 0);
        atomic_init(&db->slots[i].txnid, BI_FREE_SLOT);
    }
    atomic_init(&h->durable_ms, now_ms());
}

int bi_share_private(birch_db *db)
{
    uint32_t n = db->max_readers;
    db->lk_len = bi_lk_size(n);
    uint8_t *base = aligned_alloc(4096, db->lk_len);
    if (!base) return bi_err(BIRCH_ENOMEM, "birch_open: out of memory for %u reader slots", n);
    memset(base, 0, db->lk_len);
    table_init(db, base, n);
    memcpy(db->lk->magic, BI_LK_MAGIC, 8);
    atomic_store(&db->owners[0].gen, 1);
    atomic_store(&db->owners[0].pid, (int64_t)getpid());
    db->token = BI_TOKEN(1, 0);
    return table_alloc(db, n);
}

/* ---- Attaching ------------------------------------------------------------------ */

/* Builds the lock file afresh (the caller holds the init lock: no handle
 * of the database has it open). */
static int lock_file_build(birch_db *db, const uint64_t id[2])
{
    const bi_io_ops *ops = db->io.ops;
    uint32_t n = db->max_readers > BI_DEFAULT_READERS ? db->max_readers : BI_DEFAULT_READERS;
    uint64_t len = bi_lk_size(n);
    int rc = ops->resize(db->lkfile, 0); /* no byte of an earlier table survives */
    if (rc == BIRCH_OK) rc = ops->resize(db->lkfile, len);
    void *addr = NULL;
    if (rc == BIRCH_OK) rc = ops->map_rw(db->lkfile, len, &addr);
    if (rc) return rc;
    db->lk_len = len;
    table_init(db, addr, n);
    db->lk->dev = id[0];
    db->lk->ino = id[1];
    atomic_thread_fence(memory_order_release);
    memcpy(db->lk->magic, BI_LK_MAGIC, 8);
    return BIRCH_OK;
}

/* Records why a join failed (busy: BIRCH_EBUSY, else BIRCH_ECORRUPT) and
 * asks bi_share_attach to try again. */
static int join_retry(birch_db *db, int busy, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->join_why, sizeof db->join_why, fmt, ap);
    va_end(ap);
    db->join_busy = busy;
    return BI_LK_RETRY;
}

/* Checks a lock file another handle built and maps it. */
static int lock_file_join(birch_db *db, const char *path, const uint64_t id[2])
{
    const bi_io_ops *ops = db->io.ops;
    uint64_t size = 0;
    int rc = ops->size(db->lkfile, &size);
    if (rc) return rc;
    bi_lkhdr h;
    if (size < sizeof h)
        return join_retry(db, 0,
                          "the lock file of '%s' is truncated (%llu bytes) while other handles have the database "
                          "open: close them all, and the next open rebuilds it", path, (unsigned long long)size);
    rc = ops->read(db->lkfile, &h, sizeof h, 0);
    if (rc) return rc;
    if (memcmp(h.magic, BI_LK_MAGIC, 7) != 0)
        return join_retry(db, 0, "the lock file of '%s' does not start with birch's magic while other "
                                              "handles have the database open: close them all, and the next open "
                                              "rebuilds it", path);
    if (h.version != BI_LK_VERSION || h.magic[7] != 0)
        return bi_err(BIRCH_EVERSION, "the lock file of '%s' has format version %u and is in use by another program; "
                                      "this birch uses version %u: close that program first", path, h.version,
                      BI_LK_VERSION);
    if (h.dev != id[0] || h.ino != id[1])
        return join_retry(db, 1, "the lock file of '%s' serves another file (the database was replaced "
                                           "while other handles had it open): close them all", path);
    if (h.ready != 1)
        return join_retry(db, 0, "the lock file of '%s' was left unfinished by the open that built it (killed, "
                                 "or failed, before the database was recovered): close every handle, and the "
                                 "next open rebuilds it", path);
    if (h.hdr_bytes != BI_LK_HDR || h.nslots == 0 || h.nslots > BIRCH_MAX_READERS || size < bi_lk_size(h.nslots))
        return bi_err(BIRCH_ECORRUPT, "the lock file of '%s' is damaged (%u reader slots in %llu bytes) while other "
                                      "handles have the database open", path, h.nslots, (unsigned long long)size);
    if (db->max_readers > h.nslots)
        return bi_err(BIRCH_EINVAL, "birch_open: max_readers %u is larger than the lock file's table of %u reader "
                                    "slots (set by the first of the handles that have '%s' open): ask for %u or "
                                    "fewer",
                      db->max_readers, h.nslots, path, h.nslots);
    void *addr = NULL;
    rc = ops->map_rw(db->lkfile, bi_lk_size(h.nslots), &addr);
    if (rc) return rc;
    db->lk_len = bi_lk_size(h.nslots);
    table_bind(db, addr, h.nslots);
    return BIRCH_OK;
}

/* Takes an owner entry: one whose byte this open can lock (its last holder
 * is gone), free ones (pid 0) first. */
static int owner_claim(birch_db *db)
{
    const bi_io_ops *ops = db->io.ops;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < db->nslots; i++) {
            if ((atomic_load(&db->owners[i].pid) == 0) != (pass == 0)) continue;
            bi_errmark mark = bi_err_mark();
            int rc = ops->byte_lock(db->lkfile, BI_LK_OWNER_BYTE(i), BI_LK_WRITE, 0);
            bi_err_end(mark, rc == BIRCH_EBUSY);
            if (rc == BIRCH_EBUSY) continue;
            if (rc) return rc;
            uint64_t gen = atomic_fetch_add(&db->owners[i].gen, 1) + 1;
            atomic_store(&db->owners[i].pid, (int64_t)getpid());
            atomic_store(&db->owners[i].pidns, db->pidns);
            atomic_store(&db->owners[i].since_ms, now_ms());
            db->token = BI_TOKEN(gen, i);
            db->owner_locked = 1;
            return BIRCH_OK;
        }
    return bi_err(BIRCH_EBUSY, "birch_open: all %u owner entries of the lock file are taken (that many handles have "
                               "the database open; the first open's max_readers sets the number)", db->nslots);
}

static int attach_once(birch_db *db, const char *path, int *first);

/* Marks this handle attached to a lock file: a read lock on the data
 * file's attached byte, held until detach. */
static int attach_mark(birch_db *db)
{
    int rc = db->io.ops->byte_lock(db->file, BI_DATA_ATTACHED_BYTE, BI_LK_READ, 1);
    db->attached = rc == BIRCH_OK;
    return rc;
}

/* A lock file that is not (yet) what a table needs while another handle
 * holds its init lock for reading: one whose builder failed before
 * building it (empty), or one that still serves the file a compaction
 * replaced (rebuilt when that compaction's handle closes, at once).  The
 * open tries again for this long, then reports the lock file damaged. */
#define BI_JOIN_WAIT_MS 2000u

int bi_share_attach(birch_db *db, const char *path, int *first)
{
    for (unsigned waited = 0;; waited += 5) {
        int rc = attach_once(db, path, first);
        if (rc != BI_LK_RETRY) return rc;
        bi_share_detach(db, 0);
        if (waited >= BI_JOIN_WAIT_MS && db->join_busy) return bi_err(BIRCH_EBUSY, "%s", db->join_why);
        if (waited >= BI_JOIN_WAIT_MS) return bi_err(BIRCH_ECORRUPT, "%s", db->join_why);
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* This process's pid namespace, 0 if /proc does not tell. */
static uint64_t pid_namespace(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int attach_once(birch_db *db, const char *path, int *first)
{
    const bi_io_ops *ops = db->io.ops;
    *first = 0;
    db->pidns = pid_namespace();
    uint64_t id[2];
    int rc = ops->open_lock(db->file, path, &db->lkfile, id);
    if (rc) return rc;
    bi_errmark mark = bi_err_mark();
    rc = ops->byte_lock(db->lkfile, BI_LK_INIT_BYTE, BI_LK_WRITE, 0);
    bi_err_end(mark, rc == BIRCH_EBUSY);
    if (rc == BIRCH_OK) {
        db->init_locked = 1;
        /* Alone on this lock file.  A handle attached to one (each holds
         * its data file's attached byte) must then use another: this lock
         * file replaced or removed under it.  Two tables would hide
         * readers from writers.  Nor may a handle that reads without a lock
         * file (it trusts that no writer runs) be open.  Attached first,
         * then the test: of two such opens at once, one sees the other. */
        rc = attach_mark(db);
        int held = rc ? rc : ops->byte_held(db->file, BI_DATA_ATTACHED_BYTE, BI_LK_WRITE);
        if (held == 0) held = ops->byte_held(db->file, BI_DATA_LOCKLESS_BYTE, BI_LK_WRITE);
        if (held < 0) return held;
        if (held)
            return bi_err(BIRCH_EBUSY, "birch_open: other handles have the database open without this lock file "
                                       "(it was removed or replaced under them, or they read without one, where "
                                       "they cannot write it): close them all, then open '%s' again", path);
        *first = 1;
        rc = lock_file_build(db, id);
    } else if (rc == BIRCH_EBUSY) {
        /* Another handle builds it or has built it: wait for its read lock. */
        rc = ops->byte_lock(db->lkfile, BI_LK_INIT_BYTE, BI_LK_READ, 1);
        if (rc == BIRCH_OK) rc = attach_mark(db);
        if (rc == BIRCH_OK) rc = lock_file_join(db, path, id);
    }
    if (rc == BIRCH_OK) rc = table_alloc(db, db->nslots);
    if (rc == BIRCH_OK) rc = owner_claim(db);
    if (rc == BIRCH_OK) db->shared = 1;
    return rc;
}

int bi_share_ready(birch_db *db)
{
    if (!db->shared || !db->init_locked) return BIRCH_OK;
    atomic_store(&db->lk->ready, 1); /* recovered and published: others may join */
    db->init_locked = 0;
    return db->io.ops->byte_lock(db->lkfile, BI_LK_INIT_BYTE, BI_LK_READ, 1); /* an atomic conversion */
}

void bi_share_detach(birch_db *db, int child)
{
    /* A fork child's copy frees its memory, maps and descriptors only: the
     * slots, the owner entry and every lock (of the open file descriptions
     * it shares with the parent) are the parent's. */
    if (child) db->attached = db->lockless = db->owner_locked = 0, atomic_store(&db->nown, 0);
    /* Slots first, the owner entry last: a slot never names a free owner. */
    uint32_t n = atomic_load(&db->nown);
    if (db->slots)
        for (uint32_t k = 0; k < n; k++) {
            bi_lkslot *s = &db->slots[db->own[k]];
            atomic_store(&s->txnid, BI_FREE_SLOT);
            atomic_store(&s->owner, 0);
        }
    /* Before the init lock goes with the lock file: a first open that gets
     * that lock must not find this handle still attached. */
    if (db->attached) db->io.ops->byte_lock(db->file, BI_DATA_ATTACHED_BYTE, BI_LK_NONE, 0);
    if (db->lockless) db->io.ops->byte_lock(db->file, BI_DATA_LOCKLESS_BYTE, BI_LK_NONE, 0);
    db->attached = db->lockless = 0;
    if (db->lkfile) {
        if (db->owner_locked) {
            atomic_store(&db->owners[BI_TOKEN_INDEX(db->token)].pid, 0);
            if (atomic_load(&db->lk->writer) == db->token) atomic_store(&db->lk->writer, 0);
        }
        if (db->lk) db->io.ops->unmap(db->lkfile, db->lk, db->lk_len);
        db->io.ops->close(db->lkfile); /* drops every lock it held */
        db->lkfile = NULL;
    } else {
        free(db->lk);
    }
    db->lk = NULL;
    db->owners = NULL;
    db->slots = NULL;
    db->nslots = 0;
    free(db->own);
    free(db->live);
    db->own = NULL;
    db->live = NULL;
    atomic_store(&db->nown, 0);
    db->shared = db->init_locked = db->owner_locked = 0;
}

/* ---- Liveness ----------------------------------------------------------------- */

int bi_owner_alive(birch_db *db, uint64_t token, int fresh)
{
    if (token == db->token) return 1;
    uint32_t i = BI_TOKEN_INDEX(token);
    if (!db->shared || token == 0 || i >= db->nslots) return 0;
    if (atomic_load(&db->owners[i].gen) != BI_TOKEN_GEN(token)) return 0; /* the entry was taken since */
    struct bi_live *c = &db->live[i];
    uint64_t now = now_ms();
    if (!fresh && c->token == token && (c->dead || now < c->until)) return !c->dead;
    int held = db->io.ops->byte_held(db->lkfile, BI_LK_OWNER_BYTE(i), BI_LK_WRITE);
    if (held < 0) return 1; /* cannot tell: keep its pages */
    /* The byte's lock belongs to an open file description, which a fork
     * child that neither closed its inherited handle nor exec'd still
     * holds after its parent died: so a process that has left is dead
     * whatever its byte says.  Only where the pid means the same process
     * to both (one pid namespace); a reused pid only keeps it alive. */
    int64_t pid = atomic_load(&db->owners[i].pid);
    if (held && pid > 0 && db->pidns && atomic_load(&db->owners[i].pidns) == db->pidns &&
        kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        held = 0;
    c->token = token;
    c->dead = !held;
    c->until = now + BI_LIVE_TTL_MS;
    return held;
}

/* ---- The writer lock ------------------------------------------------------------ */

static void futex_wait(_Atomic uint32_t *word, uint32_t val, unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, val, &ts, NULL, 0); /* shared: not _PRIVATE */
}

static void futex_wake_all(_Atomic uint32_t *word)
{
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int bi_writer_lock(birch_db *db, int try, uint64_t self, const char *who)
{
    if (!db->shared) return BIRCH_OK;
    bi_lkhdr *h = db->lk;
    for (;;) {
        uint32_t seq = atomic_load(&h->writer_seq);
        uint64_t cur = 0;
        if (atomic_compare_exchange_strong(&h->writer, &cur, db->token)) {
            atomic_store(&h->writer_holder, bi_holder_id(db, self));
            return BIRCH_OK;
        }
        if (cur == db->token) return BIRCH_OK; /* cannot happen: the gate admits one thread */
        /* This very thread holds it, through another handle of the file:
         * waiting would be forever. */
        if (atomic_load(&h->writer_holder) == bi_holder_id(db, self) && atomic_load(&h->writer) == cur)
            return bi_err(BIRCH_EBUSY, "%s: this thread holds the write transaction of another handle of this "
                                       "database: commit or abort it first", who);
        pthread_mutex_lock(&db->lock); /* the liveness cache */
        int alive = bi_owner_alive(db, cur, 1);
        pthread_mutex_unlock(&db->lock);
        if (!alive) {
            /* Its holder died mid-transaction: what it wrote lies in free
             * pages, and the next writer starts from the file's metas. */
            atomic_compare_exchange_strong(&h->writer, &cur, 0);
            continue;
        }
        if (try) return bi_err(BIRCH_EBUSY, "%s: another handle (in this or another process) holds the write "
                                            "transaction (BIRCH_TXN_TRY)", who);
        atomic_fetch_add(&h->writer_waiters, 1);
        if (atomic_load(&h->writer) != 0) futex_wait(&h->writer_seq, seq, BI_WRITER_POLL_MS);
        atomic_fetch_sub(&h->writer_waiters, 1);
    }
}

void bi_writer_unlock(birch_db *db)
{
    if (!db->shared) return;
    bi_lkhdr *h = db->lk;
    atomic_store(&h->writer_holder, 0);
    atomic_store(&h->writer, 0);
    atomic_fetch_add(&h->writer_seq, 1);
    if (atomic_load(&h->writer_waiters)) futex_wake_all(&h->writer_seq);
}
