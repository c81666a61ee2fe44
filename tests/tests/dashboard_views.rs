//! The dashboard's views (issue 23) in headless Chromium: what the logs,
//! a message's timeline, the domains, DMARC, queue and webhooks pages show
//! of real traffic, DNS and reports.

use std::time::Duration;

use envoi_tests::browser::{two_domains as envoi, Browser, NEWS, SHOP};
use envoi_tests::*;

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
