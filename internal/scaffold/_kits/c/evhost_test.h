/*
 * evhost_test.h: run an evhost C handler natively, with the host's C
 * compiler and no WebAssembly, in a unit test.
 *
 * It plays the host's side of ABI v1 as evhost does: evhost_test_run encodes
 * the event in the envelope encoding, places it in the plugin's arena (as
 * the host does through evhost_alloc) and calls evhost_handle_event, the
 * body of the evhost_handle export; the handler decodes it with evhost.h's
 * own decoder. Each host function is answered as evhost answers it: emits
 * are decoded and checked (type required, no name twice, UTF-8, extension
 * names of lower-case letters and digits; -2 otherwise), get the host-owned
 * attributes (id, source, specversion, time, causationid, correlationid,
 * depth) and count against max_emits (-4, and the event is rejected);
 * config_get, kv_* and http_request return their results in blocks of the
 * plugin's arena, with the ABI's error codes.
 *
 * Use: in one test file (not the plugin's),
 *
 *     #include "evhost_test.h"
 *
 *     int main(void) {
 *         evhost_test_host h = {0};
 *         evhost_test_event e = {.type = "order.placed", .data = "{}", .data_len = 2};
 *         evhost_test_result *r = evhost_test_run(&h, &e);
 *         EVHOST_EXPECT(r->status == EVHOST_OK);
 *         EVHOST_EXPECT(r->n_emits == 1 && evhost_test_streq(evhost_test_get(&r->emits[0], "type"), "x"));
 *         evhost_test_result_free(r);
 *         return evhost_test_summary();
 *     }
 *
 * and build the plugin's source with it:
 *
 *     cc -o plugin_test plugin.c plugin_test.c && ./plugin_test
 *
 * Runs are not thread-safe: the plugin's arena is global state, as in one
 * WebAssembly instance.
 */
#ifndef EVHOST_TEST_H
#define EVHOST_TEST_H

#if defined(__wasm__)
#error "evhost_test.h is for native unit tests; build the plugin alone for wasm"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evhost.h"

/* An event to run: NULL fields take defaults (id "evhost-test-N", source
 * "/evhost_test", time "2026-01-01T00:00:00Z"); type is required.
 * extensions is NULL or name, value pairs ended by a NULL name. */
typedef struct {
    const char *type;
    const char *id;
    const char *source;
    const char *time;
    const char *subject;
    const char *datacontenttype;
    const char *dataschema;
    const char *const *extensions;
    const void *data;
    uint32_t data_len;
} evhost_test_event;

/* An outbound request as the host decoded it. */
typedef struct {
    const char *method;
    const char *url;
    const char *const *headers; /* lower-case name, value pairs, NULL-ended */
    const uint8_t *body;
    uint32_t body_len;
} evhost_test_http_req;

/* The answer a test's HTTP function gives. */
typedef struct {
    int status;
    const char *const *headers; /* name, value pairs, NULL-ended; may be NULL */
    const void *body;
    uint32_t body_len;
} evhost_test_http_resp;

/* An HTTP function returns 0 and fills resp, or a negative ABI code (for
 * example EVHOST_EPERM for a host outside the allow-list). */
typedef int (*evhost_test_http_fn)(void *ctx, const evhost_test_http_req *req, evhost_test_http_resp *resp);

typedef struct evhost_test__kv evhost_test__kv;

/* The stand-in host. Zero is ready to use: no config, an empty KV store, no
 * HTTP (every request gets EVHOST_EPERM), no emit cap. */
typedef struct {
    const char *const *config; /* key, value pairs ended by a NULL key */
    evhost_test_http_fn http;
    void *http_ctx;
    int max_emits;      /* 0: no cap */
    const char *source; /* the source of emitted events; "/evhost_test" when NULL */
    /* the KV store: use evhost_test_kv_put / evhost_test_kv_get */
    evhost_test__kv *kv;
    int n_kv, cap_kv;
    int seq;
} evhost_test_host;

/* An emitted event, as the host would publish it: every attribute with the
 * host-owned ones filled in, NUL-terminated, and the data. */
typedef struct {
    int n_attrs;
    char **names;
    char **values;
    uint8_t *data;
    uint32_t data_len;
} evhost_test_emit;

typedef struct {
    int level;
    char *text;
} evhost_test_log;

typedef struct {
    int status;   /* EVHOST_OK, EVHOST_RETRY or EVHOST_REJECT, as the host sees it */
    char *reason; /* the failure reason; "" when done */
    evhost_test_emit *emits; /* empty unless status is EVHOST_OK */
    int n_emits;
    evhost_test_log *logs;
    int n_logs;
} evhost_test_result;

evhost_test_result *evhost_test_run(evhost_test_host *h, const evhost_test_event *e);
void evhost_test_result_free(evhost_test_result *r);
/* evhost_test_get returns an emitted attribute's value, or NULL. */
const char *evhost_test_get(const evhost_test_emit *e, const char *name);
/* evhost_test_has_log reports whether the result has the line at level. */
int evhost_test_has_log(const evhost_test_result *r, int level, const char *text);
void evhost_test_kv_put(evhost_test_host *h, const char *key, const void *value, uint32_t n);
/* evhost_test_kv_get returns the value (NUL-terminated copy kept by h) or NULL. */
const char *evhost_test_kv_get(evhost_test_host *h, const char *key);
void evhost_test_host_free(evhost_test_host *h);
/* evhost_test_streq compares a possibly NULL string with s. */
int evhost_test_streq(const char *a, const char *s);

/* EVHOST_EXPECT counts a check and prints it where it fails;
 * evhost_test_summary prints "N passed, N failed" and returns the exit status. */
extern int evhost_test_passed, evhost_test_failed;
#define EVHOST_EXPECT(cond)                                                                  \
    do {                                                                                     \
        if (cond) {                                                                          \
            evhost_test_passed++;                                                            \
        } else {                                                                             \
            evhost_test_failed++;                                                            \
            fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);                 \
        }                                                                                    \
    } while (0)
int evhost_test_summary(void);

/* ======================================================================== */

int evhost_test_passed, evhost_test_failed;

struct evhost_test__kv {
    char *key;
    char *value;
    uint32_t n;
};

typedef struct {
    evhost_test_host *h;
    const uint8_t *parent;
    uint32_t parent_len;
    evhost_test_result *res;
    char *limit_hit;
    const uint8_t **blocks;
    int n_blocks, cap_blocks;
} evhost_test__call;

static evhost_test__call *evhost_test__cur;

static void *evhost_test__xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "evhost_test: out of memory\n");
        abort();
    }
    return p;
}

static char *evhost_test__strndup(const void *p, size_t n) {
    char *s = (char *)evhost_test__xrealloc(NULL, n + 1);
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}

int evhost_test_streq(const char *a, const char *s) { return a && s && strcmp(a, s) == 0; }

/* ---- a malloc'd envelope encoder (the event the host writes) ---- */

typedef struct {
    uint8_t *p;
    uint32_t len, cap;
} evhost_test__enc;

static void evhost_test__put(evhost_test__enc *b, const void *p, uint32_t n) {
    if (b->len + n > b->cap) {
        while (b->len + n > b->cap) b->cap = b->cap ? b->cap * 2 : 256;
        b->p = (uint8_t *)evhost_test__xrealloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void evhost_test__attr(evhost_test__enc *b, const char *name, const void *v, uint32_t n) {
    uint8_t l = (uint8_t)strlen(name);
    uint8_t hdr[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    evhost_test__put(b, &l, 1);
    evhost_test__put(b, name, l);
    evhost_test__put(b, hdr, 4);
    evhost_test__put(b, v, n);
}

static void evhost_test__attr_str(evhost_test__enc *b, const char *name, const char *v) {
    if (v) evhost_test__attr(b, name, v, (uint32_t)strlen(v));
}

/* ---- the envelope checks the host makes ---- */

static int evhost_test__utf8(const uint8_t *s, uint32_t n) {
    uint32_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i - 1 < k) return 0;
        for (uint32_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int evhost_test__is(const evhost_bytes n, const char *s) { return evhost_bytes_eq(n, s); }

static int evhost_test__host_owned(evhost_bytes n) {
    static const char *const owned[] = {"source", "time", "specversion", "causationid", "correlationid",
                                        "depth", "traceparent", NULL};
    for (int i = 0; owned[i]; i++)
        if (evhost_test__is(n, owned[i])) return 1;
    return 0;
}

static int evhost_test__core(evhost_bytes n) {
    static const char *const core[] = {"id", "type", "subject", "datacontenttype", "dataschema", NULL};
    for (int i = 0; core[i]; i++)
        if (evhost_test__is(n, core[i])) return 1;
    return 0;
}

static int evhost_test__ext_name_ok(evhost_bytes n) {
    if (n.len == 0) return 0;
    for (uint32_t i = 0; i < n.len; i++) {
        uint8_t c = n.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return 0;
    }
    return !evhost_test__is(n, "data") && !evhost_test__is(n, "data_base64");
}

/* evhost_test__walk checks an envelope as the host's decoder does: 0 or -2. */
static int evhost_test__walk(const uint8_t *p, uint32_t n, int allow_repeat_headers, evhost_event *ev) {
    if (evhost_decode(p, n, ev) != 0) return EVHOST_EMALFORMED;
    uint32_t pos = 0;
    evhost_bytes name, value;
    for (;;) {
        uint32_t start = pos;
        if (!evhost_attr_next(ev, &pos, &name, &value)) break;
        if (!evhost_test__utf8(name.ptr, name.len) || !evhost_test__utf8(value.ptr, value.len))
            return EVHOST_EMALFORMED;
        if (allow_repeat_headers && name.len > 7 && memcmp(name.ptr, "header.", 7) == 0) continue;
        uint32_t p2 = 0;
        evhost_bytes n2, v2;
        while (p2 < start && evhost_attr_next(ev, &p2, &n2, &v2))
            if (n2.len == name.len && memcmp(n2.ptr, name.ptr, name.len) == 0) return EVHOST_EMALFORMED;
    }
    return 0;
}

/* ---- result blocks, in the plugin's arena as evhost_alloc gives them ---- */

static int64_t evhost_test__block(const void *p, uint32_t n) {
    evhost_test__call *c = evhost_test__cur;
    if (n == 0) return 0;
    uint8_t *b = (uint8_t *)evhost_arena_alloc(n);
    if (!b) {
        fprintf(stderr, "evhost_test: the plugin's arena is out of memory (a trap on the host)\n");
        abort();
    }
    memcpy(b, p, n);
    if (c->n_blocks == c->cap_blocks) {
        c->cap_blocks = c->cap_blocks ? c->cap_blocks * 2 : 8;
        c->blocks = (const uint8_t **)evhost_test__xrealloc((void *)c->blocks, sizeof(*c->blocks) * (size_t)c->cap_blocks);
    }
    c->blocks[c->n_blocks++] = b;
    return (int64_t)((uint64_t)(uint32_t)c->n_blocks << 32 | n);
}

const uint8_t *evhost_native_block(uint32_t n) {
    evhost_test__call *c = evhost_test__cur;
    if (!c || n == 0 || (int)n > c->n_blocks) {
        fprintf(stderr, "evhost_test: no result block %u\n", n);
        abort();
    }
    return c->blocks[n - 1];
}

/* ---- the host functions ---- */

void evhost_raw_log(int32_t level, const void *ptr, uint32_t len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c) return;
    evhost_test_result *r = c->res;
    r->logs = (evhost_test_log *)evhost_test__xrealloc(r->logs, sizeof(*r->logs) * (size_t)(r->n_logs + 1));
    r->logs[r->n_logs].level = level < 0 ? 0 : level > 3 ? 3 : level;
    r->logs[r->n_logs].text = evhost_test__strndup(ptr, len);
    r->n_logs++;
}

void evhost_raw_fail(const void *ptr, uint32_t len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c) return;
    free(c->res->reason);
    c->res->reason = evhost_test__strndup(ptr, len);
}

static void evhost_test__add_attr(evhost_test_emit *e, const char *name, const void *v, uint32_t n) {
    for (int i = 0; i < e->n_attrs; i++) {
        if (strcmp(e->names[i], name) == 0) {
            free(e->values[i]);
            e->values[i] = evhost_test__strndup(v, n);
            return;
        }
    }
    e->names = (char **)evhost_test__xrealloc(e->names, sizeof(char *) * (size_t)(e->n_attrs + 1));
    e->values = (char **)evhost_test__xrealloc(e->values, sizeof(char *) * (size_t)(e->n_attrs + 1));
    e->names[e->n_attrs] = evhost_test__strndup(name, strlen(name));
    e->values[e->n_attrs] = evhost_test__strndup(v, n);
    e->n_attrs++;
}

static void evhost_test__free_emit(evhost_test_emit *e) {
    for (int i = 0; i < e->n_attrs; i++) {
        free(e->names[i]);
        free(e->values[i]);
    }
    free(e->names);
    free(e->values);
    free(e->data);
}

int32_t evhost_raw_emit(const void *ptr, uint32_t len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c) return EVHOST_EPERM;
    if (c->limit_hit) return EVHOST_ELIMIT;
    evhost_event ev;
    if (evhost_test__walk((const uint8_t *)ptr, len, 0, &ev) != 0) return EVHOST_EMALFORMED;
    evhost_bytes type;
    if (!evhost_attr(&ev, "type", &type) || type.len == 0) return EVHOST_EMALFORMED;
    uint32_t pos = 0;
    evhost_bytes name, value;
    while (evhost_attr_next(&ev, &pos, &name, &value))
        if (!evhost_test__host_owned(name) && !evhost_test__core(name) && !evhost_test__ext_name_ok(name))
            return EVHOST_EMALFORMED;
    evhost_test_result *r = c->res;
    if (c->h->max_emits > 0 && r->n_emits >= c->h->max_emits) {
        char msg[96];
        snprintf(msg, sizeof msg, "emit limit exceeded: more than %d events emitted", c->h->max_emits);
        c->limit_hit = evhost_test__strndup(msg, strlen(msg));
        return EVHOST_ELIMIT;
    }

    evhost_test_emit e = {0, NULL, NULL, NULL, 0};
    pos = 0;
    while (evhost_attr_next(&ev, &pos, &name, &value)) {
        if (evhost_test__host_owned(name)) continue; /* replaced below */
        if (!evhost_test__core(name) && value.len == 0) continue;
        char *n = evhost_test__strndup(name.ptr, name.len);
        evhost_test__add_attr(&e, n, value.ptr, value.len);
        free(n);
    }
    evhost_event parent;
    evhost_decode(c->parent, c->parent_len, &parent);
    evhost_bytes pid = evhost_get(&parent, "id");
    if (!evhost_test_get(&e, "id")) {
        char id[300];
        int n = snprintf(id, sizeof id, "%.*s-emit-%d", (int)pid.len, (const char *)pid.ptr, r->n_emits);
        evhost_test__add_attr(&e, "id", id, (uint32_t)n);
    }
    const char *src = c->h->source ? c->h->source : "/evhost_test";
    evhost_test__add_attr(&e, "source", src, (uint32_t)strlen(src));
    evhost_test__add_attr(&e, "specversion", "1.0", 3);
    evhost_test__add_attr(&e, "time", "2026-01-01T00:00:00Z", 20);
    evhost_test__add_attr(&e, "causationid", pid.ptr, pid.len);
    evhost_bytes corr = evhost_get(&parent, "correlationid");
    if (corr.len == 0) corr = pid;
    evhost_test__add_attr(&e, "correlationid", corr.ptr, corr.len);
    evhost_bytes pd = evhost_get(&parent, "depth");
    int depth = 0;
    for (uint32_t i = 0; i < pd.len && pd.ptr[i] >= '0' && pd.ptr[i] <= '9'; i++) depth = depth * 10 + (pd.ptr[i] - '0');
    char d[16];
    int dn = snprintf(d, sizeof d, "%d", depth + 1);
    evhost_test__add_attr(&e, "depth", d, (uint32_t)dn);
    evhost_bytes tp;
    if (evhost_attr(&parent, "traceparent", &tp)) evhost_test__add_attr(&e, "traceparent", tp.ptr, tp.len);
    e.data = (uint8_t *)evhost_test__strndup(ev.data, ev.data_len);
    e.data_len = ev.data_len;

    r->emits = (evhost_test_emit *)evhost_test__xrealloc(r->emits, sizeof(*r->emits) * (size_t)(r->n_emits + 1));
    r->emits[r->n_emits++] = e;
    return 0;
}

int64_t evhost_raw_config_get(const void *key, uint32_t key_len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c) return EVHOST_EMALFORMED;
    if (c->h->config)
        for (const char *const *kv = c->h->config; kv[0]; kv += 2)
            if (strlen(kv[0]) == key_len && memcmp(kv[0], key, key_len) == 0)
                return evhost_test__block(kv[1], (uint32_t)strlen(kv[1]));
    return EVHOST_ENOTFOUND;
}

static int evhost_test__valid_key(const uint8_t *k, uint32_t n) {
    if (n == 0 || n > 256) return 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t ch = k[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '/' || ch == '_' || ch == '=' || ch == '.'))
            return 0;
    }
    return 1;
}

static evhost_test__kv *evhost_test__find(evhost_test_host *h, const void *key, uint32_t n) {
    for (int i = 0; i < h->n_kv; i++)
        if (strlen(h->kv[i].key) == n && memcmp(h->kv[i].key, key, n) == 0) return &h->kv[i];
    return NULL;
}

void evhost_test_kv_put(evhost_test_host *h, const char *key, const void *value, uint32_t n) {
    evhost_test__kv *e = evhost_test__find(h, key, (uint32_t)strlen(key));
    if (!e) {
        if (h->n_kv == h->cap_kv) {
            h->cap_kv = h->cap_kv ? h->cap_kv * 2 : 8;
            h->kv = (evhost_test__kv *)evhost_test__xrealloc(h->kv, sizeof(*h->kv) * (size_t)h->cap_kv);
        }
        e = &h->kv[h->n_kv++];
        e->key = evhost_test__strndup(key, strlen(key));
        e->value = NULL;
    }
    free(e->value);
    e->value = evhost_test__strndup(value, n);
    e->n = n;
}

const char *evhost_test_kv_get(evhost_test_host *h, const char *key) {
    evhost_test__kv *e = evhost_test__find(h, key, (uint32_t)strlen(key));
    return e ? e->value : NULL;
}

int64_t evhost_raw_kv_get(const void *key, uint32_t key_len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c || !evhost_test__valid_key((const uint8_t *)key, key_len)) return EVHOST_EMALFORMED;
    evhost_test__kv *e = evhost_test__find(c->h, key, key_len);
    if (!e) return EVHOST_ENOTFOUND;
    return evhost_test__block(e->value, e->n);
}

int32_t evhost_raw_kv_set(const void *key, uint32_t key_len, const void *val, uint32_t val_len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c || !evhost_test__valid_key((const uint8_t *)key, key_len)) return EVHOST_EMALFORMED;
    char *k = evhost_test__strndup(key, key_len);
    evhost_test_kv_put(c->h, k, val, val_len);
    free(k);
    return 0;
}

int32_t evhost_raw_kv_delete(const void *key, uint32_t key_len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c || !evhost_test__valid_key((const uint8_t *)key, key_len)) return EVHOST_EMALFORMED;
    evhost_test_host *h = c->h;
    evhost_test__kv *e = evhost_test__find(h, key, key_len);
    if (e) {
        free(e->key);
        free(e->value);
        *e = h->kv[--h->n_kv];
    }
    return 0;
}

int64_t evhost_raw_http_request(const void *req, uint32_t req_len) {
    evhost_test__call *c = evhost_test__cur;
    if (!c) return EVHOST_EMALFORMED;
    if (!c->h->http) return EVHOST_EPERM;
    evhost_event ev;
    if (evhost_test__walk((const uint8_t *)req, req_len, 1, &ev) != 0) return EVHOST_EMALFORMED;
    evhost_test_http_req r = {"GET", NULL, NULL, ev.data, ev.data_len};
    char **hdrs = NULL;
    int nh = 0, rc;
    uint32_t pos = 0;
    evhost_bytes name, value;
    char *method = NULL, *url = NULL;
    while (evhost_attr_next(&ev, &pos, &name, &value)) {
        if (evhost_test__is(name, "method")) {
            free(method);
            method = evhost_test__strndup(value.ptr, value.len);
        } else if (evhost_test__is(name, "url")) {
            free(url);
            url = evhost_test__strndup(value.ptr, value.len);
        } else if (name.len > 7 && memcmp(name.ptr, "header.", 7) == 0) {
            hdrs = (char **)evhost_test__xrealloc(hdrs, sizeof(char *) * (size_t)(nh + 3));
            hdrs[nh] = evhost_test__strndup(name.ptr + 7, name.len - 7);
            for (char *p = hdrs[nh]; *p; p++)
                if (*p >= 'A' && *p <= 'Z') *p += 32;
            hdrs[nh + 1] = evhost_test__strndup(value.ptr, value.len);
            nh += 2;
        } else {
            rc = EVHOST_EMALFORMED;
            goto out;
        }
    }
    if (!url || !*url) {
        rc = EVHOST_EMALFORMED;
        goto out;
    }
    hdrs = (char **)evhost_test__xrealloc(hdrs, sizeof(char *) * (size_t)(nh + 1));
    hdrs[nh] = NULL;
    r.method = method && *method ? method : "GET";
    r.url = url;
    r.headers = (const char *const *)hdrs;
    {
        evhost_test_http_resp resp = {0, NULL, NULL, 0};
        rc = c->h->http(c->h->http_ctx, &r, &resp);
        if (rc == 0) {
            evhost_test__enc b = {NULL, 0, 0};
            char st[16];
            snprintf(st, sizeof st, "%d", resp.status);
            evhost_test__attr_str(&b, "status", st);
            if (resp.headers)
                for (const char *const *h = resp.headers; h[0]; h += 2) {
                    char hn[256];
                    int n = snprintf(hn, sizeof hn, "header.%s", h[0]);
                    for (int i = 7; i < n; i++)
                        if (hn[i] >= 'A' && hn[i] <= 'Z') hn[i] += 32;
                    evhost_test__attr_str(&b, hn, h[1]);
                }
            uint8_t z = 0;
            evhost_test__put(&b, &z, 1);
            evhost_test__put(&b, resp.body, resp.body_len);
            int64_t blk = evhost_test__block(b.p, b.len);
            free(b.p);
            free(method);
            free(url);
            for (int i = 0; i < nh; i++) free(hdrs[i]);
            free(hdrs);
            return blk;
        }
    }
out:
    free(method);
    free(url);
    for (int i = 0; i < nh; i++) free(hdrs[i]);
    free(hdrs);
    return rc < 0 ? rc : EVHOST_ETRANSIENT;
}

/* ---- running a handler ---- */

evhost_test_result *evhost_test_run(evhost_test_host *h, const evhost_test_event *e) {
    h->seq++;
    char id[32];
    snprintf(id, sizeof id, "evhost-test-%d", h->seq);
    evhost_test__enc b = {NULL, 0, 0};
    evhost_test__attr_str(&b, "id", e->id ? e->id : id);
    evhost_test__attr_str(&b, "source", e->source ? e->source : "/evhost_test");
    evhost_test__attr_str(&b, "type", e->type ? e->type : "");
    evhost_test__attr_str(&b, "specversion", "1.0");
    evhost_test__attr_str(&b, "time", e->time ? e->time : "2026-01-01T00:00:00Z");
    evhost_test__attr_str(&b, "subject", e->subject);
    evhost_test__attr_str(&b, "datacontenttype", e->datacontenttype);
    evhost_test__attr_str(&b, "dataschema", e->dataschema);
    if (e->extensions)
        for (const char *const *x = e->extensions; x[0]; x += 2) evhost_test__attr_str(&b, x[0], x[1]);
    uint8_t z = 0;
    evhost_test__put(&b, &z, 1);
    evhost_test__put(&b, e->data, e->data_len);

    evhost_test_result *r = (evhost_test_result *)evhost_test__xrealloc(NULL, sizeof *r);
    memset(r, 0, sizeof *r);
    evhost_test__call c;
    memset(&c, 0, sizeof c);
    c.h = h;
    c.res = r;
    c.parent = b.p;
    c.parent_len = b.len;
    /* As the host does: the event goes into a block the plugin allocated. */
    uint8_t *blk = (uint8_t *)evhost_arena_alloc(b.len);
    if (!blk) {
        fprintf(stderr, "evhost_test: the plugin's arena is out of memory\n");
        abort();
    }
    memcpy(blk, b.p, b.len);
    evhost_test__cur = &c;
    int32_t st = evhost_handle_event(blk, b.len);
    evhost_test__cur = NULL;

    if (c.limit_hit) {
        r->status = EVHOST_REJECT;
        free(r->reason);
        r->reason = c.limit_hit;
    } else if (st == EVHOST_OK) {
        r->status = EVHOST_OK;
        free(r->reason);
        r->reason = NULL;
    } else {
        r->status = st == EVHOST_REJECT ? EVHOST_REJECT : EVHOST_RETRY;
    }
    if (r->status != EVHOST_OK) {
        for (int i = 0; i < r->n_emits; i++) evhost_test__free_emit(&r->emits[i]);
        free(r->emits);
        r->emits = NULL;
        r->n_emits = 0;
    }
    if (!r->reason) r->reason = evhost_test__strndup("", 0);
    free((void *)c.blocks);
    free(b.p);
    return r;
}

void evhost_test_result_free(evhost_test_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_emits; i++) evhost_test__free_emit(&r->emits[i]);
    free(r->emits);
    for (int i = 0; i < r->n_logs; i++) free(r->logs[i].text);
    free(r->logs);
    free(r->reason);
    free(r);
}

const char *evhost_test_get(const evhost_test_emit *e, const char *name) {
    for (int i = 0; i < e->n_attrs; i++)
        if (strcmp(e->names[i], name) == 0) return e->values[i];
    return NULL;
}

int evhost_test_has_log(const evhost_test_result *r, int level, const char *text) {
    for (int i = 0; i < r->n_logs; i++)
        if (r->logs[i].level == level && strcmp(r->logs[i].text, text) == 0) return 1;
    return 0;
}

void evhost_test_host_free(evhost_test_host *h) {
    for (int i = 0; i < h->n_kv; i++) {
        free(h->kv[i].key);
        free(h->kv[i].value);
    }
    free(h->kv);
    h->kv = NULL;
    h->n_kv = h->cap_kv = 0;
}

int evhost_test_summary(void) {
    printf("%d passed, %d failed\n", evhost_test_passed, evhost_test_failed);
    return evhost_test_failed ? 1 : 0;
}

#endif /* EVHOST_TEST_H */
