"use strict";
const test = require("node:test");
const assert = require("node:assert");
const { load, run } = require("./testing/host.js");

const source = load(__dirname + "/handler.ts");

test("an order is logged and emitted", () => {
  const res = run(source, { type: "order.placed", datacontenttype: "application/json", data: { id: 42, product_id: "sku-1" } });
  assert.strictEqual(res.status, "done");
  assert.deepStrictEqual(res.logs, [{ level: "info", msg: "order 42 for sku-1" }]);
  assert.deepStrictEqual(res.emits, [{ type: "order.seen", data: '{"id":42,"product":"sku-1"}', datacontenttype: "application/json", subject: "order/42" }]);
});

test("an order without an id is rejected", () => {
  const res = run(source, { type: "order.placed", data: { product_id: "sku-1" } });
  assert.strictEqual(res.status, "reject");
  assert.match(res.reason, /numeric id/);
  assert.deepStrictEqual(res.emits, []);
});
