;; sleep.wat: evhost_handle sleeps 10 s inside the host, with WASI
;; poll_oneoff and one relative clock subscription (monotonic clock, timeout
;; 10^10 ns) (hostile guest: guest code waiting in a host function).
;; Expect: loads (imports only wasi_snapshot_preview1.poll_oneoff); a call with
;; a timeout below 10 s ends at that timeout, not after 10 s, and fails with
;; status-1 semantics. Were the sleep to complete, the status would be 0 (or 1
;; if poll_oneoff returned an errno).
;;
;; Layout: subscription at 1024 (48 bytes: userdata u64 @0, tag u8 @8 = 0
;; clock, clock id u32 @16 = 1 monotonic, timeout u64 @24, precision u64 @32,
;; flags u16 @40 = 0 relative); event out at 1088 (32 bytes); nevents at 1120.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
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
    (local $errno i32)
    (memory.fill (i32.const 1024) (i32.const 0) (i32.const 48))
    (i32.store8 (i32.const 1032) (i32.const 0))
    (i32.store (i32.const 1040) (i32.const 1))
    (i64.store (i32.const 1048) (i64.const 10000000000))
    (i64.store (i32.const 1056) (i64.const 0))
    (i32.store16 (i32.const 1064) (i32.const 0))
    (local.set $errno
      (call $poll_oneoff (i32.const 1024) (i32.const 1088) (i32.const 1) (i32.const 1120)))
    (global.set $heap (i32.const 4096))
    (i32.ne (local.get $errno) (i32.const 0)))
)
