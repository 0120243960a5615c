// A handler for the kit's own tests (handler.test.js): it reports what the
// kit's Event and Emit give, on the paths the conformance handler does not
// take (an event kept past its call, every attribute, odd names, an emit's
// buffer growing, a bad name, a send repeated).
import { Event, Emit, done, retry, handle, ERR_MALFORMED } from "../assembly/index";
export { evhost_abi_version, evhost_alloc } from "../assembly/index";

export function evhost_handle(ptr: usize, len: usize): i32 {
  return handle(ptr, len, onEvent);
}

/** The event of the previous call, kept past it. */
let kept: Event | null = null;

function onEvent(e: Event): i32 {
  const t = e.type;
  if (t == "keep") {
    // Reads the previous event, which the kit must still hold, then keeps
    // this one without reading anything else of it.
    const prev = kept;
    kept = e;
    if (prev === null) return done();
    return new Emit("kept")
      .extension("previd", prev.id)
      .extension("prevsubject", prev.subject !== null ? prev.subject! : "null")
      .extension("prevtenant", prev.attr("tenant") !== null ? prev.attr("tenant")! : "null")
      .extension("prevtime", prev.time)
      .extension("previnplace", String.UTF8.decodeUnsafe(prev.dataPtr, <usize>prev.dataLength))
      .data(prev.data)
      .send() == 0 ? done() : retry("emit failed");
  }
  if (t == "attrs") {
    const names = e.attrNames, values = e.attrValues;
    let s = names.length.toString() + "/" + values.length.toString();
    for (let i = 0; i < names.length; i++) s += ";" + names[i] + "=" + values[i];
    const accented = e.attr("ünï");
    const again = e.id == e.id && e.attrNames === names && e.data === e.data;
    e.data[0] = 0x48; // dataString reads the data as changed through e.data
    return new Emit("attrs.out")
      .extension("missing", e.attr("nosuch") === null && e.dataSchema === null ? "null" : "set")
      .extension("accented", accented !== null ? accented : "null")
      .extension("again", again ? "yes" : "no")
      .extension("text", e.dataString())
      .dataString(s)
      .send() == 0 ? done() : retry("emit failed");
  }
  if (t == "inplace") {
    // The data read in place, then through e.data after a change to it.
    const p = e.dataPtr, n = e.dataLength;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += load<u8>(p + <usize>i);
    const first = String.UTF8.decodeUnsafe(p, <usize>n);
    if (n > 0) e.data[0] = 0x4a;
    return new Emit("inplace.out")
      .extension("sum", sum.toString())
      .extension("length", n.toString())
      .extension("first", first)
      .extension("after", String.UTF8.decodeUnsafe(e.dataPtr, <usize>e.dataLength))
      .dataString("replaced by dataAt")
      .dataAt(e.dataPtr, e.dataLength)
      .send() == 0 ? done() : retry("emit failed");
  }
  if (t == "emit.edges") {
    const bad = new Emit("never").extension("", "v").dataString("x").send();
    const long = "v".repeat(300);
    const big = new Emit("big.out").extension("long", long).subject("s/é").data(e.data);
    const a = big.send(), b = big.send();
    return new Emit("edges.out")
      .extension("bad", bad == ERR_MALFORMED ? "malformed" : bad.toString())
      .extension("sends", a.toString() + "," + b.toString())
      .send() == 0 ? done() : retry("emit failed");
  }
  return done();
}
