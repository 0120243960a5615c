//go:build ignore

/* handler_test.c: unit tests of handler.c, run natively (no wasm):
 *
 *     cc -o handler_test handler.c handler_test.c && ./handler_test
 */
#include "../evhost_test.h"

static void test_counts_orders(void) {
    const char *config[] = {"region", "eu-west", NULL};
    evhost_test_host h = {.config = config};

    evhost_test_event e = {.type = "order.placed", .id = "o-1", .data = "{\"id\":1}", .data_len = 8};
    evhost_test_result *r = evhost_test_run(&h, &e);
    EVHOST_EXPECT(r->status == EVHOST_OK);
    EVHOST_EXPECT(r->n_emits == 1);
    if (r->n_emits == 1) {
        const evhost_test_emit *out = &r->emits[0];
        EVHOST_EXPECT(evhost_test_streq(evhost_test_get(out, "type"), "order.counted"));
        EVHOST_EXPECT(evhost_test_streq(evhost_test_get(out, "subject"), "orders/1"));
        EVHOST_EXPECT(evhost_test_streq(evhost_test_get(out, "datacontenttype"), "application/json"));
        EVHOST_EXPECT(evhost_test_streq(evhost_test_get(out, "region"), "eu-west"));
        EVHOST_EXPECT(evhost_test_streq(evhost_test_get(out, "causationid"), "o-1"));
        EVHOST_EXPECT(evhost_test_streq((const char *)out->data, "{\"count\":1,\"order\":{\"id\":1}}"));
    }
    EVHOST_EXPECT(evhost_test_has_log(r, EVHOST_INFO, "order o-1 is number 1"));
    evhost_test_result_free(r);

    /* The count lives in the KV store: the second order is number 2. */
    r = evhost_test_run(&h, &e);
    EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 1);
    if (r->n_emits == 1) EVHOST_EXPECT(evhost_test_streq(evhost_test_get(&r->emits[0], "subject"), "orders/2"));
    EVHOST_EXPECT(evhost_test_streq(evhost_test_kv_get(&h, "orders"), "2"));
    evhost_test_result_free(r);
    evhost_test_host_free(&h);
}

static void test_without_config(void) {
    evhost_test_host h = {0};
    evhost_test_kv_put(&h, "orders", "41", 2);
    evhost_test_event e = {.type = "order.placed", .data = "{}", .data_len = 2};
    evhost_test_result *r = evhost_test_run(&h, &e);
    EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 1);
    if (r->n_emits == 1) {
        EVHOST_EXPECT(evhost_test_streq(evhost_test_get(&r->emits[0], "region"), "unknown"));
        EVHOST_EXPECT(evhost_test_streq(evhost_test_get(&r->emits[0], "subject"), "orders/42"));
    }
    evhost_test_result_free(r);
    evhost_test_host_free(&h);
}

static void test_rejects_empty_order(void) {
    evhost_test_host h = {0};
    evhost_test_event e = {.type = "order.placed"};
    evhost_test_result *r = evhost_test_run(&h, &e);
    EVHOST_EXPECT(r->status == EVHOST_REJECT);
    EVHOST_EXPECT(evhost_test_streq(r->reason, "order.placed without data"));
    EVHOST_EXPECT(r->n_emits == 0);
    EVHOST_EXPECT(evhost_test_kv_get(&h, "orders") == NULL);
    evhost_test_result_free(r);
}

static void test_ignores_other_types(void) {
    evhost_test_host h = {0};
    evhost_test_event e = {.type = "order.shipped"};
    evhost_test_result *r = evhost_test_run(&h, &e);
    EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 0);
    EVHOST_EXPECT(evhost_test_has_log(r, EVHOST_DEBUG, "ignoring order.shipped"));
    evhost_test_result_free(r);
}

int main(void) {
    test_counts_orders();
    test_without_config();
    test_rejects_empty_order();
    test_ignores_other_types();
    return evhost_test_summary();
}
