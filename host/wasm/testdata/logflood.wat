;; logflood.wat: evhost_handle logs 100000 lines of 1 KiB ("xxx...", level 1),
;; about 100 MB, then returns 0 (hostile guest).
;; Expect: loads; status 0 (unless the call's timeout is shorter than the
;; host needs to drop the lines); the log cap keeps only the allowed volume,
;; lines past it are dropped and counted (100000 - kept); host memory does not
;; grow with the flood.
(module
  (import "evhost" "log" (func $log (param i32 i32 i32)))
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
    (local $i i32)
    (memory.fill (i32.const 1024) (i32.const 0x78) (i32.const 1024))
    (loop $more
      (call $log (i32.const 1) (i32.const 1024) (i32.const 1024))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 100000))))
    (global.set $heap (i32.const 4096))
    (i32.const 0))
)
