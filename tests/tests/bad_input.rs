//! Every bad input gets a clear JSON 4xx naming the problem, and stores nothing.

use envoi_tests::*;
use reqwest::blocking::multipart::{Form, Part};

const DOMAIN: &str = "bad.test";

fn setup() -> (Envoi, String) {
    let e = Envoi::start_with(Options {
        smtp_extra: "max_message_size = \"100KB\"".into(),
        ..Default::default()
    });
    e.create_domain(DOMAIN);
    let key = e.sending_key(DOMAIN);
    (e, key)
}

/// A valid base request with `overrides` replacing or adding fields.
fn send(e: &Envoi, key: &str, fields: &[(&str, &str)]) -> reqwest::blocking::Response {
    e.post(&format!("/v3/{DOMAIN}/messages"), key)
        .form(fields)
        .send()
        .unwrap()
}

fn assert_nothing_stored(e: &Envoi) {
    assert!(
        e.events(DOMAIN, "").is_empty(),
        "a refused request must store nothing"
    );
}

#[test]
fn every_bad_field_is_refused_by_name_and_nothing_is_stored() {
    let (e, key) = setup();
    let ok = [
        ("from", "a@bad.test"),
        ("to", "b@example.org"),
        ("text", "hi"),
    ];
    let with =
        |extra: &[(&'static str, &'static str)], drop: &str| -> Vec<(&'static str, &'static str)> {
            let mut v: Vec<_> = ok.iter().copied().filter(|(k, _)| *k != drop).collect();
            v.extend_from_slice(extra);
            v
        };
    type Fields = Vec<(&'static str, &'static str)>;
    let cases: Vec<(Fields, u16, Vec<&str>)> = vec![
        (with(&[], "from"), 400, vec!["from", "missing"]),
        (with(&[], "to"), 400, vec!["to", "missing"]),
        (with(&[], "text"), 400, vec!["text", "html"]),
        (
            with(&[("to", "not-an-address")], ""),
            400,
            vec!["to", "not-an-address"],
        ),
        (
            with(&[("from", "x@@y")], "from"),
            400,
            vec!["from", "valid address"],
        ),
        (with(&[("cc", "bad address@x.org")], ""), 400, vec!["cc"]),
        (
            with(&[("subject", "hi\r\nBcc: victim@example.org")], ""),
            400,
            vec!["subject", "line break"],
        ),
        (
            with(&[("h:X-Test", "a\nInjected: yes")], ""),
            400,
            vec!["h:X-Test", "line break"],
        ),
        (
            with(&[("from", "a@bad.test\r\nBcc: v@example.org")], "from"),
            400,
            vec!["from", "line break"],
        ),
        (
            with(&[("to", "b@example.org\nBcc: v@example.org")], ""),
            400,
            vec!["to", "line break"],
        ),
        (with(&[("h:Bad Name", "x")], ""), 400, vec!["header name"]),
        (
            with(
                &[
                    ("o:tag", "a"),
                    ("o:tag", "b"),
                    ("o:tag", "c"),
                    ("o:tag", "d"),
                ],
                "",
            ),
            400,
            vec!["tags", "3"],
        ),
        (
            with(&[("o:testmode", "perhaps")], ""),
            400,
            vec!["o:testmode", "perhaps"],
        ),
        (
            with(&[("o:require-tls", "sometimes")], ""),
            400,
            vec!["o:require-tls"],
        ),
        (
            with(&[("o:deliverytime", "next tuesday")], ""),
            400,
            vec!["o:deliverytime"],
        ),
        (
            with(&[("recipient-variables", "{not json")], ""),
            400,
            vec!["recipient-variables"],
        ),
        (
            with(&[("recipient-variables", "[1, 2]")], ""),
            400,
            vec!["recipient-variables"],
        ),
    ];
    for (fields, status, needles) in cases {
        let r = send(&e, &key, &fields);
        expect_error(r, status, &needles);
    }
    // A tag over 128 characters.
    let long_tag = "t".repeat(129);
    expect_error(
        send(
            &e,
            &key,
            &[
                ("from", "a@bad.test"),
                ("to", "b@example.org"),
                ("text", "x"),
                ("o:tag", &long_tag),
            ],
        ),
        400,
        &["tag"],
    );
    // More than 1000 recipients.
    let many: Vec<String> = (0..1001).map(|i| format!("r{i}@example.org")).collect();
    let to = many.join(",");
    expect_error(
        send(
            &e,
            &key,
            &[("from", "a@bad.test"), ("to", &to), ("text", "x")],
        ),
        400,
        &["recipients", "1000"],
    );
    // Options over 16 KB.
    let big = "v".repeat(17 * 1024);
    expect_error(
        send(
            &e,
            &key,
            &[
                ("from", "a@bad.test"),
                ("to", "b@example.org"),
                ("text", "x"),
                ("v:big", &big),
            ],
        ),
        400,
        &["16KB"],
    );
    assert_nothing_stored(&e);
}

#[test]
fn unknown_domain_is_404_and_says_how_to_create_it() {
    let (e, _) = setup();
    let r = e
        .post("/v3/nowhere.test/messages", ADMIN_KEY)
        .form(&[
            ("from", "a@nowhere.test"),
            ("to", "b@example.org"),
            ("text", "x"),
        ])
        .send()
        .unwrap();
    expect_error(r, 404, &["nowhere.test", "/v4/domains"]);
}

#[test]
fn oversized_body_is_413() {
    let (e, key) = setup();
    let big = "x".repeat(600 * 1024);
    let form = Form::new()
        .text("from", "a@bad.test")
        .text("to", "b@example.org")
        .text("text", "x")
        .part(
            "attachment",
            Part::bytes(big.into_bytes()).file_name("big.bin"),
        );
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages"), &key)
        .multipart(form)
        .send()
        .unwrap();
    expect_error(r, 413, &["too large"]);
    assert_nothing_stored(&e);
}

#[test]
fn non_utf8_garbage_is_refused() {
    let (e, key) = setup();
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages"), &key)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("from=a%40bad.test&to=b%40example.org&text=%ff%fe%00garbage")
        .send()
        .unwrap();
    expect_error(r, 400, &["UTF-8"]);
    let form = Form::new()
        .text("from", "a@bad.test")
        .text("to", "b@example.org")
        .part("text", Part::bytes(vec![0xff, 0xfe, 0xfd]));
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages"), &key)
        .multipart(form)
        .send()
        .unwrap();
    expect_error(r, 400, &["text", "UTF-8"]);
    assert_nothing_stored(&e);
}

#[test]
fn multipart_cut_short_is_refused() {
    let (e, key) = setup();
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\na@bad.test\r\n--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhel";
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages"), &key)
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .unwrap();
    expect_error(r, 400, &["multipart"]);
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages"), &key)
        .header("Content-Type", "multipart/form-data")
        .body("whatever")
        .send()
        .unwrap();
    expect_error(r, 400, &["boundary"]);
    assert_nothing_stored(&e);
}

#[test]
fn malformed_mime_is_refused() {
    let (e, key) = setup();
    for (mime, needle) in [
        ("this is not a message at all", "blank line"),
        ("Subject: no sender\r\n\r\nbody", "From"),
        (
            "From: a@bad.test\r\nbroken header line\r\n\r\nbody",
            "header",
        ),
    ] {
        let form = Form::new().text("to", "b@example.org").part(
            "message",
            Part::bytes(mime.as_bytes().to_vec()).file_name("m.eml"),
        );
        let r = e
            .post(&format!("/v3/{DOMAIN}/messages.mime"), &key)
            .multipart(form)
            .send()
            .unwrap();
        expect_error(r, 400, &["MIME", needle]);
    }
    let form = Form::new().part(
        "message",
        Part::bytes(b"From: a@bad.test\r\n\r\nx".to_vec()).file_name("m.eml"),
    );
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages.mime"), &key)
        .multipart(form)
        .send()
        .unwrap();
    expect_error(r, 400, &["to", "missing"]);
    assert_nothing_stored(&e);
}

#[test]
fn unsupported_content_type_is_415() {
    let (e, key) = setup();
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages"), &key)
        .header("Content-Type", "application/json")
        .body("{\"from\": \"a@bad.test\"}")
        .send()
        .unwrap();
    expect_error(r, 415, &["multipart/form-data", "urlencoded"]);
}
