//! Keys and scope: 401 for a missing or wrong key, 403 for a key used outside
//! its domain or role, each a JSON message that says which key is needed.

use envoi_tests::*;

fn send(e: &Envoi, domain: &str, key: &str) -> reqwest::blocking::Response {
    e.post(&format!("/v3/{domain}/messages"), key)
        .form(&[
            ("from", &format!("a@{domain}") as &str),
            ("to", "b@example.org"),
            ("text", "x"),
        ])
        .send()
        .unwrap()
}

#[test]
fn missing_and_wrong_keys_get_401_naming_the_key_needed() {
    let e = Envoi::start();
    e.create_domain("a.test");
    let r = e.client.get(e.url("/v4/domains")).send().unwrap();
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Basic realm=\"envoi\"")
    );
    expect_error(r, 401, &["missing", "api"]);
    expect_error(
        e.get("/v4/domains", "wrong").send().unwrap(),
        401,
        &["invalid api key", "admin"],
    );
    // A well-formed but unknown key.
    let fake = format!("{}-{}", "0".repeat(32), "01234567-89abcdef");
    expect_error(send(&e, "a.test", &fake), 401, &["invalid api key"]);
}

#[test]
fn a_sending_key_sends_only_for_its_own_domain() {
    let e = Envoi::start();
    e.create_domain("a.test");
    e.create_domain("b.test");
    let key_a = e.sending_key("a.test");
    expect_json(send(&e, "a.test", &key_a), 200);
    expect_error(send(&e, "b.test", &key_a), 403, &["a.test", "b.test"]);
    // Nor can it manage anything, even on its own domain.
    expect_error(
        e.get("/v4/domains", &key_a).send().unwrap(),
        403,
        &["sending key", "admin"],
    );
    expect_error(
        e.get("/v3/a.test/events", &key_a).send().unwrap(),
        403,
        &["admin"],
    );
    expect_error(
        e.post("/v1/keys", &key_a)
            .form(&[("role", "sending"), ("domain_name", "a.test")])
            .send()
            .unwrap(),
        403,
        &["admin"],
    );
    assert!(e.events("b.test", "").is_empty());
}

#[test]
fn secrets_are_shown_once_and_keys_listed_without_them() {
    let e = Envoi::start();
    e.create_domain("a.test");
    let r = e
        .post("/v1/keys", ADMIN_KEY)
        .form(&[
            ("role", "sending"),
            ("kind", "domain"),
            ("domain_name", "a.test"),
            ("description", "ci"),
        ])
        .send()
        .unwrap();
    let created = expect_json(r, 200);
    // Both shapes: nested (OAS, mailgun-go) and flat (mailgun.js).
    assert_eq!(created["key"]["secret"], created["secret"]);
    assert_eq!(created["key"]["id"], created["id"]);
    let secret = created["secret"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    // ISO-8601 without zone, as mailgun-go requires.
    let ts = created["created_at"].as_str().unwrap();
    assert_eq!(ts.len(), 19, "{ts}");
    assert_eq!(&ts[10..11], "T");

    expect_json(send(&e, "a.test", secret), 200);
    let mut listed = serde_json::Value::Null;
    for _ in 0..50 {
        let list = expect_json(
            e.get("/v1/keys?domain_name=a.test", ADMIN_KEY)
                .send()
                .unwrap(),
            200,
        );
        listed = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap()
            .clone();
        if !listed["last_used_at"].is_null() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(listed.get("secret").is_none(), "secrets are never listed");
    assert_eq!(listed["description"], "ci");
    assert!(
        listed["last_used_at"].is_string(),
        "last_used_at shown after use: {listed}"
    );
    // The SQLite file, when that is the store (ENVOI_TEST_STORE may pick PostgreSQL).
    if let Ok(text) = std::fs::read(e.dir.join("envoi.db")) {
        assert!(
            !text.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is not stored in clear"
        );
    }
}

#[test]
fn deleted_and_expired_keys_stop_working() {
    let e = Envoi::start();
    e.create_domain("a.test");
    let key = e.sending_key("a.test");
    let id = expect_json(e.get("/v1/keys", ADMIN_KEY).send().unwrap(), 200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["domain_name"] == "a.test")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_json(
        e.delete(&format!("/v1/keys/{id}"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    expect_error(send(&e, "a.test", &key), 401, &["invalid"]);
    expect_error(
        e.delete(&format!("/v1/keys/{id}"), ADMIN_KEY)
            .send()
            .unwrap(),
        404,
        &["no key"],
    );

    let r = e
        .post("/v1/keys", ADMIN_KEY)
        .form(&[
            ("role", "sending"),
            ("kind", "domain"),
            ("domain_name", "a.test"),
            ("expiration", "1"),
        ])
        .send()
        .unwrap();
    let short = expect_json(r, 200)["secret"].as_str().unwrap().to_string();
    expect_json(send(&e, "a.test", &short), 200);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    expect_error(send(&e, "a.test", &short), 401, &["expired"]);
}

#[test]
fn key_creation_validates_its_fields() {
    let e = Envoi::start();
    expect_error(
        e.post("/v1/keys", ADMIN_KEY)
            .form(&[("kind", "domain")])
            .send()
            .unwrap(),
        400,
        &["role"],
    );
    expect_error(
        e.post("/v1/keys", ADMIN_KEY)
            .form(&[
                ("role", "sending"),
                ("kind", "domain"),
                ("domain_name", "ghost.test"),
            ])
            .send()
            .unwrap(),
        404,
        &["ghost.test"],
    );
    expect_error(
        e.post("/v1/keys", ADMIN_KEY)
            .form(&[("role", "wizard")])
            .send()
            .unwrap(),
        400,
        &["wizard"],
    );
    expect_error(
        e.delete("/v1/keys/admin", ADMIN_KEY).send().unwrap(),
        400,
        &["account key"],
    );
}

#[test]
fn an_admin_role_key_is_an_account_key() {
    let e = Envoi::start();
    let r = e
        .post("/v1/keys", ADMIN_KEY)
        .form(&[("role", "admin")])
        .send()
        .unwrap();
    let secret = expect_json(r, 200)["secret"].as_str().unwrap().to_string();
    expect_json(e.get("/v4/domains", &secret).send().unwrap(), 200);
}
