/* notes.h - a library's header that includes a generated one: its users
 * read the Notebook it builds through notebook_birch.h's accessors. */
#ifndef NOTES_H
#define NOTES_H
#include "notebook_birch.h"

/* A Notebook with a title, a mood and one page of text, finished into
 * *out (the builder's memory: valid until it is reset or freed). */
int notes_make(birch_fb_builder *b, const char *title, Consumer_Mood mood, const char *text, birch_val *out);

#endif
