;; badsig.wat: a valid reactor that imports evhost.log with the wrong
;; signature (i32 i32) -> () instead of (i32 i32 i32) -> ().
;; Expect: refused at load time with an error that names evhost.log (and
;; ideally both signatures), not a failure at the first instantiation.
(module
  (import "evhost" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
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
    (global.set $heap (i32.const 4096))
    (i32.const 0))
)
