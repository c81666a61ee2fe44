//! One-click unsubscribe (contract §3, RFC 8058): every delivered message
//! carries a signed link for its recipient; a POST to it suppresses the
//! address for the domain and records `unsubscribed`; anything forged changes
//! nothing.

use std::time::Duration;

use envoi_tests::dkim::Verifier;
use envoi_tests::sink::{Received, Script};
use envoi_tests::world::Delivering;
use envoi_tests::*;

const DOMAIN: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(30);

fn world() -> Delivering {
    let w = Delivering::start(
        Script::default(),
        "",
        Options {
            extra_config: "[inbound]\nbounce_domain = \"bounces.envoi.test\"\n".into(),
            ..Options::default()
        },
    );
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    w
}

/// The https link in a List-Unsubscribe value, as a path on envoi.
fn link_path(r: &Received) -> String {
    let url = r.unsubscribe_url();
    url[url.find("/u/").unwrap()..].to_string()
}

fn unsubscribes(e: &Envoi) -> Vec<serde_json::Value> {
    e.items(&format!("/v3/{DOMAIN}/unsubscribes"))
}

#[test]
fn every_delivered_message_carries_a_signed_one_click_link_and_a_mailto() {
    let w = world();
    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let got = w.sink.wait_for(1, WAIT);
    let value = got[0].header("List-Unsubscribe");
    assert!(
        value.contains(&format!("<http://127.0.0.1:{}/u/", w.e.port)),
        "{value}"
    );
    assert!(
        value.contains("<mailto:unsubscribe@bounces.envoi.test?subject=unsubscribe%20"),
        "{value}"
    );
    assert_eq!(
        got[0].header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let signature = got[0].header("DKIM-Signature").replace([' ', '\t'], "");
    let h = signature
        .split(';')
        .find(|t| t.starts_with("h="))
        .unwrap()
        .to_ascii_lowercase();
    assert!(h.contains("list-unsubscribe:list-unsubscribe-post"), "{h}");
    Verifier::new(w.dns.addr).assert_pass(&got[0].data);
}

#[test]
fn a_one_click_post_unsubscribes_and_the_address_is_not_contacted_again() {
    let w = world();
    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let got = w.sink.wait_for(1, WAIT);
    let path = link_path(&got[0]);
    // RFC 8058: the receiver POSTs List-Unsubscribe=One-Click, no credentials.
    let r =
        w.e.client
            .post(w.e.url(&path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("alice@dest.test"));
    let list = unsubscribes(&w.e);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["address"], "alice@dest.test");
    assert_eq!(list[0]["tags"], serde_json::json!(["*"]));
    let ev = w.e.wait_event(DOMAIN, "event=unsubscribed", WAIT);
    assert_eq!(ev["recipient"], "alice@dest.test");
    assert!(ev["message"]["headers"]["message-id"].is_string());

    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let failed = w.e.wait_event(DOMAIN, "event=failed", WAIT);
    assert_eq!(failed["reason"], "suppress-unsubscribe");
    assert_eq!(w.sink.received().len(), 1, "not contacted again");
}

#[test]
fn opening_the_link_shows_a_button_and_changes_nothing() {
    let w = world();
    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let got = w.sink.wait_for(1, WAIT);
    let r = w.e.client.get(w.e.url(&link_path(&got[0]))).send().unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(page.contains("alice@dest.test"));
    assert!(unsubscribes(&w.e).is_empty());
}

#[test]
fn a_forged_or_altered_token_gets_400_and_changes_nothing() {
    let w = world();
    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let got = w.sink.wait_for(1, WAIT);
    let path = link_path(&got[0]);
    // Another recipient in the payload, the same tag.
    let (payload, tag) = path["/u/".len()..].split_once('.').unwrap();
    let mut other = payload.to_string();
    let flip = if other.ends_with('A') { "B" } else { "A" };
    other.replace_range(other.len() - 1.., flip);
    for forged in [
        format!("/u/{other}.{tag}"),
        format!("/u/{payload}.AAAAAAAAAAAAAAAAAAAAAA"),
        "/u/not-a-token".to_string(),
    ] {
        let r = w.e.client.post(w.e.url(&forged)).send().unwrap();
        expect_error(r, 400, &["not valid"]);
    }
    assert!(unsubscribes(&w.e).is_empty());
    assert!(w.e.events(DOMAIN, "event=unsubscribed").is_empty());
}

#[test]
fn batch_copies_get_their_own_link_and_the_unsubscribe_url_variable() {
    let w = world();
    w.e.send(
        DOMAIN,
        "alice@dest.test, bob@dest.test",
        &[
            ("text", "Stop these: %unsubscribe_url%"),
            (
                "recipient-variables",
                r#"{"alice@dest.test": {}, "bob@dest.test": {}}"#,
            ),
        ],
    );
    let got = w.sink.wait_for(2, WAIT);
    assert!(
        got.iter().all(|r| r.rcpt_to.len() == 1),
        "one copy per recipient"
    );
    let links: Vec<String> = got.iter().map(link_path).collect();
    assert_ne!(links[0], links[1]);
    for r in &got {
        let text = String::from_utf8_lossy(&r.data);
        assert!(text.contains(&link_path(r)), "the body has the same link");
        assert!(!text.contains("%unsubscribe_url%"));
        Verifier::new(w.dns.addr).assert_pass(&r.data);
    }
    // Bob's link unsubscribes Bob only.
    let bob = got
        .iter()
        .find(|r| r.rcpt_to[0] == "bob@dest.test")
        .unwrap();
    let r = w.e.client.post(w.e.url(&link_path(bob))).send().unwrap();
    assert_eq!(r.status(), 200);
    let list = unsubscribes(&w.e);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["address"], "bob@dest.test");
}

#[test]
fn one_copy_for_several_recipients_at_a_domain_unsubscribes_them_together() {
    let w = world();
    w.e.send(DOMAIN, "alice@dest.test, bob@dest.test", &[]);
    let got = w.sink.wait_for(1, WAIT);
    assert_eq!(got[0].rcpt_to.len(), 2, "one transaction for the domain");
    let r =
        w.e.client
            .post(w.e.url(&link_path(&got[0])))
            .send()
            .unwrap();
    assert_eq!(r.status(), 200);
    let mut list: Vec<String> = unsubscribes(&w.e)
        .iter()
        .map(|i| i["address"].as_str().unwrap().to_string())
        .collect();
    list.sort();
    assert_eq!(list, ["alice@dest.test", "bob@dest.test"]);
    assert_eq!(w.e.events(DOMAIN, "event=unsubscribed").len(), 2);
}

/// A world whose inbound listener takes mail for the bounce domain.
fn world_with_listener() -> (Delivering, u16) {
    let w = Delivering::start(
        Script::default(),
        "",
        Options::with_bounce_domain("bounces.envoi.test"),
    );
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    let port = w.e.inbound_port.unwrap();
    (w, port)
}

/// The mailto of a List-Unsubscribe value: its address and Subject.
fn mailto(r: &Received) -> (String, String) {
    let value = r.header("List-Unsubscribe");
    let link = value
        .split(['<', '>'])
        .find(|p| p.starts_with("mailto:"))
        .expect("a mailto in List-Unsubscribe");
    let (to, query) = link["mailto:".len()..].split_once('?').unwrap();
    let subject = query.strip_prefix("subject=").unwrap().replace("%20", " ");
    (to.to_string(), subject)
}

/// A mail to `to` with `subject`, as a mail client sends the mailto; the
/// reply to its end.
fn mail(port: u16, to: &str, subject: &str) -> String {
    let (mut c, _) = envoi_tests::smtp_client::RawSmtp::connect(port);
    assert!(c.cmd("EHLO client.dest.test").starts_with("250"));
    let message = format!(
        "From: Alice <alice@dest.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nThis message will unsubscribe you.\r\n"
    );
    c.submit("alice@dest.test", to, message.as_bytes())
}

#[test]
fn a_mail_to_the_mailto_unsubscribes_as_the_one_click_post_does() {
    let (w, port) = world_with_listener();
    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let got = w.sink.wait_for(1, WAIT);
    let (to, subject) = mailto(&got[0]);
    assert_eq!(to, "unsubscribe@bounces.envoi.test");
    let reply = mail(port, &to, &subject);
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert!(reply.contains("alice@dest.test"), "{reply}");
    let list = unsubscribes(&w.e);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["address"], "alice@dest.test");
    assert_eq!(list[0]["tags"], serde_json::json!(["*"]));
    let ev = w.e.wait_event(DOMAIN, "event=unsubscribed", WAIT);
    assert_eq!(ev["recipient"], "alice@dest.test");

    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let failed = w.e.wait_event(DOMAIN, "event=failed", WAIT);
    assert_eq!(failed["reason"], "suppress-unsubscribe");
}

#[test]
fn a_mailto_with_a_forged_token_or_none_is_refused_and_changes_nothing() {
    let (w, port) = world_with_listener();
    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let got = w.sink.wait_for(1, WAIT);
    let (to, subject) = mailto(&got[0]);
    // Another address at the same domain, with the MAC left as it was.
    let token = subject.strip_prefix("unsubscribe ").unwrap();
    let (payload, tag) = token.split_once('.').unwrap();
    let mut bytes = payload.as_bytes().to_vec();
    bytes[2] = if bytes[2] == b'A' { b'B' } else { b'A' };
    let forged = format!("unsubscribe {}.{tag}", String::from_utf8(bytes).unwrap());
    let reply = mail(port, &to, &forged);
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert!(reply.contains("nothing was changed"), "{reply}");
    let reply = mail(port, &to, "please stop");
    assert!(reply.starts_with("550 5.6.0"), "{reply}");
    assert!(reply.contains("unsubscribe {token}"), "{reply}");
    assert!(unsubscribes(&w.e).is_empty());
}
