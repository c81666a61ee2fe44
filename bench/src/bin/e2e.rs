//! End to end: HTTP accept → queue → DKIM → delivery to a local SMTP sink.
//! Prints accepted msg/s, delivered msg/s, accept latency p50/p99, CPU per
//! message and envoi's peak RSS, all from one run.
//!
//! cargo run --release -p envoi-bench --bin e2e [-- MESSAGES CLIENTS]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoi_tests::sink::Script;
use envoi_tests::world::Delivering;
use envoi_tests::*;

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let clients: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);

    let Delivering { e, sink, dns: _dns } = Delivering::start(
        Script::default(),
        "",
        Options {
            extra_config: "[limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\nper_destination_connections = 0\n".into(),
            ..Options::default()
        },
    );
    let r = e
        .post("/v4/domains", ADMIN_KEY)
        .form(&[("name", "shop.test"), ("dkim_key_size", "2048")])
        .send()
        .unwrap();
    expect_json(r, 200);
    let pid = e.pid();
    let me = std::process::id();
    let cpu0 = cpu_seconds(pid);
    let own0 = cpu_seconds(me);
    let e = Arc::new(e);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    // About 4 KB, as smtp-source -l 4096 in the SMTP runs.
    let body = "Thank you for your order. ".repeat(158);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let e = e.clone();
            let lat = latencies.clone();
            let body = body.clone();
            std::thread::spawn(move || {
                for i in (c..n).step_by(clients) {
                    let to = format!("r{i}@dest.test");
                    let t = Instant::now();
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
                    lat.lock().unwrap().push(t.elapsed());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let accept_time = start.elapsed();
    sink.wait_for(n, Duration::from_secs(600));
    let deliver_time = start.elapsed();
    let cpu = cpu_seconds(pid) - cpu0;
    // The load generator and the sink (this process) count too.
    let own = cpu_seconds(me) - own0;
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let rss_kb = proc_field(pid, "status", "VmHWM:").unwrap_or(0);
    println!("envoi end to end: {n} messages, {clients} HTTP clients, RSA-2048 DKIM, plain SMTP sink on loopback");
    println!(
        "accepted:  {:>8.0} msg/s  ({accept_time:.2?})",
        n as f64 / accept_time.as_secs_f64()
    );
    println!(
        "delivered: {:>8.0} msg/s  (all {n} at the sink after {deliver_time:.2?})",
        n as f64 / deliver_time.as_secs_f64()
    );
    println!(
        "accept latency: p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );
    println!(
        "envoi CPU: {:.3} ms per message ({cpu:.2} s total)",
        cpu * 1000.0 / n as f64
    );
    println!("envoi peak RSS: {:.1} MiB", rss_kb as f64 / 1024.0);
    println!(
        "all processes CPU: {:.3} ms per message (envoi + load generator + sink)",
        (cpu + own) * 1000.0 / n as f64
    );
    // One line for bench/run.sh.
    println!(
        "RESULT msg_s={:.1} cpu_ms={:.3} envoi_cpu_ms={:.3} p50_ms={:.2} p99_ms={:.2} rss_mib={:.1}",
        n as f64 / deliver_time.as_secs_f64(),
        (cpu + own) * 1000.0 / n as f64,
        cpu * 1000.0 / n as f64,
        pct(&lat, 0.5).as_secs_f64() * 1000.0,
        pct(&lat, 0.99).as_secs_f64() * 1000.0,
        rss_kb as f64 / 1024.0
    );
}
