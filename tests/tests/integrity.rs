//! Integrity at start-up and in queries (issue 17): a serve that cannot
//! start changes nothing in the store; a node with another master key is
//! refused, naming the key the store expects; search terms match literally
//! and page tokens cannot be forged, on SQLite and PostgreSQL alike.

use std::process::{Command, Stdio};

use envoi_tests::*;

/// Runs a second `envoi serve` on `config` with `admin_key`; it must fail.
/// Returns its stderr.
fn failing_serve(e: &Envoi, config: &str, admin_key: &str) -> String {
    let path = e.dir.join("second.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(envoi_bin())
        .current_dir(&e.dir)
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("ENVOI_MASTER_KEY")
        .env("ENVOI_ADMIN_KEY", admin_key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the second serve started");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn admin_key_works(e: &Envoi, key: &str) -> bool {
    e.get("/v4/domains", key).send().unwrap().status().as_u16() == 200
}

#[test]
fn a_serve_that_cannot_bind_its_port_changes_nothing_in_the_store() {
    serve_that_cannot_bind_changes_nothing(&Envoi::start());
}

#[test]
fn a_serve_that_cannot_bind_its_port_changes_nothing_on_postgresql() {
    let Some(url) = postgres_store() else { return };
    serve_that_cannot_bind_changes_nothing(&Envoi::start_with(Options {
        store_url: Some(url),
        ..Options::default()
    }));
}

fn serve_that_cannot_bind_changes_nothing(e: &Envoi) {
    let config = std::fs::read_to_string(&e.config_path).unwrap();
    let log = failing_serve(e, &config, "an-intruders-admin-key-000");
    assert!(log.contains("cannot listen"), "{log}");
    assert!(
        admin_key_works(e, ADMIN_KEY),
        "the running node's key was replaced"
    );
    assert!(!admin_key_works(e, "an-intruders-admin-key-000"));
}

#[test]
fn a_serve_with_a_bad_certificate_changes_nothing_in_the_store() {
    let e = Envoi::start();
    let config = std::fs::read_to_string(&e.config_path)
        .unwrap()
        .replace(&format!("127.0.0.1:{}", e.port), &format!("127.0.0.1:{}", free_port()))
        .replace(
            &format!("127.0.0.1:{}\"", e.smtp_port),
            &format!(
                "127.0.0.1:{}\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"",
                free_port()
            ),
        );
    let log = failing_serve(&e, &config, "an-intruders-admin-key-000");
    assert!(log.contains("cert.pem"), "{log}");
    assert!(admin_key_works(&e, ADMIN_KEY));
    assert!(!admin_key_works(&e, "an-intruders-admin-key-000"));
}

#[test]
fn a_node_with_another_master_key_refuses_to_start_naming_the_expected_one() {
    let mut e = Envoi::start();
    e.create_domain("mk.test");
    let key_file = e.dir.join("envoi.master-key");
    let original = std::fs::read_to_string(&key_file).unwrap();
    e.terminate();

    e.set_env("ENVOI_MASTER_KEY", &"ab".repeat(32));
    let why = e.try_restart().unwrap_err();
    assert!(
        why.contains("another master key") && why.contains("check value"),
        "{why}"
    );
    assert!(
        why.contains("ENVOI_MASTER_KEY") && why.contains("Nothing was changed"),
        "{why}"
    );
    // The check value named is the original key's, and differs from ours.
    e.set_env("ENVOI_MASTER_KEY", original.trim());
    e.try_restart().unwrap();
    e.terminate();

    // Without the key file (and no variable), no new key is made.
    e.env.retain(|(k, _)| k != "ENVOI_MASTER_KEY");
    std::fs::remove_file(&key_file).unwrap();
    let why = e.try_restart().unwrap_err();
    assert!(
        why.contains("does not exist") && why.contains("envoi.master-key"),
        "{why}"
    );
    assert!(!key_file.exists(), "a new key file was made");
    std::fs::write(&key_file, original).unwrap();
    e.try_restart().unwrap();
    assert!(admin_key_works(&e, ADMIN_KEY));
}

#[test]
fn envoi_master_key_file_keeps_the_key_apart_from_the_data() {
    let keys = temp_dir("key-volume");
    let key_file = keys.join("envoi.master-key");
    let mut e = Envoi::start();
    e.terminate();
    // A store of its own: the first start made a key beside it; start
    // afresh with the key elsewhere.
    let _ = std::fs::remove_file(e.dir.join("envoi.db"));
    let _ = std::fs::remove_file(e.dir.join("envoi.master-key"));
    e.set_env("ENVOI_MASTER_KEY_FILE", key_file.to_str().unwrap());
    e.restart();
    assert!(
        key_file.exists(),
        "the key is generated where the variable says"
    );
    assert!(
        !e.dir.join("envoi.master-key").exists(),
        "and not beside the data"
    );
    e.create_domain("apart.test");
    // The next start reads it from there.
    e.terminate();
    e.restart();
    let r = e.get("/v4/domains/apart.test", ADMIN_KEY).send().unwrap();
    expect_json(r, 200);
    let _ = std::fs::remove_dir_all(keys);
}

fn postgres_store() -> Option<String> {
    fresh_postgres()
}

#[test]
fn on_postgresql_a_node_without_envoi_master_key_refuses_to_start() {
    let Some(url) = postgres_store() else { return };
    let mut e = Envoi::start_with(Options {
        store_url: Some(url),
        ..Options::default()
    });
    e.terminate();
    e.env.retain(|(k, _)| k != "ENVOI_MASTER_KEY");
    let why = e.try_restart().unwrap_err();
    assert!(
        why.contains("ENVOI_MASTER_KEY (or ENVOI_MASTER_KEY_FILE, a file holding it) is required with PostgreSQL"),
        "{why}"
    );
    assert!(
        !e.dir.join("envoi.master-key").exists(),
        "a key file was made"
    );
    e.set_env("ENVOI_MASTER_KEY", &"cd".repeat(32));
    let why = e.try_restart().unwrap_err();
    assert!(why.contains("another master key"), "{why}");
}

/// Search terms with `%` and `_` match themselves, and forged page tokens
/// are refused: one run per backend.
fn queries_are_literal_and_tokens_unforgeable(e: &Envoi) {
    let d = "q.test";
    e.create_domain(d);
    e.create_domain("other.test");
    for addr in ["a_b@x.test", "axb@x.test", "a%b@x.test", "azzb@x.test"] {
        let r = e
            .post(&format!("/v3/{d}/bounces"), ADMIN_KEY)
            .form(&[("address", addr)])
            .send()
            .unwrap();
        expect_json(r, 200);
    }
    let found = |term: &str| -> Vec<String> {
        let r = e
            .get(
                &format!("/v3/{d}/bounces?term={}", term.replace('%', "%25")),
                ADMIN_KEY,
            )
            .send()
            .unwrap();
        expect_json(r, 200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["address"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(found("a_"), ["a_b@x.test"]);
    assert_eq!(found("a%"), ["a%b@x.test"]);
    assert_eq!(found("a").len(), 4);

    for tag in ["t_1", "tx1", "100%", "1000"] {
        e.send(d, "r@dest.test", &[("o:tag", tag)]);
    }
    let tagged = |tag: &str| {
        e.events(
            d,
            &format!("event=accepted&tags={}", tag.replace('%', "%25")),
        )
        .len()
    };
    assert_eq!(tagged("t_1"), 1);
    assert_eq!(tagged("100%"), 1);
    assert_eq!(tagged("tx1"), 1);

    // A real token pages; a forged one (limit 100000, -1) or one moved to
    // another domain is refused.
    let r = e
        .get(&format!("/v3/{d}/events?limit=2"), ADMIN_KEY)
        .send()
        .unwrap();
    let next = expect_json(r, 200)["paging"]["next"]
        .as_str()
        .unwrap()
        .to_string();
    let token = next.rsplit('/').next().unwrap().to_string();
    let r = e
        .get(&format!("/v3/{d}/events/{token}"), ADMIN_KEY)
        .send()
        .unwrap();
    assert_eq!(expect_json(r, 200)["items"].as_array().unwrap().len(), 2);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (body, tag) = token.split_once('.').unwrap();
    let json = String::from_utf8(b64.decode(body).unwrap()).unwrap();
    for limit in ["100000", "-1"] {
        let forged = json.replace("\"limit\":2", &format!("\"limit\":{limit}"));
        assert_ne!(forged, json);
        for t in [
            format!("{}.{tag}", b64.encode(&forged)),
            b64.encode(&forged),
        ] {
            let r = e
                .get(&format!("/v3/{d}/events/{t}"), ADMIN_KEY)
                .send()
                .unwrap();
            expect_error(r, 400, &["invalid page token"]);
        }
    }
    let r = e
        .get(&format!("/v3/other.test/events/{token}"), ADMIN_KEY)
        .send()
        .unwrap();
    expect_error(r, 400, &["invalid page token", "another domain"]);
}

#[test]
fn search_terms_are_literal_and_page_tokens_unforgeable_on_sqlite() {
    let e = Envoi::start();
    queries_are_literal_and_tokens_unforgeable(&e);
}

#[test]
fn search_terms_are_literal_and_page_tokens_unforgeable_on_postgresql() {
    let Some(url) = postgres_store() else { return };
    let e = Envoi::start_with(Options {
        store_url: Some(url),
        ..Options::default()
    });
    queries_are_literal_and_tokens_unforgeable(&e);
}

#[test]
fn a_sending_key_whose_row_lost_its_domain_is_refused_never_an_account_key() {
    let e = Envoi::start();
    e.create_domain("scope.test");
    let secret = e.sending_key("scope.test");
    let id = &secret[secret.len() - 17..];
    e.damage(
        "UPDATE api_keys SET domain_name = $1 WHERE id = $2",
        None::<String>,
        id,
    );
    let r = e.get("/v4/domains", &secret).send().unwrap();
    assert_eq!(
        r.status().as_u16(),
        500,
        "a damaged key row must not act as the account key"
    );
    assert!(
        e.stderr().contains(&format!("api_keys row {id}")),
        "{}",
        e.log_tail()
    );
}
