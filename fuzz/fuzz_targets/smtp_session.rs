//! Drives the SMTP submission state machine with arbitrary bytes, cut into
//! arbitrary chunks, answering its effects the way a session would (a fixed
//! password is right, every message stores, TLS "starts"). It must never
//! panic, never submit a message without authority, and keep its buffers
//! bounded.

#![no_main]

use gateway::net::smtp_server::machine::{Action, AuthOutcome, Machine, Settings};
use gateway::net::smtp_server::reply::Reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let settings = Settings {
        inbound: None,
        host: "fuzz.test".into(),
        max_message_size: 4096,
        max_recipients: 5,
        tls_available: mode & 1 == 1,
        auth_without_tls: mode & 2 == 2,
    };
    let allowlisted = if mode & 4 == 4 {
        vec!["allow.test".to_string()]
    } else {
        Vec::new()
    };
    let mut m = Machine::new(settings, allowlisted);
    let mut authenticated = mode & 4 == 4;
    // The first bytes of the input choose chunk sizes (1..=64).
    let step = 1 + (mode as usize >> 3) % 64;
    for chunk in rest.chunks(step) {
        m.feed(chunk);
        while let Some(action) = m.next_action() {
            match action {
                Action::Reply(r) => {
                    let mut out = Vec::new();
                    r.write_to(&mut out);
                    assert!(out.ends_with(b"\r\n"));
                }
                Action::Authenticate { password, .. } => {
                    let ok = password == "pw";
                    authenticated |= ok;
                    m.auth_done(if ok {
                        AuthOutcome::Ok {
                            domain: "shop.test".into(),
                        }
                    } else {
                        AuthOutcome::Failed
                    });
                }
                Action::Submit(env) => {
                    assert!(authenticated, "a message without authority");
                    assert!(!env.rcpt_to.is_empty() && env.rcpt_to.len() <= 5);
                    assert!(env.data.len() <= 4096);
                    m.submitted(Reply::queued("fuzz"));
                }
                Action::StartTls => m.tls_started(),
                Action::Close => return,
            }
        }
    }
});
