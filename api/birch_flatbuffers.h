/*
 * birch_flatbuffers.h - the FlatBuffers binary format: a schema-driven
 * verifier, zero-copy accessors, a builder, and a birch value format
 * (included by birch.h).
 *
 * Written from the format's specification (google/flatbuffers "FlatBuffers
 * internals", dvidelabs/flatcc doc/binary-format.md) and tested against
 * Google's flatc; buffers are wire compatible both ways.
 *
 * Format in brief: a buffer starts with a uoffset (u32) to the root table,
 * optionally followed by a 4-byte file identifier; a size-prefixed buffer
 * has one more u32 before that, the length of the rest.  Every offset
 * (uoffset, u32) is relative to where it is stored and points forward.
 * A table starts with an soffset (i32): its vtable is at table - soffset.
 * A vtable holds u16s: its own size, the table's inline size, then one
 * offset per field id (0: absent, the field has its default).  Strings are
 * a u32 length, the bytes and a NUL; vectors a u32 count and the elements.
 * Scalars are little-endian and aligned to their size; structs are inline
 * and aligned to their largest member.  A union is two fields: a u8 type
 * (id n - 1) and an offset to a table of that type (id n).  A nested
 * flatbuffer is a [ubyte] vector holding a whole buffer.
 *
 * A schema is declared in C with macros (no code generator), e.g. the
 * Monster schema of the FlatBuffers documentation:
 *
 *   typedef struct Vec3 { float x, y, z; } Vec3;       (struct Vec3)
 *   BIRCH_FB_DECLARE(Weapon);                           (forward declaration)
 *   #define Equipment_MEMBERS(_) _(Equipment, Weapon, 1)
 *   BIRCH_FB_UNION(Equipment, Equipment_MEMBERS);
 *   #define Weapon_FIELDS(_)                            \
 *       _(STRING, Weapon, name, 0)                      \
 *       _(SCALAR, Weapon, damage, 1, i16, 0)
 *   BIRCH_FB_TABLE(Weapon, NULL, Weapon_FIELDS);
 *   #define Monster_FIELDS(_)                           \
 *       _(STRUCT, Monster, pos, 0, Vec3)                \
 *       _(SCALAR, Monster, mana, 1, i16, 150)           \
 *       _(SCALAR, Monster, hp, 2, i16, 100)             \
 *       _(STRING, Monster, name, 3)                     \
 *       _(VECTOR, Monster, inventory, 5, u8)            \
 *       _(SCALAR, Monster, color, 6, i8, 2)             \
 *       _(VECTOR_TABLE, Monster, weapons, 7, Weapon)    \
 *       _(UNION, Monster, equipped, 9, Equipment)       \
 *       _(VECTOR_STRUCT, Monster, path, 10, Vec3)
 *   BIRCH_FB_TABLE(Monster, "MONS", Monster_FIELDS);
 *
 * Field entries (T the table, id the field id as flatc numbers them: in
 * order of declaration, a union taking two ids, deprecated fields keeping
 * theirs):
 *   _(SCALAR, T, name, id, type, default)   type: bool u8 i8 u16 i16 u32 i32
 *                                           u64 i64 f32 f64
 *   _(ENUM, T, name, id, type, E, default)  an enum: stored as type (u8 ..
 *                                           i64), read and built as the C
 *                                           type E (an enum or integer
 *                                           typedef)
 *   _(OPTIONAL, T, name, id, type, C)       an optional scalar (x: int =
 *                                           null): no default, read and built
 *                                           as the C type C
 *   _(STRUCT, T, name, id, CType)           a C struct laid out as
 *                                           FlatBuffers does (natural
 *                                           alignment, explicit padding)
 *   _(STRING, T, name, id)
 *   _(TABLE, T, name, id, Sub)
 *   _(UNION, T, name, id, U)                id: the value's id (the type
 *                                           field is id - 1)
 *   _(VECTOR, T, name, id, type)            vector of scalars
 *   _(VECTOR_ENUM, T, name, id, type, E)    vector of an enum stored as type
 *   _(VECTOR_STRUCT, T, name, id, CType)
 *   _(STRUCT_ALIGNED, T, name, id, CType, align)
 *   _(VECTOR_STRUCT_ALIGNED, T, name, id, CType, align)
 *                                           a struct the schema aligns beyond
 *                                           its members (force_align: 16): the
 *                                           buffer places it at align (the
 *                                           builder and verifier use align),
 *                                           while CType keeps its members'
 *                                           own alignment, so that reading it
 *                                           from a value aligned to 8 only
 *                                           (as birch stores them) is not a
 *                                           misaligned access.  align <= 16.
 *   _(VECTOR_STRING, T, name, id)
 *   _(VECTOR_TABLE, T, name, id, Sub)
 *   _(VECTOR_TABLE_KEYED, T, name, id, Sub, cmp)
 *                                           a vector of tables with a (key):
 *                                           T_vec_name sorts it by cmp (as
 *                                           birch_fb_vector_sorted, ctx NULL)
 *   _(VECTOR_UNION, T, name, id, U)         [U]: a [ubyte] vector of types
 *                                           (id - 1, NAME_type in a schema)
 *                                           and a vector of values (id)
 *   _(NESTED, T, name, id, Sub)             [ubyte] (nested_flatbuffer: "Sub")
 *   _(REQUIRED, kind, T, name, id, ...)     any of the above, (required): the
 *                                           field must be present (a union
 *                                           or [U]: its value field, and so
 *                                           its types too)
 * A union's members: _(U, Table, type value); value 0 is NONE.
 * BIRCH_FB_UNION(U, MEMBERS) declares the C enum type U (constants U_NONE,
 * U_Table) and the descriptor U_fb; BIRCH_FB_UNION_DESC(U, MEMBERS) only
 * U_fb (for a header that declares the C enum type U of its own, as `birch
 * fbs` does).  The type accessors return U and the builders take it.
 *
 * BIRCH_FB_TABLE(T, ident, FIELDS) declares (name the fields so that these
 * do not collide: a field "start" would; BIRCH_FB_TABLE_EMPTY(T, ident) a
 * table without fields):
 *   typedef struct T_table T_table;       the table, viewed in place
 *   static const birch_fb_table T_fb;     its field descriptors (verifier)
 * readers (t may be NULL: every reader then gives the default or NULL), and
 * for every kind int T_name_present(t): whether the field is stored (so an
 * absent vector or string tells from an empty one, a scalar from its
 * default; a union or [U]: its value field)
 *   SCALAR  C T_name(const T_table *t)    the value, or the default
 *   ENUM    E T_name(t)                   the value, or the default
 *   OPTIONAL  C T_name(t)                 the value, or 0 when absent
 *   STRUCT  const CType *T_name(t)        NULL when absent
 *   STRING  const char *T_name(t)         NUL-terminated; NULL when absent
 *           size_t T_name_len(t)
 *   TABLE   const Sub_table *T_name(t)
 *   UNION   U T_name_type(t), const void *T_name(t) (cast it to the
 *           member's T_table after looking at the type; NULL for NONE and
 *           for a type the union does not know)
 *   VECTOR  size_t T_name_len(t), const S *T_name(t) (the elements in
 *           place; bool vectors as uint8_t), C T_name_at(t, i) (0 past the
 *           end).  T_name is NULL only when the vector is absent; for an
 *           empty one it is an aligned pointer to no element (flatc does
 *           not align an empty vector's elements: see birch_fb_verify)
 *   VECTOR_ENUM    as VECTOR (const S *T_name(t): the stored type), and
 *                  E T_name_at(t, i)
 *   VECTOR_STRUCT  _len, const CType *T_name(t) (as for VECTOR),
 *                  const CType *T_name_at(t, i)
 *   VECTOR_STRING  _len, const char *T_name_at(t, i) (birch_fb_strlen(s)
 *                  gives a string's length)
 *   VECTOR_TABLE   _len, const Sub_table *T_name_at(t, i) (and _KEYED)
 *   VECTOR_UNION   _len (of the values), U T_name_type_at(t, i) (0
 *                  past the end), const void *T_name_at(t, i) (NULL for
 *                  NONE, for a type the union does not know, past the end)
 *   NESTED  _len, const uint8_t *T_name(t) (the bytes),
 *           const Sub_table *T_name_root(t) (the nested root table)
 * builders (see birch_fb_builder below)
 *   void T_start(b); birch_fb_ref T_end(b);
 *   void T_add_name(b, value)       SCALAR, ENUM (skipped when equal to the
 *                                   default, unless force_defaults),
 *                                   OPTIONAL (always stored), STRUCT
 *                                   (const CType *; NULL adds nothing),
 *                                   STRING / TABLE / VECTOR* / NESTED (a
 *                                   birch_fb_ref; 0 adds nothing),
 *                                   UNION (U type, birch_fb_ref),
 *                                   VECTOR_UNION (birch_fb_ref types,
 *                                   birch_fb_ref values)
 *   birch_fb_ref T_vec_name(b, const C *v, size_t n)   VECTOR, VECTOR_STRUCT
 *   birch_fb_ref T_vec_name(b, const S *v, size_t n)   VECTOR_ENUM (S: the
 *                                   stored type, BIRCH_FB_S_type)
 *   birch_fb_ref T_vec_name(b, const birch_fb_ref *refs, size_t n)
 *                                   VECTOR_STRING, VECTOR_TABLE (_KEYED:
 *                                   sorted; refs not changed), and
 *                                   VECTOR_UNION's values (a ref of 0 for a
 *                                   NONE element)
 *   birch_fb_ref T_vec_name_type(b, const uint8_t *types, size_t n)
 *                                   VECTOR_UNION's types
 *   birch_fb_ref T_vec_name(b, const void *buf, size_t n)   NESTED
 *   int T_finish(b, root, flags, birch_val *out)   with T's identifier
 * whole buffers
 *   int T_verify(buf, size, opts, msg, cap)        birch_fb_verify with T_fb
 *   const T_table *T_root(buf, size, flags)        of a verified buffer
 *   const T_table *T_view(const birch_guard *g)    a guard's view
 *
 * Vectors of unions: flatc's JSON parser and its --json output refuse a
 * NONE element, its C++ builder asserts on one, and its verifier skips
 * one without looking at its offset.  birch's builder stores the offset 0
 * for one (as flatcc does), and its verifier and readers skip NONE (and
 * unknown) elements the same way.
 *
 * Accessors read in place: a buffer must start at an address aligned to
 * its largest scalar (8 suffices; birch values always are) for the
 * pointers they return (structs, vectors) to be aligned, and only a buffer
 * that passed the verifier may be read.  Little-endian hosts only.
 */
#ifndef BIRCH_FLATBUFFERS_H
#define BIRCH_FLATBUFFERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "birch.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "birch_flatbuffers.h reads FlatBuffers in place: little-endian hosts only"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Schema descriptors (what the verifier checks) ------------------------- */

/* Kinds of field (birch_fb_field.kind, and .elem for vectors). */
enum {
    BIRCH_FB_BOOL = 1, BIRCH_FB_U8, BIRCH_FB_I8, BIRCH_FB_U16, BIRCH_FB_I16, BIRCH_FB_U32,
    BIRCH_FB_I32, BIRCH_FB_U64, BIRCH_FB_I64, BIRCH_FB_F32, BIRCH_FB_F64, /* scalars: 1..11 */
    BIRCH_FB_STRUCT, BIRCH_FB_STRING, BIRCH_FB_TABLE, BIRCH_FB_UNION,
    BIRCH_FB_VECTOR, /* elem: a scalar kind, STRUCT, STRING, TABLE or UNION */
    BIRCH_FB_NESTED
};

typedef struct birch_fb_table birch_fb_table;
typedef struct birch_fb_union birch_fb_union;

/* One field of a table, as BIRCH_FB_TABLE's field list describes it: the
 * verifier checks each present field by its kind. */
typedef struct birch_fb_field {
    const char *name;
    uint16_t id;        /* UNION, vector of UNION: the values' id; the types' is id - 1 */
    uint8_t kind;       /* BIRCH_FB_* */
    uint8_t elem;       /* VECTOR: the element kind */
    uint8_t required;   /* absent is a verification failure */
    uint32_t size;      /* STRUCT, vector of STRUCT: sizeof */
    uint32_t align;     /* STRUCT, vector of STRUCT: alignment */
    const birch_fb_table *table; /* TABLE, vector of TABLE, NESTED (its root) */
    const birch_fb_union *u;     /* UNION, vector of UNION */
} birch_fb_field;

/* A table type: its fields and, for a root type, its file identifier. */
struct birch_fb_table {
    const char *name;
    const char *ident;  /* the file identifier (4 characters) when this table is a root; or NULL */
    size_t nfields;
    const birch_fb_field *fields;
};

/* A union type: the table type of each member. */
struct birch_fb_union {
    const char *name;
    size_t n;                            /* members[i] has type value i + 1 (NULL: none) */
    const birch_fb_table *const *members;
};

/* ---- Verifier --------------------------------------------------------------- */

#define BIRCH_FB_SIZE_PREFIXED 0x1u /* a u32 size precedes the buffer */
#define BIRCH_FB_ANY_IDENT     0x2u /* do not require the root table's file identifier */

/* The official verifier's defaults: tables (and nested buffers) at most
 * 64 deep, at most 1,000,000 tables in a buffer (birch_fb_opts overrides). */
#define BIRCH_FB_MAX_DEPTH  64
#define BIRCH_FB_MAX_TABLES 1000000

typedef struct birch_fb_opts {
    unsigned flags;      /* BIRCH_FB_SIZE_PREFIXED, BIRCH_FB_ANY_IDENT */
    unsigned max_depth;  /* tables and nested buffers inside each other; 0: 64 */
    unsigned max_tables; /* tables in all; 0: 1,000,000 */
} birch_fb_opts;

/* Verifies buf[0..size) as a buffer whose root table is root, field by
 * field as the schema says, with the checks of the official verifier:
 * size below 2^31 - 1; the size prefix (if flagged) within the buffer; the
 * file identifier when root names one (unless BIRCH_FB_ANY_IDENT); every
 * offset inside the buffer (nested buffers: inside their vector), non-zero
 * and aligned; each vtable inside the buffer, 2-aligned, of even size of
 * at least 4, its table's inline size at least 4 and inside the buffer;
 * every present field inside its table's inline size and aligned to its
 * type; strings NUL-terminated; vector counts that cannot overflow, the
 * elements inside the buffer and aligned (flatc's verifier checks only the
 * count's alignment; an empty vector has no element, and its count alone
 * must be aligned: flatc writes an empty [long] right after its count,
 * which may be 4 bytes off an 8-byte boundary); required fields present;
 * union values verified as the table their type names (unknown types are
 * accepted, as flatc-generated code does); a vector of unions' type vector
 * (id - 1) present exactly when its values are, of the same length, and
 * each element verified as the table its type names (NONE and unknown
 * types skipped without looking at their offset, as flatc's verifier
 * does); nested buffers verified as
 * buffers of their root (their identifier not required); at most
 * max_depth levels and max_tables tables.  Alignment is checked relative
 * to buf.  Returns BIRCH_OK, BIRCH_EFORMAT with the failed check in msg
 * (e.g. "flatbuffers Monster.name: string not NUL-terminated at byte 52"),
 * or BIRCH_EINVAL (NULL root, buf NULL with size). */
int birch_fb_verify(const birch_fb_table *root, const void *buf, size_t size, const birch_fb_opts *opts,
                    char *msg, size_t cap);

/* The root table of a buffer (flags: BIRCH_FB_SIZE_PREFIXED); NULL when
 * the root offset is outside the buffer.  Verify first. */
const void *birch_fb_root(const void *buf, size_t size, unsigned flags);

/* ---- Builder ------------------------------------------------------------------ */

/* Builds a buffer back to front, as FlatBuffers builders do: create a
 * table's strings, vectors and sub-tables first, then start the table, add
 * its fields and end it; finish with the root.  One table at a time.
 * A table's inline fields are held until birch_fb_end, which lays them out
 * by decreasing alignment (8, 4, 2, 1 bytes; a struct by its own), filling
 * a gap at the table's end with a smaller field where that saves more than
 * a vtable it would add, so that tables carry as little padding as the
 * format allows, whatever order the fields were added in; and it reuses an
 * identical vtable written before in the buffer instead of writing
 * another (flatc does too).  The buffer is padded only to its largest
 * alignment, as flatc's are.  So a buffer is never larger than flatc
 * makes of the same data (test_flatbuffers checks it).
 * Errors are sticky: a failed call returns 0 (or nothing) and the builder
 * remembers the first error, which birch_fb_finish returns (BIRCH_EINVAL
 * for misuse, BIRCH_EVALSIZE beyond 2^31 - 1 bytes or 65,535-byte tables).
 * The failing call records its birch_errmsg() detail at once
 * ("birch_fb_string: s is NULL and n is not 0"); birch_fb_finish's is
 * "birch_fb_finish: an earlier builder call failed: " and that text. */
typedef struct birch_fb_builder birch_fb_builder;
typedef uint32_t birch_fb_ref; /* an object built; 0: none (an absent field) */

birch_fb_builder *birch_fb_builder_new(void);
void birch_fb_builder_free(birch_fb_builder *b);
/* Empties the builder for the next buffer (keeps its memory). */
void birch_fb_builder_reset(birch_fb_builder *b);
/* Store scalars equal to their defaults too (off by default). */
void birch_fb_builder_force_defaults(birch_fb_builder *b, int on);
/* The first error, or BIRCH_OK; an error records the first failure's
 * detail for birch_errmsg() again.  NULL b: BIRCH_EINVAL. */
int birch_fb_builder_error(const birch_fb_builder *b);

birch_fb_ref birch_fb_string(birch_fb_builder *b, const char *s, size_t n);
birch_fb_ref birch_fb_cstring(birch_fb_builder *b, const char *s);
/* A string shared in this buffer: the ref of an earlier shared string with
 * the same n bytes, else a new one (flatc's CreateSharedString; strings
 * built by birch_fb_string are not shared).  Kept in a hash table owned by
 * the builder and emptied by reset. */
birch_fb_ref birch_fb_shared_string(birch_fb_builder *b, const char *s, size_t n);
/* A vector of n scalars or structs (little-endian, elem_size bytes each,
 * aligned to align; an empty one, for align up to 8, only to its count's
 * 4, as flatc writes it). */
birch_fb_ref birch_fb_vector(birch_fb_builder *b, const void *elems, size_t n, size_t elem_size, size_t align);
/* A vector of strings or tables. */
birch_fb_ref birch_fb_vector_refs(birch_fb_builder *b, const birch_fb_ref *refs, size_t n);
/* A vector of tables in the order cmp gives (a stable sort): cmp receives
 * two tables as birch_fb_builder_peek gives them, and ctx.  For a (key)
 * field, whose vectors flatc sorts and readers binary-search.  refs are
 * not changed; O(n log n), in scratch memory the builder keeps. */
birch_fb_ref birch_fb_vector_sorted(birch_fb_builder *b, const birch_fb_ref *refs, size_t n,
                                    int (*cmp)(const void *a, const void *b, void *ctx), void *ctx);
/* The values of a vector of unions: refs to tables, 0 for a NONE element
 * (stored as the offset 0).  Its types are a [ubyte] vector
 * (birch_fb_vector with elem_size and align 1). */
birch_fb_ref birch_fb_vector_unions(birch_fb_builder *b, const birch_fb_ref *refs, size_t n);
/* A [ubyte] vector holding a whole buffer (a nested flatbuffer), its bytes
 * aligned to 8. */
birch_fb_ref birch_fb_nested(birch_fb_builder *b, const void *buf, size_t n);

/* Starts a table; its fields follow, then birch_fb_end returns the table's
 * reference (strings, vectors and sub-tables must be built before start). */
void birch_fb_start(birch_fb_builder *b);
/* A scalar field of size 1, 2, 4 or 8 (little-endian); skipped when
 * is_default unless force_defaults. */
void birch_fb_add_scalar(birch_fb_builder *b, unsigned id, const void *v, size_t size, int is_default);
/* A struct field: size bytes copied as they are, aligned to align. */
void birch_fb_add_struct(birch_fb_builder *b, unsigned id, const void *v, size_t size, size_t align);
/* An offset field (string, vector, table); ref 0 adds nothing. */
void birch_fb_add_ref(birch_fb_builder *b, unsigned id, birch_fb_ref ref);
/* A vector of unions: its types (field id - 1) and values (field id), of
 * the same length, or both 0 (adds nothing). */
void birch_fb_add_union_vector(birch_fb_builder *b, unsigned id, birch_fb_ref types, birch_fb_ref values);
/* Ends the table begun by birch_fb_start (writes its vtable). */
birch_fb_ref birch_fb_end(birch_fb_builder *b);

/* Finishes the buffer with root (and ident: 4 characters, or NULL; flags:
 * BIRCH_FB_SIZE_PREFIXED).  *out points into the builder, 8-byte aligned,
 * until it is reset or freed. */
int birch_fb_finish(birch_fb_builder *b, birch_fb_ref root, const char *ident, unsigned flags, birch_val *out);

/* An object already built in b, in place: a table's start (the T_name
 * readers work on it), a vector's count, a string's length.  Valid until
 * the next call on b; NULL for 0 or a ref beyond what was built. */
const void *birch_fb_builder_peek(const birch_fb_builder *b, birch_fb_ref ref);

/* ---- Value format ------------------------------------------------------------ */

/* A typed table's value format for buffers of root table `root`: the C
 * value for put is a birch_val holding a finished buffer (verified, then
 * copied in); a guard's view is the root table in place (const T_table *),
 * verified once when the guard is taken.  Its schema text is
 * "flatbuffers(Monster, id MONS)", plus ", size-prefixed" when flagged. */
typedef struct birch_fb_format {
    const birch_fb_table *root;
    birch_fb_opts opts;
} birch_fb_format;

/* The value-format functions behind BIRCH_FB_FORMAT (param: a
 * birch_fb_format): describe writes the schema text above; size and encode
 * verify the finished buffer and copy it; verify_value is birch_fb_verify
 * with the format's options; view returns the root table. */
int birch_fb_describe(const birch_value_format *f, char *buf, size_t cap);
int birch_fb_size(const birch_value_format *f, const void *value, size_t *size);
int birch_fb_encode(const birch_value_format *f, const void *value, void *out, size_t size);
int birch_fb_verify_value(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap);
const void *birch_fb_view(const birch_value_format *f, const void *data, size_t size);

/* Declares `static const birch_value_format fmt` for buffers of table T,
 * e.g. BIRCH_FB_FORMAT(monster_format, Monster, 0). */
#define BIRCH_FB_FORMAT(fmt, T, flags)                                                              \
    BIRCH_FB_UNUSED_ static const birch_fb_format fmt##_fb_ = {&T##_fb, {(flags), 0, 0}};           \
    BIRCH_FB_UNUSED_ static const birch_value_format fmt = {                                        \
        "flatbuffers", 1, 8, sizeof(birch_val), birch_fb_describe, birch_fb_size, birch_fb_encode,  \
        birch_fb_verify_value, birch_fb_view, &fmt##_fb_}

/* ---- Reading helpers (used by the declared accessors) ---------------------- */

static inline const uint8_t *birch_fb_field_(const void *table, unsigned id)
{
    const uint8_t *t = (const uint8_t *)table;
    int32_t so;
    uint16_t vsize, off;
    if (!t) return NULL;
    memcpy(&so, t, 4);
    const uint8_t *vt = t - so;
    memcpy(&vsize, vt, 2);
    if (4u + 2u * (size_t)id + 2u > vsize) return NULL;
    memcpy(&off, vt + 4 + 2u * (size_t)id, 2);
    return off ? t + off : NULL;
}
static inline uint32_t birch_fb_u32_(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* The target of the offset field id, or NULL. */
static inline const uint8_t *birch_fb_ref_(const void *table, unsigned id)
{
    const uint8_t *p = birch_fb_field_(table, id);
    return p ? p + birch_fb_u32_(p) : NULL;
}
static inline size_t birch_fb_len_(const uint8_t *vec) { return vec ? birch_fb_u32_(vec) : 0; }
/* The length of a string an accessor returned (it may hold NULs); 0 for NULL. */
static inline size_t birch_fb_strlen(const char *s) { return s ? birch_fb_u32_((const uint8_t *)s - 4) : 0; }
/* The elements of the vector whose count is at vec (NULL: absent), as a
 * pointer aligned to align.  An empty vector has no element to align and
 * flatc does not pad before one: an empty [long] may start 4 bytes off an
 * 8-byte boundary.  Its count's own address, 8-aligned then, stands in. */
static inline const void *birch_fb_elems_(const uint8_t *vec, size_t align)
{
    if (!vec) return NULL;
    if (birch_fb_u32_(vec) == 0 && ((uintptr_t)(vec + 4) & (align - 1)) != 0) return vec;
    return vec + 4;
}
/* Element i of a vector of offsets, or NULL. */
static inline const uint8_t *birch_fb_ref_at_(const uint8_t *vec, size_t i)
{
    if (!vec || i >= birch_fb_u32_(vec)) return NULL;
    const uint8_t *p = vec + 4 + 4 * i;
    return p + birch_fb_u32_(p);
}

/* Compares the string s (as a reader returns it: its length before it;
 * NULL: empty) with the n bytes at key as flatc orders (key) strings:
 * memcmp, then the shorter first.  < 0, 0 or > 0. */
static inline int birch_fb_keycmp_(const char *s, const char *key, size_t n)
{
    size_t m = birch_fb_strlen(s), k = m < n ? m : n;
    int c = k ? memcmp(s, key, k) : 0;
    return c ? c : (m > n) - (m < n);
}
/* Whether type names a member of union u. */
static inline int birch_fb_union_has_(const birch_fb_union *u, unsigned type)
{
    return type && type <= u->n && u->members[type - 1];
}
/* Element i of the type vector of the vector of unions whose values are
 * field id (the types: id - 1); 0 past the end. */
static inline uint8_t birch_fb_union_type_at_(const void *table, unsigned id, size_t i)
{
    const uint8_t *types = birch_fb_ref_(table, id - 1);
    return types && i < birch_fb_u32_(types) ? types[4 + i] : 0;
}
/* Element i of that vector of unions: the table its type names; NULL for
 * NONE, for a type u does not know, past the end of either vector. */
static inline const void *birch_fb_union_at_(const void *table, unsigned id, const birch_fb_union *u, size_t i)
{
    const uint8_t *vals = birch_fb_ref_(table, id);
    if (!vals || i >= birch_fb_u32_(vals) || !birch_fb_union_has_(u, birch_fb_union_type_at_(table, id, i))) return NULL;
    return birch_fb_ref_at_(vals, i);
}

/* ---- Declaration macros ---------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define BIRCH_FB_UNUSED_ __attribute__((unused))
#else
#define BIRCH_FB_UNUSED_
#endif
#define BIRCH_FB_FN_ BIRCH_FB_UNUSED_ static inline

/* Scalar type tokens: descriptor kind, C type, stored type.  (bool may
 * reach here as _Bool, after stdbool.h's macro.) */
#define BIRCH_FB_K_bool BIRCH_FB_BOOL
#define BIRCH_FB_K__Bool BIRCH_FB_BOOL
#define BIRCH_FB_K_u8 BIRCH_FB_U8
#define BIRCH_FB_K_i8 BIRCH_FB_I8
#define BIRCH_FB_K_u16 BIRCH_FB_U16
#define BIRCH_FB_K_i16 BIRCH_FB_I16
#define BIRCH_FB_K_u32 BIRCH_FB_U32
#define BIRCH_FB_K_i32 BIRCH_FB_I32
#define BIRCH_FB_K_u64 BIRCH_FB_U64
#define BIRCH_FB_K_i64 BIRCH_FB_I64
#define BIRCH_FB_K_f32 BIRCH_FB_F32
#define BIRCH_FB_K_f64 BIRCH_FB_F64
#define BIRCH_FB_C_bool _Bool
#define BIRCH_FB_C__Bool _Bool
#define BIRCH_FB_C_u8 uint8_t
#define BIRCH_FB_C_i8 int8_t
#define BIRCH_FB_C_u16 uint16_t
#define BIRCH_FB_C_i16 int16_t
#define BIRCH_FB_C_u32 uint32_t
#define BIRCH_FB_C_i32 int32_t
#define BIRCH_FB_C_u64 uint64_t
#define BIRCH_FB_C_i64 int64_t
#define BIRCH_FB_C_f32 float
#define BIRCH_FB_C_f64 double
#define BIRCH_FB_S_bool uint8_t /* a stored bool may hold any byte */
#define BIRCH_FB_S__Bool uint8_t
#define BIRCH_FB_S_u8 uint8_t
#define BIRCH_FB_S_i8 int8_t
#define BIRCH_FB_S_u16 uint16_t
#define BIRCH_FB_S_i16 int16_t
#define BIRCH_FB_S_u32 uint32_t
#define BIRCH_FB_S_i32 int32_t
#define BIRCH_FB_S_u64 uint64_t
#define BIRCH_FB_S_i64 int64_t
#define BIRCH_FB_S_f32 float
#define BIRCH_FB_S_f64 double

/* Forward declaration of table T (for tables used before they are defined). */
#define BIRCH_FB_DECLARE(T)                                                                      \
    typedef struct T##_table T##_table;                                                          \
    BIRCH_FB_UNUSED_ static const birch_fb_table T##_fb

/* A union: its descriptor U_fb only (BIRCH_FB_UNION_DESC), or with
 * constants U_NONE, U_<member> (BIRCH_FB_UNION). */
#define BIRCH_FB_UMEMBER_ENUM_(U, T, v) U##_##T = (v),
#define BIRCH_FB_UMEMBER_DESC_(U, T, v) [(v) - 1] = &T##_fb,
#define BIRCH_FB_UNION_DESC(U, MEMBERS)                                                          \
    BIRCH_FB_UNUSED_ static const birch_fb_table *const U##_fb_members_[] = {MEMBERS(BIRCH_FB_UMEMBER_DESC_)}; \
    BIRCH_FB_UNUSED_ static const birch_fb_union U##_fb = {                                     \
        #U, sizeof U##_fb_members_ / sizeof U##_fb_members_[0], U##_fb_members_}
#define BIRCH_FB_UNION(U, MEMBERS)                                                               \
    typedef enum U { U##_NONE = 0, MEMBERS(BIRCH_FB_UMEMBER_ENUM_) } U;                          \
    BIRCH_FB_UNION_DESC(U, MEMBERS)

/* Descriptors */
#define BIRCH_FB_DESC_(kind, ...) BIRCH_FB_D_##kind(0, __VA_ARGS__)
#define BIRCH_FB_D_REQUIRED(req, kind, ...) BIRCH_FB_D_##kind(1, __VA_ARGS__)
#define BIRCH_FB_D_SCALAR(req, T, n, fid, ty, dflt) {#n, fid, BIRCH_FB_K_##ty, 0, req, 0, 0, NULL, NULL},
#define BIRCH_FB_D_ENUM(req, T, n, fid, ty, E, dflt) BIRCH_FB_D_SCALAR(req, T, n, fid, ty, dflt)
#define BIRCH_FB_D_OPTIONAL(req, T, n, fid, ty, C) BIRCH_FB_D_SCALAR(req, T, n, fid, ty, 0)
#define BIRCH_FB_D_STRUCT(req, T, n, fid, CT) {#n, fid, BIRCH_FB_STRUCT, 0, req, sizeof(CT), _Alignof(CT), NULL, NULL},
#define BIRCH_FB_D_STRING(req, T, n, fid) {#n, fid, BIRCH_FB_STRING, 0, req, 0, 0, NULL, NULL},
#define BIRCH_FB_D_TABLE(req, T, n, fid, S) {#n, fid, BIRCH_FB_TABLE, 0, req, 0, 0, &S##_fb, NULL},
#define BIRCH_FB_D_UNION(req, T, n, fid, U) {#n, fid, BIRCH_FB_UNION, 0, req, 0, 0, NULL, &U##_fb},
#define BIRCH_FB_D_VECTOR(req, T, n, fid, ty) {#n, fid, BIRCH_FB_VECTOR, BIRCH_FB_K_##ty, req, 0, 0, NULL, NULL},
#define BIRCH_FB_D_VECTOR_ENUM(req, T, n, fid, ty, E) BIRCH_FB_D_VECTOR(req, T, n, fid, ty)
#define BIRCH_FB_D_VECTOR_STRUCT(req, T, n, fid, CT) \
    {#n, fid, BIRCH_FB_VECTOR, BIRCH_FB_STRUCT, req, sizeof(CT), _Alignof(CT), NULL, NULL},
#define BIRCH_FB_D_STRUCT_ALIGNED(req, T, n, fid, CT, al) {#n, fid, BIRCH_FB_STRUCT, 0, req, sizeof(CT), al, NULL, NULL},
#define BIRCH_FB_D_VECTOR_STRUCT_ALIGNED(req, T, n, fid, CT, al) \
    {#n, fid, BIRCH_FB_VECTOR, BIRCH_FB_STRUCT, req, sizeof(CT), al, NULL, NULL},
#define BIRCH_FB_D_VECTOR_STRING(req, T, n, fid) {#n, fid, BIRCH_FB_VECTOR, BIRCH_FB_STRING, req, 0, 0, NULL, NULL},
#define BIRCH_FB_D_VECTOR_TABLE(req, T, n, fid, S) \
    {#n, fid, BIRCH_FB_VECTOR, BIRCH_FB_TABLE, req, 0, 0, &S##_fb, NULL},
#define BIRCH_FB_D_VECTOR_TABLE_KEYED(req, T, n, fid, S, cmp) BIRCH_FB_D_VECTOR_TABLE(req, T, n, fid, S)
#define BIRCH_FB_D_VECTOR_UNION(req, T, n, fid, U) {#n, fid, BIRCH_FB_VECTOR, BIRCH_FB_UNION, req, 0, 0, NULL, &U##_fb},
#define BIRCH_FB_D_NESTED(req, T, n, fid, S) {#n, fid, BIRCH_FB_NESTED, BIRCH_FB_U8, req, 0, 0, &S##_fb, NULL},

/* Readers */
#define BIRCH_FB_ACC_(kind, ...) BIRCH_FB_A_##kind(__VA_ARGS__)
#define BIRCH_FB_A_REQUIRED(kind, ...) BIRCH_FB_A_##kind(__VA_ARGS__)
#define BIRCH_FB_A_PRESENT_(T, n, fid)                                                             \
    BIRCH_FB_FN_ int T##_##n##_present(const T##_table *t) { return birch_fb_field_(t, fid) != NULL; }
/* A scalar stored as ty, read as the C type C (dflt when absent). */
#define BIRCH_FB_A_SCALAR_(T, n, fid, ty, C, dflt)                                                 \
    BIRCH_FB_FN_ C T##_##n(const T##_table *t)                                                    \
    {                                                                                            \
        const uint8_t *p_ = birch_fb_field_(t, fid);                                             \
        BIRCH_FB_S_##ty s_;                                                                      \
        if (!p_) return (C)(dflt);                                                               \
        memcpy(&s_, p_, sizeof s_);                                                              \
        return (C)s_;                                                                            \
    }                                                                                            \
    BIRCH_FB_A_PRESENT_(T, n, fid)
#define BIRCH_FB_A_SCALAR(T, n, fid, ty, dflt) BIRCH_FB_A_SCALAR_(T, n, fid, ty, BIRCH_FB_C_##ty, dflt)
#define BIRCH_FB_A_ENUM(T, n, fid, ty, E, dflt) BIRCH_FB_A_SCALAR_(T, n, fid, ty, E, dflt)
#define BIRCH_FB_A_OPTIONAL(T, n, fid, ty, C) BIRCH_FB_A_SCALAR_(T, n, fid, ty, C, 0)
#define BIRCH_FB_A_STRUCT(T, n, fid, CT)                                                           \
    BIRCH_FB_FN_ const CT *T##_##n(const T##_table *t) { return (const CT *)(const void *)birch_fb_field_(t, fid); } \
    BIRCH_FB_A_PRESENT_(T, n, fid)
#define BIRCH_FB_A_STRUCT_ALIGNED(T, n, fid, CT, al) BIRCH_FB_A_STRUCT(T, n, fid, CT)
#define BIRCH_FB_A_STRING(T, n, fid)                                                               \
    BIRCH_FB_FN_ const char *T##_##n(const T##_table *t)                                          \
    {                                                                                            \
        const uint8_t *s_ = birch_fb_ref_(t, fid);                                               \
        return s_ ? (const char *)s_ + 4 : NULL;                                                 \
    }                                                                                            \
    BIRCH_FB_FN_ size_t T##_##n##_len(const T##_table *t) { return birch_fb_len_(birch_fb_ref_(t, fid)); } \
    BIRCH_FB_A_PRESENT_(T, n, fid)
#define BIRCH_FB_A_TABLE(T, n, fid, S)                                                             \
    BIRCH_FB_FN_ const S##_table *T##_##n(const T##_table *t)                                     \
    {                                                                                            \
        return (const S##_table *)(const void *)birch_fb_ref_(t, fid);                           \
    }                                                                                            \
    BIRCH_FB_A_PRESENT_(T, n, fid)
#define BIRCH_FB_A_UNION(T, n, fid, U)                                                             \
    BIRCH_FB_FN_ U T##_##n##_type(const T##_table *t)                                             \
    {                                                                                            \
        const uint8_t *p_ = birch_fb_field_(t, (fid) - 1);                                       \
        return (U)(p_ ? *p_ : 0);                                                                \
    }                                                                                            \
    BIRCH_FB_FN_ const void *T##_##n(const T##_table *t)                                          \
    {                                                                                            \
        uint8_t u_ = (uint8_t)T##_##n##_type(t); /* NULL for NONE and types the union lacks */    \
        return birch_fb_union_has_(&U##_fb, u_) ? (const void *)birch_fb_ref_(t, fid) : NULL;   \
    }                                                                                            \
    BIRCH_FB_A_PRESENT_(T, n, fid)
#define BIRCH_FB_A_VLEN_(T, n, fid)                                                                \
    BIRCH_FB_FN_ size_t T##_##n##_len(const T##_table *t) { return birch_fb_len_(birch_fb_ref_(t, fid)); } \
    BIRCH_FB_A_PRESENT_(T, n, fid)
/* A vector of scalars stored as ty: the elements in place, element i read as C. */
#define BIRCH_FB_A_VSCALARS_(T, n, fid, ty, C)                                                     \
    BIRCH_FB_A_VLEN_(T, n, fid)                                                                  \
    BIRCH_FB_FN_ const BIRCH_FB_S_##ty *T##_##n(const T##_table *t)                               \
    {                                                                                            \
        const void *e_ = birch_fb_elems_(birch_fb_ref_(t, fid), sizeof(BIRCH_FB_S_##ty));        \
        return (const BIRCH_FB_S_##ty *)e_;                                                      \
    }                                                                                            \
    BIRCH_FB_FN_ C T##_##n##_at(const T##_table *t, size_t i)                                    \
    {                                                                                            \
        const uint8_t *v_ = birch_fb_ref_(t, fid);                                               \
        BIRCH_FB_S_##ty s_;                                                                      \
        if (!v_ || i >= birch_fb_u32_(v_)) return (C)0;                                          \
        memcpy(&s_, v_ + 4 + i * sizeof s_, sizeof s_);                                          \
        return (C)s_;                                                                            \
    }
#define BIRCH_FB_A_VECTOR(T, n, fid, ty) BIRCH_FB_A_VSCALARS_(T, n, fid, ty, BIRCH_FB_C_##ty)
#define BIRCH_FB_A_VECTOR_ENUM(T, n, fid, ty, E) BIRCH_FB_A_VSCALARS_(T, n, fid, ty, E)
#define BIRCH_FB_A_VECTOR_STRUCT(T, n, fid, CT)                                                    \
    BIRCH_FB_A_VLEN_(T, n, fid)                                                                  \
    BIRCH_FB_FN_ const CT *T##_##n(const T##_table *t)                                            \
    {                                                                                            \
        return (const CT *)birch_fb_elems_(birch_fb_ref_(t, fid), _Alignof(CT));                 \
    }                                                                                            \
    BIRCH_FB_FN_ const CT *T##_##n##_at(const T##_table *t, size_t i)                            \
    {                                                                                            \
        const uint8_t *v_ = birch_fb_ref_(t, fid);                                               \
        if (!v_ || i >= birch_fb_u32_(v_)) return NULL;                                          \
        return (const CT *)(const void *)(v_ + 4 + i * sizeof(CT));                              \
    }
#define BIRCH_FB_A_VECTOR_STRUCT_ALIGNED(T, n, fid, CT, al) BIRCH_FB_A_VECTOR_STRUCT(T, n, fid, CT)
#define BIRCH_FB_A_VECTOR_STRING(T, n, fid)                                                        \
    BIRCH_FB_A_VLEN_(T, n, fid)                                                                  \
    BIRCH_FB_FN_ const char *T##_##n##_at(const T##_table *t, size_t i)                          \
    {                                                                                            \
        const uint8_t *s_ = birch_fb_ref_at_(birch_fb_ref_(t, fid), i);                          \
        return s_ ? (const char *)s_ + 4 : NULL;                                                 \
    }
#define BIRCH_FB_A_VECTOR_TABLE(T, n, fid, S)                                                      \
    BIRCH_FB_A_VLEN_(T, n, fid)                                                                  \
    BIRCH_FB_FN_ const S##_table *T##_##n##_at(const T##_table *t, size_t i)                     \
    {                                                                                            \
        return (const S##_table *)(const void *)birch_fb_ref_at_(birch_fb_ref_(t, fid), i);      \
    }
#define BIRCH_FB_A_VECTOR_TABLE_KEYED(T, n, fid, S, cmp) BIRCH_FB_A_VECTOR_TABLE(T, n, fid, S)
#define BIRCH_FB_A_VECTOR_UNION(T, n, fid, U)                                                      \
    BIRCH_FB_A_VLEN_(T, n, fid)                                                                  \
    BIRCH_FB_FN_ U T##_##n##_type_at(const T##_table *t, size_t i)                               \
    {                                                                                            \
        return (U)birch_fb_union_type_at_(t, fid, i);                                            \
    }                                                                                            \
    BIRCH_FB_FN_ const void *T##_##n##_at(const T##_table *t, size_t i)                          \
    {                                                                                            \
        return birch_fb_union_at_(t, fid, &U##_fb, i);                                           \
    }
#define BIRCH_FB_A_NESTED(T, n, fid, S)                                                            \
    BIRCH_FB_A_VLEN_(T, n, fid)                                                                  \
    BIRCH_FB_FN_ const uint8_t *T##_##n(const T##_table *t)                                       \
    {                                                                                            \
        const uint8_t *v_ = birch_fb_ref_(t, fid);                                               \
        return v_ ? v_ + 4 : NULL;                                                               \
    }                                                                                            \
    BIRCH_FB_FN_ const S##_table *T##_##n##_root(const T##_table *t)                             \
    {                                                                                            \
        const uint8_t *v_ = birch_fb_ref_(t, fid);                                               \
        return v_ ? (const S##_table *)birch_fb_root(v_ + 4, birch_fb_u32_(v_), 0) : NULL;      \
    }

/* Builders */
#define BIRCH_FB_BLD_(kind, ...) BIRCH_FB_B_##kind(__VA_ARGS__)
#define BIRCH_FB_B_REQUIRED(kind, ...) BIRCH_FB_B_##kind(__VA_ARGS__)
/* A scalar given as the C type C, stored as ty; skipped when its bytes
 * are the default's (unless force_defaults): bytes, not ==, so that -0.0
 * is kept where the default is 0.0 (it would read back as 0.0), and no
 * float compare trips -Wfloat-equal in a user's build. */
#define BIRCH_FB_B_SCALAR_(T, n, fid, ty, C, dflt)                                                 \
    BIRCH_FB_FN_ void T##_add_##n(birch_fb_builder *b, C v)                                       \
    {                                                                                            \
        BIRCH_FB_S_##ty s_ = (BIRCH_FB_S_##ty)v, d_ = (BIRCH_FB_S_##ty)(dflt);                   \
        birch_fb_add_scalar(b, fid, &s_, sizeof s_, memcmp(&s_, &d_, sizeof s_) == 0);           \
    }
#define BIRCH_FB_B_SCALAR(T, n, fid, ty, dflt) BIRCH_FB_B_SCALAR_(T, n, fid, ty, BIRCH_FB_C_##ty, dflt)
#define BIRCH_FB_B_ENUM(T, n, fid, ty, E, dflt) BIRCH_FB_B_SCALAR_(T, n, fid, ty, E, dflt)
#define BIRCH_FB_B_OPTIONAL(T, n, fid, ty, C)                                                      \
    BIRCH_FB_FN_ void T##_add_##n(birch_fb_builder *b, C v)                                       \
    {                                                                                            \
        BIRCH_FB_S_##ty s_ = (BIRCH_FB_S_##ty)v;                                                 \
        birch_fb_add_scalar(b, fid, &s_, sizeof s_, 0);                                          \
    }
#define BIRCH_FB_B_STRUCT(T, n, fid, CT)                                                           \
    BIRCH_FB_FN_ void T##_add_##n(birch_fb_builder *b, const CT *v)                               \
    {                                                                                            \
        if (v) birch_fb_add_struct(b, fid, v, sizeof(CT), _Alignof(CT));                         \
    }
#define BIRCH_FB_B_STRUCT_ALIGNED(T, n, fid, CT, al)                                               \
    BIRCH_FB_FN_ void T##_add_##n(birch_fb_builder *b, const CT *v)                               \
    {                                                                                            \
        if (v) birch_fb_add_struct(b, fid, v, sizeof(CT), al);                                   \
    }
#define BIRCH_FB_B_REF_(T, n, fid)                                                                 \
    BIRCH_FB_FN_ void T##_add_##n(birch_fb_builder *b, birch_fb_ref r) { birch_fb_add_ref(b, fid, r); }
#define BIRCH_FB_B_STRING(T, n, fid) BIRCH_FB_B_REF_(T, n, fid)
#define BIRCH_FB_B_TABLE(T, n, fid, S) BIRCH_FB_B_REF_(T, n, fid)
#define BIRCH_FB_B_UNION(T, n, fid, U)                                                             \
    BIRCH_FB_FN_ void T##_add_##n(birch_fb_builder *b, U type, birch_fb_ref r)                   \
    {                                                                                            \
        uint8_t t_ = (uint8_t)type; /* a union's types are ubyte */                              \
        if (!t_ || !r) return;                                                                   \
        birch_fb_add_scalar(b, (fid) - 1, &t_, 1, 0);                                            \
        birch_fb_add_ref(b, fid, r);                                                             \
    }
#define BIRCH_FB_B_VECTOR(T, n, fid, ty)                                                           \
    BIRCH_FB_B_REF_(T, n, fid)                                                                   \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const BIRCH_FB_C_##ty *v, size_t cnt) \
    {                                                                                            \
        return birch_fb_vector(b, v, cnt, sizeof(BIRCH_FB_S_##ty), sizeof(BIRCH_FB_S_##ty));    \
    }
#define BIRCH_FB_B_VECTOR_ENUM(T, n, fid, ty, E)                                                   \
    BIRCH_FB_B_REF_(T, n, fid)                                                                   \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const BIRCH_FB_S_##ty *v, size_t cnt) \
    {                                                                                            \
        return birch_fb_vector(b, v, cnt, sizeof(BIRCH_FB_S_##ty), sizeof(BIRCH_FB_S_##ty));    \
    }
#define BIRCH_FB_B_VECTOR_STRUCT(T, n, fid, CT)                                                    \
    BIRCH_FB_B_REF_(T, n, fid)                                                                   \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const CT *v, size_t cnt)          \
    {                                                                                            \
        return birch_fb_vector(b, v, cnt, sizeof(CT), _Alignof(CT));                             \
    }
#define BIRCH_FB_B_VECTOR_STRUCT_ALIGNED(T, n, fid, CT, al)                                        \
    BIRCH_FB_B_REF_(T, n, fid)                                                                   \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const CT *v, size_t cnt)          \
    {                                                                                            \
        return birch_fb_vector(b, v, cnt, sizeof(CT), al);                                       \
    }
#define BIRCH_FB_B_VECTOR_STRING(T, n, fid)                                                        \
    BIRCH_FB_B_REF_(T, n, fid)                                                                   \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const birch_fb_ref *r, size_t cnt) \
    {                                                                                            \
        return birch_fb_vector_refs(b, r, cnt);                                                  \
    }
#define BIRCH_FB_B_VECTOR_TABLE(T, n, fid, S) BIRCH_FB_B_VECTOR_STRING(T, n, fid)
#define BIRCH_FB_B_VECTOR_TABLE_KEYED(T, n, fid, S, cmp)                                         \
    BIRCH_FB_B_REF_(T, n, fid)                                                                   \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const birch_fb_ref *r, size_t cnt) \
    {                                                                                            \
        return birch_fb_vector_sorted(b, r, cnt, cmp, NULL);                                     \
    }
#define BIRCH_FB_B_VECTOR_UNION(T, n, fid, U)                                                      \
    BIRCH_FB_FN_ void T##_add_##n(birch_fb_builder *b, birch_fb_ref types, birch_fb_ref values)  \
    {                                                                                            \
        birch_fb_add_union_vector(b, fid, types, values);                                        \
    }                                                                                            \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n##_type(birch_fb_builder *b, const uint8_t *types, size_t cnt) \
    {                                                                                            \
        return birch_fb_vector(b, types, cnt, 1, 1);                                             \
    }                                                                                            \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const birch_fb_ref *r, size_t cnt) \
    {                                                                                            \
        return birch_fb_vector_unions(b, r, cnt);                                                \
    }
#define BIRCH_FB_B_NESTED(T, n, fid, S)                                                            \
    BIRCH_FB_B_REF_(T, n, fid)                                                                   \
    BIRCH_FB_FN_ birch_fb_ref T##_vec_##n(birch_fb_builder *b, const void *buf, size_t size)     \
    {                                                                                            \
        return birch_fb_nested(b, buf, size);                                                    \
    }

/* A table: see the top of this file.  (The descriptors end with an unused
 * zeroed entry, so that a table without fields declares no empty array.) */
#define BIRCH_FB_TABLE(T, ident_, FIELDS)                                                         \
    BIRCH_FB_DECLARE(T);                                                                         \
    BIRCH_FB_UNUSED_ static const birch_fb_field T##_fb_fields_[] = {                            \
        FIELDS(BIRCH_FB_DESC_){NULL, 0, 0, 0, 0, 0, 0, NULL, NULL}};                              \
    BIRCH_FB_UNUSED_ static const birch_fb_table T##_fb = {                                      \
        #T, ident_, sizeof T##_fb_fields_ / sizeof T##_fb_fields_[0] - 1, T##_fb_fields_};        \
    FIELDS(BIRCH_FB_ACC_)                                                                        \
    FIELDS(BIRCH_FB_BLD_)                                                                        \
    BIRCH_FB_FN_ void T##_start(birch_fb_builder *b) { birch_fb_start(b); }                      \
    BIRCH_FB_FN_ birch_fb_ref T##_end(birch_fb_builder *b) { return birch_fb_end(b); }           \
    BIRCH_FB_FN_ int T##_finish(birch_fb_builder *b, birch_fb_ref root, unsigned flags, birch_val *out) \
    {                                                                                            \
        return birch_fb_finish(b, root, T##_fb.ident, flags, out);                               \
    }                                                                                            \
    BIRCH_FB_FN_ int T##_verify(const void *buf, size_t size, const birch_fb_opts *o, char *msg, size_t cap) \
    {                                                                                            \
        return birch_fb_verify(&T##_fb, buf, size, o, msg, cap);                                 \
    }                                                                                            \
    BIRCH_FB_FN_ const T##_table *T##_root(const void *buf, size_t size, unsigned flags)        \
    {                                                                                            \
        return (const T##_table *)birch_fb_root(buf, size, flags);                               \
    }                                                                                            \
    BIRCH_FB_FN_ const T##_table *T##_view(const birch_guard *g)                                 \
    {                                                                                            \
        return (const T##_table *)g->view;                                                       \
    }                                                                                            \
    typedef int T##_fb_declared_
/* A table without fields. */
#define BIRCH_FB_NO_FIELDS_(_)
#define BIRCH_FB_TABLE_EMPTY(T, ident_) BIRCH_FB_TABLE(T, ident_, BIRCH_FB_NO_FIELDS_)

#ifdef __cplusplus
}
#endif
#endif /* BIRCH_FLATBUFFERS_H */
