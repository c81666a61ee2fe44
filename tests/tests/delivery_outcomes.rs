//! What envoi does with each kind of answer from a recipient's MX (contract
//! §3), against scripted sinks on loopback and a real DNS server.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::world::Delivering;
use envoi_tests::*;

const SENDER: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(30);

struct World {
    e: Envoi,
    sink: Sink,
    dns: TestDns,
}

fn world(script: Script, extra_delivery: &str) -> World {
    let Delivering { e, sink, dns } = Delivering::start(
        script,
        &format!("retry_schedule = [\"1s\"]\nconnect_timeout = \"2s\"\ngreeting_timeout = \"2s\"\n{extra_delivery}"),
        Options::default(),
    );
    e.create_domain(SENDER);
    World { e, sink, dns }
}

fn refuse(rules: &'static [(&'static str, &'static str)]) -> Script {
    Script {
        rcpt: Some(Box::new(move |addr: &str| {
            rules
                .iter()
                .find(|(a, _)| *a == addr)
                .map(|(_, r)| r.to_string())
        })),
        ..Script::default()
    }
}

fn event(w: &World, query: &str) -> serde_json::Value {
    w.e.wait_event(SENDER, query, WAIT)
}

#[test]
fn temporary_failure_is_retried_then_delivered() {
    let w = world(
        Script {
            data_replies: Mutex::new(VecDeque::from(["451 4.3.0 try again later".to_string()])),
            ..Script::default()
        },
        "",
    );
    let id = w.e.send(SENDER, "rcpt@dest.test", &[]);
    let failed = event(
        &w,
        &format!("event=failed&severity=temporary&message-id={id}"),
    );
    let st = &failed["delivery-status"];
    assert_eq!(st["code"], 451);
    assert_eq!(st["enhanced-code"], "4.3.0");
    assert_eq!(st["attempt-no"], 1);
    assert_eq!(st["retry-seconds"], 1);
    let delivered = event(&w, &format!("event=delivered&message-id={id}"));
    assert_eq!(delivered["delivery-status"]["attempt-no"], 2);
    assert_eq!(w.sink.wait_for(1, WAIT).len(), 1);
}

#[test]
fn unknown_user_bounces_is_suppressed_and_never_contacted_again() {
    let w = world(
        refuse(&[("gone@dest.test", "550 5.1.1 <gone@dest.test>: no such user")]),
        "",
    );
    let id = w.e.send(SENDER, "gone@dest.test", &[]);
    let ev = event(&w, &format!("event=failed&message-id={id}"));
    assert_eq!(ev["severity"], "permanent");
    assert_eq!(ev["reason"], "bounce");
    assert_eq!(ev["delivery-status"]["code"], 550);
    assert_eq!(ev["delivery-status"]["enhanced-code"], "5.1.1");
    let contacts = w.sink.connections();

    let id = w.e.send(SENDER, "gone@dest.test", &[]);
    let ev = event(&w, &format!("event=failed&message-id={id}"));
    assert_eq!(ev["severity"], "permanent");
    assert_eq!(ev["reason"], "suppress-bounce");
    assert_eq!(ev["delivery-status"]["code"], 605);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        w.sink.connections(),
        contacts,
        "the MX is not contacted for a suppressed address"
    );
}

#[test]
fn sender_block_is_espblock_without_suppression() {
    let w = world(
        refuse(&[(
            "rcpt@dest.test",
            "550 5.7.1 Service unavailable; client host [127.0.0.1] blocked",
        )]),
        "",
    );
    for _ in 0..2 {
        let id = w.e.send(SENDER, "rcpt@dest.test", &[]);
        let ev = event(&w, &format!("event=failed&message-id={id}"));
        assert_eq!(ev["severity"], "permanent");
        assert_eq!(ev["reason"], "espblock", "{ev}");
        assert_eq!(
            ev["delivery-status"]["code"], 550,
            "tried again: not suppressed"
        );
    }
}

#[test]
fn partial_rcpt_failure_is_per_recipient() {
    let w = world(refuse(&[("gone@dest.test", "550 5.1.1 no such user")]), "");
    let id = w.e.send(SENDER, "ok@dest.test, gone@dest.test", &[]);
    let ok = event(&w, &format!("event=delivered&message-id={id}"));
    assert_eq!(ok["recipient"], "ok@dest.test");
    let gone = event(&w, &format!("event=failed&message-id={id}"));
    assert_eq!(gone["recipient"], "gone@dest.test");
    assert_eq!(gone["reason"], "bounce");
    let got = w.sink.wait_for(1, WAIT);
    assert_eq!(got[0].rcpt_to, vec!["ok@dest.test".to_string()]);
}

#[test]
fn one_transaction_per_destination_domain() {
    let w = world(Script::default(), "");
    let id =
        w.e.send(SENDER, "a@dest.test, b@dest.test, c@dest.test", &[]);
    for _ in 0..50 {
        if w.e
            .events(SENDER, &format!("event=delivered&message-id={id}"))
            .len()
            == 3
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = w.sink.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "one DATA for the three recipients");
    assert_eq!(got[0].rcpt_to.len(), 3);
}

#[test]
fn hanging_mx_times_out_and_is_retried() {
    let w = world(
        Script {
            hang: true,
            ..Script::default()
        },
        "",
    );
    let id = w.e.send(SENDER, "rcpt@dest.test", &[]);
    let ev = event(
        &w,
        &format!("event=failed&severity=temporary&message-id={id}"),
    );
    let msg = ev["delivery-status"]["message"].as_str().unwrap();
    assert!(msg.contains("timed out"), "{ev}");
    // And tried again.
    for _ in 0..100 {
        if w.sink.connections() >= 2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the hanging MX was not tried again");
}

#[test]
fn falls_back_to_the_next_mx_when_the_first_is_down() {
    let w = world(Script::default(), "");
    w.dns.mx("two.test", 10, "mx1.two.test");
    w.dns.mx("two.test", 20, "mx2.two.test");
    // Nothing listens on 127.0.0.2 at the sink's port.
    w.dns.a("mx1.two.test", Ipv4Addr::new(127, 0, 0, 2));
    w.dns.a("mx2.two.test", Ipv4Addr::LOCALHOST);
    let id = w.e.send(SENDER, "rcpt@two.test", &[]);
    let ev = event(&w, &format!("event=delivered&message-id={id}"));
    assert_eq!(ev["delivery-status"]["mx-host"], "mx2.two.test");
}

#[test]
fn implicit_mx_uses_the_domain_address() {
    let w = world(Script::default(), "");
    w.dns.a("bare.test", Ipv4Addr::LOCALHOST);
    let id = w.e.send(SENDER, "rcpt@bare.test", &[]);
    let ev = event(&w, &format!("event=delivered&message-id={id}"));
    assert_eq!(ev["delivery-status"]["mx-host"], "bare.test");
}

#[test]
fn nxdomain_fails_permanently() {
    let w = world(Script::default(), "");
    let id = w.e.send(SENDER, "rcpt@nowhere.test", &[]);
    let ev = event(&w, &format!("event=failed&message-id={id}"));
    assert_eq!(ev["severity"], "permanent");
    let msg = ev["delivery-status"]["message"].as_str().unwrap();
    assert!(msg.contains("does not exist"), "{ev}");
}

#[test]
fn null_mx_fails_permanently() {
    let w = world(Script::default(), "");
    w.dns.mx("nomail.test", 0, ".");
    let id = w.e.send(SENDER, "rcpt@nomail.test", &[]);
    let ev = event(&w, &format!("event=failed&message-id={id}"));
    assert_eq!(ev["severity"], "permanent");
    assert_eq!(ev["delivery-status"]["code"], 556);
    assert!(ev["delivery-status"]["message"]
        .as_str()
        .unwrap()
        .contains("null MX"));
}

#[test]
fn smarthost_relay_bypasses_mx_lookup() {
    let sink = Sink::start(Script::default());
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\nrelay = \"127.0.0.1:{}\"\nhelo_name = \"envoi.test\"\n",
            sink.addr.port()
        ),
        ..Options::default()
    });
    e.create_domain(SENDER);
    // No DNS at all for this domain: the relay takes it.
    let id = e.send(SENDER, "rcpt@unresolvable.invalid", &[]);
    e.wait_event(SENDER, &format!("event=delivered&message-id={id}"), WAIT);
    assert_eq!(
        sink.wait_for(1, WAIT)[0].rcpt_to,
        vec!["rcpt@unresolvable.invalid"]
    );
}

#[test]
fn testmode_is_never_delivered() {
    let w = world(Script::default(), "");
    let id = w.e.send(SENDER, "rcpt@dest.test", &[("o:testmode", "yes")]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(w
        .e
        .events(SENDER, &format!("event=delivered&message-id={id}"))
        .is_empty());
    assert_eq!(w.sink.connections(), 0);
}

#[test]
fn one_connection_carries_several_messages_to_the_same_mx() {
    let w = world(Script::default(), "");
    // Scheduled for the same second, so they are leased together.
    let at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3)
    .to_string();
    let ids: Vec<String> = (0..5)
        .map(|i| {
            w.e.send(
                SENDER,
                &format!("r{i}@dest.test"),
                &[("o:deliverytime", at.as_str())],
            )
        })
        .collect();
    w.sink.wait_for(5, WAIT);
    for id in &ids {
        event(&w, &format!("event=delivered&message-id={id}"));
    }
    assert_eq!(
        w.sink.connections(),
        1,
        "five messages, one SMTP connection"
    );
}

/// Sends one message and waits for its `delivered` event: one batch.
fn deliver_one(w: &World, to: &str) -> serde_json::Value {
    let id = w.e.send(SENDER, to, &[]);
    event(w, &format!("event=delivered&message-id={id}"))
}

#[test]
fn the_next_batch_to_the_same_mx_reuses_the_open_connection() {
    // Generous, so a slow machine still finds the first connection waiting.
    let w = world(Script::default(), "idle_connection_time = \"60s\"");
    deliver_one(&w, "r1@dest.test");
    deliver_one(&w, "r2@dest.test");
    deliver_one(&w, "r3@dest.test");
    assert_eq!(w.sink.connections(), 1, "three batches, one connection");
}

#[test]
fn a_zero_idle_connection_time_closes_the_connection_after_each_batch() {
    let w = world(Script::default(), "idle_connection_time = \"0s\"");
    deliver_one(&w, "r1@dest.test");
    deliver_one(&w, "r2@dest.test");
    assert_eq!(w.sink.connections(), 2);
}

#[test]
fn an_idle_connection_is_closed_after_its_time() {
    let w = world(Script::default(), "idle_connection_time = \"1s\"");
    deliver_one(&w, "r1@dest.test");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(w.sink.peak_connections(), 1);
    assert_eq!(w.sink.open_connections(), 0, "closed once idle for 1 s");
    deliver_one(&w, "r2@dest.test");
    assert_eq!(w.sink.connections(), 2);
}

/// Two batches to an MX that drops the first connection (as `script` says):
/// the second message still goes on its first attempt, over a new
/// connection, and nothing fails.
fn second_batch_survives_a_dropped_connection(script: Script) {
    let w = world(script, "idle_connection_time = \"60s\"");
    deliver_one(&w, "r1@dest.test");
    let second = deliver_one(&w, "r2@dest.test");
    assert_eq!(second["delivery-status"]["attempt-no"], 1, "{second}");
    assert_eq!(w.sink.connections(), 2);
    assert!(w.e.events(SENDER, "event=failed").is_empty());
}

#[test]
fn a_connection_the_mx_closed_while_idle_is_replaced_without_a_failure() {
    second_batch_survives_a_dropped_connection(Script {
        close_after: Some(1),
        ..Script::default()
    });
}

#[test]
fn a_connection_that_drops_at_the_first_command_is_retried_on_a_new_one() {
    // Open and quiet when taken, gone at MAIL FROM: nothing was said, so
    // the message goes at once over a new connection, not to the retry queue.
    second_batch_survives_a_dropped_connection(Script {
        hang_up_on_mail_after: Some(1),
        ..Script::default()
    });
}

#[test]
fn lines_starting_with_a_dot_arrive_as_written_and_the_signature_verifies() {
    let w = Delivering::start(Script::default(), "", Options::default());
    w.dns.publish_dkim(&w.e.create_domain(SENDER));
    // Dot lines (stuffed on the wire, unstuffed by the sink), a lone dot,
    // and lines relaxed canonicalisation rewrites or keeps.
    let body = ".starts with a dot\r\n..two dots\r\n.\r\nkept as is\r\ntwo  spaces\tand a tab \r\n";
    let mime = format!(
        "From: shop@{SENDER}\r\nTo: rcpt@dest.test\r\nSubject: dots\r\nMessage-ID: <dots@{SENDER}>\r\n\r\n{body}"
    );
    let form = reqwest::blocking::multipart::Form::new()
        .text("to", "rcpt@dest.test")
        .part(
            "message",
            reqwest::blocking::multipart::Part::bytes(mime.into_bytes()).file_name("m.mime"),
        );
    let r =
        w.e.post(&format!("/v3/{SENDER}/messages.mime"), ADMIN_KEY)
            .multipart(form)
            .send()
            .unwrap();
    expect_json(r, 200);
    let got = w.sink.wait_for(1, WAIT);
    let data = String::from_utf8_lossy(&got[0].data);
    assert!(data.ends_with(&format!("\r\n\r\n{body}")), "{data}");
    envoi_tests::dkim::Verifier::new(w.dns.addr).assert_pass(&got[0].data);
}
