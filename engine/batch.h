/*
 * batch.h - the encoding of write batches (docs/FORMAT.md 21), shared by
 * the modules that write one (batch.c's birch_batch_* builders, feed.c's
 * capture of a transaction's changes) and those that read one (batch.c's
 * birch_batch_each, api/apply.c's birch_batch_apply).
 *
 * Writing checks nothing but room: the builders check their arguments
 * first, and the capture records changes the engine has just checked.
 * Reading checks everything: a batch may come from anywhere.
 */
#ifndef BIRCH_ENGINE_BATCH_H
#define BIRCH_ENGINE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "birch.h"

#define BI_BATCH_HDR 24                          /* magic, version, flags, count, reserved, checksum */
#define BI_BATCH_MAX_NAME 255                    /* no database names a table longer */
#define BI_BATCH_MAX_KEY (BIRCH_MAX_PAGE_SIZE / 4) /* no database holds a longer key */

/* The record that names the current table (kinds 1..15 are birch.h's
 * BIRCH_BATCH_*). */
#define BI_BATCH_TABLE 0
#define BI_BATCH_KINDS 16 /* kinds 0..15; the rest are reserved (BIRCH_ECORRUPT) */

/* Whether a kind of change applies to the current table (the savepoint
 * kinds do not); 0 for kinds out of range. */
int bi_batch_scoped(int kind);

/* One change to append: kind, the current table's name (scoped kinds),
 * and the fields its kind has (birch_batch_op's): key, val, num. */
typedef struct bi_change {
    int kind;
    const char *table;
    size_t table_len;
    birch_val key, val;
    uint64_t num;
} bi_change;

/* Appends c to b (a table record first when c's table is not the current
 * one), its byte strings copied (they may point into b's own bytes).  A
 * val with data NULL and a size leaves its bytes for the caller to fill:
 * *val_at (if not NULL) is their offset in b->data_.  Errors: BIRCH_ENOMEM,
 * BIRCH_EINVAL (UINT32_MAX changes already); b is then as it was. */
int bi_batch_append(birch_batch *b, const bi_change *c, size_t *val_at, const char *who);

/* A point of a batch being built, to cut it back to (a change undone). */
typedef struct bi_batch_mark {
    size_t size, table_at;
    uint32_t count, table_len;
} bi_batch_mark;

bi_batch_mark bi_batch_mark_of(const birch_batch *b);
void bi_batch_cut(birch_batch *b, bi_batch_mark m);

/* Writes the header (count, checksum) and gives the encoding. */
int bi_batch_finish(birch_batch *b, birch_val *out, const char *who);

/* Reading: bi_batch_open checks the whole encoding (header, checksum,
 * every record, the count): BIRCH_ECORRUPT, BIRCH_EVERSION, BIRCH_EINVAL
 * (NULL data with a size); then bi_batch_next gives each change: 1, or 0
 * after the last.  index: the changes given so far. */
typedef struct bi_batch_reader {
    const uint8_t *p;
    size_t n, at;
    birch_val table; /* the current table (size 0: none yet) */
    uint32_t index;
    const char *who;
} bi_batch_reader;

int bi_batch_open(birch_val batch, bi_batch_reader *r, const char *who);
int bi_batch_next(bi_batch_reader *r, birch_batch_op *op);

/* Whether [lo, hi) is a range (open bounds empty): lo does not sort after hi. */
int bi_batch_range_ok(birch_val lo, birch_val hi);

#endif
