/*
 * Snippets of docs/guide/formats.md.  Each ```c block of the guide is
 * copied verbatim from this file (tests/check_guides.cmake checks it), and
 * this program runs them: edit both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

/* [guide] */
/* Key formats turn C values into bytes whose memcmp order is the value's
 * natural order, and back. */
static int keys_demo(void)
{
    int64_t a = -5, b = 3, back;
    unsigned char ea[8], eb[8];
    size_t la, lb;
    int rc = birch_key_encode(&birch_key_i64, &a, ea, sizeof ea, &la);
    if (rc == BIRCH_OK)
        rc = birch_key_encode(&birch_key_i64, &b, eb, sizeof eb, &lb);
    if (rc == BIRCH_OK && memcmp(ea, eb, 8) < 0) /* -5 sorts before 3 */
        rc = birch_key_decode(&birch_key_i64, ea, la, &back, NULL, 0);
    if (rc == BIRCH_OK)
        printf("decoded %lld\n", (long long)back);
    return rc;
}
/* [/guide] */

/* [guide] */
typedef struct event_key {
    birch_val source;  /* a string element */
    double time;       /* then a float */
} event_key;
BIRCH_KEY_TUPLE(event_key_fmt, event_key, &birch_key_string, source, &birch_key_f64, time);
BIRCH_KEY_FIXED(uuid_fmt, 16); /* uint8_t[16] keys */

static int names_demo(void)
{
    char name[BIRCH_KEY_NAME_MAX];
    int rc = birch_key_name(&event_key_fmt, name, sizeof name);
    if (rc >= 0)
        printf("%s\n", name); /* tuple(string,f64): stored in the schema */
    if (rc >= 0)
        rc = birch_key_name(&uuid_fmt, name, sizeof name);
    if (rc >= 0)
        printf("%s\n", name); /* fixed(16) */
    return rc < 0 ? rc : BIRCH_OK;
}
/* [/guide] */

/* [guide] */
/* A value format of one's own: NUL-terminated text.  The C value that put
 * takes is a `const char *`; the stored bytes are the text and its NUL;
 * the view is the bytes themselves, so a guard's view is the string. */
static int text_describe(const birch_value_format *f, char *buf, size_t cap)
{
    (void)f;
    int n = snprintf(buf, cap, "text");
    return n < 0 || (size_t)n >= cap ? BIRCH_EINVAL : n;
}

static int text_size(const birch_value_format *f, const void *value, size_t *size)
{
    (void)f;
    const char *s = *(const char *const *)value;
    if (s == NULL)
        return BIRCH_EINVAL;
    *size = strlen(s) + 1;
    return BIRCH_OK;
}

static int text_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    (void)f;
    memcpy(out, *(const char *const *)value, size);
    return BIRCH_OK;
}

/* Runs on every read before anything looks at the bytes. */
static int text_verify(const birch_value_format *f, const void *data, size_t size, char *msg,
                       size_t cap)
{
    (void)f;
    if (size == 0 || memchr(data, 0, size) != (const char *)data + size - 1) {
        snprintf(msg, cap, "not one NUL-terminated string (%zu bytes)", size);
        return BIRCH_EFORMAT;
    }
    return BIRCH_OK;
}

static const birch_value_format text_format = {
    "text", 1, 1, sizeof(const char *), text_describe, text_size, text_encode, text_verify,
    NULL, /* view: the bytes */
    NULL, /* param */
};
/* [/guide] */

/* [guide] */
static int notes_demo(birch_db *db)
{
    birch_typed notes;
    birch_guard g = {0};
    const char *hello = "hello, birch";
    int rc = birch_typed_open(db, NULL, "notes", &birch_key_u32, &text_format, BIRCH_CREATE,
                              &notes);
    if (rc == BIRCH_OK)
        rc = birch_typed_put(NULL, &notes, &(uint32_t){1}, &hello, 0);
    if (rc == BIRCH_OK)
        rc = birch_typed_get(NULL, &notes, &(uint32_t){1}, &g);
    if (rc == BIRCH_OK) {
        printf("note 1: %s\n", (const char *)g.view);
        birch_guard_release(&g);
    } else if (rc == BIRCH_EFORMAT) {
        fprintf(stderr, "%s\n", g.msg); /* table, key and the failed check */
    }
    return rc;
}
/* [/guide] */

#define CHECK(call)                                                                    \
    do {                                                                               \
        int rc_ = (call);                                                              \
        if (rc_ != BIRCH_OK) {                                                         \
            fprintf(stderr, "%s: %s (%d)\n", #call, birch_strerror(rc_), rc_);         \
            exit(EXIT_FAILURE);                                                        \
        }                                                                              \
    } while (0)

int main(void)
{
    birch_options opts;
    birch_db *db;
    birch_txn *txn;
    birch_table *raw;
    birch_typed notes;
    birch_guard g = {0};

    CHECK(keys_demo());
    CHECK(names_demo());
    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    CHECK(birch_open(NULL, &opts, &db));
    CHECK(notes_demo(db));
    /* Bytes without their NUL, written raw, fail the format's check. */
    CHECK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    CHECK(birch_table_open(txn, "notes", 0, &raw));
    unsigned char k2[4] = {0, 0, 0, 2};
    CHECK(birch_put(txn, raw, (birch_val){k2, 4}, (birch_val){"oops", 4}, 0));
    CHECK(birch_txn_commit(txn));
    CHECK(birch_typed_open(db, NULL, "notes", &birch_key_u32, &text_format, 0, &notes));
    if (birch_typed_get(NULL, &notes, &(uint32_t){2}, &g) != BIRCH_EFORMAT)
        return EXIT_FAILURE;
    printf("EFORMAT: %s\n", g.msg);
    CHECK(birch_close(db));
    puts("formats: ok");
    return EXIT_SUCCESS;
}
