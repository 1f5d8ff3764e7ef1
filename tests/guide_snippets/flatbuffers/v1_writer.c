/*
 * v1_writer.c - the program of docs/guide/flatbuffers.md before the schema
 * changed: it writes an item with inventory_v1.fbs's header, so that the
 * guide's program (flatbuffers.c, built with version 2) reads data that
 * an older version wrote.  Not quoted by the guide.
 */
#include "inventory_v1_birch.h"

int write_v1_item(birch_db *db);

int write_v1_item(birch_db *db)
{
    birch_typed t;
    uint64_t id = 1;
    birch_fb_builder *b = birch_fb_builder_new();
    if (!b)
        return BIRCH_ENOMEM;
    birch_fb_ref name = birch_fb_cstring(b, "hammer");
    Inv_Item_start(b);
    Inv_Item_add_name(b, name);
    Inv_Item_add_price(b, 1299);
    Inv_Item_add_code(b, 4711); /* deprecated in version 2 */
    birch_val buf;
    int rc = Inv_Item_finish(b, Inv_Item_end(b), 0, &buf);
    if (rc == BIRCH_OK)
        rc = birch_typed_open(db, NULL, "items", &birch_key_u64, &Inv_Item_format, BIRCH_CREATE, &t);
    if (rc == BIRCH_OK)
        rc = birch_typed_put(NULL, &t, &id, &buf, 0);
    birch_fb_builder_free(b);
    return rc;
}
