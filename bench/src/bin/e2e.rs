//! End to end: HTTP accept → queue → DKIM → delivery to a local SMTP sink.
//! Prints accepted msg/s, delivered msg/s, accept latency p50/p99, CPU per
//! message and envoi's peak RSS, all from one run.
//!
//! cargo run --release -p envoi-bench --bin e2e [-- MESSAGES CLIENTS [--size BYTES] [--rate MSG_PER_S] [--queue] [--deliver-after SECS]]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoi_bench::{cpu_seconds, pct, proc_field};
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::*;

/// What to run, from the command line:
/// `e2e MESSAGES CLIENTS [--size BYTES] [--rate MSG_PER_S] [--queue]`.
struct Args {
    n: usize,
    clients: usize,
    /// Bytes of text per message (about 4 KB by default, as smtp-source -l 4096).
    size: usize,
    /// Paced load at this many messages per second in all (open loop per
    /// client), for latency below saturation; `None`: as fast as possible.
    rate: Option<f64>,
    /// The sink is down while everything is accepted (the queue grows),
    /// then comes up and the queue drains.
    queue: bool,
    /// Every message is scheduled (`o:deliverytime`) this many seconds after
    /// the start: the whole queue is due at once, and drains at full speed.
    deliver_after: Option<u64>,
}

fn args() -> Args {
    let mut a = Args {
        n: 2000,
        clients: 8,
        size: 158 * 26,
        rate: None,
        queue: false,
        deliver_after: None,
    };
    let mut positional = 0;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--size" => {
                a.size = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--size BYTES")
            }
            "--rate" => a.rate = it.next().and_then(|v| v.parse().ok()),
            "--queue" => a.queue = true,
            "--deliver-after" => a.deliver_after = it.next().and_then(|v| v.parse().ok()),
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

fn main() {
    let a = args();
    let (n, clients) = (a.n, a.clients);
    // The sink's port; in --queue mode nothing listens there at first.
    let sink_port = free_port();
    let sink_addr: std::net::SocketAddr = format!("127.0.0.1:{sink_port}").parse().unwrap();
    let script = || Script {
        forget_data: true,
        ..Script::default()
    };
    let mut sink = (!a.queue).then(|| Sink::start_on(sink_addr, script()));
    let dns = TestDns::start();
    dns.mx("dest.test", 10, "mx.dest.test");
    dns.a("mx.dest.test", std::net::Ipv4Addr::LOCALHOST);
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\nport = {sink_port}\n{}\nhelo_name = \"envoi.test\"\nretry_schedule = [\"30s\"]\n\
             [limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\nper_destination_connections = 0\n",
            dns.config_line()
        ),
        ..Options::default()
    });
    let r = e
        .post("/v4/domains", ADMIN_KEY)
        .form(&[("name", "shop.test"), ("dkim_key_size", "2048")])
        .send()
        .unwrap();
    expect_json(r, 200);
    let pid = e.pid();
    let me = std::process::id();
    let rss0_kb = proc_field(pid, "status", "VmRSS:").unwrap_or(0);
    let cpu0 = cpu_seconds(pid);
    let own0 = cpu_seconds(me);
    let e = Arc::new(e);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let body = Arc::new(
        "Thank you for your order. "
            .repeat(a.size / 26 + 1)
            .chars()
            .take(a.size)
            .collect::<String>(),
    );
    let start = Instant::now();
    // o:deliverytime has whole seconds: the drain is timed from that second,
    // not from `start + secs`, which can come after it.
    let due_epoch = a.deliver_after.map(|secs| {
        (std::time::SystemTime::now() + Duration::from_secs(secs))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    });
    let deliver_at = due_epoch.map(|s| s.to_string());
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let e = e.clone();
            let lat = latencies.clone();
            let body = body.clone();
            let rate = a.rate;
            let deliver_at = deliver_at.clone();
            std::thread::spawn(move || {
                for i in (c..n).step_by(clients) {
                    if let Some(rate) = rate {
                        // Message i is due at i / rate seconds from the start.
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let to = format!("r{i}@dest.test");
                    let mut form = vec![
                        ("from", "Shop <no-reply@shop.test>"),
                        ("to", to.as_str()),
                        ("subject", "Your receipt"),
                        ("text", body.as_str()),
                    ];
                    if let Some(at) = &deliver_at {
                        form.push(("o:deliverytime", at.as_str()));
                    }
                    let t = Instant::now();
                    let r = e
                        .post("/v3/shop.test/messages", ADMIN_KEY)
                        .form(&form)
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
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    println!(
        "envoi end to end: {n} messages of {} bytes, {clients} HTTP clients{}, RSA-2048 DKIM, plain SMTP sink on loopback",
        a.size,
        a.rate.map(|r| format!(" paced at {r} msg/s")).unwrap_or_default()
    );
    println!(
        "accepted:  {:>8.0} msg/s  ({accept_time:.2?})",
        n as f64 / accept_time.as_secs_f64()
    );
    println!(
        "accept latency: p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );

    // --queue: everything is queued now, the sink down. Memory per queued
    // message, then the sink comes up and the queue drains.
    let (mut cpu_from, mut own_from, mut from) = (cpu0, own0, start);
    // envoi's RSS now, and what it grew by per queued message.
    let queued_memory = |how: &str| {
        let rss_kb = proc_field(pid, "status", "VmRSS:").unwrap_or(0);
        let (rss, idle) = (rss_kb as f64 / 1024.0, rss0_kb as f64 / 1024.0);
        let per = (rss_kb.saturating_sub(rss0_kb) * 1024) as f64 / n as f64;
        println!(
            "queued: {n} {how}; envoi RSS {rss:.1} MiB (was {idle:.1} MiB idle): {per:.0} bytes per queued message"
        );
        (rss, idle, per)
    };
    if let Some(due) = due_epoch {
        queued_memory("scheduled");
        let due = std::time::UNIX_EPOCH + Duration::from_secs(due);
        let wait = due
            .duration_since(std::time::SystemTime::now())
            .expect("accepting took longer than --deliver-after");
        std::thread::sleep(wait);
        (cpu_from, own_from, from) = (cpu_seconds(pid), cpu_seconds(me), Instant::now());
    }
    if a.queue {
        // Let the first (failed) attempts settle.
        std::thread::sleep(Duration::from_secs(2));
        let (rss, idle, per) = queued_memory("while the sink is down");
        println!(
            "RESULT_QUEUE queued={n} rss_mib={rss:.1} idle_rss_mib={idle:.1} bytes_per_queued={per:.0}"
        );
        sink = Some(Sink::start_on(sink_addr, script()));
        // The drain is timed from the first delivery: until then the
        // recipients wait out their retry time (30 s here).
        let s = sink.as_ref().unwrap();
        while s.count() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        (cpu_from, own_from, from) = (cpu_seconds(pid), cpu_seconds(me), Instant::now());
    }
    let sink = sink.unwrap();
    let already = if a.queue { sink.count() } else { 0 };
    sink.wait_for(n, Duration::from_secs(3600));
    let deliver_time = from.elapsed();
    let delivered = n - already;
    let cpu = cpu_seconds(pid) - cpu_from;
    // The load generator and the sink (this process) count too.
    let own = cpu_seconds(me) - own_from;
    let rss_kb = proc_field(pid, "status", "VmHWM:").unwrap_or(0);
    let what = if a.queue || a.deliver_after.is_some() {
        "drained"
    } else {
        "delivered"
    };
    println!(
        "{what}: {:>8.0} msg/s  ({delivered} in {deliver_time:.2?})",
        delivered as f64 / deliver_time.as_secs_f64()
    );
    println!(
        "envoi CPU: {:.3} ms per message ({cpu:.2} s total)",
        cpu * 1000.0 / delivered as f64
    );
    println!("envoi peak RSS: {:.1} MiB", rss_kb as f64 / 1024.0);
    println!(
        "all processes CPU: {:.3} ms per message (envoi + load generator + sink)",
        (cpu + own) * 1000.0 / delivered as f64
    );
    // Where the accepts' time went, from envoi's own histograms: how many
    // took longer than 10 and 25 ms from the checks to the durable commit,
    // and how many commits did (the client's latency adds HTTP and waiting
    // for a worker).
    if let Ok(r) = e.get("/metrics", ADMIN_KEY).send() {
        let text = r.text().unwrap_or_default();
        let bucket = |name: &str, le: &str| -> f64 {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!("{name}_bucket")) && l.contains(&format!("le=\"{le}\""))
                })
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(f64::NAN)
        };
        for name in ["envoi_accept_seconds", "envoi_store_commit_seconds"] {
            let all = bucket(name, "+Inf");
            println!(
                "{name}: {all} in all, {} over 10 ms, {} over 25 ms",
                all - bucket(name, "0.01"),
                all - bucket(name, "0.025")
            );
        }
    }
    // One line for bench/run.sh.
    println!(
        "RESULT msg_s={:.1} cpu_ms={:.3} envoi_cpu_ms={:.3} p50_ms={:.2} p99_ms={:.2} rss_mib={:.1}",
        delivered as f64 / deliver_time.as_secs_f64(),
        (cpu + own) * 1000.0 / delivered as f64,
        cpu * 1000.0 / delivered as f64,
        pct(&lat, 0.5).as_secs_f64() * 1000.0,
        pct(&lat, 0.99).as_secs_f64() * 1000.0,
        rss_kb as f64 / 1024.0
    );
}
