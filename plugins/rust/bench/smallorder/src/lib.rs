//! The small handler of evhost's kit benchmarks (host/wasm's
//! BenchmarkKits): it reads the fields id (a number) and product_id (a
//! string without escapes) of the event's JSON data and emits one event
//! with them. Like the C one, it scans for the two keys rather than parsing
//! the whole document (the kit has no dependencies, so no JSON parser): a
//! lower bound for the same logic.

use evhost::{Emit, Event, Failure};

/// The offset just after `"key":` in data.
fn find(p: &[u8], key: &[u8]) -> Option<usize> {
    let k = key.len();
    let mut i = 0;
    while i + k + 3 <= p.len() {
        if p[i] == b'"' && &p[i + 1..i + 1 + k] == key && p[i + 1 + k] == b'"' {
            let mut j = i + 2 + k;
            while j < p.len() && (p[j] == b' ' || p[j] == b':') {
                j += 1;
            }
            return Some(j);
        }
        i += 1;
    }
    None
}

fn handle(e: &Event) -> Result<(), Failure> {
    let p = e.data();
    let (i, j) = match (find(p, b"id"), find(p, b"product_id")) {
        (Some(i), Some(j)) if j < p.len() && p[j] == b'"' => (i, j),
        _ => return Err(Failure::reject("bad order")),
    };
    let mut ie = i;
    while ie < p.len() && p[ie].is_ascii_digit() {
        ie += 1;
    }
    let mut je = j + 1;
    while je < p.len() && p[je] != b'"' {
        je += 1;
    }
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(&p[i..ie]);
    out.extend_from_slice(b",\"product\":");
    out.extend_from_slice(&p[j..(je + 1).min(p.len())]);
    out.push(b'}');
    Emit::new("order.seen").data_content_type("application/json").data(&out).send()?;
    Ok(())
}

evhost::export!(handle);
