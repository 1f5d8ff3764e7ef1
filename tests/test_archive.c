/*
 * test_archive.c - archives (api/birch_archive.h, formats/archive.c).
 *
 * Round trips of every member kind through birch_typed_put/get, with the
 * guard's view zero-copy (inside the guard's bytes) and aligned; the
 * BIRCH_ARCHIVE_TABLE wrappers; the builder's refusals; the verifier's
 * refusals of bytes written raw (truncation at every length, pointers out
 * of bounds, misaligned, overlapping, escaping their parent, lengths that
 * overflow, nesting past the depth limit, bad UTF-8, missing NUL, bad
 * bools), each BIRCH_EFORMAT with the check named and the database
 * unaffected; schemas (another version or member list is BIRCH_ESCHEMA);
 * streams filtering on the view; random damage to valid archives.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- Types under test ----------------------------------------------------------- */

#define ADDRESS_FIELDS(X) X(string, city) X(u32, zip) X(opt_string, note)
BIRCH_ARCHIVE(Address, 1, ADDRESS_FIELDS);

#define CUSTOMER_FIELDS(X)                                                                         \
    X(u64, id) X(string, name) X(f64, revenue) X(vec_u32, tags) X(bytes, photo)                    \
    X(opt_string, nickname) X(nested, Address, home)
BIRCH_ARCHIVE(Customer, 3, CUSTOMER_FIELDS);
BIRCH_ARCHIVE_TABLE(customers, uint64_t, Customer, birch_key_u64);

/* Every member kind. */
#define ALL_FIELDS(X)                                                                              \
    X(u8, a_u8) X(u16, a_u16) X(u32, a_u32) X(u64, a_u64) X(i8, a_i8) X(i16, a_i16) X(i32, a_i32)   \
    X(i64, a_i64) X(f32, a_f32) X(f64, a_f64) X(bool, a_bool) X(string, s) X(bytes, b)             \
    X(opt_string, os) X(opt_bytes, ob) X(vec_u8, v_u8) X(vec_u16, v_u16) X(vec_u32, v_u32)          \
    X(vec_u64, v_u64) X(vec_i8, v_i8) X(vec_i16, v_i16) X(vec_i32, v_i32) X(vec_i64, v_i64)         \
    X(vec_f32, v_f32) X(vec_f64, v_f64) X(nested, Address, home) X(opt_nested, Address, work)      \
    X(vec_nested, Address, others) X(opt_nested, All, child)
BIRCH_ARCHIVE(All, 1, ALL_FIELDS);

/* A recursive type: lists and trees. */
#define NODE_FIELDS(X) X(i32, value) X(opt_nested, Node, next) X(vec_nested, Node, kids)
BIRCH_ARCHIVE(Node, 1, NODE_FIELDS);

/* ---- Helpers ------------------------------------------------------------------------- */

static birch_db *open_db(const char *tag)
{
    char *p = bt_path(tag);
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(p, &o);
    free(p);
    return db;
}

static void typed_create(birch_db *db, const char *name, const birch_value_format *v, birch_typed *t)
{
    int rc = birch_typed_open(db, NULL, name, &birch_key_u64, v, BIRCH_CREATE, t);
    ck_assert_msg(rc == BIRCH_OK, "typed_open(%s) returned %d (%s): %s", name, rc, birch_strerror(rc), t->msg);
}

static birch_val S(const char *s) { return bt_str(s); }

/* Whether [p, p + n) lies inside v. */
static int inside(birch_val v, const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)v.data, b = (uintptr_t)p;
    return b >= a && b <= a + v.size && n <= a + v.size - b;
}

static void val_eq(birch_val got, birch_val want, int nul)
{
    ck_assert_uint_eq(got.size, want.size);
    ck_assert_ptr_nonnull(got.data);
    if (want.size) ck_assert_int_eq(memcmp(got.data, want.data, want.size), 0);
    if (nul) ck_assert_int_eq(((const char *)got.data)[got.size], 0);
}

static Address_src mk_addr(const char *city, uint32_t zip, const char *note)
{
    Address_src a;
    memset(&a, 0, sizeof a);
    a.city = S(city);
    a.zip = zip;
    if (note) a.note = S(note);
    return a;
}

static void addr_eq(const Address_arch *a, const Address_src *s, birch_val in)
{
    ck_assert_ptr_nonnull(a);
    ck_assert(inside(in, a, sizeof *a));
    ck_assert_uint_eq(((uintptr_t)a) % _Alignof(Address_arch), 0);
    val_eq(Address_city(a), s->city, 1);
    ck_assert(inside(in, Address_city(a).data, Address_city(a).size + 1));
    ck_assert_uint_eq(Address_zip(a), s->zip);
    ck_assert_int_eq(Address_has_note(a), s->note.data != NULL);
    if (s->note.data) val_eq(Address_note(a), s->note, 1);
    else ck_assert_ptr_null(Address_note(a).data);
}

/* Builds src into a fresh 8-aligned buffer; *n gets its size. */
static void *build_all(const All_src *src, size_t *n)
{
    BT_OK(All_archive_size(src, n));
    void *buf = aligned_alloc(8, (*n + 7) & ~(size_t)7);
    ck_assert_ptr_nonnull(buf);
    BT_OK(All_archive_build(src, buf, *n));
    return buf;
}

/* ---- Round trips ----------------------------------------------------------------------- */

static const uint8_t U8S[] = {1, 2, 255};
static const uint16_t U16S[] = {65535, 7};
static const uint32_t U32S[] = {1, 0xdeadbeef, 3, 4, 5};
static const uint64_t U64S[] = {UINT64_MAX, 0, 42};
static const int8_t I8S[] = {-128, 127};
static const int16_t I16S[] = {-32768};
static const int32_t I32S[] = {INT32_MIN, -1, 0, INT32_MAX};
static const int64_t I64S[] = {INT64_MIN, INT64_MAX};
static const float F32S[] = {1.5f, -0.0f};
static const double F64S[] = {3.25, -1e300, 0.0};

/* An All with every member filled (variant picks lengths and presence). */
static void mk_all(All_src *s, int variant, Address_src *others, All_src *child)
{
    memset(s, 0, sizeof *s);
    s->a_u8 = 200;
    s->a_u16 = 60000;
    s->a_u32 = 4000000000u;
    s->a_u64 = UINT64_MAX - (uint64_t)variant;
    s->a_i8 = -100;
    s->a_i16 = -30000;
    s->a_i32 = -2000000000;
    s->a_i64 = INT64_MIN + variant;
    s->a_f32 = 2.5f;
    s->a_f64 = -1.0 / 3.0;
    s->a_bool = variant & 1;
    s->s = variant & 2 ? S("") : S("h\xc3\xa9llo w\xe2\x82\xacrld");
    s->b = variant & 2 ? bt_val("", 0) : bt_val("\0\x01\xff\0", 4);
    s->os = variant % 3 == 0 ? (birch_val){NULL, 0} : variant % 3 == 1 ? S("") : S("opt");
    s->ob = variant % 3 == 2 ? (birch_val){NULL, 0} : bt_val("\x7f\x00", 2);
    size_t k = (size_t)variant % 2; /* 0: full vectors, 1: empty ones */
#define VEC_(f, arr) s->f.data = k ? NULL : arr, s->f.len = k ? 0 : sizeof arr / sizeof arr[0]
    VEC_(v_u8, U8S);
    VEC_(v_u16, U16S);
    VEC_(v_u32, U32S);
    VEC_(v_u64, U64S);
    VEC_(v_i8, I8S);
    VEC_(v_i16, I16S);
    VEC_(v_i32, I32S);
    VEC_(v_i64, I64S);
    VEC_(v_f32, F32S);
    VEC_(v_f64, F64S);
#undef VEC_
    s->home = mk_addr("Paris", 75001, variant & 1 ? "rue" : NULL);
    s->work = variant & 4 ? NULL : &others[0];
    s->others.data = variant & 2 ? NULL : others;
    s->others.len = variant & 2 ? 0 : 3;
    s->child = child;
}

#define VEC_EQ_(a, f, s, in)                                                                       \
    do {                                                                                           \
        ck_assert_uint_eq(All_##f(a).len, (s)->f.len);                                             \
        ck_assert(inside(in, All_##f(a).data, All_##f(a).len * sizeof *All_##f(a).data));          \
        ck_assert_uint_eq((uintptr_t)All_##f(a).data % sizeof *All_##f(a).data, 0);                \
        if ((s)->f.len)                                                                            \
            ck_assert_int_eq(memcmp(All_##f(a).data, (s)->f.data, (s)->f.len * sizeof *(s)->f.data), 0); \
    } while (0)

static void all_eq(const All_arch *a, const All_src *s, birch_val in)
{
    ck_assert(inside(in, a, sizeof *a));
    ck_assert_uint_eq(All_a_u8(a), s->a_u8);
    ck_assert_uint_eq(All_a_u16(a), s->a_u16);
    ck_assert_uint_eq(All_a_u32(a), s->a_u32);
    ck_assert_uint_eq(All_a_u64(a), s->a_u64);
    ck_assert_int_eq(All_a_i8(a), s->a_i8);
    ck_assert_int_eq(All_a_i16(a), s->a_i16);
    ck_assert_int_eq(All_a_i32(a), s->a_i32);
    ck_assert_int_eq(All_a_i64(a), s->a_i64);
    ck_assert(All_a_f32(a) == s->a_f32);
    ck_assert(All_a_f64(a) == s->a_f64);
    ck_assert_int_eq(All_a_bool(a), s->a_bool);
    val_eq(All_s(a), s->s, 1);
    val_eq(All_b(a), s->b, 0);
    ck_assert(inside(in, All_s(a).data, All_s(a).size + 1));
    ck_assert(inside(in, All_b(a).data, All_b(a).size));
    ck_assert_int_eq(All_has_os(a), s->os.data != NULL);
    if (s->os.data) val_eq(All_os(a), s->os, 1);
    else ck_assert_ptr_null(All_os(a).data);
    ck_assert_int_eq(All_has_ob(a), s->ob.data != NULL);
    if (s->ob.data) val_eq(All_ob(a), s->ob, 0);
    else ck_assert_ptr_null(All_ob(a).data);
    VEC_EQ_(a, v_u8, s, in);
    VEC_EQ_(a, v_u16, s, in);
    VEC_EQ_(a, v_u32, s, in);
    VEC_EQ_(a, v_u64, s, in);
    VEC_EQ_(a, v_i8, s, in);
    VEC_EQ_(a, v_i16, s, in);
    VEC_EQ_(a, v_i32, s, in);
    VEC_EQ_(a, v_i64, s, in);
    VEC_EQ_(a, v_f32, s, in);
    VEC_EQ_(a, v_f64, s, in);
    addr_eq(All_home(a), &s->home, in);
    ck_assert_int_eq(All_has_work(a), s->work != NULL);
    if (s->work) addr_eq(All_work(a), s->work, in);
    else ck_assert_ptr_null(All_work(a));
    Address_vec o = All_others(a);
    ck_assert_uint_eq(o.len, s->others.len);
    for (size_t i = 0; i < o.len; i++) addr_eq(&o.data[i], &s->others.data[i], in);
    ck_assert_int_eq(All_has_child(a), s->child != NULL);
    if (s->child) all_eq(All_child(a), s->child, in);
    else ck_assert_ptr_null(All_child(a));
}

START_TEST(roundtrip_every_kind)
{
    birch_db *db = open_db("all");
    birch_typed t;
    typed_create(db, "all", &All_format, &t);
    Address_src others[3] = {mk_addr("Oslo", 150, "n"), mk_addr("", 0, NULL), mk_addr("Z\xc3\xbcrich", 8000, "")};
    All_src kids[8], srcs[8];
    for (int v = 0; v < 8; v++) {
        mk_all(&kids[v], v + 1, others, NULL);
        mk_all(&srcs[v], v, others, v & 1 ? &kids[v] : NULL);
        uint64_t k = (uint64_t)v;
        BT_OK(birch_typed_put(NULL, &t, &k, &srcs[v], 0));
    }
    for (int pass = 0; pass < 2; pass++) { /* with a transaction, then without */
        birch_txn *r = pass ? NULL : bt_begin(db, BIRCH_TXN_READ);
        for (int v = 0; v < 8; v++) {
            uint64_t k = (uint64_t)v;
            birch_guard g;
            memset(&g, 0, sizeof g);
            int rc = birch_typed_get(r, &t, &k, &g);
            ck_assert_msg(rc == BIRCH_OK, "get %d: %d %s", v, rc, g.msg);
            ck_assert_ptr_eq(g.view, g.bytes.data); /* zero-copy: the root is the value itself */
            ck_assert(BT_ALIGNED(g.view));
            size_t n;
            BT_OK(All_archive_size(&srcs[v], &n));
            ck_assert_uint_eq(g.bytes.size, n);
            all_eq(All_archive_root(g.view), &srcs[v], g.bytes);
            /* The same bytes as the builder writes outside a table. */
            void *buf = build_all(&srcs[v], &n);
            ck_assert_int_eq(memcmp(buf, g.bytes.data, n), 0);
            free(buf);
            birch_guard_release(&g);
        }
        if (r) BT_OK(birch_txn_commit(r));
    }
    bt_check(db);
    BT_OK(birch_close(db));
}
END_TEST

START_TEST(table_wrappers)
{
    birch_db *db = open_db("wrap");
    birch_typed t;
    BT_OK(customers_open(db, NULL, BIRCH_CREATE, &t));
    uint32_t tags[] = {7, 8, 9};
    Customer_src c = {0};
    c.id = 42;
    c.name = S("Ada Lovelace");
    c.revenue = 1234.5;
    c.tags = (birch_vec_u32){tags, 3};
    c.photo = bt_val("\x89PNG", 4);
    c.home = mk_addr("London", 1815, NULL);
    BT_OK(customers_put(NULL, &t, 42, &c));
    customers_guard g = {0};
    BT_OK(customers_get(NULL, &t, 42, &g));
    const Customer_arch *a = customers_view(&g);
    ck_assert_ptr_eq(a, g.g.bytes.data);
    ck_assert_uint_eq(Customer_id(a), 42);
    ck_assert_str_eq((const char *)Customer_name(a).data, "Ada Lovelace");
    ck_assert(Customer_revenue(a) == 1234.5);
    ck_assert_uint_eq(Customer_tags(a).len, 3);
    ck_assert_uint_eq(Customer_tags(a).data[2], 9);
    ck_assert(!Customer_has_nickname(a));
    ck_assert_str_eq((const char *)Address_city(Customer_home(a)).data, "London");
    customers_release(&g);
    ck_assert_int_eq(customers_contains(NULL, &t, 42), 1);
    ck_assert_int_eq(customers_delete(NULL, &t, 42), 1);
    ck_assert_int_eq(customers_contains(NULL, &t, 42), 0);
    BT_RC(customers_get(NULL, &t, 42, &g), BIRCH_NOTFOUND);
    BT_OK(birch_close(db));
}
END_TEST

/* ---- Builder refusals ------------------------------------------------------------------ */

/* A chain of n nodes (n <= 200) in nodes[]. */
static void mk_chain(Node_src *nodes, int n)
{
    for (int i = 0; i < n; i++) {
        memset(&nodes[i], 0, sizeof nodes[i]);
        nodes[i].value = i;
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
    }
}

START_TEST(builder_refusals)
{
    birch_db *db = open_db("build");
    birch_typed t, tn;
    typed_create(db, "c", &Customer_format, &t);
    typed_create(db, "n", &Node_format, &tn);
    uint64_t before_c, k = 1;
    Customer_src c = {0};
    c.name = S("ok");
    c.home = mk_addr("x", 1, NULL);
    BT_OK(birch_typed_put(NULL, &t, &k, &c, 0));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    before_c = bt_count(w, t.table);
    /* Bad UTF-8, in the root and in a nested string; NULL data with a length. */
    c.name = bt_val("\xc3\x28", 2);
    BT_RC(birch_typed_put(w, &t, &k, &c, 0), BIRCH_EINVAL);
    c.name = S("ok");
    c.home.city = bt_val("\xed\xa0\x80", 3); /* a surrogate */
    BT_RC(birch_typed_put(w, &t, &k, &c, 0), BIRCH_EINVAL);
    c.home.city = S("x");
    c.photo = bt_val(NULL, 3);
    BT_RC(birch_typed_put(w, &t, &k, &c, 0), BIRCH_EINVAL);
    c.photo = bt_val(NULL, 0);
    c.tags = (birch_vec_u32){NULL, 2};
    BT_RC(birch_typed_put(w, &t, &k, &c, 0), BIRCH_EINVAL);
    c.tags = (birch_vec_u32){NULL, 0};
    c.nickname = bt_val(NULL, 1);
    BT_RC(birch_typed_put(w, &t, &k, &c, 0), BIRCH_EINVAL);
    /* A vector too long for 32 bits. */
    c.nickname = bt_val(NULL, 0);
    c.tags = (birch_vec_u32){(const uint32_t *)&c, (size_t)1 << 31};
    size_t n;
    BT_RC(Customer_archive_size(&c, &n), BIRCH_EVALSIZE);
    c.tags = (birch_vec_u32){NULL, 0};
    /* The transaction is still usable and nothing changed. */
    ck_assert_uint_eq(bt_count(w, t.table), before_c);
    BT_OK(birch_typed_put(w, &t, &k, &c, 0));
    /* Depth: 64 nested objects are fine, 65 are refused. */
    static Node_src chain[200];
    mk_chain(chain, BIRCH_ARCHIVE_MAX_DEPTH);
    BT_OK(birch_typed_put(w, &tn, &k, &chain[0], 0));
    mk_chain(chain, BIRCH_ARCHIVE_MAX_DEPTH + 1);
    BT_RC(birch_typed_put(w, &tn, &k, &chain[0], 0), BIRCH_EINVAL);
    /* A cycle is refused by the same limit. */
    mk_chain(chain, 3);
    chain[2].next = &chain[0];
    BT_RC(Node_archive_size(&chain[0], &n), BIRCH_EINVAL);
    BT_OK(birch_txn_commit(w));
    /* A source bool whose byte is neither 0 nor 1 (loading it as a bool
     * would be undefined behaviour): refused by size, build and put. */
    {
        Address_src others[3] = {mk_addr("a", 1, NULL), mk_addr("b", 2, NULL), mk_addr("c", 3, NULL)};
        All_src s;
        birch_typed ta;
        typed_create(db, "all", &All_format, &ta);
        for (uint8_t byte = 0; byte < 4; byte++) {
            mk_all(&s, 0, others, NULL);
            memcpy(&s.a_bool, &byte, 1);
            if (byte <= 1) {
                size_t an;
                uint8_t *ab = build_all(&s, &an);
                BT_OK(All_archive_verify(ab, an, NULL, 0));
                ck_assert(All_a_bool(All_archive_root(ab)) == (byte == 1));
                free(ab);
                continue;
            }
            BT_RC(All_archive_size(&s, &n), BIRCH_EINVAL);
            _Alignas(8) static uint8_t big[1 << 14];
            s.a_bool = false;
            BT_OK(All_archive_size(&s, &n));
            ck_assert_uint_le(n, sizeof big);
            memcpy(&s.a_bool, &byte, 1);
            BT_RC(All_archive_build(&s, big, n), BIRCH_EINVAL);
            BT_RC(birch_typed_put(NULL, &ta, &k, &s, 0), BIRCH_EINVAL);
        }
    }
    /* build into the wrong size or a misaligned buffer */
    mk_chain(chain, 2);
    BT_OK(Node_archive_size(&chain[0], &n));
    _Alignas(8) uint8_t buf[256];
    BT_RC(Node_archive_build(&chain[0], buf, n + 8), BIRCH_EINVAL);
    BT_RC(Node_archive_build(&chain[0], buf + 2, n), BIRCH_EINVAL);
    BT_OK(Node_archive_build(&chain[0], buf, n));
    BT_OK(Node_archive_verify(buf, n, NULL, 0));
    bt_check(db);
    BT_OK(birch_close(db));
}
END_TEST

/* ---- Verifier refusals ---------------------------------------------------------------- */

/* A database with table "c" of Customer archives holding a good record
 * under key 1; put_raw stores bytes under key 2 with birch_put. */
typedef struct vfix {
    birch_db *db;
    birch_typed t;
    uint8_t *good; /* a valid archive */
    size_t n;
} vfix;

static Customer_src good_customer(void)
{
    static const uint32_t tags[] = {10, 20, 30};
    Customer_src c = {0};
    c.id = 99;
    c.name = S("Grace");
    c.revenue = 2.5;
    c.tags = (birch_vec_u32){tags, 3};
    c.photo = bt_val("\1\2\3\4\5", 5);
    c.nickname = S("amazing");
    c.home = mk_addr("Arlington", 22201, "end");
    return c;
}

static void vfix_open(vfix *f, const birch_value_format *fmt)
{
    f->db = open_db("verify");
    typed_create(f->db, "c", fmt, &f->t);
    Customer_src c = good_customer();
    uint64_t k = 1;
    BT_OK(birch_typed_put(NULL, &f->t, &k, &c, 0));
    BT_OK(Customer_archive_size(&c, &f->n));
    f->good = aligned_alloc(8, (f->n + 7) & ~(size_t)7);
    BT_OK(Customer_archive_build(&c, f->good, f->n));
}

static void vfix_close(vfix *f)
{
    bt_check(f->db);
    BT_OK(birch_close(f->db));
    free(f->good);
}

/* Stores bytes raw under key 2 and expects the typed get to fail with
 * BIRCH_EFORMAT naming want; the good record stays readable. */
static void expect_refused(vfix *f, const void *bytes, size_t n, const char *want)
{
    birch_txn *w = bt_begin(f->db, BIRCH_TXN_WRITE);
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 2}; /* u64 keys are big-endian */
    BT_OK(birch_put(w, f->t.table, bt_val(key, 8), bt_val(bytes, n), 0));
    BT_OK(birch_txn_commit(w));
    uint64_t k = 2;
    birch_guard g;
    memset(&g, 0, sizeof g);
    int rc = birch_typed_get(NULL, &f->t, &k, &g);
    ck_assert_msg(rc == BIRCH_EFORMAT, "expected EFORMAT (%s), got %d (%s)", want, rc, birch_strerror(rc));
    ck_assert_msg(strstr(g.msg, want) != NULL, "message '%s' lacks '%s'", g.msg, want);
    ck_assert_msg(strstr(g.msg, "table 'c', key 0000000000000002: archive ") == g.msg, "message '%s'", g.msg);
    ck_assert_ptr_null(g.view);
    birch_guard_release(&g); /* nothing to release: a no-op */
    /* The same refusal inside a transaction; the good record reads fine. */
    birch_txn *r = bt_begin(f->db, BIRCH_TXN_READ);
    BT_RC(birch_typed_get(r, &f->t, &k, &g), BIRCH_EFORMAT);
    k = 1;
    BT_OK(birch_typed_get(r, &f->t, &k, &g));
    ck_assert_uint_eq(Customer_id(Customer_archive_root(g.view)), 99);
    birch_guard_release(&g);
    BT_OK(birch_txn_commit(r));
    /* The verifier outside a table says the same. */
    void *copy = aligned_alloc(8, (n + 15) & ~(size_t)7);
    if (n) memcpy(copy, bytes, n);
    char msg[256];
    BT_RC(Customer_archive_verify(copy, n, msg, sizeof msg), BIRCH_EFORMAT);
    ck_assert_msg(strstr(msg, want) != NULL, "message '%s' lacks '%s'", msg, want);
    BT_RC(Customer_archive_verify(copy, n, NULL, 0), BIRCH_EFORMAT);
    free(copy);
}

/* A damaged copy of the good archive: fn changes it. */
static void refuse_mutated(vfix *f, void (*fn)(Customer_arch *a, uint8_t *bytes, size_t n), const char *want)
{
    uint8_t *b = aligned_alloc(8, (f->n + 7) & ~(size_t)7);
    memcpy(b, f->good, f->n);
    fn((Customer_arch *)b, b, f->n);
    expect_refused(f, b, f->n, want);
    free(b);
}

START_TEST(verify_good)
{
    vfix f;
    vfix_open(&f, &Customer_format);
    char msg[200] = "x";
    BT_OK(Customer_archive_verify(f.good, f.n, msg, sizeof msg));
    ck_assert_str_eq(msg, "");
    vfix_close(&f);
}
END_TEST

START_TEST(verify_truncation)
{
    vfix f;
    vfix_open(&f, &Customer_format);
    for (size_t n = 0; n < f.n; n++) {
        const char *want = n < sizeof(Customer_arch) ? "shorter than the Customer struct" : "out of bounds";
        expect_refused(&f, f.good, n, want);
    }
    vfix_close(&f);
}
END_TEST

static void m_name_oob(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->name.off = 4000; }
static void m_name_len(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->name.len = 1000; }
static void m_name_end(Customer_arch *a, uint8_t *b, size_t n) { (void)b, a->name.off = (uint32_t)n; a->name.len = 0; }
static void m_tags_misaligned(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->tags.off += 1; }
static void m_tags_overflow(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->tags.len = 0x40000000u; }
static void m_tags_huge(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->tags.len = 0x3fffffffu; }
static void m_str_overflow(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->name.len = UINT32_MAX; }
static void m_photo_overlap(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->photo.off = a->tags.off; }
static void m_photo_into_root(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->photo.off = 8; }
static void m_name_null(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->name.off = 0, a->name.len = 0; }
static void m_nick_half_absent(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->nickname.off = 0; }
static void m_name_utf8(Customer_arch *a, uint8_t *b, size_t n) { (void)n, b[a->name.off + 1] = 0xff; }
static void m_name_nul(Customer_arch *a, uint8_t *b, size_t n) { (void)n, b[a->name.off + a->name.len] = 'x'; }
static void m_nick_utf8(Customer_arch *a, uint8_t *b, size_t n) { (void)n, b[a->nickname.off] = 0xc0; }
static void m_home_short(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->home.len = sizeof(Address_arch) - 1; }
static void m_home_misaligned(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->home.off += 2, a->home.len -= 2; }
/* The home subtree ends before its city: the city escapes its parent. */
static void m_home_narrow(Customer_arch *a, uint8_t *b, size_t n) { (void)b, (void)n, a->home.len = sizeof(Address_arch); }
static void m_city_back(Customer_arch *a, uint8_t *b, size_t n)
{
    (void)n;
    Address_arch *h = (Address_arch *)(b + a->home.off);
    h->city.off = 0; /* the Address struct itself */
    h->city.len = 1;
}
static void m_home_past(Customer_arch *a, uint8_t *b, size_t n) { (void)b, a->home.len = (uint32_t)(n - a->home.off + 8); }

START_TEST(verify_pointers)
{
    vfix f;
    vfix_open(&f, &Customer_format);
    refuse_mutated(&f, m_name_oob, "archive Customer.name: string of 6 bytes at 4000 is out of bounds");
    refuse_mutated(&f, m_name_len, "Customer.name: string of 1001 bytes");
    refuse_mutated(&f, m_name_end, "Customer.name: string of 1 bytes at");
    refuse_mutated(&f, m_tags_misaligned, "Customer.tags: vector of u32 at");
    refuse_mutated(&f, m_tags_misaligned, "is misaligned (needs 4)");
    refuse_mutated(&f, m_tags_overflow, "Customer.tags: vector of u32 length 1073741824 overflows");
    refuse_mutated(&f, m_tags_huge, "out of bounds");
    refuse_mutated(&f, m_str_overflow, "Customer.name: string length 4294967295 overflows");
    refuse_mutated(&f, m_photo_overlap, "Customer.photo: bytes at");
    refuse_mutated(&f, m_photo_overlap, "overlaps an earlier object");
    refuse_mutated(&f, m_photo_into_root, "overlaps an earlier object");
    refuse_mutated(&f, m_name_null, "Customer.name: string at 0 overlaps");
    refuse_mutated(&f, m_nick_half_absent, "Customer.nickname: string at 0 overlaps");
    char want[128];
    snprintf(want, sizeof want, "Customer.home: Address of %zu bytes is shorter than its struct (%zu bytes)",
             sizeof(Address_arch) - 1, sizeof(Address_arch));
    refuse_mutated(&f, m_home_short, want);
    refuse_mutated(&f, m_home_misaligned, "Customer.home: Address at");
    refuse_mutated(&f, m_home_misaligned, "misaligned");
    refuse_mutated(&f, m_home_narrow, "Customer.home.city: string of 10 bytes at");
    refuse_mutated(&f, m_home_narrow, "escapes its parent's range");
    refuse_mutated(&f, m_city_back, "Customer.home.city: string at");
    refuse_mutated(&f, m_home_past, "Customer.home: Address of");
    refuse_mutated(&f, m_home_past, "out of bounds");
    vfix_close(&f);
}
END_TEST

START_TEST(verify_contents)
{
    vfix f;
    vfix_open(&f, &Customer_format);
    refuse_mutated(&f, m_name_utf8, "Customer.name: string at");
    refuse_mutated(&f, m_name_utf8, "is not valid UTF-8");
    refuse_mutated(&f, m_nick_utf8, "Customer.nickname: string at");
    refuse_mutated(&f, m_name_nul, "lacks its NUL");
    vfix_close(&f);

    /* bool: 0 and 1 only (0 and 1 are accepted: builder_refusals). */
    birch_db *db = open_db("bool");
    birch_typed t;
    typed_create(db, "all", &All_format, &t);
    Address_src others[3] = {mk_addr("a", 1, NULL), mk_addr("b", 2, NULL), mk_addr("c", 3, NULL)};
    All_src s;
    mk_all(&s, 1, others, NULL);
    size_t n;
    uint8_t *b = build_all(&s, &n);
    ((All_arch *)b)->a_bool = 2;
    char msg[200];
    BT_RC(All_archive_verify(b, n, msg, sizeof msg), BIRCH_EFORMAT);
    ck_assert_str_eq(msg, "archive All.a_bool: bool holds 2, not 0 or 1");
    /* A bad string deep inside: the path names the vector element. */
    mk_all(&s, 0, others, NULL);
    free(b);
    b = build_all(&s, &n);
    const All_arch *a = All_archive_root(b);
    const Address_arch *o2 = &All_others(a).data[2];
    ((uint8_t *)(uintptr_t)Address_city(o2).data)[0] = 0x80;
    BT_RC(All_archive_verify(b, n, msg, sizeof msg), BIRCH_EFORMAT);
    ck_assert_msg(strstr(msg, "archive All.others[2].city: string at ") == msg, "%s", msg);
    /* Misaligned buffers are refused. */
    memmove(b + 1, b, n - 1);
    BT_RC(All_archive_verify(b + 1, n - 1, msg, sizeof msg), BIRCH_EFORMAT);
    ck_assert_str_eq(msg, "archive All: buffer is misaligned (needs 8)");
    free(b);
    BT_OK(birch_close(db));
}
END_TEST

/* A chain of n Node archives written by hand (the builder stops at the
 * depth limit). */
static uint8_t *hand_chain(int n, size_t *size)
{
    size_t sz = sizeof(Node_arch);
    *size = (size_t)n * sz;
    uint8_t *b = aligned_alloc(8, (*size + 7) & ~(size_t)7);
    memset(b, 0, *size);
    for (int i = 0; i < n; i++) {
        Node_arch *a = (Node_arch *)(b + (size_t)i * sz);
        a->value = i;
        if (i + 1 < n) a->next = (birch_archive_ref){(uint32_t)sz, (uint32_t)((size_t)(n - i - 1) * sz)};
        /* An empty vector after the next node's subtree: at the very end. */
        a->kids = (birch_archive_ref){(uint32_t)((size_t)(n - i) * sz), 0};
    }
    return b;
}

START_TEST(verify_depth)
{
    birch_db *db = open_db("depth");
    birch_typed t;
    typed_create(db, "n", &Node_format, &t);
    /* The hand-made chain is what the builder writes. */
    static Node_src chain[80];
    mk_chain(chain, 5);
    size_t n, hn;
    BT_OK(Node_archive_size(&chain[0], &n));
    uint8_t *h = hand_chain(5, &hn);
    ck_assert_uint_eq(n, hn);
    _Alignas(8) uint8_t built[512];
    ck_assert_uint_le(n, sizeof built);
    BT_OK(Node_archive_build(&chain[0], built, n));
    ck_assert_int_eq(memcmp(built, h, n), 0);
    free(h);
    char msg[1024];
    for (int len = 60; len <= 70; len++) {
        h = hand_chain(len, &hn);
        int rc = Node_archive_verify(h, hn, msg, sizeof msg);
        BT_RC(rc, len <= BIRCH_ARCHIVE_MAX_DEPTH ? BIRCH_OK : BIRCH_EFORMAT);
        if (rc) ck_assert_msg(strstr(msg, ": nested deeper than 64") != NULL, "%s", msg);
        /* Through a table: the same verdict. */
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)len};
        BT_OK(birch_put(w, t.table, bt_val(key, 8), bt_val(h, hn), 0));
        BT_OK(birch_txn_commit(w));
        uint64_t k = (uint64_t)len;
        birch_guard g = {0};
        rc = birch_typed_get(NULL, &t, &k, &g);
        BT_RC(rc, len <= BIRCH_ARCHIVE_MAX_DEPTH ? BIRCH_OK : BIRCH_EFORMAT);
        if (rc == BIRCH_OK) {
            const Node_arch *a = Node_archive_root(g.view);
            int count = 0;
            for (; a; a = Node_next(a)) ck_assert_int_eq(Node_value(a), count++);
            ck_assert_int_eq(count, len);
            birch_guard_release(&g);
        } else {
            ck_assert_msg(strstr(g.msg, "nested deeper than 64") != NULL, "%s", g.msg);
        }
        free(h);
    }
    /* Depth through vectors counts too: a tree of kids 70 deep. */
    static Node_src tree[70];
    for (int i = 0; i < 70; i++) {
        memset(&tree[i], 0, sizeof tree[i]);
        tree[i].value = i;
        if (i + 1 < 70) tree[i].kids = (Node_src_vec){&tree[i + 1], 1};
    }
    BT_RC(Node_archive_size(&tree[0], &n), BIRCH_EINVAL);
    tree[63].kids.len = 0;
    BT_OK(Node_archive_size(&tree[0], &n));
    bt_check(db);
    BT_OK(birch_close(db));
}
END_TEST

/* ---- Schemas --------------------------------------------------------------------------- */

START_TEST(schema_versions)
{
    char *path = bt_path("schema");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_typed t;
    typed_create(db, "c", &Customer_format, &t);
    Customer_src c = good_customer();
    uint64_t k = 1;
    BT_OK(birch_typed_put(NULL, &t, &k, &c, 0));
    char d[300];
    ck_assert_int_gt(Customer_format.describe(&Customer_format, d, sizeof d), 0);
    char want[100];
    int wn = snprintf(want, sizeof want, "archive(Customer v3, %zu bytes, align 8, layout ", sizeof(Customer_arch));
    ck_assert_msg(strncmp(d, want, (size_t)wn) == 0, "%s", d);
    ck_assert_uint_eq(strlen(d), (size_t)wn + 9);

    /* Version 4 of the same declaration. */
    birch_archive_type v4 = Customer_archive.type;
    v4.version = 4;
    birch_value_format f4 = Customer_format;
    f4.param = &v4;
    birch_typed t2;
    BT_RC(birch_typed_open(db, NULL, "c", &birch_key_u64, &f4, 0, &t2), BIRCH_ESCHEMA);
    ck_assert_msg(strstr(t2.msg, "value archive(Customer v3,") && strstr(t2.msg, "opened as key u64 / value archive(Customer v4,"),
                  "%s", t2.msg);
    /* The same version with another member list (one member fewer, or a
     * member renamed, or another nested type's layout). */
    birch_archive_type fewer = Customer_archive.type;
    fewer.n--;
    birch_value_format ff = Customer_format;
    ff.param = &fewer;
    BT_RC(birch_typed_open(db, NULL, "c", &birch_key_u64, &ff, 0, &t2), BIRCH_ESCHEMA);
    birch_archive_member ms[7];
    memcpy(ms, Customer_archive.members, sizeof ms);
    ms[1].name = "fullname";
    birch_archive_type renamed = Customer_archive.type;
    renamed.members = ms;
    ff.param = &renamed;
    BT_RC(birch_typed_open(db, NULL, "c", &birch_key_u64, &ff, 0, &t2), BIRCH_ESCHEMA);
    birch_archive_type addr2 = Address_archive.type;
    addr2.version = 2;
    memcpy(ms, Customer_archive.members, sizeof ms);
    ms[6].type = &addr2;
    ff.param = &renamed;
    BT_RC(birch_typed_open(db, NULL, "c", &birch_key_u64, &ff, 0, &t2), BIRCH_ESCHEMA);
    /* Another archive type, and a pod of the same size. */
    BT_RC(birch_typed_open(db, NULL, "c", &birch_key_u64, &All_format, 0, &t2), BIRCH_ESCHEMA);
    /* The declaration itself still opens, after a reopen too. */
    BT_OK(birch_typed_open(db, NULL, "c", &birch_key_u64, &Customer_format, 0, &t2));
    db = bt_reopen(db, path, &o);
    BT_OK(birch_typed_open(db, NULL, "c", &birch_key_u64, &Customer_format, 0, &t2));
    birch_typed t3;
    BT_RC(birch_typed_open(db, NULL, "c", &birch_key_u64, &f4, 0, &t3), BIRCH_ESCHEMA);
    customers_guard g = {0};
    BT_OK(customers_get(NULL, &t2, 1, &g));
    ck_assert_str_eq((const char *)Customer_name(customers_view(&g)).data, "Grace");
    customers_release(&g);
    BT_OK(birch_close(db));
    free(path);
}
END_TEST

/* ---- Streams --------------------------------------------------------------------------- */

typedef struct filter_ctx {
    int calls;
} filter_ctx;

/* Customers with revenue >= 50 and a tag equal to 3. */
static int rich_tagged(const birch_item *it, void *ctx)
{
    ((filter_ctx *)ctx)->calls++;
    ck_assert_ptr_eq(it->view, it->bytes.data);
    ck_assert(BT_ALIGNED(it->view));
    const Customer_arch *c = Customer_archive_root(it->view);
    if (Customer_revenue(c) < 50) return 0;
    birch_vec_u32 tags = Customer_tags(c);
    for (size_t i = 0; i < tags.len; i++)
        if (tags.data[i] == 3) return 1;
    return 0;
}

START_TEST(stream_filter_on_view)
{
    birch_db *db = open_db("stream");
    birch_typed t;
    BT_OK(customers_open(db, NULL, BIRCH_CREATE, &t));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    int want = 0;
    for (uint64_t i = 0; i < 100; i++) {
        uint32_t tags[5];
        size_t nt = i % 5;
        for (size_t j = 0; j < nt; j++) tags[j] = (uint32_t)(i + j) % 7;
        char name[32];
        snprintf(name, sizeof name, "customer %" PRIu64, i);
        Customer_src c = {0};
        c.id = i;
        c.name = S(name);
        c.revenue = (double)i;
        c.tags = (birch_vec_u32){tags, nt};
        c.home = mk_addr("Town", (uint32_t)i, NULL);
        if (i % 2) c.nickname = S("n");
        int has3 = 0;
        for (size_t j = 0; j < nt; j++) has3 |= tags[j] == 3;
        want += i >= 50 && has3;
        BT_OK(customers_put(w, &t, i, &c));
    }
    BT_OK(birch_txn_commit(w));
    filter_ctx fc = {0};
    birch_stream_opts o;
    memset(&o, 0, sizeof o);
    o.filter = rich_tagged;
    o.filter_ctx = &fc;
    birch_stream *s;
    BT_OK(customers_stream(NULL, &t, &o, &s));
    birch_item it;
    int got = 0, rc;
    uint64_t last = 0;
    while ((rc = birch_stream_next(s, &it)) == BIRCH_OK) {
        const Customer_arch *c = Customer_archive_root(it.view);
        ck_assert_uint_eq(Customer_id(c), *(const uint64_t *)it.key);
        ck_assert(Customer_revenue(c) >= 50);
        ck_assert(got == 0 || Customer_id(c) > last);
        last = Customer_id(c);
        char name[32];
        snprintf(name, sizeof name, "customer %" PRIu64, last);
        ck_assert_str_eq((const char *)Customer_name(c).data, name);
        ck_assert_int_eq(Customer_has_nickname(c), (int)(last % 2));
        got++;
    }
    BT_RC(rc, BIRCH_NOTFOUND);
    birch_stream_close(s);
    ck_assert_int_gt(want, 0);
    ck_assert_int_eq(got, want);
    ck_assert_int_eq(fc.calls, 100);
    /* A damaged record stops the stream with BIRCH_EFORMAT. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 60}, junk[80];
    memset(junk, 0xee, sizeof junk);
    BT_OK(birch_put(w, t.table, bt_val(key, 8), bt_val(junk, sizeof junk), 0));
    BT_OK(birch_txn_commit(w));
    BT_OK(customers_stream(NULL, &t, &o, &s));
    while ((rc = birch_stream_next(s, &it)) == BIRCH_OK) {}
    BT_RC(rc, BIRCH_EFORMAT);
    birch_stream_close(s);
    bt_check(db);
    BT_OK(birch_close(db));
}
END_TEST

/* ---- Random damage ---------------------------------------------------------------------- */

/* Walks every accessor of a verified All and checks each pointer lies
 * inside the buffer. */
static void walk_all(const All_arch *a, birch_val in, int depth)
{
    ck_assert_int_le(depth, BIRCH_ARCHIVE_MAX_DEPTH);
    ck_assert(inside(in, a, sizeof *a));
    ck_assert(inside(in, All_s(a).data, All_s(a).size + 1));
    ck_assert(inside(in, All_b(a).data, All_b(a).size));
    if (All_has_os(a)) ck_assert(inside(in, All_os(a).data, All_os(a).size + 1));
    if (All_has_ob(a)) ck_assert(inside(in, All_ob(a).data, All_ob(a).size));
    ck_assert(inside(in, All_v_f64(a).data, All_v_f64(a).len * 8));
    ck_assert(inside(in, All_v_u16(a).data, All_v_u16(a).len * 2));
    const Address_arch *h = All_home(a);
    ck_assert(inside(in, h, sizeof *h));
    ck_assert(inside(in, Address_city(h).data, Address_city(h).size + 1));
    Address_vec o = All_others(a);
    ck_assert(inside(in, o.data, o.len * sizeof *o.data));
    for (size_t i = 0; i < o.len; i++) ck_assert(inside(in, Address_city(&o.data[i]).data, Address_city(&o.data[i]).size + 1));
    if (All_has_child(a)) walk_all(All_child(a), in, depth + 1);
}

START_TEST(random_damage)
{
    bt_rng r = {bt_seed(0xa6c41)};
    Address_src others[3] = {mk_addr("Oslo", 150, "n"), mk_addr("", 0, NULL), mk_addr("Bern", 3000, "")};
    All_src kid, s;
    mk_all(&kid, 3, others, NULL);
    mk_all(&s, 0, others, &kid);
    size_t n;
    uint8_t *good = build_all(&s, &n);
    uint8_t *b = aligned_alloc(8, (n + 7) & ~(size_t)7);
    int accepted = 0;
    long rounds = (long)bt_env_u64("BIRCH_ARCHIVE_ROUNDS", 20000);
    for (long i = 0; i < rounds; i++) {
        memcpy(b, good, n);
        int flips = (int)bt_range(&r, 1, 4);
        for (int j = 0; j < flips; j++) {
            size_t at = (size_t)bt_below(&r, n);
            b[at] = bt_chance(&r, 50) ? (uint8_t)bt_rand(&r) : (uint8_t)(b[at] ^ (1u << bt_below(&r, 8)));
        }
        size_t len = bt_chance(&r, 10) ? (size_t)bt_below(&r, n + 1) : n;
        char msg[256];
        int rc = All_archive_verify(b, len, msg, sizeof msg);
        ck_assert(rc == BIRCH_OK || rc == BIRCH_EFORMAT);
        if (rc == BIRCH_OK) {
            accepted++;
            walk_all(All_archive_root(b), bt_val(b, len), 1);
        } else {
            ck_assert_msg(strncmp(msg, "archive All", 11) == 0, "%s", msg);
        }
    }
    ck_assert_int_gt(accepted, 0); /* flips of scalars and padding pass */
    free(b);
    free(good);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("archive");
    TCase *tc = bt_tcase("archive");
    tcase_add_test(tc, roundtrip_every_kind);
    tcase_add_test(tc, table_wrappers);
    tcase_add_test(tc, builder_refusals);
    tcase_add_test(tc, verify_good);
    tcase_add_test(tc, verify_truncation);
    tcase_add_test(tc, verify_pointers);
    tcase_add_test(tc, verify_contents);
    tcase_add_test(tc, verify_depth);
    tcase_add_test(tc, schema_versions);
    tcase_add_test(tc, stream_filter_on_view);
    tcase_add_test(tc, random_damage);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
