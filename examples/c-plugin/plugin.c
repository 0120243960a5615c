//go:build ignore

/* (The line above is for the go tool only: this directory also holds a Go
 * test, and without it `go test` would take plugin.c for a cgo file.) */

/*
 * plugin.c: an evhost handler plugin written in C against ABI v1, with the
 * single-header PDK evhost.h and no other SDK.
 *
 * Every event: logs "handling <type>" at info, then
 *   test.reject  fail("rejected by c plugin"), status 2 (dead-letter)
 *   test.retry   status 1 (retry)
 *   test.config  config_get("greeting"): emits config.value with the value as
 *                data, or logs "missing" at warn when the key is not set
 *   anything else  emits bytes.counted with data {"bytes":N,"id":"<parent id>"}
 */
#define EVHOST_IMPLEMENTATION
#include "../../plugins/c/evhost.h"

static int emit_failed(int rc) {
    evhost_buf msg = evhost_buf_new(32);
    evhost_buf_puts(&msg, "emit failed: ");
    evhost_buf_putu(&msg, (uint64_t)-rc);
    evhost_raw_fail(msg.ptr, msg.len);
    /* -2 and -3 would fail again on a retry; -4 dead-letters anyway. */
    return EVHOST_REJECT;
}

static int count_bytes(const evhost_event *ev) {
    evhost_bytes id = {0, 0};
    evhost_attr(ev, "id", &id);

    evhost_buf json = evhost_buf_new(64 + id.len);
    evhost_buf_puts(&json, "{\"bytes\":");
    evhost_buf_putu(&json, ev->data_len);
    evhost_buf_puts(&json, ",\"id\":");
    evhost_buf_put_json(&json, id.ptr, id.len);
    evhost_buf_puts(&json, "}");
    if (json.err) return EVHOST_RETRY; /* out of memory */

    int rc = evhost_emit("bytes.counted", "application/json", json.ptr, json.len);
    return rc == 0 ? EVHOST_OK : emit_failed(rc);
}

static int config_value(void) {
    evhost_bytes v;
    int rc = evhost_config_get("greeting", &v);
    if (rc == EVHOST_ENOTFOUND) {
        evhost_log_str(EVHOST_WARN, "missing");
        return EVHOST_OK;
    }
    if (rc < 0) {
        evhost_fail("config_get failed");
        return EVHOST_RETRY;
    }
    rc = evhost_emit("config.value", "text/plain; charset=utf-8", v.ptr, v.len);
    return rc == 0 ? EVHOST_OK : emit_failed(rc);
}

int evhost_on_event(const evhost_event *ev) {
    evhost_bytes type = {0, 0};
    evhost_attr(ev, "type", &type);

    evhost_buf line = evhost_buf_new(16 + type.len);
    evhost_buf_puts(&line, "handling ");
    evhost_buf_put(&line, type.ptr, type.len);
    if (!line.err) evhost_log(EVHOST_INFO, line.ptr, line.len);

    if (evhost_bytes_eq(type, "test.reject")) {
        evhost_fail("rejected by c plugin");
        return EVHOST_REJECT;
    }
    if (evhost_bytes_eq(type, "test.retry")) return EVHOST_RETRY;
    if (evhost_bytes_eq(type, "test.config")) return config_value();
    return count_bytes(ev);
}
