//! The conformance handler (plugins/conformance/SPEC.md) written with the
//! Rust kit. internal/conformance, in evhost's root module, builds it for
//! wasm32-wasi and runs it through evhost's runtime; the tests below run it
//! natively with `evhost::testing`.

use evhost::{Emit, Error, Event, Failure, HttpRequest};

fn handle(e: &Event) -> Result<(), Failure> {
    match e.event_type() {
        "echo" => {
            let mut out = Emit::new("echo.reply")
                .extension("origid", e.id())
                .extension("origsource", e.source())
                .extension("origtype", e.event_type())
                .extension("origspec", e.spec_version())
                .extension("origtime", e.time())
                .data(e.data());
            if let Some(ct) = e.data_content_type() {
                out = out.data_content_type(ct);
            }
            if let Some(s) = e.subject() {
                out = out.extension("origsubject", s);
            }
            if let Some(t) = e.attr("tenant") {
                out = out.extension("origtenant", t);
            }
            out.send()?;
        }
        "emit.options" => Emit::new("options.out")
            .id("fixed-id-1")
            .subject("sub/1")
            .data_content_type("application/json")
            .data_schema("https://example.com/schema.json")
            .extension("color", "blue")
            .data(br#"{"ok":true}"#)
            .send()?,
        "reject" => return Err(Failure::reject("bad input")),
        "retry" => {
            let _ = evhost::emit("retry.out", b"");
            return Err(Failure::retry("try later"));
        }
        "config" => {
            let greeting = evhost::config("greeting").ok_or_else(|| Failure::retry("no greeting"))?;
            let absent = if evhost::config("absent").is_none() { "notfound" } else { "found" };
            Emit::new("config.value").extension("absent", absent).data(greeting.as_bytes()).send()?;
        }
        "kv" => {
            let n = match evhost::kv_get("counter") {
                Ok(v) => String::from_utf8_lossy(&v).parse::<u64>().unwrap_or(0),
                Err(Error::NotFound) => 0,
                Err(e) => return Err(e.into()),
            };
            let next = (n + 1).to_string();
            evhost::kv_set("counter", next.as_bytes())?;
            let bad = evhost::kv_get("bad key").err().map_or(0, |e| e.code()).to_string();
            Emit::new("kv.count").extension("badkey", &bad).data(next.as_bytes()).send()?;
        }
        "kv.delete" => {
            evhost::kv_delete("counter")?;
            let got = match evhost::kv_get("counter") {
                Err(Error::NotFound) => "notfound",
                _ => "found",
            };
            evhost::emit("kv.deleted", got.as_bytes())?;
        }
        "http" => {
            let url = String::from_utf8_lossy(e.data());
            let req = HttpRequest::new("POST", &url).header("X-Conformance", "yes").body("ping");
            match req.send() {
                Ok(resp) => {
                    let status = resp.status.to_string();
                    Emit::new("http.done")
                        .extension("status", &status)
                        .extension("echoheader", resp.header("x-echo").unwrap_or(""))
                        .data(&resp.body)
                        .send()?
                }
                Err(err) => {
                    let code = err.code().to_string();
                    Emit::new("http.error").extension("code", &code).send()?
                }
            }
        }
        "log" => {
            evhost::debug("debug line");
            evhost::info("info line");
            evhost::warn("warn line");
            evhost::error("error line");
        }
        "trap" => panic!("conformance trap"),
        "emit.many" => {
            let mut res = Ok(());
            for _ in 0..1000 {
                res = evhost::emit("many.out", b"");
                if res.is_err() {
                    break;
                }
            }
            evhost::warn!("emit refused: {}", res.err().map_or(0, |e| e.code()));
        }
        "emit.large" => {
            let n: usize = String::from_utf8_lossy(e.data()).parse().map_err(|_| Failure::reject("bad size"))?;
            evhost::emit("large.out", &vec![b'x'; n])?;
        }
        _ => return Err(Failure::reject("unknown scenario")),
    }
    Ok(())
}

evhost::export!(handle);

#[cfg(test)]
mod tests {
    use super::handle;
    use evhost::testing::{TestEvent, TestHost};
    use evhost::{Error, HttpResponse, Level, Status};

    #[test]
    fn echo() {
        let ev = TestEvent::new("echo")
            .attr("id", "e-1")
            .attr("source", "/src")
            .attr("subject", "s/1")
            .attr("datacontenttype", "text/plain")
            .attr("tenant", "acme")
            .data("hi");
        let res = TestHost::new().run(handle, &ev);
        assert_eq!(res.status, Status::Done, "{}", res.reason);
        let out = &res.emits[0];
        assert_eq!(out.event_type(), "echo.reply");
        assert_eq!(out.attr("datacontenttype"), Some("text/plain"));
        for (name, want) in [
            ("origid", "e-1"),
            ("origsource", "/src"),
            ("origtype", "echo"),
            ("origspec", "1.0"),
            ("origtime", "2026-01-01T00:00:00Z"),
            ("origsubject", "s/1"),
            ("origtenant", "acme"),
            ("causationid", "e-1"),
        ] {
            assert_eq!(out.attr(name), Some(want), "{}", name);
        }
        assert_eq!(out.data, b"hi");
    }

    #[test]
    fn emit_options() {
        let res = TestHost::new().run(handle, &TestEvent::new("emit.options"));
        let out = &res.emits[0];
        assert_eq!(out.attr("id"), Some("fixed-id-1"));
        assert_eq!(out.attr("subject"), Some("sub/1"));
        assert_eq!(out.attr("datacontenttype"), Some("application/json"));
        assert_eq!(out.attr("dataschema"), Some("https://example.com/schema.json"));
        assert_eq!(out.attr("color"), Some("blue"));
        assert_eq!(out.attr("depth"), Some("1"));
    }

    #[test]
    fn outcomes() {
        let mut host = TestHost::new();
        let res = host.run(handle, &TestEvent::new("reject"));
        assert_eq!((res.status, res.reason.as_str()), (Status::Reject, "bad input"));
        let res = host.run(handle, &TestEvent::new("retry"));
        assert_eq!((res.status, res.reason.as_str()), (Status::Retry, "try later"));
        assert!(res.emits.is_empty());
        let res = host.run(handle, &TestEvent::new("trap"));
        assert_eq!(res.status, Status::Retry);
        assert!(res.reason.contains("conformance trap"), "{}", res.reason);
    }

    #[test]
    fn config() {
        let mut host = TestHost::new();
        host.config.insert("greeting".into(), "hello".into());
        let res = host.run(handle, &TestEvent::new("config"));
        assert_eq!(res.emits[0].data, b"hello");
        assert_eq!(res.emits[0].attr("absent"), Some("notfound"));
    }

    #[test]
    fn kv() {
        let mut host = TestHost::new();
        for want in ["1", "2"] {
            let res = host.run(handle, &TestEvent::new("kv"));
            assert_eq!(res.emits[0].data, want.as_bytes());
            assert_eq!(res.emits[0].attr("badkey"), Some("-2"));
        }
        assert_eq!(host.kv.get("counter").map(|v| v.as_slice()), Some(&b"2"[..]));
        let res = host.run(handle, &TestEvent::new("kv.delete"));
        assert_eq!(res.emits[0].data, b"notfound");
        assert!(host.kv.is_empty());
    }

    #[test]
    fn http() {
        let mut host = TestHost::new();
        host.http = Some(Box::new(|req| {
            if req.url != "https://api.example.com/x" {
                return Err(Error::NotPermitted);
            }
            assert_eq!(req.method, "POST");
            assert_eq!(req.headers, vec![("x-conformance".to_string(), "yes".to_string())]);
            assert_eq!(req.body, b"ping");
            Ok(HttpResponse {
                status: 201,
                headers: vec![("X-Echo".into(), "pong-header".into())],
                body: b"pong".to_vec(),
            })
        }));
        let res = host.run(handle, &TestEvent::new("http").data("https://api.example.com/x"));
        let out = &res.emits[0];
        assert_eq!(out.event_type(), "http.done");
        assert_eq!(out.attr("status"), Some("201"));
        assert_eq!(out.attr("echoheader"), Some("pong-header"));
        assert_eq!(out.data, b"pong");
        let res = host.run(handle, &TestEvent::new("http").data("https://elsewhere.example.org/"));
        assert_eq!((res.emits[0].event_type(), res.emits[0].attr("code")), ("http.error", Some("-3")));
        // No HTTP grant at all.
        let res = TestHost::new().run(handle, &TestEvent::new("http").data("https://api.example.com/x"));
        assert_eq!(res.emits[0].attr("code"), Some("-3"));
    }

    #[test]
    fn log_levels() {
        let res = TestHost::new().run(handle, &TestEvent::new("log"));
        assert_eq!(res.logs.len(), 4);
        assert!(res.has_log(Level::Debug, "debug line"));
        assert!(res.has_log(Level::Info, "info line"));
        assert!(res.has_log(Level::Warn, "warn line"));
        assert!(res.has_log(Level::Error, "error line"));
    }

    #[test]
    fn emit_limits() {
        let mut host = TestHost::new();
        host.max_emits = 3;
        let res = host.run(handle, &TestEvent::new("emit.many"));
        assert_eq!(res.status, Status::Reject);
        assert!(res.reason.contains("emit limit"), "{}", res.reason);
        assert!(res.has_log(Level::Warn, "emit refused: -4"));
        let res = host.run(handle, &TestEvent::new("emit.large").data("1048576"));
        assert_eq!(res.status, Status::Done);
        assert!(res.emits[0].data.len() == 1 << 20 && res.emits[0].data.iter().all(|&b| b == b'x'));
    }
}
