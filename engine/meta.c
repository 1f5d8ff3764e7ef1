/*
 * meta.c - the two meta pages: sealing with a checksum, choosing the
 * current one on open, and writing one at commit.
 *
 * A meta is valid when its magic and XXH3-64 checksum match.  Open takes the
 * valid meta with the highest transaction id.  A "weak" meta was written
 * without a sync (BIRCH_DURABLE_NONE); it survives a process crash but not
 * a power loss, so it is trusted only when the machine has not rebooted
 * since it was written (same boot id), as libmdbx does.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>
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

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Linux names each boot with a random UUID.  Where it is missing, a value
 * unique to this process makes weak metas untrusted after any reopen by
 * another process: safe, at the price of losing non-durable commits. */
void bi_boot_id(uint8_t id[16])
{
    char text[64] = {0};
    int n = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        if (!fgets(text, sizeof text, f)) text[0] = 0;
        fclose(f);
    }
    memset(id, 0, 16);
    for (const char *s = text; *s && n < 32; s++) {
        int v = hexval((unsigned char)*s);
        if (v < 0) continue;
        id[n / 2] |= (uint8_t)(n % 2 ? v : v << 4);
        n++;
    }
    if (n < 32) {
        uint64_t a = (uint64_t)getpid(), b = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)id;
        memcpy(id, &a, 8);
        memcpy(id + 8, &b, 8);
    }
}

/* Reads a meta at off into m; 0 if the file is too short for one. */
static int read_meta(birch_db *db, uint64_t off, uint64_t file_size, bi_meta *m)
{
    memset(m, 0, sizeof *m);
    if (off + sizeof *m > file_size) return 0;
    int rc = db->io.ops->read(db->file, m, sizeof *m, off);
    return rc ? rc : 1;
}

/* A meta we can use: valid, known version, sane page size, and (when weak)
 * written during this boot. */
static int usable(const birch_db *db, const bi_meta *m, int *version_err)
{
    if (!bi_meta_valid(m)) return 0;
    if (m->version != BI_FORMAT_VERSION) {
        *version_err = 1;
        return 0;
    }
    if (!page_size_ok(m->page_size)) return 0;
    if ((m->flags & BI_META_WEAK) && memcmp(m->boot_id, db->boot_id, 16) != 0) return 0;
    return 1;
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

int bi_meta_load(birch_db *db, uint64_t file_size)
{
    bi_meta m[2];
    int rc = read_meta(db, 0, file_size, &m[0]);
    if (rc < 0) return rc;
    if (rc && bi_meta_valid(&m[0]) && page_size_ok(m[0].page_size))
        rc = read_meta(db, m[0].page_size, file_size, &m[1]);
    else
        rc = find_meta1(db, file_size, &m[1]);
    if (rc < 0) return rc;

    int version_err = 0;
    int ok0 = usable(db, &m[0], &version_err);
    int ok1 = usable(db, &m[1], &version_err);
    if (ok0 && ok1 && m[0].page_size != m[1].page_size) ok1 = 0;
    if (!ok0 && !ok1) {
        if (version_err) return BIRCH_EVERSION;
        if (!magic_ok(&m[0]) && !magic_ok(&m[1])) return BIRCH_ENOTDB;
        return BIRCH_ECORRUPT;
    }
    int cur = ok0 && (!ok1 || m[0].txnid >= m[1].txnid) ? 0 : 1;
    /* A sound meta whose pages are not all in the file means the file was
     * truncated.  Falling back to the older meta would be wrong: its pages
     * may have been reused by the newer state. */
    if (!fits(&m[cur], file_size)) return BIRCH_ECORRUPT;
    db->meta = m[cur];
    db->meta_slot = cur;
    /* The durable meta: the current one unless it is weak, in which case
     * the other slot (never written by weak commits) holds it. */
    int steady = cur;
    uint64_t steady_txnid = m[cur].txnid;
    if (m[cur].flags & BI_META_WEAK) {
        int o = cur ^ 1;
        if ((o ? ok1 : ok0) && !(m[o].flags & BI_META_WEAK)) {
            steady = o;
            steady_txnid = m[o].txnid;
        } else {
            /* No durable meta survives (the other slot is damaged): keep
             * weak commits away from this slot and reuse no page until a
             * checkpoint has made one. */
            steady_txnid = 0;
        }
    }
    db->steady_slot = steady;
    db->steady_txnid = steady_txnid;
    db->psize = m[cur].page_size;
    return BIRCH_OK;
}

int bi_meta_write(birch_db *db, bi_meta *m, int slot, int sync)
{
    bi_meta_seal(m);
    struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
    int rc = db->io.ops->writev(db->file, &iov, 1, (uint64_t)slot * db->psize);
    if (rc == BIRCH_OK && sync) rc = db->io.ops->sync(db->file);
    return rc;
}

int bi_meta_init(birch_db *db)
{
    uint8_t *page = calloc(1, db->psize);
    if (!page) return BIRCH_ENOMEM;
    bi_meta m;
    memset(&m, 0, sizeof m);
    memcpy(m.magic, BI_MAGIC, 8);
    m.version = BI_FORMAT_VERSION;
    m.page_size = db->psize;
    m.npages = BI_META_PAGES;
    bi_meta_seal(&m);
    memcpy(page, &m, sizeof m);
    struct iovec iov[2] = {{page, db->psize}, {page, db->psize}};
    int rc = db->io.ops->writev(db->file, iov, 2, 0);
    if (rc == BIRCH_OK) rc = db->io.ops->sync(db->file);
    free(page);
    if (rc) return rc;
    db->meta = m;
    db->meta_slot = 0;
    db->steady_slot = 0;
    db->steady_txnid = 0;
    return BIRCH_OK;
}
