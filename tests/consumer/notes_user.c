/*
 * notes_user.c - a program that links the notes library (tests/consumer/
 * notes/) and includes its header, which includes a header the library's
 * build generated: found through the library's PUBLIC include directory.
 * Prints "done" when the Notebook reads back.
 */
#include <stdio.h>
#include <string.h>

#include "notes.h"

int main(void)
{
    birch_fb_builder *b = birch_fb_builder_new();
    birch_val v;
    if (!b || notes_make(b, "from a library", Consumer_Mood_Calm, "page one", &v) != BIRCH_OK) return 1;
    const Consumer_Notebook_table *n = Consumer_Notebook_verify(v.data, v.size, NULL, NULL, 0) == BIRCH_OK
                                           ? Consumer_Notebook_root(v.data, v.size, 0)
                                           : NULL;
    int ok = n && strcmp(Consumer_Notebook_title(n), "from a library") == 0 &&
             Consumer_Notebook_mood(n) == Consumer_Mood_Calm && Consumer_Notebook_pages_len(n) == 1 &&
             strcmp(Consumer_Page_text(Consumer_Notebook_pages_at(n, 0)), "page one") == 0;
    birch_fb_builder_free(b);
    if (!ok) {
        fprintf(stderr, "notes_user: the notebook did not read back\n");
        return 1;
    }
    printf("done\n");
    return 0;
}
