/*
 * notes_user.c - a program that links the notes library (tests/consumer/
 * notes/) and includes its header, which includes a header the library's
 * build generated: found through the library's PUBLIC include directory.
 * Prints "done" when the Note reads back.
 */
#include <stdio.h>
#include <string.h>

#include "notes.h"

int main(void)
{
    birch_fb_builder *b = birch_fb_builder_new();
    birch_val v;
    if (!b || notes_make(b, "from a library", Consumer_Mood_Calm, &v) != BIRCH_OK) return 1;
    const Consumer_Note_table *n = Consumer_Note_verify(v.data, v.size, NULL, NULL, 0) == BIRCH_OK
                                       ? Consumer_Note_root(v.data, v.size, 0)
                                       : NULL;
    int ok = n && strcmp(Consumer_Note_text(n), "from a library") == 0 && Consumer_Note_mood(n) == Consumer_Mood_Calm;
    birch_fb_builder_free(b);
    if (!ok) {
        fprintf(stderr, "notes_user: the note did not read back\n");
        return 1;
    }
    printf("done\n");
    return 0;
}
