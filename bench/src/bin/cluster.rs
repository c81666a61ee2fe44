//! A cluster on one PostgreSQL: the same load through 1, 2 and 3 nodes, and
//! the recovery after `kill -9` of a node holding a backlog.
//!
//! cargo run --release -p envoi-bench --bin cluster [-- MESSAGES CLIENTS [--rounds R] [--nodes 1,2,3] [--no-recovery]]
//!
//! Needs `ENVOI_TEST_POSTGRES_URL` (a user that may create databases); each
//! run gets a fresh database. Throughput: CLIENTS HTTP clients spread over
//! the nodes send MESSAGES messages (4 KB, RSA-2048 DKIM) to a sink; msg/s is
//! from the first send to the last delivery. CPU per message: all envoi
//! nodes together, and PostgreSQL (every `postgres` process of the server).
//! Recovery (2+ nodes, default `[cluster]` settings): a backlog for a slow
//! MX, one node killed while it holds part of it; how long until its leases
//! are taken over, and until the backlog is delivered.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use envoi_bench::cpu_seconds;
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::*;

/// CPU seconds of every `postgres` process now, by pid.
fn postgres_cpu() -> HashMap<u32, f64> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            out.insert(pid, cpu_seconds(pid));
        }
    }
    out
}

/// PostgreSQL CPU spent between two readings (processes started meanwhile
/// count from zero; ones that ended are missed).
fn postgres_spent(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(pid, t)| t - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

struct Args {
    n: usize,
    clients: usize,
    rounds: usize,
    nodes: Vec<usize>,
    recovery: bool,
}

fn args() -> Args {
    let mut a = Args {
        n: 3000,
        clients: 12,
        rounds: 1,
        nodes: vec![1, 2, 3],
        recovery: true,
    };
    let mut positional = 0;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds R"),
            "--nodes" => {
                a.nodes = it
                    .next()
                    .expect("--nodes 1,2,3")
                    .split(',')
                    .map(|n| n.parse().expect("--nodes 1,2,3"))
                    .collect()
            }
            "--no-recovery" => a.recovery = false,
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

/// A cluster of `nodes` on a fresh database, a fast sink for `dest.test`
/// and a slow one (50 ms per message) for `slow.test`.
struct World {
    sink: Sink,
    slow: Sink,
    _dns: TestDns,
    url: String,
    nodes: Vec<Envoi>,
}

fn world(nodes: usize, cluster: &str) -> World {
    let url = fresh_postgres().expect("set ENVOI_TEST_POSTGRES_URL");
    let port = free_port();
    let sink = Sink::start_on(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Script {
            forget_data: true,
            ..Script::default()
        },
    );
    let slow = Sink::start_on(
        format!("127.0.0.2:{port}").parse().unwrap(),
        Script {
            forget_data: true,
            data_delay: Duration::from_millis(50),
            ..Script::default()
        },
    );
    let dns = TestDns::start();
    dns.mx("dest.test", 10, "mx.dest.test");
    dns.a("mx.dest.test", Ipv4Addr::LOCALHOST);
    dns.mx("slow.test", 10, "mx.slow.test");
    dns.a("mx.slow.test", Ipv4Addr::new(127, 0, 0, 2));
    let config = format!(
        "[delivery]\nport = {port}\n{}\nhelo_name = \"envoi.test\"\nretry_schedule = [\"30s\"]\n\
         [limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\n{cluster}",
        dns.config_line()
    );
    let nodes = (0..nodes)
        .map(|_| {
            Envoi::start_with(Options {
                store_url: Some(url.clone()),
                extra_config: config.clone(),
                ..Options::default()
            })
        })
        .collect::<Vec<_>>();
    let r = nodes[0]
        .post("/v4/domains", ADMIN_KEY)
        .form(&[("name", "shop.test"), ("dkim_key_size", "2048")])
        .send()
        .unwrap();
    expect_json(r, 200);
    World {
        sink,
        slow,
        _dns: dns,
        url,
        nodes,
    }
}

/// Sends `n` messages to `domain` with `clients` clients over the nodes.
fn load(nodes: &[Envoi], n: usize, clients: usize, domain: &str) {
    let body = Arc::new("Thank you for your order. ".repeat(158));
    std::thread::scope(|s| {
        for c in 0..clients {
            let e = &nodes[c % nodes.len()];
            let body = body.clone();
            s.spawn(move || {
                for i in (c..n).step_by(clients) {
                    let to = format!("r{i}@{domain}");
                    let r = e
                        .post("/v3/shop.test/messages", ADMIN_KEY)
                        .form(&[
                            ("from", "Shop <no-reply@shop.test>"),
                            ("to", to.as_str()),
                            ("subject", "Your receipt"),
                            ("text", body.as_str()),
                        ])
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            });
        }
    });
}

struct Figures {
    msg_s: f64,
    envoi_ms: f64,
    postgres_ms: f64,
}

fn throughput(nodes: usize, n: usize, clients: usize) -> Figures {
    let w = world(nodes, "");
    let pids: Vec<u32> = w.nodes.iter().map(Envoi::pid).collect();
    let envoi0: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let pg0 = postgres_cpu();
    let start = Instant::now();
    load(&w.nodes, n, clients, "dest.test");
    w.sink.wait_for(n, Duration::from_secs(3600));
    let elapsed = start.elapsed();
    let envoi = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - envoi0;
    let pg = postgres_spent(&pg0, &postgres_cpu());
    let _ = &w.url;
    Figures {
        msg_s: n as f64 / elapsed.as_secs_f64(),
        envoi_ms: envoi * 1000.0 / n as f64,
        postgres_ms: pg * 1000.0 / n as f64,
    }
}

/// Kill -9 of a node holding a backlog, default `[cluster]` settings: how
/// long until its leases are taken, and until the backlog is delivered.
fn recovery(nodes: usize) -> (Duration, Duration) {
    let mut w = world(nodes, "");
    let n = 3000;
    load(&w.nodes, n, 6, "slow.test");
    let victim: i64 = expect_json(
        w.nodes[0].get("/v1/cluster", ADMIN_KEY).send().unwrap(),
        200,
    )["this_node"]
        .as_i64()
        .unwrap();
    let held = format!(
        "SELECT COUNT(*) FROM recipients WHERE status = 'queued' AND lease_node = {victim}"
    );
    let count = |sql: &str| psql(&w.url, sql).parse::<i64>().unwrap();
    while count(&held) == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    w.nodes[0].kill9();
    let killed = Instant::now();
    let at_kill = count(&held);
    while count(&held) > 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let taken = killed.elapsed();
    while count("SELECT COUNT(*) FROM recipients WHERE status = 'queued'") > 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let drained = killed.elapsed();
    println!(
        "recovery ({nodes} nodes): the killed node held {at_kill}; taken over after {taken:.1?}, backlog delivered {drained:.1?} after the kill ({} copies for {n} messages)",
        w.slow.count()
    );
    (taken, drained)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let a = args();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "cluster on one PostgreSQL: {} messages, {} HTTP clients over the nodes, {} round(s); CPU: {cpu}",
        a.n, a.clients, a.rounds
    );
    let mut results: HashMap<usize, Vec<Figures>> = HashMap::new();
    // Rounds interleave the node counts: the machine's noise falls on all.
    for round in 1..=a.rounds {
        for &nodes in &a.nodes {
            let f = throughput(nodes, a.n, a.clients);
            println!(
                "round {round}, {nodes} node(s): {:.0} msg/s, envoi {:.3} ms CPU/msg, PostgreSQL {:.3} ms CPU/msg",
                f.msg_s, f.envoi_ms, f.postgres_ms
            );
            results.entry(nodes).or_default().push(f);
        }
    }
    println!("\n| nodes | msg/s | envoi CPU ms/msg | PostgreSQL CPU ms/msg |");
    println!("|---|---|---|---|");
    for &nodes in &a.nodes {
        let r = &results[&nodes];
        println!(
            "| {nodes} | {:.0} | {:.3} | {:.3} |",
            median(r.iter().map(|f| f.msg_s).collect()),
            median(r.iter().map(|f| f.envoi_ms).collect()),
            median(r.iter().map(|f| f.postgres_ms).collect()),
        );
    }
    if a.recovery {
        let nodes = a.nodes.iter().copied().max().unwrap_or(1).max(2);
        let (taken, drained) = recovery(nodes);
        println!(
            "RESULT_RECOVERY nodes={nodes} taken_s={:.1} drained_s={:.1}",
            taken.as_secs_f64(),
            drained.as_secs_f64()
        );
    }
}
