// The byte-count handler of evhost's kit benchmarks (host/wasm's
// BenchmarkKits): it counts the event data's nonzero bytes, one by one,
// into a global, and emits nothing. It reads the data in place through
// e.dataPtr and e.dataLength (bench/bytecount_data.ts reads e.data, a copy).
import { Event, done, handle } from "../assembly/index";
export { evhost_abi_version, evhost_alloc } from "../assembly/index";

let total: i32 = 0;

export function evhost_handle(ptr: usize, len: usize): i32 {
  return handle(ptr, len, onEvent);
}

function onEvent(e: Event): i32 {
  const p = e.dataPtr;
  const n = e.dataLength;
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (load<u8>(p + <usize>i) != 0) c++;
  }
  total += c;
  return done();
}
