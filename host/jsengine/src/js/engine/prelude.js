// The evhost object that a JavaScript handler sees, built once per instance
// over the engine's native functions (which return a value, or a negative ABI
// error code as a number).
(function (native) {
  "use strict";
  class EvhostError extends Error {
    constructor(op, code) {
      super("evhost: " + op + ": error " + code);
      this.name = "EvhostError";
      this.code = code;
    }
  }
  class Outcome extends Error {
    constructor(kind, reason) {
      super(reason === undefined ? kind + " requested" : String(reason));
      this.name = kind === "reject" ? "Reject" : "Retry";
      this.evhostOutcome = kind;
    }
  }
  const levels = ["debug", "info", "warn", "error"];
  const log = {};
  levels.forEach(function (name, level) {
    log[name] = function (msg) { native.log(level, String(msg)); };
  });
  return Object.freeze({
    EvhostError: EvhostError,
    // emit(type, data, {id, subject, datacontenttype, dataschema, extensions}):
    // data is a string or bytes (a Uint8Array or an ArrayBuffer) as is, or
    // any other value as JSON (with datacontenttype application/json
    // unless opts gives one); the native function does both, in C.
    emit: function (type, data, opts) {
      const code = native.emit(type, data, opts);
      if (code !== 0) throw new EvhostError("emit " + type, code);
    },
    log: Object.freeze(log),
    // config(key): the value, or null when the plugin has none.
    config: function (key) { return native.config(String(key)); },
    kv: Object.freeze({
      // get(key): the value as a string, or null when not found.
      get: function (key) {
        const v = native.kvGet(String(key));
        if (v === -1) return null;
        if (typeof v === "number") throw new EvhostError("kv_get " + key, v);
        return v;
      },
      set: function (key, value) {
        const code = native.kvSet(String(key), typeof value === "string" || value instanceof Uint8Array ? value : String(value));
        if (code !== 0) throw new EvhostError("kv_set " + key, code);
      },
      delete: function (key) {
        const code = native.kvDelete(String(key));
        if (code !== 0) throw new EvhostError("kv_delete " + key, code);
      },
    }),
    // http({method, url, headers, body}): {status, headers, body} (headers by
    // lower-case name, body a string); throws EvhostError with code -3 for a
    // destination outside the allow-list.
    http: function (req) {
      const r = native.http(req.method || "GET", String(req.url), req.headers || {}, req.body === undefined ? "" : req.body);
      if (typeof r === "number") throw new EvhostError("http_request " + req.url, r);
      return r;
    },
    retry: function (reason) { return new Outcome("retry", reason); },
    reject: function (reason) { return new Outcome("reject", reason); },
  });
})
