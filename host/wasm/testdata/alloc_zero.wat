;; alloc_zero.wat: a reactor whose evhost_alloc works for the event's block
;; (outside evhost_handle) but returns 0 when the host asks during
;; evhost_handle. evhost_handle calls config_get("greeting"): with a non-empty
;; value the host must place the result, gets 0, and that is a guest fault
;; (ABI section 2).
;; Expect, with config greeting = "hello": the call traps (status-1
;; semantics), the instance is discarded, the host carries on. Status 3 means
;; the host carried on without faulting the call. Without the key (-1) or
;; with an empty value (no evhost_alloc call), status 0.
(module
  (import "evhost" "config_get" (func $config_get (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "greeting")
  (global $in_handle (mut i32) (i32.const 0))
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  ;; Bump allocator (ABI v1 section 2): 8-byte aligned blocks from $heap up,
  ;; growing memory when needed, 0 when it cannot. evhost_handle resets $heap
  ;; when it returns (not on entry: the event's block, allocated before the
  ;; call, must stay valid during it).
  (global $heap (mut i32) (i32.const 4096))
  (func $alloc (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (if (i32.gt_u (local.get $n) (i32.const 0x7fff0000))
      (then (return (i32.const 0))))
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u
                (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 0xffff))
                (i32.const 16)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "evhost_alloc") (param $n i32) (result i32)
    (if (global.get $in_handle) (then (return (i32.const 0))))
    (call $alloc (local.get $n)))
  (func (export "evhost_handle") (param $ptr i32) (param $len i32) (result i32)
    (local $r i64)
    (global.set $in_handle (i32.const 1))
    (local.set $r (call $config_get (i32.const 16) (i32.const 8)))
    (global.set $in_handle (i32.const 0))
    (global.set $heap (i32.const 4096))
    (if (result i32) (i64.le_s (local.get $r) (i64.const 0))
      (then (i32.const 0))
      (else (i32.const 3))))
)
