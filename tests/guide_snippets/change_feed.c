/*
 * Snippets of docs/guide/change-feed.md.  Each ```c block of the guide is
 * copied verbatim from this file (tests/check_guides.cmake checks it), and
 * this program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

static birch_val str(const char *s)
{
    return (birch_val){s, strlen(s)};
}

static birch_db *open_memory(const char *name)
{
    birch_options o;
    birch_options_init(&o);
    o.backend = BIRCH_BACKEND_MEMORY;
    birch_db *db = NULL;
    if (birch_open(name, &o, &db)) {
        fprintf(stderr, "open %s: %s\n", name, birch_errmsg());
        exit(1);
    }
    return db;
}

/* [guide] */
/* A follower kept in step: each commit's batch, copied in the hook (its
 * bytes live only during the call), is queued; the program applies the
 * queue to the follower later, each batch in a transaction of its own. */
typedef struct queue {
    birch_val *batches;
    size_t n, cap;
    int failed;
} queue;

static void on_commit(uint64_t txnid, birch_val changes, void *ctx)
{
    queue *q = ctx;
    (void)txnid;
    void *copy = malloc(changes.size);
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 16;
        birch_val *v = realloc(q->batches, cap * sizeof *v);
        if (v) q->batches = v, q->cap = cap;
    }
    if (!copy || q->n == q->cap) { /* the follower can no longer be trusted */
        free(copy);
        q->failed = 1;
        return;
    }
    memcpy(copy, changes.data, changes.size);
    q->batches[q->n++] = (birch_val){copy, changes.size};
}

static int catch_up(birch_db *follower, queue *q)
{
    size_t done = 0;
    int rc = BIRCH_OK;
    while (rc == BIRCH_OK && done < q->n) {
        birch_txn *txn;
        rc = birch_txn_begin(follower, BIRCH_TXN_WRITE, &txn);
        if (rc == BIRCH_OK && (rc = birch_batch_apply(txn, q->batches[done])) != BIRCH_OK) birch_txn_abort(txn);
        else if (rc == BIRCH_OK) rc = birch_txn_commit(txn);
        if (rc == BIRCH_OK) free((void *)q->batches[done++].data);
    }
    /* What failed and what follows it wait for the next call. */
    memmove(q->batches, q->batches + done, (q->n - done) * sizeof *q->batches);
    q->n -= done;
    return rc ? rc : q->failed ? BIRCH_ENOMEM : BIRCH_OK;
}
/* [/guide] */

/* [guide] */
/* A search index, a cache or an audit log reads each change. */
static int show(const birch_batch_op *op, void *ctx)
{
    (void)ctx;
    printf("  kind %d on '%.*s': %.*s\n", op->kind, (int)op->table.size, (const char *)op->table.data,
           (int)op->key.size, (const char *)op->key.data);
    return 0;
}

static void audit(uint64_t txnid, birch_val changes, void *ctx)
{
    (void)ctx;
    printf("commit %llu:\n", (unsigned long long)txnid);
    birch_batch_each(changes, show, NULL);
}
/* [/guide] */

static int same(birch_db *a, birch_db *b, const char *table, const char *key)
{
    birch_txn *t[2] = {NULL, NULL};
    birch_val v[2];
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        birch_table *x;
        ok = ok && birch_txn_begin(i ? b : a, BIRCH_TXN_READ, &t[i]) == BIRCH_OK;
        ok = ok && birch_table_open(t[i], table, 0, &x) == BIRCH_OK && birch_get(t[i], x, str(key), &v[i]) == BIRCH_OK;
    }
    ok = ok && v[0].size == v[1].size && memcmp(v[0].data, v[1].data, v[0].size) == 0;
    birch_txn_abort(t[0]);
    birch_txn_abort(t[1]);
    return ok;
}

int main(void)
{
    birch_db *leader = open_memory("leader"), *follower = open_memory("follower");
    queue q = {NULL, 0, 0, 0};
    int rc = birch_on_commit(leader, on_commit, &q);
    birch_txn *txn, *child;
    birch_table *users;
    if (rc == BIRCH_OK) rc = birch_txn_begin(leader, BIRCH_TXN_WRITE, &txn);
    if (rc == BIRCH_OK) rc = birch_table_open(txn, "users", BIRCH_CREATE, &users);
    if (rc == BIRCH_OK) rc = birch_put(txn, users, str("ada"), str("engineer"), 0);
    if (rc == BIRCH_OK) rc = birch_txn_begin_nested(txn, &child);
    if (rc == BIRCH_OK) rc = birch_put(child, users, str("bob"), str("undone"), 0);
    if (rc == BIRCH_OK) birch_txn_abort(child); /* not in the feed */
    if (rc == BIRCH_OK) rc = birch_txn_commit(txn);
    if (rc == BIRCH_OK) rc = catch_up(follower, &q);
    if (rc) {
        fprintf(stderr, "feed: %s\n", birch_errmsg());
        return 1;
    }
    if (!same(leader, follower, "users", "ada")) {
        fprintf(stderr, "the follower is not in step\n");
        return 1;
    }
    if ((rc = birch_on_commit(leader, audit, NULL)) == BIRCH_OK && (rc = birch_txn_begin(leader, BIRCH_TXN_WRITE, &txn)) == BIRCH_OK) {
        rc = birch_table_rename(txn, "users", "people");
        rc = rc ? rc : birch_txn_commit(txn);
    }
    free(q.batches);
    printf("done\n");
    return rc || birch_close(leader) || birch_close(follower) ? 1 : 0;
}
