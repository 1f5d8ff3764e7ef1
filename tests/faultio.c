/*
 * faultio.c - the fault-injecting io layer and the crash workload (see
 * faultio.h).  Included by the crash tests (test_fault.c, test_powerloss.c,
 * test_kill.c) as source, since the test build links only support.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "faultio.h"
#include "internal.h" /* fw_set_budget */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

const char *const fio_kind_name[FIO_KINDS] = {"write",       "sync",    "resize",  "map",
                                              "read",        "create",  "publish", "directory sync"};

/* ---- The io layer ------------------------------------------------------------ */

typedef struct fio_file {
    bi_file *inner;
    fio *f;
    int img; /* index into f->img: the file's durable image */
} fio_file;

static fio_file *fio_ff(bi_file *file) { return (fio_file *)(void *)file; }

/* Counts a call of kind; 1 if it must fail (then *rc is the code). */
static int fio_trip(fio *f, int kind, int *rc)
{
    long n = ++f->calls[kind];
    long at = f->fail_at[kind];
    if (at <= 0 || n < at || (n > at && !f->sticky)) return 0;
    f->injected++;
    f->last_kind = kind;
    *rc = f->fail_rc[kind];
    return 1;
}

/* Counts an operation that changes the disk: raises SIGKILL at the kill
 * countdown, and the power goes out (the operation never happens) at
 * loss_at_op.  Returns 1 if the machine is off. */
static int fio_step(fio *f)
{
    f->ops++;
    if (f->kill_at > 0 && f->ops == f->kill_at) {
        raise(SIGKILL);
        for (;;) pause(); /* not reached */
    }
    if (!f->dead && f->track && f->loss_at_op > 0 && f->ops == f->loss_at_op)
        fio_powerloss(f, f->loss_path, f->loss_seed);
    return f->dead;
}

static int fio_reserve(fio_img *m, uint64_t size)
{
    if (size <= m->durable_cap) return 0;
    uint64_t cap = m->durable_cap ? m->durable_cap : 65536;
    while (cap < size) cap *= 2;
    uint8_t *p = realloc(m->durable, cap);
    if (!p) return -1;
    memset(p + m->durable_cap, 0, cap - m->durable_cap);
    m->durable = p;
    m->durable_cap = cap;
    return 0;
}

/* Forgets an image: an empty file with nothing pending. */
static void fio_img_clear(fio_img *m)
{
    for (size_t i = 0; i < m->npend; i++) free(m->pend[i].data);
    m->npend = 0;
    if (m->durable) memset(m->durable, 0, m->durable_cap);
    m->durable_size = m->cur_size = 0;
}

static void fio_img_free(fio_img *m)
{
    fio_img_clear(m);
    free(m->pend);
    free(m->durable);
    memset(m, 0, sizeof *m);
}

/* Takes the durable image of the file at the db's path as it is now (the
 * test made it durable). */
static int fio_image(fio *f, bi_file *inner, int idx)
{
    fio_img *m = &f->img[idx];
    uint64_t size = 0;
    fio_img_clear(m);
    int rc = bi_io_posix.size(inner, &size);
    if (rc == BIRCH_OK && fio_reserve(m, size + 1)) rc = BIRCH_ENOMEM;
    if (rc == BIRCH_OK && size) rc = bi_io_posix.read(inner, m->durable, size, 0);
    if (rc) return rc;
    m->durable_size = m->cur_size = size;
    return BIRCH_OK;
}

static int fio_open(void *ctx, const char *path, unsigned flags, bi_file **out)
{
    fio *f = ctx;
    if (f->dead) return BIRCH_EIO;
    if (f->open_files >= 2) return BIRCH_EINVAL; /* the file and one temporary file */
    fio_file *w = calloc(1, sizeof *w);
    if (!w) return BIRCH_ENOMEM;
    int rc = bi_io_posix.open(f->io_ctx, path, flags, &w->inner);
    if (rc) {
        /* The first open finds no file: none is durable at the path. */
        if (rc == BIRCH_NOTFOUND && f->track && !f->imaged) {
            f->imaged = 1;
            f->at_path = -1;
        }
        free(w);
        return rc;
    }
    w->f = f;
    if (f->track && (!f->imaged || f->at_path < 0)) {
        /* The file as it is at the first open is durable (the test made it
         * so).  Later opens (a reopen on the same machine) keep the image
         * and the pending writes: closing a file makes nothing durable. */
        int idx = f->fresh == 0 ? 1 : 0;
        rc = fio_image(f, w->inner, idx);
        if (rc) {
            bi_io_posix.close(w->inner);
            free(w);
            return rc;
        }
        f->at_path = idx;
        f->imaged = 1;
    }
    w->img = f->at_path < 0 ? 0 : f->at_path;
    f->open_files++;
    *out = (bi_file *)(void *)w;
    return BIRCH_OK;
}

static void fio_close(bi_file *file)
{
    fio_file *w = fio_ff(file);
    w->f->open_files--;
    bi_io_posix.close(w->inner);
    free(w);
}

static int fio_lock(bi_file *file, int exclusive)
{
    return bi_io_posix.lock(fio_ff(file)->inner, exclusive);
}

static int fio_read(bi_file *file, void *buf, size_t len, uint64_t off)
{
    fio_file *w = fio_ff(file);
    fio *f = w->f;
    int rc;
    if (f->dead) return BIRCH_EIO;
    if (fio_trip(f, FIO_READ, &rc)) return rc;
    return bi_io_posix.read(w->inner, buf, len, off);
}

static int fio_push(fio_img *m, const struct iovec *iov, int cnt, uint64_t off)
{
    size_t len = 0;
    for (int i = 0; i < cnt; i++) len += iov[i].iov_len;
    if (!len) return 0;
    if (m->npend == m->pend_cap) {
        size_t cap = m->pend_cap ? m->pend_cap * 2 : 64;
        fio_pending *p = realloc(m->pend, cap * sizeof *p);
        if (!p) return -1;
        m->pend = p;
        m->pend_cap = cap;
    }
    uint8_t *data = malloc(len);
    if (!data) return -1;
    size_t at = 0;
    for (int i = 0; i < cnt; i++) {
        memcpy(data + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    m->pend[m->npend++] = (fio_pending){off, len, data};
    if (off + len > m->cur_size) m->cur_size = off + len;
    return 0;
}

/* A write that fails with partial set writes the first half of its bytes
 * first (rounded down to a sector), as a disk that fills up mid-write. */
static int fio_write_part(fio_file *w, const struct iovec *iov, int cnt, uint64_t off)
{
    size_t len = 0;
    for (int i = 0; i < cnt; i++) len += iov[i].iov_len;
    size_t part = len / 2 / FIO_SECTOR * FIO_SECTOR;
    struct iovec v[64];
    int n = 0;
    for (int i = 0; i < cnt && part && n < 64; i++) {
        size_t k = iov[i].iov_len < part ? iov[i].iov_len : part;
        v[n++] = (struct iovec){iov[i].iov_base, k};
        part -= k;
    }
    if (!n) return BIRCH_OK;
    int rc = bi_io_posix.writev(w->inner, v, n, off);
    if (rc == BIRCH_OK && w->f->track && fio_push(&w->f->img[w->img], v, n, off)) rc = BIRCH_ENOMEM;
    return rc;
}

/* A write (writev or write_lazy: lazy), with the faults of a write. */
static int fio_write(bi_file *file, const struct iovec *iov, int cnt, uint64_t off, int lazy)
{
    fio_file *w = fio_ff(file);
    fio *f = w->f;
    int rc;
    if (fio_step(f)) return BIRCH_EIO;
    if (fio_trip(f, FIO_WRITE, &rc)) {
        f->last_fail_off = off;
        for (int i = 0; off >= f->meta_end && i < cnt; i++) /* each buffer is a whole page or run */
            if (iov[i].iov_len >= sizeof(bi_phdr) && ((const bi_phdr *)iov[i].iov_base)->type == BI_P_FREEMAP) {
                f->failed_freemap++;
                break;
            }
        if (f->partial) (void)fio_write_part(w, iov, cnt, off);
        return rc;
    }
    rc = lazy ? bi_io_posix.write_lazy(w->inner, iov, cnt, off) : bi_io_posix.writev(w->inner, iov, cnt, off);
    if (rc) return rc;
    for (int i = 0; i < cnt; i++) f->written += iov[i].iov_len;
    if (f->track && fio_push(&f->img[w->img], iov, cnt, off)) return BIRCH_ENOMEM;
    if (f->track && f->loss_at_write > 0 && f->calls[FIO_WRITE] == f->loss_at_write) {
        fio_powerloss(f, f->loss_path, f->loss_seed);
        return BIRCH_EIO;
    }
    return BIRCH_OK;
}

static int fio_writev(bi_file *file, const struct iovec *iov, int cnt, uint64_t off)
{
    return fio_write(file, iov, cnt, off, 0);
}

/* The real lazy path (a store through the map), so that kills and power
 * losses land around it too. */
static int fio_write_lazy(bi_file *file, const struct iovec *iov, int cnt, uint64_t off)
{
    return fio_write(file, iov, cnt, off, 1);
}

/* Everything pending on image m becomes durable. */
static void fio_settle(fio *f, fio_img *m)
{
    int meta = 0;
    if (fio_reserve(m, m->cur_size + 1)) {
        f->loss_error = 1;
        snprintf(f->loss_msg, sizeof f->loss_msg, "out of memory for the durable image");
        return;
    }
    for (size_t i = 0; i < m->npend; i++) {
        fio_pending *p = &m->pend[i];
        memcpy(m->durable + p->off, p->data, p->len);
        /* A durable (not weak) meta reaches the disk. */
        if (p->off < f->meta_end && p->len >= sizeof(bi_meta)) {
            bi_meta meta_page;
            memcpy(&meta_page, p->data, sizeof meta_page);
            if (!(meta_page.flags & BI_META_WEAK)) meta = 1;
        }
        free(p->data);
    }
    m->npend = 0;
    if (m->cur_size < m->durable_size) /* shrunk: forget the cut tail */
        memset(m->durable + m->cur_size, 0, m->durable_size - m->cur_size);
    m->durable_size = m->cur_size;
    if (meta) f->durable_tag = f->tag;
}

static int fio_sync(bi_file *file)
{
    fio_file *w = fio_ff(file);
    fio *f = w->f;
    int rc;
    if (fio_step(f)) return BIRCH_EIO;
    if (fio_trip(f, FIO_SYNC, &rc)) return rc;
    if (f->track && f->loss_at_sync > 0 && f->calls[FIO_SYNC] == f->loss_at_sync) {
        fio_powerloss(f, f->loss_path, f->loss_seed);
        return BIRCH_EIO;
    }
    if (f->real_sync && (rc = bi_io_posix.sync(w->inner))) return rc;
    if (f->track) fio_settle(f, &f->img[w->img]);
    return BIRCH_OK;
}

static int fio_size(bi_file *file, uint64_t *size)
{
    return bi_io_posix.size(fio_ff(file)->inner, size);
}

static int fio_resize(bi_file *file, uint64_t size)
{
    fio_file *w = fio_ff(file);
    fio *f = w->f;
    int rc;
    if (fio_step(f)) return BIRCH_EIO;
    if (fio_trip(f, FIO_RESIZE, &rc)) return rc;
    rc = bi_io_posix.resize(w->inner, size);
    if (rc == BIRCH_OK && f->track) {
        /* Cut pending writes past a shrink (the engine never shrinks). */
        fio_img *m = &f->img[w->img];
        for (size_t i = 0; i < m->npend; i++) {
            fio_pending *p = &m->pend[i];
            if (p->off >= size) p->len = 0;
            else if (p->off + p->len > size) p->len = (size_t)(size - p->off);
        }
        m->cur_size = size;
    }
    return rc;
}

static int fio_map(bi_file *file, uint64_t len, void **addr)
{
    fio_file *w = fio_ff(file);
    fio *f = w->f;
    int rc;
    if (f->dead) return BIRCH_EIO;
    if (fio_trip(f, FIO_MAP, &rc)) return rc;
    return bi_io_posix.map(w->inner, len, addr);
}

static void fio_unmap(bi_file *file, void *addr, uint64_t len)
{
    bi_io_posix.unmap(fio_ff(file)->inner, addr, len);
}

static void fio_drop_resident(bi_file *file, void *addr, uint64_t len)
{
    bi_io_posix.drop_resident(fio_ff(file)->inner, addr, len);
}

/* Creation.  A temporary file has an image of its own (empty at first);
 * publishing it makes it the file at the path once the directory is
 * synced; before that a power loss leaves the old name or the new one. */
static int fio_create_temp(void *ctx, const char *path, bi_file **out)
{
    fio *f = ctx;
    int rc;
    if (fio_step(f)) return BIRCH_EIO;
    if (fio_trip(f, FIO_CREATE, &rc)) return rc;
    if (f->open_files >= 2) return BIRCH_EINVAL;
    fio_file *w = calloc(1, sizeof *w);
    if (!w) return BIRCH_ENOMEM;
    rc = bi_io_posix.create_temp(f->io_ctx, path, &w->inner);
    if (rc) {
        free(w);
        return rc;
    }
    w->f = f;
    w->img = f->at_path == 0 ? 1 : 0;
    if (f->track) {
        fio_img_clear(&f->img[w->img]);
        f->fresh = w->img;
        f->published = 0;
    }
    f->open_files++;
    *out = (bi_file *)(void *)w;
    return BIRCH_OK;
}

static int fio_publish(bi_file *file, const char *path, int replace)
{
    fio_file *w = fio_ff(file);
    fio *f = w->f;
    int rc;
    if (fio_step(f)) return BIRCH_EIO;
    if (fio_trip(f, FIO_PUBLISH, &rc)) return rc;
    rc = bi_io_posix.publish(w->inner, path, replace);
    if (rc == BIRCH_OK && f->track && f->fresh == w->img) f->published = 1;
    return rc;
}

static int fio_sync_dir(bi_file *file)
{
    fio_file *w = fio_ff(file);
    fio *f = w->f;
    int rc;
    if (fio_step(f)) return BIRCH_EIO;
    if (fio_trip(f, FIO_SYNCDIR, &rc)) return rc;
    if (f->real_sync && (rc = bi_io_posix.sync_dir(w->inner))) return rc;
    if (f->track && f->published) { /* the new name is durable */
        f->at_path = f->fresh;
        f->fresh = -1;
        f->published = 0;
    }
    return BIRCH_OK;
}

static int fio_at_path(bi_file *file, const char *path)
{
    return bi_io_posix.at_path(fio_ff(file)->inner, path);
}

static const bi_io_ops fio_ops = {
    .open = fio_open,
    .close = fio_close,
    .lock = fio_lock,
    .read = fio_read,
    .writev = fio_writev,
    .write_lazy = fio_write_lazy,
    .sync = fio_sync,
    .size = fio_size,
    .resize = fio_resize,
    .map = fio_map,
    .unmap = fio_unmap,
    .drop_resident = fio_drop_resident,
    .create_temp = fio_create_temp,
    .publish = fio_publish,
    .sync_dir = fio_sync_dir,
    .at_path = fio_at_path,
};

void fio_init(fio *f, uint64_t boot_seed)
{
    memset(f, 0, sizeof *f);
    f->io.ops = &fio_ops;
    f->io.ctx = f;
    for (int k = 0; k < FIO_KINDS; k++) f->fail_rc[k] = BIRCH_EIO;
    f->last_kind = -1;
    f->meta_end = 2u * BIRCH_MIN_PAGE_SIZE;
    f->at_path = -1;
    f->fresh = -1;
    bt_pattern(f->boot, sizeof f->boot, boot_seed ^ 0xb007b007ull);
}

void fio_free(fio *f)
{
    fio_img_free(&f->img[0]);
    fio_img_free(&f->img[1]);
    f->imaged = 0;
    f->at_path = f->fresh = -1;
    f->published = 0;
}

void fio_disarm(fio *f)
{
    for (int k = 0; k < FIO_KINDS; k++) f->fail_at[k] = 0;
    f->sticky = 0;
    f->loss_at_sync = f->loss_at_write = f->loss_at_op = 0;
    f->kill_at = 0;
    f->dead = 0;
}

typedef struct fio_pair {
    uint64_t sector;
    size_t w; /* index of the pending write */
} fio_pair;

static int fio_pair_cmp(const void *a, const void *b)
{
    const fio_pair *x = a, *y = b;
    if (x->sector != y->sector) return x->sector < y->sector ? -1 : 1;
    return x->w < y->w ? -1 : x->w > y->w;
}

int fio_powerloss(fio *f, const char *path, uint64_t seed)
{
    f->dead = 1;
    if (!f->track || !path) {
        f->loss_error = 1;
        snprintf(f->loss_msg, sizeof f->loss_msg, "power loss without tracking or path");
        return -1;
    }
    bt_rng r = {bt_mix(seed ^ 0x10551055ull)};
    /* The file at the path: the one durably there, or a file published
     * since whose name the directory has not synced (either name may
     * survive), or none. */
    int idx = f->at_path;
    if (f->fresh >= 0 && f->published && bt_chance(&r, 50)) idx = f->fresh;
    f->loss_absent = idx < 0;
    if (idx < 0) {
        f->pending_at_loss = 0;
        unlink(path);
        return 0;
    }
    fio_img *m = &f->img[idx];
    f->pending_at_loss = (long)m->npend;
    /* How the pending writes fare, per run: mostly landed, a mix, mostly
     * lost, or all landed. */
    static const unsigned profiles[4][2] = {{90, 98}, {55, 85}, {20, 80}, {100, 100}};
    const unsigned *pf = profiles[bt_below(&r, 4)];
    uint64_t top = m->durable_size > m->cur_size ? m->durable_size : m->cur_size;
    uint64_t size = m->durable_size;
    f->size_kept = 0;
    if (m->cur_size != m->durable_size && bt_chance(&r, 50)) {
        size = m->cur_size;
        f->size_kept = 1;
    }
    uint8_t *img = calloc(1, top + FIO_SECTOR);
    size_t npairs = 0;
    for (size_t i = 0; i < m->npend; i++)
        if (m->pend[i].len)
            npairs += (m->pend[i].off + m->pend[i].len - 1) / FIO_SECTOR - m->pend[i].off / FIO_SECTOR + 1;
    fio_pair *pairs = malloc((npairs ? npairs : 1) * sizeof *pairs);
    if (!img || !pairs) {
        free(img);
        free(pairs);
        f->loss_error = 1;
        snprintf(f->loss_msg, sizeof f->loss_msg, "out of memory building the crash image");
        return -1;
    }
    memcpy(img, m->durable, m->durable_size);
    size_t np = 0;
    for (size_t i = 0; i < m->npend; i++) {
        const fio_pending *p = &m->pend[i];
        if (!p->len) continue;
        for (uint64_t s = p->off / FIO_SECTOR; s <= (p->off + p->len - 1) / FIO_SECTOR; s++)
            pairs[np++] = (fio_pair){s, i};
    }
    qsort(pairs, np, sizeof *pairs, fio_pair_cmp);
    for (size_t g = 0; g < np;) {
        size_t e = g;
        while (e < np && pairs[e].sector == pairs[g].sector) e++;
        if (e - g > 1 && bt_chance(&r, 30)) { /* writes land out of order */
            for (size_t i = e - 1; i > g; i--) {
                size_t j = g + bt_below(&r, i - g + 1);
                fio_pair t = pairs[i];
                pairs[i] = pairs[j];
                pairs[j] = t;
            }
            f->sectors_reordered++;
        }
        for (size_t i = g; i < e; i++) {
            uint64_t s0 = pairs[i].sector * FIO_SECTOR, s1 = s0 + FIO_SECTOR;
            const fio_pending *p = &m->pend[pairs[i].w];
            unsigned roll = (unsigned)bt_below(&r, 100);
            if (roll < pf[0]) { /* kept */
                uint64_t a = p->off > s0 ? p->off : s0;
                uint64_t b = p->off + p->len < s1 ? p->off + p->len : s1;
                memcpy(img + a, p->data + (a - p->off), b - a);
                f->sectors_kept++;
            } else if (roll < pf[1]) { /* dropped */
                f->sectors_dropped++;
            } else { /* garbled: the whole sector is noise */
                bt_fill(&r, img + s0, FIO_SECTOR);
                f->sectors_garbled++;
            }
        }
        g = e;
    }
    free(pairs);
    int rc = 0;
    /* A new file, not a truncated one: ext4 flushes a file truncated to
     * zero and rewritten when it is closed (auto_da_alloc), which would
     * make every crash point wait for the disk. */
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -1;
    } else {
        uint64_t done = 0;
        while (done < size) {
            ssize_t n = pwrite(fd, img + done, size - done, (off_t)done);
            if (n <= 0) {
                rc = -1;
                break;
            }
            done += (uint64_t)n;
        }
        close(fd);
    }
    if (rc) {
        f->loss_error = 1;
        snprintf(f->loss_msg, sizeof f->loss_msg, "writing %s: %s", path, strerror(errno));
    }
    free(img);
    return rc;
}

/* ---- The crash workload -------------------------------------------------------- */

const char *const fw_table_name[FW_TABLES] = {"t0", "t1", "t2", "t3", "ctr"};

enum {
    FW_PUT, FW_DEL, FW_DROP, FW_CREATE, FW_RENAME /* table t to table key */,
    FW_NEST,       /* a child transaction begins: vlen 1 if it will commit, 0 if it will abort */
    FW_NEST_END,   /* the innermost child commits or aborts (as its FW_NEST said) */
    FW_SP_CREATE,  /* savepoint "sp" (keeps the state before this transaction) */
    FW_SP_RESTORE, /* savepoint "sp", made by transaction key + 1: back to state key */
    FW_SP_DROP
};

typedef struct fw_op {
    int type;
    int t;
    uint32_t key;
    uint32_t vlen;
    uint64_t vseed;
} fw_op;

typedef struct fw_ops {
    fw_op *v;
    size_t n, cap;
} fw_ops;

#define FW_KEYSPACE 600u
#define FW_HUGE_KEY 900000u

static void fw_push(fw_ops *o, int type, int t, uint32_t key, uint32_t vlen, uint64_t vseed)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = realloc(o->v, o->cap * sizeof *o->v);
        if (!o->v) abort();
    }
    o->v[o->n++] = (fw_op){type, t, key, vlen, vseed};
}

/* Key i: "key" + 6 digits + 0..40 filler bytes (at most 49 bytes, under
 * the 128-byte limit of 512-byte pages). */
static size_t fw_key(uint32_t i, uint8_t *buf)
{
    int n = snprintf((char *)buf, 16, "key%06u", i);
    size_t extra = (i * 7u) % 41u;
    memset(buf + n, 'a' + (int)(i % 26u), extra);
    return (size_t)n + extra;
}

static uint32_t fw_vlen(bt_rng *r)
{
    unsigned x = (unsigned)bt_below(r, 100);
    if (x < 70) return (uint32_t)bt_range(r, 0, 40);
    if (x < 88) return (uint32_t)bt_range(r, 41, 150);   /* inline up to node_max */
    if (x < 97) return (uint32_t)bt_range(r, 150, 1400); /* overflow, 1-3 pages */
    return (uint32_t)bt_range(r, 1400, 6000);            /* longer runs */
}

/* Child transactions (nested, up to two deep, each committing or
 * aborting) and a savepoint made, restored and dropped on a fixed
 * schedule (every 20 transactions: made by 20i + 5, which keeps state
 * 20i + 4, restored by 20i + 12, dropped by 20i + 16).  Drawn from a
 * stream of their own, after the other operations, so that the rest of
 * each transaction is what it was before they were added. */
static void fw_gen_issue14(uint64_t seed, int k, fw_ops *o)
{
    bt_rng r = {bt_mix(seed * 0x2545F4914F6CDD1Dull + (uint64_t)k * 31 + 7)};
    if (k % 20 == 5) fw_push(o, FW_SP_CREATE, 0, 0, 0, 0);
    if (k % 20 == 12 && k >= 12) fw_push(o, FW_SP_RESTORE, 0, (uint32_t)(k - 8), 0, 0);
    if (k % 20 == 16) fw_push(o, FW_SP_DROP, 0, 0, 0, 0);
    if (!bt_chance(&r, 40)) return;
    int depth = 1 + (int)bt_below(&r, 2);
    for (int d = 0; d < depth; d++) {
        fw_push(o, FW_NEST, 0, 0, bt_chance(&r, 60) ? 1u : 0u, 0);
        uint32_t n = (uint32_t)bt_range(&r, 1, 40);
        for (uint32_t i = 0; i < n; i++) {
            int t = (int)bt_below(&r, 4);
            uint32_t key = (uint32_t)bt_below(&r, FW_KEYSPACE);
            if (bt_chance(&r, 70)) fw_push(o, FW_PUT, t, key, fw_vlen(&r), bt_rand(&r));
            else fw_push(o, FW_DEL, t, key, 0, 0);
        }
    }
    for (int d = 0; d < depth; d++) fw_push(o, FW_NEST_END, 0, 0, 0, 0);
}

/* The operations of transaction k. */
static void fw_gen(uint64_t seed, int k, int huge, fw_ops *o)
{
    bt_rng r = {bt_mix(seed * 0x9E3779B97F4A7C15ull + (uint64_t)k)};
    o->n = 0;
    if (huge) {
        if (k == 4) fw_push(o, FW_PUT, 3, FW_HUGE_KEY, 700u * 1024u + 123u, bt_rand(&r));
        if (k == 9) fw_push(o, FW_PUT, 2, FW_HUGE_KEY + 1, 400u * 1024u, bt_rand(&r));
        if (k == 14) fw_push(o, FW_DEL, 3, FW_HUGE_KEY, 0, 0);
        if (k == 19) fw_push(o, FW_DEL, 2, FW_HUGE_KEY + 1, 0, 0);
    }
    unsigned shape = (unsigned)bt_below(&r, 100);
    if (k == 1 || shape < 16) { /* bulk load: many splits */
        int t = (int)bt_below(&r, 4);
        uint32_t base = (uint32_t)bt_below(&r, FW_KEYSPACE / 2);
        uint32_t n = (uint32_t)bt_range(&r, 100, 260);
        for (uint32_t i = 0; i < n && base + i < FW_KEYSPACE; i++)
            fw_push(o, FW_PUT, t, base + i, (uint32_t)bt_range(&r, 0, 48), bt_rand(&r));
    } else if (shape < 30) { /* range delete: merges */
        int t = (int)bt_below(&r, 4);
        uint32_t base = (uint32_t)bt_below(&r, FW_KEYSPACE);
        uint32_t n = (uint32_t)bt_range(&r, 40, 240);
        for (uint32_t i = 0; i < n && base + i < FW_KEYSPACE; i++) fw_push(o, FW_DEL, t, base + i, 0, 0);
    } else if (shape < 36) {
        fw_push(o, FW_DROP, (int)bt_below(&r, 4), 0, 0, 0);
    } else if (shape < 40) {
        fw_push(o, FW_CREATE, (int)bt_below(&r, 4), 0, 0, 0);
    }
    uint32_t n = (uint32_t)bt_range(&r, 1, 30);
    for (uint32_t i = 0; i < n; i++) {
        int t = (int)bt_below(&r, 4);
        uint32_t key = (uint32_t)bt_below(&r, FW_KEYSPACE);
        if (bt_chance(&r, 70))
            fw_push(o, FW_PUT, t, key, fw_vlen(&r), bt_rand(&r));
        else
            fw_push(o, FW_DEL, t, key, 0, 0);
    }
    if (shape >= 40 && shape < 50) { /* a rename after the changes above, which move with it, */
        int t = (int)bt_below(&r, 4), u = (t + 1 + (int)bt_below(&r, 3)) % 4;
        fw_push(o, FW_DROP, u, 0, 0, 0); /* over a table dropped in this transaction */
        fw_push(o, FW_RENAME, t, (uint32_t)u, 0, 0);
    }
    fw_gen_issue14(seed, k, o);
    fw_push(o, FW_PUT, FW_CTR, (uint32_t)k, 8, 0);
}

/* Key and value bytes of an operation. */
static size_t fw_op_key(const fw_op *op, uint8_t *kb)
{
    if (op->t == FW_CTR) {
        kb[0] = 'k';
        return 1;
    }
    return fw_key(op->key, kb);
}

static void fw_op_val(const fw_op *op, uint8_t *vb)
{
    if (op->t == FW_CTR) {
        uint64_t k = op->key;
        memcpy(vb, &k, 8);
    } else {
        bt_pattern(vb, op->vlen, op->vseed);
    }
}

static void fw_model_apply(fw_state *s, const fw_op *op, uint8_t *vb)
{
    uint8_t kb[64];
    size_t kn = fw_op_key(op, kb);
    switch (op->type) {
    case FW_PUT:
        s->exists[op->t] = 1;
        fw_op_val(op, vb);
        bt_model_put(&s->m[op->t], kb, kn, vb, op->vlen);
        break;
    case FW_DEL:
        if (s->exists[op->t]) bt_model_del(&s->m[op->t], kb, kn);
        break;
    case FW_DROP:
        s->exists[op->t] = 0;
        bt_model_free(&s->m[op->t]);
        break;
    case FW_CREATE:
        s->exists[op->t] = 1;
        break;
    case FW_RENAME: /* refused unless t exists and key does not */
        if (s->exists[op->t] && !s->exists[op->key]) {
            bt_model_free(&s->m[op->key]);
            s->m[op->key] = s->m[op->t];
            bt_model_init(&s->m[op->t]);
            s->exists[op->key] = 1;
            s->exists[op->t] = 0;
        }
        break;
    }
}

void fw_init(fw *w, uint64_t seed, int ntxn, int huge)
{
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->ntxn = ntxn;
    w->huge = huge;
    w->st = calloc((size_t)ntxn + 1, sizeof *w->st);
    if (!w->st) abort();
    uint8_t *vb = malloc(1u << 20);
    if (!vb) abort();
    fw_ops o = {0};
    for (int k = 1; k <= ntxn; k++) {
        fw_state *s = &w->st[k];
        for (int t = 0; t < FW_TABLES; t++) {
            s->exists[t] = w->st[k - 1].exists[t];
            bt_model_copy(&s->m[t], &w->st[k - 1].m[t]);
        }
        fw_gen(seed, k, huge, &o);
        /* Operations inside a child that aborts change nothing: skip
         * counts the open children that will abort. */
        int commits[8], depth = 0, skip = 0;
        for (size_t i = 0; i < o.n; i++) {
            const fw_op *op = &o.v[i];
            if (op->type == FW_NEST) {
                commits[depth++] = op->vlen == 1;
                skip += op->vlen != 1;
            } else if (op->type == FW_NEST_END) {
                skip -= !commits[--depth];
            } else if (op->type == FW_SP_RESTORE) {
                for (int t = 0; t < FW_TABLES; t++) {
                    bt_model_free(&s->m[t]);
                    bt_model_init(&s->m[t]);
                    s->exists[t] = w->st[op->key].exists[t];
                    bt_model_copy(&s->m[t], &w->st[op->key].m[t]);
                }
            } else if (!skip && op->type != FW_SP_CREATE && op->type != FW_SP_DROP) {
                fw_model_apply(s, op, vb);
            }
        }
    }
    free(o.v);
    free(vb);
}

void fw_free(fw *w)
{
    if (!w->st) return;
    for (int k = 0; k <= w->ntxn; k++)
        for (int t = 0; t < FW_TABLES; t++) bt_model_free(&w->st[k].m[t]);
    free(w->st);
    w->st = NULL;
}

static int fw_db_apply(birch_txn *txn, const fw_op *op, uint8_t *vb, const char **where)
{
    uint8_t kb[64];
    size_t kn = fw_op_key(op, kb);
    const char *name = fw_table_name[op->t];
    birch_table *t = NULL;
    int rc = BIRCH_OK;
    switch (op->type) {
    case FW_PUT:
        *where = "birch_table_open(CREATE)";
        rc = birch_table_open(txn, name, BIRCH_CREATE, &t);
        if (rc) return rc;
        fw_op_val(op, vb);
        *where = "birch_put";
        return birch_put(txn, t, bt_val(kb, kn), bt_val(vb, op->vlen), 0);
    case FW_DEL:
        *where = "birch_table_open";
        rc = birch_table_open(txn, name, 0, &t);
        if (rc == BIRCH_NOTFOUND) return BIRCH_OK;
        if (rc) return rc;
        *where = "birch_del";
        rc = birch_del(txn, t, bt_val(kb, kn));
        return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
    case FW_DROP:
        *where = "birch_table_drop";
        rc = birch_table_drop(txn, name);
        return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
    case FW_CREATE:
        *where = "birch_table_open(CREATE)";
        return birch_table_open(txn, name, BIRCH_CREATE, &t);
    case FW_RENAME:
        *where = "birch_table_rename";
        rc = birch_table_rename(txn, name, fw_table_name[op->key]);
        return rc == BIRCH_NOTFOUND || rc == BIRCH_EXISTS ? BIRCH_OK : rc;
    case FW_SP_CREATE: /* a run resumed after a crash may find it made already */
        *where = "birch_savepoint_create";
        rc = birch_savepoint_create(txn, "sp");
        return rc == BIRCH_EXISTS ? BIRCH_OK : rc;
    case FW_SP_RESTORE:
        *where = "birch_savepoint_restore";
        return birch_savepoint_restore(txn, "sp");
    case FW_SP_DROP:
        *where = "birch_savepoint_drop";
        return birch_savepoint_drop(txn, "sp");
    }
    return BIRCH_EINVAL;
}

int fw_txn(birch_db *db, const fw *w, int k, const char **where)
{
    const char *dummy;
    if (!where) where = &dummy;
    *where = "birch_txn_begin";
    birch_txn *txn = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn);
    if (rc) return rc;
    fw_ops o = {0};
    fw_gen(w->seed, k, w->huge, &o);
    uint8_t *vb = malloc(1u << 20);
    if (!vb) abort();
    birch_txn *lv[8] = {txn}; /* lv[d]: the open child of depth d */
    int commits[8], depth = 0;
    for (size_t i = 0; i < o.n && rc == BIRCH_OK; i++) {
        const fw_op *op = &o.v[i];
        if (op->type == FW_NEST) {
            *where = "birch_txn_begin_nested";
            rc = birch_txn_begin_nested(lv[depth], &lv[depth + 1]);
            if (rc == BIRCH_OK) commits[++depth] = op->vlen == 1;
        } else if (op->type == FW_NEST_END) {
            *where = "birch_txn_commit (a child)";
            if (commits[depth]) rc = birch_txn_commit(lv[depth]);
            else birch_txn_abort(lv[depth]);
            depth--;
        } else {
            rc = fw_db_apply(lv[depth], op, vb, where);
        }
    }
    free(vb);
    free(o.v);
    if (rc) {
        birch_txn_abort(txn); /* ends the open children too */
        return rc;
    }
    *where = "birch_txn_commit";
    return birch_txn_commit(txn);
}

int fw_which(birch_txn *r, char *err, size_t errsz)
{
    birch_table *t = NULL;
    int rc = birch_table_open(r, fw_table_name[FW_CTR], 0, &t);
    if (rc == BIRCH_NOTFOUND) return 0;
    birch_val v = {NULL, 0};
    if (rc == BIRCH_OK) rc = birch_get(r, t, bt_str("k"), &v);
    if (rc || v.size != 8) {
        snprintf(err, errsz, "counter unreadable: rc %d (%s), size %zu", rc, birch_strerror(rc), v.size);
        return -1;
    }
    uint64_t k;
    memcpy(&k, v.data, 8);
    if (k > 1000000) {
        snprintf(err, errsz, "counter holds %llu", (unsigned long long)k);
        return -1;
    }
    return (int)k;
}

int fw_verify(birch_txn *r, const fw *w, int k, char *err, size_t errsz)
{
    if (k < 0 || k > w->ntxn) {
        snprintf(err, errsz, "state %d outside the workload's 0..%d", k, w->ntxn);
        return 1;
    }
    const fw_state *s = &w->st[k];
    for (int ti = 0; ti < FW_TABLES; ti++) {
        const char *name = fw_table_name[ti];
        birch_table *t = NULL;
        int rc = birch_table_open(r, name, 0, &t);
        if (rc == BIRCH_NOTFOUND && !s->exists[ti]) continue;
        if (rc || !s->exists[ti]) {
            snprintf(err, errsz, "state %d: table %s: open returned %d (%s), model says %s", k, name,
                     rc, birch_strerror(rc), s->exists[ti] ? "exists" : "absent");
            return 1;
        }
        const bt_model *m = &s->m[ti];
        uint64_t cnt = 0;
        rc = birch_count(r, t, &cnt);
        if (rc || cnt != m->n) {
            snprintf(err, errsz, "state %d: table %s: count %llu (rc %d), model %zu", k, name,
                     (unsigned long long)cnt, rc, m->n);
            return 1;
        }
        birch_cursor *c = NULL;
        rc = birch_cursor_open(r, t, &c);
        if (rc) {
            snprintf(err, errsz, "cursor_open: %d", rc);
            return 1;
        }
        rc = birch_cursor_first(c);
        for (size_t i = 0; i < m->n; i++) {
            birch_val kv = {NULL, 0}, vv = {NULL, 0};
            if (rc == BIRCH_OK) rc = birch_cursor_get(c, &kv, &vv);
            const bt_item *it = m->v[i];
            if (rc || kv.size != it->klen || memcmp(kv.data, it->key, it->klen) != 0 ||
                vv.size != it->vlen || (it->vlen && memcmp(vv.data, it->val, it->vlen) != 0) ||
                !BT_ALIGNED(vv.data)) {
                snprintf(err, errsz,
                         "state %d: table %s: record %zu (model key %.*s, vlen %zu): rc %d, "
                         "key size %zu, vlen %zu, or bytes differ",
                         k, name, i, (int)it->klen, (const char *)it->key, it->vlen, rc, kv.size,
                         vv.size);
                birch_cursor_close(c);
                return 1;
            }
            rc = birch_cursor_next(c);
        }
        birch_cursor_close(c);
        if (rc != BIRCH_NOTFOUND) {
            snprintf(err, errsz, "state %d: table %s: scan does not end after %zu records (rc %d)",
                     k, name, m->n, rc);
            return 1;
        }
    }
    return 0;
}

int fw_identify(birch_db *db, const fw *w, int lo, int hi, char *err, size_t errsz)
{
    birch_txn *r = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &r);
    if (rc) {
        snprintf(err, errsz, "read txn: %d (%s)", rc, birch_strerror(rc));
        return -1;
    }
    int k = fw_which(r, err, errsz);
    if (k >= 0 && (k < lo || k > hi)) {
        snprintf(err, errsz, "the file holds transaction %d, expected one of %d..%d", k, lo, hi);
        k = -1;
    }
    if (k >= 0 && fw_verify(r, w, k, err, errsz)) k = -1;
    birch_txn_abort(r);
    return k;
}

int fw_wipe_check(birch_db *db, char *err, size_t errsz)
{
    birch_txn *w = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
    const char *what = "begin";
    /* t0 record by record (merges down to an empty root), the rest dropped. */
    birch_table *t = NULL;
    if (rc == BIRCH_OK) {
        what = "open t0";
        rc = birch_table_open(w, "t0", 0, &t);
        if (rc == BIRCH_NOTFOUND) t = NULL, rc = BIRCH_OK;
    }
    if (rc == BIRCH_OK && t) {
        birch_cursor *c = NULL;
        what = "cursor";
        rc = birch_cursor_open(w, t, &c);
        uint8_t kb[256];
        while (rc == BIRCH_OK) {
            birch_val k = {NULL, 0};
            rc = birch_cursor_first(c);
            if (rc == BIRCH_NOTFOUND) {
                rc = BIRCH_OK;
                break;
            }
            if (rc == BIRCH_OK) rc = birch_cursor_get(c, &k, NULL);
            if (rc == BIRCH_OK && k.size <= sizeof kb) {
                memcpy(kb, k.data, k.size);
                what = "del";
                rc = birch_del(w, t, bt_val(kb, k.size));
            }
        }
        birch_cursor_close(c);
    }
    for (int i = 1; i < FW_TABLES && rc == BIRCH_OK; i++) {
        what = "drop";
        rc = birch_table_drop(w, fw_table_name[i]);
        if (rc == BIRCH_NOTFOUND) rc = BIRCH_OK;
    }
    if (rc) {
        birch_txn_abort(w);
        snprintf(err, errsz, "wipe: %s returned %d (%s)", what, rc, birch_strerror(rc));
        return 1;
    }
    rc = birch_txn_commit(w);
    if (rc) {
        snprintf(err, errsz, "wipe: commit returned %d (%s)", rc, birch_strerror(rc));
        return 1;
    }
    char msg[512] = "";
    rc = birch_check(db, msg, sizeof msg);
    if (rc) {
        snprintf(err, errsz, "check after wiping everything: %d (%s): %s", rc, birch_strerror(rc), msg);
        return 1;
    }
    return 0;
}

void fw_copy(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(in >= 0, "open(%s): %s", from, strerror(errno));
    unlink(to); /* a new file: see fio_powerloss */
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ck_assert_msg(out >= 0, "open(%s): %s", to, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        ck_assert_msg(write(out, buf, (size_t)n) == n, "write(%s): %s", to, strerror(errno));
    ck_assert_msg(n == 0, "read(%s): %s", from, strerror(errno));
    close(in);
    close(out);
}

void fw_create(const char *path)
{
    birch_options o;
    birch_options_init(&o);
    o.page_size = 512;
    birch_db *db = NULL;
    int rc = birch_open(path, &o, &db);
    ck_assert_msg(rc == BIRCH_OK, "creating %s: %d (%s)", path, rc, birch_strerror(rc));
    ck_assert_int_eq(birch_close(db), BIRCH_OK);
}

void fw_set_budget(birch_db *db, uint64_t bytes)
{
    db->dirty_budget = bytes;
}

uint64_t fw_spills_of(const char *tmpl, const char *path, const fw *w, birch_options o, uint64_t budget)
{
    fw_copy(tmpl, path);
    birch_db *db = NULL;
    fio f;
    fio_init(&f, 0);
    BT_OK(bi_open_io(path, &o, &f.io, &db));
    fw_set_budget(db, budget);
    for (int k = 1; k <= w->ntxn; k++) BT_OK(fw_txn(db, w, k, NULL));
    uint64_t n = db->spilled_pages;
    BT_OK(birch_close(db));
    fio_free(&f);
    return n;
}

int fw_asan(void)
{
    return bt_asan();
}
