/*
 * test_typed.c - typed tables, value formats and guards (api/birch_typed.h,
 * api/typed.c, formats/value.c).
 *
 * Schemas: every kind of format change is refused with BIRCH_ESCHEMA and
 * the documented message; the schema survives a reopen; raw access always
 * works; untyped tables.  Records: put/get/delete/contains for every
 * built-in value format and many key formats, with and without a
 * transaction.  Guards: snapshots kept while writers reuse pages, zero
 * guards, double release, close with a live guard.  BIRCH_EFORMAT on
 * stored bytes that fail verification.  Batches.  BIRCH_TYPED_TABLE.
 * Every bad input returns its error and changes nothing.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- Formats under test -------------------------------------------------- */

typedef struct Order {
    uint64_t id;
    uint64_t customer;
    double total;
    uint32_t qty;
    uint32_t flags;
    char sku[16];
} Order;
_Static_assert(sizeof(Order) == 48 && _Alignof(Order) == 8, "Order is 48 bytes, align 8");
BIRCH_POD_FORMAT(order_fmt, Order, 2);

typedef struct Customer {
    uint64_t id;
    char name[24];
} Customer;
BIRCH_POD_FORMAT(customer_fmt, Customer, 1);

typedef struct Small {
    uint16_t a;
    uint8_t b;
} Small; /* 4 bytes, align 2 */
BIRCH_POD_FORMAT(small_fmt, Small, 1);

/* Hand-made pod formats that differ from order_fmt in one respect each. */
#define POD_VARIANT(var, nm, sz, al, ver)                                                    \
    static const birch_pod var##_pod = {nm, sz, al, ver};                                    \
    static const birch_value_format var = {"pod", 1, al, sz, birch_pod_describe, birch_pod_size, \
                                           birch_pod_encode, birch_pod_verify, NULL, &var##_pod}
POD_VARIANT(order_v1_40, "Order", 40, 8, 1); /* the header's example */
POD_VARIANT(order_same, "Order", 48, 8, 2);  /* the same text as order_fmt */
POD_VARIANT(order_renamed, "Invoice", 48, 8, 2);
POD_VARIANT(order_bigger, "Order", 56, 8, 2);
POD_VARIANT(order_align4, "Order", 48, 4, 2);
POD_VARIANT(order_v3, "Order", 48, 8, 3);
POD_VARIANT(order_align16, "Order", 48, 16, 2);

typedef struct okey {
    uint64_t customer;
    birch_val sku;
} okey;
BIRCH_KEY_TUPLE(okey_fmt, okey, &birch_key_u64, customer, &birch_key_string, sku);

typedef struct pair64 {
    uint64_t a, b;
} pair64;
BIRCH_KEY_TUPLE(pair_fmt, pair64, &birch_key_u64, a, &birch_key_u64, b);
BIRCH_KEY_FIXED(fixed16, 16);
BIRCH_KEY_FIXED(fixed8, 8);

static const char ORDERS_SUMMARY[] = "key u64 / value pod(Order v2, 48 bytes, align 8)";

static Order mk_order(uint64_t id)
{
    Order o;
    memset(&o, 0, sizeof o);
    o.id = id;
    o.customer = id * 7 + 1;
    o.total = (double)id * 1.25;
    o.qty = (uint32_t)(id % 13);
    o.flags = (uint32_t)(id * 2654435761u);
    snprintf(o.sku, sizeof o.sku, "sku-%" PRIu64, id);
    return o;
}

static birch_db *open_db(const char *tag, char **path)
{
    char *p = bt_path(tag);
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(p, &o);
    if (path) *path = p;
    else free(p);
    return db;
}

static void typed_create(birch_db *db, const char *name, const birch_key_format *k, const birch_value_format *v,
                         birch_typed *t)
{
    int rc = birch_typed_open(db, NULL, name, k, v, BIRCH_CREATE, t);
    ck_assert_msg(rc == BIRCH_OK, "typed_open(%s) returned %d (%s): %s", name, rc, birch_strerror(rc), t->msg);
}

/* A digest of every table's records and schema: "nothing changed" checks. */
static int digest_table(const char *name, void *ctx);
typedef struct digest_ctx {
    birch_txn *txn;
    uint64_t h;
} digest_ctx;
static uint64_t mix_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    h = bt_mix(h ^ n);
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
static int digest_table(const char *name, void *ctx)
{
    digest_ctx *d = ctx;
    birch_table *t = bt_table(d->txn, name, 0);
    d->h = mix_bytes(d->h, name, strlen(name));
    birch_val schema;
    BT_OK(birch_table_schema(d->txn, t, &schema));
    d->h = mix_bytes(d->h, schema.data, schema.size);
    birch_cursor *c;
    BT_OK(birch_cursor_open(d->txn, t, &c));
    int rc;
    while ((rc = birch_cursor_next(c)) == BIRCH_OK) {
        birch_val k, v;
        BT_OK(birch_cursor_get(c, &k, &v));
        d->h = mix_bytes(d->h, k.data, k.size);
        d->h = mix_bytes(d->h, v.data, v.size);
    }
    BT_RC(rc, BIRCH_NOTFOUND);
    birch_cursor_close(c);
    return 0;
}
static uint64_t db_digest(birch_db *db)
{
    digest_ctx d = {bt_begin(db, BIRCH_TXN_READ), 1};
    BT_OK(birch_table_list(d.txn, digest_table, &d));
    BT_OK(birch_txn_commit(d.txn));
    return d.h;
}

/* The schema text a table stores for (k, v): "key K / value V". */
static void summary(const birch_key_format *k, const birch_value_format *v, char *buf, size_t cap)
{
    char kn[BIRCH_KEY_NAME_MAX], vn[512];
    ck_assert_int_ge(birch_key_name(k, kn, sizeof kn), 0);
    ck_assert_int_ge(v->describe(v, vn, sizeof vn), 0);
    snprintf(buf, cap, "key %.200s / value %.300s", kn, vn);
}

/* ---- Schemas -------------------------------------------------------------- */

START_TEST(schema_message_exact)
{
    birch_db *db = open_db("schema", NULL);
    birch_typed t, t2;
    typed_create(db, "orders", &birch_key_u64, &order_fmt, &t);
    Order o = mk_order(1);
    uint64_t k = 1;
    BT_OK(birch_typed_put(NULL, &t, &k, &o, 0));

    memset(&t2, 0xAB, sizeof t2);
    BT_RC(birch_typed_open(db, NULL, "orders", &birch_key_string, &order_v1_40, 0, &t2), BIRCH_ESCHEMA);
    ck_assert_str_eq(t2.msg, "table 'orders' holds key u64 / value pod(Order v2, 48 bytes, align 8); "
                             "opened as key string / value pod(Order v1, 40 bytes, align 8)");
    ck_assert_ptr_null(t2.table);
    /* The same with CREATE, in a caller's write transaction and a read one. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_RC(birch_typed_open(db, w, "orders", &birch_key_string, &order_v1_40, BIRCH_CREATE, &t2), BIRCH_ESCHEMA);
    ck_assert_str_eq(t2.msg, "table 'orders' holds key u64 / value pod(Order v2, 48 bytes, align 8); "
                             "opened as key string / value pod(Order v1, 40 bytes, align 8)");
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_typed_open(db, r, "orders", &birch_key_string, &order_v1_40, 0, &t2), BIRCH_ESCHEMA);
    birch_txn_abort(r);
    /* cstr has the name of string; an equal description is the same schema. */
    BT_OK(birch_typed_open(db, NULL, "orders", &birch_key_u64, &order_same, 0, &t2));
    ck_assert_str_eq(t2.msg, "");
    BT_OK(birch_close(db));
}
END_TEST

/* One format pair per kind of change against (u64, Order v2). */
typedef struct variant {
    const char *what;
    const birch_key_format *key;
    const birch_value_format *value;
} variant;

static const variant variants[] = {
    {"key string", &birch_key_string, &order_fmt},
    {"key cstr", &birch_key_cstr, &order_fmt},
    {"key i64", &birch_key_i64, &order_fmt},
    {"key u32", &birch_key_u32, &order_fmt},
    {"key bytes", &birch_key_bytes, &order_fmt},
    {"key fixed(8)", &fixed8, &order_fmt},
    {"key tuple", &pair_fmt, &order_fmt},
    {"value bytes", &birch_key_u64, &birch_value_bytes},
    {"value string", &birch_key_u64, &birch_value_string},
    {"pod name", &birch_key_u64, &order_renamed},
    {"pod size", &birch_key_u64, &order_bigger},
    {"pod align", &birch_key_u64, &order_align4},
    {"pod version", &birch_key_u64, &order_v3},
    {"pod other struct", &birch_key_u64, &customer_fmt},
    {"both", &birch_key_string, &order_v1_40},
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

static void expect_mismatch(birch_db *db, birch_txn *txn, const char *name, const char *holds, const variant *v)
{
    char want[700], opened[600];
    summary(v->key, v->value, opened, sizeof opened);
    snprintf(want, sizeof want, "table '%s' holds %s; opened as %s", name, holds, opened);
    birch_typed t;
    int rc = birch_typed_open(db, txn, name, v->key, v->value, 0, &t);
    ck_assert_msg(rc == BIRCH_ESCHEMA, "%s: typed_open returned %d (%s)", v->what, rc, birch_strerror(rc));
    ck_assert_msg(strcmp(t.msg, want) == 0, "%s: message\n  %s\nexpected\n  %s", v->what, t.msg, want);
    ck_assert_ptr_null(t.table);
}

START_TEST(schema_every_change)
{
    char *path;
    birch_db *db = open_db("variants", &path);
    birch_typed t;
    typed_create(db, "orders", &birch_key_u64, &order_fmt, &t);
    for (uint64_t i = 1; i <= 20; i++) {
        Order o = mk_order(i);
        BT_OK(birch_typed_put(NULL, &t, &i, &o, 0));
    }
    typed_create(db, "empty_orders", &birch_key_u64, &order_fmt, &t); /* typed, no records */
    uint64_t before = db_digest(db);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < NVARIANTS; i++) {
            const variant *v = &variants[i];
            /* Own transaction, caller's read, caller's write (with CREATE). */
            expect_mismatch(db, NULL, "orders", ORDERS_SUMMARY, v);
            expect_mismatch(db, NULL, "empty_orders", ORDERS_SUMMARY, v);
            birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
            expect_mismatch(db, r, "orders", ORDERS_SUMMARY, v);
            birch_txn_abort(r);
            birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
            birch_typed tw;
            BT_RC(birch_typed_open(db, w, "orders", v->key, v->value, BIRCH_CREATE, &tw), BIRCH_ESCHEMA);
            BT_RC(birch_typed_open(db, w, "empty_orders", v->key, v->value, BIRCH_CREATE, &tw), BIRCH_ESCHEMA);
            BT_OK(birch_txn_commit(w));
        }
        ck_assert_uint_eq(db_digest(db), before);
        /* The schema survives a reopen. */
        db = bt_reopen(db, path, NULL);
    }
    BT_OK(birch_typed_open(db, NULL, "orders", &birch_key_u64, &order_fmt, 0, &t));
    uint64_t k = 7;
    birch_guard g = {0};
    BT_OK(birch_typed_get(NULL, &t, &k, &g));
    Order o7 = mk_order(7);
    ck_assert_mem_eq(g.view, &o7, sizeof o7);
    birch_guard_release(&g);
    BT_OK(birch_close(db));
    free(path);
}
END_TEST

/* Alignment above 8 cannot be served by the map: EINVAL, not ESCHEMA. */
START_TEST(schema_align_above_8)
{
    birch_db *db = open_db("align16", NULL);
    birch_typed t;
    BT_RC(birch_typed_open(db, NULL, "x", &birch_key_u64, &order_align16, BIRCH_CREATE, &t), BIRCH_EINVAL);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *raw;
    BT_RC(birch_table_open(r, "x", 0, &raw), BIRCH_NOTFOUND);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
}
END_TEST

START_TEST(schema_raw_access)
{
    char *path;
    birch_db *db = open_db("raw", &path);
    birch_typed t;
    typed_create(db, "orders", &birch_key_u64, &order_fmt, &t);
    for (uint64_t i = 1; i <= 5; i++) {
        Order o = mk_order(i);
        BT_OK(birch_typed_put(NULL, &t, &i, &o, 0));
    }
    for (int reopen = 0; reopen < 2; reopen++) {
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        birch_table *raw;
        BT_OK(birch_table_open(r, "orders", 0, &raw));
        birch_val schema;
        BT_OK(birch_table_schema(r, raw, &schema));
        const char text[] = "birch-typed 1\nkey u64\nvalue pod(Order v2, 48 bytes, align 8)\n";
        ck_assert_uint_eq(schema.size, strlen(text));
        ck_assert_mem_eq(schema.data, text, schema.size);
        ck_assert_uint_eq(bt_count(r, raw), 5);
        for (uint64_t i = 1; i <= 5; i++) {
            uint8_t kb[8];
            for (int j = 0; j < 8; j++) kb[j] = (uint8_t)(i >> (56 - 8 * j));
            Order o = mk_order(i);
            bt_expect(r, raw, kb, 8, &o, sizeof o);
        }
        birch_txn_abort(r);
        db = bt_reopen(db, path, NULL);
    }
    /* Raw writes work too (and are what EFORMAT tests rely on). */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *raw = bt_table(w, "orders", 0);
    bt_put(w, raw, "\0\0\0\0\0\0\0\x09", 8, "short", 5);
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
    free(path);
}
END_TEST

START_TEST(schema_untyped_tables)
{
    char *path;
    birch_db *db = open_db("untyped", &path);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *full = bt_table(w, "full", BIRCH_CREATE);
    bt_put(w, full, "\0\0\0\0\0\0\0\x01", 8, "x", 1);
    bt_table(w, "empty", BIRCH_CREATE);
    bt_table(w, "empty2", BIRCH_CREATE);
    bt_table(w, "empty3", BIRCH_CREATE);
    BT_OK(birch_txn_commit(w));

    /* Non-empty untyped: refused, in every kind of transaction. */
    birch_typed t;
    variant v = {"untyped", &birch_key_u64, &order_fmt};
    expect_mismatch(db, NULL, "full", "untyped records", &v);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_RC(birch_typed_open(db, w, "full", &birch_key_u64, &order_fmt, BIRCH_CREATE, &t), BIRCH_ESCHEMA);
    BT_OK(birch_txn_commit(w));

    /* Empty untyped, opened in a write transaction: adopts the schema. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_typed_open(db, w, "empty", &birch_key_u64, &order_fmt, 0, &t));
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, NULL);
    for (int i = 0; i < NVARIANTS; i++) expect_mismatch(db, NULL, "empty", ORDERS_SUMMARY, &variants[i]);
    BT_OK(birch_typed_open(db, NULL, "empty", &birch_key_u64, &order_fmt, 0, &t));

    /* Opened in a read transaction: usable for reads, schema not stored
     * (so another format may still adopt it). */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_typed_open(db, r, "empty2", &birch_key_u64, &order_fmt, 0, &t));
    uint64_t k = 1;
    BT_RC(birch_typed_contains(r, &t, &k), 0);
    birch_txn_abort(r);
    BT_OK(birch_typed_open(db, NULL, "empty2", &birch_key_string, &birch_value_string, BIRCH_CREATE, &t));
    BT_RC(birch_typed_open(db, NULL, "empty2", &birch_key_u64, &order_fmt, 0, &t), BIRCH_ESCHEMA);

    /* Opened with txn NULL and no flags, then written through the handle:
     * the records must not end up untyped (the table must stay openable
     * with its formats, and refuse others). */
    BT_OK(birch_typed_open(db, NULL, "empty3", &birch_key_u64, &order_fmt, 0, &t));
    Order o = mk_order(1);
    BT_OK(birch_typed_put(NULL, &t, &k, &o, 0));
    db = bt_reopen(db, path, NULL);
    int rc = birch_typed_open(db, NULL, "empty3", &birch_key_u64, &order_fmt, 0, &t);
    ck_assert_msg(rc == BIRCH_OK, "typed reopen of a table written through a typed handle: %d (%s): %s", rc,
                  birch_strerror(rc), t.msg);
    expect_mismatch(db, NULL, "empty3", ORDERS_SUMMARY, &variants[0]);

    /* Missing table without CREATE: NOTFOUND. */
    BT_RC(birch_typed_open(db, NULL, "nope", &birch_key_u64, &order_fmt, 0, &t), BIRCH_NOTFOUND);
    ck_assert_ptr_null(t.table);
    BT_OK(birch_close(db));
    free(path);
}
END_TEST

/* ---- Records for every value format and many key formats ------------------- */

/* Storage for C keys and values of any format under test. */
typedef struct cval {
    _Alignas(16) unsigned char c[64];
    char text[64];
} cval;

enum { NREC = 40 };

/* Makes C key i (distinct for distinct i) of format f into kv. */
static void make_key(const birch_key_format *f, int i, cval *kv)
{
    memset(kv, 0, sizeof *kv);
    if (f == &birch_key_u64) {
        uint64_t x = (uint64_t)i * 1000003u;
        memcpy(kv->c, &x, 8);
    } else if (f == &birch_key_i64) {
        int64_t x = (int64_t)(i - NREC / 2) * 99991;
        memcpy(kv->c, &x, 8);
    } else if (f == &birch_key_f64) {
        double x = (i - NREC / 2) * 0.5;
        memcpy(kv->c, &x, 8);
    } else if (f == &birch_key_string || f == &birch_key_bytes) {
        int n = snprintf(kv->text, sizeof kv->text, "k\xc3\xa9y-%d", i * 37);
        if (f == &birch_key_bytes) kv->text[1] = (char)(i & 1 ? 0xFF : 0x00); /* not UTF-8 */
        birch_val v = {kv->text, (size_t)n};
        memcpy(kv->c, &v, sizeof v);
    } else if (f == &birch_key_cstr) {
        snprintf(kv->text, sizeof kv->text, "name-%03d", i);
        const char *p = kv->text;
        memcpy(kv->c, &p, sizeof p);
    } else if (f == &fixed16) {
        for (int j = 0; j < 16; j++) kv->c[j] = (unsigned char)(i * 31 + j * 7);
    } else if (f == &okey_fmt) {
        int n = snprintf(kv->text, sizeof kv->text, "sku?-%d", i % 7);
        kv->text[3] = 0; /* a NUL inside a tuple element (escaped) */
        okey x = {(uint64_t)(i / 7), {kv->text, (size_t)n}};
        memcpy(kv->c, &x, sizeof x);
    } else {
        ck_abort_msg("make_key: format not handled");
    }
}

/* Makes C value i of format f into vv; *exp and *explen get the stored bytes. */
static void make_value(const birch_value_format *f, int i, int gen, cval *vv, const void **exp, size_t *explen)
{
    memset(vv, 0, sizeof *vv);
    if (f == &order_fmt) {
        Order o = mk_order((uint64_t)(i + 1000 * gen));
        memcpy(vv->c, &o, sizeof o);
        *exp = vv->c;
        *explen = sizeof o;
    } else if (f == &small_fmt) {
        Small s;
        memset(&s, 0, sizeof s); /* the padding byte too */
        s.a = (uint16_t)(i * 3 + gen);
        s.b = (uint8_t)i;
        memcpy(vv->c, &s, sizeof s);
        *exp = vv->c;
        *explen = sizeof s;
    } else {
        int n = snprintf(vv->text, sizeof vv->text, "v\xe2\x82\xac %d/%d", i, gen); /* with a euro sign */
        if (i % 5 == 0) n = 0;                                                   /* empty values too */
        if (f == &birch_value_bytes && n) vv->text[0] = (char)0xFE;
        birch_val v = {vv->text, (size_t)n};
        memcpy(vv->c, &v, sizeof v);
        *exp = vv->text;
        *explen = (size_t)n;
    }
}

static void check_guard(const birch_typed *t, const birch_guard *g, const void *exp, size_t explen)
{
    ck_assert_uint_eq(g->bytes.size, explen);
    if (explen) ck_assert_mem_eq(g->bytes.data, exp, explen);
    ck_assert_msg(BT_ALIGNED(g->bytes.data), "guard bytes not 8-aligned");
    ck_assert_ptr_eq(g->view, g->bytes.data); /* built-in formats view the bytes */
    if (t->value->size == birch_pod_size)
        ck_assert_msg(((uintptr_t)g->view % t->value->align) == 0, "pod view misaligned");
}

typedef struct combo {
    const birch_key_format *key;
    const birch_value_format *value;
} combo;
static const combo combos[] = {
    {&birch_key_u64, &order_fmt},          {&birch_key_i64, &birch_value_string},
    {&birch_key_f64, &birch_value_bytes},  {&birch_key_string, &order_fmt},
    {&birch_key_cstr, &birch_value_bytes}, {&birch_key_bytes, &birch_value_string},
    {&fixed16, &small_fmt},                {&okey_fmt, &order_fmt},
    {&okey_fmt, &birch_value_bytes},       {&birch_key_u64, &small_fmt},
};
enum { NCOMBOS = sizeof combos / sizeof combos[0] };

START_TEST(records_every_format)
{
    const combo *cb = &combos[_i];
    char *path;
    birch_db *db = open_db("records", &path);
    birch_typed t;
    typed_create(db, "t", cb->key, cb->value, &t);
    cval kv, vv;
    const void *exp;
    size_t explen;
    /* Odd records with txn NULL, even ones in one transaction. */
    for (int i = 0; i < NREC; i += 2) {
        make_key(cb->key, i + 1, &kv);
        make_value(cb->value, i + 1, 0, &vv, &exp, &explen);
        BT_OK(birch_typed_put(NULL, &t, kv.c, vv.c, 0));
    }
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < NREC; i += 2) {
        make_key(cb->key, i, &kv);
        make_value(cb->value, i, 0, &vv, &exp, &explen);
        BT_OK(birch_typed_put(w, &t, kv.c, vv.c, 0));
        BT_RC(birch_typed_contains(w, &t, kv.c), 1);
        birch_guard g = {0};
        BT_OK(birch_typed_get(w, &t, kv.c, &g));
        check_guard(&t, &g, exp, explen);
        birch_guard_release(&g);
    }
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, NULL);
    BT_OK(birch_typed_open(db, NULL, "t", cb->key, cb->value, 0, &t));
    /* Get with txn NULL and in a read transaction. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    for (int i = 0; i < NREC; i++) {
        make_key(cb->key, i, &kv);
        make_value(cb->value, i, 0, &vv, &exp, &explen);
        birch_guard g = {0}, g2 = {0};
        BT_OK(birch_typed_get(NULL, &t, kv.c, &g));
        BT_OK(birch_typed_get(r, &t, kv.c, &g2));
        check_guard(&t, &g, exp, explen);
        check_guard(&t, &g2, exp, explen);
        ck_assert_ptr_eq(g.bytes.data, g2.bytes.data); /* in place, not copied */
        birch_guard_release(&g2);
        birch_guard_release(&g);
        BT_RC(birch_typed_contains(NULL, &t, kv.c), 1);
        BT_RC(birch_typed_contains(r, &t, kv.c), 1);
    }
    ck_assert_uint_eq(bt_count(r, t.table), NREC);
    birch_txn_abort(r);
    /* Overwrite, then delete: 1, then 0. */
    for (int i = 0; i < NREC; i++) {
        make_key(cb->key, i, &kv);
        make_value(cb->value, i, 1, &vv, &exp, &explen);
        BT_OK(birch_typed_put(NULL, &t, kv.c, vv.c, 0));
        BT_RC(birch_typed_put(NULL, &t, kv.c, vv.c, BIRCH_NOOVERWRITE), BIRCH_EXISTS);
        birch_guard g = {0};
        BT_OK(birch_typed_get(NULL, &t, kv.c, &g));
        check_guard(&t, &g, exp, explen);
        birch_guard_release(&g);
    }
    w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < NREC; i++) {
        make_key(cb->key, i, &kv);
        if (i % 2) {
            BT_RC(birch_typed_delete(w, &t, kv.c), 1);
            BT_RC(birch_typed_delete(w, &t, kv.c), 0);
            BT_RC(birch_typed_contains(w, &t, kv.c), 0);
        }
    }
    BT_OK(birch_txn_commit(w));
    for (int i = 0; i < NREC; i++) {
        make_key(cb->key, i, &kv);
        birch_guard g = {0};
        if (i % 2 == 0) {
            BT_RC(birch_typed_delete(NULL, &t, kv.c), 1);
            BT_RC(birch_typed_delete(NULL, &t, kv.c), 0);
        }
        BT_RC(birch_typed_contains(NULL, &t, kv.c), 0);
        BT_RC(birch_typed_get(NULL, &t, kv.c, &g), BIRCH_NOTFOUND);
        ck_assert_ptr_null(g.view);
        birch_guard_release(&g); /* holds nothing: a no-op */
    }
    bt_check(db);
    BT_OK(birch_close(db)); /* no snapshot leaked */
    free(path);
}
END_TEST

/* Strings: invalid UTF-8 refused on put (value and key), with and without
 * a transaction, and nothing changes. */
START_TEST(records_string_utf8)
{
    birch_db *db = open_db("utf8", NULL);
    birch_typed t, ts;
    typed_create(db, "s", &birch_key_u64, &birch_value_string, &t);
    typed_create(db, "ks", &birch_key_string, &birch_value_bytes, &ts);
    uint64_t k = 5;
    birch_val good = bt_str("caf\xc3\xa9");
    BT_OK(birch_typed_put(NULL, &t, &k, &good, 0));
    BT_OK(birch_typed_put(NULL, &ts, &good, &good, 0));
    uint64_t before = db_digest(db);
    static const char *const bad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xff", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        birch_val b = bt_str(bad[i]);
        uint64_t k2 = 100 + i;
        BT_RC(birch_typed_put(NULL, &t, &k2, &b, 0), BIRCH_EINVAL);
        BT_RC(birch_typed_put(NULL, &t, &k, &b, 0), BIRCH_EINVAL);
        BT_RC(birch_typed_put(NULL, &ts, &b, &good, 0), BIRCH_EINVAL);
        BT_RC(birch_typed_delete(NULL, &ts, &b), BIRCH_EINVAL);
        BT_RC(birch_typed_contains(NULL, &ts, &b), BIRCH_EINVAL);
        birch_guard g = {0};
        BT_RC(birch_typed_get(NULL, &ts, &b, &g), BIRCH_EINVAL);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_RC(birch_typed_put(w, &t, &k2, &b, 0), BIRCH_EINVAL);
        BT_RC(birch_typed_put(w, &ts, &b, &good, 0), BIRCH_EINVAL);
        /* The transaction stays usable after a refusal. */
        uint64_t k3 = 999;
        BT_OK(birch_typed_put(w, &t, &k3, &good, 0));
        birch_txn_abort(w);
    }
    ck_assert_uint_eq(db_digest(db), before);
    birch_guard g = {0};
    BT_OK(birch_typed_get(NULL, &t, &k, &g));
    ck_assert_uint_eq(g.bytes.size, good.size);
    ck_assert_mem_eq(g.bytes.data, good.data, good.size);
    birch_guard_release(&g);
    BT_OK(birch_close(db));
}
END_TEST

/* ---- Guards ------------------------------------------------------------------ */

/* Bytes values of v * 997 + i % 4000 bytes, pattern seeded by (i, v): many
 * pages and overflow runs, all rewritten by every version. */
static size_t gv_len(int i, int v) { return (size_t)((i * 131 + v * 997) % 6000 + 1); }

static void write_version(birch_db *db, const birch_typed *t, int nk, int v, unsigned char *buf)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < nk; i++) {
        uint64_t k = (uint64_t)i;
        if ((i + v) % 4 == 0) {
            BT_RC(birch_typed_delete(w, t, &k) >= 0, 1);
            continue;
        }
        size_t n = gv_len(i, v);
        bt_pattern(buf, n, (uint64_t)i << 32 | (uint64_t)v);
        birch_val val = {buf, n};
        BT_OK(birch_typed_put(w, t, &k, &val, 0));
    }
    BT_OK(birch_txn_commit(w));
}

START_TEST(guard_keeps_snapshot)
{
    char *path = bt_path("guard");
    birch_options opts = bt_opts(); /* full durability: freed pages are reused at once */
    birch_db *db = bt_open(path, &opts);
    birch_typed t;
    typed_create(db, "g", &birch_key_u64, &birch_value_bytes, &t);
    enum { NK = 24 };
    unsigned char *buf = malloc(8000);
    write_version(db, &t, NK, 1, buf);

    /* Guards on every present key, taken with txn NULL, with copies. */
    birch_guard g[NK];
    unsigned char *copy[NK];
    memset(g, 0, sizeof g);
    for (int i = 0; i < NK; i++) {
        uint64_t k = (uint64_t)i;
        copy[i] = NULL;
        int rc = birch_typed_get(NULL, &t, &k, &g[i]);
        if ((i + 1) % 4 == 0) {
            BT_RC(rc, BIRCH_NOTFOUND);
            continue;
        }
        BT_OK(rc);
        copy[i] = malloc(g[i].bytes.size);
        memcpy(copy[i], g[i].bytes.data, g[i].bytes.size);
        ck_assert_int_eq(bt_pattern_diff(g[i].bytes.data, g[i].bytes.size, (uint64_t)i << 32 | 1), -1);
    }
    /* Many commits that overwrite and delete everything. */
    uint64_t pages0 = bt_stat(db).page_count;
    for (int v = 2; v < 40; v++) {
        write_version(db, &t, NK, v, buf);
        if (v % 8 == 0) {
            /* Guards taken inside a transaction, released before it ends. */
            birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
            for (int i = 0; i < NK; i++) {
                uint64_t k = (uint64_t)i;
                birch_guard gi = {0};
                int rc = birch_typed_get(r, &t, &k, &gi);
                if ((i + v) % 4 == 0) {
                    BT_RC(rc, BIRCH_NOTFOUND);
                    continue;
                }
                BT_OK(rc);
                ck_assert_uint_eq(gi.bytes.size, gv_len(i, v));
                ck_assert_int_eq(bt_pattern_diff(gi.bytes.data, gi.bytes.size, (uint64_t)i << 32 | (uint64_t)v), -1);
                birch_guard_release(&gi);
            }
            BT_OK(birch_txn_commit(r));
        }
    }
    uint64_t pages1 = bt_stat(db).page_count;
    ck_assert_msg(pages1 > pages0, "the pinned snapshot's pages were not kept (%" PRIu64 " -> %" PRIu64 ")",
                  pages0, pages1);
    for (int i = 0; i < NK; i++) {
        if (!copy[i]) continue;
        ck_assert_msg(memcmp(g[i].bytes.data, copy[i], g[i].bytes.size) == 0, "guard %d changed under it", i);
    }
    /* birch_close refuses while a guard pins a snapshot. */
    BT_RC(birch_close(db), BIRCH_ETXN);
    for (int i = 0; i < NK; i++) {
        birch_guard_release(&g[i]);
        free(copy[i]);
    }
    /* Released: the pages are reused, the file stops growing. */
    write_version(db, &t, NK, 40, buf);
    write_version(db, &t, NK, 41, buf);
    uint64_t pages2 = bt_stat(db).page_count, free2 = bt_stat(db).free_pages;
    for (int v = 42; v < 80; v++) write_version(db, &t, NK, v, buf);
    uint64_t pages3 = bt_stat(db).page_count;
    /* While pinned the file grew with every commit; now it must grow far
     * less over as many commits (the free list feeds them). */
    ck_assert_msg((pages3 - pages2) * 4 < pages1 - pages0,
                  "pages not reused after release: %" PRIu64 " -> %" PRIu64 " (free %" PRIu64
                  "), while pinned %" PRIu64 " -> %" PRIu64,
                  pages2, pages3, free2, pages0, pages1);
    bt_check(db);
    BT_OK(birch_close(db));
    free(buf);
    free(path);
}
END_TEST

START_TEST(guard_zero_and_released)
{
    birch_guard g;
    memset(&g, 0, sizeof g);
    birch_guard_release(&g); /* zero-initialised: no-op */
    birch_guard_release(&g);
    birch_guard_release(NULL);
    birch_db *db = open_db("zero", NULL);
    birch_typed t;
    typed_create(db, "t", &birch_key_u64, &order_fmt, &t);
    uint64_t k = 3;
    Order o = mk_order(3);
    BT_OK(birch_typed_put(NULL, &t, &k, &o, 0));
    BT_OK(birch_typed_get(NULL, &t, &k, &g));
    birch_guard_release(&g);
    ck_assert_ptr_null(g.view);
    ck_assert_ptr_null(g.bytes.data);
    /* A released guard can be filled again. */
    BT_OK(birch_typed_get(NULL, &t, &k, &g));
    ck_assert_mem_eq(g.view, &o, sizeof o);
    BT_OK(birch_guard_release(&g));
    BT_RC(birch_guard_release(&g), BIRCH_ETXN); /* every build refuses a second release */
    BT_OK(birch_close(db));
}
END_TEST

/* A second release is refused with BIRCH_ETXN in every build. */
START_TEST(guard_double_release_refused)
{
    birch_db *db = open_db("double", NULL);
    birch_typed t;
    typed_create(db, "t", &birch_key_u64, &order_fmt, &t);
    uint64_t k = 3;
    Order o = mk_order(3);
    BT_OK(birch_typed_put(NULL, &t, &k, &o, 0));
    birch_guard g = {0};
    BT_OK(birch_typed_get(NULL, &t, &k, &g));
    BT_OK(birch_guard_release(&g));
    BT_RC(birch_guard_release(&g), BIRCH_ETXN);
    BT_OK(birch_close(db));
}
END_TEST

START_TEST(guard_close_with_live_guard)
{
    birch_db *db = open_db("close", NULL);
    birch_typed t;
    typed_create(db, "t", &birch_key_u64, &order_fmt, &t);
    uint64_t k = 3;
    Order o = mk_order(3);
    BT_OK(birch_typed_put(NULL, &t, &k, &o, 0));
    birch_guard g = {0}, g2 = {0};
    BT_OK(birch_typed_get(NULL, &t, &k, &g));
    BT_OK(birch_typed_get(NULL, &t, &k, &g2));
    BT_RC(birch_close(db), BIRCH_ETXN);
    birch_guard_release(&g);
    BT_RC(birch_close(db), BIRCH_ETXN);
    ck_assert_mem_eq(g2.view, &o, sizeof o); /* still readable */
    birch_guard_release(&g2);
    BT_OK(birch_close(db));
}
END_TEST

/* Every reader slot taken: a guard gets BIRCH_EBUSY and needs no release. */
START_TEST(guard_busy)
{
    char *path = bt_path("busy");
    birch_options opts = bt_opts_fast();
    opts.max_readers = 3;
    birch_db *db = bt_open(path, &opts);
    birch_typed t;
    typed_create(db, "t", &birch_key_u64, &order_fmt, &t);
    uint64_t k = 3;
    Order o = mk_order(3);
    BT_OK(birch_typed_put(NULL, &t, &k, &o, 0));
    birch_guard g[4];
    memset(g, 0, sizeof g);
    for (int i = 0; i < 3; i++) BT_OK(birch_typed_get(NULL, &t, &k, &g[i]));
    BT_RC(birch_typed_get(NULL, &t, &k, &g[3]), BIRCH_EBUSY);
    ck_assert_ptr_null(g[3].view);
    birch_guard_release(&g[3]);
    birch_guard_release(&g[0]);
    BT_OK(birch_typed_get(NULL, &t, &k, &g[3]));
    for (int i = 1; i < 4; i++) birch_guard_release(&g[i]);
    BT_OK(birch_close(db));
    free(path);
}
END_TEST

/* ---- BIRCH_EFORMAT ------------------------------------------------------------- */

START_TEST(eformat_bad_stored_value)
{
    birch_db *db = open_db("eformat", NULL);
    birch_typed t, ts;
    typed_create(db, "orders", &birch_key_u64, &order_fmt, &t);
    typed_create(db, "notes", &birch_key_u64, &birch_value_string, &ts);
    for (uint64_t i = 1; i <= 10; i++) {
        Order o = mk_order(i);
        BT_OK(birch_typed_put(NULL, &t, &i, &o, 0));
        birch_val s = bt_str("fine");
        BT_OK(birch_typed_put(NULL, &ts, &i, &s, 0));
    }
    /* Wrong-size bytes under key 42, invalid UTF-8 under key 7, raw. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *raw = bt_table(w, "orders", 0), *rawn = bt_table(w, "notes", 0);
    const uint8_t k42[8] = {0, 0, 0, 0, 0, 0, 0, 42}, k7[8] = {0, 0, 0, 0, 0, 0, 0, 7};
    bt_put(w, raw, k42, 8, "1234567", 7);
    bt_put(w, rawn, k7, 8, "bad\xff", 4);
    BT_OK(birch_txn_commit(w));
    uint64_t before = db_digest(db);

    for (int with_txn = 0; with_txn < 2; with_txn++) {
        birch_txn *r = with_txn ? bt_begin(db, BIRCH_TXN_READ) : NULL;
        birch_guard g;
        memset(&g, 0x5A, sizeof g);
        uint64_t k = 42;
        BT_RC(birch_typed_get(r, &t, &k, &g), BIRCH_EFORMAT);
        ck_assert_str_eq(g.msg, "table 'orders', key 000000000000002a: pod Order: 7 bytes stored, 48 expected");
        ck_assert_ptr_null(g.view);
        birch_guard_release(&g); /* holds nothing */
        k = 7;
        BT_RC(birch_typed_get(r, &ts, &k, &g), BIRCH_EFORMAT);
        ck_assert_str_eq(g.msg, "table 'notes', key 0000000000000007: string: not valid UTF-8");
        /* contains does not read the value. */
        BT_RC(birch_typed_contains(r, &ts, &k), 1);
        /* Neighbours unaffected. */
        for (uint64_t i = 1; i <= 10; i++) {
            Order o = mk_order(i);
            BT_OK(birch_typed_get(r, &t, &i, &g));
            ck_assert_mem_eq(g.view, &o, sizeof o);
            birch_guard_release(&g);
        }
        if (r) BT_OK(birch_txn_commit(r));
    }
    /* A stream over it stops with EFORMAT at that record. */
    birch_stream *s;
    birch_stream_opts so = {0};
    BT_OK(birch_stream_open(NULL, &t, &so, &s));
    birch_item it;
    int n = 0, rc;
    while ((rc = birch_stream_next(s, &it)) == BIRCH_OK) n++;
    BT_RC(rc, BIRCH_EFORMAT);
    ck_assert_int_eq(n, 10);
    BT_RC(birch_stream_next(s, &it), BIRCH_NOTFOUND);
    birch_stream_close(s);
    ck_assert_uint_eq(db_digest(db), before);
    /* The record can be repaired through the typed API and deleted. */
    uint64_t k = 42;
    BT_RC(birch_typed_delete(NULL, &t, &k), 1);
    BT_OK(birch_close(db)); /* no snapshot left pinned by the failures */
}
END_TEST

/* ---- Batches ---------------------------------------------------------------------- */

static void expect_orders(birch_db *db, const birch_typed *t, size_t n, const uint64_t *keys, const uint64_t *ids)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, t->table), n);
    for (size_t i = 0; i < n; i++) {
        birch_guard g = {0};
        BT_OK(birch_typed_get(r, t, &keys[i], &g));
        Order o = mk_order(ids[i]);
        ck_assert_msg(memcmp(g.view, &o, sizeof o) == 0, "key %" PRIu64 ": id %" PRIu64 " expected, got %" PRIu64,
                      keys[i], ids[i], ((const Order *)g.view)->id);
        birch_guard_release(&g);
    }
    birch_txn_abort(r);
}

START_TEST(batch_orders)
{
    birch_db *db = open_db("batch", NULL);
    birch_typed t;
    typed_create(db, "b", &birch_key_u64, &order_fmt, &t);
    enum { N = 3000 };
    uint64_t *keys = malloc(N * sizeof *keys);
    Order *vals = malloc(N * sizeof *vals);
    bt_rng rng = {bt_seed(0x7e57ba7c)};

    /* Sorted. */
    for (size_t i = 0; i < N; i++) {
        keys[i] = i * 2;
        vals[i] = mk_order(i);
    }
    BT_OK(birch_typed_put_batch(NULL, &t, N, keys, vals));
    static uint64_t ids[2 * N + 2], ks[2 * N + 2];
    for (size_t i = 0; i < N; i++) ids[i] = i, ks[i] = i * 2;
    expect_orders(db, &t, N, ks, ids);

    /* Unsorted with duplicates (the last wins), in a transaction, mixed with
     * existing keys. */
    uint64_t final_id[2 * N + 2];
    for (size_t i = 0; i < 2 * N + 2; i++) final_id[i] = i % 2 == 0 && i / 2 < N ? i / 2 : UINT64_MAX;
    for (size_t i = 0; i < N; i++) {
        keys[i] = bt_below(&rng, 2 * N + 2);
        vals[i] = mk_order(100000 + i);
        final_id[keys[i]] = 100000 + i;
    }
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_typed_put_batch(w, &t, N, keys, vals));
    BT_OK(birch_txn_commit(w));
    size_t m = 0;
    for (size_t i = 0; i < 2 * N + 2; i++)
        if (final_id[i] != UINT64_MAX) ks[m] = i, ids[m] = final_id[i], m++;
    expect_orders(db, &t, m, ks, ids);
    /* n = 0 is fine. */
    BT_OK(birch_typed_put_batch(NULL, &t, 0, NULL, NULL));
    bt_check(db);
    free(keys);
    free(vals);
    BT_OK(birch_close(db));
}
END_TEST

/* The append path fills pages: a sorted batch after the last key takes
 * fewer pages than the same records put in random order. */
START_TEST(batch_append_path)
{
    birch_db *db = open_db("append", NULL);
    birch_typed ta, tr;
    typed_create(db, "a", &birch_key_u64, &order_fmt, &ta);
    typed_create(db, "r", &birch_key_u64, &order_fmt, &tr);
    enum { N = 20000 };
    uint64_t *keys = malloc(N * sizeof *keys);
    Order *vals = malloc(N * sizeof *vals);
    bt_rng rng = {bt_seed(0xa99e4d)};
    /* Existing keys below the batch. */
    for (uint64_t i = 0; i < 10; i++) {
        Order o = mk_order(i);
        BT_OK(birch_typed_put(NULL, &ta, &i, &o, 0));
        BT_OK(birch_typed_put(NULL, &tr, &i, &o, 0));
    }
    uint64_t p0 = bt_stat(db).page_count;
    for (size_t i = 0; i < N; i++) keys[i] = 100 + N - i, vals[i] = mk_order(keys[i]); /* descending input */
    BT_OK(birch_typed_put_batch(NULL, &ta, N, keys, vals));
    uint64_t p1 = bt_stat(db).page_count;
    /* The same records one by one in random order. */
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = bt_below(&rng, i + 1);
        uint64_t tk = keys[i];
        keys[i] = keys[j];
        keys[j] = tk;
    }
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (size_t i = 0; i < N; i++) {
        Order o = mk_order(keys[i]);
        BT_OK(birch_typed_put(w, &tr, &keys[i], &o, 0));
    }
    BT_OK(birch_txn_commit(w));
    uint64_t p2 = bt_stat(db).page_count;
    ck_assert_msg(p1 - p0 < (p2 - p1) * 4 / 5, "append batch used %" PRIu64 " pages, random puts %" PRIu64,
                  p1 - p0, p2 - p1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, ta.table), N + 10);
    birch_txn_abort(r);
    for (size_t i = 0; i < N; i += 97) {
        birch_guard g = {0};
        BT_OK(birch_typed_get(NULL, &ta, &keys[i], &g));
        Order o = mk_order(keys[i]);
        ck_assert_mem_eq(g.view, &o, sizeof o);
        birch_guard_release(&g);
    }
    bt_check(db);
    free(keys);
    free(vals);
    BT_OK(birch_close(db));
}
END_TEST

/* All or nothing: a bad key or value anywhere refuses the whole batch, with
 * txn NULL and in a caller's transaction (which stays usable). */
START_TEST(batch_all_or_nothing)
{
    birch_db *db = open_db("batchbad", NULL);
    birch_typed t, tk;
    typed_create(db, "s", &birch_key_u64, &birch_value_string, &t);
    typed_create(db, "k", &birch_key_bytes, &birch_value_string, &tk);
    uint64_t k0 = 1;
    birch_val v0 = bt_str("one");
    BT_OK(birch_typed_put(NULL, &t, &k0, &v0, 0));
    uint64_t before = db_digest(db);
    enum { N = 50 };
    uint64_t keys[N];
    birch_val vals[N], bkeys[N];
    char big[2048];
    memset(big, 'x', sizeof big);
    for (int bad_at = 0; bad_at < N; bad_at += 7) {
        for (int i = 0; i < N; i++) {
            keys[i] = (uint64_t)(i * 3 + 2);
            vals[i] = bt_str("valid");
            bkeys[i] = bt_val(big, (size_t)(i % 5 + 1));
            bkeys[i].data = big + i * 7; /* distinct keys */
        }
        vals[bad_at] = bt_str("in\xc3valid");
        BT_RC(birch_typed_put_batch(NULL, &t, N, keys, vals), BIRCH_EINVAL);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_RC(birch_typed_put_batch(w, &t, N, keys, vals), BIRCH_EINVAL);
        BT_OK(birch_txn_commit(w)); /* the refused batch left nothing in it */
        ck_assert_uint_eq(db_digest(db), before);

        vals[bad_at] = bt_str("valid");
        /* A key too long for the tree, and an empty key. */
        bkeys[bad_at] = bt_val(big, bad_at % 2 ? birch_max_key_size(db) + 1 : 0);
        int want = BIRCH_EKEYSIZE;
        BT_RC(birch_typed_put_batch(NULL, &tk, N, bkeys, vals), want);
        w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_RC(birch_typed_put_batch(w, &tk, N, bkeys, vals), want);
        BT_OK(birch_txn_commit(w));
        ck_assert_uint_eq(db_digest(db), before);
    }
    /* Read transaction: refused before anything. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_typed_put_batch(r, &t, N, keys, vals), BIRCH_EREADONLY);
    birch_txn_abort(r);
    BT_RC(birch_typed_put_batch(NULL, &t, N, NULL, vals), BIRCH_EINVAL);
    BT_RC(birch_typed_put_batch(NULL, &t, N, keys, NULL), BIRCH_EINVAL);
    BT_RC(birch_typed_put_batch(NULL, NULL, N, keys, vals), BIRCH_EINVAL);
    ck_assert_uint_eq(db_digest(db), before);
    BT_OK(birch_close(db));
}
END_TEST

/* ---- BIRCH_TYPED_TABLE ---------------------------------------------------------- */

BIRCH_TYPED_TABLE(customers, uint64_t, Customer, birch_key_u64, customer_fmt);
BIRCH_TYPED_TABLE(bad_sizes, uint32_t, Customer, birch_key_u64, customer_fmt);

START_TEST(typed_table_macro)
{
    birch_db *db = open_db("macro", NULL);
    birch_typed t;
    BT_OK(customers_open(db, NULL, BIRCH_CREATE, &t));
    ck_assert_str_eq(birch_table_name(t.table), "customers");
    for (uint64_t i = 1; i <= 30; i++) {
        Customer c = {i, ""};
        snprintf(c.name, sizeof c.name, "customer %" PRIu64, i);
        BT_OK(customers_put(NULL, &t, i, &c));
    }
    customers_guard g = {0};
    BT_OK(customers_get(NULL, &t, 17, &g));
    const Customer *c = customers_view(&g);
    ck_assert_uint_eq(c->id, 17);
    ck_assert_str_eq(c->name, "customer 17");
    ck_assert(BT_ALIGNED(c));
    customers_release(&g);
    BT_RC(customers_contains(NULL, &t, 17), 1);
    BT_RC(customers_delete(NULL, &t, 17), 1);
    BT_RC(customers_delete(NULL, &t, 17), 0);
    BT_RC(customers_contains(NULL, &t, 17), 0);
    BT_RC(customers_get(NULL, &t, 17, &g), BIRCH_NOTFOUND);
    customers_release(&g);
    birch_stream_opts o = {0};
    uint64_t lo = 10, hi = 20;
    o.lo = &lo, o.lo_bound = BIRCH_INCLUSIVE, o.hi = &hi, o.hi_bound = BIRCH_EXCLUSIVE;
    birch_stream *s;
    BT_OK(customers_stream(NULL, &t, &o, &s));
    birch_item it;
    uint64_t want = 10;
    while (birch_stream_next(s, &it) == BIRCH_OK) {
        if (want == 17) want++;
        ck_assert_uint_eq(*(const uint64_t *)it.key, want);
        ck_assert_uint_eq(((const Customer *)it.view)->id, want);
        want++;
    }
    ck_assert_uint_eq(want, 20);
    birch_stream_close(s);
    /* C types whose sizes differ from the formats': EINVAL. */
    BT_RC(bad_sizes_open(db, NULL, BIRCH_CREATE, &t), BIRCH_EINVAL);
    BT_OK(birch_close(db));
}
END_TEST

/* ---- Bad inputs ------------------------------------------------------------------ */

START_TEST(bad_inputs)
{
    birch_db *db = open_db("bad", NULL), *db2 = open_db("bad2", NULL);
    birch_typed t, t2;
    typed_create(db, "t", &birch_key_u64, &order_fmt, &t);
    typed_create(db2, "t", &birch_key_u64, &order_fmt, &t2);
    uint64_t k = 1;
    Order o = mk_order(1);
    BT_OK(birch_typed_put(NULL, &t, &k, &o, 0));
    uint64_t before = db_digest(db);
    birch_guard g = {0};
    birch_typed tz;
    memset(&tz, 0, sizeof tz);

    /* open */
    BT_RC(birch_typed_open(NULL, NULL, "t", &birch_key_u64, &order_fmt, 0, &t2), BIRCH_EINVAL);
    BT_RC(birch_typed_open(db, NULL, "t", NULL, &order_fmt, 0, &t2), BIRCH_EINVAL);
    BT_RC(birch_typed_open(db, NULL, "t", &birch_key_u64, NULL, 0, &t2), BIRCH_EINVAL);
    BT_RC(birch_typed_open(db, NULL, "t", &birch_key_u64, &order_fmt, 0, NULL), BIRCH_EINVAL);
    BT_RC(birch_typed_open(db, NULL, NULL, &birch_key_u64, &order_fmt, 0, &t2), BIRCH_EINVAL);
    BT_RC(birch_typed_open(db, NULL, "", &birch_key_u64, &order_fmt, BIRCH_CREATE, &t2), BIRCH_EINVAL);
    birch_txn *other = bt_begin(db2, BIRCH_TXN_READ);
    BT_RC(birch_typed_open(db, other, "t", &birch_key_u64, &order_fmt, 0, &t2), BIRCH_EINVAL);
    /* put */
    BT_RC(birch_typed_put(NULL, NULL, &k, &o, 0), BIRCH_EINVAL);
    BT_RC(birch_typed_put(NULL, &tz, &k, &o, 0), BIRCH_EINVAL);
    BT_RC(birch_typed_put(NULL, &t, NULL, &o, 0), BIRCH_EINVAL);
    BT_RC(birch_typed_put(NULL, &t, &k, NULL, 0), BIRCH_EINVAL);
    BT_RC(birch_typed_put(other, &t, &k, &o, 0), BIRCH_EINVAL);
    BT_RC(birch_typed_put(NULL, &t, &k, &o, 0x80), BIRCH_EINVAL);
    /* delete, contains, get */
    BT_RC(birch_typed_delete(NULL, NULL, &k), BIRCH_EINVAL);
    BT_RC(birch_typed_delete(NULL, &t, NULL), BIRCH_EINVAL);
    BT_RC(birch_typed_delete(other, &t, &k), BIRCH_EINVAL);
    BT_RC(birch_typed_contains(NULL, NULL, &k), BIRCH_EINVAL);
    BT_RC(birch_typed_contains(NULL, &t, NULL), BIRCH_EINVAL);
    BT_RC(birch_typed_contains(other, &t, &k), BIRCH_EINVAL);
    BT_RC(birch_typed_get(NULL, &t, &k, NULL), BIRCH_EINVAL);
    BT_RC(birch_typed_get(NULL, NULL, &k, &g), BIRCH_EINVAL);
    BT_RC(birch_typed_get(NULL, &t, NULL, &g), BIRCH_EINVAL);
    BT_RC(birch_typed_get(other, &t, &k, &g), BIRCH_EINVAL);
    birch_guard_release(&g);
    /* Read transaction: writes refused. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_typed_put(r, &t, &k, &o, 0), BIRCH_EREADONLY);
    BT_RC(birch_typed_delete(r, &t, &k), BIRCH_EREADONLY);
    birch_txn_abort(r);
    birch_txn_abort(other);
    /* Ended transaction: ETXN (the handle is kept for a while). */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_typed_put(w, &t, &k, &o, 0), BIRCH_ETXN);
    BT_RC(birch_typed_get(w, &t, &k, &g), BIRCH_ETXN);
    BT_RC(birch_typed_contains(w, &t, &k), BIRCH_ETXN);
    BT_RC(birch_typed_delete(w, &t, &k), BIRCH_ETXN);
    /* Streams. */
    birch_stream *s = (birch_stream *)&g;
    birch_stream_opts so = {0};
    BT_RC(birch_stream_open(NULL, &t, &so, NULL), BIRCH_EINVAL);
    BT_RC(birch_stream_open(NULL, NULL, &so, &s), BIRCH_EINVAL);
    ck_assert_ptr_null(s);
    BT_RC(birch_stream_open(NULL, &t, NULL, &s), BIRCH_EINVAL);
    so.lo_bound = 7;
    so.lo = &k;
    BT_RC(birch_stream_open(NULL, &t, &so, &s), BIRCH_EINVAL);
    so.lo_bound = BIRCH_INCLUSIVE;
    so.lo = NULL;
    BT_RC(birch_stream_open(NULL, &t, &so, &s), BIRCH_EINVAL);
    so = (birch_stream_opts){0};
    so.resume = &k;
    so.resume_len = 0;
    BT_RC(birch_stream_open(NULL, &t, &so, &s), BIRCH_EINVAL);
    BT_RC(birch_stream_next(NULL, NULL), BIRCH_EINVAL);
    birch_stream_close(NULL);
    size_t n = 99, len;
    BT_RC(birch_stream_collect(NULL, NULL, &so, NULL, NULL, 4, &n), BIRCH_EINVAL);
    BT_RC(birch_stream_collect(NULL, &t, &so, NULL, NULL, 4, NULL), BIRCH_EINVAL);
    BT_RC(birch_stream_each(NULL, &t, &(birch_stream_opts){0}, NULL, NULL), BIRCH_EINVAL);
    BT_RC(birch_stream_resume_key(NULL, NULL, 0, &len), BIRCH_EINVAL);
    /* Resume key before the first record: NOTFOUND; too small a buffer: EKEYSIZE. */
    so = (birch_stream_opts){0};
    BT_OK(birch_stream_open(NULL, &t, &so, &s));
    uint8_t kb[8];
    BT_RC(birch_stream_resume_key(s, kb, sizeof kb, &len), BIRCH_NOTFOUND);
    birch_item it;
    BT_OK(birch_stream_next(s, &it));
    BT_RC(birch_stream_resume_key(s, kb, 4, &len), BIRCH_EKEYSIZE);
    ck_assert_uint_eq(len, 8);
    BT_OK(birch_stream_resume_key(s, kb, sizeof kb, &len));
    ck_assert_mem_eq(kb, "\0\0\0\0\0\0\0\x01", 8);
    birch_stream_close(s);

    ck_assert_uint_eq(db_digest(db), before);
    BT_OK(birch_close(db));
    BT_OK(birch_close(db2));
}
END_TEST

/* A user format whose encode fails after the record is reserved: the put
 * fails, and nothing of it is committed. */
static int failing_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    (void)f, (void)out, (void)size;
    return *(const uint64_t *)value == 13 ? BIRCH_EINVAL : BIRCH_OK;
}
static int u64_size(const birch_value_format *f, const void *value, size_t *size)
{
    (void)f, (void)value;
    *size = 8;
    return BIRCH_OK;
}
static int u64_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    (void)f, (void)data;
    if (size == 8) return BIRCH_OK;
    if (msg && cap) snprintf(msg, cap, "u64: %zu bytes", size);
    return BIRCH_EFORMAT;
}
static int u64_describe(const birch_value_format *f, char *buf, size_t cap)
{
    (void)f;
    return snprintf(buf, cap, "failing-u64");
}
static const birch_value_format failing_fmt = {"failing", 1, 8, 8, u64_describe, u64_size, failing_encode,
                                               u64_verify, NULL, NULL};

START_TEST(bad_encode_changes_nothing)
{
    birch_db *db = open_db("encfail", NULL);
    birch_typed t;
    typed_create(db, "t", &birch_key_u64, &failing_fmt, &t);
    uint64_t k = 1, v = 1;
    BT_OK(birch_typed_put(NULL, &t, &k, &v, 0));
    uint64_t before = db_digest(db);
    v = 13;
    k = 2;
    BT_RC(birch_typed_put(NULL, &t, &k, &v, 0), BIRCH_EINVAL);
    ck_assert_uint_eq(db_digest(db), before);
    uint64_t vals[3] = {1, 13, 2}, keys[3] = {5, 6, 7};
    BT_RC(birch_typed_put_batch(NULL, &t, 3, keys, vals), BIRCH_EINVAL);
    ck_assert_uint_eq(db_digest(db), before);
    BT_OK(birch_close(db));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("typed");
    TCase *tc = bt_tcase("schema");
    tcase_add_test(tc, schema_message_exact);
    tcase_add_test(tc, schema_every_change);
    tcase_add_test(tc, schema_align_above_8);
    tcase_add_test(tc, schema_raw_access);
    tcase_add_test(tc, schema_untyped_tables);
    suite_add_tcase(s, tc);
    tc = bt_tcase("records");
    tcase_add_loop_test(tc, records_every_format, 0, NCOMBOS);
    tcase_add_test(tc, records_string_utf8);
    suite_add_tcase(s, tc);
    tc = bt_tcase("guards");
    tcase_add_test(tc, guard_keeps_snapshot);
    tcase_add_test(tc, guard_zero_and_released);
    tcase_add_test(tc, guard_double_release_refused);
    tcase_add_test(tc, guard_close_with_live_guard);
    tcase_add_test(tc, guard_busy);
    suite_add_tcase(s, tc);
    tc = bt_tcase("eformat");
    tcase_add_test(tc, eformat_bad_stored_value);
    suite_add_tcase(s, tc);
    tc = bt_tcase("batch");
    tcase_add_test(tc, batch_orders);
    tcase_add_test(tc, batch_append_path);
    tcase_add_test(tc, batch_all_or_nothing);
    suite_add_tcase(s, tc);
    tc = bt_tcase("api");
    tcase_add_test(tc, typed_table_macro);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, bad_encode_changes_nothing);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
