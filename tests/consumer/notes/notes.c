/* notes.c - see notes.h. */
#include "notes.h"

int notes_make(birch_fb_builder *b, const char *title, Consumer_Mood mood, const char *text, birch_val *out)
{
    birch_fb_ref t = birch_fb_cstring(b, text);
    Consumer_Page_start(b);
    Consumer_Page_add_text(b, t);
    birch_fb_ref page = Consumer_Page_end(b);
    birch_fb_ref pages = Consumer_Notebook_vec_pages(b, &page, 1);
    birch_fb_ref name = birch_fb_cstring(b, title);
    Consumer_Notebook_start(b);
    Consumer_Notebook_add_title(b, name);
    Consumer_Notebook_add_mood(b, mood);
    Consumer_Notebook_add_pages(b, pages);
    return Consumer_Notebook_finish(b, Consumer_Notebook_end(b), 0, out);
}
