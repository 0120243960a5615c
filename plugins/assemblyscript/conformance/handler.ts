// The conformance handler (plugins/conformance/SPEC.md) written with the
// AssemblyScript kit. internal/conformance, in evhost's root module, builds
// it with asc and runs it through evhost's runtime; handler.test.js runs it
// in node with the kit's test host.
import {
  Event, Emit, HttpRequest, Level,
  done, reject, retry, emit, config, kvGetString, kvSetString, kvGet, kvDelete, log, warn,
  handle, ERR_NOT_FOUND,
} from "../assembly/index";
export { evhost_abi_version, evhost_alloc } from "../assembly/index";

export function evhost_handle(ptr: usize, len: usize): i32 {
  return handle(ptr, len, onEvent);
}

function onEvent(e: Event): i32 {
  const t = e.type;
  if (t == "echo") {
    const out = new Emit("echo.reply")
      .extension("origid", e.id)
      .extension("origsource", e.source)
      .extension("origtype", e.type)
      .extension("origspec", e.specVersion)
      .extension("origtime", e.time)
      .data(e.data);
    const ct = e.dataContentType;
    if (ct !== null) out.dataContentType(ct);
    const s = e.subject;
    if (s !== null) out.extension("origsubject", s);
    const tenant = e.attr("tenant");
    if (tenant !== null) out.extension("origtenant", tenant);
    return out.send() == 0 ? done() : retry("emit failed");
  }
  if (t == "emit.options") {
    const rc = new Emit("options.out")
      .id("fixed-id-1")
      .subject("sub/1")
      .dataContentType("application/json")
      .dataSchema("https://example.com/schema.json")
      .extension("color", "blue")
      .dataString('{"ok":true}')
      .send();
    return rc == 0 ? done() : retry("emit failed");
  }
  if (t == "reject") return reject("bad input");
  if (t == "retry") {
    emit("retry.out");
    return retry("try later");
  }
  if (t == "config") {
    const g = config("greeting");
    if (g === null) return retry("no greeting");
    const absent = config("absent") === null ? "notfound" : "found";
    return new Emit("config.value").extension("absent", absent).dataString(g).send() == 0 ? done() : retry("emit failed");
  }
  if (t == "kv") {
    const cur = kvGetString("counter");
    if (!cur.ok && cur.code != ERR_NOT_FOUND) return retry("kv_get failed");
    const n = cur.ok ? I64.parseInt(cur.value) : 0;
    const next = (n + 1).toString();
    if (kvSetString("counter", next) != 0) return retry("kv_set failed");
    const bad = kvGet("bad key").code.toString();
    return new Emit("kv.count").extension("badkey", bad).dataString(next).send() == 0 ? done() : retry("emit failed");
  }
  if (t == "kv.delete") {
    if (kvDelete("counter") != 0) return retry("kv_delete failed");
    const got = kvGet("counter").code == ERR_NOT_FOUND ? "notfound" : "found";
    return new Emit("kv.deleted").dataString(got).send() == 0 ? done() : retry("emit failed");
  }
  if (t == "http") {
    const r = new HttpRequest("POST", e.dataString()).header("X-Conformance", "yes").withBodyString("ping").send();
    const resp = r.value;
    if (!r.ok || resp === null) {
      return new Emit("http.error").extension("code", r.code.toString()).send() == 0 ? done() : retry("emit failed");
    }
    const echo = resp.header("x-echo");
    const rc = new Emit("http.done")
      .extension("status", resp.status.toString())
      .extension("echoheader", echo !== null ? echo : "")
      .data(resp.body)
      .send();
    return rc == 0 ? done() : retry("emit failed");
  }
  if (t == "log") {
    log(Level.Debug, "debug line");
    log(Level.Info, "info line");
    log(Level.Warn, "warn line");
    log(Level.Error, "error line");
    return done();
  }
  if (t == "trap") throw new Error("conformance trap");
  if (t == "emit.many") {
    let rc = 0;
    for (let i = 0; i < 1000 && rc == 0; i++) rc = emit("many.out");
    warn("emit refused: " + rc.toString());
    return done();
  }
  if (t == "emit.large") {
    const n = I32.parseInt(e.dataString());
    const d = new Uint8Array(n);
    d.fill(0x78); // 'x'
    return emit("large.out", d) == 0 ? done() : retry("emit failed");
  }
  return reject("unknown scenario");
}
