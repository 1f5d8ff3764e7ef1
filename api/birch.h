/*
 * birch.h - the public interface of birch, an embedded storage engine.
 *
 * birch stores key/value records in named tables inside one file.  The file
 * holds a copy-on-write B+tree per table; a commit writes new pages to free
 * or new locations and then switches one of two checksummed meta pages, so a
 * crash at any instant leaves the last committed state whole.
 *
 * Threading rules
 *   - A birch_db handle may be shared by any number of threads.
 *   - At most one write transaction exists at a time.  A second
 *     birch_txn_begin(BIRCH_TXN_WRITE) waits until the first ends, or returns
 *     BIRCH_EBUSY at once when BIRCH_TXN_TRY is also given.
 *   - The thread that holds the write transaction gets BIRCH_EBUSY at once
 *     (instead of waiting for itself forever) from
 *     birch_txn_begin(BIRCH_TXN_WRITE) and birch_sync until that
 *     transaction ends; birch_close there gives BIRCH_ETXN.  The holder is
 *     the thread that began it until a write transaction handed to another
 *     thread is used there: from that thread's first call through it (a
 *     put, a get, a cursor move, a commit...) that thread holds it, and
 *     the first thread's begin waits like any other thread's.  A thread
 *     created after the holder exited is never taken for it, even if the
 *     system gives it the same pthread_t.
 *   - Any number of read transactions run concurrently with each other and
 *     with the writer.  Each sees the snapshot that was committed when it
 *     began, byte for byte, until it ends.  Reads (get, cursor moves) take no
 *     lock.
 *   - A transaction, and the cursors opened in it, belong to one thread at a
 *     time: never use one transaction from two threads at once.  It may be
 *     handed to another thread between calls (a write transaction may be
 *     committed on another thread than the one that began it).
 *   - Many handles, in this process or others, may have one file open at
 *     once (up to the size of the lock file's table, the first handle's
 *     max_readers and at least 126), read-write or read-only alike, with
 *     the same rules as
 *     threads: one write transaction at a time across all of them (a
 *     second waits, or gets BIRCH_EBUSY with BIRCH_TXN_TRY), any number of
 *     read transactions that never block and are never blocked, and every
 *     commit seen by the next read transaction of every handle.  They
 *     share a lock file beside the database (path + "-lock", which stays
 *     when the last handle closes, as LMDB's does); its reader table keeps
 *     a writer from reusing a page any reader of any process can see.  A
 *     process killed at any instant (holding a read transaction, or in
 *     the middle of a write transaction) blocks the others for at most a
 *     moment (about 50 ms) and pins no page: its reader slots and its
 *     write lock are recognised as dead and reclaimed by themselves (see
 *     birch_readers), also when a fork child of it that kept an inherited
 *     handle still runs (within one pid namespace; across namespaces,
 *     until that child exits or closes it).  Deleting the lock file while
 *     handles have the database open makes later opens fail with
 *     BIRCH_EBUSY until they are all closed; truncating it kills them
 *     with SIGBUS, as truncating any mapped file does; garbage written
 *     into it makes their calls fail (BIRCH_ECORRUPT, BIRCH_EVERSION) or
 *     misread, never the database file.  Only compaction (birch_compact),
 *     BIRCH_RECREATE_ALWAYS and the initialisation of an empty file need
 *     the file alone (BIRCH_EBUSY while another handle has it open).
 *     Within one process, sharing one handle between threads costs less
 *     than one handle per thread.  Linux only (open file description
 *     locks, futexes).
 *   - A database opened for writing with BIRCH_DURABLE_NONE (on a file) has
 *     one background thread of its own, from birch_open to birch_close,
 *     that makes idle commits durable (see BIRCH_DURABLE_NONE); one opened
 *     with BIRCH_DURABLE_FULL gets it from the begin of its first
 *     BIRCH_TXN_NONDURABLE write transaction to birch_close.  It blocks
 *     every signal and does not keep the process from exiting.
 *
 * Memory rules
 *   - birch_val pointers returned by reads point into the database map (or,
 *     in a write transaction, into pages the transaction is changing).  In a
 *     read transaction they stay valid until the transaction ends or is
 *     reset (birch_txn_reset).  In a
 *     write transaction they stay valid until the next put, del, table
 *     create, drop or rename in that transaction, or its end.
 *   - Arguments may point anywhere, including into values read in this
 *     transaction: birch_put, birch_put_reserve, birch_del and the typed
 *     puts and batches (birch_typed.h) behave as if every key and value had
 *     been copied before anything changed.  A key or value got by
 *     birch_get, a cursor, a guard or a stream item may be passed to the
 *     next write even when that write replaces, moves or frees the very
 *     bytes it points to (put(k, get(k)) is fine), and a batch stores what
 *     its values held when it was called.  The pointer must still be valid
 *     by the rule above when passed: taken since the last change.
 *   - Every value pointer is 8-byte aligned, so a value that holds a C
 *     struct of alignment 8 or less can be read in place.
 *   - When the file outgrows the address space reserved for the map, birch
 *     maps it again at a new address and keeps the old map until
 *     birch_close, so pointers a transaction already holds stay valid.
 *
 * Handle lifetimes (who owns what, until when)
 *   - A birch_db is the caller's from birch_open to birch_close.  Every
 *     other handle of a database must be done with before birch_close
 *     (which refuses with BIRCH_ETXN, naming what is still open, while a
 *     transaction, a guard taken without a transaction, or a stream is
 *     open); after birch_close no handle of it may be used, except that
 *     birch_cursor_close is still safe.
 *   - A birch_txn is the database's: birch_txn_commit or birch_txn_abort
 *     ends it, and from then on the handle is only a checked name: every
 *     call given it returns BIRCH_ETXN ("the transaction has ended"),
 *     whatever ran since (any number of later transactions, on any
 *     thread), birch_txn_abort does nothing and birch_txn_id returns 0.
 *     The handle is not a pointer to memory: it cannot be dereferenced
 *     (doing so faults), and it is recognised until birch_close.
 *   - A birch_cursor is the caller's: birch_cursor_open allocates it and
 *     only birch_cursor_close frees it, before or after its transaction
 *     ends (even after birch_close).  Ending a transaction does not close
 *     its cursors: close every cursor, in read and write transactions
 *     alike (LMDB asks the same of read transactions).  A cursor whose
 *     transaction ended answers BIRCH_ETXN until it is closed; one whose
 *     read transaction is reset answers BIRCH_ETXN until the renew, and is
 *     then unpositioned (birch_txn_renew).
 *   - A birch_stream (birch_typed.h) is the caller's likewise:
 *     birch_stream_close frees it, and ends the snapshot it took for
 *     itself.  Once the caller's transaction it reads has ended,
 *     birch_stream_next answers BIRCH_ETXN (every call, also past the
 *     stream's end) until the stream is closed, while
 *     birch_stream_resume_key still hands back the last key returned, so
 *     that the scan can resume in a later transaction (paging).  The same
 *     once that transaction is reset (birch_txn_reset), renewed or not.
 *   - A birch_guard (birch_typed.h) is released exactly once with
 *     birch_guard_release; a second release of it or of a copy of it is
 *     BIRCH_ETXN in every build.  A guard taken in a transaction is
 *     released before that transaction ends (after, the release is
 *     BIRCH_ETXN and its view is gone) or is reset (birch_txn_reset
 *     refuses with BIRCH_EBUSY while one is live).
 *   - Table handles belong to the database and die with birch_close.
 *   Handles may be closed in any order that respects these rules.
 *
 * fork()
 *   A database handle, and everything taken from it, belongs to the
 *   process that opened it.  In a child of fork() every call with an
 *   inherited handle (database, transaction, cursor, stream, guard)
 *   returns BIRCH_EFORK without touching the file; birch_close there
 *   frees the child's copy of the handle (memory, maps, descriptor),
 *   writes nothing, and returns BIRCH_EFORK; birch_cursor_close,
 *   birch_stream_close and birch_txn_abort free the child's copies.  The
 *   parent's handle is unaffected, its reader slots and locks included.
 *   A child opens the database anew with birch_open (it then shares the
 *   file with its parent like any other process).  The handle's locks
 *   belong to open file descriptions, which the child shares through its
 *   inherited descriptors and maps: a child that does not exec should call
 *   birch_close on every inherited database handle, or else, while the
 *   child lives, the file counts as open even after the parent closes it,
 *   and birch_compact gets BIRCH_EBUSY.  The descriptors are close-on-exec,
 *   so a child that execs keeps nothing.  On
 *   kernels without MADV_WIPEONFORK (before Linux 4.14) only
 *   birch_txn_begin, birch_txn_commit, birch_txn_reset, birch_txn_renew,
 *   birch_sync and birch_close check the process; reads through an inherited transaction are then
 *   undefined.
 *
 * Errors
 *   Every function that returns int returns BIRCH_OK (0) or one of the
 *   negative BIRCH_E* codes below; birch_strerror() describes each code,
 *   and birch_errmsg() says what went wrong in the call that just failed
 *   on this thread: which argument, option or limit, the path and the
 *   operating system's reason, or which check of a damaged file failed
 *   and where.  The format functions too (birch_key_*, birch_archive_*,
 *   birch_fb_*, birch_pod_* and the built-in value formats' functions):
 *   a verifier's detail is the text it writes into msg (recorded also when
 *   msg is NULL), a refused source names the member ("archive
 *   Customer.name: string is not valid UTF-8"), and a FlatBuffers builder
 *   call that fails, though it returns nothing, records why at once;
 *   birch_fb_finish and birch_fb_builder_error report that first failure
 *   again.  A call that succeeds leaves birch_errmsg() as it was.
 */
#ifndef BIRCH_H
#define BIRCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers (CMakeLists.txt's project version; the test
 * version_agrees checks that they match).  birch_version() gives the
 * library's, which may differ when a program runs with another libbirch.so. */
#define BIRCH_VERSION_MAJOR 0
#define BIRCH_VERSION_MINOR 1
#define BIRCH_VERSION_PATCH 0
#define BIRCH_VERSION_STRING "0.1.0"

/* ---- Result codes --------------------------------------------------- */
#define BIRCH_OK        0     /* success */
#define BIRCH_NOTFOUND  (-1)  /* key, table, (read-only open) file or a path's
                                 directory does not exist; cursor past the end */
#define BIRCH_EXISTS    (-2)  /* NOOVERWRITE key exists; APPEND key not greater
                                 than the last; the target file of a copy exists */
#define BIRCH_EINVAL    (-3)  /* bad argument: NULL pointer, bad flag, bad option */
#define BIRCH_EKEYSIZE  (-4)  /* key empty or longer than birch_max_key_size() */
#define BIRCH_EVALSIZE  (-5)  /* value longer than BIRCH_MAX_VALUE_SIZE, schema
                                 longer than BIRCH_MAX_SCHEMA_SIZE */
#define BIRCH_ENOTDB    (-6)  /* the file is not a birch database */
#define BIRCH_EVERSION  (-7)  /* the file was written by an unknown format version */
#define BIRCH_ECORRUPT  (-8)  /* the file is damaged */
#define BIRCH_EBUSY     (-9)  /* writer busy with BIRCH_TXN_TRY; a write
                                 transaction or birch_sync in the thread that
                                 holds the write transaction; no reader slot
                                 free; the file open elsewhere where it must
                                 be alone (compaction) or had alone elsewhere;
                                 birch_txn_reset while guards taken in the
                                 transaction are unreleased */
#define BIRCH_EREADONLY (-10) /* write attempted in a read transaction or read-only database */
#define BIRCH_EFULL     (-11) /* max_size reached, or the disk is full */
#define BIRCH_EIO       (-12) /* the operating system reported an I/O error */
#define BIRCH_ENOMEM    (-13) /* out of memory */
#define BIRCH_ETXN      (-14) /* transaction ended or failed earlier (also a
                                 cursor, stream or guard of an ended one);
                                 a read transaction reset and not renewed
                                 (also its cursors and streams);
                                 a guard released twice; database closed
                                 with transactions, guards or streams open */
#define BIRCH_ESCHEMA   (-15) /* typed table opened with another key or value
                                 format than it was created with */
#define BIRCH_EFORMAT   (-16) /* bytes that the key or value format rejects */
#define BIRCH_EACCES    (-17) /* the operating system denied access to the file
                                 or its directory (permissions) */
#define BIRCH_EFORK     (-18) /* the handle was opened by another process: a
                                 child of fork() must open the database anew */

/* ---- Limits ---------------------------------------------------------- */
/* Page sizes that birch_options.page_size accepts, and its default. */
#define BIRCH_MIN_PAGE_SIZE     512u
#define BIRCH_MAX_PAGE_SIZE     65536u
#define BIRCH_DEFAULT_PAGE_SIZE 4096u
#define BIRCH_MAX_VALUE_SIZE    0xffffffffu /* 2^32 - 1 bytes */
/* Table names: 1..255 bytes at most; a database's own limit is
 * birch_max_name_size(): min(255, page_size / 4), since names are keys
 * of the catalog and obey birch_max_key_size() (128 bytes at 512-byte
 * pages, 255 from 1024-byte pages up). */
#define BIRCH_MAX_NAME_SIZE     255u
#define BIRCH_MAX_SCHEMA_SIZE   1024u       /* opaque schema blob per table, at any page size */
/* birch_options.max_readers: 1..BIRCH_MAX_READERS. */
#define BIRCH_MAX_READERS       65536u
/* birch_options.map_reserve: 0 (the default, 1 GiB), else
 * BIRCH_MIN_MAP_RESERVE..BIRCH_MAX_MAP_RESERVE bytes: 1 MiB to 64 TiB
 * where pointers have 64 bits (x86-64 gives a process 128 TiB), 2 GiB
 * where they have 32. */
#define BIRCH_MIN_MAP_RESERVE   ((uint64_t)1 << 20)
#define BIRCH_MAX_MAP_RESERVE   ((uint64_t)1 << (sizeof(void *) >= 8 ? 46 : 31))
/* birch_options.dirty_budget: 0 (the default, BIRCH_DEFAULT_DIRTY_BUDGET)
 * or at least BIRCH_MIN_DIRTY_BUDGET bytes. */
#define BIRCH_MIN_DIRTY_BUDGET     ((uint64_t)1 << 20)
#define BIRCH_DEFAULT_DIRTY_BUDGET ((uint64_t)256 << 20)

/* ---- Flags ------------------------------------------------------------ */
/* birch_txn_begin */
#define BIRCH_TXN_READ   0x0u
#define BIRCH_TXN_WRITE  0x1u
#define BIRCH_TXN_TRY    0x2u  /* with WRITE: BIRCH_EBUSY instead of waiting */
/* With WRITE, the durability of this transaction's commit, whatever
 * birch_options.durability says (redb's set_durability); without either
 * flag the commit has the database's.  A DURABLE commit after NONDURABLE
 * ones makes them durable too: its sync covers every page written before
 * it, and its state includes theirs.  BIRCH_EINVAL with both, or with
 * either on a read transaction. */
#define BIRCH_TXN_DURABLE    0x4u /* BIRCH_DURABLE_FULL: synced before birch_txn_commit
                                     returns (a NONE database's commit pays one sync) */
#define BIRCH_TXN_NONDURABLE 0x8u /* BIRCH_DURABLE_NONE: not synced, and durable
                                     about a second later under BIRCH_DURABLE_NONE's
                                     rule, also on a FULL database, whose handle
                                     then starts the background flush thread
                                     ("Threading rules") */
/* birch_table_open */
#define BIRCH_CREATE     0x1u  /* create the table if missing (write txn only) */
#define BIRCH_MULTIMAP   0x2u  /* a multimap table: a key, a sorted set of values
                                  (see "Multimap tables") */
/* birch_put */
#define BIRCH_NOOVERWRITE 0x1u /* BIRCH_EXISTS if the key is present */
#define BIRCH_CURRENT     0x4u /* birch_cursor_put: replace the value of the
                                  record under the cursor */
#define BIRCH_APPEND      0x2u /* key must sort after every key in the table;
                                  may be combined with NOOVERWRITE */

/* Durability of commits (birch_options.durability; one transaction's own
 * with BIRCH_TXN_DURABLE or BIRCH_TXN_NONDURABLE). */
#define BIRCH_DURABLE_FULL 0 /* a commit that returned survives power loss */
#define BIRCH_DURABLE_NONE 1 /* commits do not sync: a process crash loses
                                nothing; a power loss returns to an earlier
                                commit, whole.  The rule: while the process
                                lives, a commit is durable at most about one
                                second after it returned, or, if a write
                                transaction is active at that second, once
                                that transaction ends (if it commits, its
                                commit is the durable one).  Commits become
                                durable (a checkpoint) when the last durable
                                one is a second old or when such commits
                                have freed a quarter of the file's pages the
                                durable state still holds; birch_open starts
                                a thread that does the checkpoint when no
                                commit follows (a file opened for writing);
                                and at birch_sync and birch_close.  Commits
                                not yet durable when the process dies
                                without birch_close survive unless the
                                machine loses power before the operating
                                system writes them.  On ext4 and tmpfs
                                small commits store their pages through a
                                writable map of the file: a write the file
                                system refuses after the open (the file
                                made immutable; a file system shut down
                                after an I/O error) then raises SIGBUS in
                                the committing thread instead of returning
                                BIRCH_EIO, as a read error on a mapped page
                                does in every mode (docs/DESIGN.md 4.1).
                                Several processes: each commit is seen by
                                every process's next read transaction at
                                once; each process's thread checkpoints the
                                commits of its own handle (while another
                                handle holds the write lock, it syncs and
                                tries again), any handle's commit
                                checkpoints once the last one is a second
                                old, and birch_close of a handle that
                                committed waits for the write lock to
                                checkpoint. */

/* What birch_open does with an existing file (birch_options.recreate). */
#define BIRCH_RECREATE_NEVER  0 /* open it, or create it when missing (default) */
#define BIRCH_RECREATE_ALWAYS 1 /* start from an empty database: an existing
                                   file, whatever it holds, is replaced by a
                                   new empty one (built beside it, then
                                   renamed over it, so a failure leaves the
                                   old file whole).  For tests and caches.
                                   The file is replaced only once this open
                                   holds its lock, so a file another handle
                                   has open gives BIRCH_EBUSY, untouched. */

/* Where the database lives (birch_options.backend). */
#define BIRCH_BACKEND_FILE   0 /* the file at path (default) */
#define BIRCH_BACKEND_MEMORY 1 /* anonymous memory; nothing touches the disk.
                                  path is only a name and may be NULL; every
                                  open starts from an empty database of its
                                  own (two opens of one name do not share
                                  it), and its data is gone at birch_close.
                                  The same engine and rules (threads,
                                  snapshots, limits); durability and
                                  syncs mean nothing.  It grows up to
                                  max(16 GiB, max_size) of address space
                                  reserved at open (less if the address
                                  space is tighter), then BIRCH_EFULL. */

/* ---- Types ------------------------------------------------------------ */
/* Opaque handles: a database (birch_open), a transaction (birch_txn_begin),
 * a table (birch_table_open) and a cursor (birch_cursor_open). */
typedef struct birch_db birch_db;
typedef struct birch_txn birch_txn;
typedef struct birch_table birch_table;
typedef struct birch_cursor birch_cursor;

/* A byte range.  Keys are compared with memcmp, shorter first on a tie. */
typedef struct birch_val {
    const void *data;
    size_t size;
} birch_val;

/* Options for birch_open.  Always call birch_options_init first, then set
 * the fields you care about, so that fields added later get defaults.
 * birch_open checks every field: a value outside its range is
 * BIRCH_EINVAL, and birch_errmsg() names the field and the range. */
typedef struct birch_options {
    uint32_t page_size;   /* power of two, 512..65536; used only when the file
                             is created, an existing file keeps its own
                             (but the option is checked all the same).
                             Default 4096. */
    int durability;       /* BIRCH_DURABLE_FULL (default) or BIRCH_DURABLE_NONE */
    uint64_t max_size;    /* size limit in bytes of the pages the database
                             uses (birch_stat: page_count * page_size),
                             past which the file never grows; 0 = no
                             limit, else at least 4 pages (of page_size),
                             any larger value up to UINT64_MAX.  The put
                             (or commit) that would need a page past it
                             fails with BIRCH_EFULL and the transaction
                             must be aborted.  Edge cases:
                             - A database already larger than max_size
                               opens, and reads work.  Writes succeed
                               only while free pages inside it serve
                               them (pages freed by the last few commits
                               may not be reusable yet); the first that
                               needs a page past the end gets
                               BIRCH_EFULL, so one that never freed a
                               page refuses every write.  A file grown
                               without the limit keeps its size on disk.
                             - Deletes stay possible at the limit:
                               copy-on-write needs free pages even to
                               delete, so a transaction that puts
                               records stops BIRCH_EFULL short of
                               max_size by 32 pages (an eighth of
                               max_size if that is less), which
                               transactions that only delete may use.
                               With BIRCH_DURABLE_NONE, pages freed
                               since the last checkpoint are reusable
                               only after the next one; near the limit
                               commits checkpoint as soon as such pages
                               are half the room left.
                             - A max_size of a few pages is accepted,
                               but the first commit of a new file
                               already takes 4 pages, and a value stored
                               as an overflow run needs its pages in
                               one contiguous run: such a value may get
                               BIRCH_EFULL while small records fit. */
    uint32_t max_readers; /* concurrent read transactions, guards and
                             streams of this handle, 1..BIRCH_MAX_READERS;
                             default 126.  One more gives BIRCH_EBUSY.
                             The lock file's table, shared by every handle
                             of every process, has the first open handle's
                             max_readers slots (at least 126); a handle
                             asking for more than the table has while it is
                             in use gets BIRCH_EINVAL naming its size. */
    int read_only;        /* 0 or 1: open without writing; write txns give
                             BIRCH_EREADONLY.  A read-only handle still
                             writes its reader slots in the lock file.
                             Where the lock file cannot be opened for
                             writing (a read-only file system, no
                             permission on it or its directory), a
                             read-only open reads without it and then
                             assumes that no writer runs: it is refused
                             (BIRCH_EREADONLY or BIRCH_EACCES) while
                             handles share the lock file, and a writer
                             that opens while it reads gets BIRCH_EBUSY.
                             (LMDB does so on read-only file systems
                             only; give readers write permission on the
                             lock file to share it with writers.)  A
                             read-write open without it has the file
                             alone (BIRCH_EBUSY while other handles have
                             it open, and others wait 5 s for it, then
                             get BIRCH_EBUSY). */
    uint64_t map_reserve; /* address space reserved for the map in bytes:
                             0 or BIRCH_MIN_MAP_RESERVE..BIRCH_MAX_MAP_RESERVE;
                             default (and 0) 1 GiB.  Grows (by remapping)
                             when the file outgrows it; only tests need to
                             set it. */
    int recreate;         /* BIRCH_RECREATE_NEVER (default) or
                             BIRCH_RECREATE_ALWAYS; ALWAYS with read_only is
                             BIRCH_EINVAL. */
    int backend;          /* BIRCH_BACKEND_FILE (default) or
                             BIRCH_BACKEND_MEMORY; MEMORY with read_only is
                             BIRCH_EINVAL (there would be nothing to read). */
    uint64_t dirty_budget; /* bytes of changed pages a write transaction
                             keeps in memory: 0 (the default,
                             BIRCH_DEFAULT_DIRTY_BUDGET, 256 MiB) or
                             BIRCH_MIN_DIRTY_BUDGET (1 MiB) and up; less
                             is BIRCH_EINVAL.  When a transaction's changed
                             pages pass it, its next put or del first
                             writes changed leaves and overflow values to
                             their places in the file (they "spill", as
                             in LMDB) until it holds less than half, so
                             a transaction may write more than memory
                             holds.  Nothing else changes: the commit
                             still syncs once, and a crash, a power loss
                             or an abort before the commit leaves the
                             last commit as it was (the spilled pages are
                             free ones).  A put or del that spills may
                             fail with BIRCH_EIO or BIRCH_EFULL (the
                             write or the file's growth); the
                             transaction can then only be aborted, and
                             after BIRCH_EIO, as after a commit's, later
                             write transactions get BIRCH_EIO until the
                             database is reopened.  The memory backend
                             spills too (into its own memory, so the
                             dirty copies and the file are not both
                             held).
                             Branch pages are never spilled, and every
                             spilled page keeps a small entry in memory
                             until the commit: beyond the budget, a
                             transaction needs about 100 bytes per page
                             it writes (2.5% at 4 KiB pages; 160 MiB for
                             a 2 GiB transaction with a 64 MiB budget).
                             Its peak RSS is then about the budget, those
                             entries and the pages it reads through the
                             map.  A put or del that finds a spilled page
                             reads it back into memory the budget counts (a
                             read from the file, not a fault of the map),
                             and a spill frees a page read back and left
                             unchanged without writing it again.  Gets,
                             cursors and overflow values read spilled pages
                             through the map: those map pages are dropped
                             from the process's resident set at the next
                             change once they may hold a budget (their
                             bytes stay readable), as long as at least half
                             of the page range the transaction spilled into
                             is pages it spilled (a transaction writing new
                             data); committed pages it reads count as they
                             do for any reader (the kernel may reclaim
                             them).  A large update in a file whose free
                             space small commits scattered spills among
                             pages it reads anyway: nothing is dropped
                             then, and its resident set grows towards the
                             pages it reads (docs/DESIGN.md 3.6).  That 2
                             GiB transaction peaked at 186 MiB of RSS.  A
                             drop costs faults: the next reads of those
                             pages fault again, and other threads' readers
                             lose their resident copies of pages in the
                             range the transaction spilled into.  Branch
                             pages never spill: when they alone pass the
                             budget (long keys, a transaction of many
                             gigabytes), memory is the branches plus the
                             budget.  Up to 4 MiB
                             of page buffers and the dirty table of a
                             small transaction are kept for the next
                             write transaction until birch_close.
                             Values read in the transaction keep the
                             lifetime "Memory rules" give them. */
} birch_options;

/* ---- Database --------------------------------------------------------- */

/* Fills *opts with the defaults. */
void birch_options_init(birch_options *opts);

/* Opens the database file at path, creating it when missing unless
 * opts->read_only.  opts may be NULL for defaults.  opts->recreate and
 * opts->backend change this (BIRCH_RECREATE_ALWAYS, BIRCH_BACKEND_MEMORY).
 * On success *db is a handle to close with birch_close.
 *
 * Creation is all-or-nothing: the new database is built in a temporary
 * file in path's directory, synced, given the name path only if path is
 * still absent, and the directory synced.  After any failure (a full disk,
 * a file size limit, an I/O error, a kill, a power loss) path holds what
 * it held before or a whole new empty database, never a file that opens
 * as BIRCH_ENOTDB or BIRCH_ECORRUPT.  A crash or power loss during the
 * creation may leave a file named path + ".new-<pid>-<unique>" beside it
 * (where the file system lacks O_TMPFILE, whose unnamed files vanish; or,
 * when a file is replaced, in the instant between naming the new one and
 * renaming it): a partial or whole empty database that nothing opens;
 * delete it.  When path is a symbolic link, the file it leads to is
 * created or replaced, and the link stays.  Two
 * opens creating the same path at once end on one database: the second
 * opens the first one's (or gets BIRCH_EBUSY while that is open).  An
 * empty file (0 bytes) opened for writing is replaced the same way by a
 * new database, under its lock, and so is any file with
 * BIRCH_RECREATE_ALWAYS: the old file stays whole until the new one
 * replaces it.  Creating or initialising a file therefore needs write
 * permission on its directory (else BIRCH_EACCES); opening an existing
 * database does not.  The new file takes the replaced one's permission bits
 * (and its owner where the process may set it); it is a new file, so
 * hard links to the old one keep the old contents.
 *
 * Errors (birch_errmsg() names the path and the operating system's reason):
 * BIRCH_EINVAL (NULL db, NULL path with the file backend, an option out of
 * range, a path too long or with a symbolic-link loop), BIRCH_NOTFOUND
 * (read_only and the file does not exist; a directory of the path does
 * not exist), BIRCH_EACCES (no permission for the file or its directory),
 * BIRCH_EREADONLY (the file is on a read-only file system and read_only
 * is 0), BIRCH_ENOTDB (not a birch file, an empty file opened read-only,
 * or not a regular file: a directory, FIFO, socket or device; a FIFO is
 * never waited on), BIRCH_EVERSION (the file's format, or a lock file of
 * another version in use by another program), BIRCH_ECORRUPT (no valid
 * meta page, or the meta points past the end of the file; a lock file in
 * use by open handles that is damaged), BIRCH_EBUSY (another handle has
 * had the file alone for 5 s: a compaction, a creation; the lock file was
 * removed under handles that still have the database open; every owner
 * entry of the lock file taken: as many handles as its table has slots;
 * path replaced again and again while opening it),
 * BIRCH_EFULL (no room to create the file), BIRCH_EIO, BIRCH_ENOMEM
 * (including a map_reserve the address space cannot hold, and a
 * background thread of a BIRCH_DURABLE_NONE database that could not be
 * started). */
int birch_open(const char *path, const birch_options *opts, birch_db **db);

/* Closes the handle (after stopping the background flush thread and making
 * a non-durable commit durable: BIRCH_DURABLE_NONE, BIRCH_TXN_NONDURABLE).
 * A reset read transaction (birch_txn_reset) counts as open.  Every transaction must have ended
 * first, every guard taken without a transaction been released and every
 * stream closed; otherwise BIRCH_ETXN is returned, birch_errmsg() counts
 * each ("1 transaction still open, 2 guards still unreleased, 1 stream
 * still open"), and nothing is closed (also when called by the thread
 * that holds the write transaction).  NULL is a no-op.  BIRCH_EIO if the
 * final sync failed (the handle is closed all the same).  In a child of
 * fork(): BIRCH_EFORK, see "fork()" above. */
int birch_close(birch_db *db);

/* Makes every commit so far durable (for BIRCH_DURABLE_NONE and
 * BIRCH_TXN_NONDURABLE commits; a no-op when the last commit is durable),
 * like mdb_env_sync.  Waits for a running write transaction to
 * end, unless the calling thread began it: then BIRCH_EBUSY at once
 * (commit or abort it first).  Errors: BIRCH_EBUSY, BIRCH_EIO (the sync
 * failed, or an earlier write did: reopen). */
int birch_sync(birch_db *db);

/* The longest key this database accepts: page_size / 4 bytes (1024 at the
 * default 4096-byte pages).  0 for a NULL db. */
size_t birch_max_key_size(const birch_db *db);

/* The longest table name this database accepts: min(BIRCH_MAX_NAME_SIZE,
 * birch_max_key_size(db)), that is 128 bytes at 512-byte pages and 255 at
 * every larger page size.  0 for a NULL db. */
size_t birch_max_name_size(const birch_db *db);

/* The page size of the open database. */
uint32_t birch_page_size(const birch_db *db);

/* ---- Transactions ----------------------------------------------------- */

/* Begins a transaction: BIRCH_TXN_READ, or BIRCH_TXN_WRITE optionally with
 * BIRCH_TXN_TRY and one of BIRCH_TXN_DURABLE and BIRCH_TXN_NONDURABLE (the
 * commit's durability, else the database's).  A write transaction waits
 * for the one active (or, with TRY, gets BIRCH_EBUSY); a background flush
 * in progress (a checkpoint of non-durable commits) is waited for even
 * with TRY.  The first BIRCH_TXN_NONDURABLE write transaction of a
 * database opened BIRCH_DURABLE_FULL (on a file) starts the background
 * flush thread, once (see BIRCH_DURABLE_NONE).  Errors:
 * BIRCH_EINVAL (NULL, unknown flags, both durability flags, one on a read
 * transaction), BIRCH_EREADONLY (write on a read-only database),
 * BIRCH_EBUSY (TRY and a writer is active, through any handle of any
 * process; WRITE in the thread that holds the active write transaction,
 * through this handle or another of the same file, with or without TRY;
 * this handle's max_readers reached, or every slot of the lock file's
 * table held by live handles), BIRCH_ECORRUPT (the lock file's published
 * snapshot is damaged: see "Threading rules"), BIRCH_EIO (an earlier write failed, a background flush
 * included: reopen), BIRCH_ENOMEM (also: the background flush thread could
 * not be started), BIRCH_EFORK (a child of fork()). */
int birch_txn_begin(birch_db *db, unsigned flags, birch_txn **txn);

/* Commits and ends the transaction (also for read transactions, where it
 * just ends it, reset or not).  The handle is dead afterwards (see "Handle
 * lifetimes").  The commit is durable when it returns, or not, as the
 * transaction's durability says (BIRCH_TXN_DURABLE, BIRCH_TXN_NONDURABLE,
 * else birch_options.durability).  A write transaction that changed nothing (no put, del,
 * table create, drop or rename, or schema change succeeded in it) writes
 * nothing and syncs nothing, and its id is not used up: the next write
 * transaction gets the same birch_txn_id.  A put undone by a del did
 * change pages, and commits as usual.  On error the transaction is aborted
 * and freed all the same, and the database holds the state before it.
 * Errors: BIRCH_ETXN (the transaction had failed earlier: it is aborted;
 * or it had ended already: nothing happens), BIRCH_EFULL, BIRCH_EIO,
 * BIRCH_EFORK (in a child of fork(): nothing happens). */
int birch_txn_commit(birch_txn *txn);

/* Discards the transaction's changes and ends it (a reset read
 * transaction too).  NULL, a transaction that has ended, and (in a child
 * of fork()) an inherited one are no-ops.  Cursors opened in it stay
 * allocated until birch_cursor_close. */
void birch_txn_abort(birch_txn *txn);

/* Begins a child of write transaction parent (LMDB's nested transactions,
 * SQLite's SAVEPOINT), at any depth.  The child sees everything its
 * parent did; its commit (birch_txn_commit(child)) folds its changes into
 * the parent, which goes on and commits or aborts them with its own; its
 * abort (birch_txn_abort(child)) discards only the child's changes (and
 * those of its own children) and leaves the parent as it was when the
 * child began, a parent that a failed call had left unusable included.
 * While a child is open its parent (and the parent's cursors) refuse
 * every call but birch_txn_abort with BIRCH_EBUSY; a commit of the
 * parent with an open child is refused the same way (nothing is
 * committed).  Aborting a parent ends its open children.  Cursors opened
 * through the child end with it (BIRCH_ETXN afterwards).  The child has
 * the parent's birch_txn_id.
 * Cost: a child copies, as it begins, the transaction's table states and
 * the allocator's lists of free runs (not pages), and the first time it
 * changes or frees a page its parents wrote, that page (once per level);
 * pages nobody wrote in this transaction are copied on write as always,
 * so an untouched page costs nothing.  The child's commit costs a pass
 * over the pages it copied or made.
 * Errors: BIRCH_EINVAL (NULL; parent is a read transaction; more than
 * 65,535 levels), BIRCH_EBUSY (parent has an open child), BIRCH_ETXN
 * (parent ended or failed), BIRCH_ENOMEM. */
int birch_txn_begin_nested(birch_txn *parent, birch_txn **child);

/* The id of the snapshot a transaction reads (for a write transaction, the
 * id its commit will get, if it changes anything: see birch_txn_commit).
 * 0 for NULL, for a transaction that has ended, and for a read transaction
 * that is reset (it reads no snapshot). */
uint64_t birch_txn_id(const birch_txn *txn);

/* Parks a read transaction, like LMDB's mdb_txn_reset: lets its snapshot
 * go, so that writers may reuse the pages only it still held (its reader
 * slot is idle again: birch_stat's readers and oldest_txnid stop counting
 * it), and keeps the handle for birch_txn_renew: a reader that reads in
 * bursts holds back no page between them, and needs no new begin for the
 * next.
 * While reset, every use of the transaction returns BIRCH_ETXN, saying
 * that the transaction is reset (but for the calls named below): gets, counts,
 * table opens and lists, schemas, cursor opens, every call of its
 * cursors but close, typed calls, guards and streams given it.  Nothing
 * reads the snapshot that went, and pointers read in it before (values,
 * keys, schemas, stream items) are invalid, as after an end.
 * birch_txn_id returns 0; birch_txn_commit and birch_txn_abort end it as
 * any transaction, and until then birch_close counts it as open.
 * Resetting a reset transaction does nothing and returns BIRCH_OK, as in
 * LMDB.  Guards taken in it (birch_typed.h) view its snapshot in place,
 * so they must be released first.  Cost: a compare-and-swap on its
 * reader slot; no lock, no system call, no allocation.  Errors:
 * BIRCH_EINVAL (NULL; a write transaction, which is left as it was),
 * BIRCH_ETXN (the transaction has ended), BIRCH_EBUSY (a guard taken in
 * it is still unreleased; nothing changes), BIRCH_EFORK (a child of
 * fork()). */
int birch_txn_reset(birch_txn *txn);

/* Gives a reset read transaction a new snapshot, the last commit (as
 * birch_txn_begin would, through the same handle), like LMDB's
 * mdb_txn_renew.  Table handles stay valid (a table missing from the new
 * snapshot gives BIRCH_NOTFOUND as usual).  Cursors opened in the
 * transaction before the reset stay usable and are unpositioned, as if
 * just opened: birch_cursor_get gives BIRCH_NOTFOUND, next starts at the
 * first key and prev at the last, seek, first and last work; to go on
 * from where one was, keep its key before the reset and seek it after.
 * Streams opened on it before the reset keep answering BIRCH_ETXN (their
 * resume key still works).  Cost: a pin, as in birch_txn_begin (a few
 * atomics on the reader table, no lock, no system call once the handle
 * holds enough slots), and no allocation: a loop of reset and renew
 * allocates nothing (unless another process grew the file past this
 * handle's map, which is then mapped again, as a begin would).  Errors:
 * BIRCH_EINVAL (NULL; a write transaction; a read transaction that is not
 * reset), BIRCH_ETXN (the transaction has ended), and those of pinning,
 * as in birch_txn_begin: BIRCH_EBUSY (no reader slot free), BIRCH_ECORRUPT
 * (the lock file's published snapshot is damaged), BIRCH_ENOMEM (mapping
 * the grown file); BIRCH_EFORK (a child of fork()).  After an error the
 * transaction is still reset: renew it again later, or end it. */
int birch_txn_renew(birch_txn *txn);

/* ---- Tables ----------------------------------------------------------- */

/* Opens the table called name (NUL-terminated, 1..birch_max_name_size()
 * bytes: 128 at 512-byte pages, else 255).  With
 * BIRCH_CREATE in a write transaction, creates it when missing.  The handle
 * belongs to the database and stays valid until birch_close; using it in a
 * transaction where the table does not exist (not yet created, or dropped)
 * gives BIRCH_NOTFOUND, and using it with another database BIRCH_EINVAL.
 * Errors: BIRCH_NOTFOUND, BIRCH_EINVAL (bad name, a name longer than
 * birch_max_name_size(), bad flags), BIRCH_EREADONLY (CREATE in a read
 * transaction and the table is missing), BIRCH_ETXN. */
int birch_table_open(birch_txn *txn, const char *name, unsigned flags, birch_table **table);

/* Deletes the table and all its records.  Handles to it stay valid and can
 * be used again once the table is created again.  Errors: BIRCH_NOTFOUND,
 * BIRCH_EINVAL (bad name, as for birch_table_open), BIRCH_EREADONLY,
 * BIRCH_ETXN. */
int birch_table_drop(birch_txn *txn, const char *name);

/* Renames table from to to (redb's rename_table), in a write transaction:
 * its records, schema blob and every other property move to the new name,
 * and the name from is free again.  Names as for birch_table_open.
 * Handles name tables by name: from then on a handle of from refers to no
 * table (BIRCH_NOTFOUND, as after a drop) until a table of that name is
 * created again, and a cursor open on it gets BIRCH_NOTFOUND at its next
 * move; a handle of to (birch_table_open(txn, to, ...)) sees the table,
 * changes made earlier in this transaction through from's handle included.
 * A typed table (birch_typed.h) is reopened under the new name: its
 * formats are in the schema blob that moved with it.  Readers that began
 * before the commit keep seeing the old name; birch_txn_abort undoes the
 * rename.  Renaming a table to its own name changes nothing and returns
 * BIRCH_OK (if it exists).  Counts as a change for the lifetime of
 * pointers (Memory rules), like a create or a drop.  Costs two catalog
 * changes, whatever the table's size.  Errors: BIRCH_EINVAL (NULL txn, a
 * bad name as for birch_table_open), BIRCH_NOTFOUND (no table from),
 * BIRCH_EXISTS (a table to exists), BIRCH_EREADONLY (read transaction),
 * BIRCH_ETXN; these refusals change nothing and leave the transaction
 * usable.  After a failure during the change (BIRCH_ENOMEM, BIRCH_EFULL,
 * BIRCH_ECORRUPT) the transaction can only be aborted. */
int birch_table_rename(birch_txn *txn, const char *from, const char *to);

/* Lists the tables of the transaction's snapshot: calls fn(name, ctx) for
 * each in name order; name is valid during the call only.  A non-zero
 * return from fn stops the listing and is returned as is, so use positive
 * values to tell them from BIRCH_E* codes. */
int birch_table_list(birch_txn *txn, int (*fn)(const char *name, void *ctx), void *ctx);

/* The table's opaque schema blob (up to BIRCH_MAX_SCHEMA_SIZE bytes),
 * empty for a new table.  The pointer is valid like a value pointer;
 * set_schema counts as a change for the lifetime of pointers.  Errors:
 * BIRCH_NOTFOUND (no such table), BIRCH_EVALSIZE (schema too long),
 * BIRCH_EREADONLY (set in a read transaction), BIRCH_ETXN. */
int birch_table_schema(birch_txn *txn, birch_table *t, birch_val *schema);
int birch_table_set_schema(birch_txn *txn, birch_table *t, birch_val schema);

/* The kind of table t is in txn's snapshot: BIRCH_MULTIMAP, or 0 for a
 * plain table.  Errors: BIRCH_EINVAL, BIRCH_NOTFOUND, BIRCH_ETXN. */
int birch_table_flags(birch_txn *txn, birch_table *t, unsigned *flags);

/* The table's name, as given to birch_table_open. */
const char *birch_table_name(const birch_table *t);

/* What birch_table_stat reports about one table (LMDB's MDB_stat, redb's
 * TableStats), as the transaction sees it.  A struct tag without a
 * typedef, as POSIX's struct stat beside stat(): the function has the
 * name. */
struct birch_table_stat {
    uint32_t page_size;      /* the database's page size (birch_page_size) */
    uint32_t depth;          /* levels of the tree: 0 for a table without
                                pages, 1 when its root is a leaf */
    uint64_t records;        /* as birch_count */
    uint64_t branch_pages;   /* pages of each kind in the table's tree */
    uint64_t leaf_pages;
    uint64_t overflow_pages; /* pages of the runs that hold values too big
                                for a leaf */
    uint64_t key_bytes;      /* the sum of the records' key lengths */
    uint64_t value_bytes;    /* the sum of the records' value lengths,
                                values in overflow runs included */
    uint64_t used_bytes;     /* bytes in use in the branch and leaf pages:
                                each page's size less the free gap between
                                its slot array and its nodes (the page
                                header, slots and nodes with their 8-byte
                                padding count as used) */
    double fill;             /* used_bytes / ((branch_pages + leaf_pages)
                                * page_size), from 0 to 1: how full the
                                branch and leaf pages are (overflow pages
                                do not count); 0 when the table has none */
};

/* Fills *st with table t's figures as the transaction sees it (a write
 * transaction's changes included).  Costs one walk of the table: it reads
 * every branch and leaf page once and each overflow run's first page, so
 * O(pages), with the pages' records summed along (a full scan's cost, not
 * birch_count's O(1)).  The pages are read through the transaction's
 * snapshot and validated as every read validates them, and the records
 * found must be as many as the table's count.  In a multimap table a
 * record is a pair, stored as its key escaped and ended with the value
 * after it (see "Multimap tables"): key_bytes counts those stored keys,
 * value_bytes is 0.  Errors: BIRCH_EINVAL (a
 * NULL argument; a table of another database), BIRCH_NOTFOUND (no such
 * table in this snapshot), BIRCH_ETXN, BIRCH_ECORRUPT (a damaged page:
 * birch_errmsg() names it). */
int birch_table_stat(birch_txn *txn, birch_table *t, struct birch_table_stat *st);

/* ---- Records ---------------------------------------------------------- */

/* Reserves size bytes for key's value and points *out at them (8-byte
 * aligned, zero-filled, inside the page or overflow run), so the caller
 * can build the value in place, like LMDB's MDB_RESERVE.  *out is valid
 * until the next put, del, table create, drop, rename or set_schema in
 * this transaction, or its end (commit or abort): fill it before either.  It
 * may itself be passed to that next put, like any value read (see Memory
 * rules).  key may point anywhere.  Errors as for birch_put. */
int birch_put_reserve(birch_txn *txn, birch_table *t, birch_val key, size_t size, unsigned flags,
                      void **out);

/* Stores key -> val.  key and val may point anywhere, including into the
 * record being replaced or values read in this transaction (Memory
 * rules).  flags: 0 (insert or overwrite), BIRCH_NOOVERWRITE,
 * BIRCH_APPEND (key must be greater than every key in the table, else
 * BIRCH_EXISTS; lets sorted bulk loads fill pages completely).
 * Errors: BIRCH_EKEYSIZE, BIRCH_EVALSIZE, BIRCH_EXISTS, BIRCH_EREADONLY,
 * BIRCH_EFULL, BIRCH_ENOMEM, BIRCH_ETXN, BIRCH_NOTFOUND (table dropped),
 * BIRCH_EIO (writing pages past birch_options.dirty_budget failed).
 * Refusals decided before anything changed (EINVAL, EKEYSIZE, EVALSIZE,
 * EXISTS, EREADONLY, NOTFOUND) leave the transaction usable; after a
 * failure during the change (ENOMEM, EFULL, EIO, ECORRUPT) the transaction
 * refuses everything with BIRCH_ETXN and can only be aborted. */
int birch_put(birch_txn *txn, birch_table *t, birch_val key, birch_val val, unsigned flags);

/* Looks key up.  On success *val points at the stored value (8-byte
 * aligned) with the lifetime given in "Memory rules".  Errors:
 * BIRCH_NOTFOUND (no such key, or no such table in this snapshot),
 * BIRCH_EKEYSIZE, BIRCH_EINVAL, BIRCH_ECORRUPT, BIRCH_ETXN. */
int birch_get(birch_txn *txn, birch_table *t, birch_val key, birch_val *val);

/* Deletes key.  key may point anywhere, including into the record it
 * deletes (a cursor's key).  BIRCH_NOTFOUND if absent.  Errors as for
 * birch_put. */
int birch_del(birch_txn *txn, birch_table *t, birch_val key);

/* Number of records in the table, in O(1).  Errors: BIRCH_NOTFOUND (no
 * such table), BIRCH_EINVAL, BIRCH_ETXN. */
int birch_count(birch_txn *txn, birch_table *t, uint64_t *count);

/* Ranges.  A range is [lo, hi): the keys k with lo <= k < hi in memcmp
 * order.  An empty bound (size 0, data may be NULL) is open: lo = {0}
 * starts at the first key, hi = {0} runs past the last.  lo == hi is an
 * empty range; lo sorting after hi is BIRCH_EINVAL. */

/* Counts the records of [lo, hi) in *count, in O(log n): branch pages keep
 * the record count of each child, so the answer is the ranks of lo and of
 * hi from one root-to-leaf walk that parts where the two bounds do (one
 * path for a range inside a leaf, two below the root for far bounds),
 * whatever the range holds.  Errors:
 * BIRCH_EINVAL (NULL txn, t or count; a NULL bound with a size; lo > hi),
 * BIRCH_EKEYSIZE (a bound longer than birch_max_key_size()),
 * BIRCH_NOTFOUND (no such table), BIRCH_ECORRUPT, BIRCH_ETXN. */
int birch_count_range(birch_txn *txn, birch_table *t, birch_val lo, birch_val hi, uint64_t *count);

/* Deletes every record of [lo, hi) (RocksDB's DeleteRange), and tells how
 * many in *deleted (may be NULL).  Whole subtrees inside the range are
 * freed from their parents' counts without reading their leaves (a
 * subtree holding values in overflow pages is walked to free those), so
 * the cost is O(log n) plus the pages freed, not the records.  An empty
 * range changes nothing.  lo and hi may point anywhere, including into
 * records of the range.  Errors: those of birch_count_range, and
 * BIRCH_EREADONLY; BIRCH_ENOMEM, BIRCH_EFULL, BIRCH_EIO (the transaction
 * then refuses everything, as after a failed put). */
int birch_del_range(birch_txn *txn, birch_table *t, birch_val lo, birch_val hi, uint64_t *deleted);

/* ---- Write batches ---------------------------------------------------------- */

/* A batch records changes to named tables as one byte string (LevelDB's
 * and RocksDB's WriteBatch), which can be stored, sent and applied
 * anywhere, atomically, by birch_batch_apply: puts, deletes and range
 * deletes, and every other change a write transaction can make (tables
 * created, dropped and renamed, schemas, sequences, multimap pairs,
 * savepoints), so that the change feed (birch_on_commit) gives each
 * commit as a batch that replays it exactly.  Its encoding (docs/FORMAT.md,
 * "Write batches") is versioned and checksummed and names each table, so
 * it does not depend on the database it came from.  Build one in a
 * birch_batch:
 *
 *     birch_batch b;
 *     birch_batch_init(&b);
 *     birch_batch_put(&b, "users", key, val);
 *     birch_batch_del(&b, "sessions", old);
 *     birch_val bytes;
 *     if (birch_batch_bytes(&b, &bytes) == BIRCH_OK)
 *         rc = birch_batch_apply(txn, bytes);     (or send, store, ...)
 *     birch_batch_free(&b);
 *
 * The struct's members are private.  The batch copies every name, key and
 * value it is given (they may point anywhere: into the map, or into this
 * batch's own bytes).  A failed call (BIRCH_ENOMEM, BIRCH_EINVAL) leaves
 * the batch as it was. */
typedef struct birch_batch {
    uint8_t *data_;           /* header and records */
    size_t size_, cap_;
    uint32_t count_;          /* changes recorded */
    uint32_t table_len_;      /* the current table's name: its bytes ... */
    size_t table_at_;         /* ... are at data_ + table_at_ (0: none yet) */
} birch_batch;

/* Kinds of change in a batch (birch_batch_op.kind), and what applying
 * each does (birch_batch_apply), with the call that records it. */
#define BIRCH_BATCH_PUT               1  /* birch_put (no flags); creates a missing table (plain) */
#define BIRCH_BATCH_DEL               2  /* birch_del; a missing key or table: nothing */
#define BIRCH_BATCH_DEL_RANGE         3  /* birch_del_range; a missing table: nothing */
#define BIRCH_BATCH_CREATE            4  /* birch_table_open with BIRCH_CREATE and num's
                                            flags (0 or BIRCH_MULTIMAP); nothing if the table
                                            exists of that kind, BIRCH_ESCHEMA if of the other */
#define BIRCH_BATCH_DROP              5  /* birch_table_drop; a missing table: nothing */
#define BIRCH_BATCH_RENAME            6  /* birch_table_rename to val: BIRCH_NOTFOUND,
                                            BIRCH_EXISTS as it gives */
#define BIRCH_BATCH_SET_SCHEMA        7  /* birch_table_set_schema (val); BIRCH_NOTFOUND */
#define BIRCH_BATCH_SEQUENCE_SET      8  /* birch_sequence_set (num); BIRCH_NOTFOUND */
#define BIRCH_BATCH_MULTI_PUT         9  /* birch_multi_put; creates a missing multimap table */
#define BIRCH_BATCH_MULTI_DEL        10  /* birch_multi_del; a missing pair or table: nothing */
#define BIRCH_BATCH_MULTI_DEL_ALL    11  /* birch_multi_del_all; missing: nothing */
#define BIRCH_BATCH_MULTI_DEL_RANGE  12  /* birch_del_range on a multimap table; missing: nothing */
#define BIRCH_BATCH_SAVEPOINT_CREATE 13  /* birch_savepoint_create (key: the name) */
#define BIRCH_BATCH_SAVEPOINT_RESTORE 14 /* birch_savepoint_restore; BIRCH_NOTFOUND */
#define BIRCH_BATCH_SAVEPOINT_DROP   15  /* birch_savepoint_drop; a missing savepoint: nothing */

/* One change of a batch, as birch_batch_each gives it.  table: the table
 * it changes (not NUL-terminated; empty for the savepoint kinds).  key:
 * the key (DEL_RANGE, MULTI_DEL_RANGE: lo; savepoint kinds: the name).
 * val: PUT's value, a multimap pair's value, a range's hi, RENAME's new
 * name, SET_SCHEMA's schema; else empty.  num: CREATE's flags,
 * SEQUENCE_SET's value; else 0.  The pointers are into the batch's bytes. */
typedef struct birch_batch_op {
    int kind;
    birch_val table, key, val;
    uint64_t num;
} birch_batch_op;

/* An empty batch (no allocation until the first change). */
void birch_batch_init(birch_batch *b);
/* Records a put of key -> val in table (NUL-terminated, 1..255 bytes;
 * the database's own limit is checked when the batch is applied).
 * Errors: BIRCH_EINVAL (NULL b or table, a NULL key or val with a size,
 * a name of 0 or more than 255 bytes, a batch of UINT32_MAX changes
 * already), BIRCH_EKEYSIZE (an empty key, or one no database holds: above
 * BIRCH_MAX_PAGE_SIZE / 4), BIRCH_EVALSIZE (above BIRCH_MAX_VALUE_SIZE),
 * BIRCH_ENOMEM.  Every other birch_batch_* call that records a change
 * checks its arguments the same way. */
int birch_batch_put(birch_batch *b, const char *table, birch_val key, birch_val val);
/* Records a delete of key from table (applied: nothing if it is absent). */
int birch_batch_del(birch_batch *b, const char *table, birch_val key);
/* Records a delete of the range [lo, hi) of table (empty bounds are open,
 * as for birch_del_range); BIRCH_EINVAL for lo sorting after hi. */
int birch_batch_del_range(birch_batch *b, const char *table, birch_val lo, birch_val hi);
/* Records the creation of table, a plain one (flags 0) or a multimap one
 * (BIRCH_MULTIMAP); other flags are BIRCH_EINVAL. */
int birch_batch_create(birch_batch *b, const char *table, unsigned flags);
/* Records the drop of table. */
int birch_batch_drop(birch_batch *b, const char *table);
/* Records the rename of table from to to (a name as table's). */
int birch_batch_rename(birch_batch *b, const char *from, const char *to);
/* Records table's schema blob (BIRCH_EVALSIZE above BIRCH_MAX_SCHEMA_SIZE). */
int birch_batch_set_schema(birch_batch *b, const char *table, birch_val schema);
/* Records table's sequence (birch_sequence_set). */
int birch_batch_sequence_set(birch_batch *b, const char *table, uint64_t value);
/* Records a multimap pair's put or delete, a key's delete with all its
 * values, a range of keys' delete (val: up to BIRCH_MAX_PAGE_SIZE / 4
 * bytes, BIRCH_EKEYSIZE above; the database checks its own limit). */
int birch_batch_multi_put(birch_batch *b, const char *table, birch_val key, birch_val val);
int birch_batch_multi_del(birch_batch *b, const char *table, birch_val key, birch_val val);
int birch_batch_multi_del_all(birch_batch *b, const char *table, birch_val key);
int birch_batch_multi_del_range(birch_batch *b, const char *table, birch_val lo, birch_val hi);
/* Records a savepoint's creation, restore or drop (name: 1..
 * BIRCH_MAX_SAVEPOINT_NAME bytes, else BIRCH_EINVAL). */
int birch_batch_savepoint_create(birch_batch *b, const char *name);
int birch_batch_savepoint_restore(birch_batch *b, const char *name);
int birch_batch_savepoint_drop(birch_batch *b, const char *name);
/* Records a change as birch_batch_each gives it (to copy some changes of
 * one batch into another): checked as the call of its kind checks its
 * arguments; fields its kind does not have are ignored.  BIRCH_EINVAL
 * also for an unknown kind or a name holding a NUL. */
int birch_batch_add(birch_batch *b, const birch_batch_op *op);
/* The changes recorded (birch_batch_count) and the batch's encoding in
 * *out: valid until the batch next changes, is cleared or freed (to build
 * a batch from another's changes, copy its bytes first, or use a second
 * birch_batch: a cleared batch writes over its old bytes).  An empty
 * batch has an encoding too (it applies as nothing).  Errors: BIRCH_EINVAL
 * (NULL), BIRCH_ENOMEM. */
int birch_batch_bytes(birch_batch *b, birch_val *out);
uint32_t birch_batch_count(const birch_batch *b);
/* Empties the batch, keeping its memory for the next changes. */
void birch_batch_clear(birch_batch *b);
/* Frees the batch's memory; it is empty (and usable) again. */
void birch_batch_free(birch_batch *b);

/* Applies an encoded batch (from birch_batch_bytes or the change feed,
 * here or anywhere) in the write transaction txn, atomically: every change
 * or, on any error, none (the transaction is then as it was, and usable).
 * The whole encoding is checked before anything changes.  batch may point
 * anywhere, into a value read in txn included: it is copied first (a copy
 * of its size, for the length of the call).  Each kind does what its
 * BIRCH_BATCH_* line says: deletes of what is missing (a key, a pair, a
 * table, a savepoint; a name or key longer than this database holds
 * included), and range deletes of an empty range, change nothing and are
 * no error.  A batch writes bytes: a typed table's key and value formats
 * (birch_typed.h) are not checked, as with birch_put.  The savepoint
 * kinds work on txn's savepoints as the calls do (a savepoint keeps the
 * last commit before txn): applying a change feed's batches in order, each
 * in a transaction of its own, gives the same savepoints.
 * Errors: BIRCH_EINVAL (NULL txn; a NULL batch with a size; a name longer
 * than birch_max_name_size() to create; a savepoint create after a
 * restore), BIRCH_ECORRUPT (not a batch, a wrong checksum, a truncated or
 * malformed record: nothing changed), BIRCH_EVERSION (a well-formed batch
 * of another version), BIRCH_EREADONLY (a read transaction),
 * BIRCH_EKEYSIZE (a key, pair or range bound longer than this database
 * holds), BIRCH_EVALSIZE, BIRCH_ESCHEMA (a plain change to a multimap
 * table or a multimap change to a plain one; a CREATE of the other kind),
 * BIRCH_NOTFOUND and BIRCH_EXISTS (as their kinds say), BIRCH_EBUSY,
 * BIRCH_ETXN, BIRCH_ENOMEM, BIRCH_EFULL, BIRCH_EIO (as for birch_put).
 * The message names the change that failed (its index, 0-based, its kind
 * and its table, unprintable bytes as '?'). */
int birch_batch_apply(birch_txn *txn, birch_val batch);

/* Calls fn for each change of an encoded batch, in order, after checking
 * the whole encoding (BIRCH_ECORRUPT or BIRCH_EVERSION, as for
 * birch_batch_apply, before any call).  A non-zero return from fn stops and is returned as is. */
int birch_batch_each(birch_val batch, int (*fn)(const birch_batch_op *op, void *ctx), void *ctx);

/* ---- The change feed ---------------------------------------------------------- */

/* Called after each commit of this handle becomes visible (SQLite's
 * commit and update hooks, bbolt's OnCommit): txnid is the commit's id
 * (birch_txn_id of its transaction), changes its changes as a batch (see
 * "Write batches"), or empty with BIRCH_ON_COMMIT_IDS.  changes is valid
 * during the call only (copy it to keep it). */
typedef void (*birch_commit_fn)(uint64_t txnid, birch_val changes, void *ctx);

#define BIRCH_ON_COMMIT_IDS 0x1u /* the ids only: transactions record no batch */

/* Sets db's commit hook (one per handle; fn NULL removes it).  fn is
 * called from the committing thread, after the commit is in the file (and
 * synced, unless it is non-durable) and visible to new read transactions
 * and its transaction has ended (its handle gives BIRCH_ETXN), before
 * birch_txn_commit returns, and in commit order: the next write
 * transaction of this handle begins only after fn returns (so keep it
 * short).  Inside fn, read transactions see the commit; a write
 * transaction, birch_sync or birch_on_commit on this handle from fn's
 * thread gets BIRCH_EBUSY, and birch_close BIRCH_ETXN (the committing
 * transaction is still open).  Each commit that wrote a new state calls fn once: a write
 * transaction that changed nothing commits nothing and calls nothing, an
 * aborted one or a failed commit neither.  The batch holds the changes in
 * the order they were made, without those a nested transaction's abort
 * undid or a failed call never made; birch_batch_apply of each batch in
 * order, each in a write transaction of its own, to a database that was
 * equal before, makes it equal again (`birch dump` identical).  A value
 * written through birch_put_reserve is recorded as it is when its
 * pointer's life ends (the next put, del, table create, drop, rename or
 * set_schema, or the commit; a sequence change, a nested begin or a
 * savepoint create or drop leave it to be filled).  Recording copies what
 * the transaction writes (keys, values, names); BIRCH_ON_COMMIT_IDS and no
 * hook record nothing.  A change that cannot be recorded (no memory)
 * fails with BIRCH_ENOMEM before it is made.  Commits of other handles
 * and processes on the same file are not seen here.  Setting waits for a
 * write transaction of another thread to end, so that each transaction
 * records whole or not at all.  Errors: BIRCH_EINVAL (NULL db, unknown
 * flags), BIRCH_EREADONLY (a database opened read-only commits nothing),
 * BIRCH_EBUSY (this thread holds a write transaction of db, or is in
 * fn), BIRCH_EFORK. */
int birch_on_commit(birch_db *db, birch_commit_fn fn, void *ctx);
/* birch_on_commit with flags: 0 or BIRCH_ON_COMMIT_IDS. */
int birch_on_commit_flags(birch_db *db, unsigned flags, birch_commit_fn fn, void *ctx);

/* ---- Multimap tables ------------------------------------------------------ */

/* A multimap table (LMDB's MDB_DUPSORT, redb's MultimapTable), made by
 * birch_table_open with BIRCH_CREATE | BIRCH_MULTIMAP, maps a key to a
 * sorted set of values (memcmp order), for secondary indexes.  Opening an
 * existing plain table with BIRCH_MULTIMAP is BIRCH_ESCHEMA; opening a
 * multimap table without it is fine.  Each (key, value) pair is one
 * record: birch_count, birch_count_range (whose bounds are keys: a key's
 * pairs are all inside or all outside), birch_del_range, ranks and
 * cursors count and walk pairs.  A cursor stands on a pair:
 * birch_cursor_get gives its key (a copy the cursor keeps until its next
 * call) and its value (a pointer into the page, valid as a value pointer
 * is, not 8-byte aligned); birch_cursor_seek goes to the key's first
 * pair; birch_cursor_del deletes the pair.  birch_get gives the key's
 * first value.  birch_put, birch_put_reserve, birch_del and
 * birch_cursor_put refuse a multimap table with BIRCH_ESCHEMA, and the
 * calls below refuse a plain table the same way.
 * A pair must fit in one key: the key with each 0 byte doubled, plus 2,
 * plus the value, at most birch_max_key_size() bytes (BIRCH_EVALSIZE). */

/* Adds val to key's values: O(log n).  Adding a value the key has is no
 * change (BIRCH_OK), or BIRCH_EXISTS with flags BIRCH_NOOVERWRITE.  key
 * and val may point anywhere.  Errors: those of birch_put, and
 * BIRCH_ESCHEMA (a plain table). */
int birch_multi_put(birch_txn *txn, birch_table *t, birch_val key, birch_val val, unsigned flags);
/* Removes val from key's values.  BIRCH_NOTFOUND if the key does not have
 * it.  Errors: those of birch_del, BIRCH_ESCHEMA. */
int birch_multi_del(birch_txn *txn, birch_table *t, birch_val key, birch_val val);
/* Removes every value of key, as a range deletion (O(log n) plus the
 * pages freed), and tells how many in *deleted (may be NULL).
 * BIRCH_NOTFOUND if the key has none.  Errors: those of birch_del_range,
 * BIRCH_ESCHEMA. */
int birch_multi_del_all(birch_txn *txn, birch_table *t, birch_val key, uint64_t *deleted);
/* The number of key's values, in O(log n).  Errors: BIRCH_EINVAL,
 * BIRCH_EKEYSIZE, BIRCH_NOTFOUND (no such table), BIRCH_ESCHEMA. */
int birch_multi_count(birch_txn *txn, birch_table *t, birch_val key, uint64_t *count);

/* Cursors of a multimap table.  seek_value positions at key's first value
 * >= val (BIRCH_NOTFOUND, the cursor unpositioned, if key has none);
 * next_value / prev_value step to the next / previous value of the same
 * key, or give BIRCH_NOTFOUND and leave the cursor where it was (as
 * LMDB's MDB_NEXT_DUP); count_values gives the number of values of the
 * key under the cursor (BIRCH_NOTFOUND if it is unpositioned).  Errors
 * also: BIRCH_ESCHEMA (a plain table); for seek_value BIRCH_EINVAL
 * (val.data NULL with a size), BIRCH_EKEYSIZE (key empty or longer than
 * birch_max_key_size()) and BIRCH_EVALSIZE (val longer than
 * birch_max_key_size(), which no pair's value can be), which leave the
 * cursor where it was (BIRCH_NOTFOUND and a damaged file unposition it);
 * for count_values BIRCH_EINVAL (NULL count). */
int birch_cursor_seek_value(birch_cursor *cur, birch_val key, birch_val val);
int birch_cursor_next_value(birch_cursor *cur);
int birch_cursor_prev_value(birch_cursor *cur);
int birch_cursor_count_values(birch_cursor *cur, uint64_t *count);

/* ---- Savepoints ---------------------------------------------------------- */

/* A persistent savepoint (redb's): a named committed state kept in the
 * file, which a later write transaction can restore.  It costs no copy:
 * while it exists, the pages of its state are not reused, as if a reader
 * held that snapshot, so the file grows by what later commits rewrite. */
#define BIRCH_MAX_SAVEPOINT_NAME 64u /* bytes of a savepoint's name */

typedef struct birch_savepoint_info {
    const char *name;    /* valid during the callback only */
    uint64_t txnid;      /* the commit it keeps */
    uint64_t created_ms; /* when it was made: milliseconds since 1970 (UTC) */
} birch_savepoint_info;

/* Records savepoint name (a C string of 1..BIRCH_MAX_SAVEPOINT_NAME bytes)
 * in write transaction txn: it keeps the committed state txn began from
 * (the last commit, what a read transaction begun at the same time sees;
 * not txn's own changes), and exists once txn commits.  O(log s) for s
 * savepoints.  Errors: BIRCH_EINVAL (NULL, empty or too long name; or txn
 * restored a savepoint: its last commit is then no ancestor of its state,
 * make the savepoint in a later transaction), BIRCH_EXISTS (the name is
 * taken), BIRCH_EREADONLY, BIRCH_ETXN, BIRCH_ENOMEM, BIRCH_EFULL. */
int birch_savepoint_create(birch_txn *txn, const char *name);
/* Makes the state savepoint name keeps the state of write transaction
 * txn: every table, record, schema and sequence as they were (tables made
 * since are gone, tables dropped since are back), replacing what txn and
 * the commits since the savepoint changed; txn may go on changing it, and
 * its commit makes it durable like any other (an abort leaves everything
 * as it was).  The savepoint stays; savepoints made after it are dropped
 * (their states descend from the one left behind).  Cursors of txn find
 * their place again in the restored tables.  Cost: a walk of the pages
 * written since the savepoint (freed) and of the savepoint's pages that
 * were rewritten since (in use again), not of the database.  Errors:
 * BIRCH_EINVAL, BIRCH_NOTFOUND (no such savepoint), BIRCH_EREADONLY,
 * BIRCH_ETXN, BIRCH_ENOMEM, BIRCH_ECORRUPT. */
int birch_savepoint_restore(birch_txn *txn, const char *name);
/* Deletes savepoint name (write transaction): once txn commits, the pages
 * only it kept are reused.  O(log s) for s savepoints, O(s) when it is the
 * oldest (the next oldest is looked for).  Errors: BIRCH_EINVAL,
 * BIRCH_NOTFOUND, BIRCH_EREADONLY, BIRCH_ETXN. */
int birch_savepoint_drop(birch_txn *txn, const char *name);
/* Calls fn for every savepoint of txn's snapshot, in name order; a
 * non-zero return stops the listing and is returned as is.  Errors:
 * BIRCH_EINVAL, BIRCH_ETXN, BIRCH_ECORRUPT. */
int birch_savepoint_list(birch_txn *txn, int (*fn)(const birch_savepoint_info *sp, void *ctx), void *ctx);

/* ---- Sequences ---------------------------------------------------------- */

/* Each table has a 64-bit counter kept in its catalog record (bbolt's
 * NextSequence), for ids: birch_sequence_next increments it and gives the
 * new value (the first call on a table gives 1).  It is transactional: an
 * aborted transaction gives its numbers back, a committed one keeps them,
 * and as writers take turns no number is given twice.  Dropping the table
 * resets it; renaming keeps it.  O(1), no page written until the commit.
 * Errors: BIRCH_EINVAL (NULL), BIRCH_EREADONLY (read transaction),
 * BIRCH_NOTFOUND (no such table), BIRCH_EFULL (it reached UINT64_MAX),
 * BIRCH_ETXN. */
int birch_sequence_next(birch_txn *txn, birch_table *t, uint64_t *value);
/* The last value birch_sequence_next gave (0 if none), in any
 * transaction.  Errors: BIRCH_EINVAL, BIRCH_NOTFOUND, BIRCH_ETXN. */
int birch_sequence_get(birch_txn *txn, birch_table *t, uint64_t *value);
/* Sets table t's sequence to value (bbolt's SetSequence): the next
 * birch_sequence_next gives value + 1 (BIRCH_EFULL if value is
 * UINT64_MAX).  Transactional like birch_sequence_next; nothing checks that
 * no id above value is stored, as lowering it may give one again.  `birch
 * load` uses it to restore what `birch dump` wrote.  O(1).  Errors:
 * BIRCH_EINVAL (NULL), BIRCH_EREADONLY, BIRCH_NOTFOUND, BIRCH_ETXN. */
int birch_sequence_set(birch_txn *txn, birch_table *t, uint64_t value);

/* ---- Cursors ---------------------------------------------------------- */

/* Opens a cursor over table t; it is unpositioned until seek/first/last.
 * The cursor is the caller's: close every one with birch_cursor_close,
 * before or after its transaction ends (ending the transaction does not
 * close it; after the end every call but close returns BIRCH_ETXN).
 * While its read transaction is reset (birch_txn_reset) every call but
 * close returns BIRCH_ETXN; after birch_txn_renew the cursor is
 * unpositioned and reads the new snapshot.
 * Every cursor call may also return BIRCH_ECORRUPT, BIRCH_ETXN, and
 * BIRCH_NOTFOUND when the table is missing from the snapshot.
 * In a write transaction a cursor stays usable across puts and deletes: it
 * keeps its key, and the next move continues from there. */
int birch_cursor_open(birch_txn *txn, birch_table *t, birch_cursor **cur);

/* Positions at the first key >= key.  BIRCH_NOTFOUND if there is none. */
int birch_cursor_seek(birch_cursor *cur, birch_val key);
/* Positions at the smallest / largest key.  BIRCH_NOTFOUND on an empty table. */
int birch_cursor_first(birch_cursor *cur);
int birch_cursor_last(birch_cursor *cur);
/* Moves to the next / previous key.  BIRCH_NOTFOUND past either end (the
 * cursor then becomes unpositioned).  On an unpositioned cursor next acts as
 * first and prev as last. */
int birch_cursor_next(birch_cursor *cur);
int birch_cursor_prev(birch_cursor *cur);
/* The record under the cursor.  Either pointer may be NULL.  BIRCH_NOTFOUND
 * if the cursor is unpositioned or (write txn) its record was deleted. */
int birch_cursor_get(birch_cursor *cur, birch_val *key, birch_val *val);
/* Positions at the record of rank n (0 is the first, birch_count - 1 the
 * last), in O(log n) (see birch_count_range): pagination without a scan.
 * BIRCH_NOTFOUND (the cursor unpositioned) if n >= the table's records. */
int birch_cursor_seek_rank(birch_cursor *cur, uint64_t n);
/* The rank of the record under the cursor (how many records sort before
 * it), in O(log n).  Errors: BIRCH_EINVAL (NULL), BIRCH_NOTFOUND (not
 * positioned, or, in a write transaction, its record was deleted). */
int birch_cursor_rank(birch_cursor *cur, uint64_t *rank);

/* Writing through a cursor (write transactions; a read transaction's
 * cursor gets BIRCH_EREADONLY).  Every other cursor of the transaction
 * stays valid: it keeps its key and finds its place again at its next call
 * (its birch_cursor_get gives BIRCH_NOTFOUND if its record was deleted,
 * and next / prev move on from where that record was). */

/* flags 0, BIRCH_NOOVERWRITE or BIRCH_APPEND: stores key -> val as
 * birch_put does and positions the cursor on it.  BIRCH_CURRENT: replaces
 * the value of the record under the cursor, which stays on it; key must
 * then be empty ({0}) or the cursor's key.  key and val may point anywhere,
 * a key or value the cursor just returned included.  Errors: those of
 * birch_put, BIRCH_NOTFOUND (CURRENT on an unpositioned cursor or a
 * deleted record), BIRCH_EINVAL (CURRENT with another key or with other
 * flags). */
int birch_cursor_put(birch_cursor *cur, birch_val key, birch_val val, unsigned flags);
/* Deletes the record under the cursor and moves the cursor to the next
 * one, without a second search when the leaf keeps a quarter of its page
 * (the common case): a scan that deletes as it goes costs what the scan
 * costs.  After the last record is deleted the cursor is unpositioned
 * (birch_cursor_get gives BIRCH_NOTFOUND); the call still succeeds.
 * Errors: BIRCH_NOTFOUND (unpositioned, or its record was deleted by
 * another call), BIRCH_EREADONLY, and those of birch_del. */
int birch_cursor_del(birch_cursor *cur);

/* Closes (frees) the cursor.  NULL is a no-op.  Safe at any time: it
 * touches neither the transaction nor the database, which may be gone. */
void birch_cursor_close(birch_cursor *cur);

/* ---- Maintenance ------------------------------------------------------ */

/* Checks one snapshot: the last commit when it starts, pinned like a read
 * transaction, so it runs beside readers and writers and never reports a
 * healthy database as damaged, whatever they commit meanwhile.  It checks:
 *   - the snapshot's meta as this handle holds it (read and verified at
 *     open, or written by this handle's commits): its checksum recomputed,
 *     format version, page size, page count;
 *   - the meta page on disk, on a read-only handle only, and only while
 *     no write transaction of any handle (of any process) runs and the
 *     snapshot is still the last commit: the page that holds the snapshot
 *     must hold exactly its meta (the check holds the writer lock for the
 *     read, so the page cannot change during it; while a writer is busy,
 *     or a commit moved the metas on since the snapshot, it is skipped).
 *     A handle open for writing does not read its meta pages, which its
 *     own commits may be rewriting (a damaged meta page is otherwise found
 *     by the next open, which falls back to the other one or fails);
 *   - every tree (catalog, each table): each page's checksum
 *     against the one its parent (or the meta, or the catalog) keeps, page
 *     headers, levels and depth, node bounds with no overlap, key order
 *     within and across pages, no empty page but an empty root, record
 *     counts, each big value's run and its checksum;
 *   - the pages of the snapshot (2 up to its page count; the file may be
 *     longer): each in exactly one tree, listed by the snapshot's
 *     free-space map (free, or freed by a commit and waiting for older
 *     snapshots), or one of the map's own records, whose checksums and
 *     operations are verified; a page freed by a commit after the
 *     snapshot's (never reusable) is reported as a leak.  Free pages are
 *     counted, never read: a writer may be reusing them.
 * Returns BIRCH_OK, or BIRCH_ECORRUPT with a message naming the page and
 * the problem in msg (which may be NULL; on success it says how many pages
 * were checked) and in birch_errmsg().  Errors also: BIRCH_EINVAL (NULL
 * db), BIRCH_EBUSY (no reader slot free), BIRCH_ENOMEM, BIRCH_EIO (reading
 * the meta page). */
int birch_check(birch_db *db, char *msg, size_t msg_size);

/* Statistics of the last committed state.  file_size counts space that
 * birch reserved ahead (the file grows in steps of an eighth of its size,
 * at least 16 pages). */
typedef struct birch_stat {
    uint32_t page_size;
    uint64_t txnid;        /* id of the last commit */
    uint64_t page_count;   /* pages in the committed state (incl. meta) */
    uint64_t free_pages;   /* pages free or waiting for older snapshots (the free-space map) */
    uint64_t file_size;    /* bytes */
    uint64_t table_count;
    uint64_t oldest_txnid; /* the oldest snapshot a live read transaction,
                              guard or stream holds, in any process that
                              has the file open (txnid when none does):
                              pages freed after it cannot be reused yet */
    uint32_t readers;      /* read transactions, guards and streams open
                              on it now, in every process */
} birch_stat;
/* Fills *st.  Errors: BIRCH_EINVAL (NULL db or st), BIRCH_EFORK. */
int birch_stat_get(birch_db *db, birch_stat *st);

/* ---- Processes sharing the file ----------------------------------------- */

/* One slot of the reader table (the lock file's, or the handle's own for
 * the memory backend and a read-only open without a lock file).  A slot
 * belongs to a database handle, in some process, from the handle's first
 * read that needs it until its birch_close; a read transaction, guard or
 * stream pins a snapshot in one while it lives. */
typedef struct birch_reader_info {
    uint32_t slot;
    int64_t pid;        /* process of the handle that holds the slot (as
                           the process that holds it saw its own pid) */
    uint64_t txnid;     /* the snapshot pinned; 0 when the slot is idle */
    uint64_t age_ms;    /* how long that snapshot has been pinned */
    int alive;          /* 0: the handle's process died without closing
                           it (a stale slot; see birch_readers_clear) */
} birch_reader_info;
typedef int (*birch_reader_fn)(const birch_reader_info *r, void *ctx);
/* Calls fn for every slot held by a handle (this one's and others'),
 * lowest slot first, until it returns non-zero, which is returned as is.
 * A stale slot pins nothing: writers skip it, and readers take it over
 * when they need a slot.  Costs a system call per other handle.  Errors:
 * BIRCH_EINVAL (NULL db or fn), BIRCH_EFORK. */
int birch_readers(birch_db *db, birch_reader_fn fn, void *ctx);
/* Frees every stale slot (of handles whose process died) and sets *cleared
 * (may be NULL) to how many.  Never needed for space or slots, which
 * birch reclaims by itself; for a tidy birch_readers listing (LMDB's
 * mdb_reader_check).  Errors: BIRCH_EINVAL, BIRCH_EFORK. */
int birch_readers_clear(birch_db *db, unsigned *cleared);

/* ---- Backup and compaction ------------------------------------------- */

/* Progress of a long operation: done grows from 0 to total (units of
 * work, pages here; total may be revised upwards, and the last call has
 * done == total).  Return 0 to go on; any other value cancels the
 * operation, which then cleans up and returns that value as is (use
 * positive values to tell them from BIRCH_E* codes). */
typedef int (*birch_progress_fn)(uint64_t done, uint64_t total, void *ctx);

/* birch_copy flags */
#define BIRCH_COPY_COMPACT 0x1u /* leave out free pages, renumber pages in order */

/* Writes a consistent copy of the last commit (a pinned read snapshot,
 * so writers keep committing meanwhile) to the new file path.  Without
 * flags the copy holds the snapshot's pages as they are, free pages
 * included (as zeros); with BIRCH_COPY_COMPACT it holds only the pages in
 * use, numbered in tree order, and no free page (pages are not refilled).
 * Every page read is verified against the checksum its parent keeps
 * (every page of every tree, each big value's run, the free-space map's
 * records), each page may belong to one tree, free-space map run or record
 * only, and the map must list as many pages as the meta says: a damaged source is refused
 * with BIRCH_ECORRUPT naming the page, and no file is left at path or
 * path + ".tmp".  (Pages that are neither in a tree nor free, a leak that
 * birch_check reports, are written as zeros by a plain copy.)
 * The copy is written to path + ".tmp" (a leftover of a crashed copy is
 * replaced), synced, then renamed to path and the directory synced, so a
 * crash never leaves a partial file under path.  progress may be NULL.
 * Errors (birch_errmsg() names the path and the operating system's
 * reason): BIRCH_EINVAL (NULL, bad flags, path too long), BIRCH_EXISTS
 * (path exists), BIRCH_NOTFOUND (path's directory does not exist),
 * BIRCH_EACCES (no permission to create the file in its directory),
 * BIRCH_EREADONLY (the directory is on a read-only file system),
 * BIRCH_EBUSY (no reader slot), BIRCH_ECORRUPT (a damaged tree in the
 * source), BIRCH_EFULL, BIRCH_EIO, BIRCH_ENOMEM, or the non-zero value
 * progress returned. */
int birch_copy(birch_db *db, const char *path, unsigned flags, birch_progress_fn progress, void *ctx);

/* Compacts the database file at path in place: opens it and has it alone
 * (no other handle, in this or another process, may have it open:
 * BIRCH_EBUSY, and opens meanwhile wait), writes a compact copy to
 * path + ".compact.tmp" (verified as birch_copy does: a damaged file gives
 * BIRCH_ECORRUPT naming the page, is left as it was, and no .compact.tmp
 * remains), syncs it, renames it over path while still having it alone,
 * and syncs the directory.  A crash before the rename
 * leaves the old file (and a stale .compact.tmp that the next compaction
 * replaces), after it the compacted one.  opts as for birch_open (NULL for
 * defaults); read_only, BIRCH_RECREATE_ALWAYS and the memory backend are
 * BIRCH_EINVAL.  Errors: BIRCH_NOTFOUND (no file at path), BIRCH_EACCES
 * (no permission for the file, or to create the copy in its directory),
 * those of birch_open and birch_copy. */
int birch_compact(const char *path, const birch_options *opts, birch_progress_fn progress, void *ctx);

/* A static description of a result code; never NULL. */
const char *birch_strerror(int rc);

/* The detail of the last error a birch call returned on the calling thread
 * (like errno, each thread has its own): which argument, option or limit
 * was wrong, the path and the operating system's reason, or, for
 * BIRCH_ECORRUPT, which check failed, on which page, and where in birch's
 * source ("damaged file: page 12: slot 3 runs past the page end
 * [engine/pager.c:101]").  Read it right after the call that failed: the
 * next failing call on the thread replaces it; calls that succeed leave
 * it, also those that answer "no" with a non-negative result
 * (birch_typed_contains or birch_typed_delete returning 0) and those
 * that recover from an internal miss (birch_open creating the file, a
 * table created, a stream or list walked to its end).  Never NULL; the
 * text stays valid until the thread's next birch call. */
const char *birch_errmsg(void);

/* The library version, e.g. "0.1.0". */
const char *birch_version(void);

#ifdef __cplusplus
}
#endif

#include "birch_key.h"   /* key formats */
#include "birch_typed.h" /* value formats, typed tables, guards, streams */
#include "birch_flatbuffers.h" /* the FlatBuffers format: verifier, accessors, builder */

#endif /* BIRCH_H */
