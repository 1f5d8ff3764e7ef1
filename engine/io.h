/*
 * io.h - the io layer: every byte birch reads from or writes to its file
 * goes through one table of operations.
 *
 * The default table (bi_io_posix) uses pread/pwrite/fdatasync/flock/mmap.
 * Tests swap in tables that inject faults or simulate power loss, and an
 * in-memory backend can implement the same table over anonymous memory.
 *
 * Every operation returns BIRCH_OK or a negative BIRCH_E* code:
 *   BIRCH_EIO for I/O errors, BIRCH_EFULL for ENOSPC/EFBIG/EDQUOT,
 *   BIRCH_EBUSY when a lock is held elsewhere, BIRCH_ENOMEM when a mapping
 *   or allocation fails, BIRCH_EINVAL for bad arguments.
 * Short reads and writes are retried inside the operation; a read past the
 * end of the file is BIRCH_EIO.
 */
#ifndef BIRCH_ENGINE_IO_H
#define BIRCH_ENGINE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct bi_file bi_file; /* defined by each backend */

/* open flags */
#define BI_IO_RDONLY 0x1u /* open for reading only; never create */
#define BI_IO_CREATE 0x2u /* create the file if it does not exist */

typedef struct bi_io_ops {
    /* Opens path.  ctx is the table's own context (bi_io.ctx). */
    int (*open)(void *ctx, const char *path, unsigned flags, bi_file **out);
    /* Closes the file; never fails (errors are already reported by sync). */
    void (*close)(bi_file *f);
    /* Takes a non-blocking whole-file lock, exclusive or shared; BIRCH_EBUSY
     * if another open file description holds a conflicting one.  Released by
     * close. */
    int (*lock)(bi_file *f, int exclusive);
    int (*read)(bi_file *f, void *buf, size_t len, uint64_t off);
    /* Writes the buffers iov[0..cnt) one after the other starting at off. */
    int (*writev)(bi_file *f, const struct iovec *iov, int cnt, uint64_t off);
    /* Writes like writev, for a commit that is not synced soon (a
     * BIRCH_DURABLE_NONE commit): the backend may take a path that costs
     * less now and more at the next sync, but what a read, a map, a crash
     * of the process or a sync sees is what writev would have left.  May
     * be NULL: the engine then calls writev (bi_io_write_lazy).  The POSIX
     * table stores small writes through a writable map of the file's
     * reserved blocks (io_posix.c says when; docs/DESIGN.md 4.1 why). */
    int (*write_lazy)(bi_file *f, const struct iovec *iov, int cnt, uint64_t off);
    /* Makes every completed write durable (fdatasync). */
    int (*sync)(bi_file *f);
    int (*size)(bi_file *f, uint64_t *size);
    /* Sets the file size.  Growing reserves the space on disk where the file
     * system allows, so that a full disk is reported here (BIRCH_EFULL) and
     * not later by a write. */
    int (*resize)(bi_file *f, uint64_t size);
    /* Maps len bytes from offset 0, read-only and shared, so that completed
     * writes are visible through the map.  len may exceed the file size:
     * the excess is address space reserved for growth, not to be touched
     * until the file covers it. */
    int (*map)(bi_file *f, uint64_t len, void **addr);
    void (*unmap)(bi_file *f, void *addr, uint64_t len);
    /* Drops this process's resident copies of the pages of [addr,
     * addr + len), a range inside a map that map returned: the resident set
     * (RSS, and so its peak) no longer counts them, while their bytes stay
     * what they are and readable through the map, by this thread or any
     * other (the next access reads them again, from the page cache or the
     * file).  Advice: it cannot fail (if dropping fails, the pages stay
     * resident, as if it had not been called).  Spilling calls it over the
     * pages a write transaction spilled and may have read back through
     * the map (docs/DESIGN.md 3.6). */
    void (*drop_resident)(bi_file *f, void *addr, uint64_t len);

    /* Creating a file all-or-nothing (docs/DESIGN.md, 3.4): a new database
     * is built in a temporary file, synced, then published under its name.
     *
     * Creates a new, empty file for path, open for reading and writing,
     * under no name birch would open, in the directory of path's target
     * (path, or the file its chain of symbolic links ends at, so that
     * publishing replaces or creates that file, not the link): an unnamed
     * file (O_TMPFILE) where the file system supports it, which a crash
     * leaves nowhere; else a new file named target + ".new-<unique>",
     * which close removes unless it was published, and which a crash
     * before publish leaves behind.  ctx is the table's own context
     * (bi_io.ctx). */
    int (*create_temp)(void *ctx, const char *path, bi_file **out);
    /* Gives the temporary file f the name of its target (path is the one
     * given to create_temp, for messages).  replace 0: only while the
     * target does not exist, else BIRCH_EXISTS (a file another open
     * created meanwhile is never replaced); replace 1: atomically in place
     * of the file there (rename), taking its permission bits.  f stays
     * open, locks included.  Durable only after sync_dir. */
    int (*publish)(bi_file *f, const char *path, int replace);
    /* Makes the name publish gave f durable (fsync of its directory). */
    int (*sync_dir)(bi_file *f);
    /* BIRCH_OK if path still names the file f is open on; BIRCH_NOTFOUND if
     * it names another file or none (replaced or removed since the open). */
    int (*at_path)(bi_file *f, const char *path);

    /* Sharing the file between processes (share.c, docs/DESIGN.md 12).  A
     * table that leaves open_lock NULL does not share: a handle then locks
     * the whole file with lock and keeps its reader table to itself.
     *
     * Opens the lock file of the database file data, which was opened at
     * path: path's target (symbolic links followed, as create_temp does) +
     * "-lock", for reading and writing, created if missing with data's
     * permission bits; id gets data's device and inode numbers, which the
     * lock file records.  BIRCH_EREADONLY (a read-only file system) or
     * BIRCH_EACCES (no permission) when it cannot be opened for writing. */
    int (*open_lock)(bi_file *data, const char *path, bi_file **out, uint64_t id[2]);
    /* Takes (BI_LK_READ, BI_LK_WRITE) or drops (BI_LK_NONE) a lock on the
     * byte at off of f, owned by f's open file description (so two opens
     * in one process conflict, and the kernel drops it when the last
     * descriptor of that description closes, a killed process included).
     * off may lie past the end of the file.  wait: block until it is
     * granted; otherwise BIRCH_EBUSY when another description holds a
     * conflicting lock.  A read lock needs f open for reading, a write
     * lock f open for writing. */
    int (*byte_lock)(bi_file *f, uint64_t off, int type, int wait);
    /* 1 if another open file description holds a lock on the byte at off
     * of f that conflicts with a lock of type, 0 if not, or a BIRCH_E*
     * code. */
    int (*byte_held)(bi_file *f, uint64_t off, int type);
    /* Maps len bytes of f from offset 0, readable, writable and shared
     * (the lock file, which the file covers). */
    int (*map_rw)(bi_file *f, uint64_t len, void **addr);
} bi_io_ops;

/* byte_lock types */
enum { BI_LK_NONE = 0, BI_LK_READ = 1, BI_LK_WRITE = 2 };

/* An io layer: an operations table and its context. */
typedef struct bi_io {
    const bi_io_ops *ops;
    void *ctx;
} bi_io;

/* ops->write_lazy where the table has it, else ops->writev. */
static inline int bi_io_write_lazy(const bi_io_ops *ops, bi_file *f, const struct iovec *iov, int cnt, uint64_t off)
{
    return ops->write_lazy ? ops->write_lazy(f, iov, cnt, off) : ops->writev(f, iov, cnt, off);
}

/* The POSIX implementation.  Its ctx is NULL, or a bi_posix_ctx. */
extern const bi_io_ops bi_io_posix;
/* The code and detail bi_io_posix's open gives for errno e on path
 * (create: BI_IO_CREATE was asked), e.g. EACCES -> BIRCH_EACCES, EROFS ->
 * BIRCH_EREADONLY, ENOENT -> BIRCH_NOTFOUND, EISDIR and ENXIO on a socket
 * -> BIRCH_ENOTDB.  Exposed so that tests can check every mapping, also
 * those the test machine cannot provoke. */
int bi_io_posix_open_error(int e, const char *path, int create);
typedef struct bi_posix_ctx {
    int no_tmpfile; /* create_temp makes named files, as where O_TMPFILE is
                       not supported (for tests of that path) */
} bi_posix_ctx;

/* The in-memory implementation (io_mem.c, BIRCH_BACKEND_MEMORY): every open
 * creates a new, empty "file" in anonymous memory, private to that open and
 * gone at close; path is only a name (may be NULL), lock always succeeds,
 * sync does nothing, and a read-only open is BIRCH_NOTFOUND.  The engine
 * initialises such a file in place (it is private: nothing can see it half
 * made); create_temp makes one more such file, and publish, sync_dir and
 * at_path succeed without doing anything, and drop_resident does nothing
 * (the map is the file's only copy).  The file can
 * grow up to the address space reserved at open: the larger of
 * BI_IO_MEM_DEFAULT_RESERVE and *(const uint64_t *)ctx when ctx is not NULL
 * (ctx is read by open only), or less if the address space is too tight;
 * growth past it is BIRCH_EFULL.  map returns the same address whatever the
 * length, and that memory is writable. */
extern const bi_io_ops bi_io_mem;
#define BI_IO_MEM_DEFAULT_RESERVE ((uint64_t)16 << 30) /* 16 GiB */

#endif /* BIRCH_ENGINE_IO_H */
