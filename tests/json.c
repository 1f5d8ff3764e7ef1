/*
 * json.c - a small JSON reader for the tests (see json.h).
 */
#define _GNU_SOURCE
#include "json.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jfree(jv *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys) free(v->keys[i]);
        jfree(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->s);
    free(v);
}

/* Skips white space and // comments. */
static void jws(const char **p)
{
    for (;;) {
        while (isspace((unsigned char)**p)) (*p)++;
        if ((*p)[0] == '/' && (*p)[1] == '/') {
            while (**p && **p != '\n') (*p)++;
        } else {
            return;
        }
    }
}

static void jput(char **s, size_t *n, size_t *cap, unsigned c)
{
    if (*n + 5 > *cap) {
        *cap = *cap * 2 + 16;
        *s = realloc(*s, *cap);
        ck_assert_msg(*s != NULL, "JSON: out of memory");
    }
    (*s)[(*n)++] = (char)c;
}

static unsigned jhex4(const char *p)
{
    char h[5] = {0};
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(isxdigit((unsigned char)p[i]), "JSON: bad \\u escape at '%.8s'", p);
        h[i] = p[i];
    }
    return (unsigned)strtoul(h, NULL, 16);
}

static char *jstring(const char **p, size_t *len)
{
    ck_assert_msg(**p == '"', "JSON: string expected at '%.20s'", *p);
    (*p)++;
    char *s = NULL;
    size_t n = 0, cap = 0;
    jput(&s, &n, &cap, 0);
    n = 0;
    while (**p != '"') {
        ck_assert_msg(**p != 0, "JSON: unterminated string");
        unsigned c = (unsigned char)*(*p)++;
        if (c == '\\') {
            c = (unsigned char)*(*p)++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned cp = jhex4(*p);
                *p += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && (*p)[0] == '\\' && (*p)[1] == 'u') {
                    unsigned lo = jhex4(*p + 2);
                    *p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp < 0x80) {
                    jput(&s, &n, &cap, cp);
                } else if (cp < 0x800) {
                    jput(&s, &n, &cap, 0xc0 | (cp >> 6));
                    jput(&s, &n, &cap, 0x80 | (cp & 63));
                } else if (cp < 0x10000) {
                    jput(&s, &n, &cap, 0xe0 | (cp >> 12));
                    jput(&s, &n, &cap, 0x80 | ((cp >> 6) & 63));
                    jput(&s, &n, &cap, 0x80 | (cp & 63));
                } else {
                    jput(&s, &n, &cap, 0xf0 | (cp >> 18));
                    jput(&s, &n, &cap, 0x80 | ((cp >> 12) & 63));
                    jput(&s, &n, &cap, 0x80 | ((cp >> 6) & 63));
                    jput(&s, &n, &cap, 0x80 | (cp & 63));
                }
                continue;
            }
            default: break; /* \" \\ \/ */
            }
        }
        jput(&s, &n, &cap, c);
    }
    (*p)++;
    s[n] = 0;
    *len = n;
    return s;
}

jv *jparse_at(const char **p)
{
    jws(p);
    jv *v = calloc(1, sizeof *v);
    ck_assert_msg(v != NULL, "JSON: out of memory");
    char c = **p;
    if (c == '{' || c == '[') {
        v->t = c == '{' ? 'o' : 'a';
        (*p)++;
        size_t cap = 0;
        for (;;) {
            jws(p);
            if (**p == (c == '{' ? '}' : ']')) {
                (*p)++;
                break;
            }
            ck_assert_msg(**p != 0, "JSON: unterminated %s", c == '{' ? "object" : "array");
            if (v->n == cap) {
                cap = cap * 2 + 8;
                v->items = realloc(v->items, cap * sizeof *v->items);
                ck_assert_msg(v->items != NULL, "JSON: out of memory");
                if (c == '{') {
                    v->keys = realloc(v->keys, cap * sizeof *v->keys);
                    ck_assert_msg(v->keys != NULL, "JSON: out of memory");
                }
            }
            if (c == '{') {
                size_t kl;
                if (**p == '"') {
                    v->keys[v->n] = jstring(p, &kl);
                } else { /* an unquoted key */
                    const char *k = *p;
                    while (isalnum((unsigned char)**p) || **p == '_') (*p)++;
                    ck_assert_msg(*p > k, "JSON: key expected at '%.20s'", k);
                    v->keys[v->n] = strndup(k, (size_t)(*p - k));
                }
                jws(p);
                ck_assert_msg(**p == ':', "JSON: ':' expected at '%.20s'", *p);
                (*p)++;
            }
            v->items[v->n++] = jparse_at(p);
            jws(p);
            if (**p == ',') (*p)++;
        }
    } else if (c == '"') {
        v->t = 's';
        v->s = jstring(p, &v->slen);
    } else if (!strncmp(*p, "true", 4) || !strncmp(*p, "false", 5)) {
        v->t = 'b';
        v->b = c == 't';
        *p += v->b ? 4 : 5;
    } else if (!strncmp(*p, "null", 4)) {
        v->t = 'z';
        *p += 4;
    } else { /* a number, or nan / inf / -inf as flatc prints them */
        const char *s = *p;
        while (**p && (isalnum((unsigned char)**p) || strchr("+-.", **p))) (*p)++;
        ck_assert_msg(*p > s, "JSON: value expected at '%.20s'", s);
        v->t = 'n';
        v->s = strndup(s, (size_t)(*p - s));
        v->slen = (size_t)(*p - s);
    }
    return v;
}

jv *jparse_text(const char *text)
{
    const char *p = text;
    jv *v = jparse_at(&p);
    jws(&p);
    ck_assert_msg(*p == 0, "JSON: text after the value: '%.20s'", p);
    return v;
}

jv *jparse_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "JSON: cannot open %s", path);
    ck_assert_msg(fseek(f, 0, SEEK_END) == 0, "JSON: cannot seek %s", path);
    long size = ftell(f);
    ck_assert_msg(size >= 0, "JSON: cannot tell the size of %s", path);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    ck_assert_msg(text != NULL, "JSON: out of memory for %s", path);
    ck_assert_msg(fread(text, 1, (size_t)size, f) == (size_t)size, "JSON: cannot read %s", path);
    text[size] = 0;
    fclose(f);
    jv *v = jparse_text(text);
    free(text);
    return v;
}

const jv *jget(const jv *o, const char *key)
{
    if (!o || o->t != 'o') return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return o->items[i];
    return NULL;
}

const jv *jat(const jv *a, size_t i) { return a && a->t == 'a' && i < a->n ? a->items[i] : NULL; }
