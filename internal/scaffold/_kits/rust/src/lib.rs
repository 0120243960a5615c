//! The evhost plugin kit for Rust.
//!
//! A handler is a function from an [`Event`] to `Result<(), Failure>`,
//! exported with [`export!`] from a `cdylib` crate built for `wasm32-wasi`
//! (Rust 1.63 to 1.77) or `wasm32-wasip1` (later Rust):
//!
//! ```
//! use evhost::{Event, Failure};
//!
//! fn handle(e: &Event) -> Result<(), Failure> {
//!     if e.data().is_empty() {
//!         return Err(Failure::reject("no data")); // dead-letter now
//!     }
//!     evhost::info(&format!("handling {}", e.id()));
//!     evhost::Emit::new("order.seen").subject("orders/1").data(e.data()).send()?; // an error: retry
//!     Ok(()) // done: the emits are published
//! }
//!
//! evhost::export!(handle);
//! ```
//!
//! Natively (`cargo test` on the host), [`testing::TestHost`] runs the same
//! handler through the same envelope codec and allocator, and answers the
//! host functions as evhost does.

pub mod envelope;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

use std::fmt;

use envelope::Envelope;

/// The ABI version this kit implements.
pub const ABI_VERSION: i32 = 1;

/// An error code returned by a host function (ABI v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// -1: no such config or KV key.
    NotFound,
    /// -2: a bad encoding, a missing `type`, a name given twice, an invalid KV key.
    Malformed,
    /// -3: a capability not granted, a host outside the allow-list.
    NotPermitted,
    /// -4: a limit (emits per event, sizes, depth); an emit refused with it
    /// dead-letters the event whatever the handler returns.
    Limit,
    /// -5: the KV store or the remote host failed, or timed out.
    Transient,
    /// Any other negative code.
    Code(i32),
}

impl Error {
    /// The error for a negative ABI code.
    pub fn from_code(code: i32) -> Error {
        match code {
            -1 => Error::NotFound,
            -2 => Error::Malformed,
            -3 => Error::NotPermitted,
            -4 => Error::Limit,
            -5 => Error::Transient,
            c => Error::Code(c),
        }
    }

    /// The ABI code of the error.
    pub fn code(&self) -> i32 {
        match *self {
            Error::NotFound => -1,
            Error::Malformed => -2,
            Error::NotPermitted => -3,
            Error::Limit => -4,
            Error::Transient => -5,
            Error::Code(c) => c,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::NotFound => "not found",
            Error::Malformed => "malformed",
            Error::NotPermitted => "not permitted",
            Error::Limit => "limit exceeded",
            Error::Transient => "transient failure",
            Error::Code(_) => "host error",
        };
        write!(f, "evhost: {} ({})", what, self.code())
    }
}

impl std::error::Error for Error {}

fn check(code: i32) -> Result<(), Error> {
    if code < 0 {
        Err(Error::from_code(code))
    } else {
        Ok(())
    }
}

/// The outcome of a call, as `evhost_handle` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: acknowledge; the emitted events are published.
    Done = 0,
    /// 1: failed; retry later with backoff, then dead-letter.
    Retry = 1,
    /// 2: failed; dead-letter now.
    Reject = 2,
}

/// Why a handler failed, and whether a retry may help.
///
/// Any `std::error::Error` converts into a retry (so `?` works on the kit's
/// calls and others); use [`Failure::reject`] for an event that a retry
/// would fail the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    status: Status,
    reason: String,
}

impl Failure {
    /// Fail with status 1: retried with backoff, then dead-lettered.
    pub fn retry(reason: impl Into<String>) -> Failure {
        Failure { status: Status::Retry, reason: reason.into() }
    }

    /// Fail with status 2: dead-lettered now, no retry.
    pub fn reject(reason: impl Into<String>) -> Failure {
        Failure { status: Status::Reject, reason: reason.into() }
    }

    /// The status: [`Status::Retry`] or [`Status::Reject`].
    pub fn status(&self) -> Status {
        self.status
    }

    /// The reason kept with the retry or dead-letter record.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::retry(e.to_string())
    }
}

/// A handler: what [`export!`] exports and [`testing::TestHost::run`] runs.
pub type Handler = fn(&Event) -> Result<(), Failure>;

/// The event being handled. It borrows the block the host wrote, which is
/// valid until the handler returns: copy what must outlive the call.
pub struct Event<'a> {
    env: Envelope<'a>,
}

impl<'a> Event<'a> {
    /// The attribute called name (`id`, `source`, `type`, `specversion`,
    /// `time`, `subject`, `datacontenttype`, `dataschema`, or an extension
    /// such as `correlationid`).
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.env.attr(name)
    }

    /// Every attribute, in the order the host wrote them.
    pub fn attrs(&self) -> envelope::Attrs<'a> {
        self.env.attrs()
    }

    /// The event's id.
    pub fn id(&self) -> &'a str {
        self.attr("id").unwrap_or("")
    }

    /// The event's source.
    pub fn source(&self) -> &'a str {
        self.attr("source").unwrap_or("")
    }

    /// The event's type.
    pub fn event_type(&self) -> &'a str {
        self.attr("type").unwrap_or("")
    }

    /// The CloudEvents spec version ("1.0").
    pub fn spec_version(&self) -> &'a str {
        self.attr("specversion").unwrap_or("")
    }

    /// The event's time, in RFC 3339.
    pub fn time(&self) -> &'a str {
        self.attr("time").unwrap_or("")
    }

    /// The subject, when it has one.
    pub fn subject(&self) -> Option<&'a str> {
        self.attr("subject")
    }

    /// The content type of the data, when known.
    pub fn data_content_type(&self) -> Option<&'a str> {
        self.attr("datacontenttype")
    }

    /// The schema of the data, when given.
    pub fn data_schema(&self) -> Option<&'a str> {
        self.attr("dataschema")
    }

    /// The payload (possibly empty).
    pub fn data(&self) -> &'a [u8] {
        self.env.data()
    }
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Logs a line at level.
pub fn log(level: Level, msg: &str) {
    sys::log(level as i32, msg.as_bytes());
}

/// Logs a line at debug.
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

/// Logs a line at info.
pub fn info(msg: &str) {
    log(Level::Info, msg)
}

/// Logs a line at warn.
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}

/// Logs a line at error.
pub fn error(msg: &str) {
    log(Level::Error, msg)
}

/// `debug!`, `info!`, `warn!` and `error!` log a line made with `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::debug(&format!($($arg)*)) };
}

/// Logs a line made with `format!` at info.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::info(&format!($($arg)*)) };
}

/// Logs a line made with `format!` at warn.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::warn(&format!($($arg)*)) };
}

/// Logs a line made with `format!` at error.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::error(&format!($($arg)*)) };
}

/// An event to emit: its type, optional attributes and data. The host fills
/// in `source`, `time`, `specversion`, `id` (unless given: an id makes the
/// emit idempotent), `causationid`, `correlationid`, `depth` and
/// `traceparent`. Emits take effect only if the handler succeeds.
#[derive(Debug, Clone)]
pub struct Emit<'a> {
    attrs: Vec<(&'a str, &'a str)>,
    data: &'a [u8],
}

impl<'a> Emit<'a> {
    /// An event of the given type, with no data.
    pub fn new(event_type: &'a str) -> Emit<'a> {
        let mut attrs = Vec::with_capacity(4); // type and three more without growing
        attrs.push(("type", event_type));
        Emit { attrs, data: &[] }
    }

    /// Its id (by default the host derives one from the event handled).
    pub fn id(self, id: &'a str) -> Self {
        self.with("id", id)
    }

    /// Its subject.
    pub fn subject(self, subject: &'a str) -> Self {
        self.with("subject", subject)
    }

    /// The content type of its data.
    pub fn data_content_type(self, ct: &'a str) -> Self {
        self.with("datacontenttype", ct)
    }

    /// The schema of its data.
    pub fn data_schema(self, uri: &'a str) -> Self {
        self.with("dataschema", uri)
    }

    /// An extension attribute (name: lower-case letters and digits).
    pub fn extension(self, name: &'a str, value: &'a str) -> Self {
        self.with(name, value)
    }

    /// Its payload.
    pub fn data(mut self, data: &'a [u8]) -> Self {
        self.data = data;
        self
    }

    fn with(mut self, name: &'a str, value: &'a str) -> Self {
        self.attrs.push((name, value));
        self
    }

    /// Emits it: Ok, or the host's refusal ([`Error::Limit`] dead-letters
    /// the event whatever the handler returns).
    pub fn send(&self) -> Result<(), Error> {
        // The encoding buffer is the instance's, reused by every send (the
        // host copies the envelope before emit returns).
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::new());
        }
        BUF.with(|b| {
            let mut b = b.borrow_mut();
            b.clear();
            let mut size = 1 + self.data.len();
            for (n, v) in &self.attrs {
                size += 5 + n.len() + v.len();
            }
            b.reserve(size);
            for (n, v) in &self.attrs {
                envelope::put_attr(&mut b, n, v.as_bytes())?;
            }
            envelope::put_data(&mut b, self.data);
            let rc = sys::emit(&b);
            if b.capacity() > 64 << 10 {
                *b = Vec::new(); // a large emit's buffer is not kept
            }
            check(rc)
        })
    }
}

/// Emits an event of the given type with data and no other attribute.
pub fn emit(event_type: &str, data: &[u8]) -> Result<(), Error> {
    Emit::new(event_type).data(data).send()
}

/// The plugin's config value for key: a TOML string as its text, any other
/// value as JSON; None when the key is not set.
pub fn config(key: &str) -> Option<String> {
    sys::config_get(key.as_bytes()).ok().map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Reads key from the plugin's KV space ([`Error::NotFound`] when absent).
/// Keys are 1 to 256 bytes of `[-/_=.A-Za-z0-9]`.
pub fn kv_get(key: &str) -> Result<Vec<u8>, Error> {
    sys::kv_get(key.as_bytes()).map(|v| v.to_vec()).map_err(Error::from_code)
}

/// Writes key (last writer wins).
pub fn kv_set(key: &str, value: &[u8]) -> Result<(), Error> {
    check(sys::kv_set(key.as_bytes(), value))
}

/// Deletes key (deleting a missing key is Ok).
pub fn kv_delete(key: &str) -> Result<(), Error> {
    check(sys::kv_delete(key.as_bytes()))
}

/// An outbound HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// "GET" when empty.
    pub method: String,
    /// An absolute http or https URL of a host on the plugin's allow-list.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request with no header and no body.
    pub fn new(method: &str, url: &str) -> HttpRequest {
        HttpRequest { method: method.to_string(), url: url.to_string(), ..Default::default() }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends it with [`http`].
    pub fn send(&self) -> Result<HttpResponse, Error> {
        http(self)
    }

    /// The request in the envelope encoding (what the host decodes).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut b = Vec::with_capacity(128 + self.body.len());
        let method = if self.method.is_empty() { "GET" } else { &self.method };
        envelope::put_attr(&mut b, "method", method.as_bytes())?;
        envelope::put_attr(&mut b, "url", self.url.as_bytes())?;
        for (n, v) in &self.headers {
            envelope::put_attr(&mut b, &format!("header.{}", n.to_ascii_lowercase()), v.as_bytes())?;
        }
        envelope::put_data(&mut b, &self.body);
        Ok(b)
    }

    /// Decodes a request in the envelope encoding.
    pub fn decode(b: &[u8]) -> Result<HttpRequest, Error> {
        let env = Envelope::decode(b)?;
        env.check_unique(Some("header."))?;
        let mut r = HttpRequest::default();
        for (n, v) in env.attrs() {
            match n {
                "method" => r.method = v.to_string(),
                "url" => r.url = v.to_string(),
                _ if n.starts_with("header.") => r.headers.push((n[7..].to_string(), v.to_string())),
                _ => return Err(Error::Malformed),
            }
        }
        if r.url.is_empty() {
            return Err(Error::Malformed);
        }
        if r.method.is_empty() {
            r.method = "GET".to_string();
        }
        r.body = env.data().to_vec();
        Ok(r)
    }
}

/// The answer to an [`HttpRequest`]. HTTP error statuses are ordinary
/// responses, not errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of the header called name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The response in the envelope encoding (what the host encodes).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut b = Vec::with_capacity(64 + self.body.len());
        envelope::put_attr(&mut b, "status", self.status.to_string().as_bytes())?;
        for (n, v) in &self.headers {
            envelope::put_attr(&mut b, &format!("header.{}", n.to_ascii_lowercase()), v.as_bytes())?;
        }
        envelope::put_data(&mut b, &self.body);
        Ok(b)
    }

    /// Decodes a response in the envelope encoding.
    pub fn decode(b: &[u8]) -> Result<HttpResponse, Error> {
        let env = Envelope::decode(b)?;
        let mut r = HttpResponse::default();
        for (n, v) in env.attrs() {
            if n == "status" {
                r.status = v.parse().map_err(|_| Error::Malformed)?;
            } else if let Some(h) = n.strip_prefix("header.") {
                r.headers.push((h.to_ascii_lowercase(), v.to_string()));
            }
        }
        r.body = env.data().to_vec();
        Ok(r)
    }
}

/// Sends req through the host (`http_request`). The host allows only the
/// hosts of the plugin's `allowed_hosts` ([`Error::NotPermitted`] before a
/// byte is sent), caps sizes ([`Error::Limit`]) and bounds the request by
/// the call's timeout ([`Error::Transient`]).
pub fn http(req: &HttpRequest) -> Result<HttpResponse, Error> {
    let b = req.encode()?;
    let out = sys::http_request(&b).map_err(Error::from_code)?;
    HttpResponse::decode(out)
}

/// Exports a handler as the plugin's ABI v1 entry points
/// (`evhost_abi_version`, `evhost_alloc`, `evhost_handle`), in the crate
/// that is built as the `cdylib`. Natively it exports nothing.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        // Natively (tests) nothing is exported; this keeps the handler
        // from being reported as unused.
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __evhost_handler() -> $crate::Handler {
            $handler
        }

        // A reactor's initializer, as wasi-libc's crt1-reactor.o has it: it
        // runs the static constructors once per instance. Calling them here
        // also tells the linker that this is a reactor, not a command: it
        // then exports the functions as they are, instead of wrapping each
        // in constructors and destructors on every call.
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn _initialize() {
            extern "C" {
                fn __wasm_call_ctors();
            }
            // Safety: called once, by the host, before any other export.
            unsafe { __wasm_call_ctors() }
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn evhost_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn evhost_alloc(size: u32) -> u32 {
            $crate::__rt::alloc(size) as usize as u32
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn evhost_handle(ptr: u32, len: u32) -> i32 {
            let h: $crate::Handler = $handler;
            // Safety: the host wrote len bytes at ptr, in a block that
            // evhost_alloc returned.
            unsafe { $crate::__rt::handle(ptr as usize as *const u8, len as usize, h) }
        }
    };
}

/// The kit's runtime: the allocator behind `evhost_alloc` and the body of
/// `evhost_handle`. Not part of the API; [`export!`] uses it.
#[doc(hidden)]
pub mod __rt {
    use super::*;
    use std::cell::RefCell;

    /// Blocks handed out during a call (the event's, and host results)
    /// stay valid until the call returns; then they are kept for reuse.
    #[derive(Default)]
    struct Arena {
        live: Vec<Vec<u8>>,
        free: Vec<Vec<u8>>,
    }

    thread_local! {
        static ARENA: RefCell<Arena> = RefCell::new(Arena::default());
    }

    const KEEP: usize = 8;

    /// Returns size bytes valid until the current call returns, or null
    /// when out of memory.
    pub fn alloc(size: u32) -> *mut u8 {
        let size = size as usize;
        ARENA.with(|a| {
            let mut a = a.borrow_mut();
            let mut v = match a.free.iter().position(|v| v.capacity() >= size) {
                Some(i) => a.free.swap_remove(i),
                None => {
                    let mut v = Vec::new();
                    if v.try_reserve_exact(size.max(16)).is_err() {
                        return std::ptr::null_mut();
                    }
                    v
                }
            };
            // A reused block keeps the bytes it had: the host overwrites
            // them, and only a longer block needs zeroing (no memset per
            // call for events of a steady size).
            if v.len() >= size {
                v.truncate(size);
            } else {
                v.resize(size, 0);
            }
            let p = v.as_mut_ptr();
            a.live.push(v);
            p
        })
    }

    /// Ends the validity of every block (after the handler returns).
    pub fn reset() {
        ARENA.with(|a| {
            let a = &mut *a.borrow_mut();
            if a.live.is_empty() {
                return;
            }
            // Drained, not taken: the list keeps its capacity, so the next
            // call's first block allocates nothing.
            a.free.extend(a.live.drain(..));
            if a.free.len() > 1 {
                a.free.sort_by_key(|v| std::cmp::Reverse(v.capacity()));
                a.free.truncate(KEEP);
            }
        })
    }

    /// The body of `evhost_handle`.
    ///
    /// # Safety
    /// `[ptr, ptr+len)` must be a block from [`alloc`] that the host filled.
    pub unsafe fn handle(ptr: *const u8, len: usize, h: Handler) -> i32 {
        #[cfg(target_arch = "wasm32")]
        panic_hook();
        let b = std::slice::from_raw_parts(ptr, len);
        let st = dispatch(b, h);
        reset();
        st
    }

    /// Decodes the event, runs the handler and reports a failure's reason.
    pub fn dispatch(b: &[u8], h: Handler) -> i32 {
        let env = match Envelope::decode(b) {
            Ok(env) => env,
            Err(_) => {
                sys::fail(b"evhost: malformed event envelope");
                return Status::Reject as i32;
            }
        };
        match h(&Event { env }) {
            Ok(()) => Status::Done as i32,
            Err(f) => {
                sys::fail(f.reason.as_bytes());
                f.status as i32
            }
        }
    }

    /// A panic traps (wasm has no unwinding): the host retries the event and
    /// discards the instance. The hook first logs the message at error and
    /// makes it the failure reason.
    #[cfg(target_arch = "wasm32")]
    fn panic_hook() {
        use std::sync::Once;
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let msg = format!("evhost: handler panicked: {}", info);
                sys::log(Level::Error as i32, msg.as_bytes());
                sys::fail(msg.as_bytes());
            }))
        });
    }
}
