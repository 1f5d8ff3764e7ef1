/*
 * flush.c - the background flush of BIRCH_DURABLE_NONE commits.
 *
 * A non-durable (weak) commit is made durable by the next commit once the
 * last durable one is BI_CHECKPOINT_MS old (txn.c, need_checkpoint).  When
 * no commit follows, nothing would, and birch.h promises that a commit is
 * durable about a second after it returned.  So a writable database on a
 * file that makes weak commits has one thread that makes the last commit
 * durable (bi_checkpoint) once it is due and the database is idle: from
 * birch_open for a BIRCH_DURABLE_NONE database, from the begin of the first
 * BIRCH_TXN_NONDURABLE write transaction for a BIRCH_DURABLE_FULL one.
 * docs/DESIGN.md, section 4, says why a thread rather than a rule for the
 * application, and 4.2 why it starts late in the second case.
 *
 * The thread takes the writer gate like a write transaction, so nothing
 * else about checkpoints changes: no commit or birch_sync runs beside it.
 * It never waits for the gate while holding it, and never makes a writer
 * wait for long (one checkpoint).  Its loop, under write_lock (the gate's
 * mutex), sleeps on flush_cv:
 *   - nothing to do (the last commit is durable, the database failed, or
 *     the last attempt left the state as it was): until the gate is next
 *     released (bi_gate_open_locked wakes it), since only a write
 *     transaction can leave a new weak commit behind;
 *   - a weak commit, not yet due: until it is due;
 *   - due, but a writer holds the gate: until the gate is released.  That
 *     writer's commit, if it commits, checkpoints itself (it is due); if it
 *     aborts, the flusher goes at once.  So a commit is durable about a
 *     second after it returned, or when the write transaction that was
 *     active then ends, whichever is later;
 *   - due and the gate free: take the gate, checkpoint, release it.
 * birch_close sets flush_stop, wakes it and joins it before its own final
 * checkpoint.
 *
 * The thread blocks every signal, so that the application's handlers run
 * on its own threads, and holds nothing that outlives the process: exit()
 * ends it like any thread.  It exists in the process that opened the
 * database only (flusher_pid): fork() copies no thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How soon the flusher tries again when another handle held the writer lock. */
#define BI_FLUSH_RETRY_MS 50u

/* 1 if a weak commit other than the one tried last waits for the flusher;
 * *due is when it must be made durable (monotonic milliseconds).  Caller
 * holds write_lock; takes db->lock (that order, as lock_writer). */
static int flush_pending(birch_db *db, uint64_t tried, uint64_t *due)
{
    pthread_mutex_lock(&db->lock);
    int weak = (db->meta.flags & BI_META_WEAK) != 0 && !db->failed && db->meta.txnid != tried;
    pthread_mutex_unlock(&db->lock);
    *due = atomic_load(&db->lk->durable_ms) + BI_CHECKPOINT_MS;
    return weak;
}

static void wait_until(birch_db *db, uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    pthread_cond_timedwait(&db->flush_cv, &db->write_lock, &ts);
}

static void wait_for_gate(birch_db *db)
{
    db->flush_waiting = 1;
    pthread_cond_wait(&db->flush_cv, &db->write_lock);
    db->flush_waiting = 0;
}

/* Makes the last commit durable, holding the gate.  A failure fails the
 * database like a commit's failed sync: the next write transaction gets
 * BIRCH_EIO saying why.  Returns the id of the commit it tried. */
static uint64_t flush(birch_db *db)
{
    pthread_mutex_lock(&db->lock);
    uint64_t txnid = db->meta.txnid;
    pthread_mutex_unlock(&db->lock);
    bi_errmark mark = bi_err_mark();
    int rc = bi_writer_begin(db, 1, "the background flush");
    bi_err_end(mark, rc == BIRCH_EBUSY);
    if (rc == BIRCH_EBUSY) {
        /* A writer of another handle holds the file: sync what this one
         * wrote now, and checkpoint when that writer is done (its commit
         * checkpoints itself if it is due: the accounting is shared). */
        (void)db->io.ops->sync(db->file);
        return 0;
    }
    if (rc == BIRCH_OK) {
        pthread_mutex_lock(&db->lock);
        int weak = (db->meta.flags & BI_META_WEAK) != 0;
        pthread_mutex_unlock(&db->lock);
        if (weak) rc = bi_checkpoint(db);
        bi_writer_unlock(db);
    }
    if (rc != BIRCH_OK)
        bi_mark_failed(db, "the background flush of a BIRCH_DURABLE_NONE commit failed", birch_errmsg());
    return txnid;
}

static void *flusher_main(void *arg)
{
    birch_db *db = arg;
    uint64_t tried = 0, due = 0;
    pthread_mutex_lock(&db->write_lock);
    while (!db->flush_stop) {
        int pending = flush_pending(db, tried, &due);
        if (pending && bi_now_ms() < due) {
            wait_until(db, due);
        } else if (!pending || db->writer_active != BI_GATE_FREE) {
            wait_for_gate(db);
        } else {
            db->writer_active = BI_GATE_FLUSH;
            pthread_mutex_unlock(&db->write_lock);
            tried = flush(db);
            pthread_mutex_lock(&db->write_lock);
            bi_gate_open_locked(db);
            if (!tried) wait_until(db, bi_now_ms() + BI_FLUSH_RETRY_MS); /* another handle writes: again soon */
        }
    }
    pthread_mutex_unlock(&db->write_lock);
    return NULL;
}

int bi_flusher_start(birch_db *db)
{
    if (!db->flusher_ok || db->flusher_pid) return BIRCH_OK;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* bi_now_ms's clock */
    int err = pthread_cond_init(&db->flush_cv, &attr);
    pthread_condattr_destroy(&attr);
    if (err) return bi_err_os(BIRCH_ENOMEM, err, "the background flush's condition variable");
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits the mask */
    err = pthread_create(&db->flusher, NULL, flusher_main, db);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pthread_cond_destroy(&db->flush_cv);
        return bi_err_os(BIRCH_ENOMEM, err, "starting the background flush thread (it makes non-durable "
                                            "commits durable)");
    }
#ifdef __GLIBC__
    pthread_setname_np(db->flusher, "birch-flush");
#endif
    db->flusher_pid = getpid();
    return BIRCH_OK;
}

void bi_flusher_stop(birch_db *db)
{
    if (!db->flusher_pid || db->flusher_pid != getpid()) return;
    pthread_mutex_lock(&db->write_lock);
    db->flush_stop = 1;
    pthread_cond_signal(&db->flush_cv);
    pthread_mutex_unlock(&db->write_lock);
    pthread_join(db->flusher, NULL);
    pthread_cond_destroy(&db->flush_cv);
    db->flusher_pid = 0;
}
