/*
 * Snippets of docs/guide/transactions.md.  Each ```c block of the guide is
 * copied verbatim from this file (tests/check_guides.cmake checks it), and
 * this program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

/* [guide] */
typedef struct account {
    uint64_t id;
    int64_t balance; /* cents */
} account;

/* Moves amount from one account to another: both records change in one
 * commit, or neither does. */
static int transfer(birch_db *db, birch_table *accounts, uint64_t from, uint64_t to,
                    int64_t amount)
{
    birch_txn *txn;
    birch_val v;
    account a, b;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn); /* waits for the writer */
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_get(txn, accounts, (birch_val){&from, sizeof from}, &v);
    if (rc == BIRCH_OK) {
        memcpy(&a, v.data, sizeof a); /* copy: the next put may move v.data */
        rc = birch_get(txn, accounts, (birch_val){&to, sizeof to}, &v);
    }
    if (rc == BIRCH_OK) {
        memcpy(&b, v.data, sizeof b);
        a.balance -= amount;
        b.balance += amount;
        rc = birch_put(txn, accounts, (birch_val){&from, sizeof from},
                       (birch_val){&a, sizeof a}, 0);
    }
    if (rc == BIRCH_OK)
        rc = birch_put(txn, accounts, (birch_val){&to, sizeof to},
                       (birch_val){&b, sizeof b}, 0);
    if (rc != BIRCH_OK) {
        birch_txn_abort(txn); /* nothing of it reaches the file */
        return rc;
    }
    return birch_txn_commit(txn); /* durable when it returns BIRCH_OK */
}
/* [/guide] */

/* [guide] */
/* Builds a value in place: birch_put_reserve returns room for it inside
 * the page (8-byte aligned, zeroed), so the struct is never copied. */
static int add_account(birch_txn *txn, birch_table *accounts, uint64_t id, int64_t balance)
{
    void *room;
    int rc = birch_put_reserve(txn, accounts, (birch_val){&id, sizeof id}, sizeof(account),
                               BIRCH_NOOVERWRITE, &room);
    if (rc != BIRCH_OK)
        return rc;
    account *acc = room;
    acc->id = id;
    acc->balance = balance;
    return BIRCH_OK;
}
/* [/guide] */

/* [guide] */
/* A read transaction sees the snapshot committed when it began, whatever
 * commits meanwhile; values are read in place (8-byte aligned). */
static int total(birch_db *db, birch_table *accounts, int64_t *sum)
{
    birch_txn *txn;
    birch_cursor *cur;
    birch_val val;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn);
    if (rc != BIRCH_OK)
        return rc;
    *sum = 0;
    rc = birch_cursor_open(txn, accounts, &cur);
    if (rc == BIRCH_OK) {
        while ((rc = birch_cursor_next(cur)) == BIRCH_OK &&
               (rc = birch_cursor_get(cur, NULL, &val)) == BIRCH_OK)
            *sum += ((const account *)val.data)->balance;
        birch_cursor_close(cur);
    }
    birch_txn_abort(txn);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}
/* [/guide] */

/* [guide] */
/* A reader that polls: between polls its transaction is reset, so it
 * holds no snapshot (writers reuse the pages it saw), and each poll reads
 * the newest commit through the same handle, allocating nothing. */
static int poll_balance(birch_txn *reader, birch_table *accounts, uint64_t id,
                        int64_t *balance)
{
    birch_val v;
    int rc = birch_txn_renew(reader); /* a fresh snapshot: the last commit */
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_get(reader, accounts, (birch_val){&id, sizeof id}, &v);
    if (rc == BIRCH_OK)
        *balance = ((const account *)v.data)->balance; /* copy: v dies at the reset */
    int reset_rc = birch_txn_reset(reader); /* parked until the next poll */
    return rc != BIRCH_OK ? rc : reset_rc;
}
/* [/guide] */

/* [guide] */
/* On a database opened BIRCH_DURABLE_FULL: an audit line that may be lost
 * in a power cut skips the sync (durable about a second later); the next
 * durable commit makes it durable too, with its own one sync. */
static int audit(birch_db *db, birch_table *log, uint64_t seq, const char *line)
{
    birch_txn *txn;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_NONDURABLE, &txn);
    if (rc != BIRCH_OK)
        return rc;
    rc = birch_put(txn, log, (birch_val){&seq, sizeof seq}, (birch_val){line, strlen(line)}, 0);
    if (rc != BIRCH_OK) {
        birch_txn_abort(txn);
        return rc;
    }
    return birch_txn_commit(txn); /* returns without a sync */
}
/* [/guide] */

/* [guide] */
/* Without waiting: BIRCH_EBUSY at once if another write transaction runs. */
static int try_write(birch_db *db, birch_txn **txn)
{
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, txn);
    if (rc == BIRCH_EBUSY)
        fprintf(stderr, "another writer is busy; try again later\n");
    return rc;
}
/* [/guide] */

#define CHECK(call)                                                                    \
    do {                                                                               \
        int rc_ = (call);                                                              \
        if (rc_ != BIRCH_OK) {                                                         \
            fprintf(stderr, "%s: %s (%d)\n", #call, birch_strerror(rc_), rc_);         \
            exit(EXIT_FAILURE);                                                        \
        }                                                                              \
    } while (0)

int main(void)
{
    birch_options opts;
    birch_db *db;
    birch_table *accounts, *log;
    birch_txn *txn, *txn2, *reader, *poller;
    int64_t sum, balance;
    birch_val v;

    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    CHECK(birch_open(NULL, &opts, &db));
    CHECK(try_write(db, &txn));
    if (try_write(db, &txn2) != BIRCH_EBUSY)
        return EXIT_FAILURE;
    CHECK(birch_table_open(txn, "accounts", BIRCH_CREATE, &accounts));
    CHECK(add_account(txn, accounts, 1, 10000));
    CHECK(add_account(txn, accounts, 2, 500));
    CHECK(birch_txn_commit(txn));

    CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &reader)); /* before the transfer */
    CHECK(transfer(db, accounts, 1, 2, 2500));
    CHECK(total(db, accounts, &sum));
    if (sum != 10500)
        return EXIT_FAILURE;
    CHECK(birch_get(reader, accounts, (birch_val){&(uint64_t){2}, 8}, &v));
    if (((const account *)v.data)->balance != 500) /* the old snapshot */
        return EXIT_FAILURE;
    birch_txn_abort(reader);
    if (transfer(db, accounts, 1, 3, 1) != BIRCH_NOTFOUND) /* no account 3 */
        return EXIT_FAILURE;
    CHECK(total(db, accounts, &sum));
    if (sum != 10500)
        return EXIT_FAILURE;

    CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &poller));
    CHECK(birch_txn_reset(poller)); /* parked from the start */
    CHECK(poll_balance(poller, accounts, 2, &balance));
    if (balance != 3000)
        return EXIT_FAILURE;
    CHECK(transfer(db, accounts, 2, 1, 1000));
    CHECK(poll_balance(poller, accounts, 2, &balance)); /* sees the new commit */
    if (balance != 2000)
        return EXIT_FAILURE;
    if (birch_get(poller, accounts, (birch_val){&(uint64_t){2}, 8}, &v) != BIRCH_ETXN)
        return EXIT_FAILURE; /* parked: nothing reads through it */
    birch_txn_abort(poller);

    CHECK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    CHECK(birch_table_open(txn, "audit", BIRCH_CREATE, &log));
    CHECK(birch_txn_commit(txn));
    CHECK(audit(db, log, 1, "transfer 2 -> 1: 1000"));
    CHECK(birch_sync(db)); /* now durable, without waiting for the second */
    CHECK(birch_close(db));
    puts("transactions: ok");
    return EXIT_SUCCESS;
}
