//! `GET /v3/{domain}/stats/total` (Mailgun's shape) against the real binary
//! and a real sink: the counts match what happened to the messages.

use std::time::{Duration, Instant};

use envoi_tests::sink::Script;
use envoi_tests::world::Delivering;
use envoi_tests::*;
use serde_json::Value;

const DOMAIN: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(60);

fn world() -> Delivering {
    let w = Delivering::start(
        Script::refusing("bad", "550 5.1.1 no such user"),
        "",
        Options {
            smtp_extra: "allow_plain_auth_without_tls = true\n".into(),
            ..Options::default()
        },
    );
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    w
}

fn stats(e: &Envoi, query: &str) -> Value {
    expect_json(
        e.get(&format!("/v3/{DOMAIN}/stats/total?{query}"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )
}

/// The sum of a counter over every bucket (the test may straddle midnight).
fn sum(s: &Value, path: &[&str]) -> i64 {
    s["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            path.iter()
                .fold(b, |v, k| &v[*k])
                .as_i64()
                .unwrap_or_else(|| panic!("{path:?} missing in {b}"))
        })
        .sum()
}

fn wait_outcomes(e: &Envoi, n: usize) {
    let start = Instant::now();
    while e.events(DOMAIN, "event=delivered").len() + e.events(DOMAIN, "event=failed").len() < n {
        assert!(start.elapsed() < WAIT, "outcomes never reached {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stats_total_counts_what_happened_in_mailguns_shape() {
    let w = world();
    let e = &w.e;
    e.send(DOMAIN, "a@dest.test", &[]);
    e.send(DOMAIN, "b@dest.test", &[]);
    e.send(DOMAIN, "bad@dest.test", &[]);
    // One over SMTP, for the delivered split.
    let mut c = e.smtp_as_app(DOMAIN);
    let reply = c.submit(
        "app@shop.test",
        "c@dest.test",
        b"From: app@shop.test\r\nTo: c@dest.test\r\nSubject: hi\r\n\r\nhello\r\n",
    );
    assert!(reply.starts_with("250"), "{reply}");
    wait_outcomes(e, 4);
    // The bounced address is suppressed now: the next send to it fails so.
    e.send(DOMAIN, "bad@dest.test", &[]);
    wait_outcomes(e, 5);

    let s = stats(
        e,
        "event=accepted&event=delivered&event=failed&event=complained&event=unsubscribed",
    );
    assert_eq!(s["resolution"], "day");
    assert!(s["description"].as_str().unwrap().contains(DOMAIN));
    // Seven days back by default, one bucket per day (8 with today's).
    assert_eq!(s["stats"].as_array().unwrap().len(), 8, "{s}");
    assert!(
        s["start"].as_str().unwrap().ends_with("00:00:00 UTC"),
        "{s}"
    );
    let first = &s["stats"][0];
    assert!(first["time"].as_str().unwrap().ends_with("00:00:00 UTC"));
    assert!(first.get("opened").is_none(), "only what was asked for");
    assert_eq!(sum(&s, &["accepted", "total"]), 5);
    assert_eq!(sum(&s, &["accepted", "outgoing"]), 5);
    assert_eq!(sum(&s, &["delivered", "total"]), 3);
    assert_eq!(sum(&s, &["delivered", "http"]), 2);
    assert_eq!(sum(&s, &["delivered", "smtp"]), 1);
    assert_eq!(sum(&s, &["failed", "permanent", "bounce"]), 1);
    assert_eq!(sum(&s, &["failed", "permanent", "suppress-bounce"]), 1);
    assert_eq!(sum(&s, &["failed", "permanent", "total"]), 2);
    assert_eq!(sum(&s, &["failed", "temporary", "total"]), 0);
    assert_eq!(sum(&s, &["complained", "total"]), 0);
    assert_eq!(sum(&s, &["unsubscribed", "total"]), 0);

    // By the hour over the last day; by the month with a duration.
    let h = stats(e, "event=delivered&resolution=hour&duration=24h");
    assert_eq!(h["resolution"], "hour");
    assert_eq!(h["stats"].as_array().unwrap().len(), 25, "{h}");
    assert_eq!(sum(&h, &["delivered", "total"]), 3);
    let m = stats(
        e,
        "event=delivered&event=opened&resolution=month&duration=1m",
    );
    let months = m["stats"].as_array().unwrap().len();
    assert!((1..=2).contains(&months), "{m}");
    assert_eq!(sum(&m, &["delivered", "total"]), 3);
    assert_eq!(sum(&m, &["opened", "total"]), 0);
    // A window that ended before anything was sent counts nothing.
    let before = stats(e, "event=accepted&start=1000000000&end=1000086400");
    assert_eq!(sum(&before, &["accepted", "total"]), 0);
}

#[test]
fn stats_total_refuses_bad_parameters_clearly() {
    let e = Envoi::start();
    e.create_domain(DOMAIN);
    let bad = |query: &str, needles: &[&str]| {
        expect_error(
            e.get(&format!("/v3/{DOMAIN}/stats/total?{query}"), ADMIN_KEY)
                .send()
                .unwrap(),
            400,
            needles,
        );
    };
    bad("", &["event parameter is missing", "delivered"]);
    bad("event=bounced", &["not a stats event"]);
    bad(
        "event=accepted&resolution=week",
        &["resolution", "hour, day, month"],
    );
    bad("event=accepted&duration=3w", &["duration", "7d"]);
    bad("event=accepted&start=yesterday", &["start", "RFC 2822"]);
    bad(
        "event=accepted&start=1700000000&end=1600000000",
        &["start is after end"],
    );
    bad(
        "event=accepted&resolution=hour&start=1000000000",
        &["too many", "coarser"],
    );
    let sending = e.sending_key(DOMAIN);
    expect_error(
        e.get(
            &format!("/v3/{DOMAIN}/stats/total?event=accepted"),
            &sending,
        )
        .send()
        .unwrap(),
        403,
        &["admin"],
    );
    expect_error(
        e.get("/v3/nope.test/stats/total?event=accepted", ADMIN_KEY)
            .send()
            .unwrap(),
        404,
        &["nope.test"],
    );
}
