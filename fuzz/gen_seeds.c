/*
 * gen_seeds.c - writes the seed database images of fuzz/corpus/file:
 *
 *   gen_seeds DIR
 *
 * Small valid files of several page sizes: empty, one table, several
 * tables with overflow values, a deeper tree, a free list (deletes over
 * several commits), a schema, a weak (non-durable) last commit.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "birch.h"

#define OK(expr)                                                                  \
    do {                                                                          \
        int rc_ = (expr);                                                         \
        if (rc_) {                                                                \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,         \
                    birch_strerror(rc_));                                         \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

static void put(birch_txn *w, birch_table *t, const char *k, size_t vn, int fillc)
{
    static unsigned char v[20000];
    memset(v, fillc, vn);
    OK(birch_put(w, t, (birch_val){k, strlen(k)}, (birch_val){v, vn}, 0));
}

/* nkeys records in `tables` tables over `commits` commits, deleting every
 * third key in the last one. */
static void make(const char *dir, const char *name, uint32_t ps, int durable, int tables, int nkeys,
                 int commits, size_t big)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    birch_options o;
    birch_options_init(&o);
    o.page_size = ps;
    o.durability = durable ? BIRCH_DURABLE_FULL : BIRCH_DURABLE_NONE;
    birch_db *db;
    OK(birch_open(path, &o, &db));
    static const char *names[] = {"t", "u", "fz", "a"};
    for (int c = 0; c < commits; c++) {
        birch_txn *w;
        OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &w));
        for (int ti = 0; ti < tables; ti++) {
            birch_table *t;
            OK(birch_table_open(w, names[ti], BIRCH_CREATE, &t));
            if (c == 0 && ti == 0) OK(birch_table_set_schema(w, t, (birch_val){"schema", 6}));
            for (int i = 0; i < nkeys; i++) {
                char k[64];
                snprintf(k, sizeof k, "key%06d", i * 7 % (nkeys + 1));
                if (c == commits - 1 && c > 0 && i % 3 == 0) {
                    int rc = birch_del(w, t, (birch_val){k, strlen(k)});
                    if (rc && rc != BIRCH_NOTFOUND) OK(rc);
                } else {
                    put(w, t, k, i % 11 == 0 ? big : (size_t)(i % 30), 'a' + c);
                }
            }
        }
        OK(birch_txn_commit(w));
    }
    /* The file grows in 1 MiB steps: cut it to the pages in use. */
    birch_stat st;
    OK(birch_stat_get(db, &st));
    uint64_t used = st.page_count * ps;
    if (!durable) {
        /* Also keep a copy with the weak meta still current. */
        char cmd[4 * sizeof path];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s.weak' && truncate -s %llu '%s.weak'", path, path,
                 (unsigned long long)used, path);
        if (system(cmd)) exit(1);
    }
    OK(birch_close(db));
    if (truncate(path, (off_t)used)) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *d = argv[1];
    make(d, "empty-512", 512, 1, 0, 0, 1, 0);
    make(d, "empty-4096", 4096, 1, 0, 0, 1, 0);
    make(d, "small-512", 512, 1, 1, 10, 1, 600);
    make(d, "tables-512", 512, 1, 3, 40, 3, 1500);
    make(d, "deep-512", 512, 1, 1, 400, 2, 700);
    make(d, "tables-1024", 1024, 1, 2, 60, 3, 3000);
    make(d, "small-2048", 2048, 1, 2, 30, 2, 5000);
    make(d, "tables-4096", 4096, 1, 2, 30, 2, 9000);
    make(d, "weak-512", 512, 0, 2, 30, 3, 900);
    return 0;
}
