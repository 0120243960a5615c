// An example evhost handler written with the AssemblyScript kit.
//
// On order.placed it counts the orders it has seen in the KV store, reads
// the region from its config, logs a line and emits order.counted with
// subject orders/<count>, content type application/json, extension region
// and data {"count":<count>,"order":<the order's data>}. An order with no
// data is rejected (dead-lettered, no retry); a KV store that fails asks for
// a retry. Other event types are logged at debug and ignored.
import { Event, Emit, done, reject, retry, config, debug, info, kvGetString, kvSetString, handle, ERR_NOT_FOUND } from "../assembly/index";
export { evhost_abi_version, evhost_alloc } from "../assembly/index";

export function evhost_handle(ptr: usize, len: usize): i32 {
  return handle(ptr, len, onEvent);
}

function onEvent(e: Event): i32 {
  if (e.type != "order.placed") {
    debug("ignoring " + e.type);
    return done();
  }
  if (e.data.length == 0) return reject("order.placed without data");

  const cur = kvGetString("orders");
  if (!cur.ok && cur.code != ERR_NOT_FOUND) return retry("kv_get failed");
  const count = (cur.ok ? I64.parseInt(cur.value) : 0) + 1;
  if (kvSetString("orders", count.toString()) != 0) return retry("kv_set failed");

  const r = config("region");
  const region = r !== null ? r : "unknown";
  info("order " + e.id + " is number " + count.toString());

  const rc = new Emit("order.counted")
    .subject("orders/" + count.toString())
    .dataContentType("application/json")
    .extension("region", region)
    .dataString('{"count":' + count.toString() + ',"order":' + e.dataString() + "}")
    .send();
  return rc == 0 ? done() : reject("emit failed: " + rc.toString());
}
