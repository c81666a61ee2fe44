//! `GET /metrics`: Prometheus' text format, scraped after real sends over
//! HTTP and SMTP to a real sink; the values move as the contract of each
//! metric says.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoi_tests::sink::Script;
use envoi_tests::smtp_client::RawSmtp;
use envoi_tests::world::Delivering;
use envoi_tests::*;

const WAIT: Duration = Duration::from_secs(30);

/// The value of the sample `series` (name and labels exactly as rendered),
/// if the scrape has it.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn scrape(e: &Envoi) -> String {
    let r = e.client.get(e.url("/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    r.text().unwrap()
}

#[test]
fn metrics_move_after_sends_over_http_and_smtp() {
    let w = Delivering::start(
        Script::refusing("nobody", "550 5.1.1 no such user"),
        "",
        Options::default(),
    );
    w.dns.publish_dkim(&w.e.create_domain("m.test"));
    let before = scrape(&w.e);
    assert_eq!(
        sample(&before, "envoi_webhook_backlog"),
        Some(0.0),
        "{before}"
    );

    w.e.send("m.test", "someone@dest.test", &[]);
    w.e.send("m.test", "nobody@dest.test", &[]);
    // Held back an hour: stays in the queue.
    let later = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    w.e.send("m.test", "later@later.test", &[("o:deliverytime", &later)]);
    // SMTP on the defaults: plaintext AUTH from loopback.
    w.e.create_credential("m.test", "app", "pass-word-1");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.cmd("EHLO client.test");
    assert!(c.login("app@m.test", "pass-word-1").starts_with("235"));
    let r = c.submit(
        "app@m.test",
        "smtp@dest.test",
        b"From: app@m.test\r\nTo: smtp@dest.test\r\nSubject: s\r\n\r\nhi\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    w.sink.wait_for(2, WAIT);
    w.e.wait_event("m.test", "event=failed", WAIT);

    let after = scrape(&w.e);
    let has = |series: &str, at_least: f64| {
        let v = sample(&after, series).unwrap_or_else(|| panic!("no {series} in:\n{after}"));
        assert!(
            v >= at_least,
            "{series} = {v}, expected at least {at_least}"
        );
    };
    has(
        "envoi_messages_accepted_total{method=\"http\",domain=\"m.test\"}",
        3.0,
    );
    has(
        "envoi_messages_accepted_total{method=\"smtp\",domain=\"m.test\"}",
        1.0,
    );
    has("envoi_messages_delivered_total{domain=\"m.test\"}", 2.0);
    has(
        "envoi_messages_failed_total{domain=\"m.test\",severity=\"permanent\",reason=\"bounce\"}",
        1.0,
    );
    has(
        "envoi_delivery_sessions_total{tls=\"none\",verified=\"false\"}",
        1.0,
    );
    has("envoi_smtp_sessions_total{listener=\"submission\"}", 1.0);
    has("envoi_dkim_signing_seconds_count", 3.0);
    has("envoi_accept_seconds_count{method=\"http\"}", 3.0);
    has("envoi_accept_seconds_count{method=\"smtp\"}", 1.0);
    has("envoi_delivery_latency_seconds_count", 2.0);
    has("envoi_store_commit_seconds_count", 1.0);
    has("envoi_deliveries_in_flight", 0.0);
    has("envoi_queue_recipients{destination=\"later.test\"}", 1.0);
    has(
        "envoi_queue_oldest_seconds{destination=\"later.test\"}",
        0.0,
    );
    assert_eq!(
        sample(
            &after,
            "envoi_domain_reputation{domain=\"m.test\",state=\"ok\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            "envoi_domain_reputation{domain=\"m.test\",state=\"suspended\"}"
        ),
        Some(0.0)
    );
    // Described, typed and named by the conventions.
    for line in after.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split_whitespace().skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(name.starts_with("envoi_"), "{line}");
        assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
    }
    assert!(after.contains("# HELP envoi_messages_delivered_total "));
}

#[test]
fn metrics_need_the_account_key_when_access_says_so() {
    let e = Envoi::start_with(Options {
        extra_config: "[metrics]\naccess = \"account_key\"\n".into(),
        ..Options::default()
    });
    let r = e.client.get(e.url("/metrics")).send().unwrap();
    expect_error(r, 401, &["/metrics needs the account (admin) key"]);
    let r = e.get("/metrics", ADMIN_KEY).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("envoi_webhook_backlog 0"));
}

#[test]
fn a_request_forwarded_by_a_local_proxy_needs_the_key() {
    let e = Envoi::start();
    // From loopback, as a reverse proxy on the same machine connects.
    let r = e
        .client
        .get(e.url("/metrics"))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .unwrap();
    expect_error(r, 401, &["/metrics needs the account (admin) key"]);
    let r = e
        .get("/metrics", ADMIN_KEY)
        .header("Forwarded", "for=203.0.113.9")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn metrics_can_be_turned_off() {
    let e = Envoi::start_with(Options {
        extra_config: "[metrics]\naccess = \"off\"\n".into(),
        ..Options::default()
    });
    let r = e.get("/metrics", ADMIN_KEY).send().unwrap();
    expect_error(r, 404, &["metrics are off"]);
}
