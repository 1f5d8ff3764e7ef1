/*
 * fbs_consumer.c - a program of a project outside birch whose FlatBuffers
 * header (note_birch.h) the installed birch generated at build time
 * (birch_flatbuffers_generate in tests/consumer/CMakeLists.txt): it builds
 * a Note, stores it in a typed table and reads it back through a guard.
 * Prints "done" when every check held.
 */
#include <stdio.h>
#include <string.h>

#include "note_birch.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "fbs_consumer.birch";
    birch_fb_builder *b = birch_fb_builder_new();
    birch_db *db = NULL;
    birch_typed t;
    birch_guard g;
    birch_val buf;
    uint64_t key = 7;
    if (!b) return 1;
    birch_fb_ref text = birch_fb_cstring(b, "hello");
    Consumer_Note_start(b);
    Consumer_Note_add_text(b, text);
    Consumer_Note_add_mood(b, Consumer_Mood_Calm);
    int rc = Consumer_Note_finish(b, Consumer_Note_end(b), 0, &buf);
    if (rc == BIRCH_OK) rc = birch_open(path, NULL, &db);
    if (rc == BIRCH_OK) rc = birch_typed_open(db, NULL, "notes", &birch_key_u64, &Consumer_Note_format, BIRCH_CREATE, &t);
    if (rc == BIRCH_OK) rc = birch_typed_put(NULL, &t, &key, &buf, 0);
    if (rc == BIRCH_OK) rc = birch_typed_get(NULL, &t, &key, &g);
    if (rc != BIRCH_OK) {
        fprintf(stderr, "fbs_consumer: %d %s\n", rc, birch_errmsg());
        return 1;
    }
    const Consumer_Note_table *n = Consumer_Note_view(&g);
    int ok = strcmp(Consumer_Note_text(n), "hello") == 0 && Consumer_Note_mood(n) == Consumer_Mood_Calm &&
             strcmp(Consumer_Mood_name(Consumer_Note_mood(n)), "Calm") == 0 && !Consumer_Note_tags_present(n);
    birch_guard_release(&g);
    birch_fb_builder_free(b);
    if (birch_close(db) != BIRCH_OK || !ok) {
        fprintf(stderr, "fbs_consumer: the note did not read back\n");
        return 1;
    }
    printf("done\n");
    return 0;
}
