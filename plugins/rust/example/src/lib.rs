//! An example evhost handler written with the Rust kit.
//!
//! On `order.placed` it counts the orders it has seen in the KV store, reads
//! the region from its config, logs a line and emits `order.counted` with
//! subject `orders/<count>`, content type `application/json`, extension
//! `region` and data `{"count":<count>,"order":<the order's data>}`. An order
//! with no data is rejected (dead-lettered, no retry); a KV store that fails
//! asks for a retry. Other event types are logged at debug and ignored.

use evhost::{Emit, Event, Failure};

fn handle(e: &Event) -> Result<(), Failure> {
    if e.event_type() != "order.placed" {
        evhost::debug!("ignoring {}", e.event_type());
        return Ok(());
    }
    if e.data().is_empty() {
        return Err(Failure::reject("order.placed without data"));
    }
    let count = match evhost::kv_get("orders") {
        Ok(v) => String::from_utf8_lossy(&v).parse::<u64>().unwrap_or(0),
        Err(evhost::Error::NotFound) => 0,
        Err(e) => return Err(e.into()), // a retry
    } + 1;
    evhost::kv_set("orders", count.to_string().as_bytes())?;
    let region = evhost::config("region").unwrap_or_else(|| "unknown".to_string());
    evhost::info!("order {} is number {}", e.id(), count);

    let subject = format!("orders/{}", count);
    let mut data = format!("{{\"count\":{},\"order\":", count).into_bytes();
    data.extend_from_slice(e.data());
    data.push(b'}');
    Emit::new("order.counted")
        .subject(&subject)
        .data_content_type("application/json")
        .extension("region", &region)
        .data(&data)
        .send()?;
    Ok(())
}

evhost::export!(handle);

#[cfg(test)]
mod tests {
    use super::handle;
    use evhost::testing::{TestEvent, TestHost};
    use evhost::{Level, Status};

    #[test]
    fn counts_orders() {
        let mut host = TestHost::new();
        host.config.insert("region".into(), "eu-west".into());
        let order = TestEvent::new("order.placed").attr("id", "o-1").data(r#"{"id":1}"#);

        let res = host.run(handle, &order);
        assert_eq!(res.status, Status::Done, "{}", res.reason);
        assert_eq!(res.emits.len(), 1);
        let out = &res.emits[0];
        assert_eq!(out.event_type(), "order.counted");
        assert_eq!(out.attr("subject"), Some("orders/1"));
        assert_eq!(out.attr("datacontenttype"), Some("application/json"));
        assert_eq!(out.attr("region"), Some("eu-west"));
        assert_eq!(out.attr("causationid"), Some("o-1"));
        assert_eq!(out.data, br#"{"count":1,"order":{"id":1}}"#);
        assert!(res.has_log(Level::Info, "order o-1 is number 1"), "{:?}", res.logs);

        // The count lives in the KV store: the second order is number 2.
        let res = host.run(handle, &order);
        assert_eq!(res.emits[0].attr("subject"), Some("orders/2"));
        assert_eq!(host.kv.get("orders").map(|v| v.as_slice()), Some(&b"2"[..]));
    }

    #[test]
    fn without_config() {
        let mut host = TestHost::new();
        host.kv.insert("orders".into(), b"41".to_vec());
        let res = host.run(handle, &TestEvent::new("order.placed").data("{}"));
        assert_eq!(res.emits[0].attr("region"), Some("unknown"));
        assert_eq!(res.emits[0].attr("subject"), Some("orders/42"));
    }

    #[test]
    fn rejects_an_empty_order() {
        let mut host = TestHost::new();
        let res = host.run(handle, &TestEvent::new("order.placed"));
        assert_eq!(res.status, Status::Reject);
        assert_eq!(res.reason, "order.placed without data");
        assert!(res.emits.is_empty());
        assert!(host.kv.is_empty());
    }

    #[test]
    fn ignores_other_types() {
        let res = TestHost::new().run(handle, &TestEvent::new("order.shipped"));
        assert_eq!(res.status, Status::Done);
        assert!(res.emits.is_empty());
        assert!(res.has_log(Level::Debug, "ignoring order.shipped"));
    }
}
