// A stand-in for the evhost host, to unit-test an AssemblyScript handler
// with node's test runner, without evhost.
//
// AssemblyScript compiles to WebAssembly only, so the handler runs as the
// module that evhost would run, in node's WebAssembly engine; this host plays
// evhost's side of ABI v1: it encodes the event in the envelope encoding into
// a block from evhost_alloc and calls evhost_handle, and answers the host
// functions as evhost does. Emits are decoded and checked (type required, no
// name twice, UTF-8, extension names of lower-case letters and digits), get
// the host-owned attributes and count against maxEmits; config_get, kv_* and
// http_request return their results in blocks from evhost_alloc, with the
// ABI's error codes. A trap fails the call with status retry and discards
// the instance, as evhost does.
//
//   import { TestHost } from "../testing/host.js";
//   const host = new TestHost({ config: { region: "eu" } });
//   await host.load(new URL("../build/handler.wasm", import.meta.url));
//   const res = host.run({ type: "order.placed", data: '{"id":1}' });
//   assert.equal(res.status, "done");

import { readFile } from "node:fs/promises";

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export const NOT_FOUND = -1, MALFORMED = -2, NOT_PERMITTED = -3, LIMIT = -4, TRANSIENT = -5;
const STATUS = ["done", "retry", "reject"];
const LEVELS = ["debug", "info", "warn", "error"];
const HOST_OWNED = ["source", "time", "specversion", "causationid", "correlationid", "depth", "traceparent"];
const CORE = ["id", "type", "subject", "datacontenttype", "dataschema"];

/** Encodes an envelope from [name, value] pairs and data (string or bytes). */
export function encodeEnvelope(attrs, data) {
  const parts = [];
  for (const [name, value] of attrs) {
    const n = enc.encode(name), v = enc.encode(value);
    if (n.length < 1 || n.length > 255) throw new Error(`bad attribute name ${name}`);
    const hdr = new Uint8Array(5 + n.length);
    hdr[0] = n.length;
    hdr.set(n, 1);
    new DataView(hdr.buffer).setUint32(1 + n.length, v.length, true);
    parts.push(hdr, v);
  }
  parts.push(new Uint8Array([0]), typeof data === "string" ? enc.encode(data) : (data ?? new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Decodes an envelope: { attrs: [[name, value]], data }, or null when malformed. */
export function decodeEnvelope(b) {
  const attrs = [];
  let i = 0;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (;;) {
    if (i >= b.length) return null;
    const nl = b[i];
    if (nl === 0) break;
    if (b.length - i - 1 < nl + 4) return null;
    const vl = dv.getUint32(i + 1 + nl, true);
    if (vl > b.length - i - 5 - nl) return null;
    try {
      attrs.push([dec.decode(b.subarray(i + 1, i + 1 + nl)), dec.decode(b.subarray(i + 5 + nl, i + 5 + nl + vl))]);
    } catch {
      return null; // not UTF-8
    }
    i += 5 + nl + vl;
  }
  return { attrs, data: b.slice(i + 1) };
}

function unique(attrs, repeatable) {
  const seen = new Set();
  for (const [n] of attrs) {
    if (repeatable && n.startsWith(repeatable)) continue;
    if (seen.has(n)) return false;
    seen.add(n);
  }
  return true;
}

const validExt = (n) => /^[a-z0-9]+$/.test(n) && n !== "data";
const validKey = (k) => /^[-/_=.A-Za-z0-9]{1,256}$/.test(k);

/** An emitted event, as evhost would publish it. */
export class Emitted {
  constructor(attrs, data) {
    this.attrs = attrs; // [[name, value]] with the host-owned attributes
    this.data = data; // Uint8Array
  }
  attr(name) {
    const a = this.attrs.find(([n]) => n === name);
    return a ? a[1] : undefined;
  }
  get type() {
    return this.attr("type");
  }
  text() {
    return new TextDecoder().decode(this.data);
  }
}

export class TestHost {
  /**
   * @param {object} o
   * @param {Record<string,string>} [o.config] config values, as config_get returns them
   * @param {Map<string,Uint8Array|string>} [o.kv] the KV space; persists between runs
   * @param {(req: {method: string, url: string, headers: [string, string][], body: Uint8Array}) =>
   *   ({status: number, headers?: Record<string,string>, body?: Uint8Array|string} | number)} [o.http]
   *   answers http_request (synchronously); return a negative code (NOT_PERMITTED) to refuse;
   *   none means no HTTP grant: every request gets NOT_PERMITTED
   * @param {number} [o.maxEmits] emits per event (0: no cap); past it LIMIT and the event is rejected
   * @param {string} [o.source] the source of emitted events
   */
  constructor({ config = {}, kv = new Map(), http = null, maxEmits = 0, source = "/evhost_test" } = {}) {
    Object.assign(this, { config, kv, http, maxEmits, source });
    this.seq = 0;
    this.instance = null;
    this.instantiations = 0;
  }

  /** Loads the module (a path, URL, or bytes) that the runs use. */
  async load(wasm) {
    const bytes = wasm instanceof Uint8Array ? wasm : await readFile(wasm);
    this.module = await WebAssembly.compile(bytes);
    this.instance = null;
    return this;
  }

  #instance() {
    if (this.instance) return this.instance;
    const host = this;
    const mem = () => new Uint8Array(this.instance.exports.memory.buffer);
    const read = (p, n) => mem().slice(p, p + n);
    const str = (p, n) => new TextDecoder().decode(read(p, n));
    const block = (bytes) => {
      if (bytes.length === 0) return 0n;
      const p = this.instance.exports.evhost_alloc(bytes.length) >>> 0;
      if (p === 0) throw new WebAssembly.RuntimeError("evhost_alloc returned 0");
      mem().set(bytes, p);
      return (BigInt(p) << 32n) | BigInt(bytes.length);
    };
    const imports = {
      evhost: {
        log: (level, p, n) => host.call?.logs.push({ level: LEVELS[Math.min(Math.max(level, 0), 3)], text: str(p, n) }),
        fail: (p, n) => {
          if (host.call) host.call.reason = str(p, n);
        },
        emit: (p, n) => (host.call ? host.#emit(read(p, n)) : NOT_PERMITTED),
        config_get: (p, n) => {
          const k = str(p, n);
          return Object.hasOwn(host.config, k) ? block(enc.encode(host.config[k])) : BigInt(NOT_FOUND);
        },
        kv_get: (p, n) => {
          const k = str(p, n);
          if (!validKey(k)) return BigInt(MALFORMED);
          if (!host.kv.has(k)) return BigInt(NOT_FOUND);
          const v = host.kv.get(k);
          return block(typeof v === "string" ? enc.encode(v) : v);
        },
        kv_set: (kp, kn, vp, vn) => {
          const k = str(kp, kn);
          if (!validKey(k)) return MALFORMED;
          host.kv.set(k, read(vp, vn));
          return 0;
        },
        kv_delete: (p, n) => {
          const k = str(p, n);
          if (!validKey(k)) return MALFORMED;
          host.kv.delete(k);
          return 0;
        },
        http_request: (p, n) => {
          const env = decodeEnvelope(read(p, n));
          if (!env || !unique(env.attrs, "header.")) return BigInt(MALFORMED);
          const req = { method: "GET", url: "", headers: [], body: env.data };
          for (const [name, value] of env.attrs) {
            if (name === "method") req.method = value || "GET";
            else if (name === "url") req.url = value;
            else if (name.startsWith("header.")) req.headers.push([name.slice(7).toLowerCase(), value]);
            else return BigInt(MALFORMED);
          }
          if (!req.url) return BigInt(MALFORMED);
          if (!host.http) return BigInt(NOT_PERMITTED);
          const resp = host.http(req);
          if (typeof resp === "number") return BigInt(resp);
          const attrs = [["status", String(resp.status)]];
          for (const [name, value] of Object.entries(resp.headers ?? {})) attrs.push(["header." + name.toLowerCase(), value]);
          return block(encodeEnvelope(attrs, resp.body));
        },
      },
    };
    this.instance = new WebAssembly.Instance(this.module, imports);
    this.instantiations++;
    this.instance.exports._initialize?.();
    return this.instance;
  }

  #emit(b) {
    const c = this.call;
    if (c.limitHit) return LIMIT;
    const env = decodeEnvelope(b);
    if (!env || !unique(env.attrs)) return MALFORMED;
    const type = env.attrs.find(([n]) => n === "type");
    if (!type || !type[1]) return MALFORMED;
    if (env.attrs.some(([n]) => !HOST_OWNED.includes(n) && !CORE.includes(n) && !validExt(n))) return MALFORMED;
    if (this.maxEmits > 0 && c.emits.length >= this.maxEmits) {
      c.limitHit = `emit limit exceeded: more than ${this.maxEmits} events emitted`;
      return LIMIT;
    }
    const parent = Object.fromEntries(c.parent);
    const attrs = env.attrs.filter(([n, v]) => !HOST_OWNED.includes(n) && (CORE.includes(n) || v !== ""));
    if (!attrs.some(([n]) => n === "id")) attrs.push(["id", `${parent.id}-emit-${c.emits.length}`]);
    attrs.push(
      ["source", this.source],
      ["specversion", "1.0"],
      ["time", "2026-01-01T00:00:00Z"],
      ["causationid", parent.id],
      ["correlationid", parent.correlationid || parent.id],
      ["depth", String((parseInt(parent.depth ?? "0", 10) || 0) + 1)],
    );
    if (parent.traceparent) attrs.push(["traceparent", parent.traceparent]);
    c.emits.push(new Emitted(attrs, env.data));
    return 0;
  }

  /**
   * Runs the loaded handler on an event: { type, id?, source?, time?,
   * subject?, datacontenttype?, dataschema?, extensions?: {name: value},
   * data?: string | Uint8Array }. Returns { status: "done"|"retry"|"reject",
   * reason, emits: Emitted[] (empty unless done), logs: [{level, text}],
   * eventId }.
   */
  run(ev) {
    this.seq++;
    const attrs = [
      ["id", ev.id ?? `test-${this.seq}`],
      ["source", ev.source ?? "/evhost_test"],
      ["type", ev.type],
      ["specversion", "1.0"],
      ["time", ev.time ?? "2026-01-01T00:00:00Z"],
    ];
    for (const n of ["subject", "datacontenttype", "dataschema"]) if (ev[n] !== undefined) attrs.push([n, ev[n]]);
    for (const [n, v] of Object.entries(ev.extensions ?? {})) attrs.push([n, v]);
    const env = encodeEnvelope(attrs, ev.data);
    this.call = { parent: attrs, emits: [], logs: [], reason: "", limitHit: null };
    let status;
    try {
      const inst = this.#instance();
      const p = inst.exports.evhost_alloc(env.length) >>> 0;
      new Uint8Array(inst.exports.memory.buffer).set(env, p);
      status = inst.exports.evhost_handle(p, env.length);
    } catch (err) {
      if (!(err instanceof WebAssembly.RuntimeError)) throw err;
      this.instance = null; // discarded, as evhost does
      status = 1;
      if (!this.call.reason) this.call.reason = `trap: ${err.message}`;
    }
    const c = this.call;
    this.call = null;
    const res = { status: STATUS[status] ?? "retry", reason: c.reason, emits: [], logs: c.logs, eventId: attrs[0][1] };
    if (c.limitHit) Object.assign(res, { status: "reject", reason: c.limitHit });
    else if (res.status === "done") Object.assign(res, { reason: "", emits: c.emits });
    return res;
  }
}

/** Whether res has the log line text at level ("debug", "info", "warn", "error"). */
export function hasLog(res, level, text) {
  return res.logs.some((l) => l.level === level && l.text === text);
}
