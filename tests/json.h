/*
 * json.h - a small JSON reader for the tests: flatc's --json output
 * (strict, or with bare nan / inf / -inf, which it prints even with
 * --strict-json) and the JSON data of tests/fb and tests/fbs (quoted or
 * unquoted keys, // comments).  Failures are Check assertions.
 *
 * The same reader as test_flatbuffers.c's own copy (jv, jparse_file,
 * jget, ...), moved here so that tests share one; test_flatbuffers.c can
 * drop its copy and include this header.
 */
#ifndef BIRCH_TEST_JSON_H
#define BIRCH_TEST_JSON_H

#include <stddef.h>

/* A parsed JSON value.  Numbers keep their text (s), so that 64-bit
 * integers and floats are read exactly with strtoll / strtoull / strtod;
 * nan, inf and -inf are numbers too. */
typedef struct jv {
    char t;        /* 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null */
    char *s;       /* a string (UTF-8, escapes decoded, NUL-terminated), or a number's text */
    size_t slen;   /* its length in bytes (a string may hold NULs) */
    int b;         /* a bool's value */
    size_t n;      /* the members of an object, the elements of an array */
    char **keys;   /* an object's keys (NULL for an array) */
    struct jv **items;
} jv;

/* Parses the text at *p, moving *p past the value. */
jv *jparse_at(const char **p);
/* Parses a whole text / file (asserts that the file can be read). */
jv *jparse_text(const char *text);
jv *jparse_file(const char *path);
void jfree(jv *v);

/* An object's member named key, or NULL (also when o is NULL or not an
 * object). */
const jv *jget(const jv *o, const char *key);
/* An array's element i, or NULL (also when a is NULL or too short). */
const jv *jat(const jv *a, size_t i);

#endif /* BIRCH_TEST_JSON_H */
