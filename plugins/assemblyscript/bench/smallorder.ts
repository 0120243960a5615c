// The small handler of evhost's kit benchmarks (host/wasm's
// BenchmarkKits): it reads the fields id (a number) and product_id (a
// string without escapes) of the event's JSON data and emits one event
// with them. Like the C one, it scans for the two keys rather than parsing
// the whole document: a lower bound for the same logic. It reads the data
// in place through e.dataPtr and e.dataLength.
import { Event, Emit, done, reject, retry, handle } from "../assembly/index";
export { evhost_abi_version, evhost_alloc } from "../assembly/index";

export function evhost_handle(ptr: usize, len: usize): i32 {
  return handle(ptr, len, onEvent);
}

const HEAD = String.UTF8.encode('{"id":');
const MID = String.UTF8.encode(',"product":');
/** The emitted data is built here, and sent with Emit.dataAt. */
let scratch = new Uint8Array(256);

// find returns the offset just after "key": in the n bytes at p, or -1.
function find(p: usize, n: i32, key: string): i32 {
  const k = key.length;
  for (let i = 0; i + k + 3 <= n; i++) {
    if (load<u8>(p + <usize>i) != 0x22) continue;
    let ok = true;
    for (let c = 0; c < k; c++) {
      if (<u32>load<u8>(p + <usize>(i + 1 + c)) != <u32>key.charCodeAt(c)) {
        ok = false;
        break;
      }
    }
    if (!ok || load<u8>(p + <usize>(i + 1 + k)) != 0x22) continue;
    let j = i + 2 + k;
    while (j < n && (load<u8>(p + <usize>j) == 0x20 || load<u8>(p + <usize>j) == 0x3a)) j++;
    return j;
  }
  return -1;
}

function onEvent(e: Event): i32 {
  const p = e.dataPtr;
  const n = e.dataLength;
  const i = find(p, n, "id"), j = find(p, n, "product_id");
  if (i < 0 || j < 0 || j >= n || load<u8>(p + <usize>j) != 0x22) return reject("bad order");
  let ie = i;
  while (ie < n && load<u8>(p + <usize>ie) >= 0x30 && load<u8>(p + <usize>ie) <= 0x39) ie++;
  let je = j + 1;
  while (je < n && load<u8>(p + <usize>je) != 0x22) je++;
  if (je >= n) je = n - 1;
  const h = HEAD.byteLength, m = MID.byteLength;
  const size = h + (ie - i) + m + (je + 1 - j) + 1;
  if (size > scratch.length) scratch = new Uint8Array(size);
  let o = scratch.dataStart;
  memory.copy(o, changetype<usize>(HEAD), h);
  o += h;
  memory.copy(o, p + <usize>i, ie - i);
  o += ie - i;
  memory.copy(o, changetype<usize>(MID), m);
  o += m;
  memory.copy(o, p + <usize>j, je + 1 - j);
  o += je + 1 - j;
  store<u8>(o, 0x7d);
  const rc = new Emit("order.seen").dataContentType("application/json").dataAt(scratch.dataStart, size).send();
  return rc == 0 ? done() : retry("emit failed");
}
