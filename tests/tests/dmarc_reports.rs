//! DMARC aggregate and SMTP TLS reports sent to envoi's rua addresses on
//! `[inbound].listen` (`dmarc@` and `tls-reports@` the bounce domain): a
//! report is stored once for the domain it is about, however often it is
//! sent; a damaged one is refused with the reason and nothing is stored;
//! `GET /v3/{domain}/dmarc/reports` lists them.

use envoi_tests::smtp_client::RawSmtp;
use envoi_tests::world;
use envoi_tests::*;

const BOUNCES: &str = "bounces.envoi.test";

fn start() -> (Envoi, u16) {
    let e = Envoi::start_with(Options::with_bounce_domain(BOUNCES));
    e.create_domain("shop.test");
    let port = e.inbound_port.unwrap();
    (e, port)
}

fn aggregate(report_id: &str, passing: u32, failing: u32) -> String {
    dated(
        report_id,
        "quarantine",
        25,
        1764979200,
        1765065599,
        passing,
        failing,
    )
}

/// A report at policy `p`/`pct` for the period `begin`..`end` (seconds).
fn dated(
    report_id: &str,
    p: &str,
    pct: u8,
    begin: i64,
    end: i64,
    passing: u32,
    failing: u32,
) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata><org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>
    <report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{end}</end></date_range></report_metadata>
  <policy_published><domain>shop.test</domain><adkim>r</adkim><aspf>r</aspf><p>{p}</p><pct>{pct}</pct></policy_published>
  <record><row><source_ip>192.0.2.10</source_ip><count>{passing}</count>
    <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>shop.test</header_from></identifiers></record>
  <record><row><source_ip>198.51.100.7</source_ip><count>{failing}</count>
    <policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>shop.test</header_from></identifiers></record>
</feedback>
"#
    )
}

/// A report mail as Google sends it: the XML gzip'd, attached.
fn report_mail(xml: &str) -> Vec<u8> {
    use base64::Engine;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, xml.as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    format!(
        "From: noreply-dmarc-support@google.com\r\nTo: dmarc@{BOUNCES}\r\nSubject: Report domain: shop.test Submitter: google.com\r\nMIME-Version: 1.0\r\nContent-Type: application/gzip; name=\"google.com!shop.test!1764979200!1765065599.xml.gz\"\r\nContent-Disposition: attachment; filename=\"google.com!shop.test!1764979200!1765065599.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n"
    )
    .into_bytes()
}

/// Sends `message` (any line endings) to `to`; the reply to its end.
fn send(port: u16, to: &str, message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
    let mut crlf = text.replace('\n', "\r\n");
    if !crlf.ends_with("\r\n") {
        crlf.push_str("\r\n");
    }
    let (mut c, _) = RawSmtp::connect(port);
    assert!(c.cmd("EHLO mx.google.test").starts_with("250"));
    c.submit("", to, crlf.as_bytes())
}

fn reports(e: &Envoi) -> Vec<serde_json::Value> {
    e.items("/v3/shop.test/dmarc/reports")
}

#[test]
fn an_aggregate_report_is_stored_once_and_listed() {
    let (e, port) = start();
    let mail = report_mail(&aggregate("r-1", 990, 10));
    let reply = send(port, &format!("dmarc@{BOUNCES}"), &mail);
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert!(reply.contains("stored"), "{reply}");
    let again = send(port, &format!("dmarc@{BOUNCES}"), &mail);
    assert!(again.contains("already stored"), "{again}");
    let list = reports(&e);
    assert_eq!(list.len(), 1, "{list:?}");
    let r = &list[0];
    assert_eq!(r["organization"], "google.com");
    assert_eq!(r["report_id"], "r-1");
    assert_eq!(r["policy"], "quarantine; pct=25");
    assert_eq!(r["messages"], 1000);
    assert_eq!(r["dmarc_pass"], 990);
    assert_eq!(r["pass_rate"], 0.99);
}

#[test]
fn a_damaged_report_is_refused_with_the_reason_and_nothing_is_stored() {
    let (e, port) = start();
    let xml = aggregate("r-2", 5, 0);
    let cut = &xml[..xml.len() - 60];
    let reply = send(port, &format!("dmarc@{BOUNCES}"), &report_mail(cut));
    assert!(reply.starts_with("550 5.6.0"), "{reply}");
    assert!(reply.contains("XML"), "{reply}");
    assert!(reply.contains("nothing was stored"), "{reply}");
    let reply = send(
        port,
        &format!("dmarc@{BOUNCES}"),
        b"From: a@b.test\r\nSubject: hello\r\n\r\nno report here\r\n",
    );
    assert!(reply.starts_with("550 5.6.0"), "{reply}");
    assert!(reports(&e).is_empty());
}

#[test]
fn a_report_about_a_domain_not_sent_from_here_is_refused() {
    let (_e, port) = start();
    let xml =
        aggregate("r-3", 5, 0).replace("<domain>shop.test</domain>", "<domain>other.test</domain>");
    let reply = send(port, &format!("dmarc@{BOUNCES}"), xml.as_bytes());
    assert!(reply.starts_with("550 5.1.1"), "{reply}");
    assert!(reply.contains("other.test"), "{reply}");
}

#[test]
fn an_smtp_tls_report_is_taken_at_its_own_address() {
    let (_e, port) = start();
    let json = r#"{"organization-name":"Company-X","date-range":{"start-datetime":"2026-12-05T00:00:00Z","end-datetime":"2026-12-05T23:59:59Z"},"contact-info":"sts@company-x.test","report-id":"t-1","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"bounces.envoi.test"},"summary":{"total-successful-session-count":40,"total-failure-session-count":2}}]}"#;
    let reply = send(port, &format!("tls-reports@{BOUNCES}"), json.as_bytes());
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert!(reply.contains("SMTP TLS report t-1"), "{reply}");
    let again = send(port, &format!("tls-reports@{BOUNCES}"), json.as_bytes());
    assert!(again.contains("already stored"), "{again}");
}

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A world with DNS holding `_dmarc.shop.test` (when `record` is given),
/// and the reports `(id, days ago it began, passing, failing)` at
/// quarantine 25 % received.
fn ramp_world(record: Option<&str>, reports: &[(&str, i64, u32, u32)]) -> world::Delivering {
    let w = world::Delivering::start(
        envoi_tests::sink::Script::default(),
        "",
        Options::with_bounce_domain(BOUNCES),
    );
    w.e.create_domain("shop.test");
    if let Some(r) = record {
        w.dns.txt("_dmarc.shop.test", r);
    }
    let port = w.e.inbound_port.unwrap();
    for (id, ago, pass, fail) in reports {
        let begin = now() - ago * DAY;
        let xml = dated(id, "quarantine", 25, begin, begin + DAY - 1, *pass, *fail);
        let reply = send(port, &format!("dmarc@{BOUNCES}"), &report_mail(&xml));
        assert!(reply.starts_with("250"), "{reply}");
    }
    w
}

fn ramp(e: &Envoi) -> serde_json::Value {
    expect_json(e.get("/v3/shop.test/dmarc", ADMIN_KEY).send().unwrap(), 200)
}

const AT_Q25: &str = "v=DMARC1; p=quarantine; pct=25; rua=mailto:dmarc@bounces.envoi.test";

#[test]
fn after_two_clean_weeks_at_a_step_the_next_one_is_advised_with_its_reason() {
    let w = ramp_world(Some(AT_Q25), &[("a", 15, 996, 4), ("b", 2, 1000, 0)]);
    // envoi's HELO name resolves to the passing source: its own mail.
    w.dns
        .a("envoi.test", std::net::Ipv4Addr::new(192, 0, 2, 10));
    let r = ramp(&w.e);
    assert_eq!(r["envoi_pass_rate"], 1.0);
    assert_eq!(r["record"], AT_Q25);
    assert_eq!(r["current"], "quarantine; pct=25");
    assert_eq!(r["next"], "quarantine; pct=50");
    assert_eq!(r["days_at_step"], 15);
    assert_eq!(r["pass_rate"], 0.998);
    let because = r["because"].as_str().unwrap();
    assert!(
        because.starts_with("99.8 % of 15 days of reported mail passed"),
        "{because}"
    );
    assert!(
        because.contains("1 source fails: 198.51.100.7 (4 of 4 failing)"),
        "{because}"
    );
    assert!(r["after"].is_string());
    assert_eq!(r["failing_sources"][0]["source_ip"], "198.51.100.7");
}

#[test]
fn at_ninety_seven_percent_the_ramp_stays_and_says_what_to_fix() {
    let w = ramp_world(Some(AT_Q25), &[("a", 15, 970, 30)]);
    let r = ramp(&w.e);
    assert_eq!(r["current"], "quarantine; pct=25");
    assert_eq!(r["next"], "quarantine; pct=25", "no tightening");
    assert!(r["after"].is_null());
    let because = r["because"].as_str().unwrap();
    assert!(
        because.contains("97.0 %") && because.contains("98 %"),
        "{because}"
    );
    assert!(because.contains("198.51.100.7"), "{because}");
}

#[test]
fn without_a_dmarc_record_the_first_step_is_to_publish_one() {
    let w = ramp_world(None, &[]);
    let r = ramp(&w.e);
    assert!(r["record"].is_null());
    assert_eq!(r["current"], "none");
    let because = r["because"].as_str().unwrap();
    assert!(
        because.contains("v=DMARC1; p=none; rua=mailto:dmarc@bounces.envoi.test"),
        "{because}"
    );
}

#[test]
fn sources_sum_what_receivers_reported_per_address() {
    let w = ramp_world(Some(AT_Q25), &[("a", 3, 90, 10), ("b", 2, 50, 5)]);
    w.dns
        .a("envoi.test", std::net::Ipv4Addr::new(192, 0, 2, 10));
    w.dns
        .ptr(std::net::Ipv4Addr::new(198, 51, 100, 7), "crm.example.net");
    let r = expect_json(
        w.e.get("/v3/shop.test/dmarc/sources?duration=7d", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["source_ip"], "192.0.2.10");
    assert_eq!(items[0]["messages"], 140);
    assert_eq!(items[0]["dmarc_pass"], 140);
    assert_eq!(items[0]["envoi"], true, "envoi's own address");
    assert_eq!(items[1]["envoi"], false);
    assert_eq!(items[1]["name"], "crm.example.net", "its reverse name");
    assert!(items[0]["name"].is_null(), "none published");
    assert_eq!(items[1]["source_ip"], "198.51.100.7");
    assert_eq!(
        (
            items[1]["messages"].as_i64(),
            items[1]["quarantined"].as_i64()
        ),
        (Some(15), Some(15))
    );
    expect_error(
        w.e.get("/v3/shop.test/dmarc/sources?duration=soon", ADMIN_KEY)
            .send()
            .unwrap(),
        400,
        &["duration", "14d"],
    );
}

#[test]
fn verify_reads_dmarc_says_whether_envoi_mail_passes_and_checks_bimi() {
    let record = "v=DMARC1; p=quarantine; pct=50; adkim=s; rua=mailto:dmarc@bounces.envoi.test";
    let w = ramp_world(Some(record), &[]);
    w.dns.txt(
        "default._bimi.shop.test",
        "v=BIMI1; l=https://shop.test/logo.svg",
    );
    let v = expect_json(
        w.e.put("/v4/domains/shop.test/verify", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    let wanted: Vec<&str> = v["sending_dns_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert!(wanted.contains(&"v=spf1 a:envoi.test ~all"), "{wanted:?}");
    assert!(
        wanted.contains(&"v=DMARC1; p=none; rua=mailto:dmarc@bounces.envoi.test"),
        "the suggested rua is envoi's report address: {wanted:?}"
    );
    let dmarc = &v["dmarc"];
    assert_eq!(dmarc["record"], record);
    assert_eq!(
        (dmarc["p"].as_str(), dmarc["pct"].as_u64()),
        (Some("quarantine"), Some(50))
    );
    assert_eq!(
        (dmarc["adkim"].as_str(), dmarc["aspf"].as_str()),
        (Some("s"), Some("r"))
    );
    assert_eq!(dmarc["rua"][0], "mailto:dmarc@bounces.envoi.test");
    assert_eq!(dmarc["ramp_step"], "quarantine; pct=50");
    // DKIM d= is the From domain itself; the return path is at the global
    // bounce domain, so only DKIM aligns: enough to pass.
    assert_eq!(dmarc["envoi_mail"]["dkim_aligned"], true);
    assert_eq!(dmarc["envoi_mail"]["spf_aligned"], false);
    assert_eq!(dmarc["envoi_mail"]["passes"], true);
    let bimi = &v["bimi"];
    assert_eq!(bimi["record"], "v=BIMI1; l=https://shop.test/logo.svg");
    assert_eq!(bimi["allowed"], false);
    assert!(bimi["why"].as_str().unwrap().contains("pct=50"), "{bimi}");
}

/// A report of `rows` (source, messages, passing DMARC) for a day.
fn report_of(report_id: &str, begin: i64, rows: &[(&str, u32, bool)]) -> String {
    let records: String = rows
        .iter()
        .map(|(ip, n, pass)| {
            let r = if *pass { "pass" } else { "fail" };
            format!(
                "<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated><disposition>none</disposition><dkim>{r}</dkim><spf>{r}</spf></policy_evaluated></row><identifiers><header_from>shop.test</header_from></identifiers></record>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>outlook.com</org_name><email>dmarcreport@microsoft.com</email><report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{}</end></date_range></report_metadata><policy_published><domain>shop.test</domain><p>none</p></policy_published>{records}</feedback>\n",
        begin + DAY - 1
    )
}

#[test]
fn mail_failing_from_a_source_that_is_not_envoi_warns_once_per_source_and_day() {
    let w = ramp_world(Some(AT_Q25), &[]);
    // envoi's HELO name resolves to its sending address.
    w.dns
        .a("envoi.test", std::net::Ipv4Addr::new(192, 0, 2, 10));
    let hooks = envoi_tests::webhook_receiver::WebhookReceiver::start();
    let url = hooks.url("warning");
    expect_json(
        w.e.post("/v3/domains/shop.test/webhooks", ADMIN_KEY)
            .form(&[("id", "warning"), ("url", url.as_str())])
            .send()
            .unwrap(),
        200,
    );
    let port = w.e.inbound_port.unwrap();
    let day = (now() / DAY - 1) * DAY;
    let first = report_of(
        "o-1",
        day,
        &[
            ("192.0.2.10", 500, false),
            ("198.51.100.7", 50, false),
            ("203.0.113.5", 3, false),
        ],
    );
    let reply = send(port, &format!("dmarc@{BOUNCES}"), first.as_bytes());
    assert!(reply.starts_with("250"), "{reply}");
    let ev = w.e.wait_event(
        "shop.test",
        "event=warning",
        std::time::Duration::from_secs(10),
    );
    assert_eq!(ev["state"], "spoofing");
    assert_eq!(ev["reason"]["kind"], "dmarc");
    assert_eq!(ev["reason"]["source_ip"], "198.51.100.7");
    assert_eq!(ev["reason"]["failing"], 50);
    // The domain's warning webhook is called with it.
    let call = &hooks.wait_for("warning", 1, std::time::Duration::from_secs(30))[0];
    assert_eq!(
        call.body["event-data"]["reason"]["source_ip"],
        "198.51.100.7"
    );
    // The same source again that day: no second warning.
    let second = report_of("o-2", day, &[("198.51.100.7", 20, false)]);
    assert!(send(port, &format!("dmarc@{BOUNCES}"), second.as_bytes()).starts_with("250"));
    let warnings = w.e.events("shop.test", "event=warning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn the_report_list_is_paged_newest_first() {
    let (e, port) = start();
    for (i, id) in ["p-1", "p-2", "p-3"].iter().enumerate() {
        let begin = 1764979200 + i as i64 * DAY;
        let xml = dated(id, "none", 100, begin, begin + DAY - 1, 10, 0);
        assert!(send(port, &format!("dmarc@{BOUNCES}"), xml.as_bytes()).starts_with("250"));
    }
    let page = expect_json(
        e.get("/v3/shop.test/dmarc/reports?limit=2", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p-3", "p-2"]);
    let next = page["paging"]["next"].as_str().unwrap();
    let path = &next[next.find("/v3/").unwrap()..];
    let page = expect_json(e.get(path, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(page["items"][0]["report_id"], "p-1");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["paging"]["next"].is_null(), "the last page");
    expect_error(
        e.get("/v3/shop.test/dmarc/reports?before=yesterday", ADMIN_KEY)
            .send()
            .unwrap(),
        400,
        &["before", "paging.next"],
    );
}
