;; emitflood.wat: evhost_handle emits {type: flood.out} (no data) in a loop,
;; ignoring every error, until an emit returns -4 (limit exceeded); then it
;; returns 0 (hostile guest). The exported global "emitted" counts the emits
;; that returned 0 in the current call.
;; Expect: loads; with an emit cap of K, exactly K emits succeed, the next gets
;; -4, and the event is dead-lettered (no retry) with the emit-cap reason even
;; though the handler returned 0; none of its emits is published. Were emit to
;; return another error for ever, the call would end at its timeout.
(module
  (import "evhost" "emit" (func $emit (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $emitted (export "emitted") (mut i32) (i32.const 0))
  ;; {type: flood.out}, no data: 19 bytes
  (data (i32.const 16) "\04type\09\00\00\00flood.out\00")
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
    (global.set $emitted (i32.const 0))
    (block $capped
      (loop $more
        (local.set $r (call $emit (i32.const 16) (i32.const 19)))
        (br_if $capped (i32.eq (local.get $r) (i32.const -4)))
        (if (i32.eqz (local.get $r))
          (then (global.set $emitted (i32.add (global.get $emitted) (i32.const 1)))))
        (br $more)))
    (global.set $heap (i32.const 4096))
    (i32.const 0))
)
