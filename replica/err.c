/*
 * err.c - the detail of the last replica error on this thread, as
 * birch_errmsg() keeps birch's: a code alone does not say which option,
 * which node or which file.  Thread-local, like errno, so that two nodes
 * on two threads never see each other's messages.
 */
#include <stdio.h>
#include <string.h>

#include "replica_internal.h"

static _Thread_local char rp_msg[512];

int rp_err(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp_msg, sizeof rp_msg, fmt, ap);
    va_end(ap);
    return rc;
}

int rp_err_birch(int rc, const char *what)
{
    return rp_err(rc, "%s: %s", what, birch_errmsg());
}

const char *birch_replica_errmsg(void)
{
    return rp_msg;
}

const char *birch_replica_strerror(int rc)
{
    switch (rc) {
    case BIRCH_REPLICA_ENOTLEADER:
        return "not the leader: write or read through the leader the message names";
    case BIRCH_REPLICA_EIDENTITY:
        return "data directory, database or snapshot of another node or cluster";
    case BIRCH_REPLICA_ETOOBIG:
        return "batch larger than the node's max_batch";
    case BIRCH_REPLICA_ERAFT:
        return "raft error (libraft refused or failed)";
    case BIRCH_REPLICA_ELOST:
        return "leadership lost or node closed before the entry was applied: it may or may not be committed";
    default:
        return birch_strerror(rc);
    }
}
