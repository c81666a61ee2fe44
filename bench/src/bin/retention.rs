//! Cost that stays flat as the work grows (issue 22): accept and delivery
//! CPU per message on an empty store, then on a store holding 100,000
//! queued recipients and 1,000,000 messages' worth of events and stored
//! messages spread over 60 days, then after envoi's own retention pass has
//! pruned what is older than `[events].retention` (30 days) and
//! `message_retention` (3 days). Prints the store's size at each step.
//!
//! cargo run --release -p envoi-bench --bin retention [-- MESSAGES CLIENTS [--fill N] [--queued N]]
//!
//! The queued recipients are sent through the API (scheduled a day ahead);
//! the history is copied, in SQL, from the messages and events of the
//! first round, shifted back in time: real rows at disk speed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoi_bench::{columns, cpu_seconds, pct, proc_field};
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::*;

const DAY_MICROS: i64 = 86_400 * 1_000_000;
/// The history's span: twice the events' default retention.
const SPAN_DAYS: i64 = 60;
/// Until the full store is measured, nothing is pruned: the pass would
/// fall inside the round. Then envoi restarts on the defaults.
const KEEP_ALL: &str = "[events]\nretention = \"1000d\"\nmessage_retention = \"1000d\"\n";

struct Args {
    n: usize,
    clients: usize,
    fill: usize,
    queued: usize,
}

fn args() -> Args {
    let mut a = Args {
        n: 3000,
        clients: 8,
        fill: 1_000_000,
        queued: 100_000,
    };
    let mut positional = 0;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |what: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} N"))
        };
        match arg.as_str() {
            "--fill" => a.fill = num("--fill"),
            "--queued" => a.queued = num("--queued"),
            v => {
                let n: usize = v.parse().expect("MESSAGES CLIENTS");
                if positional == 0 {
                    a.n = n;
                } else {
                    a.clients = n;
                }
                positional += 1;
            }
        }
    }
    a
}

/// One round's figures.
struct Round {
    what: String,
    msg_s: f64,
    cpu_ms: f64,
    p50: Duration,
    p99: Duration,
}

/// Sends `n` messages from `clients` threads, numbered from `first`; the
/// latency of each accept.
fn send(
    e: &Arc<Envoi>,
    first: usize,
    n: usize,
    clients: usize,
    form: &[(&str, &str)],
) -> Vec<Duration> {
    let lat = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let form: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (e, lat, form) = (e.clone(), lat.clone(), form.clone());
            std::thread::spawn(move || {
                for i in (first + c..first + n).step_by(clients) {
                    let to = format!("r{i}@dest.test");
                    let mut f: Vec<(&str, &str)> =
                        form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    f.push(("to", &to));
                    let t = Instant::now();
                    let r = e
                        .post("/v3/shop.test/messages", ADMIN_KEY)
                        .form(&f)
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    lat.lock().unwrap().push(t.elapsed());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    l
}

fn message_form(body: &str) -> Vec<(&str, &str)> {
    vec![
        ("from", "Shop <no-reply@shop.test>"),
        ("subject", "Your receipt"),
        ("text", body),
    ]
}

/// Accept `n` messages and wait for the sink to have them all: msg/s and
/// envoi's CPU per message over both.
fn round(e: &Arc<Envoi>, sink: &Sink, first: usize, a: &Args, body: &str, what: &str) -> Round {
    let pid = e.pid();
    let (cpu0, t0, before) = (cpu_seconds(pid), Instant::now(), sink.count());
    let lat = send(e, first, a.n, a.clients, &message_form(body));
    sink.wait_for(before + a.n, Duration::from_secs(3600));
    let secs = t0.elapsed().as_secs_f64();
    let r = Round {
        what: what.to_string(),
        msg_s: a.n as f64 / secs,
        cpu_ms: (cpu_seconds(pid) - cpu0) * 1000.0 / a.n as f64,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
    };
    println!(
        "{what}: {:.0} msg/s, envoi CPU {:.3} ms/msg, accept p50 {:.2?} p99 {:.2?}",
        r.msg_s, r.cpu_ms, r.p50, r.p99
    );
    r
}

/// The store's size: the file and its WAL on disk, and the pages in use.
struct Size {
    file: u64,
    wal: u64,
    used: u64,
    events: i64,
    messages: i64,
    /// Messages whose content is still kept.
    bodies: i64,
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "{:.0} MiB file + {:.0} MiB WAL, {:.0} MiB in use; {} events, {} messages ({} with their content)",
            mib(self.file),
            mib(self.wal),
            mib(self.used),
            self.events,
            self.messages,
            self.bodies
        )
    }
}

async fn size(pool: &sqlx::AnyPool, path: &std::path::Path) -> Size {
    let one = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let (pages, free, page) = (
        one("PRAGMA page_count").await,
        one("PRAGMA freelist_count").await,
        one("PRAGMA page_size").await,
    );
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Size {
        file: len(path),
        wal: len(&path.with_extension("db-wal")),
        used: ((pages - free) * page) as u64,
        events: one("SELECT COUNT(*) FROM events").await,
        messages: one("SELECT COUNT(*) FROM messages").await,
        bodies: one("SELECT COUNT(*) FROM messages WHERE length(body) > 0").await,
    }
}

/// The first round's rows: ids 1 to these.
struct Sample {
    messages: i64,
    events: i64,
}

async fn sample(pool: &sqlx::AnyPool) -> Sample {
    let max = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    Sample {
        messages: max("SELECT MAX(id) FROM messages").await,
        events: max("SELECT MAX(id) FROM events").await,
    }
}

/// Copies the first round's messages and events until `fill` messages'
/// worth are there, each copy shifted further back over `SPAN_DAYS`.
/// Copies have no recipients: they are history, delivered long ago.
async fn fill_history(pool: &sqlx::AnyPool, fill: usize, sample: &Sample) {
    let copies = fill.div_ceil(sample.messages as usize).max(1);
    let (max_msg, max_event) = (sample.messages, sample.events);
    let shifted = |cols: &[String], renamed: &str, time: &str| {
        cols.iter()
            .map(|c| {
                if c == renamed {
                    format!("{c} || '-h' || {{k}}")
                } else if c == time {
                    format!("{c} - {{back}}")
                } else {
                    c.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (mcols, ecols) = (
        columns(pool, "messages").await,
        columns(pool, "events").await,
    );
    // envoi's ids are in time order (retention walks them from the
    // oldest): the copies get ids below the first round's, the oldest copy
    // lowest (negative ids are ids to SQLite).
    let insert_messages = format!(
        "INSERT INTO messages (id, {}) SELECT id - {{k}} * {}, {} FROM messages WHERE id > 0 AND id <= {max_msg}",
        mcols.join(", "),
        max_msg + 1,
        shifted(&mcols, "storage_key", "created_at")
    );
    let insert_events = format!(
        "INSERT INTO events (id, {}) SELECT id - {{k}} * {}, {} FROM events WHERE id > 0 AND id <= {max_event}",
        ecols.join(", "),
        max_event + 1,
        shifted(&ecols, "event_id", "ts")
    );
    for k in 1..=copies as i64 {
        let back = k * SPAN_DAYS * DAY_MICROS / copies as i64;
        for sql in [&insert_messages, &insert_events] {
            let sql = sql
                .replace("{k}", &k.to_string())
                .replace("{back}", &back.to_string());
            sqlx::query(&sql).execute(pool).await.unwrap();
        }
    }
}

fn main() {
    let a = args();
    let sink_port = free_port();
    let sink_addr: std::net::SocketAddr = format!("127.0.0.1:{sink_port}").parse().unwrap();
    let sink = Sink::start_on(
        sink_addr,
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
            "[delivery]\nport = {sink_port}\n{}\nhelo_name = \"envoi.test\"\nretry_schedule = [\"30s\"]\n\
             [limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\nper_destination_connections = 0\n\
             {KEEP_ALL}",
            dns.config_line()
        ),
        ..Options::default()
    });
    expect_json(
        e.post("/v4/domains", ADMIN_KEY)
            .form(&[("name", "shop.test"), ("dkim_key_size", "2048")])
            .send()
            .unwrap(),
        200,
    );
    let db = std::path::PathBuf::from(
        e.store_url
            .strip_prefix("sqlite://")
            .expect("a SQLite store")
            .split('?')
            .next()
            .unwrap(),
    );
    let mut e = Arc::new(e);
    let body = "Thank you for your order. ".repeat(158);
    let rt = tokio::runtime::Runtime::new().unwrap();
    sqlx::any::install_default_drivers();
    let pool = rt.block_on(sqlx::AnyPool::connect(&e.store_url)).unwrap();
    println!(
        "envoi retention bench: {} messages of {} bytes per round, {} HTTP clients, RSA-2048 DKIM, SQLite",
        a.n,
        body.len(),
        a.clients
    );
    let mut rounds = vec![round(&e, &sink, 0, &a, &body, "empty store")];
    let empty = rt.block_on(size(&pool, &db));
    let first_round = rt.block_on(sample(&pool));
    println!("store after the first round: {empty}");

    // 100,000 queued recipients, due tomorrow.
    let t = Instant::now();
    let tomorrow = (std::time::SystemTime::now() + Duration::from_secs(86_400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut form = message_form(&body);
    form.push(("o:deliverytime", &tomorrow));
    send(&e, 10_000_000, a.queued, 16, &form);
    println!("queued {} for tomorrow in {:.1?}", a.queued, t.elapsed());
    let t = Instant::now();
    rt.block_on(fill_history(&pool, a.fill, &first_round));
    let full = rt.block_on(size(&pool, &db));
    println!(
        "history of {} messages copied in {:.1?}: {full}",
        a.fill,
        t.elapsed()
    );

    rounds.push(round(&e, &sink, a.n, &a, &body, "full store"));

    // Restarted on the default retention, envoi's pass (5 s after start,
    // then each minute) prunes events older than 30 days (about half the
    // history) and stored messages older than 3 days: wait until it is done.
    {
        let e = Arc::get_mut(&mut e).expect("no sender left");
        let config = std::fs::read_to_string(&e.config_path).unwrap();
        std::fs::write(&e.config_path, config.replace(KEEP_ALL, "")).unwrap();
        e.terminate();
        e.restart();
    }
    let t = Instant::now();
    let events_left = |s: &Size| s.events;
    let mut last = rt.block_on(size(&pool, &db));
    let mut still = 0;
    while t.elapsed() < Duration::from_secs(1800) {
        std::thread::sleep(Duration::from_secs(5));
        let now = rt.block_on(size(&pool, &db));
        if (events_left(&now), now.messages, now.used)
            == (events_left(&last), last.messages, last.used)
            && now.events < full.events
        {
            still += 1;
            if still == 3 {
                break;
            }
        } else {
            still = 0;
        }
        last = now;
    }
    let pruned = rt.block_on(size(&pool, &db));
    println!("pruned by envoi within {:.0?}: {pruned}", t.elapsed());
    rounds.push(round(&e, &sink, 2 * a.n, &a, &body, "after pruning"));
    let after = rt.block_on(size(&pool, &db));
    println!("store after the last round: {after}");
    let rss = proc_field(e.pid(), "status", "VmHWM:").unwrap_or(0) as f64 / 1024.0;

    println!();
    println!("| store | msg/s | envoi CPU ms/msg | vs empty | accept p50 / p99 |");
    println!("|---|---:|---:|---:|---:|");
    for r in &rounds {
        println!(
            "| {} | {:.0} | {:.3} | {:+.0} % | {:.1} / {:.1} ms |",
            r.what,
            r.msg_s,
            r.cpu_ms,
            (r.cpu_ms / rounds[0].cpu_ms - 1.0) * 100.0,
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0
        );
    }
    println!();
    println!("| store | size |");
    println!("|---|---|");
    println!("| after the first round | {empty} |");
    println!("| with the history and the queue | {full} |");
    println!("| after envoi's retention pass | {pruned} |");
    println!("| after one more round | {after} |");
    println!("envoi peak RSS: {rss:.1} MiB");
}
