/*
 * Snippets of docs/guide/flatbuffers.md.  Each ```c block of the guide is
 * copied verbatim from this file (tests/check_guides.cmake checks it), and
 * this program runs them: edit both together.  The schema is
 * tests/guide_snippets/flatbuffers/inventory.fbs, generated at build time
 * by birch_flatbuffers_generate (tests/CMakeLists.txt);
 * flatbuffers/v1_writer.c writes an item with the schema's first version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* [guide] */
#include "inventory_birch.h" /* birch fbs inventory.fbs -o inventory_birch.h */
/* [/guide] */

int write_v1_item(birch_db *db); /* flatbuffers/v1_writer.c */

/* [guide] */
/* Builds an item: strings, vectors and sub-tables first, then the table
 * that refers to them (FlatBuffers builds back to front). */
static int build_item(birch_fb_builder *b, birch_val *out)
{
    birch_fb_ref acme = birch_fb_cstring(b, "acme"), zed = birch_fb_cstring(b, "zed");
    Inv_Supplier_start(b);
    Inv_Supplier_add_name(b, zed);
    birch_fb_ref s1 = Inv_Supplier_end(b);
    Inv_Supplier_start(b);
    Inv_Supplier_add_name(b, acme);
    birch_fb_ref s2 = Inv_Supplier_end(b);
    birch_fb_ref suppliers[] = {s1, s2};
    birch_fb_ref sup = Inv_Item_vec_suppliers(b, suppliers, 2); /* sorted by name here */

    Inv_Perishable_start(b);
    Inv_Perishable_add_days(b, 12);
    birch_fb_ref fresh = Inv_Perishable_end(b);

    birch_fb_ref name = birch_fb_cstring(b, "cheese");
    Inv_Dim dim = {0}; /* zeroed: its padding, if any, is stored too */
    dim.w = 10, dim.h = 5, dim.d = 5;
    Inv_Item_start(b);
    Inv_Item_add_name(b, name);
    Inv_Item_add_kind(b, Inv_Kind_Food);
    Inv_Item_add_price(b, 850);
    Inv_Item_add_dim(b, &dim);
    Inv_Item_add_suppliers(b, sup);
    Inv_Item_add_detail_as_Perishable(b, fresh);
    return Inv_Item_finish(b, Inv_Item_end(b), 0, out); /* with "INVT" */
}
/* [/guide] */

/* [guide] */
/* A typed table of Inv.Item values: each put verifies the buffer; each get
 * gives a guard whose view is the root table, verified once, in place. */
static int put_and_read(birch_db *db)
{
    birch_typed t;
    birch_fb_builder *b = birch_fb_builder_new();
    birch_val buf;
    uint64_t id = 2;
    int rc = b ? build_item(b, &buf) : BIRCH_ENOMEM;
    if (rc == BIRCH_OK)
        rc = birch_typed_open(db, NULL, "items", &birch_key_u64, &Inv_Item_format, BIRCH_CREATE, &t);
    if (rc == BIRCH_OK)
        rc = birch_typed_put(NULL, &t, &id, &buf, 0);
    birch_fb_builder_free(b); /* buf pointed into it */

    birch_guard g;
    if (rc == BIRCH_OK)
        rc = birch_typed_get(NULL, &t, &id, &g);
    if (rc == BIRCH_OK) {
        const Inv_Item_table *item = Inv_Item_view(&g);
        const Inv_Perishable_table *p = Inv_Item_detail_as_Perishable(item);
        const Inv_Supplier_table *s = Inv_Item_suppliers_find_by_name(item, "zed");
        printf("%s (%s): %u cents, %.0f cm wide, keeps %u days, supplier %s, %zu tags%s\n",
               Inv_Item_name(item), Inv_Kind_name(Inv_Item_kind(item)), Inv_Item_price(item),
               Inv_Item_dim(item)->w, p ? Inv_Perishable_days(p) : 0u, s ? Inv_Supplier_name(s) : "-",
               Inv_Item_tags_len(item), Inv_Item_tags_present(item) ? "" : " (absent)");
        birch_guard_release(&g);
    }
    return rc;
}
/* [/guide] */

/* [guide] */
/* Every item, in key order: the stream verifies each value it returns. */
static int list_items(birch_db *db)
{
    birch_typed t;
    birch_stream *s;
    birch_item it;
    birch_stream_opts o = {0};
    int rc = birch_typed_open(db, NULL, "items", &birch_key_u64, &Inv_Item_format, 0, &t);
    if (rc == BIRCH_OK)
        rc = birch_stream_open(NULL, &t, &o, &s);
    if (rc != BIRCH_OK)
        return rc;
    while ((rc = birch_stream_next(s, &it)) == BIRCH_OK) {
        const Inv_Item_table *item = it.view;
        printf("%llu: %s, stock %d\n", (unsigned long long)*(const uint64_t *)it.key, Inv_Item_name(item),
               Inv_Item_stock(item)); /* an item written with version 1: the default, 1 */
    }
    birch_stream_close(s);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}
/* [/guide] */

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "flatbuffers.birch";
    birch_db *db;
    unlink(path);
    int rc = birch_open(path, NULL, &db);
    if (rc == BIRCH_OK)
        rc = write_v1_item(db); /* what an older program wrote */
    if (rc == BIRCH_OK)
        rc = put_and_read(db);
    if (rc == BIRCH_OK)
        rc = list_items(db);
    if (rc != BIRCH_OK)
        fprintf(stderr, "error %d: %s\n", rc, birch_errmsg());
    birch_close(db);
    unlink(path);
    if (rc == BIRCH_OK)
        printf("done\n");
    return rc == BIRCH_OK ? 0 : 1;
}
