//! The dispatcher against scripted peers in memory (`scripted_peer`).

use std::net::SocketAddr;
use std::time::Duration;

use policy::tls::TlsSettings;

use super::*;
use crate::delivery::idle::IdleSessions;
use crate::delivery::scripted_peer::{hello, Peers, Step, Step::*};
use crate::net::smtp::Timeouts;
use crate::net::tls::TlsClient;

fn transport(peers: &Peers, idle: Duration) -> Transport {
    let t = Duration::from_secs(2);
    Transport {
        tls: TlsClient::new(None).unwrap(),
        timeouts: Timeouts {
            connect: t,
            greeting: t,
            ehlo: t,
            starttls: t,
            mail: t,
            rcpt: t,
            data: t,
            transfer: t,
            final_dot: t,
        },
        helo: "envoi.test".into(),
        idle: IdleSessions::new(idle),
        dial: peers.dial(),
    }
}

fn mx(n: u8) -> Target {
    Target {
        host: format!("mx{n}.peer.test"),
        addr: SocketAddr::from(([192, 0, 2, n], 25)),
    }
}

const OPPORTUNISTIC: TlsSettings = TlsSettings {
    require_tls: false,
    skip_verification: false,
};

fn letter<'a>(to: &[&'a str]) -> Letter<'a> {
    Letter {
        return_path: "b-1-x@sender.test",
        recipients: to.to_vec(),
        content: [b"DKIM-Signature: v=1\r\n", b"Subject: hi\r\n\r\nhello\r\n"],
    }
}

/// The reply codes of a message's fates, in recipient order.
fn codes(sent: Sent) -> Vec<(char, u16)> {
    let Sent::Done(fates) = sent else {
        panic!("expected fates");
    };
    fates
        .into_iter()
        .map(|f| match f {
            Fate::Delivered(r) => ('D', r.code),
            Fate::Temporary(r) => ('T', r.code),
            Fate::Permanent(_, r) => ('P', r.code),
        })
        .collect()
}

fn accepting_one() -> Vec<Step> {
    let mut s = hello(true);
    s.extend([
        Hear("MAIL FROM:<b-1-x@sender.test>"),
        Hear("RCPT TO:<a@peer.test>"),
        Hear("DATA"),
        Say("250 2.1.0 ok"),
        Say("250 2.1.5 ok"),
        Say("354 go"),
        Message,
        Say("250 2.0.0 queued"),
    ]);
    s
}

#[tokio::test]
async fn a_refusing_greeting_sends_the_message_to_the_next_mx() {
    let peers = Peers::new(vec![
        vec![Say("554 5.7.1 no service here"), HangUp],
        accepting_one(),
    ]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1), mx(2)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    assert_eq!(codes(d.send(&letter(&["a@peer.test"])).await), [('D', 250)]);
    assert!(d.finish().reached);
    peers.check().await;
}

#[tokio::test]
async fn with_one_mx_a_refusing_greeting_is_the_failure_and_not_a_reach() {
    let peers = Peers::new(vec![vec![Say("421 4.3.2 busy"), HangUp]]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(!d.next_mx().await);
    let end = d.finish();
    assert!(!end.reached);
    assert_eq!(end.failure.reply.code, 421);
    assert!(matches!(end.failure.fate(), Fate::Temporary(_)));
    peers.check().await;
}

#[tokio::test]
async fn starttls_refused_makes_the_mx_unusable_and_the_failure_temporary() {
    let s = vec![
        Say("220 mx.peer.test ESMTP"),
        Hear("EHLO"),
        Say("250-mx.peer.test"),
        Say("250 STARTTLS"),
        Hear("STARTTLS"),
        Say("454 4.7.0 TLS not available now"),
    ];
    let peers = Peers::new(vec![s]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(!d.next_mx().await);
    let end = d.finish();
    assert!(end.reached, "the MX greeted: it is reachable");
    assert_eq!(end.failure.reply.code, 454);
    assert!(end.failure.facts.connected);
    assert!(matches!(end.failure.fate(), Fate::Temporary(_)));
    peers.check().await;
}

#[tokio::test]
async fn a_4xx_at_rcpt_fails_that_recipient_alone_for_now() {
    let mut s = hello(true);
    s.extend([
        Hear("MAIL FROM:"),
        Hear("RCPT TO:<a@peer.test>"),
        Hear("RCPT TO:<b@peer.test>"),
        Hear("RCPT TO:<c@peer.test>"),
        Hear("DATA"),
        Say("250 ok"),
        Say("250 ok"),
        Say("452 4.2.2 mailbox full"),
        Say("250 ok"),
        Say("354 go"),
        Message,
        Say("250 2.0.0 queued"),
    ]);
    let peers = Peers::new(vec![s]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    let sent = d
        .send(&letter(&["a@peer.test", "b@peer.test", "c@peer.test"]))
        .await;
    assert_eq!(codes(sent), [('D', 250), ('T', 452), ('D', 250)]);
    peers.check().await;
}

#[tokio::test]
async fn a_5xx_to_data_fails_every_accepted_recipient_for_good() {
    let mut s = hello(true);
    s.extend([
        Hear("MAIL FROM:"),
        Hear("RCPT TO:"),
        Hear("RCPT TO:"),
        Hear("DATA"),
        Say("250 ok"),
        Say("550 5.1.1 no such user"),
        Say("250 ok"),
        Say("554 5.3.0 no data today"),
        Hear("RSET"),
        Say("250 ok"),
    ]);
    let peers = Peers::new(vec![s]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    let sent = d.send(&letter(&["a@peer.test", "b@peer.test"])).await;
    assert_eq!(codes(sent), [('P', 550), ('P', 554)]);
    peers.check().await;
}

#[tokio::test]
async fn a_connection_dropped_mid_data_sends_the_message_to_the_next_mx() {
    let mut broken = hello(true);
    broken.extend([
        Hear("MAIL FROM:"),
        Hear("RCPT TO:"),
        Hear("DATA"),
        Say("250 ok"),
        Say("250 ok"),
        Say("354 go"),
        HangUpAfter(10),
    ]);
    let peers = Peers::new(vec![broken, accepting_one()]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1), mx(2)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    let l = letter(&["a@peer.test"]);
    assert!(matches!(d.send(&l).await, Sent::Broken));
    assert!(d.next_mx().await, "the second MX takes over");
    assert_eq!(codes(d.send(&l).await), [('D', 250)]);
    peers.check().await;
}

#[tokio::test]
async fn with_one_mx_a_connection_dropped_mid_data_is_a_temporary_failure() {
    let mut broken = hello(false);
    broken.extend([
        Hear("MAIL FROM:"),
        Say("250 ok"),
        Hear("RCPT TO:"),
        Say("250 ok"),
        Hear("DATA"),
        Say("354 go"),
        HangUpAfter(5),
    ]);
    let peers = Peers::new(vec![broken]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    assert!(matches!(
        d.send(&letter(&["a@peer.test"])).await,
        Sent::Broken
    ));
    assert!(!d.next_mx().await);
    let end = d.finish();
    assert!(end.reached);
    assert!(matches!(end.failure.fate(), Fate::Temporary(_)));
    assert!(
        end.failure.reply.text().contains("connection lost"),
        "{}",
        end.failure.reply
    );
    peers.check().await;
}

#[tokio::test]
async fn a_parked_session_the_mx_closed_while_idle_is_replaced_by_a_new_one() {
    // The first peer delivers, then closes the parked connection.
    let mut first = accepting_one();
    first.push(HangUp);
    let peers = Peers::new(vec![first, accepting_one()]);
    let t = transport(&peers, Duration::from_secs(30));
    let targets = [mx(1)];
    let l = letter(&["a@peer.test"]);

    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    assert_eq!(codes(d.send(&l).await), [('D', 250)]);
    d.finish();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    assert_eq!(codes(d.send(&l).await), [('D', 250)]);
    peers.check().await;
}

#[tokio::test]
async fn a_parked_session_closed_as_it_is_taken_costs_nothing_and_goes_again() {
    // The first peer delivers, then hangs up at the next MAIL FROM without
    // a word: the message goes at once over a new connection.
    let mut first = accepting_one();
    first.extend([Hear("MAIL FROM:"), HangUp]);
    let peers = Peers::new(vec![first, accepting_one()]);
    let t = transport(&peers, Duration::from_secs(30));
    let targets = [mx(1)];
    let l = letter(&["a@peer.test"]);

    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    assert_eq!(codes(d.send(&l).await), [('D', 250)]);
    d.finish();

    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    assert_eq!(codes(d.send(&l).await), [('D', 250)]);
    peers.check().await;
}

#[tokio::test]
async fn all_4xx_on_one_mx_tries_the_next_and_keeps_the_session_for_others() {
    let mut first = hello(true);
    first.extend([
        Hear("MAIL FROM:"),
        Hear("RCPT TO:<a@peer.test>"),
        Hear("DATA"),
        Say("250 ok"),
        Say("451 4.3.0 try later"),
        Say("503 5.5.1 no recipients"),
        Hear("RSET"),
        Say("250 ok"),
    ]);
    let peers = Peers::new(vec![first, accepting_one()]);
    let t = transport(&peers, Duration::ZERO);
    let targets = [mx(1), mx(2)];
    let mut d = Dispatcher::new(&t, "peer.test", OPPORTUNISTIC, &targets);
    assert!(d.next_mx().await);
    let l = letter(&["a@peer.test"]);
    assert!(matches!(d.send(&l).await, Sent::TryNextMx));
    assert!(d.next_mx().await);
    assert_eq!(codes(d.send(&l).await), [('D', 250)]);
    peers.check().await;
}
