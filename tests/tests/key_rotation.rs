//! Rotating keys without downtime (contract §2, "Keys and SMTP credentials"):
//! API keys, the account key and SMTP passwords get a new secret while the old
//! one works through a grace period; every change is in the audit trail.

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use envoi_tests::smtp_client::RawSmtp;
use envoi_tests::*;
use reqwest::blocking::Response;
use serde_json::Value;

const DOMAIN: &str = "a.test";

/// Unlimited requests: these tests send as fast as they can.
fn envoi() -> Envoi {
    let e = Envoi::start_with(Options {
        extra_config: "[limits]\nrequests_per_second_per_key = 0\n".into(),
        smtp_extra: "allow_plain_auth_without_tls = true\n".into(),
        ..Options::default()
    });
    e.create_domain(DOMAIN);
    e
}

fn send(e: &Envoi, key: &str) -> Response {
    e.post(&format!("/v3/{DOMAIN}/messages"), key)
        .form(&[
            ("from", "app@a.test"),
            ("to", "someone@example.org"),
            ("text", "hello"),
        ])
        .send()
        .unwrap()
}

/// A sending key of DOMAIN: (id, secret).
fn new_key(e: &Envoi) -> (String, String) {
    let k = expect_json(
        e.post("/v1/keys", ADMIN_KEY)
            .form(&[("role", "sending"), ("domain_name", DOMAIN)])
            .send()
            .unwrap(),
        200,
    );
    (
        k["id"].as_str().unwrap().into(),
        k["secret"].as_str().unwrap().into(),
    )
}

fn rotate(e: &Envoi, id: &str, grace: &str) -> Value {
    expect_json(
        e.post(&format!("/v1/keys/{id}/rotate"), ADMIN_KEY)
            .form(&[("grace", grace)])
            .send()
            .unwrap(),
        200,
    )
}

/// What one sending loop saw: (when sent, since the rotation answered; status; id).
type Seen = Vec<(f64, u16, Option<String>)>;

fn sending_loop(e: Arc<Envoi>, key: String, zero: Instant, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let at = zero.elapsed().as_secs_f64();
        let r = send(&e, &key);
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap();
        seen.push((at, status, body["id"].as_str().map(str::to_string)));
        if status == 401 {
            assert!(
                body["message"].as_str().unwrap().contains("rotated"),
                "{body}"
            );
        }
    }
    seen
}

fn accepted_ids(e: &Envoi) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = format!("/v3/{DOMAIN}/events?event=accepted&limit=300");
    loop {
        let page = expect_json(e.get(&url, ADMIN_KEY).send().unwrap(), 200);
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            return ids;
        }
        ids.extend(items.iter().map(|i| {
            format!(
                "<{}>",
                i["message"]["headers"]["message-id"].as_str().unwrap()
            )
        }));
        let next = page["paging"]["next"].as_str().unwrap();
        url = next[next.find("/v3/").unwrap()..].to_string();
    }
}

#[test]
fn rotating_with_a_grace_drops_no_request_and_loses_no_message() {
    // A 3 s grace: the old key's loop runs before, during and after it.
    let e = Arc::new(envoi());
    let (id, old) = new_key(&e);
    let stop = Arc::new(AtomicBool::new(false));
    // The zero of both loops is when the rotation answered; the old key's
    // loop starts before it.
    let zero = Instant::now();
    let old_loop = {
        let (e, stop) = (e.clone(), stop.clone());
        thread::spawn(move || sending_loop(e, old, zero, stop))
    };
    thread::sleep(Duration::from_millis(500));
    let asked = zero.elapsed().as_secs_f64();
    let rotated = rotate(&e, &id, "3s");
    let answered = zero.elapsed().as_secs_f64();
    assert_eq!(rotated["id"], id.as_str(), "the key keeps its id");
    assert_eq!(rotated["key"]["id"], id.as_str());
    let new = rotated["secret"].as_str().unwrap().to_string();
    let new_loop = {
        let (e, stop, new) = (e.clone(), stop.clone(), new.clone());
        thread::spawn(move || sending_loop(e, new, zero, stop))
    };
    thread::sleep(Duration::from_secs_f64(answered + 4.5) - zero.elapsed());
    stop.store(true, Ordering::SeqCst);
    let old_seen = old_loop.join().unwrap();
    let new_seen = new_loop.join().unwrap();

    // The old key: every request sent well before the grace could end
    // succeeded (a second of margin for a loaded machine); every request
    // sent after it had surely ended got 401.
    for (at, status, _) in &old_seen {
        if *at < asked + 2.0 {
            assert_eq!(
                *status, 200,
                "old key refused at {at:.3}s, within its grace"
            );
        } else if *at > answered + 3.0 {
            assert_eq!(
                *status, 401,
                "old key accepted at {at:.3}s, after its grace"
            );
        }
    }
    assert!(old_seen
        .iter()
        .any(|(at, s, _)| *at > answered + 3.0 && *s == 401));
    // The new key works throughout.
    assert!(!new_seen.is_empty());
    assert!(new_seen.iter().all(|(_, s, _)| *s == 200), "{new_seen:?}");

    // Every 200 is one stored message, once.
    let answered_ids: Vec<String> = old_seen
        .iter()
        .chain(&new_seen)
        .filter(|(_, s, _)| *s == 200)
        .map(|(_, _, id)| id.clone().unwrap())
        .collect();
    let stored = accepted_ids(&e);
    assert_eq!(
        stored.len(),
        answered_ids.len(),
        "one accepted event per 200"
    );
    let stored: HashSet<String> = stored.into_iter().collect();
    let answered_set: HashSet<String> = answered_ids.iter().cloned().collect();
    assert_eq!(answered_set.len(), answered_ids.len(), "no duplicate id");
    assert_eq!(stored, answered_set);
}

#[test]
fn rotating_with_zero_grace_stops_the_old_secret_at_once() {
    let e = envoi();
    let (id, old) = new_key(&e);
    expect_json(send(&e, &old), 200);
    let new = rotate(&e, &id, "0s")["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let msg = expect_error(send(&e, &old), 401, &["rotated", &id]);
    assert!(msg.contains(&format!("/v1/keys/{id}/rotate")), "{msg}");
    expect_json(send(&e, &new), 200);
    // The listing shows the rotation, never a secret.
    let list = expect_json(e.get("/v1/keys", ADMIN_KEY).send().unwrap(), 200);
    let text = list.to_string();
    assert!(!text.contains(&new) && !text.contains(&old));
    let k = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert!(k["rotated_at"].is_string());
    assert!(k["last_used_at"].is_string());
}

#[test]
fn a_rotation_needs_a_valid_grace_and_an_existing_key() {
    let e = envoi();
    let (id, _) = new_key(&e);
    expect_error(
        e.post(&format!("/v1/keys/{id}/rotate"), ADMIN_KEY)
            .form(&[("grace", "soon")])
            .send()
            .unwrap(),
        400,
        &["grace", "24h"],
    );
    expect_error(
        e.post("/v1/keys/00000000-00000000/rotate", ADMIN_KEY)
            .send()
            .unwrap(),
        404,
        &["no key"],
    );
    // The default grace is a day.
    let k = rotate_default(&e, &id);
    let until = k["previous_secret_valid_until"].as_str().unwrap();
    assert!(until > k["rotated_at"].as_str().unwrap());
}

fn rotate_default(e: &Envoi, id: &str) -> Value {
    expect_json(
        e.post(&format!("/v1/keys/{id}/rotate"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )
}

#[test]
fn a_key_created_with_expires_in_stops_working_then() {
    let e = envoi();
    let k = expect_json(
        e.post("/v1/keys", ADMIN_KEY)
            .form(&[
                ("role", "sending"),
                ("domain_name", DOMAIN),
                ("description", "ci deploys"),
                ("expires_in", "1s"),
            ])
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(k["description"], "ci deploys");
    assert_eq!(k["role"], "sending");
    assert!(k["expires_at"].is_string());
    let secret = k["secret"].as_str().unwrap();
    expect_json(send(&e, secret), 200);
    thread::sleep(Duration::from_millis(1200));
    expect_error(send(&e, secret), 401, &["expired"]);
}

#[test]
fn the_account_key_rotates_from_the_cli_and_a_stale_environment_does_not_bring_it_back() {
    let mut e = envoi();
    let out = Command::new(envoi_bin())
        .args(["rotate-admin-key", "--grace", "0s", "--config"])
        .arg(&e.config_path)
        .current_dir(&e.dir)
        .env_remove("ENVOI_ADMIN_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(new.len() >= 32, "{new:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ENVOI_ADMIN_KEY"));
    // The running node sees it at once.
    expect_error(
        e.get("/v4/domains", ADMIN_KEY).send().unwrap(),
        401,
        &["rotated"],
    );
    expect_json(e.get("/v4/domains", &new).send().unwrap(), 200);
    // A restart with the old key still in ENVOI_ADMIN_KEY keeps the new one.
    e.restart();
    expect_error(
        e.get("/v4/domains", ADMIN_KEY).send().unwrap(),
        401,
        &["rotated"],
    );
    expect_json(e.get("/v4/domains", &new).send().unwrap(), 200);
    assert!(e.stderr().contains("rotated away"));
    // Over HTTP too, with the new key.
    let again = expect_json(
        e.post("/v1/keys/admin/rotate", &new)
            .form(&[("grace", "1h")])
            .send()
            .unwrap(),
        200,
    );
    let newest = again["secret"].as_str().unwrap();
    expect_json(e.get("/v4/domains", newest).send().unwrap(), 200);
    expect_json(e.get("/v4/domains", &new).send().unwrap(), 200);
}

#[test]
fn an_smtp_password_change_keeps_the_old_password_through_its_grace() {
    let e = envoi();
    let path = format!("/v3/domains/{DOMAIN}/credentials");
    expect_json(
        e.post(&path, ADMIN_KEY)
            .form(&[("login", "app"), ("password", "old-password")])
            .send()
            .unwrap(),
        200,
    );
    let changed = expect_json(
        e.put(&format!("{path}/app"), ADMIN_KEY)
            .form(&[("password", "new-password"), ("grace", "2s")])
            .send()
            .unwrap(),
        200,
    );
    assert!(changed["previous_password_valid_until"].is_string());
    let last_used = || e.items(&path)[0]["last_used_at"].clone();
    assert!(last_used().is_null(), "no login yet");
    let login = |password: &str| {
        let (mut c, _) = RawSmtp::connect(e.smtp_port);
        c.login("app@a.test", password)
    };
    assert!(login("old-password").starts_with("235"));
    assert!(
        last_used().is_string(),
        "a login is recorded as the last use"
    );
    assert!(login("new-password").starts_with("235"));
    thread::sleep(Duration::from_millis(2200));
    assert!(login("old-password").starts_with("535"));
    assert!(login("new-password").starts_with("235"));
}

#[test]
fn every_key_change_is_audited_with_who_and_never_a_secret() {
    let e = envoi();
    let (id, secret) = new_key(&e);
    let new = rotate(&e, &id, "0s")["secret"]
        .as_str()
        .unwrap()
        .to_string();
    expect_json(
        e.delete(&format!("/v1/keys/{id}"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    expect_error(send(&e, &new), 401, &["invalid"]);
    e.create_credential(DOMAIN, "app", "pass-word-1");
    let trail = expect_json(e.get("/v1/audit", ADMIN_KEY).send().unwrap(), 200);
    let text = trail.to_string();
    for s in [&secret, &new, "pass-word-1", ADMIN_KEY] {
        assert!(!text.contains(s), "a secret is in the audit trail: {text}");
    }
    let items = trail["items"].as_array().unwrap();
    let actions: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["action"].as_str().unwrap(), i["target"].as_str().unwrap()))
        .collect();
    // Newest first.
    let expected = [
        ("credential.created", "app@a.test"),
        ("key.deleted", id.as_str()),
        ("key.rotated", id.as_str()),
        ("key.created", id.as_str()),
    ];
    assert_eq!(&actions[..4], &expected, "{text}");
    for i in &items[..4] {
        assert_eq!(i["actor"], "admin");
        assert!(i["at"].is_string());
    }
    assert_eq!(items[0]["domain"], DOMAIN);
    assert_eq!(items[2]["detail"], "grace 0s");
    // DKIM keys are keys too: the one made with the domain is there.
    assert!(
        items
            .iter()
            .any(|i| i["action"] == "dkim_key.created" && i["domain"] == DOMAIN),
        "{text}"
    );
    // Only the account key reads it.
    let (_, sending) = new_key(&e);
    expect_error(
        e.get("/v1/audit", &sending).send().unwrap(),
        403,
        &["admin"],
    );
}
