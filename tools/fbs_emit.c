/*
 * fbs_emit.c - a schema model (fbs_schema.h) written out as a C header.
 *
 * The header declares every table through birch_flatbuffers.h's field
 * lists (BIRCH_FB_TABLE), so that generated and hand-written declarations
 * are one mechanism, and adds what a schema knows and the macros cannot:
 * C enums with their names, structs laid out from the binary schema with
 * explicit padding and _Static_asserts on every offset, typed union
 * accessors and builders, binary search over (key)ed vectors, and the
 * root's value format.
 *
 * Every block is guarded by a macro of its type's own, so that headers of
 * two schemas that include a third may be included together.  Before a
 * byte is written, every name the header will define is listed and
 * checked for collisions (a field `start` would define Item_start twice).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fbs_reflection.h"
#include "fbs_schema.h"

typedef struct name {
    char *name;
    char *what;
} name;

typedef struct emitter {
    const fbs_schema *s;
    FILE *f;
    name *names;
    size_t n, cap;
    int oom;
} emitter;

static void out(emitter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(emitter *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(e->f, fmt, ap);
    va_end(ap);
}

/* ---- The names the header defines ----------------------------------------- */

static void reg(emitter *e, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reg(emitter *e, const char *what, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 256;
        name *p = realloc(e->names, cap * sizeof *p);
        if (!p) {
            e->oom = 1;
            return;
        }
        e->names = p;
        e->cap = cap;
    }
    name *nm = &e->names[e->n];
    nm->name = strdup(buf);
    nm->what = strdup(what);
    if (!nm->name || !nm->what) {
        free(nm->name);
        free(nm->what);
        e->oom = 1;
        return;
    }
    e->n++;
}

static const char *const FIELD_FNS[][8] = {
    /* What each kind's macros define, after T_NAME (""): see birch_flatbuffers.h. */
    [FBS_SCALAR] = {"", "_present", NULL},
    [FBS_ENUM] = {"", "_present", NULL},
    [FBS_OPTIONAL] = {"", "_present", NULL},
    [FBS_STRUCT] = {"", "_present", NULL},
    [FBS_STRING] = {"", "_len", "_present", NULL},
    [FBS_TABLE] = {"", "_present", NULL},
    [FBS_UNION] = {"", "_type", "_present", NULL},
    [FBS_VECTOR] = {"", "_len", "_at", "_present", NULL},
    [FBS_VECTOR_ENUM] = {"", "_len", "_at", "_present", NULL},
    [FBS_VECTOR_STRUCT] = {"", "_len", "_at", "_present", NULL},
    [FBS_VECTOR_STRING] = {"", "_len", "_at", "_present", NULL},
    [FBS_VECTOR_TABLE] = {"", "_len", "_at", "_present", NULL},
    [FBS_VECTOR_UNION] = {"", "_len", "_at", "_type_at", "_present", NULL},
    [FBS_NESTED] = {"", "_len", "_root", "_present", NULL},
};

/* A union member's name in C names: the constant without the union's
 * prefix ("Other_Thing" for a member Other.Thing). */
static const char *member_suffix(const fbs_enum *u, const fbs_value *m) { return m->cname + strlen(u->cname) + 1; }

static int is_vector(fbs_kind k) { return k >= FBS_VECTOR && k <= FBS_NESTED; }
static int live(const fbs_field *f) { return !f->deprecated && f->kind != FBS_UTYPE; }

static void reg_union_members(emitter *e, const fbs_object *o, const fbs_field *f, const char *what)
{
    const fbs_enum *u = &e->s->enums[f->enumi];
    for (size_t v = 0; v < u->nvalues; v++) {
        if (u->values[v].object < 0) continue;
        const char *m = member_suffix(u, &u->values[v]);
        reg(e, what, "%s_%s_as_%s", o->cname, f->cname, m);
        if (f->kind == FBS_UNION) reg(e, what, "%s_add_%s_as_%s", o->cname, f->cname, m);
    }
}

static void reg_table(emitter *e, const fbs_object *o)
{
    char what[512];
    snprintf(what, sizeof what, "table %s", o->name);
    static const char *const TABLE_FNS[] = {"_table", "_fb", "_fb_fields_", "_fb_declared_", "_start", "_end",
                                            "_finish", "_verify", "_root", "_view", "_FIELDS"};
    for (size_t i = 0; i < sizeof TABLE_FNS / sizeof TABLE_FNS[0]; i++) reg(e, what, "%s%s", o->cname, TABLE_FNS[i]);
    if (o->root) reg(e, what, "%s_format", o->cname), reg(e, what, "%s_format_fb_", o->cname);
    if (o->key >= 0) reg(e, what, "%s_cmp_%s_", o->cname, o->fields[o->key].cname);
    for (size_t i = 0; i < o->nfields; i++) {
        const fbs_field *f = &o->fields[i];
        if (!live(f)) continue;
        snprintf(what, sizeof what, "field %s.%s", o->name, f->name);
        for (const char *const *sfx = FIELD_FNS[f->kind]; *sfx; sfx++) reg(e, what, "%s_%s%s", o->cname, f->cname, *sfx);
        reg(e, what, "%s_add_%s", o->cname, f->cname);
        if (is_vector(f->kind)) reg(e, what, "%s_vec_%s", o->cname, f->cname);
        if (f->kind == FBS_VECTOR_UNION) reg(e, what, "%s_vec_%s_type", o->cname, f->cname);
        if (f->kind == FBS_UNION || f->kind == FBS_VECTOR_UNION) reg_union_members(e, o, f, what);
        if (f->kind == FBS_VECTOR_TABLE && e->s->objects[f->object].key >= 0) {
            const fbs_object *sub = &e->s->objects[f->object];
            reg(e, what, "%s_%s_find_by_%s", o->cname, f->cname, sub->fields[sub->key].cname);
            if (sub->fields[sub->key].kind == FBS_STRING)
                reg(e, what, "%s_%s_find_by_%s_n", o->cname, f->cname, sub->fields[sub->key].cname);
        }
    }
}

static void reg_enum(emitter *e, const fbs_enum *en)
{
    char what[512];
    snprintf(what, sizeof what, "%s %s", en->is_union ? "union" : "enum", en->name);
    reg(e, what, "%s", en->cname);
    reg(e, what, "%s_name", en->cname);
    if (en->is_union) reg(e, what, "%s_fb", en->cname), reg(e, what, "%s_fb_members_", en->cname),
        reg(e, what, "%s_MEMBERS", en->cname);
    for (size_t v = 0; v < en->nvalues; v++) reg(e, what, "%s", en->values[v].cname);
}

static int by_name(const void *a, const void *b) { return strcmp(((const name *)a)->name, ((const name *)b)->name); }

/* Lists every name the header defines; two alike is an error naming both. */
static int check_names(emitter *e, char *err, size_t cap)
{
    const fbs_schema *s = e->s;
    for (size_t i = 0; i < s->nenums; i++) reg_enum(e, &s->enums[i]);
    for (size_t i = 0; i < s->nobjects; i++) {
        if (s->objects[i].is_struct) reg(e, "struct", "%s", s->objects[i].cname);
        else reg_table(e, &s->objects[i]);
    }
    if (e->oom) return snprintf(err, cap, "out of memory"), -1;
    qsort(e->names, e->n, sizeof *e->names, by_name);
    for (size_t i = 1; i < e->n; i++) {
        if (strcmp(e->names[i].name, e->names[i - 1].name) != 0) continue;
        snprintf(err, cap, "the C name %s would be defined twice: by %s and by %s; rename one of them",
                 e->names[i].name, e->names[i - 1].what, e->names[i].what);
        return -1;
    }
    return 0;
}

/* ---- Values ------------------------------------------------------------------ */

static int is_float(int base) { return base == reflection_Float || base == reflection_Double; }
static int is_unsigned(int base)
{
    return base == reflection_UByte || base == reflection_UShort || base == reflection_UInt ||
           base == reflection_ULong || base == reflection_Bool || base == reflection_UType;
}

/* A C constant: an integer of type base. */
static void int_text(char *buf, size_t cap, int base, int64_t v)
{
    if (is_unsigned(base)) {
        uint64_t u = (uint64_t)v;
        if (u <= 0x7fffffff) snprintf(buf, cap, "%" PRIu64, u);
        else snprintf(buf, cap, "UINT64_C(%" PRIu64 ")", u);
    } else if (v == INT64_MIN) {
        snprintf(buf, cap, "INT64_MIN");
    } else if (v >= -0x7fffffff && v <= 0x7fffffff) {
        snprintf(buf, cap, "%" PRId64, v);
    } else {
        snprintf(buf, cap, "INT64_C(%" PRId64 ")", v);
    }
}

/* A C constant for a floating-point default (flatc accepts nan, inf). */
static void real_text(char *buf, size_t cap, double d)
{
    if (isnan(d)) snprintf(buf, cap, "NAN");
    else if (isinf(d)) snprintf(buf, cap, d > 0 ? "INFINITY" : "(-INFINITY)");
    else {
        snprintf(buf, cap, "%.17g", d);
        if (!strpbrk(buf, ".e")) strncat(buf, ".0", cap - strlen(buf) - 1);
    }
}

/* The constant of enum en with value v, or the number cast to the type. */
static void enum_text(char *buf, size_t cap, const fbs_enum *en, int64_t v)
{
    for (size_t i = 0; i < en->nvalues; i++)
        if (en->values[i].value == v) {
            snprintf(buf, cap, "%s", en->values[i].cname);
            return;
        }
    char n[64];
    int_text(n, sizeof n, en->base, v);
    snprintf(buf, cap, "(%s)%s", en->cname, n);
}

/* ---- Enums ------------------------------------------------------------------- */

static void guard_open(emitter *e, const char *section, const char *cname)
{
    out(e, "#ifndef BIRCH_FBS_%s_%s\n#define BIRCH_FBS_%s_%s\n", section, cname, section, cname);
}

static void emit_enum(emitter *e, const fbs_enum *en)
{
    char v[96];
    const char *ct = fbs_c_type(en->base);
    guard_open(e, "ENUM", en->cname);
    out(e, "/* %s %s : %s%s */\n", en->is_union ? "union" : "enum", en->name, fbs_token(en->base),
        en->bit_flags ? " (bit_flags: values are masks; _name gives one flag's)" : "");
    if (en->c_enum) {
        out(e, "typedef enum %s {\n", en->cname);
        for (size_t i = 0; i < en->nvalues; i++) {
            int_text(v, sizeof v, reflection_Int, en->values[i].value);
            out(e, "    %s = %s%s\n", en->values[i].cname, v, i + 1 < en->nvalues ? "," : "");
        }
        out(e, "} %s;\n", en->cname);
    } else { /* values beyond int: C enumeration constants cannot hold them */
        out(e, "typedef %s %s;\n", ct, en->cname);
        for (size_t i = 0; i < en->nvalues; i++) {
            int_text(v, sizeof v, en->base, en->values[i].value);
            out(e, "#define %s ((%s)%s)\n", en->values[i].cname, en->cname, v);
        }
    }
    out(e, "/* The name of value v as the schema spells it, or NULL. */\n"
           "BIRCH_FB_FN_ const char *%s_name(%s v)\n{\n    switch (v) {\n", en->cname, en->cname);
    for (size_t i = 0; i < en->nvalues; i++)
        out(e, "    case %s: return \"%s\";\n", en->values[i].cname, en->values[i].name);
    out(e, "    default: return NULL;\n    }\n}\n");
    if (en->is_union) {
        out(e, "#define %s_MEMBERS(_)", en->cname);
        for (size_t i = 0; i < en->nvalues; i++) {
            const fbs_value *m = &en->values[i];
            if (m->object >= 0)
                out(e, " \\\n    _(%s, %s, %" PRId64 ")", en->cname, e->s->objects[m->object].cname, m->value);
        }
        out(e, "\nBIRCH_FB_UNION_DESC(%s, %s_MEMBERS);\n", en->cname, en->cname);
    }
    out(e, "#endif\n\n");
}

/* ---- Structs ------------------------------------------------------------------ */

static void member_type(emitter *e, const fbs_field *f, char *buf, size_t cap)
{
    if (f->object >= 0) snprintf(buf, cap, "%s", e->s->objects[f->object].cname);
    else if (f->base == reflection_Bool) snprintf(buf, cap, "uint8_t"); /* a stored bool may hold any byte */
    else snprintf(buf, cap, "%s", fbs_c_type(f->base));
}

/* A struct's C type keeps its members' alignment (calign) even when the
 * schema asks for more (force_align): birch stores values aligned to 8,
 * so a C type aligned to 16 would be read misaligned.  Its offsets and
 * size are flatc's all the same (explicit padding); the buffer places it
 * at its schema alignment (the _ALIGNED field kinds). */
static void emit_struct(emitter *e, const fbs_object *o)
{
    char ty[256];
    guard_open(e, "STRUCT", o->cname);
    out(e, "/* struct %s: %d bytes, aligned to %d in a buffer", o->name, o->bytesize, o->minalign);
    if (o->minalign > o->calign) out(e, " (force_align), to %d in C", o->calign);
    out(e, ", as flatc lays it out */\ntypedef struct %s {\n", o->cname);
    for (size_t i = 0; i < o->nfields; i++) {
        const fbs_field *f = &o->fields[i];
        member_type(e, f, ty, sizeof ty);
        out(e, "    %s %s", ty, f->cname);
        if (f->kind == FBS_ARRAY) out(e, "[%u]", f->count);
        out(e, ";");
        if (f->enumi >= 0) out(e, " /* %s */", e->s->enums[f->enumi].cname);
        else if (f->base == reflection_Bool) out(e, " /* bool */");
        out(e, "\n");
        if (f->padding) out(e, "    uint8_t birch_pad%zu_[%u];\n", i, f->padding);
    }
    out(e, "} %s;\n", o->cname);
    out(e, "_Static_assert(sizeof(%s) == %d, \"%s: size as flatc lays it out\");\n", o->cname, o->bytesize, o->name);
    out(e, "_Static_assert(_Alignof(%s) == %d, \"%s: alignment of its members\");\n", o->cname, o->calign, o->name);
    for (size_t i = 0; i < o->nfields; i++)
        out(e, "_Static_assert(offsetof(%s, %s) == %u, \"%s.%s: offset as flatc lays it out\");\n", o->cname,
            o->fields[i].cname, o->fields[i].offset, o->name, o->fields[i].name);
    out(e, "#endif\n\n");
}

/* Structs in an order where each comes after the structs it holds. */
static void emit_structs(emitter *e)
{
    const fbs_schema *s = e->s;
    unsigned char *done = calloc(s->nobjects ? s->nobjects : 1, 1);
    if (!done) {
        e->oom = 1;
        return;
    }
    for (int progress = 1; progress;) {
        progress = 0;
        for (size_t i = 0; i < s->nobjects; i++) {
            const fbs_object *o = &s->objects[i];
            if (!o->is_struct || done[i]) continue;
            int ready = 1;
            for (size_t k = 0; k < o->nfields; k++)
                if (o->fields[k].object >= 0 && !done[o->fields[k].object]) ready = 0;
            if (!ready) continue;
            emit_struct(e, o);
            done[i] = 1;
            progress = 1;
        }
    }
    free(done);
}

/* ---- Tables -------------------------------------------------------------------- */

static const char *const KINDS[] = {
    [FBS_SCALAR] = "SCALAR",
    [FBS_ENUM] = "ENUM",
    [FBS_OPTIONAL] = "OPTIONAL",
    [FBS_STRUCT] = "STRUCT",
    [FBS_STRING] = "STRING",
    [FBS_TABLE] = "TABLE",
    [FBS_UNION] = "UNION",
    [FBS_VECTOR] = "VECTOR",
    [FBS_VECTOR_ENUM] = "VECTOR_ENUM",
    [FBS_VECTOR_STRUCT] = "VECTOR_STRUCT",
    [FBS_VECTOR_STRING] = "VECTOR_STRING",
    [FBS_VECTOR_TABLE] = "VECTOR_TABLE",
    [FBS_VECTOR_UNION] = "VECTOR_UNION",
    [FBS_NESTED] = "NESTED",
};

/* The arguments after T, NAME, ID of a field's entry. */
static void field_args(emitter *e, const fbs_field *f, char *buf, size_t cap)
{
    const fbs_schema *s = e->s;
    char d[128];
    const char *tok = fbs_token(f->base);
    switch (f->kind) {
    case FBS_SCALAR:
        if (is_float(f->base)) real_text(d, sizeof d, f->dreal);
        else int_text(d, sizeof d, f->base, f->base == reflection_Bool ? f->dint != 0 : f->dint);
        snprintf(buf, cap, ", %s, %s", tok, d);
        return;
    case FBS_ENUM:
        enum_text(d, sizeof d, &s->enums[f->enumi], f->dint);
        snprintf(buf, cap, ", %s, %s, %s", tok, s->enums[f->enumi].cname, d);
        return;
    case FBS_OPTIONAL:
        snprintf(buf, cap, ", %s, %s", tok, f->enumi >= 0 ? s->enums[f->enumi].cname : fbs_c_type(f->base));
        return;
    case FBS_VECTOR:
        snprintf(buf, cap, ", %s", tok);
        return;
    case FBS_VECTOR_ENUM:
        snprintf(buf, cap, ", %s, %s", tok, s->enums[f->enumi].cname);
        return;
    case FBS_STRUCT:
    case FBS_VECTOR_STRUCT: {
        const fbs_object *st = &s->objects[f->object];
        if (st->minalign > st->calign) snprintf(buf, cap, ", %s, %d", st->cname, st->minalign); /* _ALIGNED */
        else snprintf(buf, cap, ", %s", st->cname);
        return;
    }
    case FBS_TABLE:
    case FBS_NESTED:
        snprintf(buf, cap, ", %s", s->objects[f->object].cname);
        return;
    case FBS_VECTOR_TABLE: {
        const fbs_object *sub = &s->objects[f->object];
        if (sub->key >= 0) snprintf(buf, cap, ", %s, %s_cmp_%s_", sub->cname, sub->cname, sub->fields[sub->key].cname);
        else snprintf(buf, cap, ", %s", sub->cname);
        return;
    }
    case FBS_UNION:
    case FBS_VECTOR_UNION:
        snprintf(buf, cap, ", %s", s->enums[f->enumi].cname);
        return;
    default:
        buf[0] = 0;
    }
}

static void emit_table(emitter *e, const fbs_object *o)
{
    char args[512];
    guard_open(e, "TABLE", o->cname);
    out(e, "/* table %s", o->name);
    for (size_t i = 0; i < o->nfields; i++)
        if (o->fields[i].deprecated) out(e, "; %s (id %u) is deprecated", o->fields[i].name, o->fields[i].id);
    out(e, " */\n#define %s_FIELDS(_)", o->cname);
    size_t live_fields = 0;
    for (size_t i = 0; i < o->nfields; i++) {
        const fbs_field *f = &o->fields[i];
        if (!live(f)) continue;
        field_args(e, f, args, sizeof args);
        const char *kind = KINDS[f->kind];
        int keyed = f->kind == FBS_VECTOR_TABLE && e->s->objects[f->object].key >= 0;
        int aligned = (f->kind == FBS_STRUCT || f->kind == FBS_VECTOR_STRUCT) &&
                      e->s->objects[f->object].minalign > e->s->objects[f->object].calign;
        out(e, " \\\n    _(%s%s%s, %s, %s, %u%s)", f->required ? "REQUIRED, " : "", kind,
            keyed ? "_KEYED" : aligned ? "_ALIGNED" : "", o->cname, f->cname, f->id, args);
        live_fields++;
    }
    const char *ident = o->ident[0] ? o->ident : NULL;
    char q[32] = "NULL";
    if (ident) { /* a C string of the 4 bytes, octal escapes for all but plain characters */
        size_t n = 0;
        q[n++] = '"';
        for (int i = 0; i < 4; i++) {
            unsigned char c = (unsigned char)ident[i];
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '?') q[n++] = (char)c;
            else n += (size_t)snprintf(q + n, sizeof q - n, "\\%03o", c);
        }
        q[n++] = '"';
        q[n] = 0;
    }
    if (live_fields) out(e, "\nBIRCH_FB_TABLE(%s, %s, %s_FIELDS);\n#endif\n\n", o->cname, q, o->cname);
    else out(e, "\nBIRCH_FB_TABLE_EMPTY(%s, %s);\n#endif\n\n", o->cname, q);
}

/* The comparison of two tables of o by their (key), which the builder
 * sorts a vector of o by; declared before the tables (builders use it),
 * defined after them (it reads the key through o's accessor). */
static void emit_cmp(emitter *e, const fbs_object *o, int define)
{
    const fbs_field *k = &o->fields[o->key];
    out(e, "BIRCH_FB_FN_ int %s_cmp_%s_(const void *a, const void *b, void *ctx)", o->cname, k->cname);
    if (!define) {
        out(e, ";\n");
        return;
    }
    if (k->kind == FBS_STRING)
        out(e, "\n{\n    (void)ctx;\n    return birch_fb_keycmp_(%s_%s(a), %s_%s(b), %s_%s_len(b));\n}\n", o->cname,
            k->cname, o->cname, k->cname, o->cname, k->cname);
    else
        out(e, "\n{\n    (void)ctx;\n    return (%s_%s(a) > %s_%s(b)) - (%s_%s(a) < %s_%s(b));\n}\n", o->cname,
            k->cname, o->cname, k->cname, o->cname, k->cname, o->cname, k->cname);
}

static void emit_find(emitter *e, const fbs_object *o, const fbs_field *f)
{
    const fbs_object *sub = &e->s->objects[f->object];
    const fbs_field *k = &sub->fields[sub->key];
    int str = k->kind == FBS_STRING;
    const char *kt = str ? "const char *" : k->enumi >= 0 ? e->s->enums[k->enumi].cname : fbs_c_type(k->base);
    out(e, "/* The element of %s.%s whose %s is key (binary search: the builder sorts the vector), or NULL%s. */\n",
        o->name, f->name, k->name, str ? "; _n: a key of n bytes (it may hold NUL)" : "");
    out(e, "BIRCH_FB_FN_ const %s_table *%s_%s_find_by_%s%s(const %s_table *t, %s%skey%s)\n{\n", sub->cname, o->cname,
        f->cname, k->cname, str ? "_n" : "", o->cname, kt, str ? "" : " ", str ? ", size_t n" : "");
    out(e, "    size_t lo = 0, hi = %s_%s_len(t);\n", o->cname, f->cname);
    if (str) out(e, "    if (!key && n) return NULL;\n");
    out(e, "    while (lo < hi) {\n        size_t mid = lo + (hi - lo) / 2;\n");
    out(e, "        const %s_table *x = %s_%s_at(t, mid);\n", sub->cname, o->cname, f->cname);
    if (str) out(e, "        int c = birch_fb_keycmp_(%s_%s(x), key, n);\n", sub->cname, k->cname);
    else out(e, "        int c = (%s_%s(x) > key) - (%s_%s(x) < key);\n", sub->cname, k->cname, sub->cname, k->cname);
    out(e, "        if (c == 0) return x;\n        if (c < 0) lo = mid + 1;\n        else hi = mid;\n    }\n"
           "    return NULL;\n}\n");
    if (str) /* a NUL-terminated key: NULL finds nothing */
        out(e, "BIRCH_FB_FN_ const %s_table *%s_%s_find_by_%s(const %s_table *t, const char *key)\n{\n"
               "    return key ? %s_%s_find_by_%s_n(t, key, strlen(key)) : NULL;\n}\n",
            sub->cname, o->cname, f->cname, k->cname, o->cname, o->cname, f->cname, k->cname);
}

/* Typed union accessors and builders: NAME_as_MEMBER. */
static void emit_union_extras(emitter *e, const fbs_object *o, const fbs_field *f)
{
    const fbs_enum *u = &e->s->enums[f->enumi];
    int vec = f->kind == FBS_VECTOR_UNION;
    for (size_t v = 0; v < u->nvalues; v++) {
        const fbs_value *m = &u->values[v];
        if (m->object < 0) continue;
        const char *mt = e->s->objects[m->object].cname, *mn = member_suffix(u, m);
        if (vec) {
            out(e, "BIRCH_FB_FN_ const %s_table *%s_%s_as_%s(const %s_table *t, size_t i)\n{\n", mt, o->cname,
                f->cname, mn, o->cname);
            out(e, "    return %s_%s_type_at(t, i) == %s ? (const %s_table *)%s_%s_at(t, i) : NULL;\n}\n", o->cname,
                f->cname, m->cname, mt, o->cname, f->cname);
            continue;
        }
        out(e, "BIRCH_FB_FN_ const %s_table *%s_%s_as_%s(const %s_table *t)\n{\n", mt, o->cname, f->cname, mn,
            o->cname);
        out(e, "    return %s_%s_type(t) == %s ? (const %s_table *)%s_%s(t) : NULL;\n}\n", o->cname, f->cname,
            m->cname, mt, o->cname, f->cname);
        out(e, "BIRCH_FB_FN_ void %s_add_%s_as_%s(birch_fb_builder *b, birch_fb_ref r)\n{\n", o->cname, f->cname,
            mn);
        out(e, "    %s_add_%s(b, %s, r);\n}\n", o->cname, f->cname, m->cname);
    }
}

static void emit_extras(emitter *e, const fbs_object *o)
{
    int any = o->key >= 0;
    for (size_t i = 0; i < o->nfields; i++) {
        const fbs_field *f = &o->fields[i];
        if (live(f) && (f->kind == FBS_UNION || f->kind == FBS_VECTOR_UNION ||
                        (f->kind == FBS_VECTOR_TABLE && e->s->objects[f->object].key >= 0)))
            any = 1;
    }
    if (!any) return;
    guard_open(e, "EXTRA", o->cname);
    if (o->key >= 0) emit_cmp(e, o, 1);
    for (size_t i = 0; i < o->nfields; i++) {
        const fbs_field *f = &o->fields[i];
        if (!live(f)) continue;
        if (f->kind == FBS_UNION || f->kind == FBS_VECTOR_UNION) emit_union_extras(e, o, f);
        if (f->kind == FBS_VECTOR_TABLE && e->s->objects[f->object].key >= 0) emit_find(e, o, f);
    }
    out(e, "#endif\n\n");
}

/* ---- The header ----------------------------------------------------------------- */

static void emit_all(emitter *e, const char *file, const char *guard)
{
    const fbs_schema *s = e->s;
    out(e, "/*\n * Generated by `birch fbs` from %s: do not edit; change the schema and\n"
           " * generate again.  The declarations follow birch_flatbuffers.h; every\n"
           " * block is guarded by its type's own macro, so headers of schemas that\n"
           " * include one another may be included together.\n */\n",
        file);
    out(e, "#ifndef %s\n#define %s\n\n#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n"
           "#include <string.h>\n\n#include \"birch_flatbuffers.h\"\n\n",
        guard, guard);
    for (size_t i = 0; i < s->nenums; i++)
        if (!s->enums[i].is_union) emit_enum(e, &s->enums[i]);
    emit_structs(e);
    for (size_t i = 0; i < s->nobjects; i++) {
        if (s->objects[i].is_struct) continue;
        guard_open(e, "DECLARE", s->objects[i].cname);
        out(e, "BIRCH_FB_DECLARE(%s);\n", s->objects[i].cname);
        if (s->objects[i].key >= 0) emit_cmp(e, &s->objects[i], 0);
        out(e, "#endif\n");
    }
    out(e, "\n");
    for (size_t i = 0; i < s->nenums; i++)
        if (s->enums[i].is_union) emit_enum(e, &s->enums[i]);
    for (size_t i = 0; i < s->nobjects; i++)
        if (!s->objects[i].is_struct) emit_table(e, &s->objects[i]);
    for (size_t i = 0; i < s->nobjects; i++)
        if (!s->objects[i].is_struct) emit_extras(e, &s->objects[i]);
    if (s->root >= 0) {
        const char *r = s->objects[s->root].cname;
        guard_open(e, "FORMAT", r);
        out(e, "/* The value format of typed tables whose values are %s buffers (root_type). */\n",
            s->objects[s->root].name);
        out(e, "BIRCH_FB_FORMAT(%s_format, %s, 0);\n#endif\n\n", r, r);
    }
    out(e, "#endif /* %s */\n", guard);
}

int fbs_emit(const fbs_schema *s, FILE *f, const char *file, const char *guard, char *err, size_t cap)
{
    emitter e = {s, f, NULL, 0, 0, 0};
    int rc = check_names(&e, err, cap);
    if (rc == 0) {
        emit_all(&e, file, guard);
        if (e.oom) rc = -1, snprintf(err, cap, "out of memory");
    }
    for (size_t i = 0; i < e.n; i++) free(e.names[i].name), free(e.names[i].what);
    free(e.names);
    return rc;
}
