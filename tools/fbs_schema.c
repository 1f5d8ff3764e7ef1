/*
 * fbs_schema.c - the binary schema flatc writes (`flatc --schema -b`), read
 * through birch's own FlatBuffers verifier and accessors (fbs_reflection.h)
 * into the model of fbs_schema.h.
 *
 * Everything the header will say is decided here, and everything that C
 * or birch cannot say is refused here with a named error, so that the
 * emitter never writes a header that misreads: a union of structs, a
 * struct whose layout a C compiler would not reproduce, 64-bit offsets,
 * a type name that C reserves.  The binary schema is checked like any
 * other input (it passed the verifier; every index is bounded here).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fbs_reflection.h"
#include "fbs_schema.h"

/* reflection.AdvancedFeatures: what a schema may use beyond the basics.
 * Bits birch does not know are refused (a newer flatc's features). */
enum {
    ADV_ARRAYS = 1,         /* fixed-size arrays in structs */
    ADV_UNIONS = 2,         /* vectors of unions, unions of non-tables */
    ADV_OPTIONAL = 4,       /* scalar = null */
    ADV_DEFAULT_VECTORS = 8 /* [T] = [], string = "" */
};

typedef struct loader {
    fbs_schema *s;
    const reflection_Schema_table *rs;
    char *err;
    size_t cap;
} loader;

static int fail(loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(loader *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, l->cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- Scalars --------------------------------------------------------------- */

static int is_scalar(int base) { return base >= reflection_Bool && base <= reflection_Double; }
static int is_integer(int base) { return base >= reflection_Bool && base <= reflection_ULong; }

static const char *const C_TYPES[] = {
    [reflection_UType] = "uint8_t", [reflection_Bool] = "_Bool",    [reflection_Byte] = "int8_t",
    [reflection_UByte] = "uint8_t", [reflection_Short] = "int16_t", [reflection_UShort] = "uint16_t",
    [reflection_Int] = "int32_t",   [reflection_UInt] = "uint32_t", [reflection_Long] = "int64_t",
    [reflection_ULong] = "uint64_t", [reflection_Float] = "float",  [reflection_Double] = "double",
};
static const char *const TOKENS[] = {
    [reflection_UType] = "u8",  [reflection_Bool] = "bool",  [reflection_Byte] = "i8",
    [reflection_UByte] = "u8",  [reflection_Short] = "i16",  [reflection_UShort] = "u16",
    [reflection_Int] = "i32",   [reflection_UInt] = "u32",   [reflection_Long] = "i64",
    [reflection_ULong] = "u64", [reflection_Float] = "f32",  [reflection_Double] = "f64",
};

const char *fbs_c_type(int base)
{
    return base >= reflection_UType && base <= reflection_Double ? C_TYPES[base] : NULL;
}
const char *fbs_token(int base) { return base >= reflection_UType && base <= reflection_Double ? TOKENS[base] : NULL; }

static uint32_t scalar_size(int base)
{
    static const uint8_t size[] = {0, 1, 1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
    return base >= 0 && base <= reflection_Double ? size[base] : 0;
}

/* ---- Names ------------------------------------------------------------------- */

/* Words a C type name or struct member may not be: C11's keywords, and the
 * type names the generated header itself uses. */
static int reserved(const char *s)
{
    static const char *const WORDS[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
        "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
        "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
        "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic",
        "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local", "bool", "true", "false", "size_t",
        "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t", "int64_t", "uint64_t", "NULL",
    };
    for (size_t i = 0; i < sizeof WORDS / sizeof WORDS[0]; i++)
        if (strcmp(s, WORDS[i]) == 0) return 1;
    return 0;
}

/* Names that a header the generated one includes, or the compiler itself
 * (gnu11 predefines `linux` and `unix`), defines as object-like macros: a
 * field of that name would be replaced inside the field list's macros. */
static int macro_word(const char *s)
{
    static const char *const WORDS[] = {
        "linux", "unix", "i386", "errno", "EOF", "stdin", "stdout", "stderr", "NAN", "INFINITY",
        "HUGE_VAL", "HUGE_VALF", "HUGE_VALL", "FP_NAN", "FP_INFINITE", "FP_ZERO", "FP_NORMAL",
        "FP_SUBNORMAL", "SIZE_MAX", "BUFSIZ", "FILENAME_MAX",
    };
    for (size_t i = 0; i < sizeof WORDS / sizeof WORDS[0]; i++)
        if (strcmp(s, WORDS[i]) == 0) return 1;
    return 0;
}

/* Names longer than this are refused: the emitter's lines and messages
 * hold a few of them and must never be cut short. */
enum { MAX_NAME = 128 };

static int identifier(const char *s)
{
    if (strlen(s) > MAX_NAME) return 0;
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* Names that look like macros: reserved ones (__x, _X), and names in
 * upper case (INT8_MAX, M_PI, EINVAL, BIRCH_OK: a header's macro would
 * replace them inside the field lists).  FlatBuffers fields are snake_case
 * (flatc warns otherwise), so the suffix this earns is rarely seen. */
static int macro_like(const char *s)
{
    if (s[0] == '_' && (s[1] == '_' || (s[1] >= 'A' && s[1] <= 'Z'))) return 1;
    int upper = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= 'a' && *p <= 'z') return 0;
        upper |= *p >= 'A' && *p <= 'Z';
    }
    return upper;
}

/* A schema's full name in C: "Inv.Item" -> "Inv_Item" (flatcc's convention),
 * malloc'd; NULL when out of memory or not an identifier then. */
static char *c_name(loader *l, const char *what, const char *full)
{
    char *c = strdup(full);
    if (!c) return fail(l, "out of memory"), NULL;
    for (char *p = c; *p; p++)
        if (*p == '.') *p = '_';
    if (!identifier(c)) {
        fail(l, "%s '%.*s': not a C identifier of at most %d characters once '.' becomes '_'", what, MAX_NAME,
             full, MAX_NAME);
        free(c);
        return NULL;
    }
    if (reserved(c) || macro_word(c) || (c[0] == '_' && (c[1] == '_' || (c[1] >= 'A' && c[1] <= 'Z'))) ||
        strcmp(c, "birch") == 0 || strncmp(c, "birch_", 6) == 0 || strncmp(c, "BIRCH_", 6) == 0) {
        fail(l, "%s '%s': '%s' is reserved in C or by birch; rename it or put it in a namespace", what, full, c);
        free(c);
        return NULL;
    }
    return c;
}

/* PREFIX_NAME, malloc'd. */
static char *joined(loader *l, const char *prefix, const char *name)
{
    size_t a = strlen(prefix), b = strlen(name);
    char *c = malloc(a + b + 2);
    if (!c) return fail(l, "out of memory"), NULL;
    memcpy(c, prefix, a);
    c[a] = '_';
    memcpy(c + a + 1, name, b + 1);
    for (char *p = c; *p; p++)
        if (*p == '.') *p = '_';
    if (!identifier(c)) {
        fail(l, "'%s' of %s: not a C identifier", name, prefix);
        free(c);
        return NULL;
    }
    return c;
}

/* The value of attribute key among attrs, or NULL. */
static const char *attribute(const reflection_Object_table *o, const reflection_Field_table *f,
                             const reflection_Enum_table *e, const char *key)
{
    for (size_t i = 0;; i++) {
        const reflection_KeyValue_table *kv = o   ? reflection_Object_attributes_at(o, i)
                                              : f ? reflection_Field_attributes_at(f, i)
                                                  : reflection_Enum_attributes_at(e, i);
        if (!kv) return NULL;
        if (strcmp(reflection_KeyValue_key(kv), key) == 0) {
            const char *v = reflection_KeyValue_value(kv);
            return v ? v : "";
        }
    }
}

/* ---- Enums and unions -------------------------------------------------------- */

static int load_value(loader *l, fbs_enum *e, const reflection_EnumVal_table *rv, fbs_value *v)
{
    v->name = reflection_EnumVal_name(rv);
    v->value = reflection_EnumVal_value(rv);
    v->object = -1;
    if (!(v->cname = joined(l, e->cname, v->name))) return -1;
    if (!e->is_union || v->value == 0) return 0;
    const reflection_Type_table *ut = reflection_EnumVal_union_type(rv);
    int32_t idx = reflection_Type_index(ut);
    if (reflection_Type_base_type(ut) != reflection_Obj || idx < 0 || (size_t)idx >= l->s->nobjects)
        return fail(l, "union %s: member %s is not a table; birch's unions hold tables only", e->name, v->name);
    if (reflection_Object_is_struct(reflection_Schema_objects_at(l->rs, (size_t)idx)))
        return fail(l, "union %s: member %s is a struct; birch's unions hold tables only (flatc supports "
                       "those for C++ only)", e->name, v->name);
    if (v->value < 1 || v->value > 255) return fail(l, "union %s: member %s has type value %lld, not 1..255",
                                                    e->name, v->name, (long long)v->value);
    v->object = idx;
    return 0;
}

static int load_enum(loader *l, size_t i)
{
    const reflection_Enum_table *re = reflection_Schema_enums_at(l->rs, i);
    fbs_enum *e = &l->s->enums[i];
    e->name = reflection_Enum_name(re);
    e->is_union = reflection_Enum_is_union(re);
    e->bit_flags = attribute(NULL, NULL, re, "bit_flags") != NULL;
    e->base = reflection_Type_base_type(reflection_Enum_underlying_type(re));
    if (!(e->cname = c_name(l, e->is_union ? "union" : "enum", e->name))) return -1;
    if (!is_integer(e->base) && e->base != reflection_UType)
        return fail(l, "enum %s: underlying type %d is not an integer", e->name, e->base);
    size_t n = reflection_Enum_values_len(re);
    if (!(e->values = calloc(n ? n : 1, sizeof *e->values))) return fail(l, "out of memory");
    e->nvalues = n;
    e->c_enum = scalar_size(e->base) <= 4; /* a long enum's later values would not fit an int */
    for (size_t k = 0; k < n; k++) {
        if (load_value(l, e, reflection_Enum_values_at(re, k), &e->values[k]) != 0) return -1;
        int64_t v = e->values[k].value;
        if (v < INT_MIN || v > INT_MAX || (e->base == reflection_ULong && v < 0)) e->c_enum = 0;
    }
    return 0;
}

/* ---- Fields ------------------------------------------------------------------- */

static int find_object(const fbs_schema *s, const char *full)
{
    for (size_t i = 0; i < s->nobjects; i++)
        if (strcmp(s->objects[i].name, full) == 0) return (int)i;
    return -1;
}

/* The object a nested_flatbuffer attribute names, looked up as flatc
 * does: in the field's table's namespace and each enclosing one. */
static int nested_root(loader *l, const fbs_object *o, const char *name)
{
    char buf[1024];
    size_t ns = strlen(o->name);
    for (;;) {
        while (ns > 0 && o->name[ns] != '.') ns--; /* drop the last component */
        if (ns + 1 + strlen(name) + 1 > sizeof buf) return -1;
        if (ns) {
            memcpy(buf, o->name, ns);
            buf[ns] = '.';
            strcpy(buf + ns + 1, name);
        } else {
            strcpy(buf, name);
        }
        int i = find_object(l->s, buf);
        if (i >= 0 || ns == 0) return i;
        ns--;
    }
}

static int bounded(loader *l, const fbs_object *o, const fbs_field *f, int32_t idx, size_t n, const char *what)
{
    if (idx >= 0 && (size_t)idx < n) return 0;
    return fail(l, "%s.%s: %s index %d out of range (a damaged binary schema)", o->name, f->name, what, idx);
}

/* An enum index that must name a union (is_union) or a plain enum. */
static int enum_of(loader *l, const fbs_object *o, const fbs_field *f, int32_t idx, int is_union)
{
    if (bounded(l, o, f, idx, l->s->nenums, "enum") != 0) return -1;
    if (l->s->enums[idx].is_union == is_union) return 0;
    return fail(l, "%s.%s: type %s is %s (a damaged binary schema)", o->name, f->name, l->s->enums[idx].name,
                is_union ? "not a union" : "a union");
}

/* A table field's kind from its type. */
static int table_field(loader *l, const fbs_object *o, fbs_field *f, const reflection_Field_table *rf)
{
    const reflection_Type_table *t = reflection_Field_type(rf);
    int base = reflection_Type_base_type(t), elem = reflection_Type_element(t);
    int32_t idx = reflection_Type_index(t);
    size_t no = l->s->nobjects;
    f->base = base;
    if (base == reflection_UType) {
        f->kind = FBS_UTYPE;
        return enum_of(l, o, f, idx, 1);
    }
    if (is_scalar(base)) {
        if (idx >= 0) {
            if (enum_of(l, o, f, idx, 0) != 0) return -1;
            f->enumi = idx;
        }
        f->kind = reflection_Field_optional(rf) ? FBS_OPTIONAL : idx >= 0 ? FBS_ENUM : FBS_SCALAR;
        return 0;
    }
    switch (base) {
    case reflection_String:
        f->kind = FBS_STRING;
        return 0;
    case reflection_Obj:
        if (bounded(l, o, f, idx, no, "object") != 0) return -1;
        f->object = idx;
        f->kind = reflection_Object_is_struct(reflection_Schema_objects_at(l->rs, (size_t)idx)) ? FBS_STRUCT : FBS_TABLE;
        return 0;
    case reflection_Union:
        if (enum_of(l, o, f, idx, 1) != 0) return -1;
        f->enumi = idx;
        f->kind = FBS_UNION;
        return 0;
    case reflection_Vector:
        break;
    case reflection_Array:
        return fail(l, "%s.%s: a fixed-size array in a table (arrays belong in structs)", o->name, f->name);
    default:
        return fail(l, "%s.%s: type %d is not one birch knows (64-bit offsets and vectors, from a newer flatc, "
                       "are not supported)", o->name, f->name, base);
    }
    f->base = elem;
    const char *nested = attribute(NULL, rf, NULL, "nested_flatbuffer");
    if (nested) {
        if (elem != reflection_UByte)
            return fail(l, "%s.%s: nested_flatbuffer on a vector that is not [ubyte]", o->name, f->name);
        if ((f->object = nested_root(l, o, nested)) < 0 || l->s->objects[f->object].is_struct)
            return fail(l, "%s.%s: nested_flatbuffer \"%s\" names no table", o->name, f->name, nested);
        f->kind = FBS_NESTED;
        return 0;
    }
    if (elem == reflection_UType) {
        f->kind = FBS_UTYPE;
        return enum_of(l, o, f, idx, 1);
    }
    if (is_scalar(elem)) {
        if (idx >= 0 && enum_of(l, o, f, idx, 0) != 0) return -1;
        f->enumi = idx >= 0 ? idx : -1;
        f->kind = idx >= 0 ? FBS_VECTOR_ENUM : FBS_VECTOR;
        return 0;
    }
    switch (elem) {
    case reflection_String:
        f->kind = FBS_VECTOR_STRING;
        return 0;
    case reflection_Obj:
        if (bounded(l, o, f, idx, no, "object") != 0) return -1;
        f->object = idx;
        f->kind = reflection_Object_is_struct(reflection_Schema_objects_at(l->rs, (size_t)idx)) ? FBS_VECTOR_STRUCT
                                                                                             : FBS_VECTOR_TABLE;
        return 0;
    case reflection_Union:
        if (enum_of(l, o, f, idx, 1) != 0) return -1;
        f->enumi = idx;
        f->kind = FBS_VECTOR_UNION;
        return 0;
    default:
        return fail(l, "%s.%s: a vector of type %d, which birch does not know", o->name, f->name, elem);
    }
}

/* The size and alignment of a struct member of base type base (object:
 * its struct, if one). */
static int member_shape(loader *l, int base, int32_t idx, uint32_t *size, uint32_t *align)
{
    if (is_scalar(base)) {
        *size = *align = scalar_size(base);
        return 0;
    }
    if (base == reflection_Obj && idx >= 0 && (size_t)idx < l->s->nobjects) {
        const reflection_Object_table *ro = reflection_Schema_objects_at(l->rs, (size_t)idx);
        int32_t bs = reflection_Object_bytesize(ro), ma = reflection_Object_minalign(ro);
        if (!reflection_Object_is_struct(ro) || bs <= 0 || ma <= 0) return -1;
        *size = (uint32_t)bs;
        *align = (uint32_t)ma;
        return 0;
    }
    return -1;
}

static int struct_member(loader *l, const fbs_object *o, fbs_field *f, const reflection_Field_table *rf)
{
    const reflection_Type_table *t = reflection_Field_type(rf);
    int base = reflection_Type_base_type(t);
    int32_t idx = reflection_Type_index(t);
    uint32_t size, align;
    f->kind = FBS_MEMBER;
    f->offset = reflection_Field_offset(rf);
    f->padding = reflection_Field_padding(rf);
    if (base == reflection_Array) {
        f->kind = FBS_ARRAY;
        base = reflection_Type_element(t);
        f->count = reflection_Type_fixed_length(t);
        if (f->count == 0) return fail(l, "struct %s: array %s of no element", o->name, f->name);
    }
    f->base = base;
    if (member_shape(l, base, idx, &size, &align) != 0)
        return fail(l, "struct %s: member %s of type %d, which a struct cannot hold", o->name, f->name, base);
    if (base == reflection_Obj) f->object = idx;
    else if (idx >= 0 && enum_of(l, o, f, idx, 0) == 0) f->enumi = idx;
    else if (idx >= 0) return -1;
    f->size = f->kind == FBS_ARRAY ? size * f->count : size;
    if (f->offset % align != 0)
        return fail(l, "struct %s: member %s at offset %u is not aligned to %u", o->name, f->name, f->offset, align);
    return 0;
}

static int by_id(const void *a, const void *b)
{
    const fbs_field *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}
static int by_offset(const void *a, const void *b)
{
    const fbs_field *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* A struct's members must tile it exactly: each one where the previous
 * one and its padding end, the last one's padding reaching bytesize. */
static int check_layout(loader *l, const fbs_object *o)
{
    uint32_t at = 0;
    if (o->bytesize <= 0 || o->minalign <= 0 || (o->minalign & (o->minalign - 1)) != 0 || o->nfields == 0)
        return fail(l, "struct %s: size %d, alignment %d (a damaged binary schema, or an empty struct)", o->name,
                    o->bytesize, o->minalign);
    for (size_t i = 0; i < o->nfields; i++) {
        const fbs_field *f = &o->fields[i];
        if (f->offset != at)
            return fail(l, "struct %s: member %s at offset %u, expected %u", o->name, f->name, f->offset, at);
        at += f->size + f->padding;
    }
    if (at != (uint32_t)o->bytesize)
        return fail(l, "struct %s: members end at %u, the struct at %d", o->name, at, o->bytesize);
    return 0;
}

/* The largest field id: a vtable holds 4 bytes and one 2-byte slot per id
 * up to the largest, in at most 65,535 bytes. */
#define MAX_FIELD_ID 32764

/* At most how many bytes table o's fields take in the table itself: a
 * table's size is a 16-bit number.  The builder lays fields out by
 * decreasing alignment (birch_fb_end), and every field's size is a
 * multiple of its alignment (a struct's bytesize is padded to it), so no
 * padding falls between them; the padding before the first belongs to no
 * table; up to 3 bytes precede the 4-byte soffset. */
static uint64_t inline_bound(const loader *l, const fbs_object *o)
{
    uint64_t n = 4 + 3;
    for (size_t k = 0; k < o->nfields; k++) {
        const fbs_field *f = &o->fields[k];
        if (f->deprecated) continue; /* never written */
        uint64_t size = 4; /* strings, tables, vectors, unions: an offset */
        if (f->kind == FBS_STRUCT)
            size = (uint64_t)reflection_Object_bytesize(reflection_Schema_objects_at(l->rs, (size_t)f->object));
        else if (f->kind == FBS_SCALAR || f->kind == FBS_ENUM || f->kind == FBS_OPTIONAL || f->kind == FBS_UTYPE)
            size = scalar_size(f->base);
        n += size;
    }
    return n;
}

/* The union type field (id - 1) that goes with a union or vector of unions. */
static int check_union_pair(loader *l, const fbs_object *o, size_t i)
{
    const fbs_field *f = &o->fields[i];
    if (f->kind != FBS_UNION && f->kind != FBS_VECTOR_UNION) return 0;
    const fbs_field *t = i > 0 ? &o->fields[i - 1] : NULL;
    if (!t || t->kind != FBS_UTYPE || t->id + 1 != f->id)
        return fail(l, "%s.%s: no type field with id %d before the union (a damaged binary schema)", o->name,
                    f->name, (int)f->id - 1);
    return 0;
}

static int load_field(loader *l, fbs_object *o, const reflection_Field_table *rf, fbs_field *f)
{
    f->name = reflection_Field_name(rf);
    f->id = reflection_Field_id(rf);
    f->object = f->enumi = -1;
    f->dint = reflection_Field_default_integer(rf);
    f->dreal = reflection_Field_default_real(rf);
    f->required = reflection_Field_required(rf);
    f->key = reflection_Field_key(rf);
    f->deprecated = reflection_Field_deprecated(rf);
    if (!identifier(f->name))
        return fail(l, "%s: field '%.*s' is not a C identifier of at most %d characters", o->name, MAX_NAME, f->name,
                    MAX_NAME);
    size_t n = strlen(f->name);
    /* A struct member is a C member name; a table field's name passes
     * through the field list's macros: either must not be a keyword or
     * a macro, and becomes NAME_ in C when it is. */
    int kw = reserved(f->name) || macro_word(f->name) || strcmp(f->name, "_") == 0 || /* the lists' parameter */
             strncmp(f->name, "birch_", 6) == 0 || macro_like(f->name);
    if (!(f->cname = malloc(n + 2))) return fail(l, "out of memory");
    memcpy(f->cname, f->name, n + 1);
    if (kw) strcpy(f->cname + n, "_"); /* a member named `int` becomes int_ */
    return o->is_struct ? struct_member(l, o, f, rf) : table_field(l, o, f, rf);
}

static int load_object(loader *l, size_t i)
{
    const reflection_Object_table *ro = reflection_Schema_objects_at(l->rs, i);
    fbs_object *o = &l->s->objects[i];
    size_t n = reflection_Object_fields_len(ro);
    o->key = -1;
    o->minalign = reflection_Object_minalign(ro);
    o->bytesize = reflection_Object_bytesize(ro);
    if (!(o->fields = calloc(n ? n : 1, sizeof *o->fields))) return fail(l, "out of memory");
    o->nfields = n;
    for (size_t k = 0; k < n; k++)
        if (load_field(l, o, reflection_Object_fields_at(ro, k), &o->fields[k]) != 0) return -1;
    qsort(o->fields, n, sizeof *o->fields, o->is_struct ? by_offset : by_id);
    if (o->is_struct) return check_layout(l, o);
    if (n && o->fields[n - 1].id > MAX_FIELD_ID)
        return fail(l, "%s.%s: field id %u is above %d (a table's vtable would pass 64 KiB)", o->name,
                    o->fields[n - 1].name, o->fields[n - 1].id, MAX_FIELD_ID);
    if (inline_bound(l, o) > 0xffff)
        return fail(l, "%s: its fields take up to %llu bytes inside the table, more than a table holds (65,535: "
                       "move large structs or many fields into a table of their own)", o->name,
                    (unsigned long long)inline_bound(l, o));
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && o->fields[k].id == o->fields[k - 1].id)
            return fail(l, "%s: two fields with id %u", o->name, o->fields[k].id);
        if (check_union_pair(l, o, k) != 0) return -1;
        if (!o->fields[k].key || o->fields[k].deprecated) continue; /* a deprecated key sorts nothing */
        if (o->key >= 0) return fail(l, "%s: two (key) fields", o->name);
        if (o->fields[k].kind != FBS_STRING && o->fields[k].kind != FBS_SCALAR && o->fields[k].kind != FBS_ENUM)
            return fail(l, "%s.%s: a (key) must be a string or a scalar", o->name, o->fields[k].name);
        o->key = (int)k;
    }
    return 0;
}

/* The C alignment of struct i: its members' largest (nested structs by
 * their own C alignment), which force_align may exceed.  Structs nest
 * without cycles in a schema flatc wrote; depth bounds a damaged one. */
static int struct_calign(loader *l, size_t i, int depth)
{
    fbs_object *o = &l->s->objects[i];
    if (o->calign) return o->calign;
    if (depth > 64) return fail(l, "struct %s: nested in itself (a damaged binary schema)", o->name), -1;
    int a = 1;
    for (size_t k = 0; k < o->nfields; k++) {
        const fbs_field *f = &o->fields[k];
        int fa = f->object >= 0 ? struct_calign(l, (size_t)f->object, depth + 1) : (int)scalar_size(f->base);
        if (fa < 0) return -1;
        if (fa > a) a = fa;
    }
    return o->calign = a;
}

/* Alignments the C types and the builder can give: force_align up to 16
 * (flatc allows 32; birch's builder aligns to at most 16). */
static int check_alignments(loader *l)
{
    for (size_t i = 0; i < l->s->nobjects; i++) {
        const fbs_object *o = &l->s->objects[i];
        if (!o->is_struct) continue;
        if (struct_calign(l, i, 0) < 0) return -1;
        if (o->minalign > 16)
            return fail(l, "struct %s: force_align %d; birch aligns structs to at most 16", o->name, o->minalign);
        if (o->minalign < o->calign)
            return fail(l, "struct %s: alignment %d below its members' %d (a damaged binary schema)", o->name,
                        o->minalign, o->calign);
    }
    return 0;
}

/* flatc 2.0.8 writes a ulong default above INT64_MAX as 0 into the binary
 * schema: an enum field (not bit_flags) whose default is no value of its
 * enum can only be that, and would read as 0. */
static int check_enum_defaults(loader *l)
{
    for (size_t i = 0; i < l->s->nobjects; i++) {
        const fbs_object *o = &l->s->objects[i];
        for (size_t k = 0; k < o->nfields && !o->is_struct; k++) {
            const fbs_field *f = &o->fields[k];
            if (f->kind != FBS_ENUM || f->deprecated) continue;
            const fbs_enum *e = &l->s->enums[f->enumi];
            int found = e->bit_flags;
            for (size_t v = 0; v < e->nvalues && !found; v++) found = e->values[v].value == f->dint;
            if (!found)
                return fail(l, "%s.%s: the binary schema gives the default %lld, which enum %s has no value for "
                               "(flatc 2.0.8 loses ulong defaults above 9223372036854775807): give the field a "
                               "default that is one of the enum's first 2^63 values, or none",
                            o->name, f->name, (long long)f->dint, e->name);
        }
    }
    return 0;
}

/* ---- The schema -------------------------------------------------------------- */

static int load_names(loader *l)
{
    for (size_t i = 0; i < l->s->nobjects; i++) {
        const reflection_Object_table *ro = reflection_Schema_objects_at(l->rs, i);
        fbs_object *o = &l->s->objects[i];
        o->name = reflection_Object_name(ro);
        o->is_struct = reflection_Object_is_struct(ro); /* before any field refers to it */
        o->decl = reflection_Object_declaration_file(ro);
        if (!(o->cname = c_name(l, reflection_Object_is_struct(ro) ? "struct" : "table", o->name))) return -1;
    }
    return 0;
}

static int load(loader *l, const void *bfbs, size_t len)
{
    char msg[256];
    if (reflection_Schema_verify(bfbs, len, NULL, msg, sizeof msg) != BIRCH_OK)
        return fail(l, "the binary schema does not verify as a reflection.Schema: %s", msg);
    const reflection_Schema_table *rs = l->rs = reflection_Schema_root(bfbs, len, 0);
    uint64_t adv = reflection_Schema_advanced_features(rs);
    if (adv & ~(uint64_t)(ADV_ARRAYS | ADV_UNIONS | ADV_OPTIONAL | ADV_DEFAULT_VECTORS))
        return fail(l, "the schema uses FlatBuffers features birch does not know (advanced_features 0x%llx; "
                       "64-bit offsets, from a newer flatc, are not supported)", (unsigned long long)adv);
    fbs_schema *s = l->s;
    s->nobjects = reflection_Schema_objects_len(rs);
    s->nenums = reflection_Schema_enums_len(rs);
    s->objects = calloc(s->nobjects ? s->nobjects : 1, sizeof *s->objects);
    s->enums = calloc(s->nenums ? s->nenums : 1, sizeof *s->enums);
    if (!s->objects || !s->enums) return fail(l, "out of memory");
    if (load_names(l) != 0) return -1;
    for (size_t i = 0; i < s->nenums; i++)
        if (load_enum(l, i) != 0) return -1;
    for (size_t i = 0; i < s->nobjects; i++)
        if (load_object(l, i) != 0) return -1;
    if (check_alignments(l) != 0 || check_enum_defaults(l) != 0) return -1;
    s->nfiles = reflection_Schema_fbs_files_len(rs);
    if (!(s->files = calloc(s->nfiles ? s->nfiles : 1, sizeof *s->files))) return fail(l, "out of memory");
    for (size_t i = 0; i < s->nfiles; i++)
        s->files[i] = reflection_SchemaFile_filename(reflection_Schema_fbs_files_at(rs, i));
    s->ident = reflection_Schema_file_ident(rs);
    size_t idlen = reflection_Schema_file_ident_len(rs);
    if (idlen == 0) s->ident = NULL; /* flatc writes "" for none */
    if (s->ident && (idlen != 4 || strlen(s->ident) != 4))
        return fail(l, "the file_identifier is not 4 bytes without a NUL (birch's identifiers are C strings)");
    s->root = -1;
    const reflection_Object_table *root = reflection_Schema_root_table(rs);
    if (root) {
        s->root = find_object(s, reflection_Object_name(root));
        if (s->root < 0 || s->objects[s->root].is_struct) return fail(l, "root_type names no table");
        s->objects[s->root].root = 1;
        if (s->ident) memcpy(s->objects[s->root].ident, s->ident, 5);
    }
    return 0;
}

int fbs_schema_root(const void *bfbs, size_t len, const char **root, char ident[5], char *err, size_t cap)
{
    char msg[256];
    if (reflection_Schema_verify(bfbs, len, NULL, msg, sizeof msg) != BIRCH_OK) {
        snprintf(err, cap, "the binary schema does not verify as a reflection.Schema: %s", msg);
        return -1;
    }
    const reflection_Schema_table *rs = reflection_Schema_root(bfbs, len, 0);
    const char *id = reflection_Schema_file_ident(rs);
    *root = reflection_Object_name(reflection_Schema_root_table(rs)); /* NULL without a root_type */
    memset(ident, 0, 5);
    if (id && reflection_Schema_file_ident_len(rs) == 4 && strlen(id) == 4) memcpy(ident, id, 4);
    return 0;
}

int fbs_schema_load(fbs_schema *s, const void *bfbs, size_t len, char *err, size_t cap)
{
    loader l = {s, NULL, err, cap};
    memset(s, 0, sizeof *s);
    if (load(&l, bfbs, len) == 0) return 0;
    fbs_schema_free(s);
    return -1;
}

void fbs_schema_free(fbs_schema *s)
{
    for (size_t i = 0; s->objects && i < s->nobjects; i++) {
        for (size_t k = 0; s->objects[i].fields && k < s->objects[i].nfields; k++) free(s->objects[i].fields[k].cname);
        free(s->objects[i].fields);
        free(s->objects[i].cname);
    }
    for (size_t i = 0; s->enums && i < s->nenums; i++) {
        for (size_t k = 0; s->enums[i].values && k < s->enums[i].nvalues; k++) free(s->enums[i].values[k].cname);
        free(s->enums[i].values);
        free(s->enums[i].cname);
    }
    free(s->objects);
    free(s->enums);
    free(s->files);
    memset(s, 0, sizeof *s);
}
