//! The dashboard (issue 23), used the way a person uses it: headless
//! Chromium signing in, searching, clicking. Screenshots of each view go to
//! `target/screenshots/` (`ENVOI_BLESS=1` also refreshes those in `docs/`).

use std::time::Duration;

use envoi_tests::browser::Browser;
use envoi_tests::*;

const SHOP: &str = "shop.test";
const NEWS: &str = "news.test";

fn envoi() -> Envoi {
    let e = Envoi::start();
    e.create_domain(SHOP);
    e.create_domain(NEWS);
    e
}

#[test]
fn the_account_key_signs_in_and_sees_every_domain() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    // news.test comes first on the page: it has traffic in the screenshot.
    for to in ["ada@example.org", "bob@example.org", "eve@example.net"] {
        e.send(NEWS, to, &[]);
    }
    b.sign_in(&e, ADMIN_KEY);
    assert!(b.url().ends_with("/ui/"), "{}", b.url());
    let text = b.text();
    for needle in [
        SHOP,
        NEWS,
        "bounce rate",
        "complaint rate",
        "unsubscribe rate",
        "Last 30 days",
        "Per hour",
    ] {
        assert!(text.contains(needle), "overview lacks {needle:?}:\n{text}");
    }
    assert!(b.html().contains("<svg class=\"chart\""), "no chart");
    b.shot("overview");
}

#[test]
fn signing_out_ends_the_session_even_for_a_copy_of_its_cookie() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    let copied = b.cookie("envoi_ui").expect("signed in");
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = || {
        client
            .get(e.url("/ui/keys"))
            .header("cookie", format!("envoi_ui={copied}"))
            .send()
            .unwrap()
    };
    assert_eq!(get().status(), 200, "the copy works while signed in");
    b.click("form.signout button");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    let after = get();
    assert_ne!(
        after.status(),
        200,
        "a copy of a signed-out cookie still works"
    );
    assert!(!after.text().unwrap().contains("API keys"));
}

#[test]
fn sign_in_is_throttled_like_api_keys_after_twenty_wrong_keys() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    let attempt = |key: &str| {
        b.goto(&e.url("/ui/login"));
        b.fill("key", key);
        b.click("form.signin button[type=submit]");
        b.text()
    };
    for i in 0..20 {
        let text = attempt(&format!("wrong-{i}"));
        assert!(
            text.contains("That key is not valid"),
            "attempt {i}: {text}"
        );
    }
    // Refused now, even with the right key, and the API counts the same.
    let text = attempt(ADMIN_KEY);
    assert!(text.contains("Too many wrong keys"), "{text}");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    assert_eq!(
        e.get("/v4/domains", ADMIN_KEY).send().unwrap().status(),
        429
    );
}

#[test]
fn a_wrong_key_gets_the_sign_in_page_again_with_why() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, "not-a-key");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    assert!(b.text().contains("That key is not valid"), "{}", b.text());
    b.goto(&e.url("/ui/keys"));
    assert!(
        b.url().contains("/ui/login"),
        "a wrong key opened a page: {}",
        b.url()
    );
}

#[test]
fn a_sent_message_is_found_in_logs_with_its_timeline_and_mime() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    let id = e.send(SHOP, "ada@example.org", &[("o:tag", "receipt")]);
    e.wait_event(SHOP, "event=accepted", Duration::from_secs(10));
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url("/ui/logs"));
    b.select("domain", SHOP);
    b.fill("recipient", "ada@example.org");
    b.click("form.search button[type=submit]");
    let text = b.text();
    assert!(
        text.contains("accepted") && text.contains("ada@example.org"),
        "{text}"
    );
    assert!(text.contains("tags: receipt"), "{text}");
    b.shot("logs");
    b.follow("Timeline");
    let text = b.text();
    assert!(
        text.contains(&id),
        "the timeline lacks the Message-ID:\n{text}"
    );
    assert!(text.contains("accepted"), "{text}");
    b.shot("timeline-deferred");
    b.follow("View the MIME");
    let mime = b.text();
    assert!(
        mime.contains("Subject: Hello") && mime.contains("Delivered by envoi."),
        "{mime}"
    );
}

#[test]
fn logs_page_back_through_older_events_without_skipping_or_repeating_one() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    // One message to 130 recipients: 130 `accepted` events, one per recipient.
    let to: Vec<String> = (0..130).map(|i| format!("r{i}@example.org")).collect();
    e.send(SHOP, &to.join(", "), &[]);
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/logs?domain={SHOP}&event=accepted")));
    let recipients = |b: &Browser| -> Vec<String> {
        let v = b.script(
            "return [...document.querySelectorAll('table.events tbody tr td:nth-child(3)')].map(td => td.innerText);",
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut seen = recipients(&b);
    assert_eq!(seen.len(), 100, "a page is 100 events");
    b.follow("Older events");
    assert!(
        b.url().contains("event=accepted"),
        "the search is kept: {}",
        b.url()
    );
    let older = recipients(&b);
    assert_eq!(older.len(), 30);
    assert!(
        !b.html().contains("Older events"),
        "the last page has no older link"
    );
    seen.extend(older);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 130, "every event once");
    b.goto(&e.url(&format!("/ui/logs?domain={SHOP}&after=yesterday")));
    assert!(b.text().contains("is not a page of events"), "{}", b.text());
}

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
fn a_domain_key_sees_its_domain_read_only_and_nothing_else() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    let key = e.sending_key(SHOP);
    b.sign_in(&e, &key);
    let text = b.text();
    assert!(text.contains(SHOP) && !text.contains(NEWS), "{text}");
    assert!(text.contains("read-only"), "{text}");
    assert!(
        !text.contains("Keys") && !text.contains("Audit") && !text.contains("Webhooks"),
        "account sections shown:\n{text}"
    );
    for path in [
        format!("/ui/logs?domain={NEWS}"),
        format!("/ui/suppressions?domain={NEWS}"),
        format!("/ui/webhooks?domain={SHOP}"),
        "/ui/keys".to_string(),
        "/ui/audit".to_string(),
    ] {
        b.goto(&e.url(&path));
        let text = b.text();
        assert!(
            text.contains("Not for this key"),
            "{path} answered:\n{text}"
        );
    }
    b.shot("forbidden");
    b.goto(&e.url(&format!("/ui/suppressions?domain={SHOP}")));
    assert!(
        !b.html().contains("/ui/suppressions/add"),
        "a read-only key got the add form"
    );
}

#[test]
fn a_form_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    let session = b.cookie("envoi_ui").expect("signed in");
    let client = reqwest::blocking::Client::new();
    for csrf in [None, Some("0123456789abcdef0123456789abcdef")] {
        let mut form = vec![
            ("domain", SHOP),
            ("list", "bounces"),
            ("address", "x@example.org"),
        ];
        if let Some(t) = csrf {
            form.push(("csrf", t));
        }
        let r = client
            .post(e.url("/ui/suppressions/add"))
            .header("cookie", format!("envoi_ui={session}"))
            .form(&form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().unwrap().contains("security token"));
    }
    let api = format!("/v3/{SHOP}/bounces/x@example.org");
    assert_eq!(e.get(&api, ADMIN_KEY).send().unwrap().status(), 404);
}

#[test]
fn no_page_requests_anything_from_another_origin() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    e.send(SHOP, "ada@example.org", &[]);
    b.sign_in(&e, ADMIN_KEY);
    let origin = e.url("");
    for path in [
        "/ui/",
        "/ui/logs",
        "/ui/suppressions",
        "/ui/keys",
        "/ui/audit",
    ] {
        b.goto(&e.url(path));
        let loaded = b.requested();
        assert!(
            loaded.len() >= 3,
            "{path}: the stylesheet and script were not loaded: {loaded:?}"
        );
        for url in loaded {
            assert!(url.starts_with(&origin), "{path} requested {url}");
        }
    }
}

#[test]
fn pages_fit_a_phone_screen() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    // Some mail, so the queue and logs have rows.
    e.send(SHOP, "ada@example.org", &[]);
    b.sign_in(&e, ADMIN_KEY);
    b.resize(390, 844);
    for path in [
        "/ui/",
        "/ui/domains",
        "/ui/logs",
        "/ui/queue",
        "/ui/suppressions",
        "/ui/dmarc",
        "/ui/webhooks",
        "/ui/keys",
        "/ui/audit",
    ] {
        b.goto(&e.url(path));
        let fits =
            b.script("return document.documentElement.scrollWidth <= window.innerWidth + 1;");
        // What sticks out, for the failure's message.
        let wide = b.script(
            "return [...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)\
             .slice(0, 12).map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right));",
        );
        assert_eq!(
            fits,
            serde_json::json!(true),
            "{path} scrolls sideways on a phone: {wide}"
        );
    }
    b.goto(&e.url("/ui/"));
    b.shot("overview-phone");
}

#[test]
fn the_domains_page_shows_what_to_publish_and_changes_connection_settings() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/domains?domain={SHOP}")));
    let text = b.text();
    for needle in [
        "v=spf1",
        "k1._domainkey.shop.test",
        "_dmarc.shop.test",
        "v=DMARC1; p=none",
        "Require TLS",
        "Skip verification",
    ] {
        assert!(
            text.contains(needle),
            "the domains page lacks {needle:?}:\n{text}"
        );
    }
    b.shot("domains");
    b.select("require_tls", "true");
    b.click(&format!(
        "form[action='/ui/domains/{SHOP}/connection'] button"
    ));
    assert!(
        b.text().contains("connection settings have been updated"),
        "{}",
        b.text()
    );
    let conn = expect_json(
        e.get(&format!("/v3/domains/{SHOP}/connection"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(conn["connection"]["require_tls"], true, "{conn}");
}

#[test]
fn the_queue_shows_waiting_mail_by_destination_and_a_domain_key_only_its_own() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    e.send(SHOP, "ada@example.org", &[]);
    e.send(NEWS, "bob@example.net", &[]);
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url("/ui/queue"));
    let text = b.text();
    assert!(
        text.contains("example.org") && text.contains("example.net"),
        "{text}"
    );
    b.shot("queue");
    let key = e.sending_key(SHOP);
    b.click("form.signout button");
    b.sign_in(&e, &key);
    b.goto(&e.url("/ui/queue"));
    let text = b.text();
    assert!(
        text.contains("example.org") && !text.contains("example.net"),
        "{text}"
    );
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
fn the_dmarc_page_shows_the_published_step_and_what_comes_next() {
    let Some(b) = Browser::start() else { return };
    let dns = envoi_tests::dns::TestDns::start();
    dns.txt(
        "_dmarc.shop.test",
        "v=DMARC1; p=none; rua=mailto:dmarc@shop.test",
    );
    let e = Envoi::start_with(Options {
        extra_config: format!("[delivery]\n{}\n", dns.config_line()),
        ..Options::default()
    });
    e.create_domain(SHOP);
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/dmarc?domain={SHOP}")));
    let text = b.text();
    for needle in [
        "v=DMARC1; p=none",
        "Current step",
        "Next step",
        "No aggregate report yet",
    ] {
        assert!(
            text.contains(needle),
            "the DMARC page lacks {needle:?}:\n{text}"
        );
    }
    b.shot("dmarc");
}

#[test]
fn a_delivery_shows_in_its_timeline_with_the_mx_tls_version_and_certificate_check() {
    use envoi_tests::ca::{CertKind, TestCa};
    use envoi_tests::sink::{Script, Sink};
    let Some(b) = Browser::start() else { return };
    let ca = TestCa::new();
    let sink = Sink::start(Script {
        cert: Some(ca.server_cert(CertKind::Good, "mx.dest.test")),
        ..Script::default()
    });
    let dns = envoi_tests::dns::TestDns::start();
    dns.mx("dest.test", 10, "mx.dest.test");
    dns.a("mx.dest.test", std::net::Ipv4Addr::LOCALHOST);
    let ca_file = temp_dir("ca").join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\nport = {}\n{}\nextra_ca_file = \"{}\"\nhelo_name = \"envoi.test\"\n",
            sink.addr.port(),
            dns.config_line(),
            ca_file.display()
        ),
        ..Options::default()
    });
    e.create_domain(SHOP);
    let id = e.send(SHOP, "ada@dest.test", &[]);
    e.wait_event(SHOP, "event=delivered", Duration::from_secs(30));
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/logs/{SHOP}/message?id={id}")));
    let text = b.text();
    for needle in [
        "accepted",
        "delivered",
        "MX mx.dest.test",
        "TLSv1.3, certificate verified",
        "attempt 1",
    ] {
        assert!(
            text.contains(needle),
            "the timeline lacks {needle:?}:\n{text}"
        );
    }
    b.shot("timeline");
}

#[test]
fn the_webhooks_page_shows_each_events_urls_and_the_calls_being_retried() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    // Nobody listens there: the call fails and waits for its retry.
    let url = format!("http://127.0.0.1:{}/hook", free_port());
    expect_json(
        e.post(&format!("/v3/domains/{SHOP}/webhooks"), ADMIN_KEY)
            .form(&[("id", "temporary_fail"), ("url", &url)])
            .send()
            .unwrap(),
        200,
    );
    e.send(SHOP, "ada@example.org", &[]);
    e.wait_event(SHOP, "event=failed", Duration::from_secs(30));
    b.sign_in(&e, ADMIN_KEY);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(&e.url(&format!("/ui/webhooks?domain={SHOP}")));
        let text = b.text();
        assert!(
            text.contains("temporary_fail") && text.contains(&url),
            "{text}"
        );
        if !text.contains("None: every call was made") && text.contains("Last attempt") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pending call shown:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    b.shot("webhooks");
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
    assert!(r.text().unwrap().contains("split the CSV file"));
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
fn a_domain_key_gets_no_queue_actions_and_its_posts_are_refused() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    e.send(SHOP, "ada@example.org", &[]);
    b.sign_in(&e, &e.sending_key(SHOP));
    b.goto(&e.url("/ui/queue"));
    assert!(b.html().contains("example.org"));
    assert!(
        !b.html().contains("/ui/queue/example.org/drop"),
        "{}",
        b.html()
    );
    // Even with its good CSRF token, the post is refused with a 403 page.
    let csrf = b.script("return document.querySelector('form.signout input[name=csrf]').value;");
    let r = reqwest::blocking::Client::new()
        .post(e.url("/ui/queue/example.org/hold"))
        .header(
            "cookie",
            format!("envoi_ui={}", b.cookie("envoi_ui").unwrap()),
        )
        .form(&[("csrf", csrf.as_str().unwrap())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    b.goto(&e.url("/ui/queue"));
    assert!(!b.text().contains("by an operator"), "{}", b.text());
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
fn verify_now_finds_the_published_records_and_the_checklist_shows_bimi_when_present() {
    let Some(b) = Browser::start() else { return };
    let dns = envoi_tests::dns::TestDns::start();
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\n{}\nhelo_name = \"envoi.test\"\n",
            dns.config_line()
        ),
        ..Options::default()
    });
    let created = e.create_domain(SHOP);
    // The records envoi asks for, as the person publishes them; DMARC at
    // quarantine, so BIMI may show the logo.
    for rec in created["sending_dns_records"].as_array().unwrap() {
        let name = rec["name"].as_str().unwrap();
        if rec["record_type"] == "TXT" && !name.starts_with("_dmarc.") {
            dns.txt(name, rec["value"].as_str().unwrap());
        }
    }
    dns.txt("_dmarc.shop.test", "v=DMARC1; p=quarantine");
    let bimi = "v=BIMI1; l=https://shop.test/logo.svg";
    dns.txt("default._bimi.shop.test", bimi);
    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/domains?domain={SHOP}")));
    let text = b.text();
    assert!(text.contains(bimi), "{text}");
    assert!(text.contains("allows receivers to show the logo"), "{text}");

    b.click(&format!("form[action='/ui/domains/{SHOP}/verify'] button"));
    let text = b.text();
    assert!(text.contains("Domain shop.test is now active"), "{text}");
    assert!(text.contains("✓ as expected"), "{text}");
    assert!(text.contains("p: quarantine"), "{text}");
    assert!(text.contains("allowed: true"), "{text}");
    b.shot("verify");
    assert_eq!(
        e.get(&format!("/v4/domains/{SHOP}"), ADMIN_KEY)
            .send()
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap()["domain"]["state"],
        "active"
    );
}

#[test]
fn the_dmarc_page_lists_the_sources_of_an_ingested_report_with_their_pass_rates() {
    let Some(b) = Browser::start() else { return };
    const BOUNCES: &str = "bounces.envoi.test";
    let dns = envoi_tests::dns::TestDns::start();
    dns.txt(
        "_dmarc.shop.test",
        "v=DMARC1; p=quarantine; pct=25; rua=mailto:dmarc@bounces.envoi.test",
    );
    let e = Envoi::start_with(Options {
        extra_config: format!("[delivery]\n{}\n", dns.config_line()),
        ..Options::with_bounce_domain(BOUNCES)
    });
    e.create_domain(SHOP);
    // Yesterday's report from one receiver: 90 passing from one address,
    // 10 failing (and quarantined) from another.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let begin = (now / 86400 - 1) * 86400;
    let row = |ip: &str, n: u32, r: &str, disposition: &str| {
        format!("<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated><disposition>{disposition}</disposition><dkim>{r}</dkim><spf>{r}</spf></policy_evaluated></row><identifiers><header_from>shop.test</header_from></identifiers></record>")
    };
    let report = format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email><report_id>d-1</report_id><date_range><begin>{begin}</begin><end>{}</end></date_range></report_metadata><policy_published><domain>shop.test</domain><p>quarantine</p><pct>25</pct></policy_published>{}{}</feedback>\r\n",
        begin + 86399,
        row("192.0.2.10", 90, "pass", "none"),
        row("198.51.100.7", 10, "fail", "quarantine"),
    );
    let (mut c, _) = smtp_client::RawSmtp::connect(e.inbound_port.unwrap());
    assert!(c.cmd("EHLO mx.google.test").starts_with("250"));
    let reply = c.submit("", &format!("dmarc@{BOUNCES}"), report.as_bytes());
    assert!(reply.starts_with("250"), "{reply}");

    b.sign_in(&e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/dmarc?domain={SHOP}")));
    let text = b.text();
    assert!(!text.contains("No aggregate report yet"), "{text}");
    // The ramp reads the report: it stays, and says which source fails.
    assert!(text.contains("stay at quarantine; pct=25"), "{text}");
    assert!(text.contains("198.51.100.7 (10 of 10 failing)"), "{text}");
    let rows = b.script(
        "return [...document.querySelectorAll('tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' ').trim());",
    );
    let rows: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.starts_with("192.0.2.10 90 100") && r.ends_with("0 / 0")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("198.51.100.7 10 0") && r.ends_with("10 / 0")),
        "{rows:?}"
    );
    b.shot("dmarc-sources");
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
fn the_timeline_shows_an_unsubscribe_and_a_complaint_after_delivery() {
    use envoi_tests::sink::Script;
    let Some(b) = Browser::start() else { return };
    const BOUNCES: &str = "bounces.envoi.test";
    let w = envoi_tests::world::Delivering::start(
        Script::default(),
        "",
        Options::with_bounce_domain(BOUNCES),
    );
    w.dns.publish_dkim(&w.e.create_domain(SHOP));
    let e = &w.e;
    let id = e.send(SHOP, "alice@dest.test", &[]);
    let got = w.sink.wait_for(1, Duration::from_secs(30));
    // The recipient clicks the one-click link (RFC 8058)…
    let url = got[0].unsubscribe_url();
    let r = e
        .client
        .post(e.url(&url[url.find("/u/").unwrap()..]))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // …and their provider reports a complaint (ARF) to the return path.
    let arf = format!(
        "From: feedback@isp.test\r\nTo: {rp}\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"f1\"\r\n\r\n\
         --f1\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\
         --f1\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <alice@dest.test>\r\n\r\n\
         --f1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: sender@shop.test\r\nTo: alice@dest.test\r\n--f1--\r\n",
        rp = got[0].mail_from
    );
    let (mut c, _) = smtp_client::RawSmtp::connect(e.inbound_port.unwrap());
    assert!(c.cmd("EHLO mx.dest.test").starts_with("250"));
    let reply = c.submit("", &got[0].mail_from, arf.as_bytes());
    assert!(reply.starts_with("250"), "{reply}");
    e.wait_event(SHOP, "event=complained", Duration::from_secs(30));

    b.sign_in(e, ADMIN_KEY);
    b.goto(&e.url(&format!("/ui/logs/{SHOP}/message?id={id}")));
    let events =
        b.script("return [...document.querySelectorAll('ol.timeline .ev')].map(e => e.innerText);");
    let events: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for kind in ["accepted", "delivered", "unsubscribed", "complained"] {
        assert!(
            events.contains(&kind),
            "the timeline lacks {kind}: {events:?}"
        );
    }
    b.shot("timeline-complaint");
}
