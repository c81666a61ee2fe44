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
    expect_json(
        e.get(&format!("/v3/{DOMAIN}/unsubscribes"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )["items"]
        .as_array()
        .unwrap()
        .clone()
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
