/*
 * birch_replica.h - a birch database replicated by Raft (canonical/raft,
 * libraft 0.15, and libuv for the network and the log on disk).
 *
 * A replica node owns one birch database and one Raft instance.  Writes
 * are write batches (birch_batch_*, birch.h): the leader appends a batch
 * to the Raft log, and once a majority stored it every node applies it to
 * its database, in log order, each in one write transaction whose commit
 * also records the entry's Raft index in the reserved table
 * BIRCH_REPLICA_TABLE.  A node that restarts reads that index back and
 * skips every entry at or below it, so no entry is applied twice and none
 * is skipped.  A lagging node is brought up to date with a snapshot: a
 * compacted birch_copy of the leader's database, installed by replacing
 * the follower's file atomically.  docs/DESIGN.md section 23 gives the
 * reasons; docs/guide/replication.md what is guaranteed and what is not.
 *
 * Two layers:
 *   - birch_replica_sm: the state machine alone, a struct raft_fsm over a
 *     birch file, for any raft_io (the in-memory one of raft/fixture.h in
 *     the tests, raft_uv in a node);
 *   - birch_replica: a node: data directory, identity, raft_uv over TCP,
 *     the state machine, writes, reads and membership changes.
 *
 * Threads: a birch_replica belongs to the thread that runs its uv loop;
 * every birch_replica_* call on it, and every callback it makes, happens
 * there.  A birch_replica_sm is called by its raft instance, on the thread
 * that drives it; the database handle it gives (birch_replica_sm_db) may
 * change when a snapshot is restored, so read through it on that thread
 * too, between callbacks.
 *
 * Errors: every call that returns int returns BIRCH_OK (0), a BIRCH_E*
 * code of birch.h, or one of the BIRCH_REPLICA_E* codes below;
 * birch_replica_strerror() names either kind and birch_replica_errmsg()
 * says what went wrong in the last failing call on this thread (for a
 * birch error, the detail birch_errmsg() gave, prefixed with what the
 * replica was doing).
 */
#ifndef BIRCH_REPLICA_H
#define BIRCH_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "birch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Result codes (besides birch.h's) ---------------------------------- */
#define BIRCH_REPLICA_ENOTLEADER (-101) /* this node is not the leader: the
                                           message names the leader when one
                                           is known ("leader is 2 at
                                           127.0.0.1:7002") */
#define BIRCH_REPLICA_EIDENTITY  (-102) /* the data directory belongs to
                                           another node or cluster, or a
                                           database or snapshot comes from
                                           another cluster */
#define BIRCH_REPLICA_ETOOBIG    (-103) /* a batch larger than max_batch */
#define BIRCH_REPLICA_ERAFT      (-104) /* libraft refused or failed: the
                                           message has raft's own */
#define BIRCH_REPLICA_ELOST      (-105) /* leadership was lost, or the node
                                           closed, before the entry was
                                           applied here: it may or may not
                                           be committed (read to find out) */

/* The table every replicated database reserves for itself: key "applied"
 * holds the Raft index of the last entry applied (8 bytes, little
 * endian), key "cluster" the cluster id.  Batches that touch it are
 * refused (BIRCH_EINVAL); it is readable like any table. */
#define BIRCH_REPLICA_TABLE "birch.replica"

/* Longest cluster id, in bytes (printable ASCII, no space). */
#define BIRCH_REPLICA_MAX_CLUSTER_ID 64u
/* Default and largest accepted max_batch (bytes of an encoded batch). */
#define BIRCH_REPLICA_DEFAULT_MAX_BATCH ((size_t)1 << 20)
#define BIRCH_REPLICA_MAX_MAX_BATCH     ((size_t)64 << 20)

/* A static description of a BIRCH_REPLICA_E* or BIRCH_E* code; never NULL. */
const char *birch_replica_strerror(int rc);
/* The detail of the last error a birch_replica call returned on this
 * thread; never NULL, valid until the thread's next failing call. */
const char *birch_replica_errmsg(void);

/* Checks an encoded batch before it is submitted: its size (at most
 * max_size bytes, 0 meaning BIRCH_REPLICA_DEFAULT_MAX_BATCH), its
 * encoding, and that it leaves BIRCH_REPLICA_TABLE alone.  Errors:
 * BIRCH_EINVAL (NULL data with a size; a change to the reserved table),
 * BIRCH_REPLICA_ETOOBIG, BIRCH_ECORRUPT and BIRCH_EVERSION (as
 * birch_batch_each). */
int birch_replica_check_batch(birch_val batch, size_t max_size);

/* ---- The state machine -------------------------------------------------- */

typedef struct birch_replica_sm birch_replica_sm;

/* What the state machine has done since it was opened (for tests and
 * status lines). */
typedef struct birch_replica_sm_stat {
    uint64_t applied;  /* Raft index recorded in the database */
    uint64_t written;  /* entries applied (one commit each, or a group's
                          share of one: birch_replica_sm_group) */
    uint64_t skipped;  /* entries at or below the recorded index, skipped */
    uint64_t refused;  /* entries whose batch failed (recorded, no change) */
    uint64_t restored; /* snapshots installed (the file replaced) */
    uint64_t kept;     /* snapshots not newer than the file, not installed */
} birch_replica_sm_stat;

/* Opens (or creates) the database at db_path for cluster cluster_id (1..
 * BIRCH_REPLICA_MAX_CLUSTER_ID printable bytes) and fills *fsm, to give to
 * raft_init (or raft_fixture_grow); *fsm points at the state machine, and
 * must stay where it is until birch_replica_sm_close.  durability is the
 * database's birch_options.durability: BIRCH_DURABLE_NONE is safe under
 * Raft (docs/DESIGN.md 23.3) and is what nodes use.  Snapshots are written
 * beside db_path (db_path + ".snap", ".restore").  Until
 * birch_replica_sm_bind, applying an entry fails.  Errors: BIRCH_EINVAL
 * (NULL, bad cluster id or durability), BIRCH_REPLICA_EIDENTITY (the
 * database records another cluster id), BIRCH_ENOMEM, those of
 * birch_open. */
int birch_replica_sm_open(const char *db_path, const char *cluster_id, int durability,
                          struct raft_fsm *fsm, birch_replica_sm **sm);
/* Tells the state machine which raft instance drives it: the index of
 * the entry being applied is raft_last_applied(r) + 1 (libraft 0.15 calls
 * apply before it advances last_applied).  Call before raft_start. */
void birch_replica_sm_bind(birch_replica_sm *sm, struct raft *r);
/* The database, for reads on the raft thread.  It changes when a snapshot
 * is installed: take it again after any raft callback. */
birch_db *birch_replica_sm_db(birch_replica_sm *sm);
/* The Raft index recorded in the database (0 for a new one). */
uint64_t birch_replica_sm_applied(const birch_replica_sm *sm);
void birch_replica_sm_stat_get(const birch_replica_sm *sm, birch_replica_sm_stat *st);
/* The result of an applied entry, from the result pointer libraft passes
 * to a raft_apply callback: BIRCH_OK, or the code the batch failed with
 * on every node (its changes not made, the index recorded all the same).
 * When it failed, birch_replica_sm_failure gives the message if index is
 * the entry's (the last failure is kept). */
int birch_replica_sm_result(void *result);
const char *birch_replica_sm_failure(const birch_replica_sm *sm, uint64_t index);
/* Wraps an encoded batch as a Raft log entry for raft_apply: the batch's
 * length (8 bytes, little endian), its bytes, and zeros up to a multiple
 * of 8 bytes (libraft 0.15's log on disk reads back only such entries;
 * docs/FORMAT.md 22).  out->base is allocated with raft_malloc and is the
 * caller's (raft_apply takes it when it succeeds).  Errors: BIRCH_EINVAL
 * (NULL), BIRCH_ENOMEM. */
int birch_replica_sm_entry(birch_val batch, struct raft_buffer *out);
/* Group mode: entries applied one after another share one write
 * transaction (each batch still applied whole or, refused, not at all),
 * committed by birch_replica_sm_flush, or once it holds max_entries
 * entries, or before a snapshot is taken or installed, or at
 * birch_replica_sm_close.  An entry with savepoint changes is committed
 * alone (what a savepoint keeps depends on where transactions begin).
 * 0 (the default) commits each entry by itself.  Until the flush the
 * group's entries are applied for libraft (raft_last_applied) but not in
 * the database: reads and birch_replica_sm_applied show the last commit,
 * so call flush before telling anyone an entry is applied (a node does it
 * on every turn of its loop, before its callbacks).  It saves a commit
 * per entry (the pages each rewrites: the tree's upper levels, the meta)
 * when a turn applies several (docs/DESIGN.md 23.7). */
void birch_replica_sm_group(birch_replica_sm *sm, unsigned max_entries);
/* Commits the open group; BIRCH_OK when there is none.  A failure stops
 * the state machine: the group's entries, which libraft counts applied,
 * are discarded, and every later apply, snapshot and flush fails until it
 * is reopened (the Raft log gives the entries again at the restart).
 * Errors: BIRCH_EINVAL (NULL), BIRCH_EIO (stopped before), those of
 * birch_txn_commit. */
int birch_replica_sm_flush(birch_replica_sm *sm);
/* Begins a read transaction on the database and reads the index of the
 * last entry applied in that snapshot into *applied (may be NULL). */
int birch_replica_sm_read(birch_replica_sm *sm, birch_txn **txn, uint64_t *applied);
/* Closes the database and frees the state machine (its raft instance
 * must be closed first, or never started).  NULL is a no-op.  Errors: those
 * of birch_close (the state machine is freed all the same). */
int birch_replica_sm_close(birch_replica_sm *sm);

/* ---- A node ------------------------------------------------------------- */

struct uv_loop_s;
typedef struct birch_replica birch_replica;

/* A member of the first configuration. */
typedef struct birch_replica_peer {
    uint64_t id;         /* > 0 */
    const char *address; /* its Raft address, "IPv4:port" */
} birch_replica_peer;

/* Options of birch_replica_open.  Call birch_replica_options_init first. */
typedef struct birch_replica_options {
    uint64_t id;                     /* this node's id, > 0 (required) */
    const char *cluster_id;          /* required; see birch_replica_sm_open */
    const char *dir;                 /* data directory (required; created when
                                        missing, its parent must exist) */
    const char *address;             /* Raft address "IPv4:port" (required) */
    const birch_replica_peer *peers; /* the first configuration, this node
                                        included, every one a voter: used
                                        only when the directory holds no
                                        Raft state yet (bootstrap); NULL or
                                        0 peers for a node that joins an
                                        existing cluster (birch_replica_add) */
    unsigned n_peers;
    size_t max_batch;                /* bytes; 0: the default (1 MiB); at most
                                        BIRCH_REPLICA_MAX_MAX_BATCH */
    unsigned snapshot_threshold;     /* entries between snapshots (0: 1024) */
    unsigned snapshot_trailing;      /* entries kept after one (0: 128) */
    unsigned election_timeout_ms;    /* 0: 1000 */
    unsigned heartbeat_timeout_ms;   /* 0: 100 */
    unsigned install_timeout_ms;     /* how long the leader waits for a
                                        follower to answer a snapshot before
                                        it sends one again (0: 10000; libraft
                                        0.15 can lose that answer, and its
                                        own default is 30 s): at least the
                                        time a snapshot takes to send */
    int durability;                  /* the database's: BIRCH_DURABLE_NONE
                                        (default; the Raft log is synced) or
                                        BIRCH_DURABLE_FULL */
} birch_replica_options;

void birch_replica_options_init(birch_replica_options *o);

/* Opens the node of data directory o->dir on loop and starts it.  The
 * directory holds "identity" (the node id and the cluster id), "raft/"
 * (libraft's log and snapshots), "db.birch" (the database) and "lock"
 * (locked while the node runs).  A directory of another node or another
 * cluster is refused, and so is one another node has open.  Errors:
 * BIRCH_EINVAL (a missing or bad option, named), BIRCH_REPLICA_EIDENTITY,
 * BIRCH_EBUSY (the directory is in use by a node, here or in another
 * process),
 * BIRCH_REPLICA_ERAFT (libraft could not init, bootstrap or start: a port
 * in use, a damaged log), BIRCH_EIO, BIRCH_ENOMEM, those of
 * birch_replica_sm_open. */
int birch_replica_open(struct uv_loop_s *loop, const birch_replica_options *o, birch_replica **node);

/* Stops the node: pending writes and barriers get BIRCH_REPLICA_ELOST,
 * then the database is closed and cb(ctx) called on the loop, after which
 * node is freed.  The loop must run until then.  NULL, or a node closing
 * already, is a no-op (only the first cb runs); until cb, writes, barriers
 * and membership changes are refused with BIRCH_EINVAL. */
void birch_replica_close(birch_replica *node, void (*cb)(void *ctx), void *ctx);

/* Called once a write or barrier is done: rc BIRCH_OK (index is the
 * entry's), the code its batch failed with on every node, or
 * BIRCH_REPLICA_ELOST; msg (valid during the call) says why. */
typedef void (*birch_replica_done_cb)(void *ctx, int rc, uint64_t index, const char *msg);

/* Submits an encoded batch (copied; checked by birch_replica_check_batch
 * first).  cb runs once the entry is applied and committed on this node,
 * the leader (entries applied in one turn of the loop share a commit):
 * then every later read on any node that sees that index sees the batch.
 * Errors (cb is not called): BIRCH_REPLICA_ENOTLEADER, those of
 * birch_replica_check_batch, BIRCH_REPLICA_ERAFT, BIRCH_ENOMEM, BIRCH_EIO
 * (this node's state machine stopped after a failed commit: it applies
 * nothing more until it is restarted, so nothing would call cb). */
int birch_replica_write(birch_replica *node, birch_val batch, birch_replica_done_cb cb, void *ctx);

/* A linearizable read: cb runs once every entry committed before the call
 * is applied here (a Raft barrier); read with birch_replica_read then.
 * Leader only.  Errors as for birch_replica_write. */
int birch_replica_barrier(birch_replica *node, birch_replica_done_cb cb, void *ctx);

/* A local read: a read transaction on this node's database (end it before
 * returning to the loop) and the index applied in its snapshot, which may
 * lag the leader's.  Errors: those of birch_txn_begin. */
int birch_replica_read(birch_replica *node, birch_txn **txn, uint64_t *applied);

/* Membership changes, through the leader (libraft's raft_add,
 * raft_assign, raft_remove): add makes a spare, assign gives a role
 * (RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE; promoting to voter catches it up
 * first), remove takes it out.  cb gets BIRCH_OK or BIRCH_REPLICA_ERAFT
 * with raft's message.  Errors: BIRCH_REPLICA_ENOTLEADER,
 * BIRCH_REPLICA_ERAFT (a bad id or role, a change already in progress),
 * BIRCH_EINVAL, BIRCH_ENOMEM. */
int birch_replica_add(birch_replica *node, uint64_t id, const char *address,
                      birch_replica_done_cb cb, void *ctx);
int birch_replica_assign(birch_replica *node, uint64_t id, int role, birch_replica_done_cb cb,
                         void *ctx);
int birch_replica_remove(birch_replica *node, uint64_t id, birch_replica_done_cb cb, void *ctx);

/* What a node knows of itself and the cluster. */
typedef struct birch_replica_status {
    uint64_t id;
    const char *state;       /* "leader", "follower", "candidate", "unavailable" */
    uint64_t leader_id;      /* 0 if unknown */
    const char *leader_address; /* NULL if unknown; valid until the loop runs */
    uint64_t term;
    uint64_t commit_index;
    uint64_t last_applied;   /* raft's */
    uint64_t last_index;     /* of the local log */
    birch_replica_sm_stat sm;
} birch_replica_status;

void birch_replica_status_get(birch_replica *node, birch_replica_status *st);
/* The state machine of the node (its database: birch_replica_sm_db). */
birch_replica_sm *birch_replica_state_machine(birch_replica *node);

#ifdef __cplusplus
}
#endif

#endif /* BIRCH_REPLICA_H */
