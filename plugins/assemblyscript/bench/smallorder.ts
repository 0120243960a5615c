// The small handler of evhost's kit benchmarks (host/wasm's
// BenchmarkKits): it reads the fields id (a number) and product_id (a
// string without escapes) of the event's JSON data and emits one event
// with them. Like the C one, it scans for the two keys rather than parsing
// the whole document: a lower bound for the same logic.
import { Event, Emit, done, reject, retry, handle } from "../assembly/index";
export { evhost_abi_version, evhost_alloc } from "../assembly/index";

export function evhost_handle(ptr: usize, len: usize): i32 {
  return handle(ptr, len, onEvent);
}

// find returns the offset just after "key": in p, or -1.
function find(p: Uint8Array, key: string): i32 {
  const k = key.length;
  for (let i = 0; i + k + 3 <= p.length; i++) {
    if (p[i] != 0x22) continue;
    let ok = true;
    for (let c = 0; c < k; c++) {
      if (p[i + 1 + c] != <u8>key.charCodeAt(c)) { ok = false; break; }
    }
    if (!ok || p[i + 1 + k] != 0x22) continue;
    let j = i + 2 + k;
    while (j < p.length && (p[j] == 0x20 || p[j] == 0x3a)) j++;
    return j;
  }
  return -1;
}

function onEvent(e: Event): i32 {
  const p = e.data;
  const i = find(p, "id"), j = find(p, "product_id");
  if (i < 0 || j < 0 || j >= p.length || p[j] != 0x22) return reject("bad order");
  let ie = i;
  while (ie < p.length && p[ie] >= 0x30 && p[ie] <= 0x39) ie++;
  let je = j + 1;
  while (je < p.length && p[je] != 0x22) je++;
  if (je >= p.length) je = p.length - 1;
  const head = String.UTF8.encode("{\"id\":");
  const mid = String.UTF8.encode(",\"product\":");
  const n = 6 + (ie - i) + 11 + (je + 1 - j) + 1;
  const out = new Uint8Array(n);
  out.set(Uint8Array.wrap(head), 0);
  out.set(p.subarray(i, ie), 6);
  out.set(Uint8Array.wrap(mid), 6 + (ie - i));
  out.set(p.subarray(j, je + 1), 17 + (ie - i));
  out[n - 1] = 0x7d;
  const rc = new Emit("order.seen").dataContentType("application/json").data(out).send();
  return rc == 0 ? done() : retry("emit failed");
}
