/*
 * fbs_schema.h - a FlatBuffers schema as `birch fbs` generates C from it.
 *
 * The schema compiler has three files:
 *
 *   cmd_fbs.c     the command: runs flatc --schema -b, reads the binary
 *                 schema it writes, writes the header
 *   fbs_schema.c  the binary schema (a reflection.Schema FlatBuffer, read
 *                 through fbs_reflection.h) checked and turned into the
 *                 model below: C names, ids, layouts, and a named error for
 *                 every schema feature birch cannot express
 *   fbs_emit.c    the model written out as a C header of BIRCH_FB_*
 *                 declarations (birch_flatbuffers.h) and typed extras
 *
 * Strings of the model that come from the schema point into the binary
 * schema, which must outlive the model; C names are the model's own.
 */
#ifndef BIRCH_TOOLS_FBS_SCHEMA_H
#define BIRCH_TOOLS_FBS_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* How a table field or a struct member is declared in C: the field-list
 * kinds of birch_flatbuffers.h, and the two members of a struct. */
typedef enum fbs_kind {
    FBS_SCALAR,        /* scalar with a default */
    FBS_ENUM,          /* scalar of an enum type */
    FBS_OPTIONAL,      /* scalar = null (of an enum type when enum >= 0) */
    FBS_STRUCT,        /* struct, inline */
    FBS_STRING,
    FBS_TABLE,
    FBS_UNION,         /* the value; the type field (id - 1) goes with it */
    FBS_VECTOR,        /* of scalars */
    FBS_VECTOR_ENUM,   /* of an enum's values */
    FBS_VECTOR_STRUCT,
    FBS_VECTOR_STRING,
    FBS_VECTOR_TABLE,
    FBS_VECTOR_UNION,  /* the values; the types (id - 1) go with them */
    FBS_NESTED,        /* [ubyte] holding a buffer of another root */
    FBS_UTYPE,         /* a union's type field or vector: declared with the union */
    FBS_MEMBER,        /* a struct's member: scalar, enum or struct */
    FBS_ARRAY          /* a struct's member: a fixed-size array */
} fbs_kind;

typedef struct fbs_field {
    const char *name; /* as in the schema */
    char *cname;      /* in C: the name, with '_' after a C keyword (struct members) */
    fbs_kind kind;
    int base;         /* the reflection base type of the value or element */
    int object;       /* STRUCT, TABLE, NESTED, elements: index in fbs_schema.objects; else -1 */
    int enumi;        /* ENUM, UNION, enum elements: index in fbs_schema.enums; else -1 */
    uint16_t id;      /* table fields: the id; struct members: the declaration order */
    uint16_t offset;  /* struct members: the byte offset */
    uint16_t padding; /* struct members: bytes after this one */
    uint16_t count;   /* ARRAY: elements */
    uint32_t size;    /* struct members: bytes (an array's whole size) */
    int64_t dint;     /* the default of an integer scalar */
    double dreal;     /* the default of a float scalar */
    int required, key, deprecated;
} fbs_field;

typedef struct fbs_object {
    const char *name;   /* full name: "Inv.Item" */
    char *cname;        /* "Inv_Item" */
    int is_struct;
    int minalign, bytesize; /* structs, as flatc lays them out */
    int calign;         /* structs: the C type's alignment, its members' largest (force_align can ask more) */
    fbs_field *fields;  /* by id (tables), by offset (structs); deprecated fields kept */
    size_t nfields;
    int key;            /* index in fields of the (key) field, or -1 */
    int root;           /* the schema's root_type */
    const char *decl;   /* the file that declares it ("//inc/x.fbs"), or NULL */
    char ident[5];      /* tables: the file identifier of the schema whose root it is ("" none) */
} fbs_object;

typedef struct fbs_value {
    const char *name;   /* as in the schema ("Supplier", "Other.Thing" for a union member) */
    char *cname;        /* the constant: "Inv_Kind_Tool" */
    int64_t value;
    int object;         /* union members: the table's index; else -1 */
} fbs_value;

typedef struct fbs_enum {
    const char *name;   /* "Inv.Kind" */
    char *cname;        /* "Inv_Kind" */
    int is_union;
    int bit_flags;
    int base;           /* the underlying reflection base type (UType for unions) */
    int c_enum;         /* stored in at most 32 bits and every value fits an int: a C enum (else an
                           integer typedef and macros: a C enum is int-sized) */
    fbs_value *values;  /* in declaration order (ascending values) */
    size_t nvalues;
} fbs_enum;

typedef struct fbs_schema {
    fbs_object *objects; /* as the binary schema orders them: by full name */
    size_t nobjects;
    fbs_enum *enums;
    size_t nenums;
    const char *ident;   /* file_identifier, or NULL */
    int root;            /* index of the root_type in objects, or -1 */
    const char **files;  /* the schema files flatc read ("//" and a path relative to the schema's directory) */
    size_t nfiles;
} fbs_schema;

/* The root table and file identifier a binary schema names: *root (in the
 * binary schema) and ident[5] ("" for none).  Returns 0, or -1 with err. */
int fbs_schema_root(const void *bfbs, size_t len, const char **root, char ident[5], char *err, size_t cap);

/* Reads the binary schema bfbs[0..len) (8-aligned; it must stay in place
 * while the model is used) into s.  Returns 0, or -1 with the reason in
 * err (a damaged binary schema, or a feature birch cannot express, named
 * with the type and field: "union Inv.Extra: member Inv.Dim is a struct;
 * birch's unions hold tables only"). */
int fbs_schema_load(fbs_schema *s, const void *bfbs, size_t len, char *err, size_t cap);
void fbs_schema_free(fbs_schema *s);

/* The C type of a scalar base type ("int32_t"), and the token of
 * birch_flatbuffers.h's field lists ("i32"); NULL for other types. */
const char *fbs_c_type(int base);
const char *fbs_token(int base);

/* Writes the C header for s to f; name: the schema file's name (for the
 * comment at the top), guard: its include guard.  Returns 0, or -1 when a
 * write failed (errno set) or the generated names collide (err). */
int fbs_emit(const fbs_schema *s, FILE *f, const char *name, const char *guard, char *err, size_t cap);

#endif
