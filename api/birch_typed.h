/*
 * birch_typed.h - value formats, typed tables, guards and streams
 * (included by birch.h).
 *
 * A typed table pairs a table with a key format (birch_key.h) and a value
 * format.  Both are named in the table's schema when it is created, and a
 * later open with other formats fails with BIRCH_ESCHEMA instead of
 * misreading the bytes.  Opening the same table with birch_table_open
 * always works and sees the raw bytes, so tools can read every table.
 *
 * Reads return guards: the stored value, checked by its format once, and
 * viewed in place in the map (never copied).  A pod value's view is a
 * correctly aligned `const T *`.
 *
 * Every call that takes a `birch_txn *txn` also accepts NULL: it then runs
 * in a transaction of its own (a read snapshot for reads, a write
 * transaction committed before the call returns for writes), so that one
 * call is one complete operation.  Pass a transaction to group
 * many operations; that is also much faster for writes (one commit).
 *
 * BIRCH_TYPED_TABLE (at the end) declares type-safe wrappers, so that a
 * key or value of the wrong C type does not compile.
 */
#ifndef BIRCH_TYPED_H
#define BIRCH_TYPED_H

#include <stddef.h>
#include <stdint.h>

#include "birch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Value formats -------------------------------------------------------- */

typedef struct birch_value_format birch_value_format;

/* A value format: how a C value becomes stored bytes, how stored bytes are
 * checked, and what a reader sees.  Built-in formats and users' own formats
 * implement the same table; the archive and FlatBuffers formats plug in
 * here too.  Every function gets the format itself, so one set of functions
 * can serve many formats through `param`. */
struct birch_value_format {
    const char *name;   /* short name: "bytes", "string", "pod", ... */
    uint32_t version;   /* version of this format's encoding */
    uint32_t align;     /* alignment the view needs: 1, 2, 4 or 8 */
    size_t c_size;      /* sizeof the C value that put takes and batch arrays hold */
    /* Writes the schema text that identifies the format and its parameters,
     * e.g. "pod(Order v2, 48 bytes, align 8)"; two formats that write the
     * same text must read each other's bytes.  Returns the length (less
     * than cap) or a negative code. */
    int (*describe)(const birch_value_format *f, char *buf, size_t cap);
    /* The number of bytes value encodes to. */
    int (*size)(const birch_value_format *f, const void *value, size_t *size);
    /* Encodes value into out: exactly `size` bytes that birch provides in
     * place (8-byte aligned, zero-filled). */
    int (*encode)(const birch_value_format *f, const void *value, void *out, size_t size);
    /* Checks stored bytes (8-byte aligned) before anything reads them:
     * BIRCH_OK, or BIRCH_EFORMAT with the first check that failed in msg. */
    int (*verify)(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap);
    /* The view of verified bytes; NULL here means the bytes themselves. */
    const void *(*view)(const birch_value_format *f, const void *data, size_t size);
    const void *param;  /* the format's parameters */
};

/* Raw bytes; the C value is a birch_val, the view the bytes. */
extern const birch_value_format birch_value_bytes;
/* UTF-8 text, checked on put and on read; C value birch_val. */
extern const birch_value_format birch_value_string;

/* A fixed-size C struct stored as it is in memory ("plain old data").
 * Verify checks the size (and the map guarantees the alignment, up to 8).
 * version is the user's version of the struct: change it when the layout
 * changes, and tables holding the old layout refuse to open. */
typedef struct birch_pod {
    const char *name;
    size_t size;
    size_t align;
    uint32_t version;
} birch_pod;

/* The functions of every pod format (BIRCH_POD_FORMAT fills them in; param
 * is the birch_pod): describe gives "pod(NAME vVERSION, SIZE bytes, align
 * ALIGN)", size is always the struct's, encode copies it, verify checks the
 * size and the alignment. */
int birch_pod_describe(const birch_value_format *f, char *buf, size_t cap);
int birch_pod_size(const birch_value_format *f, const void *value, size_t *size);
int birch_pod_encode(const birch_value_format *f, const void *value, void *out, size_t size);
int birch_pod_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap);

/* Declares `static const birch_value_format fmt` for the struct type T at
 * user version ver, e.g. BIRCH_POD_FORMAT(order_format, Order, 2). */
#define BIRCH_POD_FORMAT(fmt, T, ver)                                                          \
    static const birch_pod fmt##_pod_ = {#T, sizeof(T), _Alignof(T), (ver)};                 \
    static const birch_value_format fmt = {"pod", 1, (uint32_t)_Alignof(T), sizeof(T),       \
                                           birch_pod_describe, birch_pod_size,               \
                                           birch_pod_encode, birch_pod_verify, NULL, &fmt##_pod_}

/* ---- Typed tables --------------------------------------------------------- */

/* A typed table handle: the caller owns it (no allocation); it stays valid
 * until birch_close.  Treat the fields as read-only. */
typedef struct birch_typed {
    birch_table *table;
    const birch_key_format *key;
    const birch_value_format *value;
    char msg[512]; /* why the last birch_typed_open on it failed */
} birch_typed;

/* Opens table name as a typed table.  With BIRCH_CREATE (which needs a
 * write transaction, or txn NULL) a missing table is created and its schema
 * stored.  A table created untyped and still empty takes the schema on its
 * first typed open in a write transaction.
 * Errors: BIRCH_ESCHEMA (the table holds other formats, or untyped
 * records; t->msg names both sides, e.g. "table 'orders' holds key u64 /
 * value pod(Order v2, 48 bytes, align 8); opened as key string / value
 * pod(Order v1, 40 bytes, align 8)"), BIRCH_EINVAL (NULL, a format with
 * alignment above 8), and those of birch_table_open. */
int birch_typed_open(birch_db *db, birch_txn *txn, const char *name, const birch_key_format *key,
                     const birch_value_format *value, unsigned flags, birch_typed *t);

/* Stores key -> value (C values of the table's formats).  The value is
 * encoded straight into the page; when it may point into a page this write
 * transaction wrote (a guard, stream item or birch_get of the same
 * transaction, since its last change), it is first encoded into a buffer
 * of the transaction, so key and value may point anywhere (birch.h,
 * Memory rules).  flags as for birch_put.  Errors: those of
 * birch_put, and BIRCH_EINVAL for a key or value its format rejects (its
 * size function refuses it; the transaction stays usable).  A format whose
 * encode fails after its size function accepted the value leaves a
 * half-written record, so the transaction then fails (BIRCH_ETXN after);
 * when the value was being encoded into the buffer, nothing was written
 * and the transaction stays usable. */
int birch_typed_put(birch_txn *txn, const birch_typed *t, const void *key, const void *value,
                    unsigned flags);

/* Deletes key.  Returns 1 if it existed, 0 if not, or a negative code. */
int birch_typed_delete(birch_txn *txn, const birch_typed *t, const void *key);

/* Returns 1 if key exists, 0 if not, or a negative code. */
int birch_typed_contains(birch_txn *txn, const birch_typed *t, const void *key);

/* Stores n records from the arrays keys (n C keys, key->c_size bytes each)
 * and values (n C values, value->c_size bytes each).  The batch is sorted by
 * encoded key (of equal keys the last wins) and, when the whole batch sorts
 * after every key in the table, goes in through the append path, which
 * fills pages completely.  Keys and values may point anywhere: the batch stores
 * what they held when it was called, even when they point into records it
 * replaces.  All or nothing: with txn NULL it commits once.
 * The batch needs n * (birch_max_key_size() + 1) bytes of key space and a
 * sort entry per record, allocated at once.  Errors: those of
 * birch_typed_put (a refused record is named by its index in the detail),
 * BIRCH_EINVAL (NULL, or n so large that those sizes overflow size_t),
 * BIRCH_ENOMEM (they cannot be allocated). */
int birch_typed_put_batch(birch_txn *txn, const birch_typed *t, size_t n, const void *keys,
                          const void *values);

/* ---- Typed multimap tables --------------------------------------------------- */

/* A multimap table (birch.h, "Multimap tables") of C keys and C values of
 * two key formats: the values of a key are a set ordered as their format
 * encodes them (numbers by value, strings by bytes...), which is why their
 * format is a key format.  The caller owns the handle; it stays valid
 * until birch_close.  Treat the fields as read-only. */
typedef struct birch_typed_multi {
    birch_table *table;
    const birch_key_format *key;
    const birch_key_format *value;
    char msg[512]; /* why the last birch_typed_multi_open on it failed */
} birch_typed_multi;

/* Opens (with BIRCH_CREATE, creates) multimap table name with these
 * formats, stored in its schema and checked on every later open.  Errors:
 * BIRCH_ESCHEMA (a plain table, or other formats: t->msg says which),
 * BIRCH_EINVAL, and those of birch_table_open.  txn may be NULL. */
int birch_typed_multi_open(birch_db *db, birch_txn *txn, const char *name, const birch_key_format *key,
                           const birch_key_format *value, unsigned flags, birch_typed_multi *t);
/* Adds value to key's values (no change if it is there).  Errors: those
 * of birch_multi_put; BIRCH_EINVAL when a format refuses key or value. */
int birch_typed_multi_put(birch_txn *txn, const birch_typed_multi *t, const void *key, const void *value);
/* Removes value from key's values: 1 if it was there, 0 if not, or a
 * negative code. */
int birch_typed_multi_delete(birch_txn *txn, const birch_typed_multi *t, const void *key, const void *value);
/* Removes every value of key; *deleted (may be NULL) tells how many (0 is
 * no error). */
int birch_typed_multi_delete_all(birch_txn *txn, const birch_typed_multi *t, const void *key, uint64_t *deleted);
/* The number of key's values, in O(log n). */
int birch_typed_multi_count(birch_txn *txn, const birch_typed_multi *t, const void *key, uint64_t *count);
/* Calls fn with each of key's values in order, decoded into a C value
 * (its variable-length parts valid during the call only); a non-zero
 * return stops the walk and is returned as is.  BIRCH_EFORMAT for a
 * stored value its format does not decode. */
int birch_typed_multi_values(birch_txn *txn, const birch_typed_multi *t, const void *key,
                             int (*fn)(const void *value, void *ctx), void *ctx);

/* ---- Guards --------------------------------------------------------------- */

/* A guard: a stored value, verified once by its format, viewed in place.
 * It keeps its snapshot readable until birch_guard_release: taken with a
 * transaction it shares it (and must be released before the transaction
 * ends: a release after the end is BIRCH_ETXN; and before a read
 * transaction is reset: birch_txn_reset refuses with BIRCH_EBUSY while one
 * is live); taken with txn NULL it pins a snapshot of its own, cheaply (a slot
 * in the reader table taken with atomics: no syscall, no lock).  Release
 * every guard exactly once (a second release of it, or of a copy, is
 * BIRCH_ETXN); a zero-initialised guard may be released.
 * A guard taken in a write transaction points into a page that the next
 * change in that transaction may move: its view and bytes may be passed to
 * that change (a put of them stores what they held), but not read after
 * it; release it before the transaction ends.  Do not
 * copy a live guard (both copies would release one snapshot); getting into
 * a guard that is still live gives BIRCH_EINVAL. */
typedef struct birch_guard {
    const void *view;  /* the typed view: for pod formats a `const T *` */
    birch_val bytes;   /* the stored bytes, 8-byte aligned */
    /* private */
    birch_db *db_;
    birch_txn *txn_;
    uint64_t pin_;     /* the reader slot's pin generation, or the id in txn_ */
    uint32_t slot_;
    uint32_t state_;
    char msg[256];     /* BIRCH_EFORMAT: table, key and the failed check */
} birch_guard;

/* Looks key up and fills *g.  Errors: BIRCH_NOTFOUND, BIRCH_EFORMAT (the
 * stored bytes fail the format's check; g->msg says which), BIRCH_EBUSY (no
 * reader slot), BIRCH_EINVAL, BIRCH_ETXN.  On error *g holds nothing and
 * needs no release. */
int birch_typed_get(birch_txn *txn, const birch_typed *t, const void *key, birch_guard *g);

/* Releases the guard and its snapshot.  Returns BIRCH_OK; BIRCH_ETXN (in
 * every build, never an abort) for a second release of the same guard or
 * of a copy of it (even after its reader slot was taken by another guard),
 * and for a guard taken in a transaction that has ended since (release
 * guards before their transaction ends: the value they viewed is gone);
 * BIRCH_EFORK in a child of fork().  NULL and a zero-initialised guard
 * are BIRCH_OK. */
int birch_guard_release(birch_guard *g);

/* ---- Streams -------------------------------------------------------------- */

/* Bounds of a range. */
enum { BIRCH_UNBOUNDED = 0, BIRCH_INCLUSIVE = 1, BIRCH_EXCLUSIVE = 2 };

/* One record of a stream.  Everything points into the map or the stream and
 * stays valid until the next step of the stream (or, in the callback form,
 * until the callback returns), and in a write transaction until the next
 * change in it; an item's key and value may be passed to that change. */
typedef struct birch_item {
    const void *key;   /* the decoded C key */
    birch_val key_bytes;
    const void *view;  /* the verified value's view */
    birch_val bytes;
} birch_item;

/* Returns non-zero to keep the record. */
typedef int (*birch_filter_fn)(const birch_item *item, void *ctx);

/* What a stream reads.  Zero-initialise, then set what you need. */
typedef struct birch_stream_opts {
    const void *lo;        /* C key of the lower bound (with lo_bound) */
    int lo_bound;          /* BIRCH_UNBOUNDED (default), INCLUSIVE or EXCLUSIVE */
    const void *hi;        /* C key of the upper bound */
    int hi_bound;
    /* Prefix scan: every key whose first prefix_len tuple elements equal
     * those of prefix (a C key of the table's tuple type; only those
     * elements are read; prefix_len 0..the tuple's number of elements).
     * For string and bytes keys: every key that starts with the bytes of
     * prefix (a birch_val, or const char * for cstr); prefix_len is then
     * ignored.  Combined with lo/hi, both apply.  Bounds and prefixes may
     * be longer than any key (birch_max_key_size()): they are compared,
     * never stored. */
    const void *prefix;
    unsigned prefix_len;
    int reverse;           /* largest key first */
    birch_filter_fn filter;
    void *filter_ctx;
    uint64_t skip;         /* records to pass over after the filter */
    uint64_t limit;        /* records to return at most; 0: no limit */
    /* Resume after (forward) or before (reverse) this encoded key, as handed
     * back by birch_stream_resume_key; NULL: from the start of the range. */
    const void *resume;
    size_t resume_len;
} birch_stream_opts;

/* An open stream (birch_stream_open); close it with birch_stream_close. */
typedef struct birch_stream birch_stream;

/* Iterator form.  The stream reads one snapshot: txn's, or (txn NULL) one
 * of its own that it pins until birch_stream_close.  Errors: BIRCH_EINVAL
 * (NULL, a bound mode other than the three, a bound set with a NULL key,
 * prefix_len beyond the tuple's elements, a resume key of 0 or more than
 * BIRCH_MAX_PAGE_SIZE / 4 bytes, a bound or prefix the key format
 * refuses), BIRCH_ENOMEM, and those of birch_txn_begin (txn NULL) and
 * birch_cursor_open. */
int birch_stream_open(birch_txn *txn, const birch_typed *t, const birch_stream_opts *o, birch_stream **s);
/* Fills *item with the next record: BIRCH_OK, BIRCH_NOTFOUND at the end
 * (or once the limit is reached), BIRCH_EFORMAT for a value that fails its
 * check (the stream stops), BIRCH_ETXN once the transaction the stream
 * reads (txn of birch_stream_open) has ended or been reset
 * (birch_txn_reset; renewed or not: the stream read the snapshot that
 * went) (every call from then on, also after the stream's end), or
 * another negative code. */
int birch_stream_next(birch_stream *s, birch_item *item);
/* The encoded key of the last record returned, to resume from (with
 * birch_stream_opts.resume) in a later stream, typically on a fresh
 * snapshot: a long scan then runs in pages and never pins one snapshot for
 * long.  A key that exists throughout a paged scan is returned exactly
 * once.  The key is kept in the stream, so this call keeps working after
 * the stream's transaction has ended (when birch_stream_next answers
 * BIRCH_ETXN): end the transaction, take the key, close the stream.
 * Sets *len to the key's full length and copies at most cap bytes
 * of it into buf.  To size a buffer, pass buf NULL and cap 0 (the size
 * query): BIRCH_EKEYSIZE and *len, then call again with *len bytes (never
 * more than birch_max_key_size()).
 * Returns BIRCH_OK when the whole key fit in buf (cap >= *len).
 * Errors: BIRCH_EKEYSIZE (buf too small, or NULL with cap 0: *len is the
 * length needed and buf holds the key's first cap bytes), BIRCH_NOTFOUND
 * (the stream has returned no record yet; *len is not set), BIRCH_EINVAL
 * (s or len NULL, or buf NULL with cap > 0). */
int birch_stream_resume_key(const birch_stream *s, void *buf, size_t cap, size_t *len);
/* Closes (frees) the stream, and the snapshot it pinned if it had one of
 * its own (txn NULL).  The stream is the caller's: close it whenever,
 * before or after the transaction it reads ends (only birch_stream_next
 * then answers BIRCH_ETXN; birch_stream_resume_key and birch_stream_close
 * work as before), but before birch_close, which counts open streams.
 * NULL is a no-op. */
void birch_stream_close(birch_stream *s);

/* Callback form: calls fn for each record until it returns non-zero (which
 * is then returned as is; use positive values). */
int birch_stream_each(birch_txn *txn, const birch_typed *t, const birch_stream_opts *o,
                      int (*fn)(const birch_item *item, void *ctx), void *ctx);

/* Collects up to cap records: copies their C keys into keys (key->c_size
 * bytes each; may be NULL) and their values into values (value->c_size
 * bytes each for pod; for other formats a birch_val pointing into the map,
 * so txn must not be NULL; may be NULL).  Keys can be collected only for
 * formats without string or bytes parts (whose C values would point into
 * the stream): BIRCH_EINVAL otherwise.  *n gets the number collected. */
int birch_stream_collect(birch_txn *txn, const birch_typed *t, const birch_stream_opts *o,
                         void *keys, void *values, size_t cap, size_t *n);

/* ---- Type-safe wrappers ------------------------------------------------------ */

/* The wrappers are all declared whether a program uses them or not. */
#if defined(__GNUC__) || defined(__clang__)
#define BIRCH_MAYBE_UNUSED_ __attribute__((unused))
#else
#define BIRCH_MAYBE_UNUSED_
#endif

/* Declares static inline functions for a typed table, e.g.
 *
 *   BIRCH_POD_FORMAT(customer_format, Customer, 1);
 *   BIRCH_TYPED_TABLE(customers, uint64_t, Customer, birch_key_u64, customer_format);
 *
 * gives:
 *   int customers_open(birch_db *, birch_txn *, unsigned flags, birch_typed *);
 *   int customers_put(birch_txn *, const birch_typed *, uint64_t key, const Customer *value);
 *   int customers_get(birch_txn *, const birch_typed *, uint64_t key, customers_guard *);
 *   const Customer *customers_view(const customers_guard *);
 *       (the typed view: meant for formats whose view is the C value type,
 *       pod and archives; for bytes and string values read g.g.bytes)
 *   int customers_release(customers_guard *);
 *   int customers_delete(birch_txn *, const birch_typed *, uint64_t key);
 *   int customers_contains(birch_txn *, const birch_typed *, uint64_t key);
 *   int customers_stream(birch_txn *, const birch_typed *, const birch_stream_opts *, birch_stream **);
 * The table's name is the first argument, as a string ("customers").
 * Passing a key or value of another C type is a constraint violation that
 * gcc and clang refuse under -Werror or -pedantic-errors (a struct of the
 * wrong type is refused always); implicit conversions between arithmetic
 * types remain legal C, so use -Wconversion to catch those.  _open returns
 * BIRCH_EINVAL when sizeof the C types differs from the formats' c_size.
 */
#define BIRCH_TYPED_TABLE(name, KeyT, ValT, keyfmt, valfmt)                                        \
    typedef struct name##_guard {                                                                \
        birch_guard g;                                                                           \
    } name##_guard;                                                                              \
    BIRCH_MAYBE_UNUSED_ static inline int name##_open(birch_db *db, birch_txn *txn, unsigned flags, birch_typed *t)   \
    {                                                                                            \
        if (sizeof(KeyT) != (keyfmt).c_size || sizeof(ValT) != (valfmt).c_size)                 \
            return BIRCH_EINVAL; /* the C types do not match the formats */                      \
        return birch_typed_open(db, txn, #name, &(keyfmt), &(valfmt), flags, t);                 \
    }                                                                                            \
    BIRCH_MAYBE_UNUSED_ static inline int name##_put(birch_txn *txn, const birch_typed *t, KeyT key, const ValT *v)   \
    {                                                                                            \
        return birch_typed_put(txn, t, &key, v, 0);                                              \
    }                                                                                            \
    BIRCH_MAYBE_UNUSED_ static inline int name##_get(birch_txn *txn, const birch_typed *t, KeyT key, name##_guard *g) \
    {                                                                                            \
        return birch_typed_get(txn, t, &key, &g->g);                                             \
    }                                                                                            \
    BIRCH_MAYBE_UNUSED_ static inline const ValT *name##_view(const name##_guard *g)                                 \
    {                                                                                            \
        return (const ValT *)g->g.view;                                                          \
    }                                                                                            \
    BIRCH_MAYBE_UNUSED_ static inline int name##_release(name##_guard *g) { return birch_guard_release(&g->g); }   \
    BIRCH_MAYBE_UNUSED_ static inline int name##_delete(birch_txn *txn, const birch_typed *t, KeyT key)              \
    {                                                                                            \
        return birch_typed_delete(txn, t, &key);                                                 \
    }                                                                                            \
    BIRCH_MAYBE_UNUSED_ static inline int name##_contains(birch_txn *txn, const birch_typed *t, KeyT key)            \
    {                                                                                            \
        return birch_typed_contains(txn, t, &key);                                               \
    }                                                                                            \
    BIRCH_MAYBE_UNUSED_ static inline int name##_stream(birch_txn *txn, const birch_typed *t,                        \
                                    const birch_stream_opts *o, birch_stream **s)                \
    {                                                                                            \
        return birch_stream_open(txn, t, o, s);                                                  \
    }                                                                                            \
    typedef int name##_declared_

#ifdef __cplusplus
}
#endif

#include "birch_archive.h" /* archives: structs read in place */

#endif /* BIRCH_TYPED_H */
