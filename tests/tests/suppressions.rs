//! Suppression lists, Mailgun's API (contract §2): bounces, unsubscribes,
//! complaints; and a suppressed address is never contacted, whether the
//! message came over HTTP or SMTP.

use std::time::Duration;

use envoi_tests::sink::Script;
use envoi_tests::world::Delivering;
use envoi_tests::*;
use serde_json::{json, Value};

const DOMAIN: &str = "shop.test";

fn envoi() -> Envoi {
    let e = Envoi::start();
    e.create_domain(DOMAIN);
    e
}

fn path(table: &str) -> String {
    format!("/v3/{DOMAIN}/{table}")
}

#[test]
fn the_three_lists_answer_in_mailguns_shapes() {
    let e = envoi();
    let added = expect_json(
        e.post(&path("bounces"), ADMIN_KEY)
            .form(&[
                ("address", "Gone@Example.org"),
                ("error", "No such mailbox"),
            ])
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(
        added["message"],
        "1 addresses have been added to the bounces table"
    );
    let one = expect_json(
        e.get(&format!("{}/gone@example.org", path("bounces")), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(one["address"], "gone@example.org");
    assert_eq!(one["code"], "550");
    assert_eq!(one["error"], "No such mailbox");
    assert!(one["created_at"].as_str().unwrap().ends_with("UTC"));

    // Bulk JSON: unsubscribes with tags, the whole domain by default.
    let bulk = json!([
        {"address": "a@example.org", "tags": ["newsletter"]},
        {"address": "b@example.org"},
    ]);
    let added = expect_json(
        e.post(&path("unsubscribes"), ADMIN_KEY)
            .json(&bulk)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(
        added["message"],
        "2 addresses have been added to the unsubscribes table"
    );
    let list = expect_json(e.get(&path("unsubscribes"), ADMIN_KEY).send().unwrap(), 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["tags"], json!(["newsletter"]));
    assert_eq!(items[1]["tags"], json!(["*"]));

    let added = expect_json(
        e.post(&path("complaints"), ADMIN_KEY)
            .form(&[("address", "angry@example.org")])
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(
        added["message"],
        "1 complaint addresses have been added to the complaints table"
    );

    let removed = expect_json(
        e.delete(&format!("{}/gone@example.org", path("bounces")), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(
        removed["message"],
        "Bounced addresses for this domain have been removed"
    );
    assert_eq!(removed["address"], "gone@example.org");
    expect_error(
        e.get(&format!("{}/gone@example.org", path("bounces")), ADMIN_KEY)
            .send()
            .unwrap(),
        404,
        &["address not found in bounces table"],
    );
    let cleared = expect_json(
        e.delete(&path("unsubscribes"), ADMIN_KEY).send().unwrap(),
        200,
    );
    assert_eq!(cleared["message"], "Unsubscribe event has been removed");
    let list = expect_json(e.get(&path("unsubscribes"), ADMIN_KEY).send().unwrap(), 200);
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[test]
fn bad_additions_are_refused_and_change_nothing() {
    let e = envoi();
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"address": format!("u{i}@example.org")}))
        .collect();
    expect_error(
        e.post(&path("bounces"), ADMIN_KEY)
            .json(&many)
            .send()
            .unwrap(),
        400,
        &["batch size should be less than 1000"],
    );
    expect_error(
        e.post(&path("bounces"), ADMIN_KEY)
            .json(&json!([{"address": "ok@example.org"}, {"address": "not an address"}]))
            .send()
            .unwrap(),
        400,
        &["not a valid email address"],
    );
    expect_error(
        e.post(&path("bounces"), ADMIN_KEY)
            .form(&[("code", "550")])
            .send()
            .unwrap(),
        400,
        &["address"],
    );
    let list = expect_json(e.get(&path("bounces"), ADMIN_KEY).send().unwrap(), 200);
    assert!(list["items"].as_array().unwrap().is_empty());
    expect_error(
        e.get(&path("mailboxes"), ADMIN_KEY).send().unwrap(),
        404,
        &[],
    );
    let key = e.sending_key(DOMAIN);
    expect_error(
        e.get(&path("bounces"), &key).send().unwrap(),
        403,
        &["admin"],
    );
}

fn import(e: &Envoi, table: &str, csv: &str) -> reqwest::blocking::Response {
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::text(csv.to_string()).file_name("list.csv"),
    );
    e.post(&format!("{}/import", path(table)), ADMIN_KEY)
        .multipart(form)
        .send()
        .unwrap()
}

#[test]
fn a_csv_file_imports_into_a_list_with_mailguns_202() {
    let e = envoi();
    let r = import(
        &e,
        "bounces",
        "address,code,error\nA@example.org,550,No such user\nb@example.org,,\n",
    );
    let body = expect_json(r, 202);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("file uploaded successfully"));
    assert_eq!(body["imported"], 2);
    let a = expect_json(
        e.get(&format!("{}/a@example.org", path("bounces")), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(
        (a["code"].as_str(), a["error"].as_str()),
        (Some("550"), Some("No such user"))
    );
    let r = import(
        &e,
        "unsubscribes",
        "address,tags\nc@example.org,promo;news\n",
    );
    expect_json(r, 202);
    let c = expect_json(
        e.get(
            &format!("{}/c@example.org", path("unsubscribes")),
            ADMIN_KEY,
        )
        .send()
        .unwrap(),
        200,
    );
    assert_eq!(c["tags"], json!(["promo", "news"]));
}

#[test]
fn a_bad_csv_file_is_refused_with_its_line_and_imports_nothing() {
    let e = envoi();
    let r = import(&e, "bounces", "address\nok@example.org\nnot an address\n");
    expect_error(r, 400, &["line 3"]);
    let r = import(&e, "bounces", "email\nok@example.org\n");
    expect_error(r, 400, &["address column"]);
    let r = e
        .post(&format!("{}/import", path("bounces")), ADMIN_KEY)
        .form(&[("address", "ok@example.org")])
        .send()
        .unwrap();
    expect_error(r, 400, &["file"]);
    let list = expect_json(e.get(&path("bounces"), ADMIN_KEY).send().unwrap(), 200);
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
}

#[test]
fn lists_page_forwards_and_back_with_absolute_urls() {
    let e = envoi();
    let all: Vec<Value> = (0..5)
        .map(|i| json!({"address": format!("u{i}@example.org")}))
        .collect();
    expect_json(
        e.post(&path("bounces"), ADMIN_KEY)
            .json(&all)
            .send()
            .unwrap(),
        200,
    );
    let mut seen = Vec::new();
    let mut url = format!("{}?limit=2", path("bounces"));
    let mut last_page = Value::Null;
    loop {
        let page = expect_json(e.get(&url, ADMIN_KEY).send().unwrap(), 200);
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        seen.extend(
            items
                .iter()
                .map(|i| i["address"].as_str().unwrap().to_string()),
        );
        let next = page["paging"]["next"].as_str().unwrap();
        assert!(next.starts_with("http://"), "{next}");
        url = next[next.find("/v3/").unwrap()..].to_string();
        last_page = page;
    }
    let expected: Vec<String> = (0..5).map(|i| format!("u{i}@example.org")).collect();
    assert_eq!(seen, expected);
    // Back from the last page.
    let prev = last_page["paging"]["previous"].as_str().unwrap();
    let page = expect_json(
        e.get(&prev[prev.find("/v3/").unwrap()..], ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    let back: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap())
        .collect();
    assert_eq!(back, ["u2@example.org", "u3@example.org"]);
    let page = expect_json(
        e.get(&format!("{}?term=u4", path("bounces")), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[test]
fn suppressed_addresses_are_never_contacted_and_a_tag_unsubscribe_stops_only_its_tag() {
    let w = Delivering::start(Script::default(), "", Options::default());
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    for (table, address) in [
        ("bounces", "bounced@dest.test"),
        ("complaints", "angry@dest.test"),
    ] {
        expect_json(
            w.e.post(&path(table), ADMIN_KEY)
                .form(&[("address", address)])
                .send()
                .unwrap(),
            200,
        );
    }
    expect_json(
        w.e.post(&path("unsubscribes"), ADMIN_KEY)
            .form(&[("address", "reader@dest.test"), ("tag", "newsletter")])
            .send()
            .unwrap(),
        200,
    );
    w.e.send(DOMAIN, "bounced@dest.test", &[]);
    w.e.send(DOMAIN, "angry@dest.test", &[]);
    w.e.send(DOMAIN, "reader@dest.test", &[("o:tag", "newsletter")]);
    w.e.send(DOMAIN, "reader@dest.test", &[("o:tag", "password-reset")]);
    w.e.send(DOMAIN, "fine@dest.test", &[]);
    let got = w.sink.wait_for(2, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let mut to: Vec<String> = w
        .sink
        .received()
        .iter()
        .flat_map(|r| r.rcpt_to.clone())
        .collect();
    to.sort();
    assert_eq!(to, ["fine@dest.test", "reader@dest.test"], "{got:?}");
    for (address, reason) in [
        ("bounced@dest.test", "suppress-bounce"),
        ("angry@dest.test", "suppress-complaint"),
        ("reader@dest.test", "suppress-unsubscribe"),
    ] {
        let ev = w.e.wait_event(
            DOMAIN,
            &format!("event=failed&recipient={address}"),
            Duration::from_secs(30),
        );
        assert_eq!(ev["reason"], reason);
        assert_eq!(ev["severity"], "permanent");
        assert_eq!(ev["delivery-status"]["code"], 605);
    }
}

#[test]
fn a_message_submitted_over_smtp_is_checked_against_the_lists_too() {
    let w = Delivering::start(
        Script::default(),
        "",
        Options {
            smtp_extra: "allow_plain_auth_without_tls = true\n".into(),
            ..Options::default()
        },
    );
    w.dns.publish_dkim(&w.e.create_domain(DOMAIN));
    expect_json(
        w.e.post(&path("bounces"), ADMIN_KEY)
            .form(&[("address", "bounced@dest.test")])
            .send()
            .unwrap(),
        200,
    );
    let mut c = w.e.smtp_as_app(DOMAIN);
    for to in ["bounced@dest.test", "fine@dest.test"] {
        let message = format!("From: app@shop.test\r\nTo: {to}\r\nSubject: hi\r\n\r\nhello\r\n");
        let reply = c.submit("app@shop.test", to, message.as_bytes());
        assert!(reply.starts_with("250"), "{reply}");
    }
    // Accepted (the 250 promised it), then stopped before any connection.
    let ev = w.e.wait_event(
        DOMAIN,
        "event=failed&recipient=bounced@dest.test",
        Duration::from_secs(30),
    );
    assert_eq!(ev["reason"], "suppress-bounce");
    assert_eq!(ev["method"], "smtp");
    w.e.wait_event(
        DOMAIN,
        "event=delivered&recipient=fine@dest.test",
        Duration::from_secs(30),
    );
    let to: Vec<String> = w
        .sink
        .received()
        .iter()
        .flat_map(|r| r.rcpt_to.clone())
        .collect();
    assert_eq!(to, ["fine@dest.test"]);
}
