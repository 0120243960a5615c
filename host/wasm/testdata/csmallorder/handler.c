/*
 * The small handler of host/wasm's BenchmarkSmallHandler in C: it reads
 * the fields id (a number) and product_id (a string without escapes) of
 * the event's JSON data and emits one event with them. It scans for the
 * two keys rather than parsing the whole document, so it is a lower bound
 * for the same logic, not a JSON parser.
 */
#define EVHOST_IMPLEMENTATION
#include "../../../../plugins/c/evhost.h"

/* find returns the offset just after "key": in data, or -1. */
static int find(const uint8_t *p, uint32_t n, const char *key) {
    uint32_t k = (uint32_t)strlen(key);
    for (uint32_t i = 0; i + k + 3 <= n; i++) {
        if (p[i] == '"' && memcmp(p + i + 1, key, k) == 0 && p[i + 1 + k] == '"') {
            uint32_t j = i + 2 + k;
            while (j < n && (p[j] == ' ' || p[j] == ':')) j++;
            return (int)j;
        }
    }
    return -1;
}

int evhost_on_event(const evhost_event *ev) {
    const uint8_t *p = ev->data;
    uint32_t n = ev->data_len;
    int i = find(p, n, "id"), j = find(p, n, "product_id");
    if (i < 0 || j < 0 || (uint32_t)j >= n || p[j] != '"') {
        evhost_fail("bad order");
        return EVHOST_REJECT;
    }
    uint32_t ie = (uint32_t)i, je = (uint32_t)j + 1;
    while (ie < n && p[ie] >= '0' && p[ie] <= '9') ie++;
    while (je < n && p[je] != '"') je++;
    evhost_buf b = evhost_buf_new(64);
    evhost_buf_puts(&b, "{\"id\":");
    evhost_buf_put(&b, p + i, ie - (uint32_t)i);
    evhost_buf_puts(&b, ",\"product\":");
    evhost_buf_put(&b, p + j, je + 1 - (uint32_t)j);
    evhost_buf_puts(&b, "}");
    if (b.err) return EVHOST_RETRY;
    return evhost_emit("order.seen", "application/json", b.ptr, b.len) == 0 ? EVHOST_OK : EVHOST_RETRY;
}
