/*
 * value.c - the built-in value formats: raw bytes, UTF-8 strings, and pod
 * (a fixed-size C struct stored as it is).
 */
#include <stdio.h>
#include <string.h>

#include "birch.h"
#include "formats.h"

static int say(char *msg, size_t cap, const char *text)
{
    if (msg && cap) snprintf(msg, cap, "%s", text);
    return BIRCH_EFORMAT;
}

/* ---- bytes and string: the C value is a birch_val ---------------------------- */

static int val_size(const birch_value_format *f, const void *value, size_t *size)
{
    const birch_val *v = value;
    if (!v || (!v->data && v->size)) return BIRCH_EINVAL;
    if (f->param && !bi_utf8_valid(v->data, v->size)) return BIRCH_EINVAL; /* string */
    *size = v->size;
    return BIRCH_OK;
}

static int val_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    (void)f;
    const birch_val *v = value;
    if (v->size != size) return BIRCH_EINVAL;
    if (size) memcpy(out, v->data, size);
    return BIRCH_OK;
}

static int bytes_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    (void)f, (void)data, (void)size, (void)msg, (void)cap;
    return BIRCH_OK;
}

static int string_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    (void)f;
    return bi_utf8_valid(data, size) ? BIRCH_OK : say(msg, cap, "string: not valid UTF-8");
}

static int describe_name(const birch_value_format *f, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s", f->name);
    return n < 0 || (size_t)n >= cap ? BIRCH_EINVAL : n;
}

/* param != NULL marks the string format (UTF-8 checked). */
const birch_value_format birch_value_bytes = {
    "bytes", 1, 1, sizeof(birch_val), describe_name, val_size, val_encode, bytes_verify, NULL, NULL};
const birch_value_format birch_value_string = {
    "string", 1, 1, sizeof(birch_val), describe_name, val_size, val_encode, string_verify, NULL, "utf8"};

/* ---- pod ----------------------------------------------------------------------------- */

static const birch_pod *pod_of(const birch_value_format *f)
{
    return f ? f->param : NULL;
}

int birch_pod_describe(const birch_value_format *f, char *buf, size_t cap)
{
    const birch_pod *p = pod_of(f);
    if (!p || !buf) return BIRCH_EINVAL;
    int n = snprintf(buf, cap, "pod(%s v%u, %zu bytes, align %zu)", p->name, (unsigned)p->version, p->size,
                     p->align);
    return n < 0 || (size_t)n >= cap ? BIRCH_EINVAL : n;
}

int birch_pod_size(const birch_value_format *f, const void *value, size_t *size)
{
    const birch_pod *p = pod_of(f);
    if (!p || !value || !size) return BIRCH_EINVAL;
    *size = p->size;
    return BIRCH_OK;
}

int birch_pod_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    const birch_pod *p = pod_of(f);
    if (!p || !value || size != p->size) return BIRCH_EINVAL;
    memcpy(out, value, size);
    return BIRCH_OK;
}

int birch_pod_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    const birch_pod *p = pod_of(f);
    if (!p) return BIRCH_EINVAL;
    if (size != p->size) {
        if (msg && cap) snprintf(msg, cap, "pod %s: %zu bytes stored, %zu expected", p->name, size, p->size);
        return BIRCH_EFORMAT;
    }
    if (p->align > 8 || ((uintptr_t)data & (p->align - 1)))
        return say(msg, cap, "pod: value not aligned for its type");
    return BIRCH_OK;
}
