;; bytecount.wat: the byte-count handler of BenchmarkKits written by hand,
;; the reference for the kits: it counts the event data's nonzero bytes,
;; one by one, into a global, and emits nothing.
(module
  (memory (export "memory") 1)
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  ;; Bump allocator (ABI v1 section 2), reset when evhost_handle returns.
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
  ;; $data skips the envelope's attributes (ABI section 4) and returns the
  ;; address of its data, after the 0x00 terminator, or 0 when malformed.
  (func $data (param $ptr i32) (param $end i32) (result i32)
    (local $p i32) (local $b i32) (local $vn i32)
    (local.set $p (local.get $ptr))
    (block $found
      (loop $attrs
        (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
        (local.set $b (i32.load8_u (local.get $p)))
        (br_if $found (i32.eqz (local.get $b)))
        (local.set $p (i32.add (local.get $p) (i32.add (i32.const 1) (local.get $b))))
        (if (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
          (then (return (i32.const 0))))
        (local.set $vn (i32.load align=1 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (if (i32.gt_u (local.get $vn) (i32.sub (local.get $end) (local.get $p)))
          (then (return (i32.const 0))))
        (local.set $p (i32.add (local.get $p) (local.get $vn)))
        (br $attrs)))
    (i32.add (local.get $p) (i32.const 1)))
  (global $total (export "total") (mut i32) (i32.const 0))
  (func (export "evhost_handle") (param $ptr i32) (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $n i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $p (call $data (local.get $ptr) (local.get $end)))
    (global.set $heap (i32.const 4096))
    (if (i32.eqz (local.get $p)) (then (return (i32.const 2))))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.load8_u (local.get $p))
          (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $bytes)))
    (global.set $total (i32.add (global.get $total) (local.get $n)))
    (i32.const 0))
)
