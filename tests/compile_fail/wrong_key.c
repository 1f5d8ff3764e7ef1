/* Must not compile: a `const char *` key for a uint64_t-keyed table. */
#define CF_KEY "seven"
#include "ok.c"
