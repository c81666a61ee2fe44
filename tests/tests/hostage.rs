//! Nobody holds envoi hostage (issue 17): a client that never reads, drips
//! bytes, or fills the receive budget is cut off or told to come back; a
//! key guesser is throttled by address.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use envoi_tests::smtp_client::RawSmtp;
use envoi_tests::world::Submitting;
use envoi_tests::*;

const D: &str = "hold.test";

#[test]
fn an_smtp_client_that_pipelines_and_never_reads_is_dropped_after_idle_timeout() {
    let e = Envoi::start_with(Options {
        smtp_extra: "idle_timeout = \"2s\"\n".into(),
        ..Options::default()
    });
    let (c, greeting) = RawSmtp::connect(e.smtp_port);
    assert!(greeting.starts_with("220"));
    let mut s = c.stream.try_clone().unwrap();
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let burst = "NOOP\r\n".repeat(2000);
    let start = Instant::now();
    // Write until envoi hangs up (a reset or a broken pipe); a write that
    // merely blocks is retried.
    let dropped_after = loop {
        match s.write(burst.as_bytes()) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break start.elapsed(),
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "still connected after 40 s; log:\n{}",
            e.log_tail()
        );
    };
    assert!(
        dropped_after < Duration::from_secs(20),
        "dropped after {dropped_after:?}"
    );
    assert!(
        e.stderr().contains("does not read its replies"),
        "{}",
        e.log_tail()
    );
}

/// A raw HTTP/1.1 request whose body is dripped a byte at a time.
fn drip(port: u16, head: &str, every: Duration, bytes: usize) -> (String, Duration) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let start = Instant::now();
    s.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    for _ in 0..bytes {
        if s.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(every);
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut got);
    (String::from_utf8_lossy(&got).to_string(), start.elapsed())
}

#[test]
fn an_http_body_dripped_a_byte_at_a_time_is_cut_off_with_408() {
    let e = Envoi::start_with(Options {
        http_extra: "body_read_timeout = \"2s\"\n".into(),
        ..Options::default()
    });
    e.create_domain(D);
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("api:{ADMIN_KEY}"),
    );
    let head = format!(
        "POST /v3/{D}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    );
    let (reply, took) = drip(e.port, &head, Duration::from_millis(300), 100);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("body_read_timeout"), "{reply}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn http_headers_dripped_a_byte_at_a_time_are_cut_off() {
    let e = Envoi::start_with(Options {
        http_extra: "header_read_timeout = \"2s\"\n".into(),
        ..Options::default()
    });
    let (_, took) = drip(
        e.port,
        "GET /healthz HTTP/1.1\r\nX-Slow: ",
        Duration::from_millis(300),
        100,
    );
    assert!(
        took < Duration::from_secs(10),
        "the connection lived {took:?}"
    );
}

#[test]
fn over_the_http_inflight_budget_a_request_gets_503_with_retry_after() {
    let e = Envoi::start_with(Options {
        http_extra: "max_inflight_bytes = \"200KB\"\n".into(),
        smtp_extra: "max_message_size = \"100KB\"\n".into(),
        ..Options::default()
    });
    e.create_domain(D);
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("api:{ADMIN_KEY}"),
    );
    // One client sends 150 KB of a 300 KB body and stalls.
    let mut slow = TcpStream::connect(("127.0.0.1", e.port)).unwrap();
    let head = format!(
        "POST /v3/{D}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 300000\r\n\r\ntext="
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&vec![b'a'; 150_000]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let big = "b".repeat(90_000);
    let fields = [
        ("from", "a@hold.test"),
        ("to", "r@dest.test"),
        ("text", big.as_str()),
    ];
    let r = e
        .post(&format!("/v3/{D}/messages"), ADMIN_KEY)
        .form(&fields)
        .send()
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    expect_error(r, 503, &["max_inflight_bytes", "nothing was stored"]);
    assert!(retry.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Once the slow client is gone, the same request goes through.
    drop(slow);
    std::thread::sleep(Duration::from_millis(500));
    let r = e
        .post(&format!("/v3/{D}/messages"), ADMIN_KEY)
        .form(&fields)
        .send()
        .unwrap();
    expect_json(r, 200);
}

#[test]
fn over_the_smtp_inflight_budget_data_waits_then_gets_451_4_3_1() {
    let s = Submitting::start(
        "max_message_size = \"100KB\"\nmax_inflight_bytes = \"100KB\"\nidle_timeout = \"3s\"\n",
        Options::default(),
    );
    s.w.e.create_domain(D);
    let mut a = s.session(D);
    let mut b = s.login(D);
    for c in [&mut a, &mut b] {
        assert!(c.cmd("MAIL FROM:<app@hold.test>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<r@dest.test>").starts_with("250"));
        assert!(c.cmd("DATA").starts_with("354"));
    }
    a.send(b"From: app@hold.test\r\nSubject: a\r\n\r\n");
    for _ in 0..800 {
        a.send(&[b'a'; 98]);
        a.send(b"\r\n");
    }
    std::thread::sleep(Duration::from_millis(300));
    // b's DATA finds the budget taken: it waits, then is told to come back.
    b.send(b"From: app@hold.test\r\nSubject: b\r\n\r\n");
    let line = format!("{}\r\n", "b".repeat(98));
    for _ in 0..900 {
        if b.try_send(line.as_bytes()).is_err() {
            break;
        }
    }
    // a keeps talking meanwhile, so it is not idle.
    let started = Instant::now();
    let mut reply = String::new();
    b.stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while started.elapsed() < Duration::from_secs(15) {
        a.send(b"more\r\n");
        reply = b.reply();
        if !reply.is_empty() {
            break;
        }
    }
    assert!(reply.starts_with("451 4.3.1"), "{reply:?}");
    let r = a.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    // With a's message stored, the budget is free again.
    let mut b = s.login(D);
    let r = b.submit(
        "app@hold.test",
        "r@dest.test",
        b"From: app@hold.test\r\nSubject: b\r\n\r\nagain\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn wrong_keys_from_one_address_are_throttled_but_another_address_is_served() {
    let e = Envoi::start();
    let mut last = 0;
    for _ in 0..20 {
        let r = e.get("/v4/domains", "guess-0123456789").send().unwrap();
        last = r.status().as_u16();
        assert_eq!(last, 401);
    }
    let r = e.get("/v4/domains", "guess-0123456789").send().unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    expect_error(r, 429, &["wrong API key", "127.0.0.1", "Retry-After"]);
    assert!(
        retry.is_some_and(|s| s.parse::<u64>().unwrap() > 60),
        "{last}"
    );
    // The right key from that address waits too...
    let r = e.get("/v4/domains", ADMIN_KEY).send().unwrap();
    assert_eq!(r.status().as_u16(), 429);
    // ...but what needs no key is still served there.
    let r = e.client.get(e.url("/healthz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // ...and from another address works.
    let other = reqwest::blocking::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = other
        .get(e.url("/v4/domains"))
        .basic_auth("api", Some(ADMIN_KEY))
        .send()
        .unwrap();
    expect_json(r, 200);
}
