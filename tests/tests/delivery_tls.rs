//! Contract §3's TLS table, cell by cell, against real SMTP sinks on loopback
//! with certificates from a test CA, found through a real DNS server.

use std::net::Ipv4Addr;
use std::time::Duration;

use envoi_tests::ca::{CertKind, TestCa};
use envoi_tests::dkim::Verifier;
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::*;
use serde_json::Value;

const DEST: &str = "dest.test";
const MX: &str = "mx.dest.test";
const SENDER: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
enum Mx {
    Cert(CertKind),
    NoStartTls,
}

struct World {
    e: Envoi,
    sink: Sink,
    dns: TestDns,
}

fn world(mx: Mx, extra_delivery: &str) -> World {
    let ca = TestCa::new();
    let cert = match mx {
        Mx::Cert(k) => Some(ca.server_cert(k, MX)),
        Mx::NoStartTls => None,
    };
    let sink = Sink::start(Script {
        cert,
        ..Script::default()
    });
    let dns = TestDns::start();
    dns.mx(DEST, 10, MX);
    dns.a(MX, Ipv4Addr::LOCALHOST);
    let ca_file = temp_dir("ca").join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\nport = {}\n{}\nextra_ca_file = \"{}\"\nhelo_name = \"envoi.test\"\nretry_schedule = [\"1s\"]\nconnect_timeout = \"3s\"\n{extra_delivery}\n",
            sink.addr.port(),
            dns.config_line(),
            ca_file.display()
        ),
        ..Options::default()
    });
    let created = e.create_domain(SENDER);
    // Publish the sender's DKIM key so delivered messages can be verified.
    for rec in created["sending_dns_records"].as_array().unwrap() {
        if rec["record_type"] == "TXT" && rec["name"].as_str().unwrap().contains("._domainkey.") {
            dns.txt(
                rec["name"].as_str().unwrap(),
                rec["value"].as_str().unwrap(),
            );
        }
    }
    World { e, sink, dns }
}

fn set_connection(e: &Envoi, require_tls: bool, skip_verification: bool) {
    let r = e
        .put(&format!("/v3/domains/{SENDER}/connection"), ADMIN_KEY)
        .form(&[
            ("require_tls", if require_tls { "true" } else { "false" }),
            (
                "skip_verification",
                if skip_verification { "true" } else { "false" },
            ),
        ])
        .send()
        .unwrap();
    expect_json(r, 200);
}

enum Expect {
    /// Delivered; the event's `tls` and `certificate-verified`.
    Delivered { tls: bool, verified: bool },
    /// Not sent: a temporary failure, nothing reaches the sink.
    NotSent,
}

fn cell(require_tls: bool, skip_verification: bool, mx: Mx, expect: Expect) {
    let w = world(mx, "");
    set_connection(&w.e, require_tls, skip_verification);
    let id = w.e.send(SENDER, &format!("rcpt@{DEST}"), &[]);
    check(&w, &id, expect);
}

fn check(w: &World, id: &str, expect: Expect) {
    match expect {
        Expect::Delivered { tls, verified } => {
            let ev =
                w.e.wait_event(SENDER, &format!("event=delivered&message-id={id}"), WAIT);
            let st = &ev["delivery-status"];
            assert_eq!(st["tls"], tls, "tls in {ev}");
            assert_eq!(
                st["certificate-verified"], verified,
                "certificate-verified in {ev}"
            );
            assert_eq!(st["mx-host"], MX);
            assert_eq!(st["code"], 250);
            let got = w.sink.wait_for(1, WAIT);
            assert_eq!(got[0].tls, tls, "what the sink saw");
            assert_eq!(got[0].rcpt_to, vec![format!("rcpt@{DEST}")]);
            // The return path is in the sending domain, never the From.
            assert!(
                got[0].mail_from.starts_with("b-")
                    && got[0].mail_from.ends_with(&format!("@{SENDER}")),
                "{}",
                got[0].mail_from
            );
            // Every delivered message is DKIM-signed and verifies.
            Verifier::new(w.dns.addr).assert_pass(&got[0].data);
        }
        Expect::NotSent => {
            let ev = w.e.wait_event(
                SENDER,
                &format!("event=failed&severity=temporary&message-id={id}"),
                WAIT,
            );
            let st = &ev["delivery-status"];
            assert!(
                st["message"].as_str().unwrap().contains("TLS"),
                "names TLS as the reason: {ev}"
            );
            assert_eq!(st["tls"], false);
            assert!(w.sink.received().is_empty(), "nothing may reach the sink");
        }
    }
}

// require_tls = false, skip_verification = false
#[test]
fn opportunistic_valid_cert_is_tls_verified() {
    cell(
        false,
        false,
        Mx::Cert(CertKind::Good),
        Expect::Delivered {
            tls: true,
            verified: true,
        },
    );
}
#[test]
fn opportunistic_bad_cert_falls_back_to_plaintext() {
    cell(
        false,
        false,
        Mx::Cert(CertKind::Expired),
        Expect::Delivered {
            tls: false,
            verified: false,
        },
    );
}
#[test]
fn opportunistic_without_starttls_is_plaintext() {
    cell(
        false,
        false,
        Mx::NoStartTls,
        Expect::Delivered {
            tls: false,
            verified: false,
        },
    );
}

// require_tls = false, skip_verification = true
#[test]
fn skip_verification_valid_cert_is_tls() {
    cell(
        false,
        true,
        Mx::Cert(CertKind::Good),
        Expect::Delivered {
            tls: true,
            verified: true,
        },
    );
}
#[test]
fn skip_verification_bad_cert_is_tls_unverified() {
    cell(
        false,
        true,
        Mx::Cert(CertKind::SelfSigned),
        Expect::Delivered {
            tls: true,
            verified: false,
        },
    );
}
#[test]
fn skip_verification_without_starttls_is_plaintext() {
    cell(
        false,
        true,
        Mx::NoStartTls,
        Expect::Delivered {
            tls: false,
            verified: false,
        },
    );
}

// require_tls = true, skip_verification = false
#[test]
fn require_tls_valid_cert_is_tls_verified() {
    cell(
        true,
        false,
        Mx::Cert(CertKind::Good),
        Expect::Delivered {
            tls: true,
            verified: true,
        },
    );
}
#[test]
fn require_tls_bad_cert_is_not_sent() {
    cell(true, false, Mx::Cert(CertKind::WrongHost), Expect::NotSent);
}
#[test]
fn require_tls_without_starttls_is_not_sent() {
    cell(true, false, Mx::NoStartTls, Expect::NotSent);
}

// require_tls = true, skip_verification = true
#[test]
fn require_tls_skip_verification_valid_cert_is_tls() {
    cell(
        true,
        true,
        Mx::Cert(CertKind::Good),
        Expect::Delivered {
            tls: true,
            verified: true,
        },
    );
}
#[test]
fn require_tls_skip_verification_bad_cert_is_tls_unverified() {
    cell(
        true,
        true,
        Mx::Cert(CertKind::Expired),
        Expect::Delivered {
            tls: true,
            verified: false,
        },
    );
}
#[test]
fn require_tls_skip_verification_without_starttls_is_not_sent() {
    cell(true, true, Mx::NoStartTls, Expect::NotSent);
}

#[test]
fn every_kind_of_bad_cert_is_refused_when_tls_is_required() {
    for kind in [CertKind::Expired, CertKind::SelfSigned, CertKind::WrongHost] {
        cell(true, false, Mx::Cert(kind), Expect::NotSent);
    }
}

#[test]
fn message_option_overrides_the_domain_setting() {
    // Domain: opportunistic. Message: o:require-tls=yes → not sent in clear.
    let w = world(Mx::NoStartTls, "");
    let id =
        w.e.send(SENDER, &format!("rcpt@{DEST}"), &[("o:require-tls", "yes")]);
    check(&w, &id, Expect::NotSent);
    // And o:skip-verification=true lets a self-signed MX carry TLS.
    let w = world(Mx::Cert(CertKind::SelfSigned), "");
    set_connection(&w.e, true, false);
    let id = w.e.send(
        SENDER,
        &format!("rcpt@{DEST}"),
        &[("o:skip-verification", "true")],
    );
    check(
        &w,
        &id,
        Expect::Delivered {
            tls: true,
            verified: false,
        },
    );
}

#[test]
fn refused_for_tls_until_too_old_then_permanent() {
    let w = world(Mx::NoStartTls, "max_age = \"3s\"");
    set_connection(&w.e, true, false);
    let id = w.e.send(SENDER, &format!("rcpt@{DEST}"), &[]);
    let ev: Value = w.e.wait_event(
        SENDER,
        &format!("event=failed&severity=permanent&message-id={id}"),
        WAIT,
    );
    assert_eq!(ev["reason"], "old", "{ev}");
    assert!(w.sink.received().is_empty());
}

/// The `delivery-status` of a delivered message.
fn delivered_status(w: &World, id: &str) -> Value {
    w.e.wait_event(SENDER, &format!("event=delivered&message-id={id}"), WAIT)["delivery-status"]
        .clone()
}

#[test]
fn a_verified_tls_session_carries_the_next_batch_without_a_new_handshake() {
    let w = world(Mx::Cert(CertKind::Good), "idle_connection_time = \"60s\"");
    for to in ["a@dest.test", "b@dest.test"] {
        let id = w.e.send(SENDER, to, &[]);
        let st = delivered_status(&w, &id);
        assert_eq!(
            (st["tls"].clone(), st["certificate-verified"].clone()),
            (true.into(), true.into())
        );
    }
    assert_eq!(w.sink.connections(), 1, "two batches, one TLS session");
}

#[test]
fn an_unverified_session_is_never_reused_for_a_message_that_needs_verification() {
    let w = world(
        Mx::Cert(CertKind::SelfSigned),
        "idle_connection_time = \"60s\"",
    );
    set_connection(&w.e, true, true);
    let id = w.e.send(SENDER, "a@dest.test", &[]);
    assert_eq!(delivered_status(&w, &id)["certificate-verified"], false);
    // The same MX, now with verification required (per message): the open,
    // unverified session proves nothing, and a new handshake refuses it.
    let id =
        w.e.send(SENDER, "b@dest.test", &[("o:skip-verification", "false")]);
    let ev = w.e.wait_event(
        SENDER,
        &format!("event=failed&severity=temporary&message-id={id}"),
        WAIT,
    );
    assert!(
        ev["delivery-status"]["message"]
            .as_str()
            .unwrap()
            .contains("TLS"),
        "{ev}"
    );
    assert_eq!(w.sink.count(), 1, "only the first reached the sink");
    assert!(w.sink.connections() >= 2, "a new connection was tried");
}
