;; alloc_oob.wat: a reactor whose evhost_alloc always returns 0xFFFFFFF0, a
;; block outside memory (a guest fault, ABI section 2); evhost_handle would
;; return 0.
;; Expect: loads (nothing is allocated at load time); every call fails with
;; status-1 semantics before evhost_handle runs, because the host cannot place
;; the event; the host never writes outside guest memory; the instance is
;; discarded.
(module
  (memory (export "memory") 1)
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  (func (export "evhost_alloc") (param $n i32) (result i32)
    (i32.const 0xFFFFFFF0))
  (func (export "evhost_handle") (param $ptr i32) (param $len i32) (result i32)
    (i32.const 0))
)
