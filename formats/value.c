/*
 * value.c - the built-in value formats: raw bytes, UTF-8 strings, and pod
 * (a fixed-size C struct stored as it is).
 */
#include <stdio.h>
#include <string.h>

#include "birch.h"
#include "err.h"
#include "formats.h"

static int say(char *msg, size_t cap, const char *text)
{
    if (msg && cap) snprintf(msg, cap, "%s", text);
    return bi_err_s(BIRCH_EFORMAT, text);
}

/* ---- bytes and string: the C value is a birch_val ---------------------------- */

static int val_size(const birch_value_format *f, const void *value, size_t *size)
{
    const birch_val *v = value;
    if (!v) return bi_err_s(BIRCH_EINVAL, "bytes/string value: the value is NULL");
    if (!v->data && v->size) return bi_err_s(BIRCH_EINVAL, "bytes/string value: data is NULL and size is not 0");
    if (f->param && !bi_utf8_valid(v->data, v->size)) /* string */
        return bi_err_s(BIRCH_EINVAL, "string value: not valid UTF-8");
    *size = v->size;
    return BIRCH_OK;
}

static int val_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    const birch_val *v = value;
    if (v->size != size) return bi_err(BIRCH_EINVAL, "%s value: encode of %zu bytes into %zu", f->name, v->size, size);
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
    if (n < 0 || (size_t)n >= cap)
        return bi_err(BIRCH_EINVAL, "%s describe: the name needs %d bytes, buf has %zu", f->name, n + 1, cap);
    return n;
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
    if (!p) return bi_err_s(BIRCH_EINVAL, "birch_pod_describe: not a pod format (NULL format or param)");
    if (!buf) return bi_err_s(BIRCH_EINVAL, "birch_pod_describe: buf is NULL");
    int n = snprintf(buf, cap, "pod(%s v%u, %zu bytes, align %zu)", p->name, (unsigned)p->version, p->size,
                     p->align);
    if (n < 0 || (size_t)n >= cap)
        return bi_err(BIRCH_EINVAL, "birch_pod_describe: the description needs %d bytes, buf has %zu", n + 1, cap);
    return n;
}

int birch_pod_size(const birch_value_format *f, const void *value, size_t *size)
{
    const birch_pod *p = pod_of(f);
    if (!p) return bi_err_s(BIRCH_EINVAL, "birch_pod_size: not a pod format (NULL format or param)");
    if (!value || !size) return bi_err_s(BIRCH_EINVAL, "birch_pod_size: value or size is NULL");
    *size = p->size;
    return BIRCH_OK;
}

int birch_pod_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    const birch_pod *p = pod_of(f);
    if (!p) return bi_err_s(BIRCH_EINVAL, "birch_pod_encode: not a pod format (NULL format or param)");
    if (!value) return bi_err_s(BIRCH_EINVAL, "birch_pod_encode: value is NULL");
    if (size != p->size)
        return bi_err(BIRCH_EINVAL, "birch_pod_encode: pod %s: %zu bytes asked, the struct has %zu", p->name, size, p->size);
    memcpy(out, value, size);
    return BIRCH_OK;
}

int birch_pod_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    const birch_pod *p = pod_of(f);
    if (!p) return bi_err_s(BIRCH_EINVAL, "birch_pod_verify: not a pod format (NULL format or param)");
    if (size != p->size) {
        if (msg && cap) snprintf(msg, cap, "pod %s: %zu bytes stored, %zu expected", p->name, size, p->size);
        return bi_err(BIRCH_EFORMAT, "pod %s: %zu bytes stored, %zu expected", p->name, size, p->size);
    }
    if (p->align > 8 || ((uintptr_t)data & (p->align - 1)))
        return say(msg, cap, "pod: value not aligned for its type");
    return BIRCH_OK;
}
