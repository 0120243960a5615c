// The conformance scenarios (plugins/conformance/SPEC.md) run with node's
// test runner and the kit's test host (npm test builds the module first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { TestHost, hasLog, NOT_PERMITTED } from "../testing/host.js";

const wasm = new URL("../build/conformance.wasm", import.meta.url);
const load = (opts) => new TestHost(opts).load(wasm);

test("echo", async () => {
  const host = await load();
  const res = host.run({
    type: "echo", id: "e-1", source: "/src", subject: "s/1", datacontenttype: "text/plain",
    extensions: { tenant: "acme" }, data: "hi",
  });
  assert.equal(res.status, "done", res.reason);
  const out = res.emits[0];
  assert.equal(out.type, "echo.reply");
  assert.equal(out.attr("datacontenttype"), "text/plain");
  for (const [name, want] of Object.entries({
    origid: "e-1", origsource: "/src", origtype: "echo", origspec: "1.0", origtime: "2026-01-01T00:00:00Z",
    origsubject: "s/1", origtenant: "acme", causationid: "e-1",
  })) assert.equal(out.attr(name), want, name);
  assert.equal(out.text(), "hi");
});

test("emit options", async () => {
  const out = (await load()).run({ type: "emit.options" }).emits[0];
  assert.equal(out.attr("id"), "fixed-id-1");
  assert.equal(out.attr("subject"), "sub/1");
  assert.equal(out.attr("datacontenttype"), "application/json");
  assert.equal(out.attr("dataschema"), "https://example.com/schema.json");
  assert.equal(out.attr("color"), "blue");
  assert.equal(out.attr("depth"), "1");
  assert.equal(out.text(), '{"ok":true}');
});

test("outcomes", async () => {
  const host = await load();
  let res = host.run({ type: "reject" });
  assert.deepEqual([res.status, res.reason], ["reject", "bad input"]);
  res = host.run({ type: "retry" });
  assert.deepEqual([res.status, res.reason, res.emits], ["retry", "try later", []]);
  res = host.run({ type: "trap" });
  assert.equal(res.status, "retry");
  assert.match(res.reason, /conformance trap/);
  assert.ok(res.logs.some((l) => l.level === "error" && l.text.includes("conformance trap")));
  assert.equal(host.instantiations, 1);
  assert.equal(host.run({ type: "emit.options" }).status, "done"); // a new instance serves
  assert.equal(host.instantiations, 2);
});

test("config", async () => {
  const res = (await load({ config: { greeting: "hello" } })).run({ type: "config" });
  assert.equal(res.emits[0].text(), "hello");
  assert.equal(res.emits[0].attr("absent"), "notfound");
});

test("kv", async () => {
  const host = await load();
  for (const want of ["1", "2"]) {
    const res = host.run({ type: "kv" });
    assert.equal(res.emits[0].text(), want);
    assert.equal(res.emits[0].attr("badkey"), "-2");
  }
  assert.equal(new TextDecoder().decode(host.kv.get("counter")), "2");
  const res = host.run({ type: "kv.delete" });
  assert.equal(res.emits[0].text(), "notfound");
  assert.equal(host.kv.has("counter"), false);
});

test("http", async () => {
  let seen = null;
  const host = await load({
    http: (req) => {
      if (req.url !== "https://api.example.com/x") return NOT_PERMITTED;
      seen = req;
      return { status: 201, headers: { "X-Echo": "pong-header" }, body: "pong" };
    },
  });
  let res = host.run({ type: "http", data: "https://api.example.com/x" });
  const out = res.emits[0];
  assert.equal(out.type, "http.done");
  assert.equal(out.attr("status"), "201");
  assert.equal(out.attr("echoheader"), "pong-header");
  assert.equal(out.text(), "pong");
  assert.equal(seen.method, "POST");
  assert.deepEqual(seen.headers, [["x-conformance", "yes"]]);
  assert.equal(new TextDecoder().decode(seen.body), "ping");
  res = host.run({ type: "http", data: "https://elsewhere.example.org/" });
  assert.deepEqual([res.emits[0].type, res.emits[0].attr("code")], ["http.error", "-3"]);
  res = (await load()).run({ type: "http", data: "https://api.example.com/x" }); // no HTTP grant
  assert.equal(res.emits[0].attr("code"), "-3");
});

test("log levels", async () => {
  const res = (await load()).run({ type: "log" });
  assert.equal(res.logs.length, 4);
  for (const l of ["debug", "info", "warn", "error"]) assert.ok(hasLog(res, l, `${l} line`), l);
});

test("emit limits", async () => {
  const host = await load({ maxEmits: 3 });
  let res = host.run({ type: "emit.many" });
  assert.equal(res.status, "reject");
  assert.match(res.reason, /emit limit/);
  assert.ok(hasLog(res, "warn", "emit refused: -4"));
  res = host.run({ type: "emit.large", data: "1048576" });
  assert.equal(res.status, "done");
  assert.equal(res.emits[0].data.length, 1 << 20);
  assert.ok(res.emits[0].data.every((b) => b === 0x78));
});
