/* notes.c - see notes.h. */
#include "notes.h"

int notes_make(birch_fb_builder *b, const char *text, Consumer_Mood mood, birch_val *out)
{
    birch_fb_ref t = birch_fb_cstring(b, text);
    Consumer_Note_start(b);
    Consumer_Note_add_text(b, t);
    Consumer_Note_add_mood(b, mood);
    return Consumer_Note_finish(b, Consumer_Note_end(b), 0, out);
}
