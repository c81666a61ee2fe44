//! Who may send as whom (issue 17): no tenant's mail says it is from
//! another tenant, over HTTP or SMTP (STARTTLS + AUTH, as in production);
//! the return path is always in the sending domain; `h:` fields never add
//! a second copy of a header envoi writes.

use std::time::Duration;

use envoi_tests::sink::Script;
use envoi_tests::world::{Delivering, Submitting};
use envoi_tests::*;

const A: &str = "ha.test";
const B: &str = "hb.test";
const WAIT: Duration = Duration::from_secs(30);

fn two_tenants() -> Delivering {
    let w = Delivering::start(Script::default(), "", Options::default());
    for d in [A, B] {
        w.dns.publish_dkim(&w.e.create_domain(d));
    }
    w
}

fn send(e: &Envoi, key: &str, fields: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut all = vec![
        ("to", "rcpt@dest.test"),
        ("subject", "Hello"),
        ("text", "Hi."),
    ];
    all.extend_from_slice(fields);
    e.post(&format!("/v3/{A}/messages"), key)
        .form(&all)
        .send()
        .unwrap()
}

fn nothing_accepted(e: &Envoi) {
    assert!(
        e.events(A, "event=accepted").is_empty(),
        "something was stored"
    );
}

#[test]
fn a_from_in_another_tenants_domain_is_refused_naming_both_domains_and_the_setting() {
    let w = two_tenants();
    let key = w.e.sending_key(A);
    for field in ["from", "h:From", "h:Sender"] {
        let mut fields = vec![(field, "ceo@hb.test")];
        if field != "from" {
            fields.push(("from", "shop@ha.test"));
        }
        let r = send(&w.e, &key, &fields);
        expect_error(r, 400, &[B, A, "from_policy"]);
    }
    nothing_accepted(&w.e);
}

#[test]
fn an_outside_domain_is_refused_while_the_domain_is_aligned() {
    let w = two_tenants();
    let r = send(&w.e, ADMIN_KEY, &[("from", "ceo@bank.example")]);
    expect_error(r, 400, &["bank.example", A, "from_policy = aligned"]);
    nothing_accepted(&w.e);
}

#[test]
fn the_sending_domain_and_its_subdomains_may_be_the_from() {
    let w = two_tenants();
    for from in ["shop@ha.test", "News <news@mail.ha.test>"] {
        let r = send(&w.e, ADMIN_KEY, &[("from", from)]);
        expect_json(r, 200);
    }
}

#[test]
fn from_policy_any_opens_outside_domains_but_never_another_tenants() {
    let w = two_tenants();
    let r =
        w.e.put(&format!("/v3/domains/{A}"), ADMIN_KEY)
            .form(&[("from_policy", "any")])
            .send()
            .unwrap();
    assert_eq!(expect_json(r, 200)["domain"]["from_policy"], "any");
    let r = send(&w.e, ADMIN_KEY, &[("from", "news@partner.example")]);
    expect_json(r, 200);
    for from in ["ceo@hb.test", "ceo@mail.hb.test"] {
        let r = send(&w.e, ADMIN_KEY, &[("from", from)]);
        expect_error(r, 400, &["belongs to hb.test", A]);
    }
    let r =
        w.e.put(&format!("/v4/domains/{A}"), ADMIN_KEY)
            .form(&[("from_policy", "whatever")])
            .send()
            .unwrap();
    expect_error(r, 400, &["from_policy", "aligned", "any"]);
}

#[test]
fn a_registered_subdomain_is_another_tenant_even_under_the_sending_domain() {
    let w = two_tenants();
    w.e.create_domain("mg.ha.test");
    let r = send(&w.e, ADMIN_KEY, &[("from", "x@mg.ha.test")]);
    expect_error(r, 400, &["belongs to mg.ha.test"]);
}

#[test]
fn the_envelope_sender_is_in_the_sending_domain_never_the_from() {
    let w = two_tenants();
    let r = send(&w.e, ADMIN_KEY, &[("from", "News <news@mail.ha.test>")]);
    expect_json(r, 200);
    let got = w.sink.wait_for(1, WAIT);
    let mail_from = &got[0].mail_from;
    assert!(
        mail_from.starts_with("b-") && mail_from.ends_with("@ha.test"),
        "MAIL FROM {mail_from}"
    );
    assert!(got[0].header("From").contains("news@mail.ha.test"));
}

#[test]
fn a_whole_mime_message_is_held_to_the_same_rules() {
    let w = two_tenants();
    let mime = |m: &str| {
        let form = reqwest::blocking::multipart::Form::new()
            .text("to", "rcpt@dest.test")
            .part(
                "message",
                reqwest::blocking::multipart::Part::bytes(m.as_bytes().to_vec()).file_name("m.eml"),
            );
        w.e.post(&format!("/v3/{A}/messages.mime"), ADMIN_KEY)
            .multipart(form)
            .send()
            .unwrap()
    };
    let r = mime("From: shop@ha.test, ceo@hb.test\r\nSubject: x\r\n\r\nhi\r\n");
    expect_error(r, 400, &["hb.test"]);
    let r = mime("From: shop@ha.test\r\nFrom: ceo@hb.test\r\nSubject: x\r\n\r\nhi\r\n");
    expect_error(r, 400, &["2 From header fields", "exactly one"]);
    let r = mime("From: shop@ha.test\r\nSender: ceo@hb.test\r\n\r\nhi\r\n");
    expect_error(r, 400, &["hb.test"]);
    // Never two of a single header, nor a second List-Unsubscribe.
    let r = mime("From: shop@ha.test\r\nSubject: a\r\nSubject: b\r\n\r\nhi\r\n");
    expect_error(r, 400, &["2 Subject header fields"]);
    let r = mime("From: shop@ha.test\r\nList-Unsubscribe: <mailto:u@ha.test>\r\n\r\nhi\r\n");
    expect_error(r, 400, &["List-Unsubscribe", "envoi adds"]);
    nothing_accepted(&w.e);
}

#[test]
fn h_fields_never_add_a_second_copy_of_a_header_envoi_writes() {
    let w = two_tenants();
    for name in [
        "To",
        "Message-Id",
        "Date",
        "MIME-Version",
        "Content-Type",
        "DKIM-Signature",
        "List-Unsubscribe",
        "Return-Path",
        "Received",
    ] {
        let field = format!("h:{name}");
        let r = send(&w.e, ADMIN_KEY, &[("from", "a@ha.test"), (&field, "x")]);
        expect_error(r, 400, &[&field, "writes"]);
    }
    let r = send(
        &w.e,
        ADMIN_KEY,
        &[
            ("from", "a@ha.test"),
            ("h:Reply-To", "a@x.test"),
            ("h:reply-to", "b@x.test"),
        ],
    );
    expect_error(r, 400, &["twice"]);
    nothing_accepted(&w.e);

    // Subject and Reply-To replace or join envoi's, once each.
    let r = send(
        &w.e,
        ADMIN_KEY,
        &[
            ("from", "a@ha.test"),
            ("h:Subject", "From the header"),
            ("h:Reply-To", "help@ha.test"),
        ],
    );
    expect_json(r, 200);
    let got = w.sink.wait_for(1, WAIT);
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    let count = |name: &str| {
        text.split("\r\n\r\n")
            .next()
            .unwrap()
            .split("\r\n")
            .filter(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .count()
    };
    for name in ["Subject", "Reply-To", "From", "To", "Message-ID", "Date"] {
        assert_eq!(count(name), 1, "{name} in\n{text}");
    }
    assert_eq!(got[0].header("Subject"), "From the header");
}

/// One transaction on a session (over STARTTLS + AUTH as app@ha.test).
fn smtp_send(c: &mut envoi_tests::smtp_client::RawSmtp, message: &str) -> String {
    c.cmd("RSET");
    let r = c.cmd("MAIL FROM:<app@ha.test>");
    assert!(r.starts_with("250"), "{r}");
    let r = c.cmd("RCPT TO:<rcpt@dest.test>");
    assert!(r.starts_with("250"), "{r}");
    let r = c.cmd("DATA");
    assert!(r.starts_with("354"), "{r}");
    c.send(message.as_bytes());
    c.cmd(".")
}

fn submitting() -> Submitting {
    let s = Submitting::start("", Options::default());
    for d in [A, B] {
        s.w.dns.publish_dkim(&s.w.e.create_domain(d));
    }
    s
}

#[test]
fn over_smtp_every_mailbox_of_from_is_checked_lists_groups_and_folded_alike() {
    let s = submitting();
    let mut c = s.session(A);
    for from in [
        "From: <x@ha.test>, <ceo@hb.test>",
        "From: Team: x@ha.test, ceo@hb.test;",
        "From: x@ha.test,\r\n ceo@hb.test",
        "From: x@ha.test\r\nSender: ceo@hb.test",
    ] {
        let r = smtp_send(
            &mut c,
            &format!("{from}\r\nTo: rcpt@dest.test\r\nSubject: x\r\n\r\nhi\r\n"),
        );
        assert!(r.starts_with("550 5.7.1"), "{from:?}: {r}");
        assert!(r.contains("hb.test"), "{r}");
    }
    assert!(s.w.e.events(A, "event=accepted").is_empty());
}

#[test]
fn over_smtp_two_from_fields_or_none_get_550_5_6_0() {
    let s = submitting();
    let mut c = s.session(A);
    let two = "From: x@ha.test\r\nFrom: ceo@hb.test\r\nSubject: x\r\n\r\nhi\r\n";
    let r = smtp_send(&mut c, two);
    assert!(
        r.starts_with("550 5.6.0") && r.contains("exactly one"),
        "{r}"
    );
    let none = "To: rcpt@dest.test\r\nSubject: x\r\n\r\nhi\r\n";
    let r = smtp_send(&mut c, none);
    assert!(r.starts_with("550 5.6.0") && r.contains("0 From"), "{r}");
    // The session goes on: an aligned message is taken.
    let ok = "From: News <news@mail.ha.test>\r\nSubject: x\r\n\r\nhi\r\n";
    let r = smtp_send(&mut c, ok);
    assert!(r.starts_with("250"), "{r}");
    let got = s.w.sink.wait_for(1, WAIT);
    assert!(got[0].mail_from.ends_with("@ha.test") && got[0].mail_from.starts_with("b-"));
}
