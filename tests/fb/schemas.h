/*
 * schemas.h - tests/fb/monster.fbs, kitchen.fbs, vectors.fbs and zoo.fbs
 * declared for birch_flatbuffers.h (shared by tests/test_flatbuffers.c and
 * fuzz/fuzz_flatbuffers.c).  Field ids as flatc numbers them: in order of
 * declaration, a union taking two (its value gets the second).
 */
#ifndef BIRCH_TESTS_FB_SCHEMAS_H
#define BIRCH_TESTS_FB_SCHEMAS_H

#include "birch.h"
#include "birch_flatbuffers.h"

/* ---- monster.fbs (namespace MyGame.Sample) ---------------------------- */

typedef struct Vec3 {
    float x, y, z;
} Vec3;
_Static_assert(sizeof(Vec3) == 12 && _Alignof(Vec3) == 4, "struct Vec3: 12 bytes, align 4");

enum { Color_Red = 0, Color_Green = 1, Color_Blue = 2 };

BIRCH_FB_DECLARE(Weapon);
#define Equipment_MEMBERS(_) _(Equipment, Weapon, 1)
BIRCH_FB_UNION(Equipment, Equipment_MEMBERS);

#define Weapon_FIELDS(_)                                                                      \
    _(STRING, Weapon, name, 0)                                                                \
    _(SCALAR, Weapon, damage, 1, i16, 0)
BIRCH_FB_TABLE(Weapon, NULL, Weapon_FIELDS);

/* id 4 is the deprecated `friendly`. */
#define Monster_FIELDS(_)                                                                     \
    _(STRUCT, Monster, pos, 0, Vec3)                                                          \
    _(SCALAR, Monster, mana, 1, i16, 150)                                                     \
    _(SCALAR, Monster, hp, 2, i16, 100)                                                       \
    _(STRING, Monster, name, 3)                                                               \
    _(VECTOR, Monster, inventory, 5, u8)                                                      \
    _(SCALAR, Monster, color, 6, i8, Color_Blue)                                              \
    _(VECTOR_TABLE, Monster, weapons, 7, Weapon)                                              \
    _(UNION, Monster, equipped, 9, Equipment)                                                 \
    _(VECTOR_STRUCT, Monster, path, 10, Vec3)
BIRCH_FB_TABLE(Monster, "MONS", Monster_FIELDS);

/* ---- kitchen.fbs (namespace birch.test) -------------------------------- */

typedef struct Inner {
    int8_t a;
    uint8_t pad_[7];
    double b;
} Inner;
typedef struct Outer {
    Inner i;
    int16_t c;
    uint8_t pad_[2];
    uint32_t d;
} Outer;
_Static_assert(sizeof(Inner) == 16 && _Alignof(Inner) == 8, "struct Inner: 16 bytes, align 8");
_Static_assert(sizeof(Outer) == 24 && _Alignof(Outer) == 8, "struct Outer: 24 bytes, align 8");

enum { Kind_A = 0, Kind_B = 1, Kind_C = 2 };

BIRCH_FB_DECLARE(Point);
BIRCH_FB_DECLARE(Note);
BIRCH_FB_DECLARE(Kitchen);
#define Thing_MEMBERS(_) _(Thing, Point, 1) _(Thing, Note, 2) _(Thing, Kitchen, 3)
BIRCH_FB_UNION(Thing, Thing_MEMBERS);

#define Point_FIELDS(_)                                                                       \
    _(SCALAR, Point, x, 0, i32, 0)                                                            \
    _(SCALAR, Point, y, 1, i32, -1)                                                           \
    _(STRING, Point, label, 2)
BIRCH_FB_TABLE(Point, NULL, Point_FIELDS);

#define Note_FIELDS(_) _(REQUIRED, STRING, Note, text, 0)
BIRCH_FB_TABLE(Note, NULL, Note_FIELDS);

#define Kitchen_FIELDS(_)                                                                     \
    _(SCALAR, Kitchen, b, 0, bool, true)                                                      \
    _(SCALAR, Kitchen, i8v, 1, i8, -5)                                                        \
    _(SCALAR, Kitchen, u8v, 2, u8, 200)                                                       \
    _(SCALAR, Kitchen, i16v, 3, i16, -300)                                                    \
    _(SCALAR, Kitchen, u16v, 4, u16, 60000)                                                   \
    _(SCALAR, Kitchen, i32v, 5, i32, -70000)                                                  \
    _(SCALAR, Kitchen, u32v, 6, u32, 4000000000u)                                             \
    _(SCALAR, Kitchen, i64v, 7, i64, -5000000000ll)                                           \
    _(SCALAR, Kitchen, u64v, 8, u64, 10000000000000000000ull)                                 \
    _(SCALAR, Kitchen, f32v, 9, f32, 1.5f)                                                    \
    _(SCALAR, Kitchen, f64v, 10, f64, -2.25)                                                  \
    _(SCALAR, Kitchen, kind, 11, u8, Kind_B)                                                  \
    _(STRING, Kitchen, s, 12)                                                                 \
    _(STRUCT, Kitchen, outer, 13, Outer)                                                      \
    _(TABLE, Kitchen, point, 14, Point)                                                       \
    _(UNION, Kitchen, thing, 16, Thing)                                                       \
    _(VECTOR_STRING, Kitchen, strings, 17)                                                    \
    _(VECTOR_TABLE, Kitchen, points, 18, Point)                                               \
    _(VECTOR_STRUCT, Kitchen, outers, 19, Outer)                                              \
    _(VECTOR, Kitchen, longs, 20, i64)                                                        \
    _(VECTOR, Kitchen, doubles, 21, f64)                                                      \
    _(VECTOR, Kitchen, shorts, 22, i16)                                                       \
    _(VECTOR, Kitchen, bools, 23, bool)                                                       \
    _(NESTED, Kitchen, nested, 24, Kitchen)                                                   \
    _(TABLE, Kitchen, child, 25, Kitchen)
BIRCH_FB_TABLE(Kitchen, "KTCH", Kitchen_FIELDS);

/* ---- vectors.fbs (namespace birch.test) -------------------------------- */

typedef struct A1 {
    uint8_t a;
    int8_t b;
} A1;
typedef struct A4 {
    int32_t a;
    int16_t b;
    uint8_t pad_[2];
} A4;
typedef struct A8 {
    int64_t a;
    uint8_t b;
    uint8_t pad_[7];
} A8;
_Static_assert(sizeof(A1) == 2 && _Alignof(A1) == 1, "struct A1: 2 bytes, align 1");
_Static_assert(sizeof(A4) == 8 && _Alignof(A4) == 4, "struct A4: 8 bytes, align 4");
_Static_assert(sizeof(A8) == 16 && _Alignof(A8) == 8, "struct A8: 16 bytes, align 8");

enum { Shade_Light = 1, Shade_Dark = 2 };

#define Leaf_FIELDS(_) _(SCALAR, Leaf, x, 0, i32, 0)
BIRCH_FB_TABLE(Leaf, NULL, Leaf_FIELDS);

#define Vectors_FIELDS(_)                                                                     \
    _(VECTOR, Vectors, bools, 0, bool)                                                        \
    _(VECTOR, Vectors, bytes, 1, i8)                                                          \
    _(VECTOR, Vectors, ubytes, 2, u8)                                                         \
    _(VECTOR, Vectors, shorts, 3, i16)                                                        \
    _(VECTOR, Vectors, ushorts, 4, u16)                                                       \
    _(VECTOR, Vectors, ints, 5, i32)                                                          \
    _(VECTOR, Vectors, uints, 6, u32)                                                         \
    _(VECTOR, Vectors, longs, 7, i64)                                                         \
    _(VECTOR, Vectors, ulongs, 8, u64)                                                        \
    _(VECTOR, Vectors, floats, 9, f32)                                                        \
    _(VECTOR, Vectors, doubles, 10, f64)                                                      \
    _(VECTOR, Vectors, shades, 11, i16)                                                       \
    _(VECTOR_STRING, Vectors, strings, 12)                                                    \
    _(VECTOR_TABLE, Vectors, leaves, 13, Leaf)                                                \
    _(VECTOR_STRUCT, Vectors, a1s, 14, A1)                                                    \
    _(VECTOR_STRUCT, Vectors, a4s, 15, A4)                                                    \
    _(VECTOR_STRUCT, Vectors, a8s, 16, A8)
BIRCH_FB_TABLE(Vectors, "VECS", Vectors_FIELDS);

/* ---- zoo.fbs (namespace birch.test) ------------------------------------ */

/* Enums as a generated header declares them: typed C enums, or an integer
 * typedef for one that a C enum cannot hold (Big: long). */
typedef enum Mood { Mood_Calm = 1, Mood_Angry = 5, Mood_Sleepy = 9 } Mood;
typedef enum Size { Size_S = 0, Size_M = 1, Size_L = 2 } Size;
typedef int64_t Big;
#define Big_Low (-5000000000ll)
#define Big_High 5000000000ll

BIRCH_FB_DECLARE(Cat);
BIRCH_FB_DECLARE(Dog);
BIRCH_FB_DECLARE(Fish);
typedef enum Pet { Pet_NONE = 0, Pet_Cat = 1, Pet_Dog = 2, Pet_Fish = 3 } Pet;
#define Pet_MEMBERS(_) _(Pet, Cat, 1) _(Pet, Dog, 2) _(Pet, Fish, 3)
BIRCH_FB_UNION_DESC(Pet, Pet_MEMBERS);

#define Cat_FIELDS(_)                                                                         \
    _(STRING, Cat, name, 0)                                                                   \
    _(SCALAR, Cat, lives, 1, i32, 9)
BIRCH_FB_TABLE(Cat, NULL, Cat_FIELDS);
#define Dog_FIELDS(_)                                                                         \
    _(STRING, Dog, name, 0)                                                                   \
    _(ENUM, Dog, size, 1, u8, Size, Size_M)
BIRCH_FB_TABLE(Dog, NULL, Dog_FIELDS);
BIRCH_FB_TABLE_EMPTY(Fish, NULL);

/* Cats by their (key) name, as flatc sorts them. */
BIRCH_FB_FN_ int Cat_by_name(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    return birch_fb_keycmp_(Cat_name((const Cat_table *)a), Cat_name((const Cat_table *)b),
                            Cat_name_len((const Cat_table *)b));
}

/* ids 8 and 13 are star's and more's types (10: pets' types). */
#define Zoo_FIELDS(_)                                                                         \
    _(ENUM, Zoo, mood, 0, i16, Mood, Mood_Angry)                                              \
    _(ENUM, Zoo, size, 1, u8, Size, Size_S)                                                   \
    _(ENUM, Zoo, big, 2, i64, Big, Big_High)                                                  \
    _(OPTIONAL, Zoo, opt_i, 3, i32, int32_t)                                                  \
    _(OPTIONAL, Zoo, opt_b, 4, bool, bool)                                                    \
    _(OPTIONAL, Zoo, opt_d, 5, f64, double)                                                   \
    _(VECTOR_ENUM, Zoo, moods, 6, i16, Mood)                                                  \
    _(VECTOR_ENUM, Zoo, sizes, 7, u8, Size)                                                   \
    _(UNION, Zoo, star, 9, Pet)                                                               \
    _(VECTOR_UNION, Zoo, pets, 11, Pet)                                                       \
    _(VECTOR_TABLE_KEYED, Zoo, cats, 12, Cat, Cat_by_name)                                    \
    _(VECTOR_UNION, Zoo, more, 14, Pet)                                                       \
    _(STRING, Zoo, name, 15)
BIRCH_FB_TABLE(Zoo, "ZOOS", Zoo_FIELDS);

#endif /* BIRCH_TESTS_FB_SCHEMAS_H */
