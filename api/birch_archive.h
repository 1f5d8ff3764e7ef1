/*
 * birch_archive.h - archives: C structs read in place, with variable-size
 * members behind relative pointers, verified once per read (included by
 * birch.h, through birch_typed.h).  birch's counterpart of rkyv.
 *
 * A type is declared once, in C, by a list of members:
 *
 *   #define ADDRESS_FIELDS(X) X(string, city) X(u32, zip)
 *   BIRCH_ARCHIVE(Address, 1, ADDRESS_FIELDS);
 *
 *   #define CUSTOMER_FIELDS(X)                                               \
 *       X(u64, id) X(string, name) X(f64, revenue) X(vec_u32, tags)           \
 *       X(bytes, photo) X(opt_string, nickname) X(nested, Address, home)      \
 *       X(vec_nested, Address, shipping)
 *   BIRCH_ARCHIVE(Customer, 3, CUSTOMER_FIELDS);
 *
 * which declares (T = Customer):
 *   T_src      the build side: a plain C struct (below) that put takes
 *   T_arch     the archived layout, a fixed-layout C struct; a guard's view
 *              is a `const T_arch *` (the root sits at the start of the value)
 *   T_vec      {const T_arch *data; size_t len;}, T_src_vec the same of T_src
 *   T_format   the birch_value_format, for birch_typed_open
 *   accessors  T_<member>(const T_arch *) for every member (table below),
 *              T_has_<member>() for optional ones
 *   T_archive_size(const T_src *, size_t *), T_archive_build(const T_src *,
 *              void *buf, size_t size), T_archive_verify(buf, size, msg,
 *              cap), T_archive_root(buf): the same outside a table.
 * Member kinds, as X(kind, name) or X(kind, N, name) for a nested type N
 * (declared earlier with BIRCH_ARCHIVE, or T itself for opt_nested and
 * vec_nested):
 *
 *   kind              in T_src               accessor returns
 *   u8 u16 u32 u64    uint8_t ... uint64_t   the same
 *   i8 i16 i32 i64    int8_t ... int64_t     the same
 *   f32 f64           float, double          the same
 *   bool              bool                   bool (stored as one byte, 0 or 1;
 *                                            a source bool whose byte is
 *                                            neither is refused: BIRCH_EINVAL)
 *   string            birch_val (UTF-8)      birch_val; data is NUL-terminated
 *   bytes             birch_val              birch_val
 *   opt_string        birch_val, data NULL   birch_val, data NULL when absent;
 *   opt_bytes           when absent            T_has_<name>()
 *   vec_u8 ... vec_f64  birch_vec_u8 ...     birch_vec_u8 ... {const E *data; size_t len;}
 *                     (vec_ + any scalar but bool)
 *   nested, N         N_src (by value)       const N_arch *
 *   opt_nested, N     const N_src *, NULL    const N_arch *, NULL when absent;
 *                       when absent            T_has_<name>()
 *   vec_nested, N     N_src_vec              N_vec
 *
 * At most 64 members per type.  Generated names must not collide: avoid
 * members called src, arch, vec, src_vec, format, or starting with
 * archive_ or has_.  The version (3 above) is the user's version of the
 * type: change it with the layout.  The table's schema holds
 * "archive(Customer v3, 64 bytes, align 8, layout 1a2b3c4d)", where layout is
 * a hash of every member's kind and name (of nested types too), so a table
 * written with another version or another member list refuses to open with
 * BIRCH_ESCHEMA.
 *
 * Reads: birch_typed_get verifies the whole archive once (below) when the
 * guard is taken; g.view is then a `const T_arch *` into the map, 8-byte
 * aligned, and every accessor reads without checks and stays inside the
 * value.  A value that fails gives BIRCH_EFORMAT and g.msg names the
 * member and the check, e.g. "table 'customers', key 01: archive
 * Customer.home.city: string of 9 bytes at 4000 is out of bounds (buffer
 * of 120 bytes)".  BIRCH_ARCHIVE_TABLE (at the end) declares type-safe
 * wrappers whose put takes a T_src and whose view is a T_arch.
 *
 * ---- Layout (format version 1) -------------------------------------------
 *
 * An archive is one buffer.  Every number is little-endian (big-endian
 * hosts are refused: describe fails with BIRCH_EINVAL).
 *
 *  - Objects.  A struct object is T_arch: the members in declaration order,
 *    each scalar at its natural alignment (8-byte ones explicitly aligned
 *    to 8, so 32-bit ABIs agree), bool as one byte, every other member a
 *    relative pointer {uint32 off; uint32 len;} (align 4); C padding
 *    between members and at the end (zero when birch writes it).  Its
 *    alignment is that of its largest member (4 or 8 with any pointer).
 *  - Root.  The root object is at offset 0 of the buffer.
 *  - Relative pointers.  off counts from the start of the struct object
 *    that holds the pointer (not from the pointer itself, nor the buffer),
 *    so a child always lies after its parent; len is, by kind:
 *      string        byte length; the bytes are followed by a NUL (not
 *                    counted), align 1
 *      bytes         byte length, align 1
 *      vec_E         element count; elements of sizeof(E), align sizeof(E)
 *      nested        byte length of the child's subtree: its struct and
 *                    everything below it (at least sizeof N_arch); align
 *                    of N_arch
 *      vec_nested    element count; an array of N_arch, align of N_arch
 *    An optional member that is absent is {0, 0}; off 0 is never valid
 *    otherwise.  An empty string, vector or bytes still has an offset.
 *  - Order.  The builder lays objects out depth-first: a struct, then the
 *    data of its pointer members in declaration order, each at the next
 *    offset aligned for it; a nested child's subtree (its struct, then its
 *    own children, recursively) before the parent's next member; a vector
 *    of structs' array, then each element's children in element order.
 *    The size is exact (no trailing padding); a buffer is at most 2^32 - 1
 *    bytes.
 *  - Range.  The root's range is the whole buffer; a nested child's range
 *    is its subtree [start, start + len); the elements of a vector of
 *    structs share their parent's range.
 *
 * ---- Verification --------------------------------------------------------
 *
 * Before any access, in layout order: the buffer is aligned for the root
 * and holds its struct; for every pointer: len * element size fits in 32
 * bits; the object lies inside the buffer and inside its parent's range;
 * it starts at or after the end of every object verified before it (so
 * no two objects overlap and every child follows its parent; a cursor
 * makes this O(1), like rkyv's subtree ranges); it is aligned for its
 * kind; a string ends with a NUL and is valid UTF-8; a bool is 0 or 1 (any
 * other byte is refused, as rkyv does, so an accessor only ever reads 0 or
 * 1); a nested length covers its struct; nesting is at most
 * BIRCH_ARCHIVE_MAX_DEPTH deep (the root is depth 1).  Each object
 * claims at least one byte or is an empty vector, so verification is
 * linear in the buffer's size.  Bytes between objects are not read.
 */
#ifndef BIRCH_ARCHIVE_H
#define BIRCH_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "birch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Deepest nesting an archive may have, counting the root as 1: deeper
 * sources are refused when built, deeper buffers when verified. */
#define BIRCH_ARCHIVE_MAX_DEPTH 64

/* A relative pointer inside an archive (layout above). */
typedef struct birch_archive_ref {
    uint32_t off;
    uint32_t len;
} birch_archive_ref;

/* Vectors of scalars: the source of a vec_E member and what its accessor
 * returns. */
#define BIRCH_AR_VEC_TYPE_(E, CT)                                                                  \
    typedef struct birch_vec_##E {                                                                 \
        const CT *data;                                                                            \
        size_t len;                                                                                \
    } birch_vec_##E;
BIRCH_AR_VEC_TYPE_(u8, uint8_t)
BIRCH_AR_VEC_TYPE_(u16, uint16_t)
BIRCH_AR_VEC_TYPE_(u32, uint32_t)
BIRCH_AR_VEC_TYPE_(u64, uint64_t)
BIRCH_AR_VEC_TYPE_(i8, int8_t)
BIRCH_AR_VEC_TYPE_(i16, int16_t)
BIRCH_AR_VEC_TYPE_(i32, int32_t)
BIRCH_AR_VEC_TYPE_(i64, int64_t)
BIRCH_AR_VEC_TYPE_(f32, float)
BIRCH_AR_VEC_TYPE_(f64, double)

/* ---- Type descriptions (filled by BIRCH_ARCHIVE; read by formats/archive.c) */

/* Kinds of archive member (birch_archive_member.kind). */
enum {
    BIRCH_AK_SCALAR = 1, /* esize bytes copied as they are */
    BIRCH_AK_BOOL,       /* one byte, 0 or 1 */
    BIRCH_AK_STRING,     /* relative pointer to UTF-8 text, NUL-terminated */
    BIRCH_AK_BYTES,      /* relative pointer to raw bytes */
    BIRCH_AK_VEC,        /* relative pointer to esize-byte scalars */
    BIRCH_AK_NESTED,     /* relative pointer to another archived struct */
    BIRCH_AK_VEC_NESTED  /* relative pointer to an array of archived structs */
};

typedef struct birch_archive_type birch_archive_type;

/* One member of an archived struct, as BIRCH_ARCHIVE describes it. */
typedef struct birch_archive_member {
    const char *name;
    const char *ename;               /* scalar or element type: "u32", ... */
    uint8_t kind;                    /* BIRCH_AK_* */
    uint8_t optional;                /* absent = {0, 0} */
    uint8_t esize;                   /* scalar or element size */
    uint32_t aoff;                   /* offset in T_arch */
    uint32_t soff;                   /* offset in T_src */
    const birch_archive_type *type;  /* nested and vec_nested */
} birch_archive_member;

/* An archived struct type: what BIRCH_ARCHIVE declares as T_archive.type,
 * and what the builder, the verifier and the schema text are driven by. */
struct birch_archive_type {
    const char *name;
    uint32_t version;
    uint32_t size;   /* sizeof T_arch */
    uint32_t align;  /* _Alignof T_arch */
    size_t src_size; /* sizeof T_src */
    size_t n;        /* members */
    const birch_archive_member *members;
};

/* The value-format functions of every archive type (param: the type):
 * describe writes "archive(T vN, S bytes, align A, layout H)"; size and
 * encode build from a T_src; verify is birch_archive_check's walk. */
int birch_archive_describe(const birch_value_format *f, char *buf, size_t cap);
int birch_archive_size(const birch_value_format *f, const void *value, size_t *size);
int birch_archive_encode(const birch_value_format *f, const void *value, void *out, size_t size);
int birch_archive_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap);

/* The same on a type, outside a table.  measure: the exact size src
 * archives to (BIRCH_EINVAL for a source that cannot be archived: invalid
 * UTF-8 in a string, NULL data with a length, a bool whose byte is neither
 * 0 nor 1 (it is read as a byte, never loaded as a bool), nesting deeper
 * than BIRCH_ARCHIVE_MAX_DEPTH; BIRCH_EVALSIZE past 2^32 - 1 bytes).  write:
 * zero-fills buf (8-byte aligned, as every table value is; size from
 * measure) and archives src into it.  check: the verification above (the
 * buffer too must be 8-byte aligned); BIRCH_OK or BIRCH_EFORMAT with the
 * failed check in msg (which may be NULL). */
int birch_archive_measure(const birch_archive_type *t, const void *src, size_t *size);
int birch_archive_write(const birch_archive_type *t, const void *src, void *buf, size_t size);
int birch_archive_check(const birch_archive_type *t, const void *buf, size_t size, char *msg, size_t cap);

static inline const void *birch_archive_at_(const void *obj, uint32_t off)
{
    return (const char *)obj + off;
}
static inline birch_val birch_archive_val_(const void *obj, birch_archive_ref r)
{
    birch_val v;
    v.data = r.off || r.len ? birch_archive_at_(obj, r.off) : NULL;
    v.size = r.len;
    return v;
}

/* ---- BIRCH_ARCHIVE ----------------------------------------------------------- */

#define BIRCH_ARCHIVE(T, ver, FIELDS) BIRCH_AR_DEFINE_(T, ver, FIELDS(BIRCH_AR_PAREN_) BIRCH_AR_STOP_)

/* FIELDS(BIRCH_AR_PAREN_) turns the list into "(u64, id), (string, name), "
 * so that it can be walked with T at hand (a fixed number of steps). */
#define BIRCH_AR_PAREN_(...) (__VA_ARGS__),
#define BIRCH_AR_CAT_(a, b) BIRCH_AR_CAT_I_(a, b)
#define BIRCH_AR_CAT_I_(a, b) a##b
#define BIRCH_AR_UNPAREN_(...) __VA_ARGS__
#define BIRCH_AR_FOR_(F, T, ...) BIRCH_AR_CAT_(BIRCH_AR_FE_, BIRCH_AR_NARG_(__VA_ARGS__))(F, T, __VA_ARGS__)
#define BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_CALL_I_((F, T, BIRCH_AR_UNPAREN_ e))
#define BIRCH_AR_CALL_I_(args) BIRCH_AR_CALL_ args
#define BIRCH_AR_CALL_(F, T, kind, ...) BIRCH_AR_K_##kind(F, T, __VA_ARGS__)
#define BIRCH_AR_NARG_(...) BIRCH_AR_NARG_I_(__VA_ARGS__, 65, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define BIRCH_AR_NARG_I_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, _33, _34, _35, _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46, _47, _48, _49, _50, _51, _52, _53, _54, _55, _56, _57, _58, _59, _60, _61, _62, _63, _64, _65, n, ...) n
#define BIRCH_AR_FE_1(F, T, stop)
#define BIRCH_AR_FE_2(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_1(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_3(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_2(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_4(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_3(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_5(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_4(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_6(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_5(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_7(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_6(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_8(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_7(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_9(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_8(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_10(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_9(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_11(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_10(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_12(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_11(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_13(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_12(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_14(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_13(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_15(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_14(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_16(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_15(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_17(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_16(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_18(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_17(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_19(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_18(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_20(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_19(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_21(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_20(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_22(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_21(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_23(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_22(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_24(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_23(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_25(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_24(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_26(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_25(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_27(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_26(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_28(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_27(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_29(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_28(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_30(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_29(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_31(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_30(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_32(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_31(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_33(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_32(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_34(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_33(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_35(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_34(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_36(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_35(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_37(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_36(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_38(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_37(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_39(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_38(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_40(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_39(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_41(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_40(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_42(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_41(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_43(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_42(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_44(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_43(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_45(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_44(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_46(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_45(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_47(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_46(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_48(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_47(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_49(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_48(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_50(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_49(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_51(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_50(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_52(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_51(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_53(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_52(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_54(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_53(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_55(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_54(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_56(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_55(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_57(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_56(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_58(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_57(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_59(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_58(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_60(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_59(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_61(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_60(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_62(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_61(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_63(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_62(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_64(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_63(F, T, __VA_ARGS__)
#define BIRCH_AR_FE_65(F, T, e, ...) BIRCH_AR_APPLY_(F, T, e) BIRCH_AR_FE_64(F, T, __VA_ARGS__)

/* Kinds: each expands family F's macro for its class. */
#define BIRCH_AR_K_u8(F, T, n) F##_SCALAR(T, n, uint8_t, u8)
#define BIRCH_AR_K_u16(F, T, n) F##_SCALAR(T, n, uint16_t, u16)
#define BIRCH_AR_K_u32(F, T, n) F##_SCALAR(T, n, uint32_t, u32)
#define BIRCH_AR_K_u64(F, T, n) F##_SCALAR(T, n, uint64_t, u64)
#define BIRCH_AR_K_i8(F, T, n) F##_SCALAR(T, n, int8_t, i8)
#define BIRCH_AR_K_i16(F, T, n) F##_SCALAR(T, n, int16_t, i16)
#define BIRCH_AR_K_i32(F, T, n) F##_SCALAR(T, n, int32_t, i32)
#define BIRCH_AR_K_i64(F, T, n) F##_SCALAR(T, n, int64_t, i64)
#define BIRCH_AR_K_f32(F, T, n) F##_SCALAR(T, n, float, f32)
#define BIRCH_AR_K_f64(F, T, n) F##_SCALAR(T, n, double, f64)
#define BIRCH_AR_K_bool(F, T, n) F##_BOOL(T, n)
#define BIRCH_AR_K__Bool(F, T, n) F##_BOOL(T, n) /* bool after <stdbool.h> expanded it */
#define BIRCH_AR_K_string(F, T, n) F##_STR(T, n, BIRCH_AK_STRING, 0)
#define BIRCH_AR_K_bytes(F, T, n) F##_STR(T, n, BIRCH_AK_BYTES, 0)
#define BIRCH_AR_K_opt_string(F, T, n) F##_STR(T, n, BIRCH_AK_STRING, 1) F##_HAS(T, n)
#define BIRCH_AR_K_opt_bytes(F, T, n) F##_STR(T, n, BIRCH_AK_BYTES, 1) F##_HAS(T, n)
#define BIRCH_AR_K_vec_u8(F, T, n) F##_VEC(T, n, uint8_t, u8)
#define BIRCH_AR_K_vec_u16(F, T, n) F##_VEC(T, n, uint16_t, u16)
#define BIRCH_AR_K_vec_u32(F, T, n) F##_VEC(T, n, uint32_t, u32)
#define BIRCH_AR_K_vec_u64(F, T, n) F##_VEC(T, n, uint64_t, u64)
#define BIRCH_AR_K_vec_i8(F, T, n) F##_VEC(T, n, int8_t, i8)
#define BIRCH_AR_K_vec_i16(F, T, n) F##_VEC(T, n, int16_t, i16)
#define BIRCH_AR_K_vec_i32(F, T, n) F##_VEC(T, n, int32_t, i32)
#define BIRCH_AR_K_vec_i64(F, T, n) F##_VEC(T, n, int64_t, i64)
#define BIRCH_AR_K_vec_f32(F, T, n) F##_VEC(T, n, float, f32)
#define BIRCH_AR_K_vec_f64(F, T, n) F##_VEC(T, n, double, f64)
#define BIRCH_AR_K_nested(F, T, N, n) F##_NESTED(T, N, n, 0)
#define BIRCH_AR_K_opt_nested(F, T, N, n) F##_NESTED(T, N, n, 1) F##_HAS(T, n)
#define BIRCH_AR_K_vec_nested(F, T, N, n) F##_VECNESTED(T, N, n)

/* Family SRC: the members of T_src. */
#define BIRCH_AR_SRC_SCALAR(T, n, CT, E) CT n;
#define BIRCH_AR_SRC_BOOL(T, n) bool n;
#define BIRCH_AR_SRC_STR(T, n, k, opt) birch_val n;
#define BIRCH_AR_SRC_VEC(T, n, CT, E) birch_vec_##E n;
#define BIRCH_AR_SRC_NESTED(T, N, n, opt) BIRCH_AR_SRC_NESTED_##opt(N, n)
#define BIRCH_AR_SRC_NESTED_0(N, n) N##_src n;
#define BIRCH_AR_SRC_NESTED_1(N, n) const N##_src *n;
#define BIRCH_AR_SRC_VECNESTED(T, N, n) N##_src_vec n;
#define BIRCH_AR_SRC_HAS(T, n)

/* Family ARCH: the members of T_arch. */
#define BIRCH_AR_ARCH_SCALAR(T, n, CT, E) _Alignas(sizeof(CT)) CT n;
#define BIRCH_AR_ARCH_BOOL(T, n) uint8_t n;
#define BIRCH_AR_ARCH_STR(T, n, k, opt) birch_archive_ref n;
#define BIRCH_AR_ARCH_VEC(T, n, CT, E) birch_archive_ref n;
#define BIRCH_AR_ARCH_NESTED(T, N, n, opt) birch_archive_ref n;
#define BIRCH_AR_ARCH_VECNESTED(T, N, n) birch_archive_ref n;
#define BIRCH_AR_ARCH_HAS(T, n)

/* Family DESC: the member table. */
#define BIRCH_AR_OFFS_(T, n) (uint32_t)offsetof(T##_arch, n), (uint32_t)offsetof(T##_src, n)
#define BIRCH_AR_DESC_SCALAR(T, n, CT, E) {#n, #E, BIRCH_AK_SCALAR, 0, sizeof(CT), BIRCH_AR_OFFS_(T, n), NULL},
#define BIRCH_AR_DESC_BOOL(T, n) {#n, "bool", BIRCH_AK_BOOL, 0, 1, BIRCH_AR_OFFS_(T, n), NULL},
#define BIRCH_AR_DESC_STR(T, n, k, opt) {#n, NULL, k, opt, 1, BIRCH_AR_OFFS_(T, n), NULL},
#define BIRCH_AR_DESC_VEC(T, n, CT, E) {#n, #E, BIRCH_AK_VEC, 0, sizeof(CT), BIRCH_AR_OFFS_(T, n), NULL},
#define BIRCH_AR_DESC_NESTED(T, N, n, opt) {#n, #N, BIRCH_AK_NESTED, opt, 0, BIRCH_AR_OFFS_(T, n), &N##_archive.type},
#define BIRCH_AR_DESC_VECNESTED(T, N, n) {#n, #N, BIRCH_AK_VEC_NESTED, 0, 0, BIRCH_AR_OFFS_(T, n), &N##_archive.type},
#define BIRCH_AR_DESC_HAS(T, n)

/* Family ACC: the accessors. */
#define BIRCH_AR_ACC_SCALAR(T, n, CT, E)                                                           \
    BIRCH_MAYBE_UNUSED_ static inline CT T##_##n(const T##_arch *a) { return a->n; }
#define BIRCH_AR_ACC_BOOL(T, n)                                                                    \
    BIRCH_MAYBE_UNUSED_ static inline bool T##_##n(const T##_arch *a) { return a->n != 0; }
#define BIRCH_AR_ACC_STR(T, n, k, opt)                                                             \
    BIRCH_MAYBE_UNUSED_ static inline birch_val T##_##n(const T##_arch *a)                         \
    {                                                                                              \
        return birch_archive_val_(a, a->n);                                                        \
    }
#define BIRCH_AR_ACC_VEC(T, n, CT, E)                                                              \
    BIRCH_MAYBE_UNUSED_ static inline birch_vec_##E T##_##n(const T##_arch *a)                     \
    {                                                                                              \
        birch_vec_##E v;                                                                           \
        v.data = (const CT *)birch_archive_at_(a, a->n.off);                                       \
        v.len = a->n.len;                                                                          \
        return v;                                                                                  \
    }
#define BIRCH_AR_ACC_NESTED(T, N, n, opt)                                                          \
    BIRCH_MAYBE_UNUSED_ static inline const N##_arch *T##_##n(const T##_arch *a)                   \
    {                                                                                              \
        return opt && a->n.off == 0 ? NULL : (const N##_arch *)birch_archive_at_(a, a->n.off);     \
    }
#define BIRCH_AR_ACC_VECNESTED(T, N, n)                                                            \
    BIRCH_MAYBE_UNUSED_ static inline N##_vec T##_##n(const T##_arch *a)                           \
    {                                                                                              \
        N##_vec v;                                                                                 \
        v.data = (const N##_arch *)birch_archive_at_(a, a->n.off);                                 \
        v.len = a->n.len;                                                                          \
        return v;                                                                                  \
    }
#define BIRCH_AR_ACC_HAS(T, n)                                                                     \
    BIRCH_MAYBE_UNUSED_ static inline bool T##_has_##n(const T##_arch *a) { return a->n.off != 0; }

#define BIRCH_AR_DEFINE_(T, ver, ...)                                                              \
    typedef struct T##_src T##_src;                                                                \
    typedef struct T##_src_vec {                                                                   \
        const T##_src *data;                                                                       \
        size_t len;                                                                                \
    } T##_src_vec;                                                                                 \
    struct T##_src {                                                                               \
        BIRCH_AR_FOR_(BIRCH_AR_SRC, T, __VA_ARGS__)                                                \
    };                                                                                             \
    typedef struct T##_arch T##_arch;                                                              \
    typedef struct T##_vec {                                                                       \
        const T##_arch *data;                                                                      \
        size_t len;                                                                                \
    } T##_vec;                                                                                     \
    struct T##_arch {                                                                              \
        BIRCH_AR_FOR_(BIRCH_AR_ARCH, T, __VA_ARGS__)                                               \
    };                                                                                             \
    /* The description and its members in one object, so that a member may                        \
     * point at its own type (opt_nested and vec_nested of T). */                                  \
    BIRCH_MAYBE_UNUSED_ static const struct {                                                      \
        birch_archive_type type;                                                                   \
        birch_archive_member members[BIRCH_AR_NARG_(__VA_ARGS__) - 1];                             \
    } T##_archive = {                                                                              \
        {#T, (ver), (uint32_t)sizeof(T##_arch), (uint32_t)_Alignof(T##_arch), sizeof(T##_src),     \
         BIRCH_AR_NARG_(__VA_ARGS__) - 1, T##_archive.members},                                    \
        {BIRCH_AR_FOR_(BIRCH_AR_DESC, T, __VA_ARGS__)}};                                           \
    BIRCH_MAYBE_UNUSED_ static const birch_value_format T##_format = {                             \
        "archive", 1, (uint32_t)_Alignof(T##_arch), sizeof(T##_src), birch_archive_describe,       \
        birch_archive_size, birch_archive_encode, birch_archive_verify, NULL, &T##_archive.type};  \
    BIRCH_AR_FOR_(BIRCH_AR_ACC, T, __VA_ARGS__)                                                    \
    BIRCH_MAYBE_UNUSED_ static inline int T##_archive_size(const T##_src *s, size_t *size)         \
    {                                                                                              \
        return birch_archive_measure(&T##_archive.type, s, size);                                  \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int T##_archive_build(const T##_src *s, void *buf, size_t size) \
    {                                                                                              \
        return birch_archive_write(&T##_archive.type, s, buf, size);                               \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int T##_archive_verify(const void *buf, size_t size, char *msg, \
                                                             size_t cap)                           \
    {                                                                                              \
        return birch_archive_check(&T##_archive.type, buf, size, msg, cap);                        \
    }                                                                                              \
    /* The root of a verified buffer (a guard's view, a stream item's view). */                    \
    BIRCH_MAYBE_UNUSED_ static inline const T##_arch *T##_archive_root(const void *buf)            \
    {                                                                                              \
        return (const T##_arch *)buf;                                                              \
    }                                                                                              \
    typedef int T##_archive_declared_

/* ---- Type-safe table wrappers --------------------------------------------------- */

/* Like BIRCH_TYPED_TABLE, for a table of archives of type T:
 *
 *   BIRCH_ARCHIVE_TABLE(customers, uint64_t, Customer, birch_key_u64);
 *
 * gives customers_open(db, txn, flags, t), customers_put(txn, t, key,
 * const Customer_src *), customers_get(txn, t, key, customers_guard *),
 * const Customer_arch *customers_view(const customers_guard *),
 * customers_release, customers_delete, customers_contains and
 * customers_stream, with the value format Customer_format. */
#define BIRCH_ARCHIVE_TABLE(name, KeyT, T, keyfmt)                                                 \
    typedef struct name##_guard {                                                                  \
        birch_guard g;                                                                             \
    } name##_guard;                                                                                \
    BIRCH_MAYBE_UNUSED_ static inline int name##_open(birch_db *db, birch_txn *txn, unsigned flags, \
                                                      birch_typed *t)                              \
    {                                                                                              \
        if (sizeof(KeyT) != (keyfmt).c_size) return BIRCH_EINVAL; /* the key type does not match */ \
        return birch_typed_open(db, txn, #name, &(keyfmt), &T##_format, flags, t);                 \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int name##_put(birch_txn *txn, const birch_typed *t, KeyT key, \
                                                     const T##_src *v)                             \
    {                                                                                              \
        return birch_typed_put(txn, t, &key, v, 0);                                                \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int name##_get(birch_txn *txn, const birch_typed *t, KeyT key, \
                                                     name##_guard *g)                              \
    {                                                                                              \
        return birch_typed_get(txn, t, &key, &g->g);                                               \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline const T##_arch *name##_view(const name##_guard *g)           \
    {                                                                                              \
        return (const T##_arch *)g->g.view;                                                        \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int name##_release(name##_guard *g)                          \
    {                                                                                              \
        return birch_guard_release(&g->g);                                                         \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int name##_delete(birch_txn *txn, const birch_typed *t, KeyT key) \
    {                                                                                              \
        return birch_typed_delete(txn, t, &key);                                                   \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int name##_contains(birch_txn *txn, const birch_typed *t,    \
                                                          KeyT key)                                \
    {                                                                                              \
        return birch_typed_contains(txn, t, &key);                                                 \
    }                                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int name##_stream(birch_txn *txn, const birch_typed *t,      \
                                                        const birch_stream_opts *o, birch_stream **s) \
    {                                                                                              \
        return birch_stream_open(txn, t, o, s);                                                    \
    }                                                                                              \
    typedef int name##_declared_

#ifdef __cplusplus
}
#endif
#endif /* BIRCH_ARCHIVE_H */
