/*
 * test_growth.c - the file outgrowing the address space reserved for the
 * map (birch_options.map_reserve set to 1 MiB): value pointers a read
 * transaction took from the old map stay valid and unchanged while the
 * writer grows the file far beyond the reservation (single thread; the
 * threaded variant is in test_threads.c).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

enum { NPIN = 260 };

typedef struct pin {
    const void *ptr;
    size_t size;
    unsigned char *copy;
} pin;

static size_t pin_vlen(int i) { return i < 60 ? 3000 + (size_t)i : (size_t)(i % 200); }

static void pin_key(int i, char *k, size_t n) { snprintf(k, n, "pin%04d", i); }

/* Takes every pinned key's value pointer through get and checks that a
 * cursor sees the same records. */
static void take_pins(birch_txn *r, birch_table *t, pin *pins, uint64_t gen)
{
    char k[32];
    unsigned char *expect = malloc(4096);
    for (int i = 0; i < NPIN; i++) {
        pin_key(i, k, sizeof k);
        birch_val v;
        BT_OK(birch_get(r, t, bt_str(k), &v));
        ck_assert_uint_eq(v.size, pin_vlen(i));
        bt_pattern(expect, v.size, gen * 1000 + (uint64_t)i);
        ck_assert_mem_eq(v.data, expect, v.size);
        pins[i].ptr = v.data;
        pins[i].size = v.size;
        pins[i].copy = malloc(v.size + 1);
        memcpy(pins[i].copy, v.data, v.size);
    }
    free(expect);
}

static void check_pins(pin *pins, const char *when)
{
    for (int i = 0; i < NPIN; i++)
        ck_assert_msg(memcmp(pins[i].ptr, pins[i].copy, pins[i].size) == 0,
                      "%s: pinned value %d (%zu bytes at %p) changed", when, i, pins[i].size,
                      pins[i].ptr);
}

static void free_pins(pin *pins)
{
    for (int i = 0; i < NPIN; i++) free(pins[i].copy);
}

static void write_pins(birch_db *db, birch_table **t, uint64_t gen)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    *t = bt_table(w, "pins", BIRCH_CREATE);
    char k[32];
    unsigned char v[4096];
    for (int i = 0; i < NPIN; i++) {
        pin_key(i, k, sizeof k);
        bt_pattern(v, pin_vlen(i), gen * 1000 + (uint64_t)i);
        bt_put(w, *t, k, strlen(k), v, pin_vlen(i));
    }
    BT_OK(birch_txn_commit(w));
}

/* Appends `mb` MiB of 50 KB values in commits of about 2 MiB. */
static void grow(birch_db *db, int mb, int *next)
{
    static unsigned char big[50000];
    bt_pattern(big, sizeof big, 1);
    char k[32];
    int n = mb * 20;
    for (int done = 0; done < n;) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "bulk", BIRCH_CREATE);
        for (int i = 0; i < 40 && done < n; i++, done++) {
            snprintf(k, sizeof k, "bulk%07d", (*next)++);
            bt_put(w, t, k, strlen(k), big, sizeof big);
        }
        BT_OK(birch_txn_commit(w));
    }
}

START_TEST(reader_pointers_survive_growth)
{
    char *path = bt_path("growth");
    birch_options o = bt_opts(); /* durable: freed pages are reusable at once */
    o.map_reserve = 1 << 20;
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    write_pins(db, &t, 1);
    ck_assert_uint_lt(bt_stat(db).file_size, o.map_reserve * 2);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    pin pins[NPIN];
    take_pins(r, t, pins, 1);

    /* Overwrite and delete the pinned records, then grow the file to more
     * than 24 times the reservation. */
    write_pins(db, &t, 2);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    char k[32];
    for (int i = 0; i < NPIN; i += 2) {
        pin_key(i, k, sizeof k);
        BT_OK(birch_del(w, t, bt_str(k)));
    }
    BT_OK(birch_txn_commit(w));
    int next = 0;
    for (int step = 0; step < 6; step++) {
        grow(db, 4, &next);
        check_pins(pins, "during growth");
    }
    birch_stat st = bt_stat(db);
    ck_assert_msg(st.file_size > 24 * o.map_reserve, "file only %" PRIu64 " bytes", st.file_size);

    /* The old pointers hold the old bytes; the old snapshot reads as before
     * through new gets and a cursor. */
    check_pins(pins, "after growth");
    birch_txn *r2 = bt_begin(db, BIRCH_TXN_READ); /* a second, new snapshot */
    pin again[NPIN];
    take_pins(r, t, again, 1);
    free_pins(again);
    birch_cursor *c = NULL;
    BT_OK(birch_cursor_open(r, t, &c));
    int seen = 0;
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c)) seen++;
    ck_assert_int_eq(seen, NPIN);
    birch_table *bulk = NULL;
    BT_RC(birch_table_open(r, "bulk", 0, &bulk), BIRCH_NOTFOUND);
    check_pins(pins, "after new reads");
    birch_cursor_close(c);
    birch_txn_abort(r);
    free_pins(pins);

    /* The new snapshot sees the new state. */
    ck_assert_uint_eq(bt_count(r2, t), NPIN / 2);
    bulk = bt_table(r2, "bulk", 0);
    ck_assert_uint_eq(bt_count(r2, bulk), (uint64_t)next);
    birch_txn_abort(r2);
    bt_check(db);

    db = bt_reopen(db, path, &o);
    birch_txn *r3 = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r3, bt_table(r3, "bulk", 0)), (uint64_t)next);
    static unsigned char big[50000];
    bt_pattern(big, sizeof big, 1);
    snprintf(k, sizeof k, "bulk%07d", next - 1);
    bt_expect(r3, bt_table(r3, "bulk", 0), k, strlen(k), big, sizeof big);
    birch_txn_abort(r3);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Readers started at several sizes of the file, each pinning pointers into
 * whatever map was current then, all checked after the file has grown
 * many times. */
START_TEST(readers_from_every_map)
{
    enum { NR = 8 };
    char *path = bt_path("growth-many");
    birch_options o = bt_opts();
    o.map_reserve = 1 << 20;
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    birch_txn *readers[NR];
    pin pins[NR][NPIN];
    int next = 0;
    for (int i = 0; i < NR; i++) {
        write_pins(db, &t, (uint64_t)i + 10);
        readers[i] = bt_begin(db, BIRCH_TXN_READ);
        take_pins(readers[i], t, pins[i], (uint64_t)i + 10);
        grow(db, 2, &next);
    }
    for (int i = 0; i < NR; i++) check_pins(pins[i], "readers from every map");
    for (int i = NR - 1; i >= 0; i--) {
        pin again[NPIN];
        take_pins(readers[i], t, again, (uint64_t)i + 10);
        free_pins(again);
        birch_txn_abort(readers[i]);
        free_pins(pins[i]);
    }
    ck_assert_uint_gt(bt_stat(db).file_size, 16 * o.map_reserve);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A database larger than the reservation opens (the map is sized to the
 * file) and can grow further. */
START_TEST(open_file_larger_than_reserve)
{
    char *path = bt_path("growth-open");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    int next = 0;
    grow(db, 6, &next);
    BT_OK(birch_close(db));
    o.map_reserve = 1 << 20;
    db = bt_open(path, &o);
    bt_check(db);
    grow(db, 3, &next);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, bt_table(r, "bulk", 0)), (uint64_t)next);
    birch_txn_abort(r);
    db = bt_reopen(db, path, &o);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("growth");
    TCase *tc = bt_tcase("growth");
    tcase_add_test(tc, reader_pointers_survive_growth);
    tcase_add_test(tc, readers_from_every_map);
    tcase_add_test(tc, open_file_larger_than_reserve);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
