//! What delivery does when what it needs from the store cannot be used: a
//! stored message whose bytes were damaged, a DKIM key that no longer
//! decrypts. The message is kept and retried with the reason, then fails as
//! `old`; it is never sent, and certainly never sent unsigned.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::world::Delivering;
use envoi_tests::*;

const SENDER: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(30);

struct World {
    e: Envoi,
    sink: Sink,
    _dns: TestDns,
}

fn world() -> World {
    world_on(None)
}

/// `store_url`: another store than the default SQLite file (PostgreSQL).
fn world_on(store_url: Option<String>) -> World {
    let Delivering { e, sink, dns } = Delivering::start(
        Script::default(),
        "retry_schedule = [\"500ms\"]\nmax_age = \"5s\"",
        Options {
            store_url,
            ..Options::default()
        },
    );
    e.create_domain(SENDER);
    World { e, sink, _dns: dns }
}

fn in_seconds(s: u64) -> String {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + s)
        .to_string()
}

/// A temporary failure naming `needle`, then `old`, and the sink untouched.
fn deferred_then_old(w: &World, id: &str, needle: &str) {
    let temp = w.e.wait_event(
        SENDER,
        &format!("event=failed&severity=temporary&message-id={id}"),
        WAIT,
    );
    let text = temp["delivery-status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains(needle),
        "the reason names the problem: {temp}"
    );
    let old = w.e.wait_event(
        SENDER,
        &format!("event=failed&severity=permanent&message-id={id}"),
        WAIT,
    );
    assert_eq!(old["reason"], "old", "{old}");
    assert!(
        w.sink.received().is_empty(),
        "nothing was sent: {:?}",
        w.sink.received().len()
    );
}

#[test]
fn a_damaged_stored_message_is_retried_with_the_reason_then_fails_old() {
    let w = world();
    let id = w.e.send(
        SENDER,
        "rcpt@dest.test",
        &[("o:deliverytime", &in_seconds(2))],
    );
    w.e.damage(
        "UPDATE messages SET body = $1 WHERE message_id = $2",
        vec![0x42; 64],
        &id,
    );
    deferred_then_old(&w, &id, "stored message could not be decrypted");
    // The server keeps serving: the next message goes out.
    let next = w.e.send(SENDER, "other@dest.test", &[]);
    w.e.wait_event(SENDER, &format!("event=delivered&message-id={next}"), WAIT);
}

#[test]
fn damaged_stored_options_hold_the_message_never_sent_with_defaults() {
    damaged_options_hold_the_message(&world());
}

#[test]
fn damaged_stored_options_hold_the_message_on_postgresql_too() {
    let Some(url) = fresh_postgres() else {
        return;
    };
    damaged_options_hold_the_message(&world_on(Some(url)));
}

fn damaged_options_hold_the_message(w: &World) {
    let id = w.e.send(
        SENDER,
        "rcpt@dest.test",
        &[("o:deliverytime", &in_seconds(2)), ("o:require-tls", "yes")],
    );
    // `require_tls` no longer parses: sending with defaults would drop it.
    w.e.damage(
        "UPDATE messages SET options = $1 WHERE message_id = $2",
        r#"{"require_tls":"maybe"}"#.to_string(),
        &id,
    );
    deferred_then_old(w, &id, "field options does not parse");
    let temp =
        w.e.wait_event(SENDER, &format!("event=failed&message-id={id}"), WAIT);
    let text = temp["delivery-status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains(&id), "the reason names the message: {text}");
}

#[test]
fn a_dkim_key_that_does_not_decrypt_holds_the_message_never_unsigned() {
    let w = world();
    // The domain's sealed DKIM key is damaged: it no longer opens; new
    // messages still store. (Another master key is refused at start.)
    w.e.damage(
        "UPDATE dkim_keys SET private_key = $1 WHERE selector = $2",
        vec![0x42u8; 64],
        "k1",
    );
    let id = w.e.send(SENDER, "rcpt@dest.test", &[]);
    deferred_then_old(&w, &id, "cannot be decrypted");
    let log = w.e.log_tail();
    assert!(log.contains("DKIM key k1 of shop.test"), "{log}");
}
