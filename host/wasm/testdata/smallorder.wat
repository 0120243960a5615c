;; smallorder.wat: the small handler of BenchmarkKits written by hand, the
;; reference for the kits: it reads the fields id (a number) and product_id
;; (a string without escapes) of the event's JSON data and emits
;; order.seen, application/json, {"id":<id>,"product":"<product_id>"}. Like
;; the C, Rust and AssemblyScript ones it scans for the two keys.
(module
  (import "evhost" "emit" (func $emit (param i32 i32) (result i32)))
  (import "evhost" "fail" (func $fail (param i32 i32)))
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
  ;; the output envelope's attributes: type and datacontenttype, 55 bytes
  (data (i32.const 16) "\04type\0a\00\00\00order.seen\0fdatacontenttype\10\00\00\00application/json")
  (data (i32.const 80) "{\"id\":")
  (data (i32.const 96) ",\"product\":")
  (data (i32.const 112) "id")
  (data (i32.const 128) "product_id")
  (data (i32.const 144) "bad order")
  ;; $find returns the address just after "key": in [p, end), or 0.
  (func $find (param $p i32) (param $end i32) (param $key i32) (param $k i32) (result i32)
    (local $j i32)
    (block $none
      (loop $scan
        (br_if $none (i32.gt_u (i32.add (local.get $p) (i32.add (local.get $k) (i32.const 3))) (local.get $end)))
        (if (i32.and
              (i32.and (i32.eq (i32.load8_u (local.get $p)) (i32.const 34))
                       (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $k) (i32.const 1)))) (i32.const 34)))
              (call $eq (i32.add (local.get $p) (i32.const 1)) (local.get $key) (local.get $k)))
          (then
            (local.set $j (i32.add (local.get $p) (i32.add (local.get $k) (i32.const 2))))
            (block $ws
              (loop $skip
                (br_if $ws (i32.ge_u (local.get $j) (local.get $end)))
                (br_if $ws (i32.and (i32.ne (i32.load8_u (local.get $j)) (i32.const 32))
                                    (i32.ne (i32.load8_u (local.get $j)) (i32.const 58))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $skip)))
            (return (local.get $j))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i32.const 0))
  (func $eq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $diff
      (loop $cmp
        (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
        (br_if $diff (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $cmp)))
    (i32.const 0))
  (func (export "evhost_handle") (param $ptr i32) (param $len i32) (result i32)
    (local $r i32)
    (local.set $r (call $handle (local.get $ptr) (local.get $len)))
    (global.set $heap (i32.const 4096))
    (local.get $r))
  (func $handle (param $ptr i32) (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $i i32) (local $j i32) (local $ie i32) (local $je i32)
    (local $buf i32) (local $d i32) (local $dn i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $p (call $data (local.get $ptr) (local.get $end)))
    (if (i32.eqz (local.get $p)) (then (return (i32.const 2))))
    (local.set $i (call $find (local.get $p) (local.get $end) (i32.const 112) (i32.const 2)))
    (local.set $j (call $find (local.get $p) (local.get $end) (i32.const 128) (i32.const 10)))
    (if (i32.or (i32.or (i32.eqz (local.get $i)) (i32.eqz (local.get $j)))
                (i32.or (i32.ge_u (local.get $j) (local.get $end)) (i32.ne (i32.load8_u (local.get $j)) (i32.const 34))))
      (then
        (call $fail (i32.const 144) (i32.const 9))
        (return (i32.const 2))))
    (local.set $ie (local.get $i))
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_u (local.get $ie) (local.get $end)))
      (br_if $e1 (i32.gt_u (i32.sub (i32.load8_u (local.get $ie)) (i32.const 48)) (i32.const 9)))
      (local.set $ie (i32.add (local.get $ie) (i32.const 1)))
      (br $l1)))
    (local.set $je (i32.add (local.get $j) (i32.const 1)))
    (block $e2 (loop $l2
      (br_if $e2 (i32.ge_u (local.get $je) (local.get $end)))
      (br_if $e2 (i32.eq (i32.load8_u (local.get $je)) (i32.const 34)))
      (local.set $je (i32.add (local.get $je) (i32.const 1)))
      (br $l2)))
    (if (i32.ge_u (local.get $je) (local.get $end)) (then (local.set $je (i32.sub (local.get $end) (i32.const 1)))))
    ;; envelope: 55 bytes of attributes, 0x00, then the data
    (local.set $dn (i32.add (i32.add (i32.const 18) (i32.sub (local.get $ie) (local.get $i)))
                            (i32.sub (i32.add (local.get $je) (i32.const 1)) (local.get $j))))
    (local.set $buf (call $alloc (i32.add (i32.const 56) (local.get $dn))))
    (if (i32.eqz (local.get $buf)) (then (return (i32.const 1))))
    (memory.copy (local.get $buf) (i32.const 16) (i32.const 55))
    (i32.store8 (i32.add (local.get $buf) (i32.const 55)) (i32.const 0))
    (local.set $d (i32.add (local.get $buf) (i32.const 56)))
    (memory.copy (local.get $d) (i32.const 80) (i32.const 6))
    (local.set $d (i32.add (local.get $d) (i32.const 6)))
    (memory.copy (local.get $d) (local.get $i) (i32.sub (local.get $ie) (local.get $i)))
    (local.set $d (i32.add (local.get $d) (i32.sub (local.get $ie) (local.get $i))))
    (memory.copy (local.get $d) (i32.const 96) (i32.const 11))
    (local.set $d (i32.add (local.get $d) (i32.const 11)))
    (memory.copy (local.get $d) (local.get $j) (i32.sub (i32.add (local.get $je) (i32.const 1)) (local.get $j)))
    (local.set $d (i32.add (local.get $d) (i32.sub (i32.add (local.get $je) (i32.const 1)) (local.get $j))))
    (i32.store8 (local.get $d) (i32.const 125))
    (if (result i32) (i32.eqz (call $emit (local.get $buf) (i32.add (i32.const 56) (local.get $dn))))
      (then (i32.const 0))
      (else (i32.const 1))))
)
