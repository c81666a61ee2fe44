//! The SMTP submission relay (contract §4) against the real binary: real
//! clients (Python's smtplib, lettre) over STARTTLS with a certificate from a
//! test CA, and a bare socket for hostile input. Messages reach a sink
//! DKIM-signed, through the same queue as the HTTP API.

use std::time::Duration;

use envoi_tests::ca::{CertKind, TestCa};
use envoi_tests::dkim::Verifier;
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::smtp_client::RawSmtp;
use envoi_tests::world::Delivering;
use envoi_tests::*;

const SENDER: &str = "shop.test";
const LOGIN: &str = "app@shop.test";
const PASSWORD: &str = "s3cret-pass";
const WAIT: Duration = Duration::from_secs(30);

struct World {
    e: Envoi,
    sink: Sink,
    dns: TestDns,
    ca: TestCa,
}

/// `tls`: STARTTLS with a good certificate for "localhost" and AUTH only
/// after it; otherwise plain AUTH is allowed (loopback tests).
fn world(tls: bool, smtp_extra: &str) -> World {
    let ca = TestCa::new();
    let dir = temp_dir("smtp-tls");
    let smtp = if tls {
        let (cert, key) = ca.server_cert(CertKind::Good, "localhost").write_pem(&dir);
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n{smtp_extra}",
            cert.display(),
            key.display()
        )
    } else {
        format!("allow_plain_auth_without_tls = true\n{smtp_extra}")
    };
    let Delivering { e, sink, dns } = Delivering::start(
        Script::default(),
        "",
        Options {
            smtp_extra: smtp,
            ..Options::default()
        },
    );
    dns.publish_dkim(&e.create_domain(SENDER));
    let r = e
        .post(&format!("/v3/domains/{SENDER}/credentials"), ADMIN_KEY)
        .form(&[("login", "app"), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(
        expect_json(r, 200)["message"],
        "Created 1 credentials pair(s)"
    );
    World { e, sink, dns, ca }
}

fn message(from: &str, to: &str, extra_headers: &str) -> String {
    format!(
        "From: Shop <{from}>\r\nTo: {to}\r\nSubject: Your receipt\r\n{extra_headers}\r\nThank you.\r\n"
    )
}

/// An authenticated client on a bare socket, past DATA's 354.
fn open_data(port: u16, from: &str, rcpts: &[&str]) -> RawSmtp {
    let (mut c, _) = RawSmtp::connect(port);
    assert!(c.login(LOGIN, PASSWORD).starts_with("235"));
    assert!(c.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
    for r in rcpts {
        assert!(c.cmd(&format!("RCPT TO:<{r}>")).starts_with("250"));
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c
}

/// A whole authenticated transaction; the reply to DATA's end.
fn submit(port: u16, from: &str, rcpts: &[&str], data: &str) -> String {
    let mut c = open_data(port, from, rcpts);
    c.send(data.as_bytes());
    c.cmd(".")
}

/// Another client's plain submission still gets its 250.
fn assert_still_serving(w: &World) {
    let r = submit(
        w.e.smtp_port,
        LOGIN,
        &["rcpt@dest.test"],
        &message(LOGIN, "rcpt@dest.test", ""),
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
}

fn accepted_count(e: &Envoi) -> usize {
    e.events(SENDER, "event=accepted&limit=300").len()
}

#[test]
fn python_smtplib_submits_over_starttls_and_auth_and_the_sink_gets_it_signed() {
    let w = world(true, "");
    let ca_file = temp_dir("ca").join("ca.pem");
    std::fs::write(&ca_file, w.ca.pem()).unwrap();
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile={ca:?})
s = smtplib.SMTP("localhost", {port}, timeout=30)
s.ehlo()
assert "auth" not in s.esmtp_features, s.esmtp_features
s.starttls(context=ctx)
s.ehlo()
s.login({login:?}, {password:?})
msg = "From: Shop <{login}>\r\nTo: rcpt@dest.test\r\nSubject: smtplib\r\nX-Mailgun-Tag: receipts\r\nX-Mailgun-Variables: {{\"order\": \"42\"}}\r\n\r\nHello from smtplib.\r\n"
s.sendmail({login:?}, ["rcpt@dest.test"], msg)
s.quit()
"#,
        ca = ca_file.display().to_string(),
        port = w.e.smtp_port,
        login = LOGIN,
        password = PASSWORD,
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtplib failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        w.e.log_tail()
    );
    let got = w.sink.wait_for(1, WAIT);
    let data = &got[0].data;
    Verifier::new(w.dns.addr).assert_pass(data);
    let text = String::from_utf8_lossy(data);
    assert!(
        !text.to_ascii_lowercase().contains("x-mailgun-"),
        "option headers are removed: {text}"
    );
    let ev = w.e.wait_event(SENDER, "event=accepted", WAIT);
    assert_eq!(ev["method"], "smtp");
    assert_eq!(ev["tags"][0], "receipts");
    assert_eq!(ev["user-variables"]["order"], "42");
}

#[test]
fn lettre_submits_over_starttls_and_auth() {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};
    let w = world(true, "");
    let tls = TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(w.ca.pem().as_bytes()).unwrap())
        .build_rustls()
        .unwrap();
    let mailer = SmtpTransport::builder_dangerous("localhost")
        .port(w.e.smtp_port)
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(LOGIN.into(), PASSWORD.into()))
        .build();
    let email = Message::builder()
        .from(LOGIN.parse().unwrap())
        .to("rcpt@dest.test".parse().unwrap())
        .subject("from lettre")
        .body("Hello from lettre.".to_string())
        .unwrap();
    let resp = mailer.send(&email).unwrap();
    assert_eq!(resp.code().to_string(), "250");
    let got = w.sink.wait_for(1, WAIT);
    Verifier::new(w.dns.addr).assert_pass(&got[0].data);
}

#[test]
fn without_auth_nothing_is_relayed() {
    let w = world(false, "");
    let (mut c, greeting) = RawSmtp::connect(w.e.smtp_port);
    assert!(greeting.starts_with("220"), "{greeting}");
    c.cmd("EHLO client.test");
    let r = c.cmd("MAIL FROM:<app@shop.test>");
    assert!(r.starts_with("530 5.7.0"), "{r}");
    let r = c.cmd("RCPT TO:<victim@dest.test>");
    assert!(r.starts_with("503"), "{r}");
    assert_eq!(accepted_count(&w.e), 0);
}

#[test]
fn auth_before_starttls_is_refused() {
    let w = world(true, "");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    let ehlo = c.cmd("EHLO client.test");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    let r = c.cmd("AUTH PLAIN AGFwcEBzaG9wLnRlc3QAczNjcmV0LXBhc3M=");
    assert!(r.starts_with("538 5.7.11"), "{r}");
}

#[test]
fn a_wrong_password_is_refused_slowly_and_others_are_still_served() {
    let w = world(false, "");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    let started = std::time::Instant::now();
    let r = c.login(LOGIN, "wrong-password");
    assert!(r.starts_with("535 5.7.8"), "{r}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "failures are delayed"
    );
    let r = c.login("nobody@shop.test", PASSWORD);
    assert!(r.starts_with("503") || r.starts_with("535"), "{r}");
    // Meanwhile another client submits.
    assert_still_serving(&w);
}

#[test]
fn another_domains_sender_or_from_header_is_refused() {
    let w = world(false, "");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.login(LOGIN, PASSWORD);
    let r = c.cmd("MAIL FROM:<ceo@bank.test>");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    assert!(c.cmd(&format!("MAIL FROM:<{LOGIN}>")).starts_with("250"));
    assert!(c.cmd("RCPT TO:<rcpt@dest.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message("ceo@bank.test", "rcpt@dest.test", "").as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    assert_eq!(accepted_count(&w.e), 0);
}

#[test]
fn an_oversized_message_gets_552_and_nothing_is_stored() {
    let w = world(false, "max_message_size = \"10KB\"\n");
    let big = message(LOGIN, "rcpt@dest.test", "") + &"x".repeat(100).repeat(200);
    let r = submit(w.e.smtp_port, LOGIN, &["rcpt@dest.test"], &(big + "\r\n"));
    assert!(r.starts_with("552 5.3.4"), "{r}");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.login(LOGIN, PASSWORD);
    let r = c.cmd(&format!("MAIL FROM:<{LOGIN}> SIZE=20000"));
    assert!(r.starts_with("552 5.3.4"), "{r}");
    assert_eq!(accepted_count(&w.e), 0);
}

#[test]
fn the_1001st_recipient_gets_452_and_the_first_1000_are_kept() {
    let w = world(false, "");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.login(LOGIN, PASSWORD);
    c.cmd(&format!("MAIL FROM:<{LOGIN}>"));
    // Pipelined, as real bulk clients do.
    let mut batch = String::new();
    for i in 0..1001 {
        batch.push_str(&format!("RCPT TO:<r{i}@dest.test>\r\n"));
    }
    c.send(batch.as_bytes());
    let replies: Vec<String> = (0..1001).map(|_| c.reply()).collect();
    assert!(replies[..1000].iter().all(|r| r.starts_with("250")));
    assert!(replies[1000].starts_with("452 4.5.3"), "{}", replies[1000]);
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message(LOGIN, "list@dest.test", "X-Mailgun-Drop-Message: yes\r\n").as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(
        w.e.events(SENDER, "event=accepted&limit=300").len(),
        300,
        "(a page of them)"
    );
}

#[test]
fn garbage_binary_and_long_lines_get_errors_and_the_server_keeps_serving() {
    let w = world(false, "");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    let r = c.cmd("HELLO THERE");
    assert!(r.starts_with("500 5.5.1"), "{r}");
    c.send(&[0u8, 0xff, 0xfe, b'\r', b'\n']);
    let r = c.reply();
    assert!(r.starts_with("500") || r.starts_with("501"), "{r}");
    // A 2 MB line: one 500 5.5.2, then the session goes on.
    let mut line = vec![b'A'; 2 * 1024 * 1024];
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    let r = c.reply();
    assert!(r.starts_with("500 5.5.2"), "{r}");
    assert!(c.cmd("NOOP").starts_with("250"));
    // Binary noise until the server hangs up.
    let noise: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let _ = std::io::Write::write_all(&mut c.stream, &noise);
    let _ = std::io::Write::write_all(
        &mut c.stream,
        b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
    );
    // Someone else is still served.
    assert_still_serving(&w);
}

#[test]
fn a_bare_lf_message_is_refused_and_not_stored() {
    let w = world(false, "");
    let mut c = open_data(w.e.smtp_port, LOGIN, &["rcpt@dest.test"]);
    c.send(format!("From: {LOGIN}\nSubject: lf\n\nbody\n.\n").as_bytes());
    let r = c.reply();
    assert!(r.starts_with("521 5.5.2"), "{r}");
    assert!(c.closed());
    assert_eq!(accepted_count(&w.e), 0);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let w = world(false, "");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.login(LOGIN, PASSWORD);
    c.send(
        format!(
            "MAIL FROM:<{LOGIN}>\r\nRCPT TO:<a@dest.test>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n"
        )
        .as_bytes(),
    );
    for _ in 0..3 {
        assert!(c.reply().starts_with("250"));
    }
    assert!(c.reply().starts_with("354"));
    c.send(format!("{}.\r\nQUIT\r\n", message(LOGIN, "a@dest.test", "")).as_bytes());
    assert!(c.reply().starts_with("250 2.0.0 OK: queued as <"));
    assert!(c.reply().starts_with("221"));
    w.sink.wait_for(1, WAIT);
}

#[test]
fn a_client_vanishing_in_data_stores_nothing() {
    let w = world(false, "");
    {
        let mut c = open_data(w.e.smtp_port, LOGIN, &["rcpt@dest.test"]);
        c.send(b"From: app@shop.test\r\nSubject: half\r\n\r\nhalf a mess");
    } // dropped: the socket closes mid-DATA
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(accepted_count(&w.e), 0);
    assert_still_serving(&w);
}

#[test]
fn an_idle_client_is_told_421() {
    let w = world(false, "idle_timeout = \"1s\"\n");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    let r = c.reply();
    assert!(r.starts_with("421 4.4.2"), "{r}");
}

#[test]
fn sigterm_lets_an_open_data_phase_finish_and_store() {
    let mut w = world(false, "");
    let mut c = open_data(w.e.smtp_port, LOGIN, &["rcpt@dest.test"]);
    c.send(b"From: app@shop.test\r\nSubject: during shutdown\r\n\r\n");
    let pid = w.e.pid().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    c.send(b"the end\r\n");
    let r = c.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    w.e.restart();
    assert_eq!(accepted_count(&w.e), 1, "the message was stored");
}

#[test]
fn credentials_are_managed_like_mailgun_and_a_changed_password_takes_effect() {
    let w = world(false, "");
    let path = format!("/v3/domains/{SENDER}/credentials");
    let list = expect_json(w.e.get(&path, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["items"][0]["login"], LOGIN);
    assert!(!list.to_string().contains(PASSWORD));
    // A generated password is shown once.
    let made = expect_json(
        w.e.post(&path, ADMIN_KEY)
            .form(&[("login", "bot")])
            .send()
            .unwrap(),
        200,
    );
    assert!(made["credentials"]["bot@shop.test"].is_string());
    expect_error(
        w.e.post(&path, ADMIN_KEY)
            .form(&[("login", "x"), ("password", "abc")])
            .send()
            .unwrap(),
        400,
        &["between 5 and 32"],
    );
    expect_error(
        w.e.post(&path, ADMIN_KEY)
            .form(&[("login", "x@other.test"), ("password", "abcdef")])
            .send()
            .unwrap(),
        400,
        &["login"],
    );
    // grace=0s: the old password stops at once (the default keeps it 24 h;
    // see key_rotation.rs).
    let r =
        w.e.put(&format!("{path}/app"), ADMIN_KEY)
            .form(&[("password", "new-password"), ("grace", "0s")])
            .send()
            .unwrap();
    assert_eq!(expect_json(r, 200)["message"], "Password changed");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    assert!(c.login(LOGIN, PASSWORD).starts_with("535"));
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    assert!(c.login(LOGIN, "new-password").starts_with("235"));
    let r =
        w.e.delete(&format!("{path}/app"), ADMIN_KEY)
            .send()
            .unwrap();
    assert_eq!(expect_json(r, 200)["spec"], LOGIN);
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    assert!(c.login(LOGIN, "new-password").starts_with("535"));
    // A sending key cannot manage credentials.
    let key = w.e.sending_key(SENDER);
    expect_error(w.e.get(&path, &key).send().unwrap(), 403, &[]);
}

#[test]
fn connections_over_the_limit_are_told_421() {
    let w = world(false, "max_connections = 2\n");
    let (_a, ga) = RawSmtp::connect(w.e.smtp_port);
    let (_b, gb) = RawSmtp::connect(w.e.smtp_port);
    assert!(ga.starts_with("220") && gb.starts_with("220"));
    let (mut c, gc) = RawSmtp::connect(w.e.smtp_port);
    assert!(gc.starts_with("421 4.7.0"), "{gc}");
    assert!(c.closed());
}

#[test]
fn an_allowlisted_network_submits_without_auth_only_as_its_domain() {
    let w = world(false, "");
    let path = format!("/v3/domains/{SENDER}/ip_allowlist");
    let add = |address: &str| {
        w.e.post(&path, ADMIN_KEY)
            .form(&[("address", address), ("description", "app servers")])
            .send()
            .unwrap()
    };
    expect_json(add("10.0.0.0/8"), 200);
    expect_error(add("10.0.0.0/8"), 409, &["already"]);
    expect_error(add("not-an-ip"), 400, &["CIDR"]);
    // A client outside the allowlist still needs AUTH.
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.cmd("EHLO app.test");
    let r = c.cmd(&format!("MAIL FROM:<{LOGIN}>"));
    assert!(r.starts_with("530 5.7.0"), "{r}");

    expect_json(add("127.0.0.1"), 200);
    let listed = expect_json(w.e.get(&path, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(listed["addresses"][1]["ip_address"], "127.0.0.1/32");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.cmd("EHLO app.test");
    let r = c.cmd("MAIL FROM:<ceo@bank.test>");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    assert!(c.cmd(&format!("MAIL FROM:<{LOGIN}>")).starts_with("250"));
    assert!(c.cmd("RCPT TO:<rcpt@dest.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message(LOGIN, "rcpt@dest.test", "").as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    w.sink.wait_for(1, WAIT);

    let r =
        w.e.delete(&format!("{path}?address=127.0.0.1"), ADMIN_KEY)
            .send()
            .unwrap();
    expect_json(r, 200);
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.cmd("EHLO app.test");
    assert!(c.cmd(&format!("MAIL FROM:<{LOGIN}>")).starts_with("530"));
}

#[test]
fn recipient_variables_give_each_recipient_its_own_copy() {
    let w = world(false, "");
    let vars = r#"{"a@dest.test": {"name": "Ann"}, "b@dest.test": {"name": "Bob"}}"#;
    let data = format!(
        "From: {LOGIN}\r\nTo: list@dest.test\r\nSubject: hi\r\nX-Mailgun-Recipient-Variables: {vars}\r\n\r\nHello %recipient.name%.\r\n"
    );
    let r = submit(w.e.smtp_port, LOGIN, &["a@dest.test", "b@dest.test"], &data);
    assert!(r.starts_with("250"), "{r}");
    for m in w.sink.wait_for(2, WAIT) {
        assert_eq!(m.rcpt_to.len(), 1, "one copy per recipient");
        let text = String::from_utf8_lossy(&m.data).to_string();
        let (own, other) = if m.rcpt_to[0] == "a@dest.test" {
            ("Hello Ann.", "Bob")
        } else {
            ("Hello Bob.", "Ann")
        };
        assert!(text.contains(own) && !text.contains(other), "{text}");
        assert!(!text.to_ascii_lowercase().contains("x-mailgun-"), "{text}");
    }
    let ids: std::collections::HashSet<String> =
        w.e.events(SENDER, "event=accepted")
            .iter()
            .map(|e| {
                e["message"]["headers"]["message-id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
    assert_eq!(
        ids.len(),
        1,
        "every copy keeps the one Message-ID the 250 named, as Mailgun's batches"
    );
}

/// The defaults: no certificate, no `allow_plain_auth_without_tls`.
fn world_on_defaults() -> Delivering {
    let w = Delivering::start(Script::default(), "", Options::default());
    w.dns.publish_dkim(&w.e.create_domain(SENDER));
    w.e.create_credential(SENDER, "app", PASSWORD);
    w
}

#[test]
fn on_the_defaults_a_client_on_loopback_logs_in_without_tls_and_sends() {
    let w = world_on_defaults();
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    let ehlo = c.cmd("EHLO client.test");
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    let r = c.login(LOGIN, PASSWORD);
    assert!(r.starts_with("235"), "{r}");
    let r = c.submit(
        LOGIN,
        "someone@dest.test",
        b"From: app@shop.test\r\nTo: someone@dest.test\r\nSubject: defaults\r\n\r\nhi\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    w.sink.wait_for(1, WAIT);
    assert!(
        w.e.stderr()
            .contains("SMTP AUTH is accepted only from this machine (loopback)"),
        "the start-up log says so"
    );
}

#[test]
fn a_login_without_its_domain_is_told_to_log_in_as_login_at_domain() {
    let w = world_on_defaults();
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.cmd("EHLO client.test");
    let r = c.login("app", PASSWORD);
    assert!(
        r.starts_with("535 5.7.8")
            && r.contains("login@domain")
            && r.contains("\"app\" names no domain"),
        "{r}"
    );
    let r = c.login(LOGIN, "wrong-password");
    assert!(
        r.starts_with("535 5.7.8 authentication failed: wrong login or password (the login is the full login@domain"),
        "{r}"
    );
}

#[test]
fn mail_without_auth_is_told_to_starttls_then_auth_as_login_at_domain() {
    let w = world(true, "");
    let (mut c, _) = RawSmtp::connect(w.e.smtp_port);
    c.cmd("EHLO client.test");
    let r = c.cmd("MAIL FROM:<app@shop.test>");
    assert!(
        r.starts_with(
            "530 5.7.0 authentication required: issue STARTTLS, then AUTH as login@domain"
        ),
        "{r}"
    );
}
