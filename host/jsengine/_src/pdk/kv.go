package pdk

// KV: the plugin's own key-value space on the host (ABI host functions
// kv_get, kv_set, kv_delete). A plugin that calls none of these functions
// does not import them, and so needs no KV grant in its configuration.
//
// Keys are 1 to 256 bytes of [-/_=.A-Za-z0-9]; other keys get ErrMalformed.
// Writes are last-writer-wins across all instances of the plugin.

// KVGet returns the value stored under key, or an error wrapping
// ErrNotFound when there is none (ErrTransient when the store failed). The
// returned slice is the plugin's own: the host does not touch it again.
func KVGet(key string) ([]byte, error) {
	v, code := hostKVGet(key)
	if code != 0 {
		return nil, &HostError{Op: "kv_get " + key, Code: code}
	}
	return v, nil
}

// KVSet stores value under key, replacing any earlier value.
func KVSet(key string, value []byte) error {
	if code := hostKVSet(key, value); code != 0 {
		return &HostError{Op: "kv_set " + key, Code: code}
	}
	return nil
}

// KVDelete deletes the value under key. Deleting a missing key is not an
// error.
func KVDelete(key string) error {
	if code := hostKVDelete(key); code != 0 {
		return &HostError{Op: "kv_delete " + key, Code: code}
	}
	return nil
}
