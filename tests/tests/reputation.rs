//! Acceptable use (contract §5) against the real binary and a real sink:
//! bounce rates over the threshold warn, then suspend; a suspended domain's
//! sends are refused over HTTP (403) and SMTP (554 5.7.1), its queued
//! messages are held, and they go out once an admin reinstates it.

use std::time::{Duration, Instant};

use envoi_tests::sink::Script;
use envoi_tests::smtp_client::complain;
use envoi_tests::world::Delivering;
use envoi_tests::*;
use serde_json::{json, Value};

const DOMAIN: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(60);

/// A sink that refuses every address starting with "bad".
fn world() -> Delivering {
    world_with(None)
}

/// `inbound`: keys for an `[inbound]` listener, when the test needs one.
fn world_with(inbound: Option<&str>) -> Delivering {
    let w = Delivering::start(
        Script::refusing("bad", "550 5.1.1 no such user"),
        "",
        Options {
            extra_config: "[limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\n".into(),
            smtp_extra: "allow_plain_auth_without_tls = true\n".into(),
            inbound: inbound.map(str::to_string),
            ..Options::default()
        },
    );
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    w
}

/// One batch send: `good` + `bad` recipients, one copy each, the bad ones
/// spread evenly so that the rate climbs steadily whatever order the
/// parallel connections deliver in.
fn batch(e: &Envoi, tag: &str, good: usize, bad: usize) {
    let n = good + bad;
    let to: Vec<String> = (0..n)
        .map(|i| {
            // Position i is bad when it starts a new multiple of n/bad.
            if (i + 1) * bad / n > i * bad / n {
                format!("bad-{tag}-{i}@dest.test")
            } else {
                format!("ok-{tag}-{i}@dest.test")
            }
        })
        .collect();
    let vars: serde_json::Map<String, Value> = to.iter().map(|a| (a.clone(), json!({}))).collect();
    expect_json(
        e.post(&format!("/v3/{DOMAIN}/messages"), ADMIN_KEY)
            .form(&[
                ("from", "shop@shop.test"),
                ("to", to.join(",").as_str()),
                ("text", "Your receipt"),
                ("recipient-variables", &Value::Object(vars).to_string()),
            ])
            .send()
            .unwrap(),
        200,
    );
}

fn reputation(e: &Envoi) -> Value {
    expect_json(
        e.get(&format!("/v3/{DOMAIN}/reputation"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )
}

fn wait_state(e: &Envoi, state: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = reputation(e);
        if r["state"] == state {
            return r;
        }
        assert!(start.elapsed() < WAIT, "still {r} after {WAIT:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Once `n` outcomes count (the state is kept from when it changed).
fn wait_sample(e: &Envoi, n: u64) -> Value {
    let start = Instant::now();
    loop {
        let r = reputation(e);
        if r["sample"].as_u64() >= Some(n) {
            return r;
        }
        assert!(start.elapsed() < WAIT, "sample still {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn delivered_to(w: &Delivering, address: &str) -> bool {
    w.sink
        .received()
        .iter()
        .any(|r| r.rcpt_to.iter().any(|a| a == address))
}

#[test]
fn bounces_warn_then_suspend_hold_the_queue_and_reinstating_releases_it() {
    let w = world();
    // 200 messages, 8 % hard bounces: a warning, sending goes on. The
    // bounces come last, so the rate only climbs, to 8 %.
    batch(&w.e, "a", 184, 0);
    wait_sample(&w.e, 184);
    batch(&w.e, "a2", 0, 16);
    let r = wait_sample(&w.e, 200);
    assert_eq!(r["state"], "warning", "{r}");
    assert_eq!(r["reason"]["rate"], "bounce");
    assert_eq!(r["reason"]["threshold"], 0.05);
    assert!(
        (r["rates"]["bounce"].as_f64().unwrap() - 0.08).abs() < 1e-9,
        "{r}"
    );

    // A message scheduled for later is queued when the suspension comes.
    let later = (std::time::SystemTime::now() + Duration::from_secs(12))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    w.e.send(DOMAIN, "held@dest.test", &[("o:deliverytime", &later)]);
    let accepted =
        w.e.wait_event(DOMAIN, "event=accepted&recipient=held@dest.test", WAIT);
    let key = accepted["storage"]["key"].as_str().unwrap().to_string();

    // 40 more bounces: 56 of 240 = 23 %, over twice 5 %.
    batch(&w.e, "b", 0, 40);
    let r = wait_sample(&w.e, 240);
    assert_eq!(r["state"], "suspended", "{r}");
    assert_eq!(r["reason"]["threshold"], 0.1);
    assert!(
        (r["rates"]["bounce"].as_f64().unwrap() - 56.0 / 240.0).abs() < 1e-9,
        "{r}"
    );
    // Held, not dropped.
    let stored = w.e.stored(DOMAIN, &key);
    assert_eq!(stored["recipients-status"][0]["status"], "held", "{stored}");
    let msg = expect_error(
        w.e.post(&format!("/v3/{DOMAIN}/messages"), ADMIN_KEY)
            .form(&[
                ("from", "shop@shop.test"),
                ("to", "x@dest.test"),
                ("text", "hi"),
            ])
            .send()
            .unwrap(),
        403,
        &["suspended", "bounce rate", "is over 10.00 %", "reinstate"],
    );
    assert!(msg.contains(DOMAIN), "{msg}");
    // SMTP too.
    let mut c = w.e.smtp_as_app(DOMAIN);
    let reply = c.submit(
        "app@shop.test",
        "x@dest.test",
        b"From: app@shop.test\r\nTo: x@dest.test\r\nSubject: hi\r\n\r\nhello\r\n",
    );
    assert!(reply.starts_with("554 5.7.1"), "{reply}");
    assert!(reply.contains("bounce rate"), "{reply}");

    assert!(!delivered_to(&w, "held@dest.test"), "held while suspended");

    let r = expect_json(
        w.e.post(&format!("/v3/{DOMAIN}/reputation/reinstate"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(r["state"], "ok");
    assert!(r["released"].as_u64().unwrap() >= 1, "{r}");
    // Released: it goes out at its scheduled time.
    w.e.wait_event(DOMAIN, "event=delivered&recipient=held@dest.test", WAIT);
    assert!(delivered_to(&w, "held@dest.test"));
    // Sending works again, and the rates count afresh.
    w.e.send(DOMAIN, "again@dest.test", &[]);
    assert_eq!(reputation(&w.e)["state"], "ok");
    // Only the account key may reinstate.
    let key = w.e.sending_key(DOMAIN);
    expect_error(
        w.e.post(&format!("/v3/{DOMAIN}/reputation/reinstate"), &key)
            .send()
            .unwrap(),
        403,
        &["admin"],
    );
}

#[test]
fn under_the_minimum_sample_nobody_is_judged() {
    let w = world();
    // 3 bounces out of 10: 30 %, but fewer than min_sample (100) messages.
    batch(&w.e, "a", 7, 3);
    let start = Instant::now();
    while w.e.events(DOMAIN, "event=failed").len() + w.e.events(DOMAIN, "event=delivered").len()
        < 10
    {
        assert!(start.elapsed() < WAIT);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let r = reputation(&w.e);
    assert_eq!(r["state"], "ok", "{r}");
    assert_eq!(r["sample"], 10);
    assert!((r["rates"]["bounce"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert_eq!(r["thresholds"]["min_sample"], 100);
    w.e.send(DOMAIN, "fine@dest.test", &[]);
}

/// The copies the sink has received once there are `n`, in arrival order.
fn copies(w: &Delivering, n: usize) -> Vec<envoi_tests::sink::Received> {
    w.sink.wait_for(n, WAIT)
}

#[test]
fn complaints_over_smtp_and_one_click_unsubscribes_cross_their_thresholds_too() {
    let w = world_with(Some("bounce_domain = \"bounces.envoi.test\""));
    let inbound = w.e.inbound_port.unwrap();
    batch(&w.e, "a", 100, 0);
    let got = copies(&w, 100);
    wait_sample(&w.e, 100);
    // Complaints as real ARF reports to each message's return path:
    // 1 of 100 is over 0.8 %, 2 are over twice it.
    let complain = |r: &envoi_tests::sink::Received| complain(inbound, r);
    complain(&got[0]);
    let r = wait_state(&w.e, "warning");
    assert_eq!(r["reason"]["rate"], "complaint");
    complain(&got[1]);
    let r = wait_state(&w.e, "suspended");
    assert_eq!(r["reason"]["rate"], "complaint");
    expect_json(
        w.e.post(&format!("/v3/{DOMAIN}/reputation/reinstate"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );

    // Unsubscribes through the one-click link: counted from the
    // reinstatement on, so a fresh 100 first.
    batch(&w.e, "b", 100, 0);
    let got = copies(&w, 200);
    wait_sample(&w.e, 100);
    let unsubscribe = |r: &envoi_tests::sink::Received| {
        let url = r.unsubscribe_url();
        let resp =
            w.e.client
                .post(url)
                .body("List-Unsubscribe=One-Click")
                .send()
                .unwrap();
        assert_eq!(resp.status(), 200);
    };
    // 2 of 100 are over 1.4 %, 3 over twice it.
    for r in &got[100..102] {
        unsubscribe(r);
    }
    let r = wait_state(&w.e, "warning");
    assert_eq!(r["reason"]["rate"], "unsubscribe");
    unsubscribe(&got[102]);
    let r = wait_state(&w.e, "suspended");
    assert_eq!(r["reason"]["rate"], "unsubscribe");
}
