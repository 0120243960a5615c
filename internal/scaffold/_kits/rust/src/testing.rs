//! Run a handler natively, under `cargo test`, with a stand-in for the host.
//!
//! [`TestHost::run`] plays the host's side of ABI v1 as evhost does: it
//! encodes the event in the envelope encoding into a block of the kit's
//! allocator (as the host does through `evhost_alloc`) and calls the body of
//! `evhost_handle`, so the handler decodes it with the kit's own decoder.
//! Emits are encoded by the kit and decoded and checked here as the host
//! does (`type` required, no name twice, UTF-8, extension names of
//! lower-case letters and digits), get the host-owned attributes and count
//! against [`TestHost::max_emits`]; config, KV and HTTP results come back in
//! blocks of the kit's allocator with the ABI's error codes.
//!
//! ```
//! use evhost::testing::{TestEvent, TestHost};
//! use evhost::{Event, Failure, Status};
//!
//! fn handle(e: &Event) -> Result<(), Failure> {
//!     evhost::Emit::new("seen").data(e.data()).send()?;
//!     Ok(())
//! }
//!
//! let mut host = TestHost::new();
//! let res = host.run(handle, &TestEvent::new("order.placed").data("{}"));
//! assert_eq!(res.status, Status::Done);
//! assert_eq!(res.emits[0].event_type(), "seen");
//! assert_eq!(res.emits[0].attr("causationid"), Some(res.event_id.as_str()));
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

use crate::envelope::{self, Envelope};
use crate::{Error, Handler, HttpRequest, HttpResponse, Level, Status};

/// An HTTP function: the test's stand-in for the remote hosts and the
/// allow-list. Return `Err(Error::NotPermitted)` for a host the plugin may
/// not reach.
pub type HttpFn = Box<dyn FnMut(&HttpRequest) -> Result<HttpResponse, Error>>;

/// The stand-in host. [`TestHost::new`] has no config, an empty KV store,
/// no HTTP (every request gets [`Error::NotPermitted`], as without a grant)
/// and no emit cap. A host may serve several runs: the KV store persists
/// between them, as it does on the real host.
pub struct TestHost {
    /// The plugin's config values, as `config` returns them.
    pub config: HashMap<String, String>,
    /// The plugin's KV space; tests may seed and inspect it.
    pub kv: HashMap<String, Vec<u8>>,
    /// Answers `http_request`; None means no HTTP grant.
    pub http: Option<HttpFn>,
    /// Caps the emits per event (0: no cap). Past it, emit gets
    /// [`Error::Limit`] and the event is rejected, as on the real host.
    pub max_emits: usize,
    /// The source of emitted events.
    pub source: String,
    seq: u64,
}

impl Default for TestHost {
    fn default() -> Self {
        TestHost {
            config: HashMap::new(),
            kv: HashMap::new(),
            http: None,
            max_emits: 0,
            source: "/evhost_test".to_string(),
            seq: 0,
        }
    }
}

/// An event to run. Unset attributes take defaults: id `test-N`, source
/// `/evhost_test`, specversion `1.0`, time `2026-01-01T00:00:00Z`.
#[derive(Debug, Clone, Default)]
pub struct TestEvent {
    attrs: Vec<(String, String)>,
    data: Vec<u8>,
}

impl TestEvent {
    /// An event of the given type.
    pub fn new(event_type: &str) -> TestEvent {
        TestEvent::default().attr("type", event_type)
    }

    /// Sets an attribute (`id`, `source`, `subject`, `datacontenttype`,
    /// an extension, ...).
    pub fn attr(mut self, name: &str, value: &str) -> TestEvent {
        self.attrs.retain(|(n, _)| n != name);
        self.attrs.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the payload.
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> TestEvent {
        self.data = data.into();
        self
    }
}

/// An event the host would publish, with the host-owned attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub attrs: Vec<(String, String)>,
    pub data: Vec<u8>,
}

impl Emitted {
    /// The attribute called name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The type.
    pub fn event_type(&self) -> &str {
        self.attr("type").unwrap_or("")
    }
}

/// What one call produced.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The status as the host sees it.
    pub status: Status,
    /// The failure reason ("" when done). A panic is a retry with its message.
    pub reason: String,
    /// The published events: empty unless the status is done.
    pub emits: Vec<Emitted>,
    /// The log lines, in order.
    pub logs: Vec<(Level, String)>,
    /// The id of the event that was run.
    pub event_id: String,
}

impl TestResult {
    /// Whether the call logged text at level.
    pub fn has_log(&self, level: Level, text: &str) -> bool {
        self.logs.iter().any(|(l, t)| *l == level && t == text)
    }
}

struct Call {
    config: HashMap<String, String>,
    kv: HashMap<String, Vec<u8>>,
    http: Option<HttpFn>,
    max_emits: usize,
    source: String,
    parent: Vec<u8>,
    emits: Vec<Emitted>,
    logs: Vec<(Level, String)>,
    reason: String,
    limit_hit: Option<String>,
}

thread_local! {
    static CALL: RefCell<Option<Call>> = RefCell::new(None);
}

impl TestHost {
    /// A host with no config, no KV data, no HTTP grant and no emit cap.
    pub fn new() -> TestHost {
        TestHost::default()
    }

    /// Runs handler on event and returns what the host would record.
    pub fn run(&mut self, handler: Handler, event: &TestEvent) -> TestResult {
        self.seq += 1;
        let mut attrs = event.attrs.clone();
        let defaults = [
            ("id", format!("test-{}", self.seq)),
            ("source", "/evhost_test".to_string()),
            ("specversion", "1.0".to_string()),
            ("time", "2026-01-01T00:00:00Z".to_string()),
        ];
        for (n, v) in defaults.iter() {
            if !attrs.iter().any(|(a, _)| a == n) {
                attrs.push((n.to_string(), v.clone()));
            }
        }
        let mut env = Vec::new();
        for (n, v) in &attrs {
            envelope::put_attr(&mut env, n, v.as_bytes()).expect("TestEvent: an invalid attribute name");
        }
        envelope::put_data(&mut env, &event.data);
        let event_id = attrs.iter().find(|(n, _)| n == "id").map(|(_, v)| v.clone()).unwrap_or_default();

        CALL.with(|c| {
            *c.borrow_mut() = Some(Call {
                config: std::mem::take(&mut self.config),
                kv: std::mem::take(&mut self.kv),
                http: self.http.take(),
                max_emits: self.max_emits,
                source: self.source.clone(),
                parent: env.clone(),
                emits: Vec::new(),
                logs: Vec::new(),
                reason: String::new(),
                limit_hit: None,
            })
        });
        // As the host does: the event goes into a block the plugin allocated.
        let p = crate::__rt::alloc(env.len() as u32);
        assert!(!p.is_null(), "evhost testing: out of memory");
        unsafe { std::ptr::copy_nonoverlapping(env.as_ptr(), p, env.len()) };
        let caught = std::panic::catch_unwind(|| unsafe { crate::__rt::handle(p, env.len(), handler) });
        if caught.is_err() {
            crate::__rt::reset();
        }
        let call = CALL.with(|c| c.borrow_mut().take()).expect("evhost testing: no call");
        self.config = call.config;
        self.kv = call.kv;
        self.http = call.http;

        let mut res = TestResult {
            status: Status::Done,
            reason: call.reason,
            emits: Vec::new(),
            logs: call.logs,
            event_id,
        };
        match caught {
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                res.status = Status::Retry;
                res.reason = format!("evhost: handler panicked: {}", msg);
            }
            Ok(_) if call.limit_hit.is_some() => {
                res.status = Status::Reject;
                res.reason = call.limit_hit.unwrap_or_default();
            }
            Ok(0) => {
                res.reason.clear();
                res.emits = call.emits;
            }
            Ok(2) => res.status = Status::Reject,
            Ok(_) => res.status = Status::Retry,
        }
        res
    }
}

fn valid_key(k: &[u8]) -> bool {
    !k.is_empty()
        && k.len() <= 256
        && k.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'=' | b'.'))
}

const HOST_OWNED: [&str; 7] = ["source", "time", "specversion", "causationid", "correlationid", "depth", "traceparent"];
const CORE: [&str; 5] = ["id", "type", "subject", "datacontenttype", "dataschema"];

fn valid_ext(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name != "data"
        && name != "data_base64"
}

/// The host functions natively (the sys layer of the kit uses these).
pub(crate) mod host {
    use super::*;

    fn with<R>(f: impl FnOnce(&mut Call) -> R) -> Option<R> {
        CALL.with(|c| c.borrow_mut().as_mut().map(f))
    }

    /// Copies v into a block of the kit's allocator, as the host does
    /// through evhost_alloc.
    fn block(v: &[u8]) -> Result<&'static [u8], i32> {
        if v.is_empty() {
            return Ok(&[]);
        }
        let p = crate::__rt::alloc(v.len() as u32);
        assert!(!p.is_null(), "evhost testing: out of memory");
        unsafe {
            std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len());
            Ok(std::slice::from_raw_parts(p, v.len()))
        }
    }

    pub fn log(level: i32, msg: &[u8]) {
        let level = match level {
            0 => Level::Debug,
            1 => Level::Info,
            2 => Level::Warn,
            _ => Level::Error,
        };
        with(|c| c.logs.push((level, String::from_utf8_lossy(msg).into_owned())));
    }

    pub fn fail(reason: &[u8]) {
        with(|c| c.reason = String::from_utf8_lossy(reason).into_owned());
    }

    pub fn emit(b: &[u8]) -> i32 {
        with(|c| emit_in(c, b)).unwrap_or(-3)
    }

    fn emit_in(c: &mut Call, b: &[u8]) -> i32 {
        if c.limit_hit.is_some() {
            return -4;
        }
        let env = match Envelope::decode(b) {
            Ok(env) if env.check_unique(None).is_ok() => env,
            _ => return -2,
        };
        if env.attr("type").map_or(true, |t| t.is_empty()) {
            return -2;
        }
        if env.attrs().any(|(n, _)| !HOST_OWNED.contains(&n) && !CORE.contains(&n) && !valid_ext(n)) {
            return -2;
        }
        if c.max_emits > 0 && c.emits.len() >= c.max_emits {
            c.limit_hit = Some(format!("emit limit exceeded: more than {} events emitted", c.max_emits));
            return -4;
        }
        let parent = Envelope::decode(&c.parent).expect("parent");
        let pid = parent.attr("id").unwrap_or("").to_string();
        let mut attrs: Vec<(String, String)> = env
            .attrs()
            .filter(|(n, v)| !HOST_OWNED.contains(n) && (CORE.contains(n) || !v.is_empty()))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if !attrs.iter().any(|(n, _)| n == "id") {
            attrs.push(("id".to_string(), format!("{}-emit-{}", pid, c.emits.len())));
        }
        let depth = parent.attr("depth").and_then(|d| d.parse::<u64>().ok()).unwrap_or(0) + 1;
        let corr = parent.attr("correlationid").filter(|s| !s.is_empty()).unwrap_or(&pid).to_string();
        attrs.push(("source".to_string(), c.source.clone()));
        attrs.push(("specversion".to_string(), "1.0".to_string()));
        attrs.push(("time".to_string(), "2026-01-01T00:00:00Z".to_string()));
        attrs.push(("causationid".to_string(), pid.clone()));
        attrs.push(("correlationid".to_string(), corr));
        attrs.push(("depth".to_string(), depth.to_string()));
        if let Some(tp) = parent.attr("traceparent") {
            attrs.push(("traceparent".to_string(), tp.to_string()));
        }
        c.emits.push(Emitted { attrs, data: env.data().to_vec() });
        0
    }

    pub fn config_get(key: &[u8]) -> Result<&'static [u8], i32> {
        let v = with(|c| c.config.get(&*String::from_utf8_lossy(key)).cloned()).ok_or(-2)?;
        block(v.ok_or(-1)?.as_bytes())
    }

    pub fn kv_get(key: &[u8]) -> Result<&'static [u8], i32> {
        if !valid_key(key) {
            return Err(-2);
        }
        let v = with(|c| c.kv.get(&*String::from_utf8_lossy(key)).cloned()).ok_or(-2)?;
        block(&v.ok_or(-1)?)
    }

    pub fn kv_set(key: &[u8], val: &[u8]) -> i32 {
        if !valid_key(key) {
            return -2;
        }
        with(|c| c.kv.insert(String::from_utf8_lossy(key).into_owned(), val.to_vec())).map_or(-2, |_| 0)
    }

    pub fn kv_delete(key: &[u8]) -> i32 {
        if !valid_key(key) {
            return -2;
        }
        with(|c| c.kv.remove(&*String::from_utf8_lossy(key))).map_or(-2, |_| 0)
    }

    pub fn http_request(req: &[u8]) -> Result<&'static [u8], i32> {
        let req = HttpRequest::decode(req).map_err(|e| e.code())?;
        // The function runs outside the borrow of the call state, so that it
        // may do anything (it cannot call the host functions: no handler runs).
        let mut f = with(|c| c.http.take()).ok_or(-2)?.ok_or(-3)?;
        let out = f(&req);
        with(|c| c.http = Some(f));
        let resp = out.map_err(|e| e.code())?;
        block(&resp.encode().map_err(|e| e.code())?)
    }
}
