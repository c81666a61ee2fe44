//! The send path from the outside: create a domain, a key, send, see the
//! `accepted` event and read back the stored MIME.

use envoi_tests::*;
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::blocking::multipart::{Form, Part};
use serde_json::Value;

fn accepted_for(e: &Envoi, domain: &str, message_id: &str) -> Vec<Value> {
    e.events(domain, &format!("event=accepted&message-id={message_id}"))
}

#[test]
fn whole_flow_multipart_with_every_field() {
    let e = Envoi::start();
    e.create_domain("flow.test");
    let key = e.sending_key("flow.test");

    let form = Form::new()
        .text("from", "Flow Sender <sender@flow.test>")
        .text("to", "alice@example.org")
        .text("to", "\"Bob, Jr\" <bob@example.net>, carol@example.com")
        .text("cc", "dave@example.org")
        .text("bcc", "erin@example.org")
        .text("subject", "Your receipt ✓")
        .text("text", "Thanks for your order.")
        .text(
            "html",
            "<p>Thanks for your <b>order</b>.</p><img src=\"cid:logo.png\">",
        )
        .part(
            "attachment",
            Part::bytes(b"%PDF-1.4 fake".to_vec())
                .file_name("receipt.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        )
        .part(
            "inline",
            Part::bytes(vec![0x89, b'P', b'N', b'G'])
                .file_name("logo.png")
                .mime_str("image/png")
                .unwrap(),
        )
        .text("h:Reply-To", "support@flow.test")
        .text("h:X-Order-Id", "A-1001")
        .text("v:customer-id", "42")
        .text("o:tag", "receipt")
        .text("o:tag", "shop")
        .text("o:dkim", "yes");
    let r = e
        .post("/v3/flow.test/messages", &key)
        .multipart(form)
        .send()
        .unwrap();
    let body = expect_json(r, 200);
    assert_eq!(body["message"], "Queued. Thank you.");
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with('<') && id.ends_with("@flow.test>"), "{id}");
    let bare = id.trim_matches(|c| c == '<' || c == '>');

    let events = accepted_for(&e, "flow.test", bare);
    let mut rcpts: Vec<&str> = events
        .iter()
        .map(|v| v["recipient"].as_str().unwrap())
        .collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        [
            "alice@example.org",
            "bob@example.net",
            "carol@example.com",
            "dave@example.org",
            "erin@example.org"
        ]
    );
    let ev = &events[0];
    assert_eq!(ev["event"], "accepted");
    assert!(ev["timestamp"].as_f64().unwrap() > 1.7e9);
    assert_eq!(ev["tags"], serde_json::json!(["receipt", "shop"]));
    assert_eq!(ev["user-variables"]["customer-id"], "42");
    assert_eq!(ev["message"]["headers"]["message-id"], bare);
    assert_eq!(ev["method"], "http");
    let storage_url = ev["storage"]["url"].as_str().unwrap();
    assert!(
        storage_url.starts_with(&e.url("/v3/domains/flow.test/messages/")),
        "{storage_url}"
    );

    let stored = e.stored("flow.test", ev["storage"]["key"].as_str().unwrap());
    let raw = stored["body-mime"].as_str().unwrap().as_bytes().to_vec();
    assert!(
        !raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
        "bare LF in stored MIME"
    );
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        msg.from().unwrap().first().unwrap().address(),
        Some("sender@flow.test")
    );
    assert_eq!(
        msg.from().unwrap().first().unwrap().name(),
        Some("Flow Sender")
    );
    let to: Vec<_> = msg
        .to()
        .unwrap()
        .iter()
        .map(|a| a.address().unwrap().to_string())
        .collect();
    assert_eq!(
        to,
        ["alice@example.org", "bob@example.net", "carol@example.com"]
    );
    assert_eq!(
        msg.to().unwrap().iter().nth(1).unwrap().name(),
        Some("Bob, Jr")
    );
    assert_eq!(
        msg.cc().unwrap().first().unwrap().address(),
        Some("dave@example.org")
    );
    assert!(msg.bcc().is_none(), "Bcc must not appear in the message");
    assert_eq!(msg.subject(), Some("Your receipt ✓"));
    assert_eq!(msg.message_id(), Some(bare));
    assert!(msg.date().is_some());
    assert_eq!(
        msg.reply_to().unwrap().first().unwrap().address(),
        Some("support@flow.test")
    );
    assert_eq!(msg.header_raw("X-Order-Id").map(str::trim), Some("A-1001"));
    let vars: Value =
        serde_json::from_str(msg.header_raw("X-Mailgun-Variables").unwrap().trim()).unwrap();
    assert_eq!(vars["customer-id"], "42");
    assert_eq!(msg.body_text(0).unwrap().trim(), "Thanks for your order.");
    assert!(msg.body_html(0).unwrap().contains("<b>order</b>"));
    let atts: Vec<_> = msg.attachments().collect();
    let pdf = atts
        .iter()
        .find(|a| a.attachment_name() == Some("receipt.pdf"))
        .expect("attachment");
    assert_eq!(pdf.contents(), b"%PDF-1.4 fake");
    assert_eq!(pdf.content_type().unwrap().subtype(), Some("pdf"));
    let logo = atts
        .iter()
        .find(|a| a.content_id() == Some("logo.png"))
        .expect("inline image with Content-ID");
    assert_eq!(logo.contents(), [0x89, b'P', b'N', b'G']);
    assert_eq!(stored["recipients-status"][0]["status"], "queued");
}

#[test]
fn urlencoded_repeated_keys_comma_lists_and_boolean_spellings() {
    let e = Envoi::start();
    e.create_domain("form.test");
    let key = e.sending_key("form.test");
    for (i, yes) in ["yes", "YES", "True", "true"].iter().enumerate() {
        let r = e
            .post("/v3/form.test/messages", &key)
            .form(&[
                ("from", "a@form.test"),
                ("to", "x@example.org, y@example.org"),
                ("to", "z@example.org"),
                ("subject", &format!("n{i}")),
                ("text", "hello"),
                ("o:testmode", yes),
                ("o:require-tls", "False"),
                ("o:skip-verification", "no"),
            ])
            .send()
            .unwrap();
        let id = expect_json(r, 200)["id"]
            .as_str()
            .unwrap()
            .trim_matches(['<', '>'])
            .to_string();
        let events = e.events("form.test", &format!("message-id={id}"));
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|v| v["flags"]["is-test-mode"] == true));
    }
}

#[test]
fn testmode_is_recorded_and_never_queued_for_delivery() {
    let e = Envoi::start();
    e.create_domain("tm.test");
    let r = e
        .post("/v3/tm.test/messages", ADMIN_KEY)
        .form(&[
            ("from", "a@tm.test"),
            ("to", "b@example.org"),
            ("text", "t"),
            ("o:testmode", "yes"),
        ])
        .send()
        .unwrap();
    expect_json(r, 200);
    let ev = &e.events("tm.test", "event=accepted")[0];
    let stored = e.stored("tm.test", ev["storage"]["key"].as_str().unwrap());
    assert_eq!(stored["recipients-status"][0]["status"], "testmode");
}

#[test]
fn a_stored_message_whose_content_retention_cleared_answers_404_saying_why() {
    let e = Envoi::start();
    e.create_domain("kept.test");
    let id = e.send("kept.test", "b@example.org", &[("o:testmode", "yes")]);
    let ev = &e.events("kept.test", "event=accepted")[0];
    let key = ev["storage"]["key"].as_str().unwrap().to_string();
    // What `[events].message_retention` does to a done message: the body
    // goes, the row (whom it was sent to) stays.
    e.damage(
        "UPDATE messages SET body = $1 WHERE message_id = $2",
        Vec::<u8>::new(),
        &id,
    );
    let r = e
        .get(&format!("/v3/domains/kept.test/messages/{key}"), ADMIN_KEY)
        .send()
        .unwrap();
    expect_error(r, 404, &["no longer kept", "3d", "message_retention"]);
    assert_eq!(e.events("kept.test", "event=accepted").len(), 1);
}

#[test]
fn batch_with_recipient_variables_gives_each_recipient_its_own_copy_under_the_one_id() {
    let e = Envoi::start();
    e.create_domain("batch.test");
    let vars = r#"{"ann@example.org": {"first": "Ann", "id": 1}, "ben@example.org": {"first": "Ben", "id": 2}, "cat@example.org": {"first": "Cat", "id": 3}}"#;
    let r = e
        .post("/v3/batch.test/messages", ADMIN_KEY)
        .form(&[
            ("from", "news@batch.test"),
            ("to", "ann@example.org, ben@example.org"),
            ("to", "cat@example.org"),
            ("subject", "Hi %recipient.first%"),
            ("text", "Your id is %recipient.id%."),
            ("recipient-variables", vars),
        ])
        .send()
        .unwrap();
    let sent = expect_json(r, 200)["id"].as_str().unwrap().to_string();
    let events = e.events("batch.test", "event=accepted");
    assert_eq!(events.len(), 3);
    // As Mailgun: every copy carries the id the send returned (a client
    // keeps that one id for every recipient), each copy stored apart.
    let ids: std::collections::HashSet<_> = events
        .iter()
        .map(|v| v["message"]["headers"]["message-id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one id for the batch");
    assert_eq!(format!("<{}>", ids.iter().next().unwrap()), sent);
    let keys: std::collections::HashSet<_> = events
        .iter()
        .map(|v| v["storage"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3, "one message per recipient");
    for ev in &events {
        let rcpt = ev["recipient"].as_str().unwrap();
        let stored = e.stored("batch.test", ev["storage"]["key"].as_str().unwrap());
        let raw = stored["body-mime"].as_str().unwrap().as_bytes().to_vec();
        let msg = MessageParser::default().parse(&raw).unwrap();
        let to: Vec<_> = msg
            .to()
            .unwrap()
            .iter()
            .map(|a| a.address().unwrap().to_string())
            .collect();
        assert_eq!(to, [rcpt], "only the recipient's own address in To");
        let first = &rcpt[..1].to_uppercase();
        assert!(
            msg.subject().unwrap().starts_with(&format!("Hi {first}")),
            "{:?}",
            msg.subject()
        );
        assert!(
            msg.body_text(0).unwrap().contains("Your id is "),
            "substituted"
        );
        assert!(
            !msg.body_text(0).unwrap().contains("%recipient"),
            "substituted"
        );
    }
}

#[test]
fn batch_without_recipient_variables_is_one_message_to_everyone() {
    let e = Envoi::start();
    e.create_domain("one.test");
    let r = e
        .post("/v3/one.test/messages", ADMIN_KEY)
        .form(&[
            ("from", "a@one.test"),
            ("to", "p@example.org,q@example.org,r@example.org"),
            ("text", "all"),
        ])
        .send()
        .unwrap();
    expect_json(r, 200);
    let events = e.events("one.test", "event=accepted");
    assert_eq!(events.len(), 3);
    let key = events[0]["storage"]["key"].as_str().unwrap();
    assert!(
        events.iter().all(|v| v["storage"]["key"] == key),
        "one stored message"
    );
    let stored = e.stored("one.test", key);
    let raw = stored["body-mime"].as_str().unwrap().as_bytes().to_vec();
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.to().unwrap().iter().count(), 3);
}

#[test]
fn messages_mime_stores_the_message_as_given() {
    let e = Envoi::start();
    e.create_domain("mime.test");
    let key = e.sending_key("mime.test");
    let mime = "From: App <app@mime.test>\nTo: someone@example.org\nSubject: raw\nMessage-ID: <raw-1@mime.test>\n\nLine one\nLine two\n";
    let form = Form::new()
        .text("to", "someone@example.org")
        .text("o:tag", "raw")
        .part(
            "message",
            Part::bytes(mime.as_bytes().to_vec()).file_name("message.mime"),
        );
    let r = e
        .post("/v3/mime.test/messages.mime", &key)
        .multipart(form)
        .send()
        .unwrap();
    let body = expect_json(r, 200);
    assert_eq!(body["id"], "<raw-1@mime.test>");
    let ev = &e.events("mime.test", "event=accepted&tags=raw")[0];
    let stored = e.stored("mime.test", ev["storage"]["key"].as_str().unwrap());
    assert_eq!(stored["body-mime"], mime.replace('\n', "\r\n"));
}

#[test]
fn events_filter_and_page_with_absolute_urls() {
    let e = Envoi::start();
    e.create_domain("ev.test");
    for i in 0..5 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        let r = e
            .post("/v3/ev.test/messages", ADMIN_KEY)
            .form(&[
                ("from", "a@ev.test"),
                ("to", &format!("r{i}@example.org") as &str),
                ("text", "x"),
                ("o:tag", tag),
            ])
            .send()
            .unwrap();
        expect_json(r, 200);
    }
    assert_eq!(e.events("ev.test", "event=accepted&tags=even").len(), 3);
    assert_eq!(
        e.events("ev.test", "event=accepted&recipient=r1@example.org")
            .len(),
        1
    );
    assert_eq!(e.events("ev.test", "event=delivered").len(), 0);

    // Page through two at a time, ascending, following paging.next.
    let r = e
        .get(
            "/v3/ev.test/events?event=accepted&ascending=yes&limit=2",
            ADMIN_KEY,
        )
        .send()
        .unwrap();
    let mut page = expect_json(r, 200);
    let mut seen = Vec::new();
    loop {
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        seen.extend(
            items
                .iter()
                .map(|v| v["recipient"].as_str().unwrap().to_string()),
        );
        let next = page["paging"]["next"].as_str().unwrap().to_string();
        assert!(next.starts_with(&e.url("/v3/ev.test/events/")), "{next}");
        page = expect_json(
            e.client
                .get(&next)
                .basic_auth("api", Some(ADMIN_KEY))
                .send()
                .unwrap(),
            200,
        );
    }
    assert_eq!(
        seen,
        [
            "r0@example.org",
            "r1@example.org",
            "r2@example.org",
            "r3@example.org",
            "r4@example.org"
        ]
    );

    // begin/end accept epoch seconds and RFC 2822.
    let future = "Thu, 01 Jan 2099 00:00:00 +0000";
    assert_eq!(
        e.events(
            "ev.test",
            &format!("event=accepted&begin={}", urlencode(future))
        )
        .len(),
        0
    );
    assert_eq!(
        e.events("ev.test", "event=accepted&begin=0&ascending=yes")
            .len(),
        5
    );
}

fn urlencode(s: &str) -> String {
    s.replace(' ', "%20")
        .replace(',', "%2C")
        .replace('+', "%2B")
        .replace(':', "%3A")
}

#[test]
fn events_take_mailgun_filter_expressions_and_refuse_malformed_ones() {
    let e = Envoi::start();
    e.create_domain("filter.test");
    for (from, to, tag) in [
        ("alice@filter.test", "a@example.org", "red"),
        ("Bob <bob@filter.test>", "b@example.org", "blue"),
        ("carol@filter.test", "c@example.org", "green"),
    ] {
        let r = e
            .post("/v3/filter.test/messages", ADMIN_KEY)
            .form(&[
                ("from", from),
                ("to", to),
                ("subject", "s"),
                ("text", "t"),
                ("o:tag", tag),
            ])
            .send()
            .unwrap();
        expect_json(r, 200);
    }
    // Accepted events only (deliveries here fail and are retried).
    let recipients = |query: &str| {
        let query = if query.contains("event=") {
            query.to_string()
        } else {
            format!("{query}&event=accepted")
        };
        let mut r: Vec<String> = e
            .events("filter.test", &query)
            .iter()
            .map(|v| v["recipient"].as_str().unwrap().to_string())
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        recipients("recipient=a@example.org OR c@example.org"),
        ["a@example.org", "c@example.org"]
    );
    assert_eq!(recipients("tags=NOT (red OR green)"), ["b@example.org"]);
    assert_eq!(
        recipients("from=bob"),
        ["b@example.org"],
        "From contains it"
    );
    assert_eq!(
        recipients("event=accepted AND NOT failed&tags=red blue"),
        Vec::<String>::new(),
        "words side by side must all match"
    );
    assert_eq!(
        recipients("event=%22accepted%22"),
        ["a@example.org", "b@example.org", "c@example.org"]
    );
    let r = e
        .get("/v3/filter.test/events?tags=(red", ADMIN_KEY)
        .send()
        .unwrap();
    expect_error(r, 400, &["tags filter", "parenthesis"]);
}
