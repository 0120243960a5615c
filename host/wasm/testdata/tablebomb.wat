;; tablebomb.wat: evhost_handle grows its funcref table, declared without a
;; maximum, by 8 Mi elements (64 MiB of host memory at 8 bytes an element)
;; on every call (hostile guest). When table.grow returns -1 it returns 0;
;; when the table grew it calls fail("table grew") and returns 1, so the
;; instance is kept and the next call grows the same table again.
;; Expect: loads with any memory limit; table.grow returns -1 (the table is
;; capped by the memory limit), every call is done, and the host's memory
;; does not grow from call to call. Without a cap each call adds 64 MiB.
(module
  (import "evhost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (data (i32.const 16) "table grew")
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  ;; Bump allocator (ABI v1 section 2): 8-byte aligned blocks from $heap up,
  ;; growing memory when needed, 0 when it cannot. evhost_handle resets $heap
  ;; when it returns (not on entry: the event's block, allocated before the
  ;; call, must stay valid during it).
  (global $heap (mut i32) (i32.const 4096))
  (func $alloc (export "evhost_alloc") (param $n i32) (result i32)
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
  (func (export "evhost_handle") (param $ptr i32) (param $len i32) (result i32)
    (local $r i32)
    (local.set $r (table.grow $t (ref.null func) (i32.const 0x800000)))
    (global.set $heap (i32.const 4096))
    (if (i32.eq (local.get $r) (i32.const -1))
      (then (return (i32.const 0))))
    (call $fail (i32.const 16) (i32.const 10))
    (i32.const 1))
)
