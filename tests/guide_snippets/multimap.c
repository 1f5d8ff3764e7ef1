/*
 * Snippets of docs/guide/multimap.md.  Each ```c block of the guide is copied
 * verbatim from this file (tests/check_guides.cmake checks it), and this
 * program runs them: edit both together.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

static birch_val str(const char *s)
{
    return (birch_val){s, strlen(s)};
}

/* [guide] */
/* A secondary index: tag -> the ids of the posts that carry it. */
static int tag_post(birch_txn *txn, birch_table *by_tag, const char *tag, const char *post_id)
{
    return birch_multi_put(txn, by_tag, str(tag), str(post_id), 0);
}

/* Prints the posts of a tag, in order, and how many there are. */
static int print_tag(birch_txn *txn, birch_table *by_tag, const char *tag)
{
    uint64_t n;
    birch_cursor *cur;
    int rc = birch_multi_count(txn, by_tag, str(tag), &n);
    if (rc == BIRCH_OK)
        rc = birch_cursor_open(txn, by_tag, &cur);
    if (rc != BIRCH_OK)
        return rc;
    printf("%s (%" PRIu64 "):", tag, n);
    rc = birch_cursor_seek_value(cur, str(tag), (birch_val){NULL, 0}); /* its first value */
    while (rc == BIRCH_OK) {
        birch_val post;
        rc = birch_cursor_get(cur, NULL, &post);
        if (rc == BIRCH_OK)
            printf(" %.*s", (int)post.size, (const char *)post.data);
        if (rc == BIRCH_OK)
            rc = birch_cursor_next_value(cur); /* BIRCH_NOTFOUND after the tag's last */
    }
    printf("\n");
    birch_cursor_close(cur);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}
/* [/guide] */

/* [guide] */
/* The same index, typed: string tags, u64 post ids in numeric order. */
static int count_ids(const void *value, void *ctx)
{
    *(uint64_t *)ctx += *(const uint64_t *)value;
    return 0;
}

static int typed_index(birch_db *db)
{
    birch_typed_multi idx;
    birch_val tag = str("c");
    uint64_t ids[] = {30, 4, 1000}, sum = 0;
    int rc = birch_typed_multi_open(db, NULL, "tag_ids", &birch_key_string, &birch_key_u64, BIRCH_CREATE, &idx);
    for (int i = 0; i < 3 && rc == BIRCH_OK; i++)
        rc = birch_typed_multi_put(NULL, &idx, &tag, &ids[i]);
    if (rc == BIRCH_OK)
        rc = birch_typed_multi_values(NULL, &idx, &tag, count_ids, &sum); /* 4, 30, 1000 */
    if (rc == BIRCH_OK)
        printf("ids of c add up to %" PRIu64 "\n", sum);
    return rc;
}
/* [/guide] */

static void die(int rc, const char *what)
{
    fprintf(stderr, "%s: %s (%s)\n", what, birch_strerror(rc), birch_errmsg());
    exit(1);
}

int main(void)
{
    birch_options opts;
    birch_options_init(&opts);
    opts.backend = BIRCH_BACKEND_MEMORY;
    birch_db *db;
    birch_txn *txn;
    birch_table *t;
    int rc = birch_open("multimap", &opts, &db);
    if (rc) die(rc, "open");
    if ((rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &txn))) die(rc, "begin");
    if ((rc = birch_table_open(txn, "by_tag", BIRCH_CREATE | BIRCH_MULTIMAP, &t))) die(rc, "table");
    const char *tags[][2] = {{"c", "post7"}, {"db", "post2"}, {"c", "post3"}, {"c", "post7"}, {"db", "post9"}};
    for (int i = 0; i < 5; i++)
        if ((rc = tag_post(txn, t, tags[i][0], tags[i][1]))) die(rc, "tag_post");
    if ((rc = print_tag(txn, t, "c"))) die(rc, "print_tag");
    if ((rc = print_tag(txn, t, "none"))) die(rc, "print_tag none");
    if ((rc = birch_txn_commit(txn))) die(rc, "commit");
    if ((rc = typed_index(db))) die(rc, "typed_index");
    return birch_close(db) ? 1 : 0;
}
