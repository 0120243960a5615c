;; tablemin.wat: a reactor whose funcref table starts with 1,000,000
;; elements (8 MB of host memory at instantiation), otherwise valid.
;; Expect: refused at load when the memory limit leaves less room for
;; tables (e.g. 128 KiB), naming the table elements and the limit; loads
;; with the default memory limit (64 MiB).
(module
  (memory (export "memory") 1)
  (table 1000000 funcref)
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  (func (export "evhost_alloc") (param $n i32) (result i32)
    (select (i32.const 1024) (i32.const 0) (i32.le_u (local.get $n) (i32.const 61440))))
  (func (export "evhost_handle") (param i32 i32) (result i32) (i32.const 0))
)
