//go:build ignore

/* (The line above is for the go tool only: plugins/c holds a Go test, and
 * without it the go tool would take this file for a cgo file.) */

/*
 * handler.c: an example evhost handler written with the C kit.
 *
 * On order.placed it counts the orders it has seen in the KV store, reads
 * the region from its config, logs a line and emits order.counted:
 *
 *     subject          orders/<count>
 *     datacontenttype  application/json
 *     region           <region> (an extension attribute)
 *     data             {"count":<count>,"order":<the order's data>}
 *
 * An order with no data is rejected (dead-lettered, no retry); a KV store
 * that fails asks for a retry. Other event types are logged and ignored.
 */
#define EVHOST_IMPLEMENTATION
#include "../evhost.h"

static int count_order(const evhost_event *ev) {
    if (ev->data_len == 0) {
        evhost_fail("order.placed without data");
        return EVHOST_REJECT;
    }

    /* The count of orders so far, kept in the KV store. */
    uint64_t count = 0;
    evhost_bytes v;
    int rc = evhost_kv_get("orders", &v);
    if (rc == 0) {
        for (uint32_t i = 0; i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++) count = count * 10 + (v.ptr[i] - '0');
    } else if (rc != EVHOST_ENOTFOUND) {
        evhost_fail("kv_get failed");
        return EVHOST_RETRY;
    }
    count++;
    evhost_buf n = evhost_buf_new(24);
    evhost_buf_putu(&n, count);
    if (n.err || evhost_kv_set("orders", n.ptr, n.len) != 0) {
        evhost_fail("kv_set failed");
        return EVHOST_RETRY;
    }

    /* The region, from [plugins.NAME.config]; "unknown" when not set. */
    const char *region = "unknown";
    evhost_bytes r;
    if (evhost_config_get("region", &r) == 0) {
        char *s = (char *)evhost_arena_alloc(r.len + 1);
        if (!s) return EVHOST_RETRY;
        memcpy(s, r.ptr, r.len);
        s[r.len] = 0;
        region = s;
    }

    evhost_buf line = evhost_buf_new(64);
    evhost_buf_puts(&line, "order ");
    evhost_bytes id = evhost_get(ev, "id");
    evhost_buf_put(&line, id.ptr, id.len);
    evhost_buf_puts(&line, " is number ");
    evhost_buf_putu(&line, count);
    if (!line.err) evhost_log(EVHOST_INFO, line.ptr, line.len);

    evhost_buf subject = evhost_buf_new(32);
    evhost_buf_puts(&subject, "orders/");
    evhost_buf_putu(&subject, count);
    evhost_buf_put(&subject, "", 1); /* NUL-terminate: the options take C strings */

    evhost_buf data = evhost_buf_new(32 + ev->data_len);
    evhost_buf_puts(&data, "{\"count\":");
    evhost_buf_putu(&data, count);
    evhost_buf_puts(&data, ",\"order\":");
    evhost_buf_put(&data, ev->data, ev->data_len);
    evhost_buf_puts(&data, "}");
    if (subject.err || data.err) return EVHOST_RETRY; /* out of memory */

    const char *ext[] = {"region", region, NULL};
    evhost_emit_opts o = {.subject = (const char *)subject.ptr, .datacontenttype = "application/json", .extensions = ext};
    rc = evhost_emit_with("order.counted", data.ptr, data.len, &o);
    if (rc != 0) {
        evhost_fail("emit failed");
        return EVHOST_REJECT;
    }
    return EVHOST_OK;
}

int evhost_on_event(const evhost_event *ev) {
    evhost_bytes type = evhost_get(ev, "type");
    if (evhost_bytes_eq(type, "order.placed")) return count_order(ev);
    evhost_buf line = evhost_buf_new(16 + type.len);
    evhost_buf_puts(&line, "ignoring ");
    evhost_buf_put(&line, type.ptr, type.len);
    if (!line.err) evhost_log(EVHOST_DEBUG, line.ptr, line.len);
    return EVHOST_OK;
}
