/*
 * typed_internal.h - what typed.c shares with stream.c (internal).
 */
#ifndef BIRCH_TYPED_INTERNAL_H
#define BIRCH_TYPED_INTERNAL_H

#include "birch.h"

/* Room for any encoded key: keys are at most page_size / 4 bytes. */
#define BI_KEY_BUF (BIRCH_MAX_PAGE_SIZE / 4)

/* The first line of every typed table's schema text (FORMAT.md 16). */
#define SCHEMA_MAGIC "birch-typed 1\n"

/* Checks table's schema against want (n bytes of schema text), or stores
 * it when the table is new or empty and untyped (in a write transaction).
 * BIRCH_ESCHEMA with msg (cap bytes) naming both sides. */
int bi_typed_schema(birch_txn *txn, birch_table *table, const char *name, const char *want, size_t n, char *msg,
                    size_t cap);
/* BIRCH_OK if txn (a token; NULL is fine) is live and belongs to db;
 * else BIRCH_ETXN, BIRCH_EFORK or BIRCH_EINVAL naming who. */
int bi_txn_db(birch_txn *txn, birch_db *db, const char *who);
/* bi_txn_db, and *txn (not NULL) becomes the struct bi_txn_use decodes. */
int bi_txn_db_use(birch_txn **txn, birch_db *db, const char *who);
/* Uses txn, or (txn NULL) begins one with flags into *use. */
int bi_auto_begin(birch_db *db, birch_txn *txn, unsigned flags, birch_txn **use);
/* Ends *use if bi_auto_begin began it: commit when rc >= 0, else abort.
 * Returns rc, or the commit's error. */
int bi_auto_end(birch_txn *txn, birch_txn *use, int rc);
/* Encodes a C key of t's key format into buf. */
int bi_typed_key(const birch_typed *t, const void *key, uint8_t *buf, size_t cap, birch_val *out);
/* Records why format f refused to encode `what` ("the key", "the prefix")
 * with rc (len: the size it needed, cap: the room there was) and returns
 * rc. */
int bi_key_refused(const birch_key_format *f, int rc, size_t len, size_t cap, const char *what);
/* Looks key up into a guard; verify 0 skips the value format's check. */
int bi_typed_lookup(birch_txn *txn, const birch_typed *t, const void *key, birch_guard *g, int verify);

#endif /* BIRCH_TYPED_INTERNAL_H */
