/*
 * fuzz_flatbuffers.c - libFuzzer harness for the FlatBuffers verifier
 * (formats/flatbuffers.c, api/birch_flatbuffers.h).
 *
 * Input: a buffer, copied into a malloc'd block of exactly its size (so
 * ASan sees any read past it; malloc aligns it to 16).  It is verified as
 * a Monster, a Kitchen and a Zoo buffer (tests/fb/monster.fbs, kitchen.fbs
 * and zoo.fbs), plain and size-prefixed, with the identifier required and
 * not, and with tight depth and table limits.  The verifier must return
 * BIRCH_OK or BIRCH_EFORMAT with a message; whatever it accepts is walked
 * through every accessor (every field, every vector element, union members
 * and vectors of unions, sub-tables, nested buffers), and every pointer an
 * accessor returns must lie inside the input.  An accepted Monster is also rebuilt with the
 * builder from what the accessors read: the copy must verify and read the
 * same.  Needs only api/ and formats/:
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iapi fuzz/fuzz_flatbuffers.c formats/flatbuffers.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"
#include "../tests/fb/schemas.h"

#define FB_REQUIRE(cond, ...)                                                           \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_flatbuffers invariant broken at %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                               \
            fprintf(stderr, "\n");                                                      \
            abort();                                                                    \
        }                                                                               \
    } while (0)

typedef struct fzfb_walk {
    const uint8_t *lo, *hi;
    uint64_t sum;
} fzfb_walk;

/* p[0..n) must lie in the input; reads every byte (ASan checks them). */
static void fzfb_in(fzfb_walk *w, const void *p, size_t n)
{
    if (!p) return;
    const uint8_t *b = p;
    FB_REQUIRE(b >= w->lo && b <= w->hi && n <= (size_t)(w->hi - b), "accessor pointer %p+%zu outside [%p, %p)",
               p, n, (const void *)w->lo, (const void *)w->hi);
    for (size_t i = 0; i < n; i++) w->sum = w->sum * 31 + b[i];
}

static void fzfb_str(fzfb_walk *w, const char *s, size_t n)
{
    if (!s) return;
    fzfb_in(w, s, n + 1);
    FB_REQUIRE(s[n] == 0, "string of %zu bytes not NUL-terminated", n);
}

static void fzfb_weapon(fzfb_walk *w, const Weapon_table *t)
{
    if (!t) return;
    fzfb_in(w, t, 4);
    fzfb_str(w, Weapon_name(t), Weapon_name_len(t));
    w->sum += (uint64_t)Weapon_damage(t);
}

static void fzfb_monster(fzfb_walk *w, const Monster_table *m)
{
    fzfb_in(w, m, 4);
    fzfb_in(w, Monster_pos(m), sizeof(Vec3));
    w->sum += (uint64_t)Monster_mana(m) + (uint64_t)Monster_hp(m) + (uint64_t)Monster_color(m);
    fzfb_str(w, Monster_name(m), Monster_name_len(m));
    fzfb_in(w, Monster_inventory(m), Monster_inventory_len(m));
    for (size_t i = 0; i <= Monster_inventory_len(m); i++) w->sum += Monster_inventory_at(m, i);
    for (size_t i = 0; i <= Monster_weapons_len(m); i++) fzfb_weapon(w, Monster_weapons_at(m, i));
    fzfb_in(w, Monster_path(m), Monster_path_len(m) * sizeof(Vec3));
    for (size_t i = 0; i <= Monster_path_len(m); i++) fzfb_in(w, Monster_path_at(m, i), sizeof(Vec3));
    if (Monster_equipped_type(m) == Equipment_Weapon) fzfb_weapon(w, Monster_equipped(m));
    else FB_REQUIRE(Monster_equipped(m) == NULL, "union value of unknown type %u", Monster_equipped_type(m));
}

static void fzfb_point(fzfb_walk *w, const Point_table *p)
{
    if (!p) return;
    fzfb_in(w, p, 4);
    w->sum += (uint64_t)Point_x(p) + (uint64_t)Point_y(p) + (uint64_t)Point_x_present(p);
    fzfb_str(w, Point_label(p), Point_label_len(p));
}

static void fzfb_kitchen(fzfb_walk *w, const Kitchen_table *k, int depth)
{
    if (!k) return;
    FB_REQUIRE(depth < 200, "walk deeper than the verifier allows");
    fzfb_in(w, k, 4);
    w->sum += (uint64_t)Kitchen_b(k) + (uint64_t)Kitchen_i8v(k) + Kitchen_u8v(k) + (uint64_t)Kitchen_i16v(k) +
              Kitchen_u16v(k) + (uint64_t)Kitchen_i32v(k) + Kitchen_u32v(k) + (uint64_t)Kitchen_i64v(k) +
              Kitchen_u64v(k) + (uint64_t)(Kitchen_f32v(k) == 0) + (uint64_t)(Kitchen_f64v(k) == 0) + Kitchen_kind(k);
    fzfb_str(w, Kitchen_s(k), Kitchen_s_len(k));
    fzfb_in(w, Kitchen_outer(k), sizeof(Outer));
    fzfb_point(w, Kitchen_point(k));
    switch (Kitchen_thing_type(k)) {
    case Thing_Point: fzfb_point(w, Kitchen_thing(k)); break;
    case Thing_Note: {
        const Note_table *n = Kitchen_thing(k);
        if (!n) break; /* a union type without its value: accepted, as flatc's code does */
        FB_REQUIRE(Note_text(n), "required Note.text missing after verify");
        fzfb_str(w, Note_text(n), Note_text_len(n));
        break;
    }
    case Thing_Kitchen: fzfb_kitchen(w, Kitchen_thing(k), depth + 1); break;
    default: FB_REQUIRE(Kitchen_thing(k) == NULL, "union value of unknown type"); break;
    }
    for (size_t i = 0; i <= Kitchen_strings_len(k); i++) {
        const char *s = Kitchen_strings_at(k, i);
        if (s) fzfb_str(w, s, birch_fb_strlen(s));
        else FB_REQUIRE(i == Kitchen_strings_len(k), "string %zu missing", i);
    }
    for (size_t i = 0; i <= Kitchen_points_len(k); i++) fzfb_point(w, Kitchen_points_at(k, i));
    fzfb_in(w, Kitchen_outers(k), Kitchen_outers_len(k) * sizeof(Outer));
    fzfb_in(w, Kitchen_longs(k), Kitchen_longs_len(k) * 8);
    fzfb_in(w, Kitchen_doubles(k), Kitchen_doubles_len(k) * 8);
    fzfb_in(w, Kitchen_shorts(k), Kitchen_shorts_len(k) * 2);
    fzfb_in(w, Kitchen_bools(k), Kitchen_bools_len(k));
    for (size_t i = 0; i < Kitchen_longs_len(k); i++) w->sum += (uint64_t)Kitchen_longs_at(k, i);
    for (size_t i = 0; i < Kitchen_doubles_len(k); i++) w->sum += Kitchen_doubles_at(k, i) > 0;
    for (size_t i = 0; i < Kitchen_shorts_len(k); i++) w->sum += (uint64_t)Kitchen_shorts_at(k, i);
    for (size_t i = 0; i < Kitchen_bools_len(k); i++) w->sum += Kitchen_bools_at(k, i);
    fzfb_in(w, Kitchen_nested(k), Kitchen_nested_len(k));
    if (Kitchen_nested(k)) fzfb_kitchen(w, Kitchen_nested_root(k), depth + 1);
    fzfb_kitchen(w, Kitchen_child(k), depth + 1);
}

static void fzfb_pet(fzfb_walk *w, unsigned type, const void *p)
{
    if (!p) return;
    fzfb_in(w, p, 4);
    if (type == Pet_Cat) {
        fzfb_str(w, Cat_name(p), Cat_name_len(p));
        w->sum += (uint64_t)Cat_lives(p) + (uint64_t)Cat_name_present(p);
    } else if (type == Pet_Dog) {
        fzfb_str(w, Dog_name(p), Dog_name_len(p));
        w->sum += (uint64_t)Dog_size(p) + (uint64_t)Dog_size_present(p);
    }
}

/* A vector of unions: a known type has its table, NONE and unknown types
 * none, past the end nothing. */
static void fzfb_pets(fzfb_walk *w, size_t n, uint8_t (*type_at)(const Zoo_table *, size_t),
                      const void *(*at)(const Zoo_table *, size_t), const Zoo_table *z)
{
    for (size_t i = 0; i <= n; i++) {
        uint8_t type = type_at(z, i);
        const void *p = at(z, i);
        if (i == n) FB_REQUIRE(type == 0 && p == NULL, "a union element past the end");
        else if (birch_fb_union_has_(&Pet_fb, type)) FB_REQUIRE(p != NULL, "element %zu of type %u without its table", i, type);
        else FB_REQUIRE(p == NULL, "element %zu of type %u with a table", i, type);
        fzfb_pet(w, type, p);
    }
}

static void fzfb_zoo(fzfb_walk *w, const Zoo_table *z)
{
    fzfb_in(w, z, 4);
    w->sum += (uint64_t)Zoo_mood(z) + (uint64_t)Zoo_size(z) + (uint64_t)Zoo_big(z) + (uint64_t)Zoo_opt_i(z) +
              (uint64_t)Zoo_opt_b(z) + (uint64_t)(Zoo_opt_d(z) > 0) + (uint64_t)Zoo_opt_i_present(z) +
              (uint64_t)Zoo_opt_b_present(z) + (uint64_t)Zoo_opt_d_present(z) + (uint64_t)Zoo_mood_present(z);
    fzfb_in(w, Zoo_moods(z), Zoo_moods_len(z) * 2);
    for (size_t i = 0; i <= Zoo_moods_len(z); i++) w->sum += (uint64_t)Zoo_moods_at(z, i);
    fzfb_in(w, Zoo_sizes(z), Zoo_sizes_len(z));
    for (size_t i = 0; i <= Zoo_sizes_len(z); i++) w->sum += (uint64_t)Zoo_sizes_at(z, i);
    uint8_t st = Zoo_star_type(z);
    FB_REQUIRE(Zoo_star(z) == NULL || birch_fb_union_has_(&Pet_fb, st), "union value of unknown type %u", st);
    fzfb_pet(w, st, Zoo_star(z));
    fzfb_pets(w, Zoo_pets_len(z), Zoo_pets_type_at, Zoo_pets_at, z);
    fzfb_pets(w, Zoo_more_len(z), Zoo_more_type_at, Zoo_more_at, z);
    for (size_t i = 0; i <= Zoo_cats_len(z); i++) fzfb_pet(w, Pet_Cat, Zoo_cats_at(z, i));
    fzfb_str(w, Zoo_name(z), Zoo_name_len(z));
}

/* Rebuilds an accepted Monster from its accessors; the copy must verify
 * and read the same. */
static void fzfb_rebuild(const Monster_table *m, unsigned flags)
{
    birch_fb_builder *b = birch_fb_builder_new();
    FB_REQUIRE(b, "out of memory");
    size_t nw = Monster_weapons_len(m);
    birch_fb_ref *ws = malloc((nw ? nw : 1) * sizeof *ws);
    FB_REQUIRE(ws, "out of memory");
    for (size_t i = 0; i < nw; i++) {
        const Weapon_table *t = Monster_weapons_at(m, i);
        birch_fb_ref name = Weapon_name(t) ? birch_fb_string(b, Weapon_name(t), Weapon_name_len(t)) : 0;
        Weapon_start(b);
        Weapon_add_name(b, name);
        Weapon_add_damage(b, Weapon_damage(t));
        ws[i] = Weapon_end(b);
    }
    birch_fb_ref weapons = birch_fb_ref_(m, 7) ? Monster_vec_weapons(b, ws, nw) : 0;
    birch_fb_ref inv = birch_fb_ref_(m, 5) ? Monster_vec_inventory(b, Monster_inventory(m), Monster_inventory_len(m)) : 0;
    birch_fb_ref path = birch_fb_ref_(m, 10) ? Monster_vec_path(b, Monster_path(m), Monster_path_len(m)) : 0;
    birch_fb_ref name = Monster_name(m) ? birch_fb_string(b, Monster_name(m), Monster_name_len(m)) : 0;
    birch_fb_ref eq = 0;
    const Weapon_table *e = Monster_equipped(m);
    if (e) {
        birch_fb_ref en = Weapon_name(e) ? birch_fb_string(b, Weapon_name(e), Weapon_name_len(e)) : 0;
        Weapon_start(b);
        Weapon_add_name(b, en);
        Weapon_add_damage(b, Weapon_damage(e));
        eq = Weapon_end(b);
    }
    Monster_start(b);
    Monster_add_pos(b, Monster_pos(m));
    Monster_add_mana(b, Monster_mana(m));
    Monster_add_hp(b, Monster_hp(m));
    Monster_add_name(b, name);
    Monster_add_inventory(b, inv);
    Monster_add_color(b, Monster_color(m));
    Monster_add_weapons(b, weapons);
    Monster_add_equipped(b, Equipment_Weapon, eq);
    Monster_add_path(b, path);
    birch_fb_ref root = Monster_end(b);
    birch_val out;
    int rc = Monster_finish(b, root, flags, &out);
    FB_REQUIRE(rc == BIRCH_OK, "rebuild failed: %d", rc);
    char msg[256];
    birch_fb_opts o = {flags, 0, 0};
    rc = Monster_verify(out.data, out.size, &o, msg, sizeof msg);
    FB_REQUIRE(rc == BIRCH_OK, "rebuilt Monster fails verify: %s", msg);
    const Monster_table *c = Monster_root(out.data, out.size, flags);
    FB_REQUIRE(Monster_hp(c) == Monster_hp(m) && Monster_mana(c) == Monster_mana(m) &&
                   Monster_color(c) == Monster_color(m) && Monster_inventory_len(c) == Monster_inventory_len(m) &&
                   Monster_weapons_len(c) == nw && Monster_path_len(c) == Monster_path_len(m) &&
                   Monster_name_len(c) == Monster_name_len(m) && (Monster_equipped(c) != NULL) == (e != NULL),
               "rebuilt Monster reads differently");
    if (Monster_name(m)) FB_REQUIRE(memcmp(Monster_name(c), Monster_name(m), Monster_name_len(m)) == 0, "name differs");
    if (Monster_inventory_len(m))
        FB_REQUIRE(memcmp(Monster_inventory(c), Monster_inventory(m), Monster_inventory_len(m)) == 0, "inventory differs");
    if (Monster_path_len(m))
        FB_REQUIRE(memcmp(Monster_path(c), Monster_path(m), Monster_path_len(m) * sizeof(Vec3)) == 0, "path differs");
    if (Monster_pos(m)) FB_REQUIRE(memcmp(Monster_pos(c), Monster_pos(m), sizeof(Vec3)) == 0, "pos differs");
    for (size_t i = 0; i < nw; i++)
        FB_REQUIRE(Weapon_damage(Monster_weapons_at(c, i)) == Weapon_damage(Monster_weapons_at(m, i)), "weapon differs");
    free(ws);
    birch_fb_builder_free(b);
}

static int fzfb_check(const birch_fb_table *root, const uint8_t *buf, size_t size, const birch_fb_opts *o)
{
    char msg[256];
    msg[0] = 0;
    int rc = birch_fb_verify(root, buf, size, o, msg, sizeof msg);
    FB_REQUIRE(rc == BIRCH_OK || rc == BIRCH_EFORMAT, "verify returned %d", rc);
    if (rc != BIRCH_OK) {
        FB_REQUIRE(strncmp(msg, "flatbuffers ", 12) == 0, "EFORMAT without a message: '%s'", msg);
        return rc;
    }
    fzfb_walk w = {buf, buf + size, 0};
    const void *t = birch_fb_root(buf, size, o->flags);
    FB_REQUIRE(t != NULL, "accepted buffer without a root");
    if (root == &Monster_fb) {
        fzfb_monster(&w, t);
        fzfb_rebuild(t, o->flags & BIRCH_FB_SIZE_PREFIXED);
    } else if (root == &Kitchen_fb) {
        fzfb_kitchen(&w, t, 0);
    } else {
        fzfb_zoo(&w, t);
    }
    return rc;
}

int fz_flatbuffers_run(const uint8_t *data, size_t size);
int fz_flatbuffers_run(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    FB_REQUIRE(buf, "out of memory");
    if (size) memcpy(buf, data, size);
    static const birch_fb_opts opts[] = {
        {0, 0, 0},
        {BIRCH_FB_SIZE_PREFIXED, 0, 0},
        {BIRCH_FB_ANY_IDENT, 0, 0},
        {BIRCH_FB_ANY_IDENT | BIRCH_FB_SIZE_PREFIXED, 0, 0},
        {BIRCH_FB_ANY_IDENT, 3, 8},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        static const birch_fb_table *const roots[] = {&Monster_fb, &Kitchen_fb, &Zoo_fb};
        for (size_t r = 0; r < sizeof roots / sizeof roots[0]; r++) {
            int rc = fzfb_check(roots[r], buf, size, &opts[i]);
            /* An identifier check can only refuse more. */
            if (!(opts[i].flags & BIRCH_FB_ANY_IDENT) && rc == BIRCH_OK) {
                birch_fb_opts any = opts[i];
                any.flags |= BIRCH_FB_ANY_IDENT;
                FB_REQUIRE(birch_fb_verify(roots[r], buf, size, &any, NULL, 0) == BIRCH_OK, "ident flag");
            }
        }
    }
    free(buf);
    return 0;
}

#ifndef FZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_flatbuffers_run(data, size);
}
#endif
