/*
 * evhost.h: the evhost C kit, a single-header PDK for the evhost plugin ABI,
 * version 1 (see README.md beside this file).
 *
 * It gives a C handler everything ABI v1 asks of a reactor module, with no
 * other library than libc's string and malloc functions (no stdio, so the
 * module imports nothing from WASI):
 *
 *   - the host imports (module "evhost"), declared once; the linker imports
 *     only the ones a plugin calls, so a plugin that never calls kv_* or
 *     http_request does not import them and needs no capability for them;
 *   - the exports evhost_abi_version, evhost_alloc and evhost_handle;
 *   - an arena allocator for evhost_alloc, reset when evhost_handle returns;
 *   - the event envelope decoder and encoder (ABI section 4);
 *   - log, fail, emit (with options), config, KV and HTTP helpers.
 *
 * Compiled for any target other than WebAssembly (a native unit test), the
 * host functions are left for evhost_test.h to define, and no ABI export
 * is made: the test host calls evhost_handle_event with an event encoded
 * by the same encoder, as evhost does through evhost_handle.
 *
 * Use: in exactly one .c file,
 *
 *     #define EVHOST_IMPLEMENTATION
 *     #include "evhost.h"
 *
 *     int evhost_on_event(const evhost_event *ev) { ...; return EVHOST_OK; }
 *
 * and build a reactor module:
 *
 *     clang --target=wasm32-wasi -O2 -mexec-model=reactor -o plugin.wasm plugin.c
 *
 * and unit-test it natively (no wasm) with evhost_test.h:
 *
 *     cc -o plugin_test plugin.c plugin_test.c && ./plugin_test
 *
 * Memory: every block this header hands out (to the host through
 * evhost_alloc, or to the plugin through evhost_arena_alloc and evhost_buf)
 * lives in the arena and stays valid until the current evhost_handle call
 * returns. Copy what must outlive the event (to malloc'd memory or to a
 * static buffer).
 */
#ifndef EVHOST_H
#define EVHOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header implements. */
#define EVHOST_ABI_VERSION 1

/* Statuses returned by a handler (ABI section 5). */
#define EVHOST_OK 0     /* done: acknowledge, publish the emitted events */
#define EVHOST_RETRY 1  /* failed: retry later with backoff */
#define EVHOST_REJECT 2 /* failed: dead-letter now, do not retry */

/* Error codes returned by host functions (ABI section 6). */
#define EVHOST_ENOTFOUND (-1)  /* config_get, kv_get: no such key */
#define EVHOST_EMALFORMED (-2) /* bad encoding, missing type, bad name or range */
#define EVHOST_EPERM (-3)      /* capability not granted, type not allowed */
#define EVHOST_ELIMIT (-4)     /* emits per event, sizes, depth */
#define EVHOST_ETRANSIENT (-5) /* the KV store or a remote host failed */

/* Log levels (ABI section 3). */
#define EVHOST_DEBUG 0
#define EVHOST_INFO 1
#define EVHOST_WARN 2
#define EVHOST_ERROR 3

/* ---- host imports (ABI section 3) --------------------------------------- */

#if defined(__wasm__)
#define EVHOST_IMPORT(name) __attribute__((import_module("evhost"), import_name(name)))
#else
/* Native build (unit tests): evhost_test.h defines these functions. */
#define EVHOST_IMPORT(name)
#endif

EVHOST_IMPORT("log") void evhost_raw_log(int32_t level, const void *ptr, uint32_t len);
EVHOST_IMPORT("emit") int32_t evhost_raw_emit(const void *ptr, uint32_t len);
EVHOST_IMPORT("fail") void evhost_raw_fail(const void *ptr, uint32_t len);
EVHOST_IMPORT("config_get") int64_t evhost_raw_config_get(const void *key, uint32_t key_len);
EVHOST_IMPORT("kv_get") int64_t evhost_raw_kv_get(const void *key, uint32_t key_len);
EVHOST_IMPORT("kv_set")
int32_t evhost_raw_kv_set(const void *key, uint32_t key_len, const void *val, uint32_t val_len);
EVHOST_IMPORT("kv_delete") int32_t evhost_raw_kv_delete(const void *key, uint32_t key_len);
EVHOST_IMPORT("http_request") int64_t evhost_raw_http_request(const void *req, uint32_t req_len);

#if !defined(__wasm__)
/* Native build: an i64 result carries a block number, not a 32-bit pointer
 * (native pointers do not fit); evhost_test.h keeps the blocks. */
const uint8_t *evhost_native_block(uint32_t n);
#endif

/* ---- byte strings ------------------------------------------------------- */

/* evhost_bytes is a view of bytes that the plugin does not own (not NUL-terminated). */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} evhost_bytes;

/* evhost_bytes_eq reports whether b holds exactly the NUL-terminated string s. */
int evhost_bytes_eq(evhost_bytes b, const char *s);

/* evhost_result turns an i64 host result into a view (ABI section 3): it
 * returns 0 and sets *out, or returns the negative error code. */
int evhost_result(int64_t r, evhost_bytes *out);

/* ---- the arena ---------------------------------------------------------- */

/* evhost_arena_alloc returns size bytes, 8-byte aligned, valid until the
 * current evhost_handle call returns; NULL when memory is exhausted. */
void *evhost_arena_alloc(uint32_t size);

/* evhost_arena_reset ends the validity of every arena block. evhost_handle
 * calls it when the handler returns; a plugin never needs to. */
void evhost_arena_reset(void);

/* ---- a growable byte buffer in the arena, and the envelope encoder ----- */

/* evhost_buf is an append-only buffer in the arena. An append that cannot
 * get memory, or an invalid attribute, sets err and makes later appends do
 * nothing; check err once at the end. */
typedef struct {
    uint8_t *ptr;
    uint32_t len;
    uint32_t cap;
    int err;
} evhost_buf;

evhost_buf evhost_buf_new(uint32_t cap);
void evhost_buf_put(evhost_buf *b, const void *p, uint32_t n);
void evhost_buf_puts(evhost_buf *b, const char *s);
void evhost_buf_putu(evhost_buf *b, uint64_t v);
/* evhost_buf_put_json appends p as a JSON string literal, quotes included. */
void evhost_buf_put_json(evhost_buf *b, const void *p, uint32_t n);

/* Envelope encoding (ABI section 4): zero or more evhost_enc_attr, then
 * exactly one evhost_enc_data (which writes the 0x00 terminator; give n = 0
 * for no data). The name must be 1 to 255 bytes. */
void evhost_enc_attr(evhost_buf *b, const char *name, const void *value, uint32_t n);
void evhost_enc_attr_str(evhost_buf *b, const char *name, const char *value);
void evhost_enc_data(evhost_buf *b, const void *data, uint32_t n);

/* ---- the event decoder -------------------------------------------------- */

/* evhost_event is a decoded event. It points into the host-written block,
 * which stays valid until the evhost_handle call returns. */
typedef struct {
    const uint8_t *attrs; /* the encoded attributes, terminator excluded */
    uint32_t attrs_len;
    const uint8_t *data; /* every byte after the terminator */
    uint32_t data_len;
} evhost_event;

/* evhost_decode checks and splits the envelope at [p, p+n): 0, or EVHOST_EMALFORMED. */
int evhost_decode(const uint8_t *p, uint32_t n, evhost_event *ev);

/* evhost_attr finds the attribute called name: 1 and *value set, or 0. */
int evhost_attr(const evhost_event *ev, const char *name, evhost_bytes *value);

/* evhost_attr_next iterates over the attributes: start with *pos = 0; it
 * returns 1 and sets *name and *value while there is one more. */
int evhost_attr_next(const evhost_event *ev, uint32_t *pos, evhost_bytes *name, evhost_bytes *value);

/* ---- helpers over the host functions ----------------------------------- */

static inline void evhost_log(int level, const void *p, uint32_t n) { evhost_raw_log(level, p, n); }
void evhost_log_str(int level, const char *s);
#define evhost_debug(s) evhost_log_str(EVHOST_DEBUG, (s))
#define evhost_info(s) evhost_log_str(EVHOST_INFO, (s))
#define evhost_warn(s) evhost_log_str(EVHOST_WARN, (s))
#define evhost_error(s) evhost_log_str(EVHOST_ERROR, (s))

/* evhost_fail sets the failure reason kept with the retry or dead-letter
 * record; it matters only when the handler returns a status other than 0. */
void evhost_fail(const char *reason);

/* evhost_config_get reads the plugin's config value for key (a TOML string
 * as its text, any other value as JSON): 0 and *value set, or
 * EVHOST_ENOTFOUND / another negative error code. */
int evhost_config_get(const char *key, evhost_bytes *value);

/* evhost_emit emits a follow-up event of the given type. datacontenttype
 * may be NULL. It returns 0 or a negative error code (EVHOST_ELIMIT: the
 * event will be dead-lettered whatever the handler returns). */
int evhost_emit(const char *type, const char *datacontenttype, const void *data, uint32_t n);

/* evhost_emit_opts are the optional attributes of an emitted event; a NULL
 * field is left out. extensions is NULL or a list of name, value pairs
 * ended by a NULL name; extension names are lower-case letters and digits.
 * id makes the emit idempotent (the host derives one otherwise). */
typedef struct {
    const char *id;
    const char *subject;
    const char *datacontenttype;
    const char *dataschema;
    const char *const *extensions;
} evhost_emit_opts;

/* evhost_emit_with emits an event of the given type with opts (may be NULL). */
int evhost_emit_with(const char *type, const void *data, uint32_t n, const evhost_emit_opts *opts);

/* evhost_emit_buf emits an envelope built with evhost_enc_*. */
int evhost_emit_buf(const evhost_buf *b);

/* Key-value store (needs a KV grant; keys are 1 to 256 bytes of
 * [-/_=.A-Za-z0-9], else EVHOST_EMALFORMED). evhost_kv_get returns 0 and
 * *value, or EVHOST_ENOTFOUND / another negative code. Deleting a missing
 * key is 0. */
int evhost_kv_get(const char *key, evhost_bytes *value);
int evhost_kv_set(const char *key, const void *value, uint32_t n);
int evhost_kv_delete(const char *key);

/* Outbound HTTP (needs an HTTP grant; the host allows only the hosts in the
 * plugin's allowed_hosts: any other gets EVHOST_EPERM before a byte is sent).
 * method NULL means GET; headers is NULL or name, value pairs ended by a
 * NULL name. An HTTP error status is an ordinary response. */
typedef struct {
    const char *method;
    const char *url;
    const char *const *headers;
    const void *body;
    uint32_t body_len;
} evhost_http_request;

typedef struct {
    int status;
    const uint8_t *body; /* in the arena */
    uint32_t body_len;
    evhost_event msg; /* the whole response: "status", "header.<name>" (lower case) attributes */
} evhost_http_response;

/* evhost_http sends req: 0 and *resp set, or a negative error code. */
int evhost_http(const evhost_http_request *req, evhost_http_response *resp);

/* evhost_http_header finds the first value of a response header (the name
 * is matched without regard to case): 1 and *value set, or 0. */
int evhost_http_header(const evhost_http_response *resp, const char *name, evhost_bytes *value);

/* evhost_get returns the attribute called name, or an empty view. */
evhost_bytes evhost_get(const evhost_event *ev, const char *name);

/* evhost_handle_event decodes the envelope at [p, p+n), runs
 * evhost_on_event, resets the arena and returns the status: the body of the
 * evhost_handle export, and what a native test host calls. */
int32_t evhost_handle_event(const uint8_t *p, uint32_t n);

/* ---- what the plugin provides ------------------------------------------- */

/* evhost_on_event handles one event and returns EVHOST_OK, EVHOST_RETRY or
 * EVHOST_REJECT. The plugin defines it. */
int evhost_on_event(const evhost_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* EVHOST_H */

/* ======================================================================== */
#ifdef EVHOST_IMPLEMENTATION
#ifndef EVHOST_IMPLEMENTED
#define EVHOST_IMPLEMENTED

#include <stdlib.h>
#include <string.h>

#ifndef EVHOST_ARENA_CHUNK
#define EVHOST_ARENA_CHUNK (64u * 1024u) /* first chunk; later ones double */
#endif
#define EVHOST__MAX_BLOCK 0x7FFF0000u /* memory stays below 2 GiB */

/* The arena is a chain of chunks from malloc, so it never fights a plugin
 * that also uses malloc. A chunk is never handed back while the call that
 * uses it runs; at reset only the newest (largest) chunk is kept, so a warm
 * instance calls malloc not at all for events of the usual size. */
typedef struct evhost__chunk {
    struct evhost__chunk *prev;
    uint32_t cap;
    uint32_t pad; /* keeps the data 8-byte aligned */
} evhost__chunk;

static evhost__chunk *evhost__cur;
static uint32_t evhost__top;

void *evhost_arena_alloc(uint32_t size) {
    if (size == 0) size = 1;
    if (size > EVHOST__MAX_BLOCK) return NULL;
    if (evhost__cur) {
        uint32_t at = (evhost__top + 7u) & ~7u;
        if (at <= evhost__cur->cap && size <= evhost__cur->cap - at) {
            evhost__top = at + size;
            return (uint8_t *)(evhost__cur + 1) + at;
        }
    }
    uint32_t cap = evhost__cur ? evhost__cur->cap : EVHOST_ARENA_CHUNK / 2;
    do {
        cap = cap > EVHOST__MAX_BLOCK / 2 ? EVHOST__MAX_BLOCK : cap * 2;
    } while (cap < size);
    evhost__chunk *c = (evhost__chunk *)malloc(sizeof(evhost__chunk) + cap);
    if (!c) return NULL;
    c->prev = evhost__cur;
    c->cap = cap;
    evhost__cur = c;
    evhost__top = size;
    return c + 1;
}

void evhost_arena_reset(void) {
    if (!evhost__cur) return;
    evhost__chunk *c = evhost__cur->prev;
    while (c) {
        evhost__chunk *p = c->prev;
        free(c);
        c = p;
    }
    evhost__cur->prev = NULL;
    evhost__top = 0;
}

int evhost_bytes_eq(evhost_bytes b, const char *s) {
    size_t n = strlen(s);
    return n == b.len && (n == 0 || memcmp(b.ptr, s, n) == 0);
}

int evhost_result(int64_t r, evhost_bytes *out) {
    if (r < 0) return (int)r;
    out->len = (uint32_t)r;
    if (r == 0) { /* an empty value: no block */
        out->ptr = (const uint8_t *)"";
        return 0;
    }
#if defined(__wasm__)
    out->ptr = (const uint8_t *)(uintptr_t)(uint32_t)((uint64_t)r >> 32);
#else
    out->ptr = evhost_native_block((uint32_t)((uint64_t)r >> 32));
#endif
    return 0;
}

evhost_buf evhost_buf_new(uint32_t cap) {
    evhost_buf b = {0, 0, 0, 0};
    if (cap == 0) cap = 16;
    b.ptr = (uint8_t *)evhost_arena_alloc(cap);
    if (b.ptr) b.cap = cap;
    else b.err = 1;
    return b;
}

static int evhost__reserve(evhost_buf *b, uint32_t n) {
    if (b->err) return 0;
    if (n <= b->cap - b->len) return 1;
    if (n > EVHOST__MAX_BLOCK - b->len) {
        b->err = 1;
        return 0;
    }
    uint32_t cap = b->cap ? b->cap : 16;
    while (cap - b->len < n) cap = cap > EVHOST__MAX_BLOCK / 2 ? EVHOST__MAX_BLOCK : cap * 2;
    /* The old block stays in the arena until reset: a bump arena cannot free. */
    uint8_t *p = (uint8_t *)evhost_arena_alloc(cap);
    if (!p) {
        b->err = 1;
        return 0;
    }
    if (b->len) memcpy(p, b->ptr, b->len);
    b->ptr = p;
    b->cap = cap;
    return 1;
}

void evhost_buf_put(evhost_buf *b, const void *p, uint32_t n) {
    if (n == 0 || !evhost__reserve(b, n)) return;
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
}

void evhost_buf_puts(evhost_buf *b, const char *s) { evhost_buf_put(b, s, (uint32_t)strlen(s)); }

void evhost_buf_putu(evhost_buf *b, uint64_t v) {
    char tmp[20];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    evhost_buf_put(b, tmp + i, (uint32_t)(sizeof tmp - (size_t)i));
}

void evhost_buf_put_json(evhost_buf *b, const void *p, uint32_t n) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)p;
    evhost_buf_put(b, "\"", 1);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            evhost_buf_put(b, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            evhost_buf_put(b, e, 6);
        } else {
            evhost_buf_put(b, &c, 1);
        }
    }
    evhost_buf_put(b, "\"", 1);
}

void evhost_enc_attr(evhost_buf *b, const char *name, const void *value, uint32_t n) {
    size_t nl = strlen(name);
    if (nl == 0 || nl > 255) {
        b->err = 1;
        return;
    }
    uint8_t hdr[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    uint8_t l = (uint8_t)nl;
    evhost_buf_put(b, &l, 1);
    evhost_buf_put(b, name, (uint32_t)nl);
    evhost_buf_put(b, hdr, 4);
    evhost_buf_put(b, value, n);
}

void evhost_enc_attr_str(evhost_buf *b, const char *name, const char *value) {
    evhost_enc_attr(b, name, value, (uint32_t)strlen(value));
}

void evhost_enc_data(evhost_buf *b, const void *data, uint32_t n) {
    uint8_t z = 0;
    evhost_buf_put(b, &z, 1);
    evhost_buf_put(b, data, n);
}

int evhost_decode(const uint8_t *p, uint32_t n, evhost_event *ev) {
    uint32_t i = 0;
    for (;;) {
        if (i >= n) return EVHOST_EMALFORMED; /* no terminator */
        uint8_t nl = p[i];
        if (nl == 0) break;
        if (n - i - 1 < (uint32_t)nl + 4u) return EVHOST_EMALFORMED;
        i += 1u + nl;
        uint32_t vl = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                      (uint32_t)p[i + 3] << 24;
        i += 4;
        if (vl > n - i) return EVHOST_EMALFORMED;
        i += vl;
    }
    ev->attrs = p;
    ev->attrs_len = i;
    ev->data = p + i + 1;
    ev->data_len = n - i - 1;
    return 0;
}

/* evhost_attr_next trusts the layout: evhost_decode has checked it. */
int evhost_attr_next(const evhost_event *ev, uint32_t *pos, evhost_bytes *name, evhost_bytes *value) {
    uint32_t i = *pos;
    if (i >= ev->attrs_len) return 0;
    const uint8_t *p = ev->attrs;
    name->len = p[i];
    name->ptr = p + i + 1;
    i += 1u + name->len;
    value->len = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                 (uint32_t)p[i + 3] << 24;
    value->ptr = p + i + 4;
    *pos = i + 4 + value->len;
    return 1;
}

int evhost_attr(const evhost_event *ev, const char *name, evhost_bytes *value) {
    uint32_t pos = 0;
    evhost_bytes n, v;
    while (evhost_attr_next(ev, &pos, &n, &v)) {
        if (evhost_bytes_eq(n, name)) {
            *value = v;
            return 1;
        }
    }
    return 0;
}

void evhost_log_str(int level, const char *s) { evhost_raw_log(level, s, (uint32_t)strlen(s)); }

void evhost_fail(const char *reason) { evhost_raw_fail(reason, (uint32_t)strlen(reason)); }

int evhost_config_get(const char *key, evhost_bytes *value) {
    return evhost_result(evhost_raw_config_get(key, (uint32_t)strlen(key)), value);
}

int evhost_emit_buf(const evhost_buf *b) {
    if (b->err) return EVHOST_EMALFORMED;
    return evhost_raw_emit(b->ptr, b->len);
}

int evhost_emit_with(const char *type, const void *data, uint32_t n, const evhost_emit_opts *o) {
    evhost_buf b = evhost_buf_new(128 + n);
    evhost_enc_attr_str(&b, "type", type);
    if (o) {
        if (o->id) evhost_enc_attr_str(&b, "id", o->id);
        if (o->subject) evhost_enc_attr_str(&b, "subject", o->subject);
        if (o->datacontenttype) evhost_enc_attr_str(&b, "datacontenttype", o->datacontenttype);
        if (o->dataschema) evhost_enc_attr_str(&b, "dataschema", o->dataschema);
        if (o->extensions)
            for (const char *const *e = o->extensions; e[0]; e += 2) evhost_enc_attr_str(&b, e[0], e[1]);
    }
    evhost_enc_data(&b, data, n);
    return evhost_emit_buf(&b);
}

int evhost_emit(const char *type, const char *datacontenttype, const void *data, uint32_t n) {
    evhost_emit_opts o = {0, 0, datacontenttype, 0, 0};
    return evhost_emit_with(type, data, n, &o);
}

int evhost_kv_get(const char *key, evhost_bytes *value) {
    return evhost_result(evhost_raw_kv_get(key, (uint32_t)strlen(key)), value);
}

int evhost_kv_set(const char *key, const void *value, uint32_t n) {
    return evhost_raw_kv_set(key, (uint32_t)strlen(key), n ? value : "", n);
}

int evhost_kv_delete(const char *key) { return evhost_raw_kv_delete(key, (uint32_t)strlen(key)); }

static int evhost__lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int evhost_http(const evhost_http_request *req, evhost_http_response *resp) {
    evhost_buf b = evhost_buf_new(256 + req->body_len);
    evhost_enc_attr_str(&b, "method", req->method ? req->method : "GET");
    evhost_enc_attr_str(&b, "url", req->url);
    if (req->headers) {
        for (const char *const *h = req->headers; h[0]; h += 2) {
            size_t nl = strlen(h[0]);
            if (nl == 0 || nl > 255 - 7) {
                b.err = 1;
                break;
            }
            char name[256] = "header.";
            for (size_t i = 0; i < nl; i++) name[7 + i] = (char)evhost__lower((unsigned char)h[0][i]);
            name[7 + nl] = 0;
            evhost_enc_attr_str(&b, name, h[1]);
        }
    }
    evhost_enc_data(&b, req->body, req->body_len);
    if (b.err) return EVHOST_EMALFORMED;
    evhost_bytes raw;
    int rc = evhost_result(evhost_raw_http_request(b.ptr, b.len), &raw);
    if (rc < 0) return rc;
    if (evhost_decode(raw.ptr, raw.len, &resp->msg) != 0) return EVHOST_EMALFORMED;
    evhost_bytes st;
    resp->status = 0;
    if (evhost_attr(&resp->msg, "status", &st))
        for (uint32_t i = 0; i < st.len && st.ptr[i] >= '0' && st.ptr[i] <= '9'; i++)
            resp->status = resp->status * 10 + (st.ptr[i] - '0');
    resp->body = resp->msg.data;
    resp->body_len = resp->msg.data_len;
    return 0;
}

int evhost_http_header(const evhost_http_response *resp, const char *name, evhost_bytes *value) {
    uint32_t pos = 0;
    evhost_bytes n, v;
    size_t nl = strlen(name);
    while (evhost_attr_next(&resp->msg, &pos, &n, &v)) {
        if (n.len != nl + 7 || memcmp(n.ptr, "header.", 7) != 0) continue;
        size_t i = 0;
        while (i < nl && evhost__lower(n.ptr[7 + i]) == evhost__lower((unsigned char)name[i])) i++;
        if (i == nl) {
            *value = v;
            return 1;
        }
    }
    return 0;
}

evhost_bytes evhost_get(const evhost_event *ev, const char *name) {
    evhost_bytes v = {(const uint8_t *)"", 0};
    evhost_attr(ev, name, &v);
    return v;
}

int32_t evhost_handle_event(const uint8_t *p, uint32_t n) {
    evhost_event ev;
    int32_t status;
    if (evhost_decode(p, n, &ev) != 0) {
        evhost_fail("evhost.h: malformed event envelope");
        status = EVHOST_REJECT;
    } else {
        status = evhost_on_event(&ev);
    }
    /* Reset after the handler, never before: the event's own block came
     * from the arena before this call and must stay valid during it. */
    evhost_arena_reset();
    return status;
}

/* ---- the ABI exports (WebAssembly only) ---------------------------------- */

#if defined(__wasm__)
__attribute__((export_name("evhost_abi_version"))) int32_t evhost_abi_version(void) {
    return EVHOST_ABI_VERSION;
}

/* The host asks for the event's block before evhost_handle and for result
 * blocks (config_get, kv_get, http_request) during it; 0 means out of memory. */
__attribute__((export_name("evhost_alloc"))) uint32_t evhost_alloc(uint32_t size) {
    return (uint32_t)(uintptr_t)evhost_arena_alloc(size);
}

__attribute__((export_name("evhost_handle"))) int32_t evhost_handle(uint32_t ptr, uint32_t len) {
    return evhost_handle_event((const uint8_t *)(uintptr_t)ptr, len);
}
#endif

#endif /* EVHOST_IMPLEMENTED */
#endif /* EVHOST_IMPLEMENTATION */
