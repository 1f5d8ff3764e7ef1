/* Must not compile: an `Order *` value for a table of Customer. */
#define CF_VALUE &o
#include "ok.c"
