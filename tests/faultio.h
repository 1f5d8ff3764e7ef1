/*
 * faultio.h - a fault-injecting io layer for crash tests, and the
 * deterministic workload those tests run (tests/faultio.c).
 *
 * The CMake rules build every tests/test_*.c as its own program and link
 * only support.c into it, so the crash tests include faultio.c directly
 * (`#include "faultio.c"`), once per program.
 *
 * The layer (fio) wraps bi_io_posix, in the spirit of SQLite's crash-test
 * VFS:
 *   - Faults: the Nth call of a kind (write, sync, resize, map, read) fails
 *     with a chosen BIRCH_E* code, once or from then on (sticky).
 *   - Power loss: the layer keeps an in-memory "durable image" of the file
 *     (its content and size as of the last completed sync) and the list of
 *     writes since then.  At a chosen sync or write (or on request), it
 *     builds the post-crash image: the durable image, plus each pending
 *     write kept, dropped, or turned to garbage, independently for every
 *     512-byte sector it touches, with writes to the same sector possibly
 *     applied out of order; the file size is the durable one or, at random,
 *     the newest one (a resize is metadata: durable only after a sync).  The
 *     image is written to a new file, and from then on every operation of
 *     the layer fails with BIRCH_EIO (the machine is "off").  Each write is
 *     still forwarded to the real file, so the engine's map sees it.
 *   - Reboot: the image is reopened by a fresh layer.  (fio.boot is left
 *     from when weak metas were trusted per boot; since the format verifies
 *     page checksums on open, the engine needs no boot id.)
 *   - Creation: a temporary file (create_temp) has an image of its own;
 *     publish names it, and once the directory is synced (sync_dir) it is
 *     the file at the path.  A power loss between the two leaves either
 *     name; before publish, the old file (or none).
 *   - Process kill: the process raises SIGKILL on itself just before the
 *     Nth write, sync, resize or creation step (for tests that run the
 *     engine in a child).
 *   - Real fdatasync is skipped unless real_sync is set: the durability the
 *     tests check is simulated, and a real sync costs milliseconds.
 *
 * One fio serves one database file at a time (and a temporary file while
 * it is created) and is not thread safe.
 */
#ifndef BIRCH_TEST_FAULTIO_H
#define BIRCH_TEST_FAULTIO_H

#include <stdint.h>
#include <stddef.h>

#include "support.h"

/* ---- The io layer --------------------------------------------------------- */

/* Kinds of calls, for faults and counts: the last three are creation's
 * (create_temp, publish, sync_dir). */
enum { FIO_WRITE, FIO_SYNC, FIO_RESIZE, FIO_MAP, FIO_READ, FIO_CREATE, FIO_PUBLISH, FIO_SYNCDIR, FIO_KINDS };

extern const char *const fio_kind_name[FIO_KINDS];

#define FIO_SECTOR 512u

typedef struct fio_pending {
    uint64_t off;
    size_t len;
    uint8_t *data;
} fio_pending;

/* A file as the disk holds it: its content and size as of its last
 * completed sync, and the writes since. */
typedef struct fio_img {
    uint8_t *durable;
    uint64_t durable_size, durable_cap;
    uint64_t cur_size;
    fio_pending *pend;
    size_t npend, pend_cap;
} fio_img;

typedef struct fio {
    bi_io io; /* pass &io to bi_open_io */
    bi_posix_ctx *io_ctx; /* passed to bi_io_posix (NULL: defaults) */

    /* Faults.  fail_at[kind] = N > 0 fails the Nth call of that kind
     * counted in calls[kind] (which counts every call since fio_init), with
     * fail_rc[kind]; once, or for every later call too when sticky. */
    long fail_at[FIO_KINDS];
    int fail_rc[FIO_KINDS];
    int sticky;
    long calls[FIO_KINDS];
    uint64_t written; /* bytes of the writes that succeeded */
    long injected;
    long failed_freemap;    /* injected write faults on a write that carried
                               free-space map records (persisting free space) */
    int last_kind;          /* kind of the last injected fault */
    uint64_t last_fail_off; /* offset of the last write that was failed */
    int partial;            /* a failed write first writes half its bytes
                               (a disk filling up mid-write) */

    /* Power loss.  Set track before the open to keep the durable image.
     * loss_at_sync / loss_at_write = N > 0: the power goes out at the Nth
     * sync (before it completes) or the Nth write (after it was issued, so
     * that it may land partly).  loss_at_op = N > 0: the power goes out
     * instead of the Nth operation that changes the disk (write, sync,
     * resize, create_temp, publish, sync_dir; counted in ops).  The image
     * goes to loss_path, with fates drawn from loss_seed; when no file
     * would be at the path after the loss, loss_path is removed and
     * loss_absent set. */
    int track;
    long loss_at_sync, loss_at_write, loss_at_op;
    uint64_t loss_seed;
    const char *loss_path;
    int dead;      /* power lost: every operation fails with BIRCH_EIO */
    int loss_error; /* building the image failed (errno-like detail in loss_msg) */
    char loss_msg[256];
    /* What the loss did, for the test output. */
    long sectors_kept, sectors_dropped, sectors_garbled, sectors_reordered;
    long pending_at_loss;
    int size_kept; /* the newest size survived (when it differed) */
    int loss_absent; /* no file at the path after the loss */

    /* Bookkeeping the tests use to know what is durable: `tag` is set by
     * the test (e.g. the number of the transaction being committed); a sync
     * that completes while a durable (not weak) meta written to a meta page
     * (below meta_end) is pending copies tag to durable_tag. */
    long tag, durable_tag;
    uint64_t meta_end;

    /* Process kill: raise SIGKILL just before the Nth write/sync/resize. */
    long kill_at;
    long ops; /* operations that change the disk so far (see loss_at_op) */

    int real_sync;
    uint8_t boot[16];

    /* Internal state of the tracked files: the one at the path
     * (img[at_path]; -1: none) and a temporary one being created
     * (img[fresh]; -1: none), published under the path but its directory
     * not yet synced when published is set. */
    fio_img img[2];
    int at_path, fresh, published;
    int open_files; /* at most two: the file and a temporary one */
    int imaged; /* the first open took the durable image (or found no file) */
} fio;

/* Initialises f: no faults, no tracking, EIO for every kind, boot id
 * derived from boot_seed. */
void fio_init(fio *f, uint64_t boot_seed);
/* Frees the tracked image and pending writes. */
void fio_free(fio *f);
/* Clears the fault countdowns and the dead state (the counters stay). */
void fio_disarm(fio *f);
/* The power goes out now: builds the image from the pending writes, writes
 * it to path (fates from seed), and makes the layer dead.  0 on success,
 * -1 with a message in f->loss_msg.  Needs track. */
int fio_powerloss(fio *f, const char *path, uint64_t seed);

/* ---- The crash workload ------------------------------------------------------ */

/* A deterministic sequence of write transactions over FW_TABLES tables
 * (t0..t3) and a counter table "ctr" that holds key "k" -> the number of
 * the last committed transaction (8 bytes).  Transaction k's operations
 * depend only on (seed, k), never on the data, so a run can resume from
 * any state j with transaction j + 1.  They cover: many small records
 * (page splits at 512-byte pages), range deletes (merges), values from 0
 * bytes to several pages (overflow runs), two huge values of hundreds of
 * KiB (file growth past the first map; freeing them reuses long runs and,
 * with BIRCH_DURABLE_NONE, forces a checkpoint), table creation, drop and
 * rename (after changes to the table in the same transaction), and
 * overwrites (page reuse). */
#define FW_TABLES 5 /* t0..t3 and ctr (index 4) */
#define FW_CTR 4

typedef struct fw_state {
    int exists[FW_TABLES];
    bt_model m[FW_TABLES];
} fw_state;

typedef struct fw {
    uint64_t seed;
    int ntxn;
    int huge;           /* include the huge values */
    fw_state *st;       /* st[k]: the state after transaction k, 0..ntxn */
} fw;

extern const char *const fw_table_name[FW_TABLES];

/* Builds the model state of every transaction 0..ntxn. */
void fw_init(fw *w, uint64_t seed, int ntxn, int huge);
void fw_free(fw *w);
/* Runs transaction k on db: begin, operations, commit.  Returns the
 * commit's result, or the first failing call's (the transaction is then
 * aborted); *where (may be NULL) names the call. */
int fw_txn(birch_db *db, const fw *w, int k, const char **where);
/* Reads the counter: the number of the transaction the snapshot holds
 * (0 when there is no counter table).  -1 and a message when unreadable. */
int fw_which(birch_txn *r, char *err, size_t errsz);
/* Compares every table the snapshot holds with state k: existence, count,
 * every record by a forward scan.  0 if equal, else 1 and a message. */
int fw_verify(birch_txn *r, const fw *w, int k, char *err, size_t errsz);
/* Opens a read transaction, finds the state (which must lie in lo..hi)
 * and verifies it whole; returns it, or -1 with a message. */
int fw_identify(birch_db *db, const fw *w, int lo, int hi, char *err, size_t errsz);
/* Deletes everything (records of one table one by one, the other tables
 * dropped), commits, and runs birch_check, which accounts for every page:
 * 0 if all is well, else 1 and a message. */
int fw_wipe_check(birch_db *db, char *err, size_t errsz);
/* Copies a file to a new file at to (removing what was there). */
void fw_copy(const char *from, const char *to);
/* Creates an empty database with page size 512 at path (normal io). */
void fw_create(const char *path);
/* Sets db's dirty budget (engine/spill.c) to bytes, below the option's
 * 1 MiB minimum, so that the workload's transactions spill: at 512-byte
 * pages FW_SPILL_BUDGET makes most puts write leaves before the commit. */
#define FW_SPILL_BUDGET 8192u
void fw_set_budget(birch_db *db, uint64_t bytes);
/* Pages the whole workload spills with budget (bytes), from the file tmpl
 * copied to path, in this process on the fault layer, nothing failing. */
uint64_t fw_spills_of(const char *tmpl, const char *path, const fw *w, birch_options o, uint64_t budget);

/* ---- Environment ------------------------------------------------------------- */

/* 1 when built with AddressSanitizer (scale work down). */
int fw_asan(void);

#endif /* BIRCH_TEST_FAULTIO_H */
