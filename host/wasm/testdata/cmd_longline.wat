;; cmd_longline.wat: a command module (WASI _start) that writes one emitted
;; event to stdout as a JSON line of 20,072 bytes and its newline in 7 pieces, as C stdio
;; writes a long line: the opening up to "data":", then 20,000 bytes of
;; 'a' in 5 writes of 4,000, then "} and the newline. It ignores stdin and
;; exits 0.
;; Expect: status 0 and one emit of type cmd.out whose data is the JSON string of 20,000 'a'
;; (the line is split at its newline only, not every 16 KiB); with an emit
;; bytes cap below the line's length, the call is dead-lettered with a
;; reason naming the line cap.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; 70 bytes
  (data (i32.const 256) "{\"specversion\":\"1.0\",\"type\":\"cmd.out\",\"source\":\"/t\",\"id\":\"c1\",\"data\":\"")
  ;; 3 bytes
  (data (i32.const 512) "\"}\n")
  ;; write writes [ptr, ptr+len) to stdout with one fd_write.
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 32) (local.get $ptr))
    (i32.store (i32.const 36) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 64))))
  (func (export "_start")
    (local $i i32)
    (memory.fill (i32.const 65536) (i32.const 0x61) (i32.const 20000))
    (call $write (i32.const 256) (i32.const 70))
    (loop $more
      (call $write (i32.add (i32.const 65536) (i32.mul (local.get $i) (i32.const 4000))) (i32.const 4000))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 5))))
    (call $write (i32.const 512) (i32.const 3)))
)
