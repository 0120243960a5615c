;; neither.wat: a module that exports only its memory: neither a reactor
;; (evhost_abi_version, evhost_alloc, evhost_handle) nor a command (_start).
;; Expect: refused at load time with an error that names what is missing
;; (the three evhost exports, or _start).
(module
  (memory (export "memory") 1)
)
