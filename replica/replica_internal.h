/*
 * replica_internal.h - what the files of replica/ share: the error
 * recorder (err.c), the state machine's struct (fsm.c, snapshot.c) and the
 * reserved table's keys.  Nothing here is public.
 */
#ifndef BIRCH_REPLICA_INTERNAL_H
#define BIRCH_REPLICA_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "birch_replica.h"

/* ---- err.c ---------------------------------------------------------------- */
/* Records rc's detail for birch_replica_errmsg() and returns rc. */
int rp_err(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, for a birch call that just failed: "what: birch_errmsg()". */
int rp_err_birch(int rc, const char *what);

/* ---- The reserved table (fsm.c) ------------------------------------------- */
#define RP_KEY_APPLIED "applied"
#define RP_KEY_CLUSTER "cluster"

/* ---- fsm.c, snapshot.c ------------------------------------------------------ */
struct birch_replica_sm {
    birch_db *db;
    struct raft *raft;            /* the instance driving it (bind) */
    char *db_path;                /* the database ... */
    char *snap_path;              /* ... db_path + ".snap": a snapshot's copy */
    char *restore_path;           /* ... db_path + ".restore": one being installed */
    char cluster[BIRCH_REPLICA_MAX_CLUSTER_ID + 1];
    int durability;
    uint64_t applied;             /* the index the file records */
    birch_replica_sm_stat stat;
    uint64_t fail_index;          /* the last entry whose batch failed ... */
    char fail_msg[256];           /* ... and why */
    /* Group mode (birch_replica_sm_group): */
    unsigned group_max;           /* entries a group holds at most; 0: off */
    birch_txn *group;             /* the open group's write transaction */
    unsigned group_n;             /* entries in it */
    uint64_t group_index;         /* the last of them */
    int broken;                   /* a failure stopped applying (until reopened) */
    char broken_msg[256];         /* which */
};

/* 1 if id is 1..BIRCH_REPLICA_MAX_CLUSTER_ID printable bytes, no space. */
int rp_valid_cluster_id(const char *id);
/* Opens sm->db at path and reads the recorded index and cluster id:
 * BIRCH_REPLICA_EIDENTITY when the cluster differs. */
int rp_sm_open_db(birch_replica_sm *sm);
/* Reads the index recorded in txn's snapshot (0 if none) into *index,
 * and the cluster id into cluster (NUL-terminated, "" if none). */
int rp_read_identity(birch_txn *txn, uint64_t *index, char *cluster, size_t cap);

/* The raft_fsm snapshot callbacks (snapshot.c), version 2. */
int rp_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs);
int rp_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs);
int rp_restore(struct raft_fsm *fsm, struct raft_buffer *buf);

/* ---- identity.c ------------------------------------------------------------- */
/* Creates dir if missing and checks (or, in a new directory, writes) its
 * identity file: BIRCH_REPLICA_EIDENTITY for another node's or cluster's. */
int rp_identity(const char *dir, uint64_t id, const char *cluster);

/* Little-endian 64-bit integers. */
static inline void rp_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint64_t rp_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif /* BIRCH_REPLICA_INTERNAL_H */
