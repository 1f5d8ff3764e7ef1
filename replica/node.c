/*
 * node.c - a replica node: a data directory (identity, "raft/", "db.birch"),
 * libraft over raft_uv (its segmented log and snapshots in "raft/", TCP
 * between nodes), and the state machine of fsm.c.  Everything runs on the
 * thread of the node's uv loop.
 *
 * Requests (writes, barriers, membership changes) are small heap structs
 * that embed libraft's request and carry the caller's callback; libraft
 * calls back exactly once for each request it accepted (on close too, with
 * an error).  The state machine runs in group mode (fsm.c): the entries
 * applied in one turn of the loop share one commit, made by the prepare
 * handle just before the loop waits again (on a follower, whose applies
 * nobody waits for, up to RP_FOLLOWER_DELAY_MS later, so that its groups
 * are larger and its commits fewer).  So libraft's callbacks for
 * writes and barriers, which it fires right after the state machine
 * applied an entry, only queue the request; the prepare handle commits
 * the group, then reports the queued requests in order and frees them: a
 * write is acknowledged once the entry is applied and committed on this
 * node, the leader.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft/uv.h>
#include <uv.h>

#include "replica_internal.h"

struct birch_replica {
    uv_loop_t *loop;
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    birch_replica_sm *sm;
    size_t max_batch;
    int lock_fd;                /* DIR/lock, flock()ed while the node runs */
    int closing;                /* birch_replica_close was called */
    int closed;                 /* raft_close's callback ran (and the handles closed) */
    void (*close_cb)(void *ctx);
    void *close_ctx;
    uv_prepare_t prepare;       /* commits the group, then reports (report) */
    uv_timer_t delay;           /* a follower's group: commits it later */
    int handles_on;             /* prepare and delay initialized: uv_close them at the end */
    int handles_open;           /* of those, not closed yet */
    struct request *done_head, *done_tail; /* done, to report after the commit */
};

/* Entries one commit holds at most (fsm.c's group mode): a turn of the loop
 * that applies more commits every RP_GROUP_MAX. */
#define RP_GROUP_MAX 64
/* How long a follower keeps a group open: its reads may lag the leader's
 * anyway (birch_replica_read), and each commit it saves is the tree's
 * upper pages written once less. */
#define RP_FOLLOWER_DELAY_MS 20

typedef struct request {
    union {
        struct raft_apply apply;
        struct raft_barrier barrier;
        struct raft_change change;
    } u;
    birch_replica *node;
    birch_replica_done_cb cb;
    void *ctx;
    /* Once done (queued for report): */
    struct request *next;
    int rc;
    uint64_t index;
    char msg[256];
} request;

void birch_replica_options_init(birch_replica_options *o)
{
    memset(o, 0, sizeof *o);
    o->durability = BIRCH_DURABLE_NONE;
}

static int raft_failed(int rv, const char *what, const char *detail)
{
    return rp_err(BIRCH_REPLICA_ERAFT, "%s: %s%s%s", what, raft_strerror(rv), detail && *detail ? ": " : "",
                  detail ? detail : "");
}

static int not_leader(birch_replica *node)
{
    raft_id id = 0;
    const char *address = NULL;
    raft_leader(&node->raft, &id, &address);
    if (id)
        return rp_err(BIRCH_REPLICA_ENOTLEADER, "node %llu is not the leader: leader is %llu at %s",
                      (unsigned long long)node->raft.id, id, address ? address : "?");
    return rp_err(BIRCH_REPLICA_ENOTLEADER, "node %llu is not the leader, and no leader is known",
                  (unsigned long long)node->raft.id);
}

static int check_options(const birch_replica_options *o)
{
    if (!o)
        return rp_err(BIRCH_EINVAL, "birch_replica_open: NULL options");
    if (o->id == 0)
        return rp_err(BIRCH_EINVAL, "option id: a node id is a number above 0");
    if (!o->cluster_id || !o->dir || !o->address)
        return rp_err(BIRCH_EINVAL, "options cluster_id, dir and address are required");
    if (!rp_valid_cluster_id(o->cluster_id))
        return rp_err(BIRCH_EINVAL, "option cluster_id \"%s\": 1 to %u printable bytes without spaces",
                      o->cluster_id, BIRCH_REPLICA_MAX_CLUSTER_ID);
    if (strlen(o->dir) > 3000)
        return rp_err(BIRCH_EINVAL, "option dir: a path of at most 3000 bytes");
    if (o->max_batch > BIRCH_REPLICA_MAX_MAX_BATCH)
        return rp_err(BIRCH_EINVAL, "option max_batch: at most %zu bytes", BIRCH_REPLICA_MAX_MAX_BATCH);
    if (o->n_peers && !o->peers)
        return rp_err(BIRCH_EINVAL, "option peers: NULL with n_peers %u", o->n_peers);
    int self = 0;
    for (unsigned i = 0; i < o->n_peers; i++) {
        if (o->peers[i].id == 0 || !o->peers[i].address)
            return rp_err(BIRCH_EINVAL, "option peers[%u]: an id above 0 and an address", i);
        if (o->peers[i].id == o->id && strcmp(o->peers[i].address, o->address) != 0)
            return rp_err(BIRCH_EINVAL, "option peers: this node (id %" PRIu64 ") is listed at %s, but its address is %s",
                          o->id, o->peers[i].address, o->address);
        self |= o->peers[i].id == o->id;
    }
    if (o->n_peers && !self)
        return rp_err(BIRCH_EINVAL, "option peers: this node (id %" PRIu64 ") is not among them", o->id);
    if (o->heartbeat_timeout_ms && o->election_timeout_ms &&
        o->heartbeat_timeout_ms >= o->election_timeout_ms)
        return rp_err(BIRCH_EINVAL, "options: the heartbeat timeout must be below the election timeout");
    return BIRCH_OK;
}

static int by_id(const void *a, const void *b)
{
    const birch_replica_peer *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Writes the first configuration to a new log: every peer a voter, in id
 * order, so that every node writes the same entry 1 whatever order its
 * command line gave.  A log that exists already is left alone. */
static int bootstrap(birch_replica *node, const birch_replica_options *o)
{
    birch_replica_peer *peers = malloc(o->n_peers * sizeof *peers);
    struct raft_configuration conf;
    if (!peers)
        return rp_err(BIRCH_ENOMEM, "bootstrap: out of memory");
    memcpy(peers, o->peers, o->n_peers * sizeof *peers);
    qsort(peers, o->n_peers, sizeof *peers, by_id);
    raft_configuration_init(&conf);
    int rv = 0;
    for (unsigned i = 0; i < o->n_peers && rv == 0; i++)
        rv = raft_configuration_add(&conf, peers[i].id, peers[i].address, RAFT_VOTER);
    free(peers);
    if (rv == 0)
        rv = raft_bootstrap(&node->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP)
        return BIRCH_OK; /* there is a log already */
    return rv ? raft_failed(rv, "bootstrap", raft_errmsg(&node->raft)) : BIRCH_OK;
}

static void free_node(birch_replica *node)
{
    raft_uv_close(&node->io);
    raft_uv_tcp_close(&node->transport);
    birch_replica_sm_close(node->sm);
    close(node->lock_fd);
    free(node);
}

/* Locks the data directory for this process (DIR/lock, flock: released
 * when the process dies): two nodes on one directory would write one Raft
 * log and one database as if each were alone.  *fd: the descriptor. */
static int lock_dir(const char *dir, int *fd)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return rp_err(BIRCH_EIO, "creating %s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return rp_err(BIRCH_EBUSY, "data directory %s is in use by another node (%s is locked)", dir,
                          path);
        return rp_err(BIRCH_EIO, "locking %s: %s", path, strerror(e));
    }
    return BIRCH_OK;
}

/* Commits the state machine's group, then calls back the requests done
 * since the last report, in the order they were done.  A write whose entry
 * was applied but could not be committed here gets BIRCH_REPLICA_ELOST
 * (the entry is in the Raft log: other nodes apply it, and this one at its
 * restart). */
static void report(birch_replica *node)
{
    int frc = birch_replica_sm_flush(node->sm);
    char why[sizeof node->done_head->msg] = "";
    if (frc)
        snprintf(why, sizeof why, "applied, but not committed on this node: %.200s", birch_replica_errmsg());
    request *q;
    while ((q = node->done_head) != NULL) {
        node->done_head = q->next;
        if (!node->done_head)
            node->done_tail = NULL;
        if (frc && q->rc == BIRCH_OK) {
            q->rc = BIRCH_REPLICA_ELOST;
            snprintf(q->msg, sizeof q->msg, "%s", why);
        }
        q->cb(q->ctx, q->rc, q->index, q->msg); /* may submit more, which queue behind */
        free(q);
    }
}

static void on_delay(uv_timer_t *t)
{
    report(t->data);
}

/* Before the loop waits: a leader, or a node with requests to report,
 * commits now; a follower's group waits for the delay timer. */
static void on_prepare(uv_prepare_t *h)
{
    birch_replica *node = h->data;
    if (node->done_head || raft_state(&node->raft) == RAFT_LEADER) {
        uv_timer_stop(&node->delay);
        report(node);
    } else if (node->sm->group && !uv_is_active((uv_handle_t *)&node->delay)) {
        uv_timer_start(&node->delay, on_delay, RP_FOLLOWER_DELAY_MS, 0);
    }
}

static void queue_done(request *q, int rc, uint64_t index, const char *msg)
{
    birch_replica *node = q->node;
    q->rc = rc;
    q->index = index;
    snprintf(q->msg, sizeof q->msg, "%s", msg ? msg : birch_replica_strerror(rc));
    q->next = NULL;
    if (node->done_tail)
        node->done_tail->next = q;
    else
        node->done_head = q;
    node->done_tail = q;
}

static void finish_close(birch_replica *node)
{
    node->closed = 1;
    if (node->close_cb) {
        void (*cb)(void *) = node->close_cb;
        void *ctx = node->close_ctx;
        free_node(node);
        cb(ctx);
    }
}

static void handle_closed(uv_handle_t *h)
{
    birch_replica *node = h->data;
    if (--node->handles_open == 0)
        finish_close(node);
}

static void raft_closed(struct raft *r)
{
    birch_replica *node = r->data;
    report(node); /* the requests raft_close ended, and the last group */
    if (node->handles_on) {
        node->handles_open = 2;
        uv_close((uv_handle_t *)&node->prepare, handle_closed);
        uv_close((uv_handle_t *)&node->delay, handle_closed);
    } else {
        finish_close(node);
    }
}

/* After raft_init, only raft_close undoes it, and only on the loop. */
static int fail_started(birch_replica *node, int rc)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", birch_replica_errmsg());
    raft_close(&node->raft, raft_closed);
    while (!node->closed)
        uv_run(node->loop, UV_RUN_ONCE);
    free_node(node);
    return rp_err(rc, "%s", msg);
}

int birch_replica_open(struct uv_loop_s *loop, const birch_replica_options *o, birch_replica **out)
{
    int rc = check_options(o);
    if (rc)
        return rc;
    if (!loop || !out)
        return rp_err(BIRCH_EINVAL, "birch_replica_open: NULL loop or node");
    if ((rc = rp_identity(o->dir, o->id, o->cluster_id)) != BIRCH_OK)
        return rc;
    int lock_fd;
    if ((rc = lock_dir(o->dir, &lock_fd)) != BIRCH_OK)
        return rc;
    char raft_dir[4096], db_path[4096];
    snprintf(raft_dir, sizeof raft_dir, "%s/raft", o->dir);
    snprintf(db_path, sizeof db_path, "%s/db.birch", o->dir);

    birch_replica *node = calloc(1, sizeof *node);
    if (!node) {
        close(lock_fd);
        return rp_err(BIRCH_ENOMEM, "birch_replica_open: out of memory");
    }
    node->lock_fd = lock_fd;
    node->loop = loop;
    node->max_batch = o->max_batch ? o->max_batch : BIRCH_REPLICA_DEFAULT_MAX_BATCH;
    if (mkdir(raft_dir, 0755) != 0 && errno != EEXIST) {
        rc = rp_err(BIRCH_EIO, "creating %s: %s", raft_dir, strerror(errno));
        close(lock_fd);
        free(node);
        return rc;
    }
    rc = birch_replica_sm_open(db_path, o->cluster_id, o->durability, &node->fsm, &node->sm);
    if (rc) {
        close(lock_fd);
        free(node);
        return rc;
    }
    int rv = raft_uv_tcp_init(&node->transport, loop);
    if (rv) {
        birch_replica_sm_close(node->sm);
        close(lock_fd);
        free(node);
        return raft_failed(rv, "raft_uv_tcp_init", NULL);
    }
    rv = raft_uv_init(&node->io, loop, raft_dir, &node->transport);
    if (rv) {
        rc = raft_failed(rv, raft_dir, node->io.errmsg);
        raft_uv_tcp_close(&node->transport);
        birch_replica_sm_close(node->sm);
        close(lock_fd);
        free(node);
        return rc;
    }
    /* Snapshots stored as they are: libraft 0.15's LZ4 decoder spins for
     * ever on a truncated snapshot file at start (a damaged file must be
     * refused, which rp_restore's sizes and birch_check then do). */
    raft_uv_set_snapshot_compression(&node->io, false);
    rv = raft_init(&node->raft, &node->io, &node->fsm, o->id, o->address);
    if (rv) {
        rc = raft_failed(rv, "raft_init", raft_errmsg(&node->raft));
        raft_uv_close(&node->io);
        raft_uv_tcp_close(&node->transport);
        birch_replica_sm_close(node->sm);
        close(lock_fd);
        free(node);
        return rc;
    }
    node->raft.data = node;
    birch_replica_sm_bind(node->sm, &node->raft);
    raft_set_election_timeout(&node->raft, o->election_timeout_ms ? o->election_timeout_ms : 1000);
    raft_set_heartbeat_timeout(&node->raft, o->heartbeat_timeout_ms ? o->heartbeat_timeout_ms : 100);
    raft_set_install_snapshot_timeout(&node->raft, o->install_timeout_ms ? o->install_timeout_ms : 10000);
    raft_set_snapshot_threshold(&node->raft, o->snapshot_threshold ? o->snapshot_threshold : 1024);
    raft_set_snapshot_trailing(&node->raft, o->snapshot_trailing ? o->snapshot_trailing : 128);
    raft_set_pre_vote(&node->raft, true); /* a node back from a partition does not depose the leader */
    if (o->n_peers && (rc = bootstrap(node, o)) != BIRCH_OK)
        return fail_started(node, rc);
    rv = raft_start(&node->raft);
    if (rv) {
        raft_failed(rv, "raft_start", raft_errmsg(&node->raft));
        return fail_started(node, BIRCH_REPLICA_ERAFT);
    }
    birch_replica_sm_group(node->sm, RP_GROUP_MAX);
    uv_prepare_init(loop, &node->prepare);
    uv_timer_init(loop, &node->delay);
    node->prepare.data = node->delay.data = node;
    uv_prepare_start(&node->prepare, on_prepare);
    node->handles_on = 1;
    *out = node;
    return BIRCH_OK;
}

void birch_replica_close(birch_replica *node, void (*cb)(void *ctx), void *ctx)
{
    if (!node || node->closing) /* closing already: its first cb will run */
        return;
    node->closing = 1;
    node->close_cb = cb;
    node->close_ctx = ctx;
    raft_close(&node->raft, raft_closed);
}

/* ---- Writes and barriers ------------------------------------------------------- */

/* A stopped state machine (fsm.c's stop: a group's index put or commit
 * failed) applies nothing more until the node restarts, so libraft would
 * never call back a write or barrier accepted now: refuse it. */
static int sm_stopped(birch_replica *node)
{
    if (!node->sm->broken)
        return BIRCH_OK;
    return rp_err(BIRCH_EIO, "the state machine stopped (%s): restart this node", node->sm->broken_msg);
}

static void write_done(struct raft_apply *req, int status, void *result)
{
    request *q = req->data;
    int rc = status ? BIRCH_REPLICA_ELOST : birch_replica_sm_result(result);
    const char *msg = "ok";
    if (status)
        msg = raft_strerror(status);
    else if (rc)
        msg = birch_replica_sm_failure(q->node->sm, req->index); /* copied now: the next failure replaces it */
    queue_done(q, rc, req->index, msg);
}

static request *new_request(birch_replica *node, birch_replica_done_cb cb, void *ctx)
{
    request *q = calloc(1, sizeof *q);
    if (q) {
        q->node = node;
        q->cb = cb;
        q->ctx = ctx;
    }
    return q;
}

int birch_replica_write(birch_replica *node, birch_val batch, birch_replica_done_cb cb, void *ctx)
{
    if (!node || !cb)
        return rp_err(BIRCH_EINVAL, "birch_replica_write: NULL node or callback");
    if (node->closing)
        return rp_err(BIRCH_EINVAL, "birch_replica_write: the node is closing");
    int rc = birch_replica_check_batch(batch, node->max_batch);
    if (rc == BIRCH_OK)
        rc = sm_stopped(node);
    if (rc)
        return rc;
    if (raft_state(&node->raft) != RAFT_LEADER)
        return not_leader(node);
    struct raft_buffer buf;
    if ((rc = birch_replica_sm_entry(batch, &buf)) != BIRCH_OK)
        return rc;
    request *q = new_request(node, cb, ctx);
    if (!q) {
        raft_free(buf.base);
        return rp_err(BIRCH_ENOMEM, "birch_replica_write: out of memory");
    }
    q->u.apply.data = q;
    int rv = raft_apply(&node->raft, &q->u.apply, &buf, 1, write_done);
    if (rv) {
        raft_free(buf.base);
        free(q);
        return rv == RAFT_NOTLEADER ? not_leader(node) : raft_failed(rv, "raft_apply", raft_errmsg(&node->raft));
    }
    return BIRCH_OK;
}

static void barrier_done(struct raft_barrier *req, int status)
{
    request *q = req->data;
    queue_done(q, status ? BIRCH_REPLICA_ELOST : BIRCH_OK, req->index, status ? raft_strerror(status) : "ok");
}

int birch_replica_barrier(birch_replica *node, birch_replica_done_cb cb, void *ctx)
{
    if (!node || !cb)
        return rp_err(BIRCH_EINVAL, "birch_replica_barrier: NULL node or callback");
    if (node->closing)
        return rp_err(BIRCH_EINVAL, "birch_replica_barrier: the node is closing");
    if (sm_stopped(node) != BIRCH_OK)
        return BIRCH_EIO;
    if (raft_state(&node->raft) != RAFT_LEADER)
        return not_leader(node);
    request *q = new_request(node, cb, ctx);
    if (!q)
        return rp_err(BIRCH_ENOMEM, "birch_replica_barrier: out of memory");
    q->u.barrier.data = q;
    int rv = raft_barrier(&node->raft, &q->u.barrier, barrier_done);
    if (rv) {
        free(q);
        return rv == RAFT_NOTLEADER ? not_leader(node) : raft_failed(rv, "raft_barrier", raft_errmsg(&node->raft));
    }
    return BIRCH_OK;
}

int birch_replica_read(birch_replica *node, birch_txn **txn, uint64_t *applied)
{
    if (!node)
        return rp_err(BIRCH_EINVAL, "birch_replica_read: NULL node");
    return birch_replica_sm_read(node->sm, txn, applied);
}

/* ---- Membership ------------------------------------------------------------------ */

static void change_done(struct raft_change *req, int status)
{
    request *q = req->data;
    q->cb(q->ctx, status ? BIRCH_REPLICA_ERAFT : BIRCH_OK, 0, status ? raft_strerror(status) : "ok");
    free(q);
}

/* Whether id is the configuration's only voter (libraft 0.15 lets it be
 * removed or demoted, which leaves a cluster that can never elect). */
static int last_voter(birch_replica *node, uint64_t id)
{
    const struct raft_configuration *c = &node->raft.configuration;
    unsigned voters = 0;
    int is_voter = 0;
    for (unsigned i = 0; i < c->n; i++)
        if (c->servers[i].role == RAFT_VOTER) {
            voters++;
            is_voter |= c->servers[i].id == id;
        }
    return is_voter && voters == 1;
}

/* op: 'a' add, 's' assign, 'r' remove. */
static int change(birch_replica *node, int op, uint64_t id, const char *address, int role,
                  birch_replica_done_cb cb, void *ctx)
{
    if (!node || !cb || id == 0 || (op == 'a' && !address))
        return rp_err(BIRCH_EINVAL, "membership change: NULL node, callback or address, or id 0");
    if (node->closing)
        return rp_err(BIRCH_EINVAL, "membership change: the node is closing");
    if (raft_state(&node->raft) != RAFT_LEADER)
        return not_leader(node);
    if ((op == 'r' || (op == 's' && role != RAFT_VOTER)) && last_voter(node, id))
        return rp_err(BIRCH_EINVAL, "node %" PRIu64 " is the only voter: without it no leader could be elected", id);
    request *q = new_request(node, cb, ctx);
    if (!q)
        return rp_err(BIRCH_ENOMEM, "membership change: out of memory");
    q->u.change.data = q;
    int rv = op == 'a'   ? raft_add(&node->raft, &q->u.change, id, address, change_done)
             : op == 's' ? raft_assign(&node->raft, &q->u.change, id, role, change_done)
                         : raft_remove(&node->raft, &q->u.change, id, change_done);
    if (rv) {
        free(q);
        return rv == RAFT_NOTLEADER ? not_leader(node)
                                    : raft_failed(rv, "membership change", raft_errmsg(&node->raft));
    }
    return BIRCH_OK;
}

int birch_replica_add(birch_replica *node, uint64_t id, const char *address, birch_replica_done_cb cb,
                      void *ctx)
{
    return change(node, 'a', id, address, 0, cb, ctx);
}

int birch_replica_assign(birch_replica *node, uint64_t id, int role, birch_replica_done_cb cb, void *ctx)
{
    return change(node, 's', id, NULL, role, cb, ctx);
}

int birch_replica_remove(birch_replica *node, uint64_t id, birch_replica_done_cb cb, void *ctx)
{
    return change(node, 'r', id, NULL, 0, cb, ctx);
}

/* ---- Status ------------------------------------------------------------------------- */

void birch_replica_status_get(birch_replica *node, birch_replica_status *st)
{
    static const char *const names[] = {"unavailable", "follower", "candidate", "leader"};
    if (!st)
        return;
    if (!node) {
        memset(st, 0, sizeof *st);
        st->state = "unavailable";
        return;
    }
    int s = raft_state(&node->raft);
    raft_id leader = 0;
    const char *address = NULL;
    memset(st, 0, sizeof *st);
    raft_leader(&node->raft, &leader, &address);
    st->id = node->raft.id;
    st->state = s >= 0 && s <= 3 ? names[s] : "unknown";
    st->leader_id = leader;
    st->leader_address = address;
    st->term = node->raft.current_term;
    st->commit_index = node->raft.commit_index;
    st->last_applied = raft_last_applied(&node->raft);
    st->last_index = raft_last_index(&node->raft);
    birch_replica_sm_stat_get(node->sm, &st->sm);
}

birch_replica_sm *birch_replica_state_machine(birch_replica *node)
{
    return node ? node->sm : NULL;
}
