//! Bounce and complaint intake (contract §3): every message goes out with a
//! VERP return path at `[inbound].bounce_domain`; a DSN or an ARF report sent
//! back there over SMTP on `[inbound].listen` becomes an event and a
//! suppression; anything else is refused and never relayed.

use std::time::Duration;

use envoi_tests::sink::Script;
use envoi_tests::smtp_client::RawSmtp;
use envoi_tests::world::Delivering;
use envoi_tests::*;

const DOMAIN: &str = "shop.test";
const BOUNCES: &str = "bounces.envoi.test";
const WAIT: Duration = Duration::from_secs(30);

struct World {
    w: Delivering,
    inbound: u16,
}

fn world() -> World {
    let w = Delivering::start(Script::default(), "", Options::with_bounce_domain(BOUNCES));
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    let inbound = w.e.inbound_port.unwrap();
    World { w, inbound }
}

/// Sends to `to` and returns the return path the sink saw.
fn delivered_return_path(w: &Delivering, to: &str) -> String {
    let before = w.sink.received().len();
    w.e.send(DOMAIN, to, &[]);
    let got = w.sink.wait_for(before + 1, WAIT);
    got[before].mail_from.clone()
}

/// One report over SMTP to the inbound listener; the reply to its DATA end
/// (or the first refusal).
fn report(port: u16, rcpt: &str, message: &str) -> String {
    let (mut c, greeting) = RawSmtp::connect(port);
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(c.cmd("EHLO mx.dest.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<>").starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{rcpt}>"));
    if !r.starts_with("250") {
        return r;
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message.replace('\n', "\r\n").as_bytes());
    c.cmd(".")
}

fn dsn(return_path: &str, rcpt: &str, status: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.dest.test>\n\
To: {return_path}\n\
Subject: Undelivered Mail Returned to Sender\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain\n\
\n\
I'm sorry to have to inform you that your message could not be delivered.\n\
--b1\n\
Content-Type: message/delivery-status\n\
\n\
Reporting-MTA: dns; mx.dest.test\n\
\n\
Final-Recipient: rfc822; {rcpt}\n\
Action: failed\n\
Status: {status}\n\
Diagnostic-Code: smtp; 550 {status} mailbox gone\n\
\n\
--b1--\n"
    )
}

fn arf(return_path: &str, rcpt: &str) -> String {
    format!(
        "From: feedback@isp.test\n\
To: {return_path}\n\
Subject: complaint\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"f1\"\n\
\n\
--f1\n\
Content-Type: text/plain\n\
\n\
This is an email abuse report.\n\
--f1\n\
Content-Type: message/feedback-report\n\
\n\
Feedback-Type: abuse\n\
User-Agent: isp-fbl/1.0\n\
Version: 1\n\
Original-Rcpt-To: <{rcpt}>\n\
\n\
--f1\n\
Content-Type: text/rfc822-headers\n\
\n\
From: shop@shop.test\n\
To: {rcpt}\n\
--f1--\n"
    )
}

fn list(e: &Envoi, table: &str) -> Vec<String> {
    expect_json(
        e.get(&format!("/v3/{DOMAIN}/{table}"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn messages_go_out_with_a_verp_return_path_at_the_bounce_domain() {
    let World { w, .. } = world();
    let a = delivered_return_path(&w, "alice@dest.test");
    let b = delivered_return_path(&w, "bob@dest.test");
    assert!(a.ends_with(&format!("@{BOUNCES}")), "{a}");
    assert!(a.starts_with("b-"), "{a}");
    assert_ne!(a, b, "one return path per message");
}

#[test]
fn a_dsn_for_a_delivered_message_becomes_a_bounce_and_a_suppression() {
    let World { w, inbound } = world();
    let rp = delivered_return_path(&w, "alice@dest.test");
    w.e.wait_event(DOMAIN, "event=delivered", WAIT);
    let r = report(inbound, &rp, &dsn(&rp, "alice@dest.test", "5.1.1"));
    assert!(r.starts_with("250"), "{r}");
    let ev =
        w.e.wait_event(DOMAIN, "event=failed&recipient=alice@dest.test", WAIT);
    assert_eq!(ev["severity"], "permanent");
    assert_eq!(ev["reason"], "bounce");
    assert_eq!(ev["delivery-status"]["enhanced-code"], "5.1.1");
    assert_eq!(list(&w.e, "bounces"), ["alice@dest.test"]);
    // Never contacted again.
    let before = w.sink.received().len();
    w.e.send(DOMAIN, "alice@dest.test", &[]);
    let suppressed =
        w.e.wait_event(DOMAIN, "event=failed&severity=permanent&limit=300", WAIT);
    assert!(suppressed.is_object());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.sink.received().len(), before);
    let reasons: Vec<String> =
        w.e.events(DOMAIN, "event=failed&recipient=alice@dest.test")
            .iter()
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect();
    assert!(
        reasons.contains(&"suppress-bounce".to_string()),
        "{reasons:?}"
    );
}

#[test]
fn a_temporary_dsn_is_recorded_without_suppressing() {
    let World { w, inbound } = world();
    let rp = delivered_return_path(&w, "alice@dest.test");
    let r = report(inbound, &rp, &dsn(&rp, "alice@dest.test", "4.2.2"));
    assert!(r.starts_with("250"), "{r}");
    let ev =
        w.e.wait_event(DOMAIN, "event=failed&severity=temporary", WAIT);
    assert_eq!(ev["recipient"], "alice@dest.test");
    assert!(list(&w.e, "bounces").is_empty());
}

#[test]
fn an_arf_complaint_becomes_a_complaint_and_a_suppression() {
    let World { w, inbound } = world();
    let rp = delivered_return_path(&w, "carol@dest.test");
    let r = report(inbound, &rp, &arf(&rp, "carol@dest.test"));
    assert!(r.starts_with("250"), "{r}");
    let ev = w.e.wait_event(DOMAIN, "event=complained", WAIT);
    assert_eq!(ev["recipient"], "carol@dest.test");
    assert_eq!(list(&w.e, "complaints"), ["carol@dest.test"]);
}

#[test]
fn anything_else_is_refused_and_never_relayed() {
    let World { w, inbound } = world();
    let rp = delivered_return_path(&w, "alice@dest.test");
    let before = w.sink.received().len();
    // Relaying through the inbound listener.
    let r = report(inbound, "victim@dest.test", "Subject: hi\n\nspam\n");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    // Ordinary mail to a real return path.
    let r = report(
        inbound,
        &rp,
        "From: someone@else.test\nSubject: hello\n\nJust saying hi.\n",
    );
    assert!(r.starts_with("550 5.7.1"), "{r}");
    // A forged return path.
    let forged = rp.replacen("b-", "b-1", 1);
    let r = report(inbound, &forged, &dsn(&forged, "alice@dest.test", "5.1.1"));
    assert!(r.starts_with("550"), "{r}");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(w.sink.received().len(), before, "nothing relayed");
    assert!(list(&w.e, "bounces").is_empty());
    assert!(w.e.events(DOMAIN, "event=failed").is_empty());
}
