//! Changes made in the dashboard (issue 23) in headless Chromium, each
//! checked where it takes effect: suppressions and their CSV import, keys
//! and SMTP credentials, queue actions, webhook settings and replay.

use std::time::Duration;

use envoi_tests::browser::{two_domains as envoi, Browser, SHOP};
use envoi_tests::*;

#[test]
fn a_suppression_added_then_removed_in_the_dashboard_is_seen_by_the_api() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/suppressions?domain={SHOP}&list=unsubscribes")));
    b.fill("address", "gone@example.org");
    b.fill("tag", "newsletter");
    b.click("form.add button[type=submit]");
    assert!(
        b.text()
            .contains("1 addresses have been added to the unsubscribes table"),
        "{}",
        b.text()
    );
    let api = format!("/v3/{SHOP}/unsubscribes/gone@example.org");
    let one = expect_json(e.get(&api, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(one["tags"], serde_json::json!(["newsletter"]));
    b.shot("suppressions");

    b.click("form.inline button[aria-label='Remove gone@example.org']");
    assert!(
        b.text().contains("Unsubscribe event has been removed"),
        "{}",
        b.text()
    );
    assert_eq!(e.get(&api, ADMIN_KEY).send().unwrap().status(), 404);
}

#[test]
fn a_csv_import_of_a_few_mib_is_taken_and_one_over_25_mb_is_told_to_split() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    let session = b.cookie("envoi_ui").expect("signed in");
    b.goto(&e.url(&format!("/ui/suppressions?domain={SHOP}")));
    let csrf = b.script("return document.querySelector('input[name=csrf]').value;");
    let csrf = csrf.as_str().unwrap().to_string();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |csv: String| {
        let form = reqwest::blocking::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("domain", SHOP)
            .text("list", "bounces")
            .part(
                "file",
                reqwest::blocking::multipart::Part::text(csv).file_name("list.csv"),
            );
        client
            .post(e.url("/ui/suppressions/import"))
            .header("cookie", format!("envoi_ui={session}"))
            .multipart(form)
            .send()
            .unwrap()
    };
    let huge = "address\n".to_string() + &"someone@example.org\n".repeat(1_400_000);
    let r = post(huge);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("split it into smaller ones"));
    // 60,000 addresses, 1.6 MB: over the 1 MiB of other forms, imported.
    let many: String = (0..60_000)
        .map(|i| format!("user{i}@example.org\n"))
        .collect();
    let r = post(format!("address\n{many}"));
    assert_eq!(r.status(), 303);
    let page = expect_json(
        e.get(&format!("/v3/{SHOP}/bounces?limit=1"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        e.get(
            &format!("/v3/{SHOP}/bounces/user59999@example.org"),
            ADMIN_KEY
        )
        .send()
        .unwrap()
        .status(),
        200,
        "the last line is in the list"
    );
}

#[test]
fn rotating_a_key_shows_the_new_secret_once_and_the_old_one_stops() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    let old = e.sending_key(SHOP);
    // A secret is `{32 hex}-{key id}`.
    let id = old[33..].to_string();
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url("/ui/keys"));
    b.shot("keys");
    b.select(&format!("grace-{id}"), "0s");
    b.click(&format!("form[action='/ui/keys/{id}/rotate'] button"));
    let text = b.text();
    assert!(text.contains("Key rotated"), "{text}");
    let new = b.script("return document.getElementById('secret').textContent.trim();");
    let new = new.as_str().unwrap();
    assert_ne!(new, old);
    let sent = e
        .post(&format!("/v3/{SHOP}/messages"), new)
        .form(&[
            ("from", "a@shop.test"),
            ("to", "b@example.org"),
            ("text", "hi"),
        ])
        .send()
        .unwrap();
    assert_eq!(sent.status(), 200, "the new secret does not send");
    let refused = e
        .post(&format!("/v3/{SHOP}/messages"), &old)
        .form(&[
            ("from", "a@shop.test"),
            ("to", "b@example.org"),
            ("text", "hi"),
        ])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401, "the old secret still works");
    // The secret is not shown again: the keys page has no secret on it.
    b.goto(&e.url("/ui/keys"));
    assert!(!b.html().contains(new), "the keys page shows the secret");
    b.goto(&e.url("/ui/audit"));
    assert!(b.text().contains("key.rotated"), "{}", b.text());
}

#[test]
fn smtp_credentials_made_in_the_dashboard_log_in_show_their_last_use_change_password_and_stop_when_deleted(
) {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url("/ui/keys"));
    b.fill(&format!("login-{SHOP}"), "app");
    b.click(&format!("form[action='/ui/credentials/{SHOP}'] button"));
    assert!(
        b.text()
            .contains("SMTP credentials app@shop.test were created"),
        "{}",
        b.text()
    );
    let password = b.script("return document.getElementById('secret').textContent.trim();");
    let password = password.as_str().unwrap().to_string();
    let (mut c, _) = smtp_client::RawSmtp::connect(e.smtp_port);
    let reply = c.login("app@shop.test", &password);
    assert!(reply.starts_with("235"), "{reply}");
    b.goto(&e.url("/ui/keys"));
    let row = b.script(
        "return document.querySelector('form[action$=\"/password\"]').closest('tr').innerText;",
    );
    assert!(
        !row.as_str().unwrap().contains("never"),
        "a login shows as the last use: {row}"
    );

    // A new password, no grace: the old one stops at once.
    b.select("grace-app@shop.test", "0s");
    b.click(&format!(
        "form[action='/ui/credentials/{SHOP}/password'] button"
    ));
    assert!(
        b.text().contains("app@shop.test has a new password"),
        "{}",
        b.text()
    );
    let old = password;
    let password = b.script("return document.getElementById('secret').textContent.trim();");
    let password = password.as_str().unwrap().to_string();
    let (mut c, _) = smtp_client::RawSmtp::connect(e.smtp_port);
    assert!(c.login("app@shop.test", &old).starts_with("535"));
    let (mut c, _) = smtp_client::RawSmtp::connect(e.smtp_port);
    let reply = c.login("app@shop.test", &password);
    assert!(reply.starts_with("235"), "{reply}");

    b.goto(&e.url("/ui/keys"));
    // The person confirms the prompt the delete button asks.
    b.script("window.confirm = () => true; return null;");
    b.click(&format!(
        "form[action='/ui/credentials/{SHOP}/delete'] button"
    ));
    assert!(
        b.text().contains("app@shop.test was deleted"),
        "{}",
        b.text()
    );
    let (mut c, _) = smtp_client::RawSmtp::connect(e.smtp_port);
    let reply = c.login("app@shop.test", &password);
    assert!(reply.starts_with("535"), "{reply}");
}

#[test]
fn queue_actions_hold_release_retry_now_and_drop_with_a_reason_recorded_as_events() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    e.send(SHOP, "ada@example.org", &[]);
    // The test relay refuses connections: the destination is held as unreachable.
    e.wait_event(SHOP, "event=failed", Duration::from_secs(30));
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url("/ui/queue"));
    let text = b.text();
    assert!(
        text.contains("unreachable (1 failure(s) in a row)"),
        "{text}"
    );

    b.click("form[action='/ui/queue/example.org/hold'] button");
    let text = b.text();
    assert!(text.contains("example.org is held"), "{text}");
    assert!(text.contains("by an operator"), "{text}");
    b.shot("queue-held");
    b.click("form[action='/ui/queue/example.org/release'] button");
    let text = b.text();
    assert!(text.contains("example.org is released"), "{text}");
    assert!(!text.contains("by an operator"), "{text}");

    // Retry now: a second attempt at once, not after the retry schedule's minutes.
    b.click("form[action='/ui/queue/example.org/retry'] button");
    assert!(b.text().contains("1 recipient(s) due now"), "{}", b.text());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while e.events(SHOP, "event=failed").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no second attempt after retry now"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    b.script("window.confirm = () => true; return null;");
    b.fill("drop-example-org", "the customer closed the account");
    b.click("form[action='/ui/queue/example.org/drop'] button");
    let text = b.text();
    assert!(
        text.contains("example.org: 1 recipient(s) dropped"),
        "{text}"
    );
    let dropped = e.wait_event(
        SHOP,
        "event=failed&severity=permanent",
        Duration::from_secs(5),
    );
    assert_eq!(
        dropped["delivery-status"]["message"],
        "Dropped by an operator: the customer closed the account"
    );
    assert_eq!(dropped["recipient"], "ada@example.org");
    b.goto(&e.url("/ui/queue"));
    assert!(b.text().contains("0 recipient(s)"), "{}", b.text());
    b.goto(&e.url("/ui/audit"));
    let text = b.text();
    for action in ["queue.hold", "queue.release", "queue.retry", "queue.drop"] {
        assert!(text.contains(action), "{action} not audited:\n{text}");
    }
    b.shot("audit");
}

#[test]
fn a_finished_webhook_call_is_in_the_history_and_replays_the_same_event() {
    use envoi_tests::webhook_receiver::WebhookReceiver;
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    let hooks = WebhookReceiver::start();
    expect_json(
        e.post(&format!("/v3/domains/{SHOP}/webhooks"), ADMIN_KEY)
            .form(&[("id", "temporary_fail"), ("url", &hooks.url("temp"))])
            .send()
            .unwrap(),
        200,
    );
    e.send(SHOP, "ada@example.org", &[]);
    let first = hooks.wait_for("temp", 1, Duration::from_secs(30));
    b.sign_in(&e, ADMIN_KEY);
    // The history is written once the call's result is recorded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        b.goto(&e.url(&format!("/ui/webhooks?domain={SHOP}")));
        if b.text().contains("HTTP 200") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", b.text());
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = b.text();
    assert!(text.contains("Calls made"), "{text}");
    assert!(text.contains("delivered"), "{text}");
    b.script("[...document.querySelectorAll('h2')].pop().scrollIntoView(); return null;");
    b.shot("webhooks-history");
    b.click("form[action*='/replay/'] button");
    assert!(b.text().contains("Replayed"), "{}", b.text());
    let calls = hooks.wait_for("temp", 2, Duration::from_secs(15));
    assert_eq!(calls[1].event(), first[0].event());
    let id = |c: &envoi_tests::webhook_receiver::Call| c.body["event-data"]["id"].clone();
    assert_eq!(id(&calls[1]), id(&first[0]), "the same event, posted again");
    b.goto(&e.url("/ui/audit"));
    assert!(b.text().contains("webhook.replay"), "{}", b.text());
}

#[test]
fn webhook_urls_set_changed_and_removed_in_the_dashboard_are_what_the_api_shows() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    let api = format!("/v3/domains/{SHOP}/webhooks/delivered");
    let page = format!("/ui/webhooks?domain={SHOP}");
    let save = format!("form[action='/ui/webhooks/{SHOP}/delivered'] button");
    b.goto(&e.url(&page));
    b.fill(
        "url-delivered",
        "https://hooks.example.com/a https://hooks.example.com/b",
    );
    b.click(&save);
    let got = expect_json(e.get(&api, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(
        got["webhook"]["urls"],
        serde_json::json!(["https://hooks.example.com/a", "https://hooks.example.com/b"])
    );
    // A bad URL is refused with the API's reason, and changes nothing.
    b.fill("url-delivered", "ftp://hooks.example.com/");
    b.click(&save);
    assert!(b.text().contains("is not a valid url"), "{}", b.text());
    let got = expect_json(e.get(&api, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(got["webhook"]["urls"].as_array().unwrap().len(), 2);
    b.script("window.confirm = () => true; return null;");
    b.click(&format!(
        "form[action='/ui/webhooks/{SHOP}/delivered/delete'] button"
    ));
    assert_eq!(e.get(&api, ADMIN_KEY).send().unwrap().status(), 404);
    b.goto(&e.url("/ui/audit"));
    let text = b.text();
    assert!(
        text.contains("webhook.updated") && text.contains("webhook.deleted"),
        "{text}"
    );
}

#[test]
fn a_drop_without_a_reason_or_on_a_bad_destination_is_refused_and_drops_nothing() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    e.send(SHOP, "ada@example.org", &[]);
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url("/ui/queue"));
    let csrf = b.script("return document.querySelector('input[name=csrf]').value;");
    let session = format!("envoi_ui={}", b.cookie("envoi_ui").unwrap());
    let post = |path: &str, reason: &str| {
        reqwest::blocking::Client::new()
            .post(e.url(path))
            .header("cookie", &session)
            .form(&[("csrf", csrf.as_str().unwrap()), ("reason", reason)])
            .send()
            .unwrap()
    };
    let r = post("/ui/queue/example.org/drop", "  ");
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("Say why the mail is dropped"));
    let r = post("/ui/queue/exa%20mple.org%3Cb%3E/drop", "spam");
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("is not a destination domain"));
    b.goto(&e.url("/ui/queue"));
    assert!(b.text().contains("1 recipient(s)"), "{}", b.text());
}
