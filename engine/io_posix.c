/*
 * io_posix.c - the default io layer (engine/io.h) over POSIX file calls.
 *
 * Every function maps errno to a BIRCH_E* code at the point where the
 * system call fails, so the engine above never sees errno.  Interrupted
 * calls (EINTR) are retried, and short reads and writes are continued,
 * because the engine treats every io operation as all-or-nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pwritev, flock, fdatasync, posix_fallocate, fallocate, EDQUOT, O_TMPFILE, renameat2, madvise */
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64 /* 64-bit off_t on 32-bit systems too */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/magic.h>
#include <sys/vfs.h>
#endif

#include "birch.h"
#include "err.h"
#include "io.h"

/* The largest byte count passed to one pread/pwrite: stays far below
 * SSIZE_MAX (where the result would be implementation-defined) and below
 * Linux's own 2 GiB - 4 KiB cap, so each call makes progress. */
#define IO_CHUNK ((size_t)1 << 30)

/* How many iovecs one pwritev may take; POSIX guarantees IOV_MAX exists,
 * but fall back to its minimum (_XOPEN_IOV_MAX = 16) if a libc hides it. */
#ifdef IOV_MAX
#define IO_IOV_MAX IOV_MAX
#else
#define IO_IOV_MAX 16
#endif

/* The largest file offset off_t can hold.  Offsets are uint64_t in io.h,
 * so a narrower off_t would silently wrap them. */
_Static_assert(sizeof(off_t) == 8, "birch needs a 64-bit off_t");
#define IO_OFF_MAX ((uint64_t)INT64_MAX)

struct bi_file {
    int fd;
    /* A temporary file not yet published (create_temp): */
    int unnamed;     /* an O_TMPFILE file, which vanishes at close */
    char *temp_name; /* a named one, which close removes */
    char *target;    /* where publish puts it (path, symbolic links followed) */
    /* The lazy write path (posix_write_lazy): */
    int writable;     /* opened for reading and writing */
    int lazy_checked; /* lazy_ok is known */
    int lazy_ok;      /* stores through a map cannot fault on this file */
    uint64_t rlen;    /* the length of the last read map */
    uint8_t *wmap;    /* a writable shared map of the file, or NULL */
    uint64_t wlen;    /* its length */
    uint64_t wsize;   /* [0, wsize) has its blocks reserved */
};

/* errno after a failed write or space reservation: a full disk, file size
 * limit or quota is BIRCH_EFULL so the caller can tell "no room" from a
 * failing device; everything else is BIRCH_EIO.  what names the call. */
static int full_or_eio(int e, const char *what)
{
    switch (e) {
    case ENOSPC:
    case EFBIG:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return bi_err_os(BIRCH_EFULL, e, "%s: no room for the file", what);
    default:
        return bi_err_os(BIRCH_EIO, e, "%s", what);
    }
}

static int bad_args(const char *what)
{
    return bi_err(BIRCH_EINVAL, "io: %s: invalid arguments", what);
}

/* What a file that is not a regular file is, for messages. */
static const char *kind_of(mode_t m)
{
    return S_ISDIR(m)                    ? "a directory"
           : S_ISFIFO(m)                 ? "a FIFO"
           : S_ISSOCK(m)                 ? "a socket"
           : S_ISCHR(m) || S_ISBLK(m)    ? "a device"
                                         : "not a regular file";
}

int bi_io_posix_open_error(int e, const char *path, int create)
{
    struct stat st;
    switch (e) {
    case ENOMEM: return bi_err_os(BIRCH_ENOMEM, e, "cannot open '%s'", path);
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return bi_err_os(BIRCH_EFULL, e, "cannot create '%s'", path);
    case ENOENT:
        return bi_err_os(BIRCH_NOTFOUND, e, create ? "cannot create '%s' (does its directory exist?)" : "cannot open '%s'",
                         path);
    case ENOTDIR: return bi_err_os(BIRCH_NOTFOUND, e, "cannot open '%s' (a part of the path is not a directory)", path);
    case EACCES:
    case EPERM:
        return bi_err_os(BIRCH_EACCES, e, create ? "cannot open or create '%s' (the permissions of the file or its "
                                                   "directory)" : "cannot open '%s' (the file's permissions)", path);
    case EROFS: return bi_err_os(BIRCH_EREADONLY, e, "cannot open '%s' for writing (open it read-only)", path);
    case EISDIR: return bi_err_os(BIRCH_ENOTDB, e, "cannot open '%s'", path);
    case ENXIO: /* a socket, or a device with nothing behind it */
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            return bi_err_os(BIRCH_ENOTDB, e, "'%s' is %s, not a birch database file", path, kind_of(st.st_mode));
        return bi_err_os(BIRCH_EIO, e, "cannot open '%s'", path);
    case ENAMETOOLONG:
    case ELOOP: return bi_err_os(BIRCH_EINVAL, e, "cannot open '%s'", path);
    default: return bi_err_os(BIRCH_EIO, e, "cannot open '%s'", path);
    }
}

/* A database is a regular file: a directory, FIFO, socket or device is
 * refused with BIRCH_ENOTDB (the FIFO was opened without blocking). */
static int check_regular(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return bi_err_os(BIRCH_EIO, errno, "cannot stat '%s'", path);
    if (S_ISREG(st.st_mode)) return BIRCH_OK;
    return bi_err(BIRCH_ENOTDB, "'%s' is %s, not a birch database file", path, kind_of(st.st_mode));
}

/* True when [off, off + len) is addressable with off_t. */
static int range_ok(uint64_t off, uint64_t len)
{
    return off <= IO_OFF_MAX && len <= IO_OFF_MAX - off;
}

static int posix_open(void *ctx, const char *path, unsigned flags, bi_file **out)
{
    (void)ctx; /* bi_io_posix needs no context */
    if (path == NULL || out == NULL)
        return bad_args("open");
    *out = NULL;

    /* O_CLOEXEC: a child started by the application must not inherit the
     * descriptor, which would also keep the flock() lock alive in it.
     * O_NONBLOCK: opening a FIFO must not wait for a writer; it is cleared
     * once the file is known to be a regular file. */
    int oflags = O_CLOEXEC | O_NONBLOCK;
    if (flags & BI_IO_RDONLY)
        oflags |= O_RDONLY; /* read-only never creates */
    else
        oflags |= O_RDWR | ((flags & BI_IO_CREATE) ? O_CREAT : 0);

    bi_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return bi_err(BIRCH_ENOMEM, "out of memory opening '%s'", path);

    int fd;
    do {
        fd = open(path, oflags, 0644);
    } while (fd < 0 && errno == EINTR); /* possible on slow devices/FIFOs */
    if (fd < 0) {
        int e = errno;
        free(f);
        return bi_io_posix_open_error(e, path, (flags & BI_IO_CREATE) != 0);
    }
    int rc = check_regular(fd, path);
    if (rc == BIRCH_OK && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
        rc = bi_err_os(BIRCH_EIO, errno, "cannot open '%s'", path);
    if (rc) {
        (void)close(fd);
        free(f);
        return rc;
    }
    f->fd = fd;
    f->writable = !(flags & BI_IO_RDONLY);
    *out = f;
    return BIRCH_OK;
}

static void posix_close(bi_file *f)
{
    if (f == NULL)
        return;
    if (f->temp_name) { /* never published: nothing may find it */
        (void)unlink(f->temp_name);
        free(f->temp_name);
    }
    free(f->target);
    if (f->wmap) (void)munmap(f->wmap, (size_t)f->wlen);
    /* No retry on EINTR: Linux releases the descriptor even then, and a
     * retry could close a descriptor another thread just opened.  Errors of
     * earlier writes have already been reported by sync. */
    (void)close(f->fd);
    free(f);
}

static int posix_lock(bi_file *f, int exclusive)
{
    if (f == NULL)
        return bad_args("lock");
    /* flock() locks belong to the open file description, so a second open
     * of the same file in this process conflicts too, as birch.h promises
     * (fcntl locks would not: they are per process).  LOCK_NB: birch_open
     * reports BIRCH_EBUSY instead of waiting. */
    int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
    int r;
    do {
        r = flock(f->fd, op);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return BIRCH_OK;
    if (errno == EWOULDBLOCK || errno == EAGAIN)
        return bi_err(BIRCH_EBUSY, "the database file is locked by another handle (in this or another process)");
    if (errno == ENOLCK) return bi_err_os(BIRCH_ENOMEM, errno, "cannot lock the database file");
    return bi_err_os(BIRCH_EIO, errno, "cannot lock the database file");
}

static int posix_read(bi_file *f, void *buf, size_t len, uint64_t off)
{
    if (f == NULL || (buf == NULL && len > 0) || !range_ok(off, len))
        return bad_args("read");
    char *p = buf;
    while (len > 0) {
        size_t want = len < IO_CHUNK ? len : IO_CHUNK;
        ssize_t n = pread(f->fd, p, want, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return bi_err_os(BIRCH_EIO, errno, "reading %zu bytes at offset %llu", want, (unsigned long long)off);
        }
        if (n == 0) /* end of file: the engine asked for a page that is not there (io.h: read past EOF) */
            return bi_err(BIRCH_EIO, "reading at offset %llu: past the end of the file", (unsigned long long)off);
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return BIRCH_OK;
}

/* Writes one buffer completely with pwrite; used for the unwritten tail of
 * an iovec that a pwritev wrote only partly. */
static int write_all(int fd, const char *p, size_t len, uint64_t off)
{
    while (len > 0) {
        size_t want = len < IO_CHUNK ? len : IO_CHUNK;
        ssize_t n = pwrite(fd, p, want, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return full_or_eio(errno, "writing the database file");
        }
        if (n == 0) /* no progress and no error: don't spin */
            return bi_err(BIRCH_EIO, "writing the database file: no progress");
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return BIRCH_OK;
}

static int posix_writev(bi_file *f, const struct iovec *iov, int cnt, uint64_t off)
{
    if (f == NULL || cnt < 0 || (iov == NULL && cnt > 0))
        return bad_args("writev");
    uint64_t total = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
            return bad_args("writev");
        total += iov[i].iov_len;
        if (total < iov[i].iov_len) /* wrapped around */
            return bad_args("writev");
    }
    if (!range_ok(off, total))
        return bad_args("writev");

    /* The caller's array is const, so a partly written iovec is never
     * adjusted in place: its tail is finished with write_all, and whole
     * iovecs go to pwritev straight from the caller's array, at most
     * IO_IOV_MAX at a time (more is EINVAL). */
    int i = 0;
    while (i < cnt) {
        int n = cnt - i < IO_IOV_MAX ? cnt - i : IO_IOV_MAX;
        ssize_t w = pwritev(f->fd, iov + i, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return full_or_eio(errno, "writing the database file");
        }
        uint64_t want = 0;
        for (int k = 0; k < n; k++)
            want += iov[i + k].iov_len;
        if (w == 0 && want > 0) /* no progress and no error: don't spin */
            return bi_err(BIRCH_EIO, "writing the database file: no progress");
        off += (uint64_t)w;

        /* Skip the iovecs written whole; finish the one written in part. */
        size_t done = (size_t)w;
        while (i < cnt && done >= iov[i].iov_len && (done > 0 || iov[i].iov_len == 0)) {
            done -= iov[i].iov_len;
            i++;
        }
        if (done > 0) {
            const char *base = iov[i].iov_base;
            size_t rest = iov[i].iov_len - done;
            int rc = write_all(f->fd, base + done, rest, off);
            if (rc != BIRCH_OK)
                return rc;
            off += rest;
            i++;
        }
    }
    return BIRCH_OK;
}

static void lazy_unmap_pages(bi_file *f);

static int posix_sync(bi_file *f)
{
    if (f == NULL)
        return bad_args("sync");
    /* fdatasync, not fsync: the file's data and its size reach the disk,
     * but not timestamps, which birch never reads.  No retry on failure: after
     * a failed fsync Linux may have dropped the dirty pages, so the only safe
     * answer is an error (the engine then refuses writes until reopened). */
    int r;
    do {
        r = fdatasync(f->fd);
    } while (r < 0 && errno == EINTR);
    if (r != 0) return bi_err_os(BIRCH_EIO, errno, "syncing the database file (fdatasync)");
    lazy_unmap_pages(f);
    return BIRCH_OK;
}

static int posix_size(bi_file *f, uint64_t *size)
{
    if (f == NULL || size == NULL)
        return bad_args("size");
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return bi_err_os(BIRCH_EIO, errno, "reading the database file's size");
    *size = (uint64_t)st.st_size;
    return BIRCH_OK;
}

/* Sets the size with ftruncate; used to shrink, and to grow where the file
 * system cannot reserve space. */
static int truncate_to(int fd, uint64_t size)
{
    int r;
    do {
        r = ftruncate(fd, (off_t)size);
    } while (r < 0 && errno == EINTR);
    return r == 0 ? BIRCH_OK : full_or_eio(errno, "setting the database file's size");
}

static int posix_resize(bi_file *f, uint64_t size)
{
    if (f == NULL || size > IO_OFF_MAX)
        return bad_args("resize");
    uint64_t cur;
    int rc = posix_size(f, &cur);
    if (rc != BIRCH_OK)
        return rc;
    if (size == cur)
        return BIRCH_OK;
    if (size < cur) {
        if (f->wsize > size) f->wsize = size;
        return truncate_to(f->fd, size);
    }

    /* Growing: reserve the blocks now, so that a full disk shows up here as
     * BIRCH_EFULL and not as a failed write in the middle of a commit.
     * posix_fallocate returns the error number instead of setting errno. */
    int e;
    do {
        e = posix_fallocate(f->fd, (off_t)cur, (off_t)(size - cur));
    } while (e == EINTR);
    if (e == 0) {
        if (f->wsize == cur) f->wsize = size; /* the reserved prefix grows with it */
        return BIRCH_OK;
    }
    if (e == EOPNOTSUPP || e == EINVAL)
        return truncate_to(f->fd, size); /* e.g. tmpfs quirks, some NFS */
    return full_or_eio(e, "growing the database file");
}

/* ---- The lazy write path ------------------------------------------------------ */

/* A BIRCH_DURABLE_NONE commit writes a few pages that are not synced for up
 * to a second.  pwritev costs a system call for each run of pages (about 6
 * for a one-put commit once free space is scattered), and that was most of
 * such a commit's time; a store through a writable shared map of the file
 * costs a memcpy, the same page cache taking the bytes (docs/DESIGN.md
 * 4.1).  A store through a map cannot return an error: where the file
 * system would need a new block it raises SIGBUS instead of ENOSPC.  So
 * the path is taken only where no store can need one:
 *   - the file system overwrites in place (ext2/3/4, tmpfs; not a
 *     copy-on-write one such as Btrfs, which allocates at every write,
 *     nor XFS, whose reflinked blocks stay shared after fallocate);
 *   - the bytes lie in [0, wsize), a prefix with every block reserved:
 *     the file as it was at the first lazy write, reserved whole then by
 *     fallocate (which fills the holes of a sparse copy and leaves
 *     the rest as it is), grown since by posix_resize's posix_fallocate;
 *   - the write is small (LAZY_MAX): a store to a page that is not in the
 *     page cache reads it from the disk first, which pwritev of whole pages
 *     does not, and large writes (a big commit, a spill) are not worth the
 *     map's page faults.
 * Anything else goes to posix_writev.  The writable map is this file's own
 * and never leaves io_posix.c: the engine and the application read only
 * through the read-only map, where a stray store faults. */
#define LAZY_MAX ((uint64_t)256 << 10)

/* Whether stores through a map of fd overwrite in place. */
static int lazy_fs(int fd)
{
#ifdef __linux__
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return 0;
    unsigned long t = (unsigned long)st.f_type;
    /* EXT4's is ext2's and ext3's.  Not XFS: blocks shared by a reflink
     * copy stay shared after fallocate, so a store may need a block. */
    return t == EXT4_SUPER_MAGIC || t == TMPFS_MAGIC;
#else
    (void)fd;
    return 0;
#endif
}

/* Reserves the blocks of the whole file; sets wsize to its size if done. */
static int lazy_reserve(bi_file *f)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0 || st.st_size < 0) return 0;
    /* fallocate(2), not posix_fallocate: where the file system lacks it
     * (an ext3 file without extents) the C library would emulate it by
     * reading and writing a byte of every block of the file; then the
     * path stays off instead. */
    int r = 0;
    if (st.st_size > 0) {
        do {
            r = fallocate(f->fd, 0, 0, st.st_size);
        } while (r != 0 && errno == EINTR);
    }
    if (r != 0) return 0; /* a full disk, say: pwritev will say so */
    f->wsize = (uint64_t)st.st_size;
    return 1;
}

/* Maps the last read map's length of f writable, if the lazy path is on
 * and the map it has is shorter; on failure it keeps the old one. */
static void lazy_map(bi_file *f)
{
    if (!f->lazy_ok || f->rlen <= f->wlen) return;
    void *w = mmap(NULL, (size_t)f->rlen, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (w == MAP_FAILED) return;
    if (f->wmap) (void)munmap(f->wmap, (size_t)f->wlen); /* no pointer into it outlives a write */
    f->wmap = w;
    f->wlen = f->rlen;
}

/* Every page stored through the map stays mapped in this process, counted
 * in its resident set (VmRSS, VmHWM) beside the read map's mapping of the
 * same page, until the map goes: 40,000 one-put commits on a 187 MiB file
 * took the process's file pages to 354 MiB, against 189 MiB by pwritev.  A
 * sync drops them (MADV_DONTNEED), which costs next to nothing: its
 * writeback has just write-protected each of them, so the next store to
 * one faults either way, and the bytes stay in the page cache (clean now;
 * a dirty entry would hand its dirty bit to the page).  What the map holds
 * is then what the commits since the last checkpoint stored. */
static void lazy_unmap_pages(bi_file *f)
{
    if (f->wmap) (void)madvise(f->wmap, (size_t)f->wlen, MADV_DONTNEED); /* page-aligned: mmap's */
}

static int posix_write_lazy(bi_file *f, const struct iovec *iov, int cnt, uint64_t off)
{
    uint64_t total = 0;
    if (f != NULL && f->writable && !f->lazy_checked) { /* the first lazy write */
        f->lazy_checked = 1;
        f->lazy_ok = lazy_fs(f->fd) && lazy_reserve(f);
        lazy_map(f);
    }
    if (f == NULL || f->wmap == NULL || cnt < 0 || (iov == NULL && cnt > 0))
        return posix_writev(f, iov, cnt, off); /* which checks the arguments */
    for (int i = 0; i < cnt; i++) {
        if ((iov[i].iov_base == NULL && iov[i].iov_len > 0) || iov[i].iov_len > LAZY_MAX)
            return posix_writev(f, iov, cnt, off);
        total += iov[i].iov_len;
    }
    uint64_t end = f->wsize < f->wlen ? f->wsize : f->wlen;
    if (total > LAZY_MAX || off > end || total > end - off)
        return posix_writev(f, iov, cnt, off);
    uint8_t *d = f->wmap + off;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len) memcpy(d, iov[i].iov_base, iov[i].iov_len);
        d += iov[i].iov_len;
    }
    return BIRCH_OK;
}

static int posix_map(bi_file *f, uint64_t len, void **addr)
{
    if (f == NULL || addr == NULL || len == 0)
        return bad_args("map");
    *addr = NULL;
    if (len > SIZE_MAX) /* cannot reserve that much address space */
        return bi_err(BIRCH_ENOMEM, "cannot map %llu bytes: more than the address space", (unsigned long long)len);
    /* Read-only and shared: readers see completed pwrite()s through the map
     * (one page cache), and a stray store through a value pointer faults
     * instead of corrupting the file. */
    void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED && errno == ENOMEM && f->wmap) {
        /* The writable map is a shortcut (the lazy path) as large as a read
         * map: under an address-space limit, the read map gets its room,
         * and writes go by pwritev while no writable map fits. */
        (void)munmap(f->wmap, (size_t)f->wlen);
        f->wmap = NULL;
        f->wlen = 0;
        p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, f->fd, 0);
    }
    if (p == MAP_FAILED)
        return bi_err_os(BIRCH_ENOMEM, errno, "cannot map %llu bytes of the database file", (unsigned long long)len);
    *addr = p;
    f->rlen = len;
    lazy_map(f);
    return BIRCH_OK;
}

static void posix_unmap(bi_file *f, void *addr, uint64_t len)
{
    (void)f;
    if (addr == NULL || len == 0 || len > SIZE_MAX)
        return;
    (void)munmap(addr, (size_t)len); /* fails only on bad arguments */
}

/* MADV_DONTNEED on a shared file mapping only removes this process's page
 * table entries for the range: the pages stay in the page cache (dirty ones
 * are written back as usual) and the file holds the bytes, so every pointer
 * into the map stays valid and the next access faults the same bytes back
 * in.  (On private or anonymous memory it would discard the data instead,
 * which is why the memory backend does not do this.)  Not MADV_PAGEOUT or
 * MADV_COLD: those push the pages out of the page cache, and the next read
 * would then go to the disk.  The range is widened to whole system pages
 * (a database page may be smaller than one): dropping a neighbour's page
 * costs it only a fault.  madvise fails only on bad arguments or a range
 * not mapped, and the call is advice: its result is ignored. */
static void posix_drop_resident(bi_file *f, void *addr, uint64_t len)
{
    (void)f;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t pg = ps > 0 ? (uintptr_t)ps : 4096, a = (uintptr_t)addr;
    if (addr == NULL || len == 0 || len > UINTPTR_MAX - pg || a > UINTPTR_MAX - pg - len)
        return; /* nothing to drop, or a range no map can hold */
    uintptr_t lo = a & ~(pg - 1), hi = (a + (uintptr_t)len + pg - 1) & ~(pg - 1);
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* ---- Creating a file all-or-nothing ------------------------------------------ */

/* How many unique names a named temporary file tries before giving up. */
#define TEMP_TRIES 100

/* The directory of path, malloc'd ("." for a bare name); NULL if out of
 * memory. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* The file path's chain of symbolic links ends at (path itself when it is
 * no link), malloc'd; NULL if out of memory.  Only the last component:
 * links among the directories are followed by every call anyway.  A loop
 * stops after 40 links, and the calls on the result report it. */
static char *resolve_links(const char *path)
{
    char *p = strdup(path);
    for (int hops = 0; p && hops < 40; hops++) {
        struct stat st;
        char link[4096];
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode)) break;
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n <= 0) break;
        link[n] = 0;
        char *dir = link[0] == '/' ? NULL : dir_of(p);
        size_t len = (dir ? strlen(dir) + 1 : 0) + (size_t)n + 1;
        char *next = (link[0] == '/' || dir) ? malloc(len) : NULL;
        if (next) snprintf(next, len, "%s%s%s", dir ? dir : "", dir ? "/" : "", link);
        free(dir);
        free(p);
        p = next;
    }
    return p;
}

/* The code and message for a failed creation or naming (what) of path. */
static int create_error(int e, const char *what, const char *path)
{
    switch (e) {
    case ENOMEM: return bi_err_os(BIRCH_ENOMEM, e, "%s '%s'", what, path);
    case ENOSPC:
    case EFBIG:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return bi_err_os(BIRCH_EFULL, e, "%s '%s'", what, path);
    case ENOENT: return bi_err_os(BIRCH_NOTFOUND, e, "%s '%s' (does its directory exist?)", what, path);
    case ENOTDIR: return bi_err_os(BIRCH_NOTFOUND, e, "%s '%s' (a part of the path is not a directory)", what, path);
    case EACCES:
    case EPERM: return bi_err_os(BIRCH_EACCES, e, "%s '%s'", what, path);
    case EROFS: return bi_err_os(BIRCH_EREADONLY, e, "%s '%s' (open it read-only)", what, path);
    case EEXIST: return bi_err(BIRCH_EXISTS, "%s '%s': it exists already", what, path);
    case ENAMETOOLONG:
    case ELOOP: return bi_err_os(BIRCH_EINVAL, e, "%s '%s'", what, path);
    default: return bi_err_os(BIRCH_EIO, e, "%s '%s'", what, path);
    }
}

/* path + ".new-<unique>", malloc'd: unique per call (the address of a
 * local, the time and the try), so that concurrent creations in one
 * directory, in this process or another, try different names. */
static char *temp_name(const char *path, unsigned attempt)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long u = (unsigned long long)(uintptr_t)&ts ^ (unsigned long long)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
    size_t n = strlen(path) + 64;
    char *name = malloc(n);
    if (name) snprintf(name, n, "%s.new-%ld-%llx-%u", path, (long)getpid(), u & 0xffffffffffull, attempt);
    return name;
}

/* An unnamed file in dir (O_TMPFILE), or -1 with errno.  Only where it can
 * be given a name later: through /proc/self/fd (linkat with
 * AT_EMPTY_PATH needs a capability on older kernels). */
static int open_unnamed(const char *dir)
{
#ifdef O_TMPFILE
    if (access("/proc/self/fd", X_OK) != 0) {
        errno = EOPNOTSUPP;
        return -1;
    }
    int fd;
    do {
        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    return fd;
#else
    (void)dir;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* A named temporary file beside path; its name goes to f->temp_name. */
static int open_named(bi_file *f, const char *path)
{
    for (unsigned attempt = 0; attempt < TEMP_TRIES; attempt++) {
        char *name = temp_name(path, attempt);
        if (!name) return bi_err(BIRCH_ENOMEM, "out of memory creating a file beside '%s'", path);
        int fd;
        do {
            fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        } while (fd < 0 && errno == EINTR);
        if (fd >= 0) {
            f->fd = fd;
            f->temp_name = name;
            return BIRCH_OK;
        }
        int e = errno;
        free(name);
        if (e != EEXIST) return create_error(e, "cannot create a temporary file beside", path);
    }
    return bi_err(BIRCH_EIO, "cannot create a temporary file beside '%s': %d names taken", path, TEMP_TRIES);
}

static int posix_create_temp(void *ctx, const char *path, bi_file **out)
{
    const bi_posix_ctx *pc = ctx;
    if (path == NULL || out == NULL)
        return bad_args("create_temp");
    *out = NULL;
    bi_file *f = calloc(1, sizeof *f);
    char *target = f ? resolve_links(path) : NULL;
    char *dir = target ? dir_of(target) : NULL;
    if (!f || !target || !dir) {
        free(f);
        free(target);
        free(dir);
        return bi_err(BIRCH_ENOMEM, "out of memory creating '%s'", path);
    }
    f->target = target;
    int rc = BIRCH_OK;
    f->fd = pc && pc->no_tmpfile ? -1 : open_unnamed(dir);
    if (f->fd >= 0) {
        f->unnamed = 1;
    } else if (pc && pc->no_tmpfile) {
        rc = open_named(f, target);
    } else {
        /* Not supported here (an old kernel: EISDIR; the file system:
         * EOPNOTSUPP), or no /proc: a named file instead.  Other errors
         * (a missing directory, permissions, a full disk) are the
         * answer. */
        int e = errno;
        if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL || e == ENOSYS) rc = open_named(f, target);
        else rc = create_error(e, "cannot create a file in the directory of", path);
    }
    free(dir);
    if (rc) {
        free(f->target);
        free(f);
        return rc;
    }
    f->writable = 1;
    *out = f;
    return BIRCH_OK;
}

/* Links the unnamed file fd as name: 0, or -1 with errno. */
static int link_unnamed(int fd, const char *name)
{
    if (linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH) == 0) return 0;
    if (errno == EEXIST) return -1;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
}

/* Gives the unnamed file a unique name beside path (f->temp_name), as the
 * first step of replacing path with it. */
static int name_unnamed(bi_file *f, const char *path)
{
    for (unsigned attempt = 0; attempt < TEMP_TRIES; attempt++) {
        char *name = temp_name(path, attempt);
        if (!name) return bi_err(BIRCH_ENOMEM, "out of memory naming a file beside '%s'", path);
        if (link_unnamed(f->fd, name) == 0) {
            f->temp_name = name;
            f->unnamed = 0;
            return BIRCH_OK;
        }
        int e = errno;
        free(name);
        if (e != EEXIST) return create_error(e, "cannot name the new file beside", path);
    }
    return bi_err(BIRCH_EIO, "cannot name the new file beside '%s': %d names taken", path, TEMP_TRIES);
}

/* Moves the named temporary file to path, only while path does not
 * exist. */
static int rename_noreplace(bi_file *f, const char *path)
{
    if (renameat2(AT_FDCWD, f->temp_name, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return BIRCH_OK;
    if (errno != EINVAL && errno != ENOSYS) return create_error(errno, "cannot create", path);
    /* A file system without RENAME_NOREPLACE: link fails if path exists. */
    if (link(f->temp_name, path) != 0) return create_error(errno, "cannot create", path);
    (void)unlink(f->temp_name);
    return BIRCH_OK;
}

/* Moves the named temporary file over path, atomically.  The new file
 * takes the old one's permission bits (an application that made the empty
 * file 0600 keeps it private) and, where allowed, its owner. */
static int rename_over(bi_file *f, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (fchmod(f->fd, st.st_mode & 07777) != 0)
            return create_error(errno, "cannot give the new file the permissions of", path);
        if (fchown(f->fd, st.st_uid, st.st_gid) != 0) {
            /* needs privileges: best effort */
        }
    }
    return rename(f->temp_name, path) == 0 ? BIRCH_OK : create_error(errno, "cannot replace", path);
}

static int posix_publish(bi_file *f, const char *path, int replace)
{
    if (f == NULL || path == NULL || (!f->unnamed && !f->temp_name))
        return bad_args("publish");
    int rc = BIRCH_OK;
    const char *to = f->target;
    if (f->unnamed && !replace) {
        if (link_unnamed(f->fd, to) != 0) return create_error(errno, "cannot create", path);
        f->unnamed = 0;
        return BIRCH_OK;
    }
    /* rename() replaces atomically, but needs a name to move: an unnamed
     * file gets one first (a crash right then leaves it behind, whole). */
    if (f->unnamed) rc = name_unnamed(f, to);
    if (rc == BIRCH_OK) rc = replace ? rename_over(f, to) : rename_noreplace(f, to);
    if (rc) return rc;
    free(f->temp_name);
    f->temp_name = NULL;
    return BIRCH_OK;
}

static int posix_sync_dir(bi_file *f)
{
    if (f == NULL || f->target == NULL)
        return bad_args("sync_dir");
    char *dir = dir_of(f->target);
    if (!dir) return bi_err(BIRCH_ENOMEM, "out of memory syncing the directory of '%s'", f->target);
    int fd;
    do {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    int rc = BIRCH_OK;
    if (fd < 0) {
        rc = bi_err_os(BIRCH_EIO, errno, "cannot open the directory '%s' to sync it", dir);
    } else {
        /* EINVAL: a file system that cannot sync directories (nothing to
         * make durable there). */
        if (fsync(fd) != 0 && errno != EINVAL) rc = bi_err_os(BIRCH_EIO, errno, "syncing the directory '%s'", dir);
        (void)close(fd);
    }
    free(dir);
    return rc;
}

static int posix_at_path(bi_file *f, const char *path)
{
    if (f == NULL || path == NULL)
        return bad_args("at_path");
    struct stat mine, named;
    if (fstat(f->fd, &mine) != 0) return bi_err_os(BIRCH_EIO, errno, "cannot stat '%s'", path);
    if (stat(path, &named) != 0) {
        if (errno == ENOENT) return bi_err(BIRCH_NOTFOUND, "'%s' was removed while it was being opened", path);
        return bi_err_os(BIRCH_EIO, errno, "cannot stat '%s'", path);
    }
    if (mine.st_dev == named.st_dev && mine.st_ino == named.st_ino) return BIRCH_OK;
    return bi_err(BIRCH_NOTFOUND, "'%s' was replaced while it was being opened", path);
}

/* ---- Sharing between processes ------------------------------------------------ */

static int posix_open_lock(bi_file *data, const char *path, bi_file **out, uint64_t id[2])
{
    if (data == NULL || path == NULL || out == NULL || id == NULL)
        return bad_args("open_lock");
    *out = NULL;
    struct stat st;
    if (fstat(data->fd, &st) != 0) return bi_err_os(BIRCH_EIO, errno, "cannot stat '%s'", path);
    id[0] = (uint64_t)st.st_dev;
    id[1] = (uint64_t)st.st_ino;
    char *target = resolve_links(path);
    size_t n = target ? strlen(target) : 0;
    char *name = target ? malloc(n + sizeof "-lock") : NULL;
    bi_file *f = name ? calloc(1, sizeof *f) : NULL;
    if (f == NULL) {
        free(target);
        free(name);
        return bi_err(BIRCH_ENOMEM, "out of memory opening the lock file of '%s'", path);
    }
    memcpy(name, target, n);
    memcpy(name + n, "-lock", sizeof "-lock");
    free(target);
    int fd;
    do {
        fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, st.st_mode & 0666);
    } while (fd < 0 && errno == EINTR);
    int rc = BIRCH_OK;
    if (fd < 0) {
        int e = errno;
        rc = e == EROFS   ? bi_err_os(BIRCH_EREADONLY, e, "cannot open the lock file '%s' for writing", name)
             : e == EACCES || e == EPERM ? bi_err_os(BIRCH_EACCES, e, "cannot open the lock file '%s' for writing", name)
                                         : bi_io_posix_open_error(e, name, 1);
    } else {
        rc = check_regular(fd, name);
        if (rc == BIRCH_OK && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
            rc = bi_err_os(BIRCH_EIO, errno, "cannot open '%s'", name);
        if (rc) (void)close(fd);
    }
    free(name);
    if (rc) {
        free(f);
        return rc;
    }
    f->fd = fd;
    f->writable = 1;
    *out = f;
    return BIRCH_OK;
}

/* Open file description locks (F_OFD_*, Linux 3.15): owned by the open,
 * not the process, so two handles in one process exclude each other, and
 * closing one descriptor of the file does not drop another open's locks
 * (POSIX fcntl locks would do both wrong). */
static int posix_byte_lock(bi_file *f, uint64_t off, int type, int wait)
{
    if (f == NULL || off > IO_OFF_MAX - 1 || type < BI_LK_NONE || type > BI_LK_WRITE)
        return bad_args("byte_lock");
    struct flock fl = {.l_type = type == BI_LK_NONE ? F_UNLCK : type == BI_LK_READ ? F_RDLCK : F_WRLCK,
                       .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1, .l_pid = 0};
    int r;
    do {
        r = fcntl(f->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return BIRCH_OK;
    if (errno == EAGAIN || errno == EACCES) return bi_err(BIRCH_EBUSY, "the lock is held by another open of the file");
    if (errno == ENOLCK) return bi_err_os(BIRCH_ENOMEM, errno, "cannot lock the file");
    return bi_err_os(BIRCH_EIO, errno, "cannot lock the file");
}

static int posix_byte_held(bi_file *f, uint64_t off, int type)
{
    if (f == NULL || off > IO_OFF_MAX - 1 || (type != BI_LK_READ && type != BI_LK_WRITE))
        return bad_args("byte_held");
    struct flock fl = {.l_type = type == BI_LK_READ ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET,
                       .l_start = (off_t)off, .l_len = 1, .l_pid = 0};
    if (fcntl(f->fd, F_OFD_GETLK, &fl) != 0) return bi_err_os(BIRCH_EIO, errno, "cannot test a lock of the file");
    return fl.l_type != F_UNLCK;
}

static int posix_map_rw(bi_file *f, uint64_t len, void **addr)
{
    if (f == NULL || addr == NULL || len == 0 || len > SIZE_MAX)
        return bad_args("map_rw");
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED) return bi_err_os(BIRCH_ENOMEM, errno, "cannot map the lock file");
    *addr = p;
    return BIRCH_OK;
}

const bi_io_ops bi_io_posix = {
    .open = posix_open,
    .close = posix_close,
    .lock = posix_lock,
    .read = posix_read,
    .writev = posix_writev,
    .write_lazy = posix_write_lazy,
    .sync = posix_sync,
    .size = posix_size,
    .resize = posix_resize,
    .map = posix_map,
    .unmap = posix_unmap,
    .drop_resident = posix_drop_resident,
    .create_temp = posix_create_temp,
    .publish = posix_publish,
    .sync_dir = posix_sync_dir,
    .at_path = posix_at_path,
    .open_lock = posix_open_lock,
    .byte_lock = posix_byte_lock,
    .byte_held = posix_byte_held,
    .map_rw = posix_map_rw,
};
