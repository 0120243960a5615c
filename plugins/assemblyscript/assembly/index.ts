// The evhost plugin kit for AssemblyScript (ABI v1).
//
// A plugin's entry file exports the ABI's functions and hands each event to
// its handler:
//
//   import { Event, Emit, done, reject } from "./evhost";
//   export { evhost_abi_version, evhost_alloc } from "./evhost";
//   export function evhost_handle(ptr: usize, len: usize): i32 { return handle(ptr, len, onEvent); }
//
// See README.md beside this directory.

// ---- host imports (module "evhost"); only those a plugin calls are imported

// @ts-ignore: decorator
@external("evhost", "log") declare function hostLog(level: i32, ptr: usize, len: usize): void;
// @ts-ignore: decorator
@external("evhost", "emit") declare function hostEmit(ptr: usize, len: usize): i32;
// @ts-ignore: decorator
@external("evhost", "fail") declare function hostFail(ptr: usize, len: usize): void;
// @ts-ignore: decorator
@external("evhost", "config_get") declare function hostConfigGet(key: usize, keyLen: usize): i64;
// @ts-ignore: decorator
@external("evhost", "kv_get") declare function hostKVGet(key: usize, keyLen: usize): i64;
// @ts-ignore: decorator
@external("evhost", "kv_set") declare function hostKVSet(key: usize, keyLen: usize, val: usize, valLen: usize): i32;
// @ts-ignore: decorator
@external("evhost", "kv_delete") declare function hostKVDelete(key: usize, keyLen: usize): i32;
// @ts-ignore: decorator
@external("evhost", "http_request") declare function hostHTTPRequest(req: usize, reqLen: usize): i64;

/** The ABI version this kit implements. */
export const ABI_VERSION: i32 = 1;

// ---- statuses and error codes

/** Done: acknowledge, publish the emitted events. */
export const DONE: i32 = 0;
/** Failed: retry later with backoff, then dead-letter. */
export const RETRY: i32 = 1;
/** Failed: dead-letter now, no retry. */
export const REJECT: i32 = 2;

/** No such config or KV key. */
export const ERR_NOT_FOUND: i32 = -1;
/** A bad encoding, a missing type, a name given twice, an invalid KV key. */
export const ERR_MALFORMED: i32 = -2;
/** A capability not granted, a host outside the allow-list. */
export const ERR_NOT_PERMITTED: i32 = -3;
/** A limit: emits per event, sizes, depth. An emit refused with it dead-letters the event. */
export const ERR_LIMIT: i32 = -4;
/** The KV store or the remote host failed, or timed out. */
export const ERR_TRANSIENT: i32 = -5;

/** The handler's outcome: done. */
export function done(): i32 {
  return DONE;
}

/** The handler's outcome: retry later, with a reason. */
export function retry(reason: string): i32 {
  fail(reason);
  return RETRY;
}

/** The handler's outcome: dead-letter now, with a reason. */
export function reject(reason: string): i32 {
  fail(reason);
  return REJECT;
}

/** Sets the failure reason kept with the retry or dead-letter record. */
export function fail(reason: string): void {
  const b = new Writer(<usize>String.UTF8.byteLength(reason));
  b.str(reason);
  hostFail(b.ptr, b.len);
  b.free();
}

// ---- log

export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Logs a line at level. */
export function log(level: Level, msg: string): void {
  const b = new Writer(<usize>String.UTF8.byteLength(msg));
  b.str(msg);
  hostLog(level, b.ptr, b.len);
  b.free();
}

export function debug(msg: string): void {
  log(Level.Debug, msg);
}
export function info(msg: string): void {
  log(Level.Info, msg);
}
export function warn(msg: string): void {
  log(Level.Warn, msg);
}
export function error(msg: string): void {
  log(Level.Error, msg);
}

// ---- memory: blocks handed to the host live until the call returns

let blocks = new Array<usize>();

/** Whether evhost_handle is running: an evhost_alloc before it is the event's envelope. */
let inCall = false;
/** The event whose bytes evhost_alloc gave the host, until evhost_handle takes it. */
let envelope: Event | null = null;
/** The size evhost_alloc gave envelope. */
let envelopeSize: usize = 0;

/**
 * The evhost_alloc export: size bytes valid until evhost_handle returns.
 * The block for the event's envelope, asked for before evhost_handle, is
 * the tail of the Event itself: one managed object holds the event's
 * fields and its bytes, which the GC frees together once the handler no
 * longer holds the event. Blocks asked for during a call (host function
 * results) are freed when it returns.
 */
export function evhost_alloc(size: usize): usize {
  if (!inCall) {
    const e = changetype<Event>(__new(offsetof<Event>() + size, idof<Event>()));
    envelope = e;
    envelopeSize = size;
    return changetype<usize>(e) + offsetof<Event>();
  }
  const p = heap.alloc(size > 0 ? size : 1);
  blocks.push(p);
  return p;
}

/** The evhost_abi_version export. */
export function evhost_abi_version(): i32 {
  return ABI_VERSION;
}

function freeBlocks(): void {
  const n = blocks.length;
  if (n == 0) return;
  for (let i = 0; i < n; i++) heap.free(unchecked(blocks[i]));
  blocks.length = 0;
}

/** A growable byte buffer outside the GC heap: an envelope being encoded. */
export class Writer {
  ptr: usize;
  len: usize = 0;
  cap: usize;

  constructor(cap: usize) {
    this.cap = cap > 16 ? cap : 16;
    this.ptr = heap.alloc(this.cap);
  }

  reserve(n: usize): void {
    if (this.len + n <= this.cap) return;
    let c = this.cap * 2;
    if (c < this.len + n) c = this.len + n;
    this.ptr = heap.realloc(this.ptr, c);
    this.cap = c;
  }

  byte(v: u8): void {
    this.reserve(1);
    store<u8>(this.ptr + this.len, v);
    this.len += 1;
  }

  bytes(p: usize, n: usize): void {
    this.reserve(n);
    memory.copy(this.ptr + this.len, p, n);
    this.len += n;
  }

  str(s: string): void {
    const n = <usize>String.UTF8.byteLength(s);
    this.reserve(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.ptr + this.len);
    this.len += n;
  }

  /** Appends one attribute: false when the name is not 1 to 255 bytes. */
  attr(name: string, value: string): bool {
    const nl = String.UTF8.byteLength(name);
    if (nl < 1 || nl > 255) return false;
    this.byte(<u8>nl);
    this.str(name);
    const vl = <u32>String.UTF8.byteLength(value);
    this.reserve(4);
    store<u32>(this.ptr + this.len, vl);
    this.len += 4;
    this.str(value);
    return true;
  }

  /** Appends the terminator and the data. */
  data(d: Uint8Array | null): void {
    this.byte(0);
    if (d !== null) this.bytes(d.dataStart, <usize>d.byteLength);
  }

  free(): void {
    heap.free(this.ptr);
  }
}

/** An envelope decoded: attribute names and values, and the data. */
export class Envelope {
  names: string[] = [];
  values: string[] = [];
  data: Uint8Array = new Uint8Array(0);

  /** The first value of the attribute called name, or null. */
  attr(name: string): string | null {
    for (let i = 0; i < this.names.length; i++) if (this.names[i] == name) return this.values[i];
    return null;
  }
}

/** Decodes the envelope at [p, p+n): the envelope, or null when malformed. */
export function decodeEnvelope(p: usize, n: usize): Envelope | null {
  const env = new Envelope();
  let i: usize = 0;
  while (true) {
    if (i >= n) return null; // no terminator
    const nl = <usize>load<u8>(p + i);
    if (nl == 0) break;
    if (n - i - 1 < nl + 4) return null;
    const name = String.UTF8.decodeUnsafe(p + i + 1, nl);
    i += 1 + nl;
    const vl = <usize>load<u32>(p + i);
    i += 4;
    if (vl > n - i) return null;
    env.names.push(name);
    env.values.push(String.UTF8.decodeUnsafe(p + i, vl));
    i += vl;
  }
  const dl = n - i - 1;
  const data = new Uint8Array(<i32>dl);
  memory.copy(data.dataStart, p + i + 1, dl);
  env.data = data;
  return env;
}

// ---- the event

/** The offset of the data in the envelope scanEnvelope last checked. */
let scannedData: usize = 0;

/**
 * Scans the envelope at [p, p+n) without decoding it: the number of
 * attributes, or -1 when malformed (no terminator, a length past the end).
 * It leaves the offset of the data, after the terminator, in scannedData.
 */
function scanEnvelope(p: usize, n: usize): i32 {
  let i: usize = 0;
  let count = 0;
  while (true) {
    if (i >= n) return -1; // no terminator
    const nl = <usize>load<u8>(p + i);
    if (nl == 0) {
      scannedData = i + 1;
      return count;
    }
    if (n - i - 1 < nl + 4) return -1;
    i += 1 + nl;
    const vl = <usize>load<u32>(p + i);
    i += 4;
    if (vl > n - i) return -1;
    i += vl;
    count++;
  }
}

/** Whether the n bytes at p are the UTF-8 encoding of name. */
function nameIs(p: usize, n: usize, name: string): bool {
  const k = name.length;
  if (<usize>k > n) return false; // UTF-8 takes at least a byte per UTF-16 unit
  let ascii = true;
  for (let c = 0; c < k; c++) {
    if (<u32>name.charCodeAt(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    if (<usize>k != n) return false;
    for (let c = 0; c < k; c++) {
      if (<u32>load<u8>(p + <usize>c) != <u32>name.charCodeAt(c)) return false;
    }
    return true;
  }
  const b = String.UTF8.encode(name);
  return <usize>b.byteLength == n && memory.compare(p, changetype<usize>(b), n) == 0;
}

/**
 * The event being handled: its attributes and its data. It holds the
 * envelope's bytes (attributes, terminator, data) and decodes an
 * attribute, or copies the data, only when the handler first reads it. An
 * Event kept past its call stays valid: the bytes are its own.
 */
@final
export class Event {
  /** The address of the envelope's bytes: this object's tail, or owner's. */
  private base: usize;
  /** The envelope's length. */
  private size: i32;
  /** How many attributes the envelope has. */
  private count: i32;
  /** The offset of the data, after the terminator; -1 until known. */
  private start: i32;
  /** The buffer base is in, when the bytes are not this object's tail. */
  private owner: ArrayBuffer | null;
  /** The decoded values, by attribute index, once read. */
  private values: StaticArray<string | null> | null = null;
  private names: string[] | null = null;
  private valueList: string[] | null = null;
  private payload: Uint8Array | null = null;

  /**
   * An event from an envelope already checked by scanEnvelope (count
   * attributes), whose data starts at start (-1: find it).
   */
  constructor(buf: ArrayBuffer, count: i32, start: i32 = -1) {
    this.owner = buf;
    this.base = changetype<usize>(buf);
    this.size = buf.byteLength;
    this.count = count;
    this.start = start;
  }

  get id(): string {
    return this.attrOr("id");
  }
  get source(): string {
    return this.attrOr("source");
  }
  get type(): string {
    return this.attrOr("type");
  }
  get specVersion(): string {
    return this.attrOr("specversion");
  }
  /** The time, in RFC 3339. */
  get time(): string {
    return this.attrOr("time");
  }
  get subject(): string | null {
    return this.attr("subject");
  }
  get dataContentType(): string | null {
    return this.attr("datacontenttype");
  }
  get dataSchema(): string | null {
    return this.attr("dataschema");
  }
  /** Every attribute's name, in order (values in attrValues). */
  get attrNames(): string[] {
    let names = this.names;
    if (names === null) {
      names = new Array<string>(this.count);
      const p = this.base;
      let i: usize = 0;
      for (let a = 0; a < this.count; a++) {
        const nl = <usize>load<u8>(p + i);
        unchecked((names[a] = String.UTF8.decodeUnsafe(p + i + 1, nl)));
        i += 1 + nl;
        i += 4 + <usize>load<u32>(p + i);
      }
      this.names = names;
    }
    return names;
  }
  get attrValues(): string[] {
    let out = this.valueList;
    if (out === null) {
      out = new Array<string>(this.count);
      const p = this.base;
      let i: usize = 0;
      for (let a = 0; a < this.count; a++) {
        i += 1 + <usize>load<u8>(p + i);
        unchecked((out[a] = this.value(a, p + i)));
        i += 4 + <usize>load<u32>(p + i);
      }
      this.valueList = out;
    }
    return out;
  }
  /** The attribute called name (extensions too), or null. */
  attr(name: string): string | null {
    const p = this.base;
    let i: usize = 0;
    for (let a = 0; a < this.count; a++) {
      const nl = <usize>load<u8>(p + i);
      if (nameIs(p + i + 1, nl, name)) return this.value(a, p + i + 1 + nl);
      i += 1 + nl;
      i += 4 + <usize>load<u32>(p + i);
    }
    return null;
  }
  /** The payload (possibly empty): a copy, made on first read (the same array each time). */
  get data(): Uint8Array {
    let d = this.payload;
    if (d === null) {
      const start = this.dataStart();
      const n = this.size - start;
      d = new Uint8Array(n);
      memory.copy(d.dataStart, this.base + <usize>start, <usize>n);
      this.payload = d;
    }
    return d;
  }
  /** The payload as UTF-8 text. */
  dataString(): string {
    return String.UTF8.decodeUnsafe(this.dataPtr, <usize>this.dataLength);
  }
  /**
   * The address of the payload's first byte, read with load<u8>(e.dataPtr
   * + i) for i below dataLength: no copy, no allocation. It stays valid
   * while the handler holds the Event (the bytes are the Event's own), and
   * shows a change made through e.data. Writing through it is undefined.
   */
  get dataPtr(): usize {
    const d = this.payload;
    if (d !== null) return d.dataStart; // as changed through e.data
    return this.base + <usize>this.dataStart();
  }
  /** The payload's length in bytes, for dataPtr. */
  get dataLength(): i32 {
    return this.size - this.dataStart();
  }

  /** The value of attribute a, whose length is at q: decoded on first read. */
  private value(a: i32, q: usize): string {
    let vals = this.values;
    if (vals === null) {
      vals = new StaticArray<string | null>(this.count);
      this.values = vals;
    }
    let v = unchecked(vals[a]);
    if (v === null) {
      v = String.UTF8.decodeUnsafe(q + 4, <usize>load<u32>(q));
      unchecked((vals[a] = v));
    }
    return v;
  }

  /** The offset of the data, after the terminator. */
  private dataStart(): i32 {
    if (this.start >= 0) return this.start;
    const p = this.base;
    let i: usize = 0;
    for (let a = 0; a < this.count; a++) {
      i += 1 + <usize>load<u8>(p + i);
      i += 4 + <usize>load<u32>(p + i);
    }
    this.start = <i32>(i + 1);
    return this.start;
  }

  private attrOr(name: string): string {
    const v = this.attr(name);
    return v !== null ? v : "";
  }
}

/**
 * The body of the evhost_handle export: checks the event at [ptr, ptr+len),
 * runs handler, frees the call's blocks and returns the status.
 */
export function handle(ptr: usize, len: usize, handler: (e: Event) => i32): i32 {
  inCall = true;
  const e = envelope;
  envelope = null;
  const count = scanEnvelope(ptr, len);
  let status: i32;
  if (count < 0) {
    status = reject("evhost: malformed event envelope");
  } else {
    let ev: Event;
    if (e !== null && changetype<usize>(e) + offsetof<Event>() == ptr && envelopeSize == len) {
      // The block evhost_alloc gave: the bytes are already the event's tail.
      const q = changetype<usize>(e);
      store<usize>(q + offsetof<Event>("base"), ptr);
      store<i32>(q + offsetof<Event>("size"), <i32>len);
      store<i32>(q + offsetof<Event>("count"), count);
      store<i32>(q + offsetof<Event>("start"), <i32>scannedData);
      ev = e;
    } else {
      // Not that block: copy it.
      const buf = new ArrayBuffer(<i32>len);
      memory.copy(changetype<usize>(buf), ptr, len);
      ev = new Event(buf, count, <i32>scannedData);
    }
    status = handler(ev);
  }
  freeBlocks();
  inCall = false;
  return status;
}

/**
 * The abort of AssemblyScript's runtime (a failed assertion, a thrown
 * error, an out-of-bounds access), wired in with --use abort=...: logs the
 * message at error, makes it the failure reason, and traps. The host retries
 * the event and discards the instance.
 */
export function evhostAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let msg = "evhost: aborted: " + (message !== null ? message : "");
  if (fileName !== null) msg += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  log(Level.Error, msg);
  fail(msg);
  unreachable();
}

// ---- emit

/**
 * An event to emit. The host fills in source, time, specversion, id (unless
 * given: an id makes the emit idempotent), causationid, correlationid, depth
 * and traceparent. Emits take effect only if the handler returns done.
 */
@final
export class Emit {
  /**
   * The attributes set so far, encoded (ABI section 4): at base, cap bytes
   * long, the object's own tail until they outgrow it, then owner's.
   */
  private base: usize;
  private cap: i32;
  private len: i32;
  /** An attribute name was not 1 to 255 bytes: send returns ERR_MALFORMED. */
  private bad: bool;
  private owner: ArrayBuffer | null;
  private payload: Uint8Array | null;
  /** The data given by dataAt, when payload is null. */
  private rawPtr: usize;
  private rawLen: i32;

  constructor(type: string) {
    // One managed object: the fields, then room for the attributes (the
    // fields start zero: no owner, no payload).
    const cap = 128 + 3 * type.length;
    const self = changetype<Emit>(__new(offsetof<Emit>() + <usize>cap, idof<Emit>()));
    self.base = changetype<usize>(self) + offsetof<Emit>();
    self.cap = cap;
    self.set("type", type);
    return self;
  }

  id(v: string): Emit {
    return this.set("id", v);
  }
  subject(v: string): Emit {
    return this.set("subject", v);
  }
  dataContentType(v: string): Emit {
    return this.set("datacontenttype", v);
  }
  dataSchema(v: string): Emit {
    return this.set("dataschema", v);
  }
  /** An extension attribute (name: lower-case letters and digits). */
  extension(name: string, value: string): Emit {
    return this.set(name, value);
  }
  data(d: Uint8Array): Emit {
    this.payload = d;
    return this;
  }
  dataString(s: string): Emit {
    this.payload = Uint8Array.wrap(String.UTF8.encode(s));
    return this;
  }
  /**
   * The data: the len bytes at ptr, with no array made for them (such as a
   * buffer the handler keeps, or an event's e.dataPtr). They are read when
   * send runs, so they must stay valid and unchanged until then.
   */
  dataAt(ptr: usize, len: i32): Emit {
    this.payload = null;
    this.rawPtr = ptr;
    this.rawLen = len > 0 ? len : 0;
    return this;
  }

  /** Emits it: 0, or the host's negative error code (ERR_LIMIT dead-letters the event). */
  send(): i32 {
    if (this.bad) return ERR_MALFORMED;
    const d = this.payload;
    const src = d !== null ? d.dataStart : this.rawPtr;
    const dn = d !== null ? d.byteLength : this.rawLen;
    this.reserve(1 + dn);
    const p = this.base + <usize>this.len;
    store<u8>(p, 0);
    if (dn > 0) memory.copy(p + 1, src, <usize>dn);
    return hostEmit(this.base, <usize>(this.len + 1 + dn));
  }

  private set(name: string, value: string): Emit {
    // One pass over each string: room for the longest encoding (3 bytes a
    // UTF-16 unit), then the lengths the encoder wrote.
    this.reserve(5 + 3 * (name.length + value.length));
    const p = this.base + <usize>this.len;
    const nl = String.UTF8.encodeUnsafe(changetype<usize>(name), name.length, p + 1);
    if (nl < 1 || nl > 255) {
      this.bad = true;
      return this;
    }
    store<u8>(p, <u8>nl);
    const vl = String.UTF8.encodeUnsafe(changetype<usize>(value), value.length, p + 5 + nl);
    store<u32>(p + 1 + nl, <u32>vl);
    this.len += 5 + <i32>nl + <i32>vl;
    return this;
  }

  /** Makes room for n more bytes. */
  private reserve(n: i32): void {
    const cap = this.cap;
    if (this.len + n <= cap) return;
    let c = cap * 2;
    if (c < this.len + n) c = this.len + n;
    const nb = changetype<ArrayBuffer>(__new(<usize>c, idof<ArrayBuffer>()));
    memory.copy(changetype<usize>(nb), this.base, <usize>this.len);
    this.owner = nb;
    this.base = changetype<usize>(nb);
    this.cap = c;
  }
}

/** Emits an event of the given type with data and no other attribute. */
export function emit(type: string, data: Uint8Array | null = null): i32 {
  const e = new Emit(type);
  if (data !== null) e.data(data);
  return e.send();
}

// ---- results of host functions

/** A value, or the host's negative error code. */
export class Result<T> {
  constructor(public value: T, public code: i32) {}
  get ok(): bool {
    return this.code == 0;
  }
}

/** Reads an i64 result: the block's bytes, or null with *code set. */
let lastCode: i32 = 0;
function block(r: i64): Uint8Array | null {
  if (r < 0) {
    lastCode = <i32>r;
    return null;
  }
  lastCode = 0;
  const n = <i32>(r & 0xffffffff);
  const out = new Uint8Array(n);
  if (n > 0) memory.copy(out.dataStart, <usize>(<u64>r >>> 32), <usize>n);
  return out;
}

function withKey(key: string): Writer {
  const w = new Writer(<usize>String.UTF8.byteLength(key));
  w.str(key);
  return w;
}

// ---- config

/** The plugin's config value for key (a TOML string as its text, anything else as JSON), or null. */
export function config(key: string): string | null {
  const k = withKey(key);
  const v = block(hostConfigGet(k.ptr, k.len));
  k.free();
  return v !== null ? String.UTF8.decodeUnsafe(v.dataStart, <usize>v.byteLength) : null;
}

// ---- KV

/** Reads key from the plugin's KV space: the value, or code ERR_NOT_FOUND / another error. */
export function kvGet(key: string): Result<Uint8Array> {
  const k = withKey(key);
  const v = block(hostKVGet(k.ptr, k.len));
  k.free();
  return new Result<Uint8Array>(v !== null ? v : new Uint8Array(0), lastCode);
}

/** Reads key as UTF-8 text. */
export function kvGetString(key: string): Result<string> {
  const r = kvGet(key);
  return new Result<string>(String.UTF8.decodeUnsafe(r.value.dataStart, <usize>r.value.byteLength), r.code);
}

/** Writes key (last writer wins): 0 or an error code. */
export function kvSet(key: string, value: Uint8Array): i32 {
  const k = withKey(key);
  const rc = hostKVSet(k.ptr, k.len, value.dataStart, <usize>value.byteLength);
  k.free();
  return rc;
}

/** Writes key as UTF-8 text. */
export function kvSetString(key: string, value: string): i32 {
  return kvSet(key, Uint8Array.wrap(String.UTF8.encode(value)));
}

/** Deletes key (deleting a missing key is 0). */
export function kvDelete(key: string): i32 {
  const k = withKey(key);
  const rc = hostKVDelete(k.ptr, k.len);
  k.free();
  return rc;
}

// ---- HTTP

/** An outbound HTTP request, to a host on the plugin's allowed_hosts. */
export class HttpRequest {
  headerNames: string[] = [];
  headerValues: string[] = [];
  body: Uint8Array = new Uint8Array(0);

  constructor(public method: string, public url: string) {}

  header(name: string, value: string): HttpRequest {
    this.headerNames.push(name.toLowerCase());
    this.headerValues.push(value);
    return this;
  }

  withBody(b: Uint8Array): HttpRequest {
    this.body = b;
    return this;
  }

  withBodyString(s: string): HttpRequest {
    this.body = Uint8Array.wrap(String.UTF8.encode(s));
    return this;
  }

  /** Sends it: the response, or code ERR_NOT_PERMITTED (not allowed), ERR_LIMIT, ERR_TRANSIENT, ... */
  send(): Result<HttpResponse | null> {
    const w = new Writer(128 + <usize>this.body.byteLength);
    let ok = w.attr("method", this.method.length > 0 ? this.method : "GET") && w.attr("url", this.url);
    for (let i = 0; i < this.headerNames.length; i++) ok = ok && w.attr("header." + this.headerNames[i], this.headerValues[i]);
    if (!ok) {
      w.free();
      return new Result<HttpResponse | null>(null, ERR_MALFORMED);
    }
    w.data(this.body);
    const raw = block(hostHTTPRequest(w.ptr, w.len));
    w.free();
    if (raw === null) return new Result<HttpResponse | null>(null, lastCode);
    const env = decodeEnvelope(raw.dataStart, <usize>raw.byteLength);
    if (env === null) return new Result<HttpResponse | null>(null, ERR_MALFORMED);
    const resp = new HttpResponse();
    for (let i = 0; i < env.names.length; i++) {
      const n = env.names[i];
      if (n == "status") resp.status = I32.parseInt(env.values[i]);
      else if (n.startsWith("header.")) {
        resp.headerNames.push(n.substring(7).toLowerCase());
        resp.headerValues.push(env.values[i]);
      }
    }
    resp.body = env.data;
    return new Result<HttpResponse | null>(resp, 0);
  }
}

/** The answer to an HttpRequest. HTTP error statuses are ordinary responses. */
export class HttpResponse {
  status: i32 = 0;
  headerNames: string[] = [];
  headerValues: string[] = [];
  body: Uint8Array = new Uint8Array(0);

  /** The first value of the header called name (any case), or null. */
  header(name: string): string | null {
    const n = name.toLowerCase();
    for (let i = 0; i < this.headerNames.length; i++) if (this.headerNames[i] == n) return this.headerValues[i];
    return null;
  }

  bodyString(): string {
    return String.UTF8.decodeUnsafe(this.body.dataStart, <usize>this.body.byteLength);
  }
}
