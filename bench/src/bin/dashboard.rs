//! The dashboard's cost (issue 23): how long the overview of a domain with
//! 1,000,000 events takes to render, and the logs and queue pages beside
//! it. The target is under 200 ms for the overview.
//!
//! cargo run --release -p envoi-bench --bin dashboard [-- EVENTS [REQUESTS]]
//!
//! A first 1,000 messages go through envoi to a sink (their `accepted` and
//! `delivered` events are real rows); they are then copied in SQL, shifted
//! back over the last 30 days, until the domain has EVENTS events, and
//! envoi's own pass counts the past hours (`store::rollup`) before the
//! pages are timed.

use std::time::{Duration, Instant};

use envoi_bench::{columns, pct};
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::*;

const DAY_MICROS: i64 = 86_400 * 1_000_000;
const DOMAIN: &str = "shop.test";

/// Copies the events there are until there are about `target`, each copy
/// shifted further back over the last 29 days (all inside the overview's
/// 30 days).
async fn fill(pool: &sqlx::AnyPool, target: usize) -> i64 {
    let have: i64 = sqlx::query_scalar("SELECT MAX(id) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    let copies = (target as i64 / have.max(1) - 1).max(0);
    let cols = columns(pool, "events").await;
    let select: Vec<String> = cols
        .iter()
        .map(|c| match c.as_str() {
            "event_id" => "event_id || '-h' || {k}".to_string(),
            "ts" => "ts - {back}".to_string(),
            other => other.to_string(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO events (id, {}) SELECT id - {{k}} * {}, {} FROM events WHERE id > 0 AND id <= {have}",
        cols.join(", "),
        have + 1,
        select.join(", ")
    );
    for k in 1..=copies {
        let back = k * 29 * DAY_MICROS / copies;
        let q = sql
            .replace("{k}", &k.to_string())
            .replace("{back}", &back.to_string());
        sqlx::query(&q).execute(pool).await.unwrap();
    }
    sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A signed-in session cookie, through the sign-in form as a browser does.
fn sign_in(e: &Envoi) -> String {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client.get(e.url("/ui/login")).send().unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let html = login.text().unwrap();
    let token = html
        .split("name=\"login_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let signed = client
        .post(e.url("/ui/login"))
        .header("cookie", cookie)
        .form(&[
            ("key", ADMIN_KEY),
            ("login_token", &token),
            ("next", "/ui/"),
        ])
        .send()
        .unwrap();
    signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("envoi_ui="))
        .and_then(|v| v.split(';').next())
        .expect("signed in")
        .to_string()
}

/// Times `n` GETs of `path`, sorted.
fn time(e: &Envoi, session: &str, path: &str, n: usize) -> Vec<Duration> {
    let client = reqwest::blocking::Client::new();
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let r = client
                .get(e.url(path))
                .header("cookie", session)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let _ = r.bytes().unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn main() {
    let mut args = std::env::args().skip(1);
    let target: usize = args
        .next()
        .map_or(1_000_000, |v| v.parse().expect("EVENTS"));
    let requests: usize = args.next().map_or(20, |v| v.parse().expect("REQUESTS"));
    let sink_port = free_port();
    let sink = Sink::start_on(
        format!("127.0.0.1:{sink_port}").parse().unwrap(),
        Script {
            forget_data: true,
            ..Script::default()
        },
    );
    let dns = TestDns::start();
    dns.mx("dest.test", 10, "mx.dest.test");
    dns.a("mx.dest.test", std::net::Ipv4Addr::LOCALHOST);
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\nport = {sink_port}\n{}\nhelo_name = \"envoi.test\"\n\
             [limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\n",
            dns.config_line()
        ),
        ..Options::default()
    });
    e.create_domain(DOMAIN);
    for i in 0..1000 {
        e.send(DOMAIN, &format!("r{i}@dest.test"), &[("o:tag", "receipt")]);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.received().len() < 1000 {
        assert!(
            Instant::now() < deadline,
            "the sink got {} of 1000",
            sink.received().len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let rt = tokio::runtime::Runtime::new().unwrap();
    sqlx::any::install_default_drivers();
    let pool = rt.block_on(sqlx::AnyPool::connect(&e.store_url)).unwrap();
    let t = Instant::now();
    let events = rt.block_on(fill(&pool, target));
    println!(
        "{events} events for {DOMAIN} over 30 days, copied in {:.1?}",
        t.elapsed()
    );
    // envoi counts past hours' events by the hour once a minute
    // (`store::rollup`): wait until the copies (ids below 0) are counted.
    let t = Instant::now();
    loop {
        let upto: i64 = rt
            .block_on(
                sqlx::query_scalar("SELECT upto FROM stats_rollup WHERE id = 1").fetch_one(&pool),
            )
            .unwrap();
        if upto >= -1 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "envoi did not count past hours within 10 min"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("counted by the hour by envoi within {:.0?}", t.elapsed());
    let session = sign_in(&e);
    // One untimed pass: SQLite's page cache warm, as on a running server.
    time(&e, &session, "/ui/", 1);
    println!();
    println!("| page | p50 | p90 | max |");
    println!("|---|---:|---:|---:|");
    // What the overview is made of, through the API: its counts by hour over
    // 30 days (as /stats/total) and the acceptable-use rates.
    let api = |path: &str| {
        let mut t: Vec<Duration> = (0..requests)
            .map(|_| {
                let s = Instant::now();
                expect_json(e.get(path, ADMIN_KEY).send().unwrap(), 200);
                s.elapsed()
            })
            .collect();
        t.sort();
        t
    };
    for path in [
        format!(
            "/v3/{DOMAIN}/stats/total?event=accepted&event=delivered&duration=30d&resolution=hour"
        ),
        format!("/v3/{DOMAIN}/reputation"),
    ] {
        let t = api(&path);
        println!(
            "API `{path}`: p50 {:.1} ms",
            pct(&t, 0.5).as_secs_f64() * 1000.0
        );
    }
    for path in [
        "/ui/".to_string(),
        format!("/ui/logs?domain={DOMAIN}"),
        format!("/ui/logs?domain={DOMAIN}&recipient=r7%40dest.test"),
        format!("/ui/logs?domain={DOMAIN}&event=delivered&tags=receipt"),
        "/ui/queue".to_string(),
        format!("/ui/suppressions?domain={DOMAIN}"),
    ] {
        let t = time(&e, &session, &path, requests);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| `{path}` | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(pct(&t, 0.5)),
            ms(pct(&t, 0.9)),
            ms(t[t.len() - 1])
        );
    }
}
