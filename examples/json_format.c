/*
 * json_format.c - a value format of your own: JSON documents, through the
 * cJSON library (Debian: libcjson-dev).
 *
 *   ./json_format [path]   (default: json_format.birch in the current dir)
 *
 * A value format (struct birch_value_format, api/birch_typed.h) tells birch
 * how a C value becomes stored bytes and how stored bytes are checked before
 * anyone reads them.  Here the C value is a cJSON tree (a `cJSON *`): put
 * stores its compact text, and every read checks that the stored bytes
 * still parse as JSON, so a reader never sees text that is not JSON.  The
 * built-in formats (bytes, string, pod) implement the same table.
 *
 * Only this example uses cJSON; the library itself needs no JSON code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "birch.h"

/* ---- The format -------------------------------------------------------------- */

/* The schema text stored with the table: a table created with json(v1)
 * refuses to open with any other format (BIRCH_ESCHEMA). */
static int json_describe(const birch_value_format *f, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s(v%u)", f->name, (unsigned)f->version);
    return n < 0 || (size_t)n >= cap ? BIRCH_EINVAL : n;
}

/* value points to the C value, a `cJSON *`. */
static char *json_text(const void *value)
{
    cJSON *const *doc = value;
    return *doc ? cJSON_PrintUnformatted(*doc) : NULL;
}

/* The size of the compact text, without a terminating NUL.  The format
 * interface has no state between size and encode, so encode prints the
 * tree a second time. */
static int json_size(const birch_value_format *f, const void *value, size_t *size)
{
    (void)f;
    cJSON *const *doc = value;
    if (*doc == NULL) return BIRCH_EINVAL;
    char *text = json_text(value);
    if (text == NULL) return BIRCH_ENOMEM;
    *size = strlen(text);
    cJSON_free(text);
    return BIRCH_OK;
}

/* Writes exactly size bytes, in place in the page. */
static int json_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    (void)f;
    char *text = json_text(value);
    if (text == NULL) return BIRCH_ENOMEM;
    int rc = BIRCH_OK;
    if (strlen(text) == size) memcpy(out, text, size);
    else rc = BIRCH_EINVAL; /* the tree changed between size and encode */
    cJSON_free(text);
    return rc;
}

static int json_fail(char *msg, size_t cap, const char *what, size_t at)
{
    if (msg && cap) snprintf(msg, cap, "json: %s at byte %zu", what, at);
    return BIRCH_EFORMAT;
}

/* Stored bytes are valid when they parse as one JSON document with nothing
 * but whitespace after it.  The bytes are not NUL-terminated: the parse is
 * bounded by size.  msg may be NULL (streams pass none).  (cJSON records a
 * failed parse in a global as well, so failing verifies in several threads
 * at once race on it; the result here does not depend on it.) */
static int json_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    (void)f;
    const char *text = data, *end = NULL;
    if (size == 0) return json_fail(msg, cap, "empty value", 0);
    cJSON *doc = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (doc == NULL)
        return json_fail(msg, cap, "not valid JSON", end && end >= text ? (size_t)(end - text) : 0);
    cJSON_Delete(doc);
    while (end < text + size && strchr(" \t\r\n", *end) != NULL && *end != '\0') end++;
    if (end != text + size) return json_fail(msg, cap, "text after the document", (size_t)(end - text));
    return BIRCH_OK;
}

/* c_size is the size of the C value put takes: a pointer to the tree.
 * view NULL: a reader gets the verified bytes (the JSON text). */
static const birch_value_format json_format = {
    "json",              /* name */
    1,                   /* version of the encoding */
    1,                   /* alignment the view needs: text, none */
    sizeof(cJSON *),     /* c_size */
    json_describe, json_size, json_encode, json_verify,
    NULL,                /* view: the bytes themselves */
    NULL,                /* param */
};

/* ---- The example ------------------------------------------------------------------ */

#define TRY(call)                                                                \
    do {                                                                         \
        rc = (call);                                                             \
        if (rc < 0) {                                                            \
            fprintf(stderr, "json_format: %s failed: %s (%d)\n", #call,          \
                    birch_strerror(rc), rc);                                     \
            goto out;                                                            \
        }                                                                        \
    } while (0)

#define EXPECT(cond)                                                             \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "json_format: expected %s (line %d)\n", #cond,       \
                    __LINE__);                                                   \
            rc = BIRCH_ECORRUPT;                                                 \
            goto out;                                                            \
        }                                                                        \
    } while (0)

/* A document built with cJSON's constructors. */
static cJSON *make_lamp(void)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *tags = cJSON_CreateArray();
    if (doc == NULL || tags == NULL || !cJSON_AddStringToObject(doc, "name", "desk lamp") ||
        !cJSON_AddNumberToObject(doc, "price", 34.5) || !cJSON_AddNumberToObject(doc, "stock", 12)) {
        cJSON_Delete(doc);
        cJSON_Delete(tags);
        return NULL;
    }
    cJSON_AddItemToArray(tags, cJSON_CreateString("lighting"));
    cJSON_AddItemToArray(tags, cJSON_CreateString("office"));
    cJSON_AddItemToObject(doc, "tags", tags);
    return doc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "json_format.birch";
    /* Documents given as text; the lamp is built in code. */
    static const char *const texts[][2] = {
        {"chair", "{ \"name\": \"office chair\", \"price\": 149.0, \"stock\": 3,\n"
                  "  \"tags\": [\"furniture\", \"office\"] }"},
        {"kettle", "{\"name\": \"kettle\", \"price\": 27.99, \"stock\": 0, \"tags\": []}"},
    };
    const size_t ntexts = sizeof texts / sizeof texts[0];

    birch_db *db = NULL;
    birch_txn *txn = NULL;
    birch_table *raw = NULL;
    birch_typed products, wrong;
    birch_guard g;
    birch_stream *st = NULL;
    birch_item item;
    cJSON *doc = NULL;
    char desc[64];
    int rc = BIRCH_OK;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&g, 0, sizeof g); /* a zero guard may be released */

    birch_options opts;
    birch_options_init(&opts);
    opts.recreate = BIRCH_RECREATE_ALWAYS; /* an empty database every run */
    TRY(birch_open(path, &opts, &db));
    printf("birch %s with cJSON %s: %s\n", birch_version(), cJSON_Version(), path);

    /* A typed table: string keys, JSON values. */
    TRY(birch_typed_open(db, NULL, "products", &birch_key_cstr, &json_format, BIRCH_CREATE, &products));
    TRY(json_format.describe(&json_format, desc, sizeof desc));
    printf("table products: key string, value %s\n", desc);

    /* Store: the C value is a cJSON tree; put encodes it straight into the page. */
    for (size_t i = 0; i <= ntexts; i++) {
        const char *key = i < ntexts ? texts[i][0] : "lamp";
        doc = i < ntexts ? cJSON_Parse(texts[i][1]) : make_lamp();
        EXPECT(doc != NULL);
        TRY(birch_typed_put(NULL, &products, &key, &doc, 0));
        cJSON_Delete(doc);
        doc = NULL;
        printf("put %s\n", key);
    }

    /* Read back: the guard's bytes are the verified JSON text, in place in
     * the map (not NUL-terminated); parse them to use the fields. */
    static const char *const keys[] = {"chair", "kettle", "lamp"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        TRY(birch_typed_get(NULL, &products, &keys[i], &g));
        printf("get %-6s -> %.*s\n", keys[i], (int)g.bytes.size, (const char *)g.bytes.data);
        doc = cJSON_ParseWithLength(g.bytes.data, g.bytes.size);
        birch_guard_release(&g);
        EXPECT(doc != NULL);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
        const cJSON *price = cJSON_GetObjectItemCaseSensitive(doc, "price");
        const cJSON *stock = cJSON_GetObjectItemCaseSensitive(doc, "stock");
        EXPECT(cJSON_IsString(name) && cJSON_IsNumber(price) && cJSON_IsNumber(stock));
        printf("           name \"%s\", price %.2f, %s\n", name->valuestring, price->valuedouble,
               stock->valueint > 0 ? "in stock" : "sold out");
        cJSON_Delete(doc);
        doc = NULL;
    }

    /* Update one document: read, change the tree, put it back. */
    {
        const char *key = "kettle";
        TRY(birch_typed_get(NULL, &products, &key, &g));
        doc = cJSON_ParseWithLength(g.bytes.data, g.bytes.size);
        birch_guard_release(&g);
        EXPECT(doc != NULL);
        cJSON_ReplaceItemInObjectCaseSensitive(doc, "stock", cJSON_CreateNumber(40));
        TRY(birch_typed_put(NULL, &products, &key, &doc, 0));
        cJSON_Delete(doc);
        doc = NULL;
    }

    /* A stream over every document, in key order. */
    birch_stream_opts all = {0};
    TRY(birch_stream_open(NULL, &products, &all, &st));
    printf("all products:\n");
    while ((rc = birch_stream_next(st, &item)) == BIRCH_OK)
        printf("  %-6s %.*s\n", *(const char *const *)item.key, (int)item.bytes.size,
               (const char *)item.bytes.data);
    birch_stream_close(st);
    st = NULL;
    EXPECT(rc == BIRCH_NOTFOUND);

    /* The schema guards the table: opening it with another value format fails. */
    rc = birch_typed_open(db, NULL, "products", &birch_key_cstr, &birch_value_string, 0, &wrong);
    EXPECT(rc == BIRCH_ESCHEMA);
    printf("open products as string values -> %s:\n  %s\n", birch_strerror(rc), wrong.msg);

    /* Bytes written around the format (the untyped API sees raw bytes) are
     * caught on read by verify, with its message. */
    TRY(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    TRY(birch_table_open(txn, "products", 0, &raw));
    TRY(birch_put(txn, raw, (birch_val){"broken", 6}, (birch_val){"{\"name\": \"tru", 13}, 0));
    rc = birch_txn_commit(txn);
    txn = NULL;
    TRY(rc);
    {
        const char *key = "broken";
        rc = birch_typed_get(NULL, &products, &key, &g);
        EXPECT(rc == BIRCH_EFORMAT); /* nothing to release after an error */
        printf("get broken -> %s:\n  %s\n", birch_strerror(rc), g.msg);
    }
    rc = BIRCH_OK;

out:
    cJSON_Delete(doc);
    birch_stream_close(st);
    birch_txn_abort(txn);
    if (db != NULL) {
        int crc = birch_close(db);
        if (rc == BIRCH_OK && crc != BIRCH_OK) {
            fprintf(stderr, "json_format: birch_close: %s\n", birch_strerror(crc));
            rc = crc;
        }
    }
    if (rc == BIRCH_OK) printf("done\n");
    return rc == BIRCH_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
