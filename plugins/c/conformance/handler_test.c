//go:build ignore

/* handler_test.c: the conformance scenarios run natively with evhost_test.h
 * (all but "trap", which would end this process):
 *
 *     cc -o handler_test handler.c handler_test.c && ./handler_test
 */
#include "../evhost_test.h"

static evhost_test_result *run(evhost_test_host *h, const char *type, const char *data) {
    evhost_test_event e = {.type = type, .data = data, .data_len = data ? (uint32_t)strlen(data) : 0};
    return evhost_test_run(h, &e);
}

static const char *attr(const evhost_test_result *r, const char *name) {
    return r->n_emits > 0 ? evhost_test_get(&r->emits[0], name) : NULL;
}

static void test_echo(void) {
    evhost_test_host h = {0};
    const char *ext[] = {"tenant", "acme", NULL};
    evhost_test_event e = {.type = "echo", .id = "e-1", .source = "/src", .subject = "s/1",
                           .datacontenttype = "text/plain", .extensions = ext, .data = "hi", .data_len = 2};
    evhost_test_result *r = evhost_test_run(&h, &e);
    EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 1);
    EVHOST_EXPECT(evhost_test_streq(attr(r, "type"), "echo.reply"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "datacontenttype"), "text/plain"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "origid"), "e-1"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "origsource"), "/src"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "origsubject"), "s/1"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "origtenant"), "acme"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "origtime"), "2026-01-01T00:00:00Z"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "causationid"), "e-1"));
    EVHOST_EXPECT(r->n_emits == 1 && r->emits[0].data_len == 2 && memcmp(r->emits[0].data, "hi", 2) == 0);
    evhost_test_result_free(r);
}

static void test_emit_options(void) {
    evhost_test_host h = {0};
    evhost_test_result *r = run(&h, "emit.options", NULL);
    EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 1);
    EVHOST_EXPECT(evhost_test_streq(attr(r, "id"), "fixed-id-1"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "subject"), "sub/1"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "datacontenttype"), "application/json"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "dataschema"), "https://example.com/schema.json"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "color"), "blue"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "depth"), "1"));
    evhost_test_result_free(r);
}

static void test_outcomes(void) {
    evhost_test_host h = {0};
    evhost_test_result *r = run(&h, "reject", NULL);
    EVHOST_EXPECT(r->status == EVHOST_REJECT && evhost_test_streq(r->reason, "bad input"));
    evhost_test_result_free(r);
    r = run(&h, "retry", NULL);
    EVHOST_EXPECT(r->status == EVHOST_RETRY && evhost_test_streq(r->reason, "try later") && r->n_emits == 0);
    evhost_test_result_free(r);
}

static void test_config(void) {
    const char *config[] = {"greeting", "hello", NULL};
    evhost_test_host h = {.config = config};
    evhost_test_result *r = run(&h, "config", NULL);
    EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 1);
    EVHOST_EXPECT(r->n_emits == 1 && evhost_test_streq((const char *)r->emits[0].data, "hello"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "absent"), "notfound"));
    evhost_test_result_free(r);
}

static void test_kv(void) {
    evhost_test_host h = {0};
    for (int i = 1; i <= 2; i++) {
        evhost_test_result *r = run(&h, "kv", NULL);
        EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 1);
        EVHOST_EXPECT(r->n_emits == 1 && evhost_test_streq((const char *)r->emits[0].data, i == 1 ? "1" : "2"));
        EVHOST_EXPECT(evhost_test_streq(attr(r, "badkey"), "-2"));
        evhost_test_result_free(r);
    }
    EVHOST_EXPECT(evhost_test_streq(evhost_test_kv_get(&h, "counter"), "2"));
    evhost_test_result *r = run(&h, "kv.delete", NULL);
    EVHOST_EXPECT(r->n_emits == 1 && evhost_test_streq((const char *)r->emits[0].data, "notfound"));
    EVHOST_EXPECT(evhost_test_kv_get(&h, "counter") == NULL);
    evhost_test_result_free(r);
    evhost_test_host_free(&h);
}

static int seen_post;

static int fake_http(void *ctx, const evhost_test_http_req *req, evhost_test_http_resp *resp) {
    (void)ctx;
    if (strcmp(req->url, "https://api.example.com/x") != 0) return EVHOST_EPERM;
    int header = 0;
    for (const char *const *h = req->headers; h[0]; h += 2) header |= strcmp(h[0], "x-conformance") == 0 && strcmp(h[1], "yes") == 0;
    seen_post = strcmp(req->method, "POST") == 0 && header && req->body_len == 4 && memcmp(req->body, "ping", 4) == 0;
    static const char *const rh[] = {"X-Echo", "pong-header", NULL};
    resp->status = 201;
    resp->headers = rh;
    resp->body = "pong";
    resp->body_len = 4;
    return 0;
}

static void test_http(void) {
    evhost_test_host h = {.http = fake_http};
    evhost_test_result *r = run(&h, "http", "https://api.example.com/x");
    EVHOST_EXPECT(r->status == EVHOST_OK && evhost_test_streq(attr(r, "type"), "http.done"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "status"), "201"));
    EVHOST_EXPECT(evhost_test_streq(attr(r, "echoheader"), "pong-header"));
    EVHOST_EXPECT(r->n_emits == 1 && evhost_test_streq((const char *)r->emits[0].data, "pong"));
    EVHOST_EXPECT(seen_post);
    evhost_test_result_free(r);
    r = run(&h, "http", "https://elsewhere.example.org/");
    EVHOST_EXPECT(evhost_test_streq(attr(r, "type"), "http.error") && evhost_test_streq(attr(r, "code"), "-3"));
    evhost_test_result_free(r);
    evhost_test_host none = {0}; /* no HTTP grant at all */
    r = run(&none, "http", "https://api.example.com/x");
    EVHOST_EXPECT(evhost_test_streq(attr(r, "code"), "-3"));
    evhost_test_result_free(r);
}

static void test_logs(void) {
    evhost_test_host h = {0};
    evhost_test_result *r = run(&h, "log", NULL);
    EVHOST_EXPECT(r->n_logs == 4);
    EVHOST_EXPECT(evhost_test_has_log(r, EVHOST_DEBUG, "debug line"));
    EVHOST_EXPECT(evhost_test_has_log(r, EVHOST_INFO, "info line"));
    EVHOST_EXPECT(evhost_test_has_log(r, EVHOST_WARN, "warn line"));
    EVHOST_EXPECT(evhost_test_has_log(r, EVHOST_ERROR, "error line"));
    evhost_test_result_free(r);
}

static void test_emit_limits(void) {
    evhost_test_host h = {.max_emits = 3};
    evhost_test_result *r = run(&h, "emit.many", NULL);
    EVHOST_EXPECT(r->status == EVHOST_REJECT && strstr(r->reason, "emit limit") != NULL);
    EVHOST_EXPECT(evhost_test_has_log(r, EVHOST_WARN, "emit refused: -4"));
    EVHOST_EXPECT(r->n_emits == 0);
    evhost_test_result_free(r);
    r = run(&h, "emit.large", "1048576");
    EVHOST_EXPECT(r->status == EVHOST_OK && r->n_emits == 1);
    EVHOST_EXPECT(r->n_emits == 1 && r->emits[0].data_len == 1048576 && r->emits[0].data[1048575] == 'x');
    evhost_test_result_free(r);
}

int main(void) {
    test_echo();
    test_emit_options();
    test_outcomes();
    test_config();
    test_kv();
    test_http();
    test_logs();
    test_emit_limits();
    return evhost_test_summary();
}
