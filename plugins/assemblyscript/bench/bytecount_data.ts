// The byte-count handler of evhost's kit benchmarks (host/wasm's
// BenchmarkKits): it counts the event data's nonzero bytes, one by one,
// into a global, and emits nothing. It reads e.data, the copy of the data
// (bytecount.ts reads it in place).
import { Event, done, handle } from "../assembly/index";
export { evhost_abi_version, evhost_alloc } from "../assembly/index";

let total: i32 = 0;

export function evhost_handle(ptr: usize, len: usize): i32 {
  return handle(ptr, len, onEvent);
}

function onEvent(e: Event): i32 {
  const d = e.data;
  let n = 0;
  for (let i = 0; i < d.length; i++) {
    if (unchecked(d[i]) != 0) n++;
  }
  total += n;
  return done();
}
