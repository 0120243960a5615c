//go:build ignore

/* (For the go tool: this directory is in a Go module; not a cgo file.) */

/*
 * handler.c: the conformance handler (plugins/conformance/SPEC.md) written
 * with the C kit. internal/conformance builds it with clang and runs it
 * through evhost's runtime; handler_test.c runs it natively.
 */
#define EVHOST_IMPLEMENTATION
#include "../evhost.h"

/* cstr copies a view into the arena as a NUL-terminated string. */
static const char *cstr(evhost_bytes b) {
    char *s = (char *)evhost_arena_alloc(b.len + 1);
    if (!s) __builtin_trap();
    if (b.len) memcpy(s, b.ptr, b.len);
    s[b.len] = 0;
    return s;
}

/* num renders v (which may be negative) as a string in the arena. */
static const char *num(int64_t v) {
    evhost_buf b = evhost_buf_new(24);
    if (v < 0) {
        evhost_buf_puts(&b, "-");
        evhost_buf_putu(&b, (uint64_t)-v);
    } else {
        evhost_buf_putu(&b, (uint64_t)v);
    }
    evhost_buf_put(&b, "", 1);
    if (b.err) __builtin_trap();
    return (const char *)b.ptr;
}

static int echo(const evhost_event *ev) {
    const char *ext[20];
    int n = 0;
    static const char *const from[][2] = {{"origid", "id"},         {"origsource", "source"},
                                          {"origtype", "type"},     {"origspec", "specversion"},
                                          {"origtime", "time"},     {"origsubject", "subject"},
                                          {"origtenant", "tenant"}};
    for (unsigned i = 0; i < sizeof from / sizeof from[0]; i++) {
        evhost_bytes v;
        if (evhost_attr(ev, from[i][1], &v)) {
            ext[n++] = from[i][0];
            ext[n++] = cstr(v);
        }
    }
    ext[n] = NULL;
    evhost_bytes ct;
    evhost_emit_opts o = {0};
    if (evhost_attr(ev, "datacontenttype", &ct)) o.datacontenttype = cstr(ct);
    o.extensions = ext;
    return evhost_emit_with("echo.reply", ev->data, ev->data_len, &o) == 0 ? EVHOST_OK : EVHOST_RETRY;
}

static int emit_options(void) {
    const char *ext[] = {"color", "blue", NULL};
    evhost_emit_opts o = {.id = "fixed-id-1",
                          .subject = "sub/1",
                          .datacontenttype = "application/json",
                          .dataschema = "https://example.com/schema.json",
                          .extensions = ext};
    return evhost_emit_with("options.out", "{\"ok\":true}", 11, &o) == 0 ? EVHOST_OK : EVHOST_RETRY;
}

static int config(void) {
    evhost_bytes g, a;
    if (evhost_config_get("greeting", &g) != 0) {
        evhost_fail("no greeting");
        return EVHOST_RETRY;
    }
    const char *ext[] = {"absent", evhost_config_get("absent", &a) == EVHOST_ENOTFOUND ? "notfound" : "found", NULL};
    evhost_emit_opts o = {.extensions = ext};
    return evhost_emit_with("config.value", g.ptr, g.len, &o) == 0 ? EVHOST_OK : EVHOST_RETRY;
}

static int kv(void) {
    int64_t n = 0;
    evhost_bytes v;
    int rc = evhost_kv_get("counter", &v);
    if (rc == 0) {
        for (uint32_t i = 0; i < v.len; i++) n = n * 10 + (v.ptr[i] - '0');
    } else if (rc != EVHOST_ENOTFOUND) {
        evhost_fail("kv_get failed");
        return EVHOST_RETRY;
    }
    const char *next = num(n + 1);
    if (evhost_kv_set("counter", next, (uint32_t)strlen(next)) != 0) {
        evhost_fail("kv_set failed");
        return EVHOST_RETRY;
    }
    const char *ext[] = {"badkey", num(evhost_kv_get("bad key", &v)), NULL};
    evhost_emit_opts o = {.extensions = ext};
    return evhost_emit_with("kv.count", next, (uint32_t)strlen(next), &o) == 0 ? EVHOST_OK : EVHOST_RETRY;
}

static int kv_delete(void) {
    if (evhost_kv_delete("counter") != 0) {
        evhost_fail("kv_delete failed");
        return EVHOST_RETRY;
    }
    evhost_bytes v;
    const char *got = evhost_kv_get("counter", &v) == EVHOST_ENOTFOUND ? "notfound" : "found";
    return evhost_emit("kv.deleted", NULL, got, (uint32_t)strlen(got)) == 0 ? EVHOST_OK : EVHOST_RETRY;
}

static int http(const evhost_event *ev) {
    const char *headers[] = {"X-Conformance", "yes", NULL};
    evhost_http_request req = {.method = "POST", .url = cstr((evhost_bytes){ev->data, ev->data_len}),
                               .headers = headers, .body = "ping", .body_len = 4};
    evhost_http_response resp;
    int rc = evhost_http(&req, &resp);
    if (rc != 0) {
        const char *ext[] = {"code", num(rc), NULL};
        evhost_emit_opts o = {.extensions = ext};
        return evhost_emit_with("http.error", NULL, 0, &o) == 0 ? EVHOST_OK : EVHOST_RETRY;
    }
    evhost_bytes echo = {(const uint8_t *)"", 0};
    evhost_http_header(&resp, "x-echo", &echo);
    const char *ext[] = {"status", num(resp.status), "echoheader", cstr(echo), NULL};
    evhost_emit_opts o = {.extensions = ext};
    return evhost_emit_with("http.done", resp.body, resp.body_len, &o) == 0 ? EVHOST_OK : EVHOST_RETRY;
}

static int emit_many(void) {
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) rc = evhost_emit("many.out", NULL, NULL, 0);
    evhost_buf line = evhost_buf_new(32);
    evhost_buf_puts(&line, "emit refused: ");
    evhost_buf_puts(&line, num(rc));
    evhost_log(EVHOST_WARN, line.ptr, line.len);
    return EVHOST_OK;
}

static int emit_large(const evhost_event *ev) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->data_len; i++) n = n * 10 + (uint32_t)(ev->data[i] - '0');
    uint8_t *data = (uint8_t *)evhost_arena_alloc(n);
    if (!data) return EVHOST_RETRY;
    memset(data, 'x', n);
    return evhost_emit("large.out", NULL, data, n) == 0 ? EVHOST_OK : EVHOST_RETRY;
}

int evhost_on_event(const evhost_event *ev) {
    evhost_bytes t = evhost_get(ev, "type");
    if (evhost_bytes_eq(t, "echo")) return echo(ev);
    if (evhost_bytes_eq(t, "emit.options")) return emit_options();
    if (evhost_bytes_eq(t, "reject")) {
        evhost_fail("bad input");
        return EVHOST_REJECT;
    }
    if (evhost_bytes_eq(t, "retry")) {
        evhost_emit("retry.out", NULL, NULL, 0);
        evhost_fail("try later");
        return EVHOST_RETRY;
    }
    if (evhost_bytes_eq(t, "config")) return config();
    if (evhost_bytes_eq(t, "kv")) return kv();
    if (evhost_bytes_eq(t, "kv.delete")) return kv_delete();
    if (evhost_bytes_eq(t, "http")) return http(ev);
    if (evhost_bytes_eq(t, "log")) {
        evhost_debug("debug line");
        evhost_info("info line");
        evhost_warn("warn line");
        evhost_error("error line");
        return EVHOST_OK;
    }
    if (evhost_bytes_eq(t, "trap")) __builtin_trap();
    if (evhost_bytes_eq(t, "emit.many")) return emit_many();
    if (evhost_bytes_eq(t, "emit.large")) return emit_large(ev);
    evhost_fail("unknown scenario");
    return EVHOST_REJECT;
}
