//! Rate limits (`[limits]`, contract §1 and §2): requests per key, messages
//! per domain, and the pace of deliveries to one destination. A limited
//! request stores nothing.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use envoi_tests::sink::Script;
use envoi_tests::world::Delivering;
use envoi_tests::*;
use serde_json::json;

const DOMAIN: &str = "a.test";

fn envoi(limits: &str) -> Envoi {
    let e = Envoi::start_with(Options {
        extra_config: format!("[limits]\n{limits}"),
        smtp_extra: "allow_plain_auth_without_tls = true\n".into(),
        ..Options::default()
    });
    e.create_domain(DOMAIN);
    e
}

fn send(e: &Envoi, key: &str) -> reqwest::blocking::Response {
    e.post(&format!("/v3/{DOMAIN}/messages"), key)
        .form(&[
            ("from", "app@a.test"),
            ("to", "someone@example.org"),
            ("text", "hello"),
        ])
        .send()
        .unwrap()
}

fn accepted(e: &Envoi) -> usize {
    e.events(DOMAIN, "event=accepted&limit=300").len()
}

#[test]
fn a_burst_over_the_per_key_limit_gets_429_and_only_the_200s_are_stored() {
    let e = Arc::new(envoi("requests_per_second_per_key = 5\n"));
    let key = e.sending_key(DOMAIN);
    let answers: Vec<_> = (0..30)
        .map(|_| {
            let (e, key) = (e.clone(), key.clone());
            thread::spawn(move || {
                let r = send(&e, &key);
                let status = r.status().as_u16();
                let h = r.headers().clone();
                let body: serde_json::Value = r.json().unwrap();
                (status, h, body)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let ok = answers.iter().filter(|(s, ..)| *s == 200).count();
    let limited: Vec<_> = answers.iter().filter(|(s, ..)| *s == 429).collect();
    assert_eq!(ok + limited.len(), 30, "only 200 and 429");
    assert!(ok >= 5, "the burst allowance is served: {ok}");
    assert!(
        limited.len() >= 15,
        "the rest is limited: {}",
        limited.len()
    );
    for (_, h, body) in &limited {
        let header = |n: &str| h.get(n).unwrap().to_str().unwrap().to_string();
        assert!(header("retry-after").parse::<u64>().unwrap() >= 1);
        assert_eq!(header("x-ratelimit-limit"), "5");
        assert_eq!(header("x-ratelimit-remaining"), "0");
        let reset: u64 = header("x-ratelimit-reset").parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(reset >= now && reset <= now + 5, "{reset} vs {now}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains("requests_per_second_per_key"), "{msg}");
    }
    assert_eq!(accepted(&e), ok, "stored messages = 200 answers");
    // Another key has its own allowance.
    let other = e.sending_key(DOMAIN);
    expect_json(send(&e, &other), 200);
}

#[test]
fn a_domain_over_its_hourly_limit_gets_429_over_http_and_451_over_smtp() {
    let e = envoi("requests_per_second_per_key = 0\nmessages_per_hour_per_domain = 3\n");
    for _ in 0..3 {
        expect_json(send(&e, ADMIN_KEY), 200);
    }
    expect_error(
        send(&e, ADMIN_KEY),
        429,
        &["messages_per_hour_per_domain", "3 per hour"],
    );
    // A batch larger than the whole allowance can never pass: it says so.
    let to: Vec<String> = (0..5).map(|i| format!("r{i}@example.org")).collect();
    expect_error(
        e.post(&format!("/v3/{DOMAIN}/messages"), ADMIN_KEY)
            .form(&[
                ("from", "app@a.test"),
                ("to", to.join(",").as_str()),
                ("text", "hello"),
            ])
            .send()
            .unwrap(),
        429,
        &["split"],
    );
    // SMTP counts against the same limit.
    let mut c = e.smtp_as_app(DOMAIN);
    let reply = c.submit(
        "app@a.test",
        "someone@example.org",
        b"From: app@a.test\r\nTo: someone@example.org\r\nSubject: hi\r\n\r\nhello\r\n",
    );
    assert!(reply.starts_with("451 4.7.1"), "{reply}");
    assert!(reply.contains("3 per hour"), "{reply}");
    assert_eq!(accepted(&e), 3, "nothing over the limit was stored");
    // Another domain has its own allowance.
    e.create_domain("b.test");
    expect_json(
        e.post("/v3/b.test/messages", ADMIN_KEY)
            .form(&[
                ("from", "app@b.test"),
                ("to", "someone@example.org"),
                ("text", "hello"),
            ])
            .send()
            .unwrap(),
        200,
    );
}

#[test]
fn deliveries_to_one_destination_keep_to_its_rate_and_connection_limit() {
    const RATE: f64 = 50.0;
    const N: usize = 200;
    let w = Delivering::start(
        Script::default(),
        "",
        Options {
            extra_config: "[limits]\nper_destination_messages_per_second = 50\nper_destination_connections = 2\n".into(),
            ..Options::default()
        },
    );
    w.e.create_domain(DOMAIN);
    // One request, 200 messages (one copy per recipient).
    let to: Vec<String> = (0..N).map(|i| format!("r{i}@dest.test")).collect();
    let vars: serde_json::Map<String, serde_json::Value> =
        to.iter().map(|a| (a.clone(), json!({}))).collect();
    expect_json(
        w.e.post(&format!("/v3/{DOMAIN}/messages"), ADMIN_KEY)
            .form(&[
                ("from", "app@a.test"),
                ("to", to.join(",").as_str()),
                ("text", "hello"),
                (
                    "recipient-variables",
                    &serde_json::Value::Object(vars).to_string(),
                ),
            ])
            .send()
            .unwrap(),
        200,
    );
    let mut got: Vec<_> = w
        .sink
        .wait_for(N, Duration::from_secs(60))
        .into_iter()
        .map(|r| r.at)
        .collect();
    got.sort();
    // At most 50 ms worth (3) go at once, then one every 20 ms.
    let burst = 3;
    let span = (got[N - 1] - got[0]).as_secs_f64();
    let least = (N - burst) as f64 / RATE;
    assert!(
        span >= least * 0.95,
        "{N} messages in {span:.2}s, faster than {RATE}/s"
    );
    // Nor faster in any one second.
    let per_second = RATE as usize + burst;
    for i in 0..N - per_second - 1 {
        let window = (got[i + per_second] - got[i]).as_secs_f64();
        assert!(
            window >= 0.95,
            "{} messages within {window:.3}s",
            per_second + 1
        );
    }
    assert!(
        w.sink.peak_connections() <= 2,
        "{}",
        w.sink.peak_connections()
    );
}

#[test]
fn sends_for_one_domain_are_limited_across_its_keys() {
    let e = envoi("requests_per_second_per_key = 0\nrequests_per_second_per_domain = 3\n");
    let (k1, k2) = (e.sending_key(DOMAIN), e.sending_key(DOMAIN));
    let answers: Vec<u16> = (0..8)
        .map(|i| {
            send(&e, if i % 2 == 0 { &k1 } else { &k2 })
                .status()
                .as_u16()
        })
        .collect();
    let ok = answers.iter().filter(|s| **s == 200).count();
    assert!((3..=4).contains(&ok), "{answers:?}");
    let r = send(&e, &k1);
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    expect_error(r, 429, &["requests_per_second_per_domain"]);
    assert_eq!(accepted(&e), ok);
}

#[test]
fn a_domain_over_its_daily_limit_gets_429() {
    let e = envoi("requests_per_second_per_key = 0\nmessages_per_day_per_domain = 2\n");
    expect_json(send(&e, ADMIN_KEY), 200);
    expect_json(send(&e, ADMIN_KEY), 200);
    expect_error(
        send(&e, ADMIN_KEY),
        429,
        &["messages_per_day_per_domain", "2 per day"],
    );
    assert_eq!(accepted(&e), 2);
}
