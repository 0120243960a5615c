//! The host functions: the evhost imports in WebAssembly, the test host
//! natively. A variable-size result is a block from the kit's allocator,
//! valid until the call returns.

#[cfg(target_arch = "wasm32")]
mod imp {
    #[link(wasm_import_module = "evhost")]
    extern "C" {
        #[link_name = "log"]
        fn evhost_log(level: i32, ptr: *const u8, len: u32);
        #[link_name = "emit"]
        fn evhost_emit(ptr: *const u8, len: u32) -> i32;
        #[link_name = "fail"]
        fn evhost_fail(ptr: *const u8, len: u32);
        #[link_name = "config_get"]
        fn evhost_config_get(key: *const u8, key_len: u32) -> i64;
        #[link_name = "kv_get"]
        fn evhost_kv_get(key: *const u8, key_len: u32) -> i64;
        #[link_name = "kv_set"]
        fn evhost_kv_set(key: *const u8, key_len: u32, val: *const u8, val_len: u32) -> i32;
        #[link_name = "kv_delete"]
        fn evhost_kv_delete(key: *const u8, key_len: u32) -> i32;
        #[link_name = "http_request"]
        fn evhost_http_request(req: *const u8, req_len: u32) -> i64;
    }

    /// An i64 result: a negative code, or (ptr << 32) | len of a block that
    /// the host got from evhost_alloc; 0 is empty.
    fn block(r: i64) -> Result<&'static [u8], i32> {
        if r < 0 {
            return Err(r as i32);
        }
        if r == 0 {
            return Ok(&[]);
        }
        let ptr = ((r as u64) >> 32) as u32 as usize as *const u8;
        let len = r as u32 as usize;
        // Safety: the host filled [ptr, ptr+len) in a block of ours, valid
        // until the call returns (the kit never lets the slice escape it).
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    pub fn log(level: i32, msg: &[u8]) {
        unsafe { evhost_log(level, msg.as_ptr(), msg.len() as u32) }
    }
    pub fn emit(env: &[u8]) -> i32 {
        unsafe { evhost_emit(env.as_ptr(), env.len() as u32) }
    }
    pub fn fail(reason: &[u8]) {
        unsafe { evhost_fail(reason.as_ptr(), reason.len() as u32) }
    }
    pub fn config_get(key: &[u8]) -> Result<&'static [u8], i32> {
        block(unsafe { evhost_config_get(key.as_ptr(), key.len() as u32) })
    }
    pub fn kv_get(key: &[u8]) -> Result<&'static [u8], i32> {
        block(unsafe { evhost_kv_get(key.as_ptr(), key.len() as u32) })
    }
    pub fn kv_set(key: &[u8], val: &[u8]) -> i32 {
        unsafe { evhost_kv_set(key.as_ptr(), key.len() as u32, val.as_ptr(), val.len() as u32) }
    }
    pub fn kv_delete(key: &[u8]) -> i32 {
        unsafe { evhost_kv_delete(key.as_ptr(), key.len() as u32) }
    }
    pub fn http_request(req: &[u8]) -> Result<&'static [u8], i32> {
        block(unsafe { evhost_http_request(req.as_ptr(), req.len() as u32) })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub use crate::testing::host::*;
}

pub use imp::*;
