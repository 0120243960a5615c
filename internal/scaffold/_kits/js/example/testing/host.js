// A stand-in for evhost in node's test runner: it bundles a handler as the
// engine receives it (esbuild, an IIFE that sets evhostHandler) and runs
// it in a fresh context whose evhost object records emits and logs, with
// the engine's outcome rules: a normal return is done, a thrown
// evhost.retry/reject is that outcome, any other exception is a retry with
// its text.
"use strict";
const esbuild = require("esbuild");
const vm = require("node:vm");

function load(entry) {
  const out = esbuild.buildSync({
    entryPoints: [entry], bundle: true, format: "iife", globalName: "evhostHandler",
    target: "es2017", write: false,
  });
  return out.outputFiles[0].text;
}

function run(source, event, { config = {}, kv = {} } = {}) {
  const emits = [], logs = [];
  class Outcome extends Error {
    constructor(kind, reason) { super(reason === undefined ? kind + " requested" : String(reason)); this.evhostOutcome = kind; }
  }
  class EvhostError extends Error {
    constructor(op, code) { super("evhost: " + op + ": error " + code); this.code = code; }
  }
  const log = {};
  for (const level of ["debug", "info", "warn", "error"]) log[level] = (msg) => logs.push({ level, msg: String(msg) });
  const evhost = {
    EvhostError, log,
    emit(type, data, opts = {}) {
      if (data !== undefined && data !== null && typeof data !== "string" && !(data instanceof Uint8Array)) {
        data = JSON.stringify(data);
        opts = Object.assign({ datacontenttype: "application/json" }, opts);
      }
      emits.push({ type, data, ...opts });
    },
    config: (key) => (key in config ? config[key] : null),
    kv: {
      get: (k) => (k in kv ? kv[k] : null),
      set: (k, v) => { kv[k] = String(v); },
      delete: (k) => { delete kv[k]; },
    },
    http() { throw new EvhostError("http_request", -3); },
    retry: (r) => new Outcome("retry", r),
    reject: (r) => new Outcome("reject", r),
  };
  const ctx = vm.createContext({ evhost });
  vm.runInContext(source, ctx);
  const handle = ctx.handle || (ctx.evhostHandler && ctx.evhostHandler.handle);
  const ev = Object.assign({ id: "ev-1", source: "/test", type: "test", specversion: "1.0", extensions: {} }, event);
  try {
    handle(ev);
    return { status: "done", emits, logs };
  } catch (e) {
    if (e && e.evhostOutcome) return { status: e.evhostOutcome, reason: e.message, emits: [], logs };
    return { status: "retry", reason: String(e), emits: [], logs };
  }
}

module.exports = { load, run };
