/*
 * snapshot.c - Raft snapshots of a replicated birch database, and their
 * installation.
 *
 * A snapshot is two buffers: a header (docs/FORMAT.md section 22: magic,
 * the index the database records, its size, the cluster id) and a
 * compacted birch_copy of the database's last commit, mapped from the
 * copy's file (which is unlinked at once: the map keeps it).  The copy is
 * taken on the raft thread, between two applies, so its last commit is
 * exactly the state at the index the header names.  That index may be
 * above the snapshot's Raft index (libraft's last_applied) while a
 * restarted node replays entries it had already applied: the state then
 * holds more than Raft thinks, which is harmless, as whoever installs it
 * skips those entries by the index the file itself records.
 *
 * Installing one replaces the database file: the bytes are written to
 * db_path + ".restore", synced, opened to check that they are a birch
 * database of this cluster at the header's index, and renamed over the
 * database (its handle closed first), and the directory synced: a crash
 * leaves the old file or the new one.  A snapshot no newer than the file
 * (libraft restores its last snapshot at every start, and the file has
 * usually moved past it) is not installed: the entries after it are
 * skipped anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replica_internal.h"

#define SNAP_MAGIC "birchRS1"
#define SNAP_HEADER 32u /* magic, index, database size, cluster id length */

int rp_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    birch_replica_sm *sm = fsm->data;
    if (!sm->db || birch_replica_sm_flush(sm) != BIRCH_OK) /* the copy must hold every entry applied */
        return RAFT_IOERR;
    if (unlink(sm->snap_path) != 0 && errno != ENOENT) /* a crashed snapshot's */
        return RAFT_IOERR;
    int rc = birch_copy(sm->db, sm->snap_path, BIRCH_COPY_COMPACT, NULL, NULL);
    if (rc) {
        rp_err_birch(rc, "snapshot copy");
        return RAFT_IOERR;
    }
    int fd = open(sm->snap_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    void *map = MAP_FAILED;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (fd >= 0)
        close(fd);
    unlink(sm->snap_path);
    if (map == MAP_FAILED)
        return RAFT_IOERR;

    size_t clen = strlen(sm->cluster);
    unsigned char *head = raft_malloc(SNAP_HEADER + clen);
    struct raft_buffer *b = raft_malloc(2 * sizeof *b);
    if (!head || !b) {
        raft_free(head);
        raft_free(b);
        munmap(map, (size_t)st.st_size);
        return RAFT_NOMEM;
    }
    memcpy(head, SNAP_MAGIC, 8);
    rp_put64(head + 8, sm->applied);
    rp_put64(head + 16, (uint64_t)st.st_size);
    rp_put64(head + 24, clen);
    memcpy(head + SNAP_HEADER, sm->cluster, clen);
    b[0] = (struct raft_buffer){head, SNAP_HEADER + clen};
    b[1] = (struct raft_buffer){map, (size_t)st.st_size};
    *bufs = b;
    *n_bufs = 2;
    return 0;
}

int rp_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    struct raft_buffer *b = *bufs;
    if (b && *n_bufs == 2) {
        raft_free(b[0].base);
        munmap(b[1].base, b[1].len);
    }
    raft_free(b);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* ---- Installing --------------------------------------------------------------- */

static int write_file(const char *path, const unsigned char *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rp_err(BIRCH_EIO, "creating %s: %s", path, strerror(errno));
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return rp_err(e == ENOSPC ? BIRCH_EFULL : BIRCH_EIO, "writing %s: %s", path, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return rp_err(BIRCH_EIO, "syncing %s: %s", path, strerror(e));
    }
    close(fd);
    return BIRCH_OK;
}

static int sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return rp_err(BIRCH_ENOMEM, "out of memory");
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? BIRCH_OK
                                       : rp_err(BIRCH_EIO, "syncing the directory of %s: %s", path,
                                                strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* Opens the file being installed and checks what it records. */
static int check_restored(birch_replica_sm *sm, uint64_t index)
{
    birch_options opts;
    birch_options_init(&opts);
    opts.read_only = 1;
    birch_db *db;
    birch_txn *txn;
    uint64_t got = 0;
    char cluster[BIRCH_REPLICA_MAX_CLUSTER_ID + 1];
    int rc = birch_open(sm->restore_path, &opts, &db);
    if (rc)
        return rp_err_birch(rc, "snapshot: opening its database");
    /* Every page, before the file replaces a whole one: a snapshot damaged
     * on the way or on the leader's disk is refused here, not found by a
     * later read. */
    rc = birch_check(db, NULL, 0);
    if (rc == BIRCH_OK && (rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn)) == BIRCH_OK) {
        rc = rp_read_identity(txn, &got, cluster, sizeof cluster);
        birch_txn_abort(txn);
    } else {
        rp_err_birch(rc, "snapshot: checking its database");
    }
    birch_close(db);
    char *lock = malloc(strlen(sm->restore_path) + 6);
    if (lock) { /* the read-only open made one; the rename leaves it behind */
        strcpy(lock, sm->restore_path);
        strcat(lock, "-lock");
        unlink(lock);
        free(lock);
    }
    if (rc)
        return rc;
    if (strcmp(cluster, sm->cluster) != 0)
        return rp_err(BIRCH_REPLICA_EIDENTITY, "snapshot of cluster \"%s\", not \"%s\"", cluster,
                      sm->cluster);
    if (got != index)
        return rp_err(BIRCH_ECORRUPT, "snapshot: its database records index %llu, its header %llu",
                      (unsigned long long)got, (unsigned long long)index);
    return BIRCH_OK;
}

/* Replaces the database with the file at restore_path. */
static int swap_in(birch_replica_sm *sm)
{
    int rc = birch_close(sm->db);
    sm->db = NULL;
    if (rc)
        rp_err_birch(rc, "closing the database to replace it"); /* closed all the same */
    if (rename(sm->restore_path, sm->db_path) != 0) {
        rc = rp_err(BIRCH_EIO, "renaming %s: %s", sm->restore_path, strerror(errno));
        rp_sm_open_db(sm); /* the old file is whole: go on with it */
        return rc;
    }
    if ((rc = sync_dir_of(sm->db_path)) != BIRCH_OK)
        return rc; /* renamed, maybe not durably: the next open tells */
    return rp_sm_open_db(sm);
}

int rp_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    birch_replica_sm *sm = fsm->data;
    const unsigned char *p = buf->base;
    if (buf->len < SNAP_HEADER || memcmp(p, SNAP_MAGIC, 8) != 0) {
        rp_err(BIRCH_ECORRUPT, "snapshot: no birch replica header");
        return RAFT_CORRUPT;
    }
    uint64_t index = rp_get64(p + 8), size = rp_get64(p + 16), clen = rp_get64(p + 24);
    if (clen == 0 || clen > BIRCH_REPLICA_MAX_CLUSTER_ID || buf->len - SNAP_HEADER < clen ||
        buf->len - SNAP_HEADER - clen != size) {
        rp_err(BIRCH_ECORRUPT, "snapshot: sizes in its header do not add up to %zu bytes", buf->len);
        return RAFT_CORRUPT;
    }
    if (clen != strlen(sm->cluster) || memcmp(p + SNAP_HEADER, sm->cluster, clen) != 0) {
        rp_err(BIRCH_REPLICA_EIDENTITY, "snapshot of another cluster than \"%s\"", sm->cluster);
        return RAFT_INVALID;
    }
    if (birch_replica_sm_flush(sm) != BIRCH_OK) /* the index below must be the file's */
        return RAFT_IOERR;
    if (sm->db && index <= sm->applied) { /* the file is as new or newer */
        sm->stat.kept++;
        raft_free(buf->base);
        return 0;
    }
    int rc = write_file(sm->restore_path, p + SNAP_HEADER + clen, (size_t)size);
    if (rc == BIRCH_OK)
        rc = check_restored(sm, index);
    if (rc == BIRCH_OK)
        rc = swap_in(sm);
    if (rc) {
        unlink(sm->restore_path);
        return rc == BIRCH_ENOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    sm->stat.restored++;
    raft_free(buf->base);
    return 0;
}
