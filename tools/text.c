/*
 * text.c - keys, values and table names as the birch command shows and
 * reads them: hex, escaped text, and the formats a typed table's schema
 * names (birch_typed.h).
 *
 * Output rules (birch --help, README):
 *   - a key of a built-in format: a number, true/false, or escaped text
 *     (string keys);
 *   - a value of a string table: escaped text; of a pod table: hex;
 *   - anything else: "TEXT" in double quotes when every byte is printable
 *     ASCII (with \" and \\ for a quote and a backslash), otherwise hex
 *     digits.  The quote tells text from hex: 6b01 is two bytes, "6b01"
 *     four characters;
 *   - with --hex: hex digits always.
 * Escaped text shows printable ASCII as it is, a backslash as \\ and any
 * other byte as \xNN, so an output line never holds a tab or a newline of
 * the data.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* ---- Formats of typed tables ----------------------------------------------------------- */

static const birch_key_format *const KEY_FORMATS[] = {
    &birch_key_u8,  &birch_key_u16, &birch_key_u32, &birch_key_u64, &birch_key_i8,
    &birch_key_i16, &birch_key_i32, &birch_key_i64, &birch_key_f32, &birch_key_f64,
    &birch_key_bool, &birch_key_string, &birch_key_bytes,
};

/* The text after "<field> " on its line of the schema, into buf. */
static int schema_field(birch_val s, const char *field, char *buf, size_t cap)
{
    size_t fl = strlen(field);
    const char *p = s.data, *end = p + s.size;
    for (const char *line = p; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        if ((size_t)(le - line) > fl && memcmp(line, field, fl) == 0 && line[fl] == ' ') {
            snprintf(buf, cap, "%.*s", (int)(le - line - (ptrdiff_t)fl - 1), line + fl + 1);
            return 1;
        }
        line = le + 1;
    }
    return 0;
}

tool_formats tool_formats_of(birch_val schema)
{
    tool_formats f = {NULL, TOOL_VALUE_OTHER, 0};
    char k[BIRCH_KEY_NAME_MAX], v[256];
    if (schema.size < 13 || memcmp(schema.data, "birch-typed ", 12) != 0) return f;
    if (schema_field(schema, "key", k, sizeof k))
        for (size_t i = 0; i < sizeof KEY_FORMATS / sizeof KEY_FORMATS[0]; i++)
            if (strcmp(KEY_FORMATS[i]->name, k) == 0) f.key = KEY_FORMATS[i];
    if (schema_field(schema, "value", v, sizeof v)) {
        if (strcmp(v, "string") == 0) {
            f.value = TOOL_VALUE_STRING;
        } else if (strncmp(v, "pod(", 4) == 0) {
            /* "pod(NAME vVERSION, SIZE bytes, align A)" */
            uint64_t size;
            const char *c = strchr(v, ',');
            char digits[32];
            f.value = TOOL_VALUE_POD;
            if (c && sscanf(c + 1 + strspn(c + 1, " "), "%31[0-9]", digits) == 1 &&
                tool_parse_u64(digits, 1, SIZE_MAX, &size))
                f.pod_size = (size_t)size;
        }
    }
    return f;
}

/* ---- Writing --------------------------------------------------------------------------- */

int tool_out_hex(tool_out *o, const void *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    char buf[256];
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        buf[j++] = digits[p[i] >> 4];
        buf[j++] = digits[p[i] & 15];
        if (j == sizeof buf && tool_write(o, buf, j)) return -1;
        if (j == sizeof buf) j = 0;
    }
    return tool_write(o, buf, j);
}

static int printable(uint8_t c)
{
    return c >= 0x20 && c < 0x7f;
}

/* Printable bytes as they are; the bytes in `quoted` and a backslash
 * after a backslash; others (when hex_escapes) as \xNN. */
static int out_escaped(tool_out *o, const uint8_t *p, size_t n, const char *quoted)
{
    size_t run = 0; /* printable bytes not yet written */
    for (size_t i = 0; i < n; i++) {
        if (printable(p[i]) && p[i] != '\\' && !strchr(quoted, p[i])) {
            run++;
            continue;
        }
        if (tool_write(o, p + i - run, run)) return -1;
        run = 0;
        if (printable(p[i]) ? tool_printf(o, "\\%c", p[i]) : tool_printf(o, "\\x%02x", p[i])) return -1;
    }
    return tool_write(o, p + n - run, run);
}

int tool_out_text(tool_out *o, const void *data, size_t n)
{
    return out_escaped(o, data, n, "");
}

int tool_out_bytes(tool_out *o, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        if (!printable(p[i])) return tool_out_hex(o, p, n);
    if (tool_putc(o, '"') || out_escaped(o, p, n, "\"")) return -1;
    return tool_putc(o, '"');
}

/* A decoded key of a built-in format. */
typedef union keyval {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
    bool b;
    birch_val bytes;
} keyval;

int tool_out_key(tool_out *o, const tool_formats *f, int hex, birch_val k)
{
    keyval kv;
    if (hex) return tool_out_hex(o, k.data, k.size);
    if (!f->key || birch_key_decode(f->key, k.data, k.size, &kv, NULL, 0) != BIRCH_OK)
        return tool_out_bytes(o, k.data, k.size);
    switch (f->key->kind) {
    case BIRCH_KEY_U8: return tool_printf(o, "%u", (unsigned)kv.u8);
    case BIRCH_KEY_U16: return tool_printf(o, "%u", (unsigned)kv.u16);
    case BIRCH_KEY_U32: return tool_printf(o, "%" PRIu32, kv.u32);
    case BIRCH_KEY_U64: return tool_printf(o, "%" PRIu64, kv.u64);
    case BIRCH_KEY_I8: return tool_printf(o, "%d", (int)kv.i8);
    case BIRCH_KEY_I16: return tool_printf(o, "%d", (int)kv.i16);
    case BIRCH_KEY_I32: return tool_printf(o, "%" PRId32, kv.i32);
    case BIRCH_KEY_I64: return tool_printf(o, "%" PRId64, kv.i64);
    case BIRCH_KEY_F32: return tool_printf(o, "%.9g", (double)kv.f32);
    case BIRCH_KEY_F64: return tool_printf(o, "%.17g", kv.f64);
    case BIRCH_KEY_BOOL: return tool_puts(o, kv.b ? "true" : "false");
    case BIRCH_KEY_STRING: return tool_out_text(o, kv.bytes.data, kv.bytes.size);
    default: return tool_out_bytes(o, k.data, k.size);
    }
}

int tool_out_value(tool_out *o, const tool_formats *f, int hex, birch_val v)
{
    if (hex || f->value == TOOL_VALUE_POD) return tool_out_hex(o, v.data, v.size);
    if (f->value == TOOL_VALUE_STRING) return tool_out_text(o, v.data, v.size);
    return tool_out_bytes(o, v.data, v.size);
}

/* ---- Reading --------------------------------------------------------------------------- */

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int tool_from_hex(char *s, size_t n, birch_val *out)
{
    if (n % 2) return 0;
    uint8_t *o = (uint8_t *)s;
    for (size_t i = 0; i < n; i += 2) {
        int a = hex_digit(s[i]), b = hex_digit(s[i + 1]);
        if (a < 0 || b < 0) return 0;
        o[i / 2] = (uint8_t)(a << 4 | b);
    }
    *out = (birch_val){o, n / 2};
    return 1;
}

void tool_from_print(char *s, size_t n, birch_val *out)
{
    uint8_t *o = (uint8_t *)s;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int a = i + 2 < n ? hex_digit(s[i + 1]) : -1, b = i + 2 < n ? hex_digit(s[i + 2]) : -1;
        if (s[i] != '\\') {
            o[j++] = (uint8_t)s[i];
        } else if (i + 1 < n && s[i + 1] == '\\') {
            o[j++] = '\\';
            i++;
        } else if (a < 0 || b < 0) {
            o[j++] = '\\'; /* some mdb_dump versions leave a backslash undoubled */
        } else {
            o[j++] = (uint8_t)(a << 4 | b);
            i += 2;
        }
    }
    *out = (birch_val){o, j};
}

/* A float in decimal: [-]digits[.digits][e[+-]digits], or [-]inf; no
 * hex floats, spaces or '+' in front (strtod would take them). */
static int decimal_float(const char *s)
{
    if (*s == '-') s++;
    if (strcmp(s, "inf") == 0) return 1;
    size_t mant = strspn(s, "0123456789");
    s += mant;
    if (*s == '.') {
        size_t frac = strspn(s + 1, "0123456789");
        mant += frac;
        s += 1 + frac;
    }
    if (!mant) return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        size_t exp = strspn(s, "0123456789");
        if (!exp) return 0;
        s += exp;
    }
    return *s == 0;
}

static int parse_float(int kind, const char *s, keyval *kv)
{
    char *end;
    if (!decimal_float(s)) return 0;
    errno = 0;
    if (kind == BIRCH_KEY_F32) kv->f32 = strtof(s, &end);
    else kv->f64 = strtod(s, &end);
    /* ERANGE: too large (an underflow to a tiny number is a fine key) */
    double d = kind == BIRCH_KEY_F32 ? (double)kv->f32 : kv->f64;
    return !*end && !(errno == ERANGE && isinf(d) && !strstr(s, "inf"));
}

/* A command-line number or bool of key kind k, decimal and range-checked. */
static int parse_number(int k, const char *s, keyval *kv)
{
    static const uint64_t umax[] = {UINT8_MAX, UINT16_MAX, UINT32_MAX, UINT64_MAX};
    static const int64_t imax[] = {INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX};
    uint64_t u;
    int64_t i;
    if (k == BIRCH_KEY_BOOL) {
        if (strcmp(s, "true") && strcmp(s, "false")) return 0;
        kv->b = strcmp(s, "true") == 0;
        return 1;
    }
    if (k == BIRCH_KEY_F32 || k == BIRCH_KEY_F64) return parse_float(k, s, kv);
    if (k >= BIRCH_KEY_U8 && k <= BIRCH_KEY_U64) {
        if (!tool_parse_u64(s, 0, umax[k - BIRCH_KEY_U8], &u)) return 0;
        if (k == BIRCH_KEY_U8) kv->u8 = (uint8_t)u;
        else if (k == BIRCH_KEY_U16) kv->u16 = (uint16_t)u;
        else if (k == BIRCH_KEY_U32) kv->u32 = (uint32_t)u;
        else kv->u64 = u;
        return 1;
    }
    if (k < BIRCH_KEY_I8 || k > BIRCH_KEY_I64) return 0;
    int64_t max = imax[k - BIRCH_KEY_I8];
    if (!tool_parse_i64(s, -max - 1, max, &i)) return 0;
    if (k == BIRCH_KEY_I8) kv->i8 = (int8_t)i;
    else if (k == BIRCH_KEY_I16) kv->i16 = (int16_t)i;
    else if (k == BIRCH_KEY_I32) kv->i32 = (int32_t)i;
    else kv->i64 = i;
    return 1;
}

/* The bytes of an argument: its text, or hex decoded in place. */
static int raw_arg(char *s, int hex, birch_val *out)
{
    if (hex) return tool_from_hex(s, strlen(s), out);
    *out = (birch_val){s, strlen(s)};
    return 1;
}

int tool_parse_key(const tool_formats *f, char *s, int hex, uint8_t *buf, size_t cap, birch_val *out)
{
    const birch_key_format *kf = f->key;
    if (!kf || hex || kf->kind == BIRCH_KEY_BYTES || kf->kind == BIRCH_KEY_STRING) return raw_arg(s, hex, out);
    keyval kv;
    size_t len;
    if (!parse_number(kf->kind, s, &kv) || birch_key_encode(kf, &kv, buf, cap, &len) != BIRCH_OK) return 0;
    *out = (birch_val){buf, len};
    return 1;
}

int tool_parse_value(const tool_formats *f, char *s, int hex, birch_val *out)
{
    return raw_arg(s, hex || f->value == TOOL_VALUE_POD, out);
}
