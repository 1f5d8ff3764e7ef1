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
 *
 * Built with FZFB_GENERATED (the build does so when flatc is installed),
 * the input is also verified as a buffer of each root of tests/fbs/'s
 * schemas, through the descriptors `birch fbs` generated for them
 * (inventory, game, docstore, evolution_v2: every kind of field the
 * compiler declares), and whatever is accepted is walked field by field
 * from those descriptors (fzfb_generic): every field, element, union
 * member and nested buffer, each inside the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"
#include "../tests/fb/schemas.h"
#ifdef FZFB_GENERATED
#include "docstore_birch.h"
#include "evolution_v2_birch.h"
#include "game_birch.h"
#include "inventory_birch.h"
#endif

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
static void fzfb_pets(fzfb_walk *w, size_t n, Pet (*type_at)(const Zoo_table *, size_t),
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

/* ---- Any table, from its descriptor ---------------------------------------- */

static size_t fzfb_scalar_size(unsigned kind)
{
    static const uint8_t size[] = {0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8}; /* BIRCH_FB_BOOL .. BIRCH_FB_F64 */
    return kind < sizeof size ? size[kind] : 0;
}

static void fzfb_generic(fzfb_walk *w, const birch_fb_table *t, const uint8_t *p, int depth);

static void fzfb_fbstr(fzfb_walk *w, const uint8_t *s)
{
    if (s) fzfb_str(w, (const char *)s + 4, birch_fb_u32_(s));
}

/* A vector field f of table p: its count, then each element by kind. */
static void fzfb_generic_vector(fzfb_walk *w, const birch_fb_field *f, const uint8_t *p, int depth)
{
    const uint8_t *v = birch_fb_ref_(p, f->id);
    if (!v) return;
    fzfb_in(w, v, 4);
    size_t n = birch_fb_u32_(v);
    if (f->elem == BIRCH_FB_UNION) {
        const uint8_t *types = birch_fb_ref_(p, f->id - 1);
        FB_REQUIRE(types && birch_fb_u32_(types) == n, "%s: union values without as many types", f->name);
        fzfb_in(w, types + 4, n);
        for (size_t i = 0; i < n; i++)
            if (birch_fb_union_has_(f->u, types[4 + i]))
                fzfb_generic(w, f->u->members[types[4 + i] - 1], birch_fb_ref_at_(v, i), depth + 1);
        return;
    }
    for (size_t i = 0; i < n && (f->elem == BIRCH_FB_STRING || f->elem == BIRCH_FB_TABLE); i++) {
        if (f->elem == BIRCH_FB_STRING) fzfb_fbstr(w, birch_fb_ref_at_(v, i));
        else fzfb_generic(w, f->table, birch_fb_ref_at_(v, i), depth + 1);
    }
    if (f->elem == BIRCH_FB_STRUCT) fzfb_in(w, birch_fb_elems_(v, f->align), n * f->size);
    else if (f->elem != BIRCH_FB_STRING && f->elem != BIRCH_FB_TABLE)
        fzfb_in(w, birch_fb_elems_(v, fzfb_scalar_size(f->elem)), n * fzfb_scalar_size(f->elem));
}

/* Reads every field of the table at p as t describes it, through the
 * helpers that the declared accessors use. */
static void fzfb_generic(fzfb_walk *w, const birch_fb_table *t, const uint8_t *p, int depth)
{
    if (!p) return;
    FB_REQUIRE(depth <= BIRCH_FB_MAX_DEPTH, "%s: tables deeper than the verifier allows", t->name);
    fzfb_in(w, p, 4);
    for (size_t i = 0; i < t->nfields; i++) {
        const birch_fb_field *f = &t->fields[i];
        if (f->kind == BIRCH_FB_STRUCT) {
            fzfb_in(w, birch_fb_field_(p, f->id), f->size);
        } else if (f->kind == BIRCH_FB_STRING) {
            fzfb_fbstr(w, birch_fb_ref_(p, f->id));
        } else if (f->kind == BIRCH_FB_TABLE) {
            fzfb_generic(w, f->table, birch_fb_ref_(p, f->id), depth + 1);
        } else if (f->kind == BIRCH_FB_UNION) {
            const uint8_t *type = birch_fb_field_(p, f->id - 1);
            fzfb_in(w, type, 1);
            if (type && birch_fb_union_has_(f->u, *type))
                fzfb_generic(w, f->u->members[*type - 1], birch_fb_ref_(p, f->id), depth + 1);
        } else if (f->kind == BIRCH_FB_VECTOR) {
            fzfb_generic_vector(w, f, p, depth);
        } else if (f->kind == BIRCH_FB_NESTED) {
            const uint8_t *v = birch_fb_ref_(p, f->id);
            if (!v) continue;
            fzfb_in(w, v + 4, birch_fb_u32_(v));
            fzfb_generic(w, f->table, birch_fb_root(v + 4, birch_fb_u32_(v), 0), depth + 1);
        } else {
            fzfb_in(w, birch_fb_field_(p, f->id), fzfb_scalar_size(f->kind));
        }
    }
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
    } else if (root == &Zoo_fb) {
        fzfb_zoo(&w, t);
    } else {
        fzfb_generic(&w, root, t, 0);
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
        static const birch_fb_table *const roots[] = {
            &Monster_fb, &Kitchen_fb, &Zoo_fb,
#ifdef FZFB_GENERATED
            &shop_inventory_Warehouse_fb, &game_Level_fb, &docstore_Store_fb, &shop_evolution_Directory_fb,
#endif
        };
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
