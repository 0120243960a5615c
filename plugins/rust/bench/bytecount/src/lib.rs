//! The byte-count handler of evhost's kit benchmarks (host/wasm's
//! BenchmarkKits): it counts the event data's nonzero bytes, one by one,
//! into a global, and emits nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use evhost::{Event, Failure};

static TOTAL: AtomicUsize = AtomicUsize::new(0);

fn handle(e: &Event) -> Result<(), Failure> {
    let n = e.data().iter().filter(|&&b| b != 0).count();
    TOTAL.fetch_add(n, Ordering::Relaxed);
    Ok(())
}

evhost::export!(handle);
