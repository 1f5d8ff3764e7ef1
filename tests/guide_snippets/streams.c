/*
 * Snippets of docs/guide/streams.md.  Each ```c block of the guide is
 * copied verbatim from this file (tests/check_guides.cmake checks it), and
 * this program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

/* [guide] */
typedef struct Order {
    uint64_t customer;
    uint64_t number;
    double amount;
} Order;

/* Orders keyed by (customer, number): all orders of a customer are one
 * range of keys, in number order. */
typedef struct order_key {
    uint64_t customer;
    uint64_t number;
} order_key;
BIRCH_KEY_TUPLE(order_key_fmt, order_key, &birch_key_u64, customer, &birch_key_u64, number);
BIRCH_POD_FORMAT(order_format, Order, 1);
/* [/guide] */

/* [guide] */
/* Every order of one customer: a prefix scan over the first tuple element. */
static int print_orders(const birch_typed *orders, uint64_t customer)
{
    order_key prefix = {customer, 0}; /* only the first element is read */
    birch_stream_opts o = {0};        /* zero: everything, forward */
    birch_stream *s;
    birch_item it;
    o.prefix = &prefix;
    o.prefix_len = 1;
    int rc = birch_stream_open(NULL, orders, &o, &s); /* a snapshot of its own */
    if (rc != BIRCH_OK)
        return rc;
    while ((rc = birch_stream_next(s, &it)) == BIRCH_OK) {
        const order_key *k = it.key;  /* the decoded C key */
        const Order *ord = it.view;   /* the verified value, in place */
        printf("order %llu: %.2f\n", (unsigned long long)k->number, ord->amount);
    }
    birch_stream_close(s);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc; /* NOTFOUND: the end */
}
/* [/guide] */

/* [guide] */
static int is_large(const birch_item *item, void *ctx)
{
    return ((const Order *)item->view)->amount >= *(const double *)ctx;
}

/* The 3 largest-numbered orders of customer 7 with numbers in [10, 20)
 * and an amount of at least 100, into an array (pod values are copied). */
static int large_orders(birch_txn *txn, const birch_typed *orders, Order out[3], size_t *n)
{
    double min = 100.0;
    order_key lo = {7, 10}, hi = {7, 20};
    birch_stream_opts o = {0};
    o.lo = &lo;
    o.lo_bound = BIRCH_INCLUSIVE;
    o.hi = &hi;
    o.hi_bound = BIRCH_EXCLUSIVE;
    o.reverse = 1;          /* largest key first */
    o.filter = is_large;
    o.filter_ctx = &min;
    o.limit = 3;
    return birch_stream_collect(txn, orders, &o, NULL, out, 3, n);
}
/* [/guide] */

/* [guide] */
/* A long scan in pages of 100 records, each page on a fresh snapshot, so
 * no snapshot stays pinned (and no old pages stay unreusable) for long. */
static int scan_in_pages(const birch_typed *orders, double *sum)
{
    unsigned char resume[64];
    size_t resume_len = 0;
    int rc, more = 1;
    *sum = 0;
    while (more) {
        birch_stream_opts o = {0};
        birch_stream *s;
        birch_item it;
        uint64_t got = 0;
        o.limit = 100;
        if (resume_len > 0) { /* continue after the last key of the last page */
            o.resume = resume;
            o.resume_len = resume_len;
        }
        rc = birch_stream_open(NULL, orders, &o, &s);
        if (rc != BIRCH_OK)
            return rc;
        while ((rc = birch_stream_next(s, &it)) == BIRCH_OK) {
            *sum += ((const Order *)it.view)->amount;
            got++;
        }
        if (rc == BIRCH_NOTFOUND && got > 0)
            rc = birch_stream_resume_key(s, resume, sizeof resume, &resume_len);
        birch_stream_close(s);
        if (rc != BIRCH_OK && rc != BIRCH_NOTFOUND)
            return rc;
        more = got == 100;
    }
    return BIRCH_OK;
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
    birch_txn *txn;
    birch_typed orders;
    Order got[3];
    size_t n;
    double sum, want = 0;

    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    CHECK(birch_open(NULL, &opts, &db));
    CHECK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    CHECK(birch_typed_open(db, txn, "orders", &order_key_fmt, &order_format, BIRCH_CREATE,
                           &orders));
    for (uint64_t c = 1; c <= 10; c++)
        for (uint64_t i = 1; i <= 30; i++) {
            order_key k = {c, i};
            Order o = {c, i, (double)(i * 10)};
            want += o.amount;
            CHECK(birch_typed_put(txn, &orders, &k, &o, 0));
        }
    CHECK(birch_txn_commit(txn));

    CHECK(print_orders(&orders, 3));
    CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    CHECK(large_orders(txn, &orders, got, &n));
    birch_txn_abort(txn);
    /* numbers 10..19 with amount >= 100: 19, 18, 17 */
    if (n != 3 || got[0].number != 19 || got[2].number != 17 || got[0].customer != 7)
        return EXIT_FAILURE;
    CHECK(scan_in_pages(&orders, &sum));
    if (sum != want)
        return EXIT_FAILURE;
    CHECK(birch_close(db));
    puts("streams: ok");
    return EXIT_SUCCESS;
}
