/*
 * The byte-count handler of host/wasm's BenchmarkKits in C: it counts the
 * event data's nonzero bytes, one by one, into a global, and emits nothing.
 */
#define EVHOST_IMPLEMENTATION
#include "../../../../plugins/c/evhost.h"

static volatile uint32_t total;

int evhost_on_event(const evhost_event *ev) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->data_len; i++) {
        if (ev->data[i] != 0) n++;
    }
    total += n;
    return EVHOST_OK;
}
