/*
 * meta.c - the two meta pages: sealing with a checksum, choosing the
 * current one on open, and writing one at commit.
 *
 * A meta is sound when its magic and XXH3-64 checksum match.  Open takes
 * the sound meta with the highest transaction id whose new pages verify
 * (seal.c): a commit syncs pages and meta together, so after a crash the
 * newest meta may name pages that never reached the disk, and the older
 * slot then holds the state to return to.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#include <xxhash.h>

#include "internal.h"

static uint64_t meta_sum(const bi_meta *m)
{
    return XXH3_64bits(m, offsetof(bi_meta, checksum));
}

void bi_meta_seal(bi_meta *m)
{
    m->checksum = meta_sum(m);
}

static int magic_ok(const bi_meta *m)
{
    return memcmp(m->magic, BI_MAGIC, 8) == 0;
}

int bi_meta_valid(const bi_meta *m)
{
    return magic_ok(m) && m->checksum == meta_sum(m);
}

static int page_size_ok(uint32_t ps)
{
    return ps >= BIRCH_MIN_PAGE_SIZE && ps <= BIRCH_MAX_PAGE_SIZE && (ps & (ps - 1)) == 0;
}

/* Reads a meta at off into m; 0 if the file is too short for one. */
static int read_meta(birch_db *db, uint64_t off, uint64_t file_size, bi_meta *m)
{
    memset(m, 0, sizeof *m);
    if (off + sizeof *m > file_size) return 0;
    int rc = db->io.ops->read(db->file, m, sizeof *m, off);
    return rc ? rc : 1;
}

/* A meta we can use: valid, known version, sane page size, and a
 * transaction id below 2^62 (the free-space map keys commits as
 * txnid << 1, and no file commits 2^62 times: such an id is damage). */
/* The version of a sound meta of format 1 or 2, whose 112 bytes end with
 * the checksum of the first 104 (version 3 grew the meta), else 0: told
 * apart so that such a file is refused as a version, not as damage. */
static uint32_t sound_old(const bi_meta *m)
{
    uint64_t sum;
    memcpy(&sum, (const uint8_t *)m + 104, 8);
    int old = magic_ok(m) && (m->version == 1 || m->version == 2) && sum == XXH3_64bits(m, 104);
    return old ? m->version : 0;
}

static int usable(const bi_meta *m, uint32_t *version)
{
    if (!bi_meta_valid(m)) {
        if (sound_old(m)) *version = sound_old(m);
        return 0;
    }
    if (m->version != BI_FORMAT_VERSION) {
        *version = m->version;
        return 0;
    }
    return page_size_ok(m->page_size) && m->txnid < BI_TXNID_LIMIT && m->base_txnid <= m->txnid;
}

/* Does the meta describe a state that fits in the file? */
static int fits(const bi_meta *m, uint64_t file_size)
{
    return m->npages >= BI_META_PAGES && m->npages <= file_size / m->page_size;
}

/* Finds slot 1 when slot 0 cannot tell the page size: try every size. */
static int find_meta1(birch_db *db, uint64_t file_size, bi_meta *m1)
{
    for (uint32_t ps = BIRCH_MIN_PAGE_SIZE; ps <= BIRCH_MAX_PAGE_SIZE; ps *= 2) {
        int rc = read_meta(db, ps, file_size, m1);
        if (rc < 0) return rc;
        if (rc && bi_meta_valid(m1) && m1->page_size == ps) return 1;
    }
    memset(m1, 0, sizeof *m1);
    return 0;
}

int bi_meta_read(birch_db *db, uint64_t file_size, bi_meta m[2], int ok[2])
{
    int rc = read_meta(db, 0, file_size, &m[0]);
    if (rc < 0) return rc;
    if (rc && bi_meta_valid(&m[0]) && page_size_ok(m[0].page_size))
        rc = read_meta(db, m[0].page_size, file_size, &m[1]);
    else
        rc = find_meta1(db, file_size, &m[1]);
    if (rc < 0) return rc;

    uint32_t version = BI_FORMAT_VERSION;
    ok[0] = usable(&m[0], &version);
    ok[1] = usable(&m[1], &version);
    if (ok[0] && ok[1] && m[0].page_size != m[1].page_size) ok[1] = 0;
    if (!ok[0] && !ok[1]) {
        if (version == 1)
            return bi_err(BIRCH_EVERSION, "the file has format version 1 (a free tree, written by an earlier birch); this birch "
                                          "reads version %u only: dump it with the birch that wrote it (birch dump) "
                                          "and load the dump into a new file (birch load)", BI_FORMAT_VERSION);
        if (version == 2)
            return bi_err(BIRCH_EVERSION, "the file has format version 2 (written by birch 0.1 before counted "
                                          "branch pages, savepoints and sequences); this birch reads version %u "
                                          "only: dump it with the birch that wrote it (birch dump) and load the "
                                          "dump into a new file (birch load)", BI_FORMAT_VERSION);
        if (version != BI_FORMAT_VERSION)
            return bi_err(BIRCH_EVERSION, "the file has format version %u; this birch reads version %u only "
                                          "(written by another birch)", version, BI_FORMAT_VERSION);
        if (!magic_ok(&m[0]) && !magic_ok(&m[1]))
            return bi_err(BIRCH_ENOTDB, "not a birch database: neither meta page starts with birch's magic");
        return BI_CORRUPT("both meta pages fail their checksum or hold impossible values");
    }
    db->psize = m[ok[0] ? 0 : 1].page_size;
    return BIRCH_OK;
}

/* Newer first; of two metas of one commit, the one written after a sync
 * (the higher base) first. */
static int newer(const bi_meta *a, const bi_meta *b)
{
    return a->txnid != b->txnid ? a->txnid > b->txnid : a->base_txnid >= b->base_txnid;
}

/* Makes slot c's meta the database's current state. */
static void adopt(birch_db *db, const bi_meta *m, int c)
{
    db->meta = *m;
    db->meta_slot = c;
    /* A weak meta sits beside the durable one it builds on; reuse no page
     * that durable state still needs. */
    int weak = (m->flags & BI_META_WEAK) != 0;
    db->steady_slot = weak ? c ^ 1 : c;
    db->steady_txnid = weak ? m->base_txnid : m->txnid;
}

int bi_meta_choose(birch_db *db, uint64_t file_size, const bi_meta m[2], const int ok[2])
{
    int order[2] = {0, 1};
    if (ok[0] && ok[1] && !newer(&m[0], &m[1])) order[0] = 1, order[1] = 0;
    int rc = BIRCH_OK, tried = 0;
    for (int k = 0; k < 2; k++) {
        int c = order[k];
        if (!ok[c]) continue;
        tried = 1;
        /* The newest meta may name pages (and a file size) its commit
         * never made durable.  Falling back one commit is always safe: a
         * commit never reuses a page of the durable state it builds on. */
        rc = fits(&m[c], file_size)
                 ? bi_verify_meta(db, &m[c])
                 : BI_CORRUPT("meta page %d: %llu pages of %u bytes do not fit the %llu-byte file", c,
                              (unsigned long long)m[c].npages, m[c].page_size, (unsigned long long)file_size);
        if (rc == BIRCH_OK) {
            adopt(db, &m[c], c);
            return BIRCH_OK;
        }
        if (rc != BIRCH_ECORRUPT) return rc;
    }
    return tried ? rc : BI_CORRUPT("no sound meta page");
}

static int rejected(birch_db *db, uint64_t checksum)
{
    return atomic_load(&db->lk->rejected[0]) == checksum || atomic_load(&db->lk->rejected[1]) == checksum;
}

int bi_meta_refresh(birch_db *db)
{
    /* The common case, every commit of a lone writer: both meta pages hold
     * what this handle last read or wrote there, byte for byte, so nothing
     * changed and no checksum needs computing.  (Both: a checkpoint by
     * another handle rewrites the slot this one does not use, and moves
     * the durable state the allocator must keep.) */
    if (!memcmp(db->map.addr, &db->slot_meta[0], sizeof(bi_meta)) &&
        !memcmp(db->map.addr + db->psize, &db->slot_meta[1], sizeof(bi_meta)))
        return 0;
    bi_meta m[2];
    int ok[2], best = -1;
    for (int c = 0; c < 2; c++) {
        memcpy(&m[c], db->map.addr + (size_t)c * db->psize, sizeof m[c]);
        ok[c] = bi_meta_valid(&m[c]) && m[c].version == BI_FORMAT_VERSION && m[c].page_size == db->psize &&
                !rejected(db, m[c].checksum);
        if (ok[c] && (best < 0 || !newer(&m[best], &m[c]))) best = c;
    }
    /* Of two metas of one state (a checkpoint's copy), the one adopted. */
    if (best >= 0 && ok[db->meta_slot] && !memcmp(&m[db->meta_slot], &m[best], offsetof(bi_meta, checksum)))
        best = db->meta_slot;
    memcpy(db->slot_meta, m, sizeof m);
    if (best < 0) return BI_CORRUPT("neither meta page is sound (read by a writer beside other handles)");
    if (best == db->meta_slot && !memcmp(&m[best], &db->meta, sizeof db->meta)) return 0;
    pthread_mutex_lock(&db->lock);
    adopt(db, &m[best], best);
    pthread_mutex_unlock(&db->lock);
    return 1;
}

int bi_meta_write(birch_db *db, bi_meta *m, int slot, int sync)
{
    bi_meta_seal(m);
    struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
    uint64_t off = (uint64_t)slot * db->psize;
    int rc = sync ? db->io.ops->writev(db->file, &iov, 1, off) : bi_io_write_lazy(db->io.ops, db->file, &iov, 1, off);
    if (rc == BIRCH_OK && sync) rc = db->io.ops->sync(db->file);
    db->slot_meta[slot] = *m; /* what the slot holds now (a failed write leaves the next refresh to read it) */
    if (rc) memset(&db->slot_meta[slot], 0, sizeof db->slot_meta[slot]);
    return rc;
}

int bi_meta_init(birch_db *db, bi_file *f)
{
    uint8_t *page = calloc(1, db->psize);
    if (!page) return bi_err(BIRCH_ENOMEM, "out of memory for a meta page");
    bi_meta m;
    memset(&m, 0, sizeof m);
    memcpy(m.magic, BI_MAGIC, 8);
    m.version = BI_FORMAT_VERSION;
    m.page_size = db->psize;
    m.npages = BI_META_PAGES;
    bi_meta_seal(&m);
    memcpy(page, &m, sizeof m);
    struct iovec iov[2] = {{page, db->psize}, {page, db->psize}};
    int rc = db->io.ops->writev(f, iov, 2, 0);
    if (rc == BIRCH_OK) rc = db->io.ops->sync(f);
    free(page);
    return rc;
}
