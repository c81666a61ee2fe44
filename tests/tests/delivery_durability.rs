//! kill -9 while a batch is being delivered: after a restart every message is
//! delivered, none lost, duplicates only for those in flight at the kill.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use envoi_tests::sink::{Received, Script};
use envoi_tests::world::Delivering;
use envoi_tests::*;

const N: usize = 500;

/// Copies received per recipient (every copy of the batch carries the
/// batch's one Message-ID, as Mailgun's do: the recipient tells them apart).
fn unique(received: &[Received]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in received {
        *m.entry(r.rcpt_to.join(",")).or_insert(0) += 1;
    }
    m
}

#[test]
fn kill_9_mid_batch_loses_nothing() {
    let Delivering {
        mut e,
        sink,
        dns: _dns,
    } = Delivering::start(
        Script {
            data_delay: Duration::from_millis(10),
            ..Script::default()
        },
        "retry_schedule = [\"1s\"]",
        Options::default(),
    );
    e.create_domain("shop.test");
    // One batch call: one copy per recipient, N messages.
    let to: Vec<String> = (0..N).map(|i| format!("r{i}@dest.test")).collect();
    let vars: serde_json::Map<String, serde_json::Value> = to
        .iter()
        .enumerate()
        .map(|(i, a)| (a.clone(), serde_json::json!({ "n": i })))
        .collect();
    let r = e
        .post("/v3/shop.test/messages", ADMIN_KEY)
        .form(&[
            ("from", "sender@shop.test"),
            ("to", &to.join(",")),
            ("subject", "Batch %recipient.n%"),
            ("text", "Hello %recipient.n%"),
            (
                "recipient-variables",
                &serde_json::Value::Object(vars).to_string(),
            ),
        ])
        .send()
        .unwrap();
    expect_json(r, 200);

    // Kill once deliveries are well under way, but before they are done.
    let start = Instant::now();
    while unique(&sink.received()).len() < N / 5 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "deliveries did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    e.kill9();
    let at_kill = unique(&sink.received()).len();
    assert!(at_kill < N, "the kill came after everything was delivered");
    e.restart();

    let start = Instant::now();
    loop {
        let got = unique(&sink.received());
        if got.len() == N {
            let dups: usize = got.values().map(|c| c - 1).sum();
            // In flight at the kill: at most one message per connection.
            eprintln!(
                "delivered {N} after kill -9 at {at_kill}: {dups} duplicates, {:?} after restart",
                start.elapsed()
            );
            assert!(dups <= 20, "{dups} duplicates");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "only {} of {N} delivered after restart; log:\n{}",
            got.len(),
            e.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_lets_in_flight_deliveries_finish() {
    let Delivering {
        mut e,
        sink,
        dns: _dns,
    } = Delivering::start(
        Script {
            data_delay: Duration::from_secs(2),
            ..Script::default()
        },
        "",
        Options::default(),
    );
    e.create_domain("shop.test");
    let id = e.send("shop.test", "rcpt@dest.test", &[]);
    // Wait until the MX has the connection (the DATA answer takes 2 s).
    let start = Instant::now();
    while sink.connections() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no delivery started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = e.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(sink.received().len(), 1, "the delivery in flight finished");
    // And it was recorded before exiting: nothing is sent again.
    e.restart();
    e.wait_event(
        "shop.test",
        &format!("event=delivered&message-id={id}"),
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.received().len(), 1);
}
