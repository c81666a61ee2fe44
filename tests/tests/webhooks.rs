//! Webhooks (contract §2, Mailgun's shape) against the real binary, a real
//! sink and a real HTTP receiver: every call is signed with the account's
//! signing key, failed calls are retried with backoff, a 406 stops them, and
//! a call owed before a crash is still made.

use std::time::{Duration, Instant};

use envoi_tests::sink::{Received, Script};
use envoi_tests::smtp_client::complain;
use envoi_tests::webhook_receiver::{verify, WebhookReceiver};
use envoi_tests::world::Delivering;
use envoi_tests::*;
use serde_json::{json, Value};

const DOMAIN: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(60);

/// A sink that refuses "bad*" for good and "later*" for now; with
/// `inbound`, a bounce and complaint listener (`e.inbound_port`).
fn world(inbound: bool, extra: &str) -> Delivering {
    let w = Delivering::start(
        Script {
            rcpt: Some(Box::new(|addr: &str| {
                if addr.starts_with("bad") {
                    Some("550 5.1.1 no such user".to_string())
                } else if addr.starts_with("later") {
                    Some("451 4.2.0 mailbox busy, try later".to_string())
                } else {
                    None
                }
            })),
            ..Script::default()
        },
        "",
        Options {
            extra_config: format!(
                "[limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\n\
                 [webhooks]\nretry_schedule = [\"1s\", \"2s\"]\ntimeout = \"2s\"\n{extra}"
            ),
            inbound: inbound.then(|| "bounce_domain = \"bounces.envoi.test\"".to_string()),
            ..Options::default()
        },
    );
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    w
}

fn set_webhook(e: &Envoi, id: &str, urls: &[String]) -> Value {
    let mut form: Vec<(&str, &str)> = vec![("id", id)];
    for u in urls {
        form.push(("url", u));
    }
    expect_json(
        e.post(&format!("/v3/domains/{DOMAIN}/webhooks"), ADMIN_KEY)
            .form(&form)
            .send()
            .unwrap(),
        200,
    )
}

fn signing_key(e: &Envoi) -> String {
    let r = expect_json(
        e.get("/v5/accounts/http_signing_key", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    r["http_signing_key"].as_str().unwrap().to_string()
}

fn received_by(w: &Delivering, address: &str) -> Received {
    let start = Instant::now();
    loop {
        if let Some(r) = w
            .sink
            .received()
            .into_iter()
            .find(|r| r.rcpt_to.iter().any(|a| a == address))
        {
            return r;
        }
        assert!(start.elapsed() < WAIT, "{address} never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_webhook_receiver_verifies_every_signature() {
    let w = world(true, "");
    let inbound = w.e.inbound_port.unwrap();
    let hooks = WebhookReceiver::start();
    for id in [
        "accepted",
        "delivered",
        "permanent_fail",
        "temporary_fail",
        "complained",
        "unsubscribed",
    ] {
        let r = set_webhook(&w.e, id, &[hooks.url(id)]);
        assert_eq!(r["message"], "Webhook has been created");
        assert_eq!(r["webhook"]["urls"], json!([hooks.url(id)]));
    }

    w.e.send(DOMAIN, "ok@dest.test", &[]);
    w.e.send(DOMAIN, "bad@dest.test", &[]);
    w.e.send(DOMAIN, "later@dest.test", &[]);
    let got = received_by(&w, "ok@dest.test");
    // The recipient unsubscribes with the one-click link, then complains.
    let resp =
        w.e.client
            .post(got.unsubscribe_url())
            .body("List-Unsubscribe=One-Click")
            .send()
            .unwrap();
    assert_eq!(resp.status(), 200);
    complain(inbound, &got);

    let key = signing_key(&w.e);
    assert!(key.starts_with("key-"), "{key}");
    let expect = [
        ("accepted", 3, "accepted"),
        ("delivered", 1, "delivered"),
        ("permanent_fail", 1, "failed"),
        ("temporary_fail", 1, "failed"),
        ("unsubscribed", 1, "unsubscribed"),
        ("complained", 1, "complained"),
    ];
    for (hook, n, event) in expect {
        for c in hooks.wait_for(hook, n, WAIT) {
            assert!(c.signed_with(&key), "{hook}: bad signature {}", c.body);
            assert_eq!(c.event(), event, "{}", c.body);
            let sig = &c.body["signature"];
            assert_eq!(sig["token"].as_str().unwrap().len(), 50);
            let ts: u64 = sig["timestamp"].as_str().unwrap().parse().unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(ts <= now && now - ts < 120, "timestamp {ts}");
        }
    }
    let data = |hook: &str| hooks.calls_to(hook)[0].body["event-data"].clone();
    assert_eq!(data("delivered")["recipient"], "ok@dest.test");
    assert_eq!(data("delivered")["delivery-status"]["code"], 250);
    assert_eq!(data("permanent_fail")["recipient"], "bad@dest.test");
    assert_eq!(data("permanent_fail")["severity"], "permanent");
    assert_eq!(data("permanent_fail")["delivery-status"]["code"], 550);
    assert_eq!(data("temporary_fail")["recipient"], "later@dest.test");
    assert_eq!(data("temporary_fail")["severity"], "temporary");
    assert_eq!(data("unsubscribed")["recipient"], "ok@dest.test");
    assert_eq!(data("complained")["recipient"], "ok@dest.test");
    // The event is the one the events API shows.
    let id = data("delivered")["id"].as_str().unwrap().to_string();
    let listed = w.e.events(DOMAIN, "event=delivered");
    assert!(listed.iter().any(|e| e["id"] == id.as_str()));

    // Tokens are fresh per call, and an altered call does not verify.
    let calls = hooks.calls();
    let mut tokens: Vec<&str> = calls
        .iter()
        .map(|c| c.body["signature"]["token"].as_str().unwrap())
        .collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), calls.len());
    let mut forged = calls[0].body.clone();
    forged["signature"]["timestamp"] = json!("1000000000");
    assert!(!verify(&key, &forged));
    assert!(!verify("key-not-the-right-one", &calls[0].body));
}

#[test]
fn failed_calls_are_retried_with_backoff_and_a_406_stops_them() {
    let w = world(false, "");
    let hooks = WebhookReceiver::start();
    hooks.answer("flaky", &[500, 503]);
    hooks.answer("refuses", &[406]);
    set_webhook(
        &w.e,
        "delivered",
        &[hooks.url("flaky"), hooks.url("refuses")],
    );
    w.e.send(DOMAIN, "ok@dest.test", &[]);

    let calls = hooks.wait_for("flaky", 3, WAIT);
    let key = signing_key(&w.e);
    assert!(calls.iter().all(|c| c.signed_with(&key)));
    // The schedule is 1 s, then 2 s.
    let first = calls[1].at - calls[0].at;
    let second = calls[2].at - calls[1].at;
    assert!(first >= Duration::from_millis(900), "{first:?}");
    assert!(second >= Duration::from_millis(1900), "{second:?}");
    assert_ne!(
        calls[0].body["signature"]["token"],
        calls[1].body["signature"]["token"]
    );
    // Same event each time.
    assert_eq!(
        calls[0].body["event-data"]["id"],
        calls[2].body["event-data"]["id"]
    );
    // 406: once, never again; and a success is not repeated either.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(hooks.calls_to("refuses").len(), 1);
    assert_eq!(hooks.calls_to("flaky").len(), 3);
}

#[test]
fn a_receiver_that_keeps_failing_is_given_up_after_the_schedule() {
    let w = world(false, "");
    let hooks = WebhookReceiver::start();
    hooks.answer("down", &[500, 500, 500, 500, 500]);
    set_webhook(&w.e, "delivered", &[hooks.url("down")]);
    w.e.send(DOMAIN, "ok@dest.test", &[]);
    // The first call and one per retry of the schedule (2), then no more.
    hooks.wait_for("down", 3, WAIT);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(hooks.calls_to("down").len(), 3);
    assert!(
        w.e.stderr().contains("webhook given up"),
        "{}",
        w.e.log_tail()
    );
}

#[test]
fn a_call_owed_before_a_crash_is_made_after_the_restart() {
    // Retries far apart: the call is still owed when envoi is killed.
    let mut w = world(false, "");
    let hooks = WebhookReceiver::start();
    hooks.answer("later", &[503]);
    set_webhook(&w.e, "delivered", &[hooks.url("later")]);
    expect_json(
        w.e.put(
            &format!("/v3/domains/{DOMAIN}/webhooks/delivered"),
            ADMIN_KEY,
        )
        .form(&[("url", hooks.url("later"))])
        .send()
        .unwrap(),
        200,
    );
    w.e.send(DOMAIN, "ok@dest.test", &[]);
    hooks.wait_for("later", 1, WAIT);
    w.e.kill9();
    w.e.restart();
    // The retry comes from the store, 1 s after the failure.
    let calls = hooks.wait_for("later", 2, WAIT);
    assert_eq!(
        calls[0].body["event-data"]["id"],
        calls[1].body["event-data"]["id"]
    );
    assert!(calls[1].signed_with(&signing_key(&w.e)));
}

#[test]
fn a_regenerated_signing_key_signs_the_calls_made_after_it() {
    let w = world(false, "");
    let hooks = WebhookReceiver::start();
    set_webhook(&w.e, "delivered", &[hooks.url("delivered")]);
    let old = signing_key(&w.e);
    assert_eq!(signing_key(&w.e), old, "stable until regenerated");
    let r = expect_json(
        w.e.post("/v5/accounts/http_signing_key", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(r["message"], "regenerated HTTP signing key for account");
    let new = r["http_signing_key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(signing_key(&w.e), new);
    w.e.send(DOMAIN, "ok@dest.test", &[]);
    let c = &hooks.wait_for("delivered", 1, WAIT)[0];
    assert!(c.signed_with(&new));
    assert!(!c.signed_with(&old));
    // Only the account key sees or changes it.
    let sending = w.e.sending_key(DOMAIN);
    expect_error(
        w.e.get("/v5/accounts/http_signing_key", &sending)
            .send()
            .unwrap(),
        403,
        &["admin"],
    );
    // The regeneration is in the audit trail, without the key.
    let audit = expect_json(w.e.get("/v1/audit", ADMIN_KEY).send().unwrap(), 200);
    let text = audit.to_string();
    assert!(text.contains("http_signing_key.regenerated"), "{text}");
    assert!(!text.contains(&new));
}

#[test]
fn a_domain_crossing_a_threshold_sends_a_warning_webhook() {
    let w = world(false, "[policy]\nmin_sample = 10\n");
    let hooks = WebhookReceiver::start();
    set_webhook(&w.e, "warning", &[hooks.url("warning")]);
    // 1 hard bounce in 15: 6.7 %, over 5 % but under twice it.
    for i in 0..14 {
        w.e.send(DOMAIN, &format!("ok{i}@dest.test"), &[]);
    }
    w.e.send(DOMAIN, "bad@dest.test", &[]);
    let c = &hooks.wait_for("warning", 1, WAIT)[0];
    assert!(c.signed_with(&signing_key(&w.e)));
    let data = &c.body["event-data"];
    assert_eq!(data["event"], "warning", "{data}");
    assert_eq!(data["state"], "warning");
    assert_eq!(data["reason"]["rate"], "bounce");
    assert_eq!(data["reason"]["threshold"], 0.05);
    assert_eq!(data["domain"]["name"], DOMAIN);
    // The event is in the log too.
    let events = w.e.events(DOMAIN, "event=warning");
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn the_webhooks_api_has_mailgun_shapes_and_clear_errors() {
    let e = Envoi::start();
    e.create_domain(DOMAIN);
    let path = format!("/v3/domains/{DOMAIN}/webhooks");
    let a = "https://hooks.example.com/a".to_string();
    let b = "https://hooks.example.com/b".to_string();
    let r = set_webhook(&e, "delivered", std::slice::from_ref(&a));
    assert_eq!(r["webhook"]["urls"], json!([a]));
    // Creating it again is refused: PUT changes it.
    expect_error(
        e.post(&path, ADMIN_KEY)
            .form(&[("id", "delivered"), ("url", &b)])
            .send()
            .unwrap(),
        409,
        &["already exists", "PUT"],
    );
    let list = expect_json(e.get(&path, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(list, json!({"webhooks": {"delivered": {"urls": [a]}}}));
    let r = expect_json(
        e.put(&format!("{path}/delivered"), ADMIN_KEY)
            .form(&[("url", &a), ("url", &b)])
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(r["message"], "Webhook has been updated");
    let one = expect_json(
        e.get(&format!("{path}/delivered"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(one, json!({"webhook": {"urls": [a, b]}}));

    // Bad input: each names what to fix.
    expect_error(
        e.post(&path, ADMIN_KEY)
            .form(&[("id", "opened"), ("url", &a)])
            .send()
            .unwrap(),
        400,
        &["not a webhook id", "permanent_fail"],
    );
    expect_error(
        e.post(&path, ADMIN_KEY)
            .form(&[("id", "complained"), ("url", "not a url")])
            .send()
            .unwrap(),
        400,
        &["not a valid url"],
    );
    expect_error(
        e.post(&path, ADMIN_KEY)
            .form(&[("id", "complained"), ("url", "ftp://hooks.example.com/")])
            .send()
            .unwrap(),
        400,
        &["http://", "https://"],
    );
    expect_error(
        e.post(&path, ADMIN_KEY)
            .form(&[("id", "complained")])
            .send()
            .unwrap(),
        400,
        &["url parameter is missing"],
    );
    let four: Vec<(&str, String)> = (0..4)
        .map(|i| ("url", format!("https://hooks.example.com/{i}")))
        .collect();
    let mut form = vec![("id", "complained".to_string())];
    form.extend(four);
    expect_error(
        e.post(&path, ADMIN_KEY).form(&form).send().unwrap(),
        400,
        &["at most 3"],
    );
    expect_error(
        e.get(&format!("{path}/complained"), ADMIN_KEY)
            .send()
            .unwrap(),
        404,
        &["not set", "POST"],
    );
    expect_error(
        e.get("/v3/domains/nope.test/webhooks", ADMIN_KEY)
            .send()
            .unwrap(),
        404,
        &["nope.test"],
    );
    let sending = e.sending_key(DOMAIN);
    expect_error(e.get(&path, &sending).send().unwrap(), 403, &["admin"]);

    let r = expect_json(
        e.delete(&format!("{path}/delivered"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(r["message"], "Webhook has been deleted");
    assert_eq!(r["webhook"]["urls"], json!([a, b]));
    let list = expect_json(e.get(&path, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(list, json!({"webhooks": {}}));
}
