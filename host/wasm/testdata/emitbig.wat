;; emitbig.wat: evhost_handle emits {type: big.out} with 4 MiB - 64 bytes of
;; data (the rest of its 4 MiB memory, zeros), up to 20 times, until an emit
;; returns -4 (limit exceeded); then it returns 0 (hostile guest: 20 emits
;; would hold 80 MiB of host memory until the call ends). The exported
;; global "emitted" counts the emits that returned 0 in the current call.
;; Expect: loads; with the default emit bytes cap (4 MiB) the first emit
;; succeeds and the second gets -4; the event is dead-lettered (no retry)
;; with the emit bytes reason although the handler returned 0; nothing is
;; published.
(module
  (import "evhost" "emit" (func $emit (param i32 i32) (result i32)))
  (memory (export "memory") 64)
  (global $emitted (export "emitted") (mut i32) (i32.const 0))
  ;; {type: big.out}, then data up to the end of memory
  (data (i32.const 64) "\04type\07\00\00\00big.out\00")
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  ;; The event's block sits just below the end of memory (the host never
  ;; writes past it); this toy accepts events up to 60 KiB.
  (func (export "evhost_alloc") (param $n i32) (result i32)
    (select (i32.const 0x3f0000) (i32.const 0) (i32.le_u (local.get $n) (i32.const 61440))))
  (func (export "evhost_handle") (param $ptr i32) (param $len i32) (result i32)
    (local $r i32) (local $i i32)
    (global.set $emitted (i32.const 0))
    (block $done
      (loop $more
        (br_if $done (i32.ge_u (local.get $i) (i32.const 20)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $r (call $emit (i32.const 64) (i32.const 0x3fffc0)))
        (br_if $done (i32.eq (local.get $r) (i32.const -4)))
        (if (i32.eqz (local.get $r))
          (then (global.set $emitted (i32.add (global.get $emitted) (i32.const 1)))))
        (br $more)))
    (i32.const 0))
)
