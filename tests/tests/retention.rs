//! `[events].retention` and `message_retention` as envoi's own pass applies
//! them, on SQLite and on PostgreSQL: a done message's content goes after
//! `message_retention` while whom it was sent to stays; after the events'
//! retention the message goes whole; a message still queued stays.

use std::time::{Duration, Instant};

use envoi_tests::*;

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// A message to `to` from `domain`, with `extra` fields; its storage key.
fn sent(e: &Envoi, domain: &str, to: &str, extra: &[(&str, &str)]) -> (String, String) {
    let id = e.send(domain, to, extra);
    let ev = e
        .events(domain, &format!("event=accepted&message-id={id}"))
        .remove(0);
    (id, ev["storage"]["key"].as_str().unwrap().to_string())
}

/// The stored message's answer: 200, or the 404's message.
fn stored(e: &Envoi, domain: &str, key: &str) -> Result<(), String> {
    let r = e
        .get(&format!("/v3/domains/{domain}/messages/{key}"), ADMIN_KEY)
        .send()
        .unwrap();
    match r.status().as_u16() {
        200 => Ok(()),
        404 => Err(r.text().unwrap()),
        s => panic!("GET stored message: {s} {}", r.text().unwrap()),
    }
}

fn retention_keeps_whom_and_drops_content(e: &mut Envoi) {
    e.create_domain("old.test");
    // In acceptance order, as envoi's ids are (retention walks them from
    // the oldest): done (o:testmode) 40 days ago, still queued (due
    // tomorrow) 40 days ago, done 10 days ago.
    let (old, old_key) = sent(e, "old.test", "b@example.org", &[("o:testmode", "yes")]);
    let tomorrow = (std::time::SystemTime::now() + Duration::from_secs(86_400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let (waiting, waiting_key) = sent(
        e,
        "old.test",
        "c@example.org",
        &[("o:deliverytime", &tomorrow)],
    );
    let (young, young_key) = sent(e, "old.test", "a@example.org", &[("o:testmode", "yes")]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    for (id, days) in [(&old, 40), (&waiting, 40), (&young, 10)] {
        e.damage(
            "UPDATE messages SET created_at = $1 WHERE message_id = $2",
            now - days * DAY_MICROS,
            id,
        );
    }
    // The pass runs 5 s after a start.
    e.terminate();
    e.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let young_gone = stored(e, "old.test", &young_key).is_err();
        let old_gone = stored(e, "old.test", &old_key).is_err();
        if young_gone && old_gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the retention pass did not run: {}",
            e.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let young_said = stored(e, "old.test", &young_key).unwrap_err();
    assert!(young_said.contains("no longer kept"), "{young_said}");
    let old_said = stored(e, "old.test", &old_key).unwrap_err();
    assert!(old_said.contains("no stored message"), "{old_said}");
    assert!(
        stored(e, "old.test", &waiting_key).is_ok(),
        "a queued message stays, however old"
    );
}

#[test]
fn retention_keeps_whom_a_message_went_to_and_drops_its_content_on_sqlite() {
    retention_keeps_whom_and_drops_content(&mut Envoi::start());
}

#[test]
fn retention_keeps_whom_a_message_went_to_and_drops_its_content_on_postgresql() {
    let Some(url) = fresh_postgres() else {
        return;
    };
    retention_keeps_whom_and_drops_content(&mut Envoi::start_with(Options {
        store_url: Some(url),
        ..Options::default()
    }));
}
