//! Nothing malformed reaches a receiver (issue 17): every line ending that
//! goes out is CRLF whatever came in (HTTP fields, `messages.mime`, SMTP
//! submission over STARTTLS + AUTH); control characters in header fields
//! and NUL in text parts are refused by name; oversized header blocks get
//! clear answers.

use std::time::Duration;

use envoi_tests::sink::Script;
use envoi_tests::world::{Delivering, Submitting};
use envoi_tests::*;

const D: &str = "mal.test";
const WAIT: Duration = Duration::from_secs(30);

fn world() -> Delivering {
    let w = Delivering::start(Script::default(), "", Options::default());
    w.dns.publish_dkim(&w.e.create_domain(D));
    w
}

/// Every CR is followed by LF and every LF preceded by CR.
fn assert_only_crlf(data: &[u8]) {
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(
                data.get(i + 1),
                Some(&b'\n'),
                "bare CR at {i}: {:?}",
                String::from_utf8_lossy(data)
            ),
            b'\n' => assert!(
                i > 0 && data[i - 1] == b'\r',
                "bare LF at {i}: {:?}",
                String::from_utf8_lossy(data)
            ),
            _ => {}
        }
    }
}

fn send(e: &Envoi, fields: &[(&str, &str)]) -> reqwest::blocking::Response {
    // A default only where the test gives no value of its own.
    let defaults = [
        ("from", "a@mal.test"),
        ("to", "rcpt@dest.test"),
        ("subject", "Hi"),
    ];
    let mut all: Vec<(&str, &str)> = defaults
        .into_iter()
        .filter(|(k, _)| !fields.iter().any(|(f, _)| f == k))
        .collect();
    all.extend_from_slice(fields);
    e.post(&format!("/v3/{D}/messages"), ADMIN_KEY)
        .form(&all)
        .send()
        .unwrap()
}

#[test]
fn bare_cr_and_lf_in_http_text_and_html_reach_the_mx_as_crlf() {
    let w = world();
    let r = send(
        &w.e,
        &[("text", "a\r.\rb\nc\r\n"), ("html", "<p>x\ry</p>\n")],
    );
    expect_json(r, 200);
    let got = w.sink.wait_for(1, WAIT);
    assert_only_crlf(&got[0].data);
    let text = String::from_utf8_lossy(&got[0].data);
    assert!(text.contains("a\r\n.\r\nb\r\nc"), "{text}");
    envoi_tests::dkim::Verifier::new(w.dns.addr).assert_pass(&got[0].data);
}

#[test]
fn bare_cr_and_lf_in_a_whole_mime_message_reach_the_mx_as_crlf() {
    let w = world();
    let form = reqwest::blocking::multipart::Form::new()
        .text("to", "rcpt@dest.test")
        .part(
            "message",
            reqwest::blocking::multipart::Part::bytes(
                b"From: a@mal.test\nSubject: x\r\n\nline\rmore\n.\rend".to_vec(),
            )
            .file_name("m.eml"),
        );
    let r =
        w.e.post(&format!("/v3/{D}/messages.mime"), ADMIN_KEY)
            .multipart(form)
            .send()
            .unwrap();
    expect_json(r, 200);
    let got = w.sink.wait_for(1, WAIT);
    assert_only_crlf(&got[0].data);
}

#[test]
fn a_bare_cr_in_smtp_data_reaches_the_mx_as_crlf() {
    let s = Submitting::start("", Options::default());
    s.w.dns.publish_dkim(&s.w.e.create_domain(D));
    let mut c = s.session(D);
    let r = c.submit(
        "app@mal.test",
        "rcpt@dest.test",
        b"From: a@mal.test\r\nSubject: x\r\n\r\none\rtwo\r.\rthree\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let got = s.w.sink.wait_for(1, WAIT);
    assert_only_crlf(&got[0].data);
    assert!(String::from_utf8_lossy(&got[0].data).contains("one\r\ntwo\r\n.\r\nthree"));
}

#[test]
fn control_characters_in_header_fields_are_refused_by_name() {
    let w = world();
    for (field, value, named) in [
        ("subject", "a\0b", "subject"),
        ("subject", "a\u{1}b", "subject"),
        ("h:X-Ref", "a\0b", "h:X-Ref"),
        ("h:X-Ref", "a\u{1b}[31mb", "h:X-Ref"),
        ("from", "Ann\0 <a@mal.test>", "from"),
        ("to", "r\0cpt@dest.test", "to"),
        ("cc", "c\u{7}c@dest.test", "cc"),
    ] {
        let r = send(&w.e, &[(field, value), ("text", "hi")]);
        expect_error(r, 400, &[named]);
    }
    // TAB is text.
    expect_json(send(&w.e, &[("h:X-Ref", "a\tb"), ("text", "hi")]), 200);
    assert_eq!(w.e.events(D, "event=accepted").len(), 1);
}

#[test]
fn nul_in_a_text_part_is_refused_but_an_attachment_carries_any_byte() {
    let w = world();
    for field in ["text", "html"] {
        let r = send(&w.e, &[(field, "a\0b")]);
        expect_error(r, 400, &[field, "NUL"]);
    }
    let form = reqwest::blocking::multipart::Form::new()
        .text("from", "a@mal.test")
        .text("to", "rcpt@dest.test")
        .text("subject", "bin")
        .text("text", "see attached")
        .part(
            "attachment",
            reqwest::blocking::multipart::Part::bytes(vec![0u8, 1, 2, 0, 255]).file_name("b.bin"),
        );
    let r =
        w.e.post(&format!("/v3/{D}/messages"), ADMIN_KEY)
            .multipart(form)
            .send()
            .unwrap();
    expect_json(r, 200);
    let got = w.sink.wait_for(1, WAIT);
    assert!(!got[0].data.contains(&0), "a NUL went out");
}

#[test]
fn control_characters_in_a_submitted_message_get_550_5_6_0_naming_the_field() {
    let s = Submitting::start("", Options::default());
    s.w.dns.publish_dkim(&s.w.e.create_domain(D));
    let mut c = s.session(D);
    for (data, named) in [
        (
            &b"From: a@mal.test\r\nSubject: a\0b\r\n\r\nhi\r\n"[..],
            "Subject",
        ),
        (b"From: a@mal.test\r\nX-Ref: \x01\r\n\r\nhi\r\n", "X-Ref"),
        (b"From: a@mal.test\r\nSubject: x\r\n\r\nh\0i\r\n", "NUL"),
    ] {
        let r = c.submit("app@mal.test", "rcpt@dest.test", data);
        assert!(r.starts_with("550 5.6.0") && r.contains(named), "{r}");
    }
    assert!(s.w.e.events(D, "event=accepted").is_empty());
}

#[test]
fn a_multipart_part_with_an_oversized_header_block_is_refused_naming_the_part() {
    let w = world();
    let boundary = "XbX";
    let long = "x".repeat(20_000);
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\na@mal.test\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"subject\"\r\nX-Pad: {long}\r\n\r\nhi\r\n\
         --{boundary}--\r\n"
    );
    let r =
        w.e.client
            .post(w.e.url(&format!("/v3/{D}/messages")))
            .basic_auth("api", Some(ADMIN_KEY))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .unwrap();
    expect_error(r, 400, &["part 2", "\"subject\"", "header block"]);
}

#[test]
fn a_1_mb_request_header_gets_431_with_a_json_message() {
    let w = world();
    let r =
        w.e.get(&format!("/v3/{D}/events"), ADMIN_KEY)
            .header("X-Big", "y".repeat(1 << 20))
            .send()
            .unwrap();
    expect_error(r, 431, &["header", "at most"]);
    // The server is fine afterwards.
    assert_eq!(w.e.events(D, "").len(), 0);
}
