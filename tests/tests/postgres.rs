//! The same store on PostgreSQL, the backend for more than one node: the send
//! flow, events paging, key scope and kill -9 durability. Needs
//! `ENVOI_TEST_POSTGRES_URL` (`.ci/run` starts a server and sets it); skipped
//! without it outside CI.

use envoi_tests::*;

fn start_on_postgres() -> Option<Envoi> {
    let url = fresh_postgres()?;
    Some(Envoi::start_with(Options {
        store_url: Some(url),
        ..Options::default()
    }))
}

fn send(e: &Envoi, key: &str, domain: &str, to: &str, subject: &str) -> String {
    let r = e
        .post(&format!("/v3/{domain}/messages"), key)
        .form(&[
            ("from", &format!("a@{domain}") as &str),
            ("to", to),
            ("subject", subject),
            ("text", "hello from postgres"),
        ])
        .send()
        .unwrap();
    expect_json(r, 200)["id"]
        .as_str()
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string()
}

#[test]
fn send_flow_and_events_paging_on_postgres() {
    let Some(e) = start_on_postgres() else { return };
    e.create_domain("pg.test");
    let key = e.sending_key("pg.test");
    for i in 0..5 {
        send(
            &e,
            &key,
            "pg.test",
            &format!("r{i}@example.org"),
            &format!("s{i}"),
        );
    }
    // Walk the pages one event at a time: five, in order, then an empty page.
    let mut url = e.url("/v3/pg.test/events?limit=2&ascending=yes&event=accepted");
    let mut subjects = Vec::new();
    loop {
        let page = expect_json(
            e.client
                .get(&url)
                .basic_auth("api", Some(ADMIN_KEY))
                .send()
                .unwrap(),
            200,
        );
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        for it in items {
            subjects.push(
                it["message"]["headers"]["subject"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        url = page["paging"]["next"].as_str().unwrap().to_string();
    }
    assert_eq!(subjects, ["s0", "s1", "s2", "s3", "s4"]);
}

#[test]
fn key_scope_on_postgres() {
    let Some(e) = start_on_postgres() else { return };
    e.create_domain("pga.test");
    e.create_domain("pgb.test");
    let key_a = e.sending_key("pga.test");
    let r = e
        .post("/v3/pgb.test/messages", &key_a)
        .form(&[
            ("from", "a@pgb.test"),
            ("to", "b@example.org"),
            ("text", "x"),
        ])
        .send()
        .unwrap();
    expect_error(r, 403, &["pga.test"]);
    let r = e
        .post(
            "/v3/pga.test/messages",
            "0123456789abcdef0123456789abcdef-00000000-00000000",
        )
        .form(&[
            ("from", "a@pga.test"),
            ("to", "b@example.org"),
            ("text", "x"),
        ])
        .send()
        .unwrap();
    expect_error(r, 401, &[]);
}

#[test]
fn accepted_message_survives_kill_9_on_postgres() {
    let Some(mut e) = start_on_postgres() else {
        return;
    };
    e.create_domain("pgdur.test");
    let key = e.sending_key("pgdur.test");
    let id = send(&e, &key, "pgdur.test", "r@example.org", "durable");
    e.kill9();
    e.restart();
    let events = e.events("pgdur.test", &format!("event=accepted&message-id={id}"));
    assert_eq!(events.len(), 1);
    let stored = e.stored("pgdur.test", events[0]["storage"]["key"].as_str().unwrap());
    assert_eq!(stored["recipients-status"][0]["status"], "queued");
    assert!(stored["body-mime"]
        .as_str()
        .unwrap()
        .contains("hello from postgres"));
}

#[test]
fn webhooks_and_stats_on_postgres() {
    let Some(e) = start_on_postgres() else { return };
    e.create_domain("pg.test");
    let hooks = envoi_tests::webhook_receiver::WebhookReceiver::start();
    expect_json(
        e.post("/v3/domains/pg.test/webhooks", ADMIN_KEY)
            .form(&[("id", "accepted"), ("url", &hooks.url("accepted"))])
            .send()
            .unwrap(),
        200,
    );
    let key = e.sending_key("pg.test");
    send(&e, &key, "pg.test", "r1@example.org", "one");
    send(&e, &key, "pg.test", "r2@example.org", "two");
    // PostgreSQL events are turned into calls once 10 s old.
    let calls = hooks.wait_for("accepted", 2, std::time::Duration::from_secs(60));
    let signing = expect_json(
        e.get("/v5/accounts/http_signing_key", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )["http_signing_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(calls.iter().all(|c| c.signed_with(&signing)));
    let s = expect_json(
        e.get("/v3/pg.test/stats/total?event=accepted", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    let total: i64 = s["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["accepted"]["total"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2, "{s}");
}

#[test]
fn events_past_their_retention_are_pruned_and_the_stats_keep_them() {
    let Some(url) = fresh_postgres() else {
        return;
    };
    let e = Envoi::start_with(Options {
        store_url: Some(url.clone()),
        extra_config: "[events]\nretention = \"1h\"\n".into(),
        ..Options::default()
    });
    e.create_domain("old.test");
    // Test mode: no delivery attempt adds events afterwards.
    let r = e
        .post("/v3/old.test/messages", ADMIN_KEY)
        .form(&[
            ("from", "a@old.test"),
            ("to", "r@example.org"),
            ("subject", "old news"),
            ("text", "t"),
            ("o:testmode", "yes"),
        ])
        .send()
        .unwrap();
    expect_json(r, 200);
    let accepted = |e: &Envoi| {
        let r = e
            .get(
                "/v3/old.test/stats/total?event=accepted&duration=2d&resolution=day",
                ADMIN_KEY,
            )
            .send()
            .unwrap();
        expect_json(r, 200)["stats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["accepted"]["total"].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    assert_eq!(accepted(&e), 1);
    // The event is made two hours old: past the retention.
    psql(&url, "UPDATE events SET ts = ts - 7200000000");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while psql(&url, "SELECT COUNT(*) FROM events") != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "not pruned:\n{}",
            e.log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(e.events("old.test", "event=accepted").is_empty());
    assert_eq!(accepted(&e), 1, "the stats still count it");
}
