// The conformance handler (../../conformance/SPEC.md) in JavaScript, run by
// the engine plugin (../engine) with this file as its config value "source".
// internal/conformance runs it through evhost's runtime beside the same
// handler in Go, C, Rust and AssemblyScript.

function code(err) {
  return err instanceof evhost.EvhostError ? err.code : 0;
}

function handle(event) {
  switch (event.type) {
    case "echo": {
      const ext = {
        origid: event.id, origsource: event.source, origtype: event.type,
        origspec: event.specversion, origtime: event.time,
      };
      if (event.subject !== undefined) ext.origsubject = event.subject;
      if (event.extensions.tenant !== undefined) ext.origtenant = event.extensions.tenant;
      // JSON data arrives parsed: emit it back as JSON (it round-trips
      // here); any other data arrives as a string.
      evhost.emit("echo.reply", event.data, { datacontenttype: event.datacontenttype, extensions: ext });
      return;
    }
    case "emit.options":
      evhost.emit("options.out", { ok: true }, {
        id: "fixed-id-1", subject: "sub/1", datacontenttype: "application/json",
        dataschema: "https://example.com/schema.json", extensions: { color: "blue" },
      });
      return;
    case "reject":
      throw evhost.reject("bad input");
    case "retry":
      evhost.emit("retry.out");
      throw evhost.retry("try later");
    case "config": {
      const g = evhost.config("greeting");
      if (g === null) throw new Error("no greeting");
      evhost.emit("config.value", g, { extensions: { absent: evhost.config("absent") === null ? "notfound" : "found" } });
      return;
    }
    case "kv": {
      const v = evhost.kv.get("counter");
      const next = String((v === null ? 0 : parseInt(v, 10)) + 1);
      evhost.kv.set("counter", next);
      let bad = 0;
      try { evhost.kv.get("bad key"); } catch (e) { bad = code(e); }
      evhost.emit("kv.count", next, { extensions: { badkey: String(bad) } });
      return;
    }
    case "kv.delete":
      evhost.kv.delete("counter");
      evhost.emit("kv.deleted", evhost.kv.get("counter") === null ? "notfound" : "found");
      return;
    case "http": {
      let r;
      try {
        r = evhost.http({ method: "POST", url: event.data, headers: { "X-Conformance": "yes" }, body: "ping" });
      } catch (e) {
        evhost.emit("http.error", undefined, { extensions: { code: String(code(e)) } });
        return;
      }
      evhost.emit("http.done", r.body, { extensions: { status: String(r.status), echoheader: r.headers["x-echo"] } });
      return;
    }
    case "log":
      evhost.log.debug("debug line");
      evhost.log.info("info line");
      evhost.log.warn("warn line");
      evhost.log.error("error line");
      return;
    case "trap":
      throw new Error("conformance trap");
    case "emit.many": {
      let c = 0;
      for (let i = 0; i < 1000 && c === 0; i++) {
        try { evhost.emit("many.out"); } catch (e) { c = code(e); }
      }
      evhost.log.warn("emit refused: " + c);
      return;
    }
    case "emit.large":
      evhost.emit("large.out", "x".repeat(parseInt(event.data, 10)));
      return;
  }
  throw evhost.reject("unknown scenario");
}
