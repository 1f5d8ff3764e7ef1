/*
 * fbs_reflection.h - flatc's reflection schema (reflection.fbs, namespace
 * reflection), declared for birch_flatbuffers.h: what `flatc --schema -b
 * x.fbs` writes to x.bfbs, a FlatBuffer (file identifier "BFBS") that
 * describes the schema x.fbs, so that birch's schema compiler (issue 15)
 * reads a schema through birch's own verifier and accessors and never
 * parses the .fbs grammar.
 *
 * Field ids as flatc 2.0.8 (Debian 12's flatbuffers-compiler) writes them,
 * checked by decoding its .bfbs output with `flatc --json --raw-binary`
 * (tests/test_fbs_reflection.c reads one).  Fields this header leaves out
 * (documentation, attributes, declaration files, services) keep their ids;
 * newer flatc versions append fields, which a reader of these ignores.
 * Names follow flatcc's convention for a namespace: reflection_Type.
 */
#ifndef BIRCH_TOOLS_FBS_REFLECTION_H
#define BIRCH_TOOLS_FBS_REFLECTION_H

#include "birch.h"
#include "birch_flatbuffers.h"

/* reflection.BaseType (byte). */
enum {
    reflection_None = 0,
    reflection_UType = 1,
    reflection_Bool = 2,
    reflection_Byte = 3,
    reflection_UByte = 4,
    reflection_Short = 5,
    reflection_UShort = 6,
    reflection_Int = 7,
    reflection_UInt = 8,
    reflection_Long = 9,
    reflection_ULong = 10,
    reflection_Float = 11,
    reflection_Double = 12,
    reflection_String = 13,
    reflection_Vector = 14,
    reflection_Obj = 15, /* a table or a struct */
    reflection_Union = 16,
    reflection_Array = 17, /* a fixed-size array in a struct */
    reflection_Vector64 = 18 /* newer flatc only: refused */
};

/* index: for Obj the object's index in Schema.objects; for Union, UType
 * and integers of an enum type the enum's in Schema.enums; -1 otherwise.
 * base_size: the size of the type inline (4 for offsets); element_size:
 * a vector's or array's element size. */
#define reflection_Type_FIELDS(_)                                                              \
    _(SCALAR, reflection_Type, base_type, 0, i8, 0)                                            \
    _(SCALAR, reflection_Type, element, 1, i8, 0)                                              \
    _(SCALAR, reflection_Type, index, 2, i32, -1)                                              \
    _(SCALAR, reflection_Type, fixed_length, 3, u16, 0)                                        \
    _(SCALAR, reflection_Type, base_size, 4, u32, 4)                                           \
    _(SCALAR, reflection_Type, element_size, 5, u32, 0)
BIRCH_FB_TABLE(reflection_Type, NULL, reflection_Type_FIELDS);

#define reflection_KeyValue_FIELDS(_)                                                          \
    _(REQUIRED, STRING, reflection_KeyValue, key, 0)                                           \
    _(STRING, reflection_KeyValue, value, 1)
BIRCH_FB_TABLE(reflection_KeyValue, NULL, reflection_KeyValue_FIELDS);

/* id 2 is the deprecated `object` (union_type replaced it). */
#define reflection_EnumVal_FIELDS(_)                                                           \
    _(REQUIRED, STRING, reflection_EnumVal, name, 0)                                           \
    _(SCALAR, reflection_EnumVal, value, 1, i64, 0)                                            \
    _(TABLE, reflection_EnumVal, union_type, 3, reflection_Type)
BIRCH_FB_TABLE(reflection_EnumVal, NULL, reflection_EnumVal_FIELDS);

#define reflection_Enum_FIELDS(_)                                                              \
    _(REQUIRED, STRING, reflection_Enum, name, 0)                                              \
    _(REQUIRED, VECTOR_TABLE, reflection_Enum, values, 1, reflection_EnumVal)                  \
    _(SCALAR, reflection_Enum, is_union, 2, bool, 0)                                           \
    _(REQUIRED, TABLE, reflection_Enum, underlying_type, 3, reflection_Type)                   \
    _(VECTOR_TABLE, reflection_Enum, attributes, 4, reflection_KeyValue)
BIRCH_FB_TABLE(reflection_Enum, NULL, reflection_Enum_FIELDS);

/* offset: a table field's vtable offset (4 + 2 * id), a struct member's
 * byte offset; padding: bytes after a struct member. */
#define reflection_Field_FIELDS(_)                                                             \
    _(REQUIRED, STRING, reflection_Field, name, 0)                                             \
    _(REQUIRED, TABLE, reflection_Field, type, 1, reflection_Type)                             \
    _(SCALAR, reflection_Field, id, 2, u16, 0)                                                 \
    _(SCALAR, reflection_Field, offset, 3, u16, 0)                                             \
    _(SCALAR, reflection_Field, default_integer, 4, i64, 0)                                    \
    _(SCALAR, reflection_Field, default_real, 5, f64, 0)                                       \
    _(SCALAR, reflection_Field, deprecated, 6, bool, 0)                                        \
    _(SCALAR, reflection_Field, required, 7, bool, 0)                                          \
    _(SCALAR, reflection_Field, key, 8, bool, 0)                                               \
    _(VECTOR_TABLE, reflection_Field, attributes, 9, reflection_KeyValue)                      \
    _(SCALAR, reflection_Field, optional, 11, bool, 0)                                         \
    _(SCALAR, reflection_Field, padding, 12, u16, 0)
BIRCH_FB_TABLE(reflection_Field, NULL, reflection_Field_FIELDS);

/* fields: sorted by name (not by id); bytesize and minalign: a struct's;
 * declaration_file: the schema file that declares it, "//" and its path
 * relative to flatc's --bfbs-filenames directory (empty without it). */
#define reflection_Object_FIELDS(_)                                                            \
    _(REQUIRED, STRING, reflection_Object, name, 0)                                            \
    _(REQUIRED, VECTOR_TABLE, reflection_Object, fields, 1, reflection_Field)                  \
    _(SCALAR, reflection_Object, is_struct, 2, bool, 0)                                        \
    _(SCALAR, reflection_Object, minalign, 3, i32, 0)                                          \
    _(SCALAR, reflection_Object, bytesize, 4, i32, 0)                                          \
    _(VECTOR_TABLE, reflection_Object, attributes, 5, reflection_KeyValue)                      \
    _(STRING, reflection_Object, declaration_file, 7)
BIRCH_FB_TABLE(reflection_Object, NULL, reflection_Object_FIELDS);

/* A schema file flatc read (with --bfbs-filenames): "//" and its path
 * relative to that directory, and the files it includes. */
#define reflection_SchemaFile_FIELDS(_)                                                        \
    _(REQUIRED, STRING, reflection_SchemaFile, filename, 0)                                    \
    _(VECTOR_STRING, reflection_SchemaFile, included_filenames, 1)
BIRCH_FB_TABLE(reflection_SchemaFile, NULL, reflection_SchemaFile_FIELDS);

/* objects and enums: sorted by their full names ("Inv.Item"); fbs_files:
 * every schema file read, the schema's own and those it includes. */
#define reflection_Schema_FIELDS(_)                                                            \
    _(REQUIRED, VECTOR_TABLE, reflection_Schema, objects, 0, reflection_Object)                \
    _(REQUIRED, VECTOR_TABLE, reflection_Schema, enums, 1, reflection_Enum)                    \
    _(STRING, reflection_Schema, file_ident, 2)                                                \
    _(STRING, reflection_Schema, file_ext, 3)                                                  \
    _(TABLE, reflection_Schema, root_table, 4, reflection_Object)                              \
    _(SCALAR, reflection_Schema, advanced_features, 6, u64, 0)                                 \
    _(VECTOR_TABLE, reflection_Schema, fbs_files, 7, reflection_SchemaFile)
BIRCH_FB_TABLE(reflection_Schema, "BFBS", reflection_Schema_FIELDS);

#endif
