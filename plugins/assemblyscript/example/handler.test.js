// Unit tests of example/handler.ts with node's test runner and the kit's
// test host (npm test builds the module first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { TestHost, hasLog } from "../testing/host.js";

const wasm = new URL("../build/example.wasm", import.meta.url);

test("counts orders", async () => {
  const host = await new TestHost({ config: { region: "eu-west" } }).load(wasm);
  const order = { type: "order.placed", id: "o-1", data: '{"id":1}' };
  let res = host.run(order);
  assert.equal(res.status, "done", res.reason);
  assert.equal(res.emits.length, 1);
  const out = res.emits[0];
  assert.equal(out.type, "order.counted");
  assert.equal(out.attr("subject"), "orders/1");
  assert.equal(out.attr("datacontenttype"), "application/json");
  assert.equal(out.attr("region"), "eu-west");
  assert.equal(out.attr("causationid"), "o-1");
  assert.equal(out.text(), '{"count":1,"order":{"id":1}}');
  assert.ok(hasLog(res, "info", "order o-1 is number 1"), JSON.stringify(res.logs));

  // The count lives in the KV store: the second order is number 2.
  res = host.run(order);
  assert.equal(res.emits[0].attr("subject"), "orders/2");
  assert.equal(new TextDecoder().decode(host.kv.get("orders")), "2");
});

test("without config", async () => {
  const host = await new TestHost({ kv: new Map([["orders", "41"]]) }).load(wasm);
  const res = host.run({ type: "order.placed", data: "{}" });
  assert.equal(res.emits[0].attr("region"), "unknown");
  assert.equal(res.emits[0].attr("subject"), "orders/42");
});

test("rejects an empty order", async () => {
  const host = await new TestHost().load(wasm);
  const res = host.run({ type: "order.placed" });
  assert.equal(res.status, "reject");
  assert.equal(res.reason, "order.placed without data");
  assert.deepEqual(res.emits, []);
  assert.equal(host.kv.size, 0);
});

test("ignores other types", async () => {
  const host = await new TestHost().load(wasm);
  const res = host.run({ type: "order.shipped" });
  assert.equal(res.status, "done");
  assert.deepEqual(res.emits, []);
  assert.ok(hasLog(res, "debug", "ignoring order.shipped"));
});
