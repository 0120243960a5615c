;; echo.wat: one reactor module that exercises every core import (log, emit,
;; fail, config_get), every status and every error code, for the ABI v1
;; conformance tests. Valid ABI v1; exports _initialize.
;;
;; The module parses the event envelope (ABI section 4), skips the attributes
;; and reads the DATA: its first byte is a command letter, the rest (REST) is
;; the command's argument. Empty data: status 0, nothing else.
;;
;;   s<int>   return <int> (signed decimal: s0 s1 s2 s7 s-1)
;;   e<REST>  emit {type: echo.out} with data REST (no data when REST is empty)
;;   E<n>     emit the fixed envelope {type: echo.out}, no data, n times; stops
;;            at the first error (the emit cap gives -4 -> reported, see below)
;;   y<REST>  emit {type: REST}, no data (emit allow-lists, depth)
;;   a<REST>  emit echo.out with the attributes a plugin may give: id=fixed-id-1,
;;            subject=sub-1, datacontenttype=text/plain,
;;            dataschema=urn:x-echo:schema, myext=ext-value; data REST
;;   h<REST>  emit echo.out giving every host-owned attribute (source, time,
;;            specversion, causationid, correlationid, traceparent = "bogus",
;;            depth = "999"): expect 0, and the host's values in the event
;;   N        emit echo.out with data = this instance's evhost_handle call
;;            count, in decimal, this call included (instance reuse, recycling)
;;   R<REST>  emit echo.out(REST), then return 1 (the emit is not published)
;;   T<REST>  emit echo.out(REST), then trap (not published; instance discarded)
;;   l<REST>  log REST at level 1
;;   L<d><REST> log REST at level <d> (one digit, 0-9)
;;   f<REST>  fail(REST), return 2
;;   r<REST>  fail(REST), return 1
;;   o<REST>  fail(REST), return 0 (the reason is ignored)
;;   w<REST>  fail("first reason"), fail(REST), return 2 (the last one stands)
;;   c<KEY>   config_get(KEY); emit config.value with extension allocs=<number
;;            of evhost_alloc calls the host made during this call, decimal>
;;            and the value's bytes as data (no data for an empty value, and
;;            then allocs=0)
;;   x        emit an envelope whose type value claims 100 bytes but has 8   -> -2
;;   X        emit an envelope without the 0x00 terminator                   -> -2
;;   i        emit an envelope whose type value_len is 0xFFFFFFFF            -> -2
;;   d        emit an envelope with type given twice                        -> -2
;;   t        emit an envelope without type (subject and data only)          -> -2
;;   u        emit an envelope whose type value is not UTF-8 (ff fe)         -> -2
;;   v        emit an envelope with an extension named "Bad_Name!"           -> -2
;;   b        pass out-of-bounds ranges to log, emit, fail and config_get, four
;;            each: (0xFFFFFFF0, 16) past the end, (1024, 0x7FFFFFFF) too long,
;;            (0xFFFFFFF0, 0x20) wrapping around 2^32, (memsize-4, 8) straddling
;;            the end. Returns 0 when every emit and config_get gave -2; else
;;            fail("<last unexpected result>"), status 2. Expect: status 0, no
;;            log line, no emit, the instance still serving.
;;   B        pass the same four ranges to fail only, return 2: expect status 2
;;            and no reason from the plugin (every fail was ignored)
;;   I        report what _initialize saw: 0 when its emit got -3, else
;;            fail("<what it got>"), status 2
;;   M<n>     memory.grow n pages: 0, or fail("memory.grow failed") and status 1
;;   other    fail("unknown command"), status 2
;;
;; Error reporting: when emit or config_get returns a negative code c, the
;; module sets last_err = c, calls fail("<c>") (for example "-2") and returns 2.
;; So a test sees the code as the failure reason, through any layer.
;;
;; Exported globals (for tests that hold the instance):
;;   last_err     last negative code reported (never reset)
;;   emit_ok      emits that returned 0 during the current/last call
;;   allocs       evhost_alloc calls during the current/last call
;;   calls        evhost_handle calls on this instance
;;   oob_bad      unexpected results in the last "b" command
;;   init_emit    what emit returned during _initialize (expect -3)
;;   init_config  what config_get("init") returned during _initialize: the
;;                error code, or the value's length
(module
  (import "evhost" "log" (func $log (param i32 i32 i32)))
  (import "evhost" "emit" (func $emit (param i32 i32) (result i32)))
  (import "evhost" "fail" (func $fail (param i32 i32)))
  (import "evhost" "config_get" (func $config_get (param i32 i32) (result i64)))

  (memory (export "memory") 1)

  (global $last_err (export "last_err") (mut i32) (i32.const 0))
  (global $emit_ok (export "emit_ok") (mut i32) (i32.const 0))
  (global $allocs (export "allocs") (mut i32) (i32.const 0))
  (global $calls (export "calls") (mut i32) (i32.const 0))
  (global $oob_bad (export "oob_bad") (mut i32) (i32.const 0))
  (global $init_emit (export "init_emit") (mut i32) (i32.const 0))
  (global $init_config (export "init_config") (mut i32) (i32.const 0))

  ;; Static data, below the heap (4096). 1024..1279 is scratch for numbers.
  (data (i32.const 16) "type")
  (data (i32.const 32) "echo.out")
  ;; the fixed envelope {type: echo.out}, no data: 18 bytes
  (data (i32.const 48) "\04type\08\00\00\00echo.out\00")
  (data (i32.const 80) "config.value")
  (data (i32.const 96) "allocs")
  (data (i32.const 112) "first reason")
  (data (i32.const 128) "subject")
  (data (i32.const 144) "id")
  (data (i32.const 160) "fixed-id-1")
  (data (i32.const 176) "sub-1")
  (data (i32.const 192) "datacontenttype")
  (data (i32.const 208) "text/plain")
  (data (i32.const 224) "dataschema")
  (data (i32.const 240) "urn:x-echo:schema")
  (data (i32.const 272) "myext")
  (data (i32.const 288) "ext-value")
  (data (i32.const 304) "source")
  (data (i32.const 320) "time")
  (data (i32.const 336) "specversion")
  (data (i32.const 352) "causationid")
  (data (i32.const 368) "correlationid")
  (data (i32.const 384) "depth")
  (data (i32.const 400) "traceparent")
  (data (i32.const 416) "bogus")
  (data (i32.const 432) "999")
  (data (i32.const 448) "unknown command")
  (data (i32.const 464) "memory.grow failed")
  ;; malformed envelopes
  (data (i32.const 512) "\04type\64\00\00\00echo.out")                            ;; x: 17 bytes
  (data (i32.const 544) "\04type\ff\ff\ff\ffecho.out\00")                         ;; i: 18 bytes
  (data (i32.const 576) "\04type\08\00\00\00echo.out\04type\08\00\00\00echo.out\00") ;; d: 35 bytes
  (data (i32.const 624) "\07subject\05\00\00\00sub-1\00x")                        ;; t: 19 bytes
  (data (i32.const 656) "\04type\02\00\00\00\ff\fe\00")                           ;; u: 12 bytes
  (data (i32.const 672) "\04type\08\00\00\00echo.out\09Bad_Name!\01\00\00\00x\00") ;; v: 33 bytes
  (data (i32.const 720) "\04type\08\00\00\00echo.out")                            ;; X: 17 bytes
  (data (i32.const 736) "init")

  ;; ---- allocation -------------------------------------------------------

  (global $heap (mut i32) (i32.const 4096))

  ;; $bump: 8-byte aligned blocks from $heap up, growing memory when needed,
  ;; 0 when it cannot. Reset when evhost_handle returns (not on entry: the
  ;; event's block, allocated before the call, must stay valid during it).
  (func $bump (param $n i32) (result i32)
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

  ;; $need is $bump for the module's own buffers: out of memory traps.
  (func $need (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (call $bump (local.get $n)))
    (if (i32.eqz (local.get $p)) (then (unreachable)))
    (local.get $p))

  (func (export "evhost_alloc") (param $n i32) (result i32)
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (call $bump (local.get $n)))

  (func (export "evhost_abi_version") (result i32) (i32.const 1))

  ;; ---- numbers ----------------------------------------------------------

  ;; $atoi: optional '-', then decimal digits up to the first non-digit.
  (func $atoi (param $p i32) (param $n i32) (result i32)
    (local $end i32) (local $neg i32) (local $v i32) (local $c i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.and (i32.gt_u (local.get $n) (i32.const 0))
                 (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)))
      (then
        (local.set $neg (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))))
    (block $done
      (loop $digits
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
        (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (local.get $c)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digits)))
    (if (result i32) (local.get $neg)
      (then (i32.sub (i32.const 0) (local.get $v)))
      (else (local.get $v))))

  ;; $itoa writes v in signed decimal at 1024 and returns its length.
  (func $itoa (param $v i32) (result i32)
    (local $u i32) (local $p i32) (local $n i32)
    (local.set $u (local.get $v))
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then (local.set $u (i32.sub (i32.const 0) (local.get $v)))))
    ;; digits backwards from 1279
    (local.set $p (i32.const 1279))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $u) (i32.const 10))))
      (local.set $u (i32.div_u (local.get $u) (i32.const 10)))
      (br_if $digits (local.get $u)))
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p) (i32.const 45))))
    (local.set $n (i32.sub (i32.const 1279) (local.get $p)))
    (memory.copy (i32.const 1024) (local.get $p) (local.get $n))
    (local.get $n))

  ;; $failnum: last_err = v, fail("<v>"), status 2.
  (func $failnum (param $v i32) (result i32)
    (global.set $last_err (local.get $v))
    (call $fail (i32.const 1024) (call $itoa (local.get $v)))
    (i32.const 2))

  ;; $report: status 0 for a code >= 0, else $failnum.
  (func $report (param $code i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $code) (i32.const 0))
      (then (call $failnum (local.get $code)))
      (else (i32.const 0))))

  ;; ---- envelopes --------------------------------------------------------

  ;; $attr writes one attribute at dst and returns the address after it.
  (func $attr (param $dst i32) (param $np i32) (param $nn i32) (param $vp i32) (param $vn i32) (result i32)
    (i32.store8 (local.get $dst) (local.get $nn))
    (memory.copy (i32.add (local.get $dst) (i32.const 1)) (local.get $np) (local.get $nn))
    (local.set $dst (i32.add (local.get $dst) (i32.add (i32.const 1) (local.get $nn))))
    (i32.store align=1 (local.get $dst) (local.get $vn))
    (memory.copy (i32.add (local.get $dst) (i32.const 4)) (local.get $vp) (local.get $vn))
    (i32.add (local.get $dst) (i32.add (i32.const 4) (local.get $vn))))

  ;; $finish writes the terminator and the data at dst and emits [buf, end).
  (func $finish (param $buf i32) (param $dst i32) (param $dp i32) (param $dn i32) (result i32)
    (i32.store8 (local.get $dst) (i32.const 0))
    (memory.copy (i32.add (local.get $dst) (i32.const 1)) (local.get $dp) (local.get $dn))
    (call $emit_raw (local.get $buf)
      (i32.sub (i32.add (local.get $dst) (i32.add (i32.const 1) (local.get $dn))) (local.get $buf))))

  ;; $emit_raw emits [p, p+n), counts successes, returns the code.
  (func $emit_raw (param $p i32) (param $n i32) (result i32)
    (local $r i32)
    (local.set $r (call $emit (local.get $p) (local.get $n)))
    (if (i32.eqz (local.get $r))
      (then (global.set $emit_ok (i32.add (global.get $emit_ok) (i32.const 1)))))
    (local.get $r))

  ;; $emit_echo emits {type: echo.out} with data [dp, dp+dn).
  (func $emit_echo (param $dp i32) (param $dn i32) (result i32)
    (local $buf i32)
    (local.set $buf (call $need (i32.add (i32.const 18) (local.get $dn))))
    (call $finish (local.get $buf)
      (call $attr (local.get $buf) (i32.const 16) (i32.const 4) (i32.const 32) (i32.const 8))
      (local.get $dp) (local.get $dn)))

  ;; ---- commands -----------------------------------------------------------

  (func $cmd_E (param $count i32) (result i32)
    (local $r i32)
    (block $done
      (loop $more
        (br_if $done (i32.le_s (local.get $count) (i32.const 0)))
        (local.set $r (call $emit_raw (i32.const 48) (i32.const 18)))
        (br_if $done (i32.lt_s (local.get $r) (i32.const 0)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $more)))
    (call $report (local.get $r)))

  (func $cmd_y (param $tp i32) (param $tn i32) (result i32)
    (local $buf i32)
    (local.set $buf (call $need (i32.add (i32.const 16) (local.get $tn))))
    (call $report
      (call $finish (local.get $buf)
        (call $attr (local.get $buf) (i32.const 16) (i32.const 4) (local.get $tp) (local.get $tn))
        (i32.const 0) (i32.const 0))))

  (func $cmd_a (param $dp i32) (param $dn i32) (result i32)
    (local $buf i32) (local $d i32)
    (local.set $buf (call $need (i32.add (i32.const 256) (local.get $dn))))
    (local.set $d (call $attr (local.get $buf) (i32.const 16) (i32.const 4) (i32.const 32) (i32.const 8)))
    (local.set $d (call $attr (local.get $d) (i32.const 144) (i32.const 2) (i32.const 160) (i32.const 10)))
    (local.set $d (call $attr (local.get $d) (i32.const 128) (i32.const 7) (i32.const 176) (i32.const 5)))
    (local.set $d (call $attr (local.get $d) (i32.const 192) (i32.const 15) (i32.const 208) (i32.const 10)))
    (local.set $d (call $attr (local.get $d) (i32.const 224) (i32.const 10) (i32.const 240) (i32.const 17)))
    (local.set $d (call $attr (local.get $d) (i32.const 272) (i32.const 5) (i32.const 288) (i32.const 9)))
    (call $report (call $finish (local.get $buf) (local.get $d) (local.get $dp) (local.get $dn))))

  (func $cmd_h (param $dp i32) (param $dn i32) (result i32)
    (local $buf i32) (local $d i32)
    (local.set $buf (call $need (i32.add (i32.const 256) (local.get $dn))))
    (local.set $d (call $attr (local.get $buf) (i32.const 16) (i32.const 4) (i32.const 32) (i32.const 8)))
    (local.set $d (call $attr (local.get $d) (i32.const 304) (i32.const 6) (i32.const 416) (i32.const 5)))
    (local.set $d (call $attr (local.get $d) (i32.const 320) (i32.const 4) (i32.const 416) (i32.const 5)))
    (local.set $d (call $attr (local.get $d) (i32.const 336) (i32.const 11) (i32.const 416) (i32.const 5)))
    (local.set $d (call $attr (local.get $d) (i32.const 352) (i32.const 11) (i32.const 416) (i32.const 5)))
    (local.set $d (call $attr (local.get $d) (i32.const 368) (i32.const 13) (i32.const 416) (i32.const 5)))
    (local.set $d (call $attr (local.get $d) (i32.const 384) (i32.const 5) (i32.const 432) (i32.const 3)))
    (local.set $d (call $attr (local.get $d) (i32.const 400) (i32.const 11) (i32.const 416) (i32.const 5)))
    (call $report (call $finish (local.get $buf) (local.get $d) (local.get $dp) (local.get $dn))))

  (func $cmd_N (result i32)
    (local $n i32)
    (local.set $n (call $itoa (global.get $calls)))
    (call $report (call $emit_echo (i32.const 1024) (local.get $n))))

  (func $cmd_c (param $kp i32) (param $kn i32) (result i32)
    (local $r i64) (local $vp i32) (local $vn i32) (local $buf i32) (local $d i32) (local $an i32)
    (local.set $r (call $config_get (local.get $kp) (local.get $kn)))
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then (return (call $failnum (i32.wrap_i64 (local.get $r))))))
    (local.set $vp (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32))))
    (local.set $vn (i32.wrap_i64 (local.get $r)))
    (local.set $an (call $itoa (global.get $allocs)))
    (local.set $buf (call $need (i32.add (i32.const 64) (local.get $vn))))
    (local.set $d (call $attr (local.get $buf) (i32.const 16) (i32.const 4) (i32.const 80) (i32.const 12)))
    (local.set $d (call $attr (local.get $d) (i32.const 96) (i32.const 6) (i32.const 1024) (local.get $an)))
    (call $report (call $finish (local.get $buf) (local.get $d) (local.get $vp) (local.get $vn))))

  ;; $oob passes [p, p+n) to every core import and checks the results.
  (func $oob (param $p i32) (param $n i32)
    (local $r i32) (local $r64 i64)
    (call $log (i32.const 1) (local.get $p) (local.get $n))
    (call $fail (local.get $p) (local.get $n))
    (local.set $r (call $emit (local.get $p) (local.get $n)))
    (if (i32.ne (local.get $r) (i32.const -2))
      (then
        (global.set $oob_bad (i32.add (global.get $oob_bad) (i32.const 1)))
        (global.set $last_err (local.get $r))))
    (local.set $r64 (call $config_get (local.get $p) (local.get $n)))
    (if (i64.ne (local.get $r64) (i64.const -2))
      (then
        (global.set $oob_bad (i32.add (global.get $oob_bad) (i32.const 1)))
        (global.set $last_err (i32.wrap_i64 (local.get $r64))))))

  (func $memsize (result i32) (i32.shl (memory.size) (i32.const 16)))

  (func $cmd_b (result i32)
    (global.set $oob_bad (i32.const 0))
    (call $oob (i32.const 0xFFFFFFF0) (i32.const 16))
    (call $oob (i32.const 1024) (i32.const 0x7FFFFFFF))
    (call $oob (i32.const 0xFFFFFFF0) (i32.const 0x20))
    (call $oob (i32.sub (call $memsize) (i32.const 4)) (i32.const 8))
    (if (result i32) (global.get $oob_bad)
      (then (call $failnum (global.get $last_err)))
      (else (i32.const 0))))

  (func $cmd_B (result i32)
    (call $fail (i32.const 0xFFFFFFF0) (i32.const 16))
    (call $fail (i32.const 1024) (i32.const 0x7FFFFFFF))
    (call $fail (i32.const 0xFFFFFFF0) (i32.const 0x20))
    (call $fail (i32.sub (call $memsize) (i32.const 4)) (i32.const 8))
    (i32.const 2))

  ;; ---- entry points ------------------------------------------------------

  ;; During _initialize emit (and fail) have no current event: emit gets -3.
  (func (export "_initialize")
    (local $r i64)
    (global.set $init_emit (call $emit (i32.const 48) (i32.const 18)))
    (call $fail (i32.const 112) (i32.const 12))
    (local.set $r (call $config_get (i32.const 736) (i32.const 4)))
    (global.set $init_config (i32.wrap_i64 (local.get $r))))

  (func (export "evhost_handle") (param $ptr i32) (param $len i32) (result i32)
    (local $status i32)
    (global.set $allocs (i32.const 0))
    (global.set $emit_ok (i32.const 0))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $status (call $dispatch (local.get $ptr) (local.get $len)))
    (global.set $heap (i32.const 4096))
    (local.get $status))

  (func $dispatch (param $ptr i32) (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $b i32) (local $vn i32)
    (local $cmd i32) (local $rp i32) (local $rn i32)
    ;; skip the attributes (ABI section 4); a malformed event gets status 2
    (local.set $p (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $found
      (loop $attrs
        (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 2))))
        (local.set $b (i32.load8_u (local.get $p)))
        (br_if $found (i32.eqz (local.get $b)))
        (local.set $p (i32.add (local.get $p) (i32.add (i32.const 1) (local.get $b))))
        (if (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
          (then (return (i32.const 2))))
        (local.set $vn (i32.load align=1 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (if (i32.gt_u (local.get $vn) (i32.sub (local.get $end) (local.get $p)))
          (then (return (i32.const 2))))
        (local.set $p (i32.add (local.get $p) (local.get $vn)))
        (br $attrs)))
    (local.set $rp (i32.add (local.get $p) (i32.const 1)))
    (local.set $rn (i32.sub (local.get $end) (local.get $rp)))
    (if (i32.eqz (local.get $rn)) (then (return (i32.const 0))))
    (local.set $cmd (i32.load8_u (local.get $rp)))
    (local.set $rp (i32.add (local.get $rp) (i32.const 1)))
    (local.set $rn (i32.sub (local.get $rn) (i32.const 1)))

    ;; s<int>
    (if (i32.eq (local.get $cmd) (i32.const 115))
      (then (return (call $atoi (local.get $rp) (local.get $rn)))))
    ;; e<REST>
    (if (i32.eq (local.get $cmd) (i32.const 101))
      (then (return (call $report (call $emit_echo (local.get $rp) (local.get $rn))))))
    ;; E<n>
    (if (i32.eq (local.get $cmd) (i32.const 69))
      (then (return (call $cmd_E (call $atoi (local.get $rp) (local.get $rn))))))
    ;; y<type>
    (if (i32.eq (local.get $cmd) (i32.const 121))
      (then (return (call $cmd_y (local.get $rp) (local.get $rn)))))
    ;; a<REST>
    (if (i32.eq (local.get $cmd) (i32.const 97))
      (then (return (call $cmd_a (local.get $rp) (local.get $rn)))))
    ;; h<REST>
    (if (i32.eq (local.get $cmd) (i32.const 104))
      (then (return (call $cmd_h (local.get $rp) (local.get $rn)))))
    ;; N
    (if (i32.eq (local.get $cmd) (i32.const 78))
      (then (return (call $cmd_N))))
    ;; R<REST>: emit, then status 1
    (if (i32.eq (local.get $cmd) (i32.const 82))
      (then
        (drop (call $emit_echo (local.get $rp) (local.get $rn)))
        (return (i32.const 1))))
    ;; T<REST>: emit, then trap
    (if (i32.eq (local.get $cmd) (i32.const 84))
      (then
        (drop (call $emit_echo (local.get $rp) (local.get $rn)))
        (unreachable)))
    ;; l<REST>
    (if (i32.eq (local.get $cmd) (i32.const 108))
      (then
        (call $log (i32.const 1) (local.get $rp) (local.get $rn))
        (return (i32.const 0))))
    ;; L<d><REST>
    (if (i32.eq (local.get $cmd) (i32.const 76))
      (then
        (if (i32.eqz (local.get $rn)) (then (return (i32.const 2))))
        (call $log (i32.sub (i32.load8_u (local.get $rp)) (i32.const 48))
          (i32.add (local.get $rp) (i32.const 1)) (i32.sub (local.get $rn) (i32.const 1)))
        (return (i32.const 0))))
    ;; f<REST>
    (if (i32.eq (local.get $cmd) (i32.const 102))
      (then
        (call $fail (local.get $rp) (local.get $rn))
        (return (i32.const 2))))
    ;; r<REST>
    (if (i32.eq (local.get $cmd) (i32.const 114))
      (then
        (call $fail (local.get $rp) (local.get $rn))
        (return (i32.const 1))))
    ;; o<REST>
    (if (i32.eq (local.get $cmd) (i32.const 111))
      (then
        (call $fail (local.get $rp) (local.get $rn))
        (return (i32.const 0))))
    ;; w<REST>
    (if (i32.eq (local.get $cmd) (i32.const 119))
      (then
        (call $fail (i32.const 112) (i32.const 12))
        (call $fail (local.get $rp) (local.get $rn))
        (return (i32.const 2))))
    ;; c<KEY>
    (if (i32.eq (local.get $cmd) (i32.const 99))
      (then (return (call $cmd_c (local.get $rp) (local.get $rn)))))
    ;; malformed emits
    (if (i32.eq (local.get $cmd) (i32.const 120))
      (then (return (call $report (call $emit_raw (i32.const 512) (i32.const 17))))))
    (if (i32.eq (local.get $cmd) (i32.const 88))
      (then (return (call $report (call $emit_raw (i32.const 720) (i32.const 17))))))
    (if (i32.eq (local.get $cmd) (i32.const 105))
      (then (return (call $report (call $emit_raw (i32.const 544) (i32.const 18))))))
    (if (i32.eq (local.get $cmd) (i32.const 100))
      (then (return (call $report (call $emit_raw (i32.const 576) (i32.const 35))))))
    (if (i32.eq (local.get $cmd) (i32.const 116))
      (then (return (call $report (call $emit_raw (i32.const 624) (i32.const 19))))))
    (if (i32.eq (local.get $cmd) (i32.const 117))
      (then (return (call $report (call $emit_raw (i32.const 656) (i32.const 12))))))
    (if (i32.eq (local.get $cmd) (i32.const 118))
      (then (return (call $report (call $emit_raw (i32.const 672) (i32.const 33))))))
    ;; b, B
    (if (i32.eq (local.get $cmd) (i32.const 98))
      (then (return (call $cmd_b))))
    (if (i32.eq (local.get $cmd) (i32.const 66))
      (then (return (call $cmd_B))))
    ;; I
    (if (i32.eq (local.get $cmd) (i32.const 73))
      (then
        (if (i32.eq (global.get $init_emit) (i32.const -3)) (then (return (i32.const 0))))
        (return (call $failnum (global.get $init_emit)))))
    ;; M<n>
    (if (i32.eq (local.get $cmd) (i32.const 77))
      (then
        (if (i32.eq (memory.grow (call $atoi (local.get $rp) (local.get $rn))) (i32.const -1))
          (then
            (call $fail (i32.const 464) (i32.const 18))
            (return (i32.const 1))))
        (return (i32.const 0))))
    (call $fail (i32.const 448) (i32.const 15))
    (i32.const 2))
)
