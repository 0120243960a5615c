// The kit's own behaviour, beyond the conformance scenarios: an event read
// lazily stays whole past its call, every attribute and odd names decode,
// a malformed envelope is refused, and Emit's buffer grows and resends
// (npm test builds the module first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { TestHost, encodeEnvelope, decodeEnvelope } from "../testing/host.js";

const wasm = new URL("../build/kit.wasm", import.meta.url);
const load = (opts) => new TestHost(opts).load(wasm);

test("an event kept past its call still reads as it was", async () => {
  const host = await load();
  let res = host.run({ type: "keep", id: "k-1", subject: "s/1", extensions: { tenant: "acme" }, data: "first" });
  assert.equal(res.status, "done", res.reason);
  // Enough calls in between for the collector to run and blocks to be reused.
  for (let i = 0; i < 2000; i++) host.run({ type: "other", id: `x-${i}`, data: "y".repeat(i % 300) });
  res = host.run({ type: "keep", id: "k-2", data: "second" });
  assert.equal(res.status, "done", res.reason);
  const out = res.emits[0];
  assert.equal(out.attr("previd"), "k-1");
  assert.equal(out.attr("prevsubject"), "s/1");
  assert.equal(out.attr("prevtenant"), "acme");
  assert.equal(out.attr("prevtime"), "2026-01-01T00:00:00Z");
  assert.equal(out.attr("previnplace"), "first");
  assert.equal(out.text(), "first");
  res = host.run({ type: "keep", id: "k-3" });
  assert.equal(res.emits[0].attr("previd"), "k-2");
  assert.equal(res.emits[0].attr("prevsubject"), "null");
  assert.equal(res.emits[0].text(), "second");
});

test("every attribute, in order, and names by their UTF-8", async () => {
  const out = (await load()).run({
    type: "attrs", id: "a-1", subject: "ß/1", extensions: { "ünï": "ok", tenant: "t" }, data: "héllo",
  }).emits[0];
  assert.equal(
    out.text(),
    "8/8;id=a-1;source=/evhost_test;type=attrs;specversion=1.0;time=2026-01-01T00:00:00Z;subject=ß/1;ünï=ok;tenant=t",
  );
  assert.equal(out.attr("accented"), "ok");
  assert.equal(out.attr("missing"), "null");
  assert.equal(out.attr("again"), "yes");
  assert.equal(out.attr("text"), "Héllo");
});

test("the data in place: e.dataPtr and e.dataLength, and a change through e.data", async () => {
  const host = await load();
  let out = host.run({ type: "inplace", data: "abc" }).emits[0];
  assert.equal(out.attr("sum"), String(97 + 98 + 99));
  assert.equal(out.attr("length"), "3");
  assert.equal(out.attr("first"), "abc");
  assert.equal(out.attr("after"), "Jbc");
  assert.equal(out.text(), "Jbc"); // Emit.dataAt(e.dataPtr, e.dataLength), after a dataString
  out = host.run({ type: "inplace" }).emits[0];
  assert.equal(out.attr("length"), "0");
  assert.equal(out.attr("first") ?? "", ""); // an empty extension may be left out
  assert.equal(out.attr("after") ?? "", "");
});

test("emit: a bad name, a buffer that grows, a send repeated", async () => {
  const res = (await load()).run({ type: "emit.edges", data: "z".repeat(1000) });
  assert.equal(res.status, "done", res.reason);
  assert.equal(res.emits.length, 3);
  const [a, b, edges] = res.emits;
  for (const big of [a, b]) {
    assert.equal(big.type, "big.out");
    assert.equal(big.attr("long"), "v".repeat(300));
    assert.equal(big.attr("subject"), "s/é");
    assert.equal(big.text(), "z".repeat(1000));
  }
  assert.equal(edges.attr("bad"), "malformed");
  assert.equal(edges.attr("sends"), "0,0");
});

// Raw calls, as evhost makes them, with imports that record the reason and
// the emits.
async function raw() {
  let reason = "";
  const emits = [];
  const dec = new TextDecoder();
  let mem;
  const { instance } = await WebAssembly.instantiate(await readFile(wasm), {
    evhost: {
      fail: (p, n) => (reason = dec.decode(new Uint8Array(mem.buffer, p, n))),
      emit: (p, n) => {
        emits.push(Object.fromEntries(decodeEnvelope(new Uint8Array(mem.buffer, p, n).slice()).attrs));
        return 0;
      },
      log: () => {},
    },
  });
  mem = instance.exports.memory;
  instance.exports._initialize();
  return { x: instance.exports, mem, emits, reason: () => reason };
}

test("a malformed envelope is rejected", async () => {
  const { x, mem, reason } = await raw();
  const env = encodeEnvelope([["type", "attrs"]], "d");
  for (const bad of [env.subarray(0, 3), env.subarray(0, env.length - 2), new Uint8Array([5, 0x61])]) {
    const p = x.evhost_alloc(bad.length) >>> 0;
    new Uint8Array(mem.buffer).set(bad, p);
    assert.equal(x.evhost_handle(p, bad.length), 2);
    assert.equal(reason(), "evhost: malformed event envelope");
  }
});

test("an envelope outside evhost_alloc's block is copied", async () => {
  const { x, mem, emits } = await raw();
  const env = encodeEnvelope([["type", "keep"], ["id", "r-1"]], "raw");
  // The envelope starts inside the block, not at it: the kit must not take
  // the block as the event's buffer.
  const p = (x.evhost_alloc(env.length + 16) >>> 0) + 16;
  new Uint8Array(mem.buffer).set(env, p);
  assert.equal(x.evhost_handle(p, env.length), 0);
  const env2 = encodeEnvelope([["type", "keep"], ["id", "r-2"]], "");
  const q = x.evhost_alloc(env2.length) >>> 0;
  new Uint8Array(mem.buffer).fill(0xff, p - 16, p + env.length); // scribble over the first block
  new Uint8Array(mem.buffer).set(env2, q);
  assert.equal(x.evhost_handle(q, env2.length), 0);
  assert.deepEqual(emits.map((e) => [e.type, e.previd]), [["kept", "r-1"]]);
});
