/* notes.h - a library's header that includes a generated one: its users
 * read the Note it builds through note_birch.h's accessors. */
#ifndef NOTES_H
#define NOTES_H
#include "note_birch.h"

/* A Note with text and mood, finished into *out (the builder's memory:
 * valid until it is reset or freed). */
int notes_make(birch_fb_builder *b, const char *text, Consumer_Mood mood, birch_val *out);

#endif
