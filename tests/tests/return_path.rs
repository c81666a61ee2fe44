//! The return path in the sending domain (contract §3, issue 18): once the
//! domain's return-path host `bounce.{domain}` has its MX at envoi (seen by
//! verify), its mail goes out with `MAIL FROM` there, so SPF aligns with the
//! From domain as DKIM does; an independent verifier (`mail-auth`) checks
//! DMARC passes on both. Until then it is `[inbound].bounce_domain`. Reports
//! to the new return path are taken as before.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use envoi_tests::dkim::Verifier;
use envoi_tests::sink::Script;
use envoi_tests::smtp_client::RawSmtp;
use envoi_tests::world::Delivering;
use envoi_tests::*;

const DOMAIN: &str = "shop.test";
const BOUNCES: &str = "bounces.envoi.test";
const WAIT: Duration = Duration::from_secs(30);

fn world() -> Delivering {
    let w = Delivering::start(Script::default(), "", Options::with_bounce_domain(BOUNCES));
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    // envoi's host, as its HELO says (the SPF records name it).
    w.dns.a("envoi.test", Ipv4Addr::LOCALHOST);
    w.dns.txt(DOMAIN, "v=spf1 a:envoi.test ~all");
    w.dns.txt(
        &format!("_dmarc.{DOMAIN}"),
        "v=DMARC1; p=reject; rua=mailto:dmarc@bounces.envoi.test",
    );
    w
}

fn verify(w: &Delivering) -> serde_json::Value {
    verify_domain(w, DOMAIN)
}

fn verify_domain(w: &Delivering, domain: &str) -> serde_json::Value {
    expect_json(
        w.e.put(&format!("/v4/domains/{domain}/verify"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )
}

fn send_one(w: &Delivering, to: &str) -> envoi_tests::sink::Received {
    let before = w.sink.received().len();
    w.e.send(DOMAIN, to, &[]);
    w.sink.wait_for(before + 1, WAIT)[before].clone()
}

#[test]
fn the_records_name_the_return_path_host_its_spf_and_its_mx_at_envoi() {
    let w = world();
    let v = verify(&w);
    let receiving = v["receiving_dns_records"].as_array().unwrap();
    assert_eq!(receiving.len(), 1, "{receiving:?}");
    assert_eq!(receiving[0]["record_type"], "MX");
    assert_eq!(receiving[0]["name"], "bounce.shop.test");
    assert_eq!(receiving[0]["value"], "envoi.test");
    assert_eq!(receiving[0]["valid"], "invalid", "not published yet");
    let sending = v["sending_dns_records"].as_array().unwrap();
    assert!(
        sending
            .iter()
            .any(|r| r["name"] == "bounce.shop.test" && r["value"] == "v=spf1 a:envoi.test ~all"),
        "{sending:?}"
    );
    assert_eq!(v["return_path"], format!("b-…@{BOUNCES}"));
}

#[test]
fn once_the_mx_is_at_envoi_mail_goes_out_with_spf_and_dkim_aligned() {
    let w = world();
    // Before: the global bounce domain; DMARC passes on DKIM alone.
    let before = send_one(&w, "alice@dest.test");
    assert!(
        before.mail_from.ends_with(&format!("@{BOUNCES}")),
        "{}",
        before.mail_from
    );
    let checker = Verifier::new(w.dns.addr);
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let d = checker.dmarc(&before.data, local, "envoi.test", &before.mail_from);
    assert!(d.pass && d.dkim_aligned && !d.spf_aligned, "{d:?}");

    w.dns.mx("bounce.shop.test", 10, "envoi.test");
    w.dns.txt("bounce.shop.test", "v=spf1 a:envoi.test ~all");
    let v = verify(&w);
    assert_eq!(v["receiving_dns_records"][0]["valid"], "valid", "{v}");
    assert_eq!(v["return_path"], "b-…@bounce.shop.test");
    assert_eq!(v["dmarc"]["envoi_mail"]["spf_aligned"], true);

    let after = send_one(&w, "bob@dest.test");
    assert!(after.mail_from.starts_with("b-"), "{}", after.mail_from);
    assert!(
        after.mail_from.ends_with("@bounce.shop.test"),
        "{}",
        after.mail_from
    );
    let d = checker.dmarc(&after.data, local, "envoi.test", &after.mail_from);
    assert_eq!(d.spf, "Pass", "{d:?}");
    assert!(d.pass && d.dkim_aligned && d.spf_aligned, "{d:?}");
}

#[test]
fn a_bounce_to_the_return_path_in_the_domain_is_recorded() {
    let w = world();
    w.dns.mx("bounce.shop.test", 10, "envoi.test");
    verify(&w);
    let got = send_one(&w, "gone@dest.test");
    let dsn = format!(
        "From: MAILER-DAEMON@mx.dest.test\r\nTo: {rp}\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nGone.\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.dest.test\r\n\r\nFinal-Recipient: rfc822; gone@dest.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n",
        rp = got.mail_from
    );
    let (mut c, _) = RawSmtp::connect(w.e.inbound_port.unwrap());
    assert!(c.cmd("EHLO mx.dest.test").starts_with("250"));
    let reply = c.submit("", &got.mail_from, dsn.as_bytes());
    assert!(reply.starts_with("250"), "{reply}");
    let ev = w.e.wait_event(DOMAIN, "event=failed", WAIT);
    assert_eq!(ev["recipient"], "gone@dest.test");
    assert_eq!(ev["reason"], "bounce");
    // Another name at a return-path host is not a return path: refused.
    let (mut c, _) = RawSmtp::connect(w.e.inbound_port.unwrap());
    assert!(c.cmd("EHLO mx.dest.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<>").starts_with("250"));
    let r = c.cmd("RCPT TO:<postmaster@bounce.shop.test>");
    assert!(r.starts_with("550 5.7.1"), "{r}");
}

#[test]
fn verify_says_what_to_change_in_each_record() {
    let w = world();
    let v = verify(&w);
    let find = |v: &serde_json::Value, name: &str| -> serde_json::Value {
        v["sending_dns_records"]
            .as_array()
            .unwrap()
            .iter()
            .chain(v["receiving_dns_records"].as_array().unwrap())
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    let spf = find(&v, DOMAIN);
    assert_eq!(spf["valid"], "valid");
    assert!(spf["fix"].is_null());
    let mx = &v["receiving_dns_records"][0];
    assert_eq!(mx["fix"], "publish MX 10 envoi.test at bounce.shop.test");
    let rp_spf = v["sending_dns_records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "bounce.shop.test")
        .unwrap()
        .clone();
    assert_eq!(
        rp_spf["fix"],
        "publish TXT \"v=spf1 a:envoi.test ~all\" at bounce.shop.test"
    );

    // An SPF record that lists other senders only: what to add.
    w.e.create_domain("other.test");
    w.dns.txt("other.test", "v=spf1 ip4:203.0.113.0/24 -all");
    let v = verify_domain(&w, "other.test");
    let spf = find(&v, "other.test");
    assert_eq!(spf["valid"], "invalid");
    let fix = spf["fix"].as_str().unwrap();
    assert!(
        fix.contains("does not authorise envoi (envoi.test): add a:envoi.test"),
        "{fix}"
    );
    // A network holding envoi's address does.
    w.e.create_domain("third.test");
    w.dns.txt("third.test", "v=spf1 ip4:127.0.0.0/8 -all");
    let v = verify_domain(&w, "third.test");
    assert_eq!(find(&v, "third.test")["valid"], "valid");
}
