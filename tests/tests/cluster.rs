//! Several nodes on one PostgreSQL store, as an operator runs them: a
//! shared backlog, a node killed (kill -9) or frozen (SIGSTOP) in the middle
//! of it, a rolling restart under load, limits that hold for the cluster,
//! singleton jobs run once, and nodes that disagree on their keys. Needs
//! `ENVOI_TEST_POSTGRES_URL` (`.ci/run` starts a server and sets it).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::webhook_receiver::WebhookReceiver;
use envoi_tests::*;
use serde_json::Value;

const DOMAIN: &str = "cluster.test";
/// Nodes declare each other dead after this (the tests' `lease_timeout`).
const LEASE_TIMEOUT: Duration = Duration::from_secs(5);
/// Unlimited sending, so that only what a test sets limits it.
const UNLIMITED: &str =
    "[limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 0\n";

/// Nodes on one fresh database, delivering to one sink for `dest.test`.
struct Cluster {
    sink: Sink,
    dns: TestDns,
    url: String,
    nodes: Vec<Envoi>,
}

impl Cluster {
    fn start(n: usize, script: Script, extra: &str) -> Option<Cluster> {
        let url = fresh_postgres()?;
        let sink = Sink::start(script);
        let dns = TestDns::start();
        dns.mx("dest.test", 10, "mx.dest.test");
        dns.a("mx.dest.test", Ipv4Addr::LOCALHOST);
        let mut c = Cluster {
            sink,
            dns,
            url,
            nodes: Vec::new(),
        };
        for _ in 0..n {
            let e = c.node(extra, Options::default());
            c.nodes.push(e);
        }
        Some(c)
    }

    /// A node on the cluster's store (not added to `nodes`).
    fn node(&self, extra: &str, opts: Options) -> Envoi {
        Envoi::start_with(Options {
            store_url: Some(self.url.clone()),
            // SMTP submission without a certificate, on loopback.
            smtp_extra: "allow_plain_auth_without_tls = true\n".into(),
            extra_config: format!(
                "[delivery]\nport = {}\n{}\nhelo_name = \"envoi.test\"\n[cluster]\nlease_timeout = \"{}s\"\n{extra}\n{}",
                self.sink.addr.port(),
                self.dns.config_line(),
                LEASE_TIMEOUT.as_secs(),
                opts.extra_config,
            ),
            ..opts
        })
    }

    fn count(&self, sql: &str) -> i64 {
        psql(&self.url, sql).parse().unwrap()
    }

    /// `GET /v1/cluster` through node `via`.
    fn view(&self, via: usize) -> Value {
        let r = self.nodes[via]
            .get("/v1/cluster", ADMIN_KEY)
            .send()
            .unwrap();
        expect_json(r, 200)
    }

    /// Waits until every recipient is delivered; how many there are.
    fn wait_all_delivered(&self, within: Duration) -> i64 {
        let deadline = Instant::now() + within;
        loop {
            let left = self.count("SELECT COUNT(*) FROM recipients WHERE status <> 'delivered'");
            if left == 0 {
                return self.count("SELECT COUNT(*) FROM recipients");
            }
            assert!(
                Instant::now() < deadline,
                "{left} recipients not delivered; node logs:\n{}",
                self.nodes
                    .iter()
                    .map(Envoi::log_tail)
                    .collect::<Vec<_>>()
                    .join("\n----\n")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Node `id`'s entry in a `/v1/cluster` view.
fn node_in(view: &Value, id: i64) -> Value {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("node {id} not in {view}"))
}

/// Sends `n` messages through `e` over SMTP, one session.
fn send_smtp(e: &Envoi, login: &str, prefix: &str, n: usize) {
    let (mut c, _) = smtp_client::RawSmtp::connect(e.smtp_port);
    let reply = c.login(&format!("{login}@{DOMAIN}"), "pass-word-1");
    assert!(reply.starts_with("235"), "{reply}");
    for j in 0..n {
        let to = format!("{prefix}-{j}@dest.test");
        let msg = format!("From: a@{DOMAIN}\r\nTo: {to}\r\nSubject: smtp {j}\r\n\r\nover SMTP\r\n");
        let reply = c.submit(&format!("a@{DOMAIN}"), &to, msg.as_bytes());
        assert!(reply.starts_with("250"), "{reply}");
    }
}

#[test]
fn three_nodes_deliver_a_shared_backlog_and_a_killed_nodes_leases_are_taken_over() {
    // A slow MX: 9 connections (3 per node) at 40 ms a message make a backlog.
    let script = Script {
        data_delay: Duration::from_millis(40),
        ..Script::default()
    };
    let Some(mut c) = Cluster::start(3, script, UNLIMITED) else {
        return;
    };
    c.nodes[0].create_domain(DOMAIN);
    for (i, e) in c.nodes.iter().enumerate() {
        e.create_credential(DOMAIN, &format!("app{i}"), "pass-word-1");
    }
    // 3,000 messages: 900 over HTTP and 100 over SMTP through each node.
    std::thread::scope(|s| {
        for (i, e) in c.nodes.iter().enumerate() {
            s.spawn(move || {
                for j in 0..900 {
                    e.send(DOMAIN, &format!("h{i}-{j}@dest.test"), &[]);
                }
            });
            s.spawn(move || send_smtp(e, &format!("app{i}"), &format!("s{i}"), 100));
        }
    });
    assert_eq!(c.count("SELECT COUNT(*) FROM recipients"), 3000);
    // Kill node 0 while it holds part of the backlog.
    let victim = c.view(0)["this_node"].as_i64().unwrap();
    let holding = format!(
        "SELECT COUNT(*) FROM recipients WHERE status = 'queued' AND lease_node = {victim}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.count(&holding) == 0 {
        assert!(Instant::now() < deadline, "node 0 never held any work");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.nodes[0].kill9();
    let killed_at = Instant::now();
    let held_at_kill = c.count(&holding);
    let left_at_kill = c.count("SELECT COUNT(*) FROM recipients WHERE status = 'queued'");
    assert!(held_at_kill > 0);
    // A node leases for a destination what its connections can start soon
    // (its 3 of the 10 connections, 50 messages each), not the backlog.
    assert!(
        held_at_kill <= 3 * 50,
        "node 0 held {held_at_kill} of a backlog of {left_at_kill}"
    );
    // Its leases go to the others within lease_timeout + 10 s.
    loop {
        let view = c.view(1);
        let dead = node_in(&view, victim);
        if dead["leased"] == 0 {
            assert_ne!(dead["state"], "alive", "{dead}");
            break;
        }
        assert!(
            killed_at.elapsed() < LEASE_TIMEOUT + Duration::from_secs(10),
            "the killed node's leases were not taken over: {dead}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let takeover = killed_at.elapsed();
    assert_eq!(c.wait_all_delivered(Duration::from_secs(180)), 3000);
    // Every message arrived; a second copy only of what the killed node
    // had in flight; one `delivered` event per message.
    let received = c.sink.received();
    let mut copies: HashMap<String, usize> = HashMap::new();
    for r in &received {
        *copies.entry(r.rcpt_to.join(",")).or_default() += 1;
    }
    assert_eq!(copies.len(), 3000);
    let duplicates = received.len() - 3000;
    assert!(
        duplicates as i64 <= held_at_kill,
        "{duplicates} duplicates, but the killed node held only {held_at_kill}"
    );
    assert_eq!(
        c.count("SELECT COUNT(*) FROM events WHERE event = 'delivered'"),
        3000
    );
    eprintln!(
        "killed with {left_at_kill} queued, {held_at_kill} held by the victim; taken over in {takeover:?}; {duplicates} duplicates"
    );
}

#[test]
fn a_frozen_node_whose_lease_was_taken_over_records_no_second_delivery() {
    // The MX takes 2 s to answer the end of DATA: time to freeze the node
    // in the middle of its transaction.
    let script = Script {
        data_delay: Duration::from_secs(2),
        ..Script::default()
    };
    let Some(mut c) = Cluster::start(1, script, UNLIMITED) else {
        return;
    };
    c.nodes[0].create_domain(DOMAIN);
    c.nodes[0].send(DOMAIN, "frozen@dest.test", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.sink.data_ended() == 0 {
        assert!(
            Instant::now() < deadline,
            "the message never reached the MX"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let frozen = c.nodes[0].pid().to_string();
    std::process::Command::new("kill")
        .args(["-STOP", &frozen])
        .status()
        .unwrap();
    // A peer takes the lease once the frozen node is silent, and delivers.
    let peer = c.node(UNLIMITED, Options::default());
    c.nodes.push(peer);
    c.sink.wait_for(2, LEASE_TIMEOUT + Duration::from_secs(20));
    c.wait_all_delivered(Duration::from_secs(20));
    // The frozen node resumes, gets its 250, and must not record it.
    std::process::Command::new("kill")
        .args(["-CONT", &frozen])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.nodes[0].stderr().contains("this node lost their leases") {
        assert!(
            Instant::now() < deadline,
            "the resumed node did not drop its outcome:\n{}",
            c.nodes[0].log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        c.count("SELECT COUNT(*) FROM events WHERE event = 'delivered'"),
        1,
        "one delivered event"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        c.sink.count(),
        2,
        "the copy in flight at the freeze and the peer's, no third"
    );
}

#[test]
fn a_rolling_restart_under_load_loses_nothing_and_hands_leases_back_at_once() {
    let script = Script {
        data_delay: Duration::from_millis(20),
        ..Script::default()
    };
    let Some(mut c) = Cluster::start(3, script, UNLIMITED) else {
        return;
    };
    c.nodes[0].create_domain(DOMAIN);
    let ports: Vec<u16> = c.nodes.iter().map(|e| e.port).collect();
    let down = Arc::new(AtomicUsize::new(usize::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let sender = {
        let (down, stop, accepted) = (down.clone(), stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let i = n % ports.len();
                n += 1;
                if down.load(Ordering::SeqCst) == i {
                    continue;
                }
                let to = format!("roll-{n}@dest.test");
                let r = client
                    .post(format!(
                        "http://127.0.0.1:{}/v3/{DOMAIN}/messages",
                        ports[i]
                    ))
                    .basic_auth("api", Some(ADMIN_KEY))
                    .form(&[
                        ("from", format!("a@{DOMAIN}").as_str()),
                        ("to", &to),
                        ("subject", "rolling"),
                        ("text", "hello"),
                    ])
                    .send();
                // A node on its way down may refuse: that send is not
                // accepted, and the client tries the next node.
                if let Ok(r) = r {
                    if r.status() == 200 {
                        accepted.lock().unwrap().push(to);
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    for i in 0..3 {
        let before = c.view(i)["this_node"].as_i64().unwrap();
        down.store(i, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        let status = c.nodes[i].terminate();
        assert!(status.success(), "{status}");
        // What it held is back in the queue at once, not after a timeout.
        let other = (i + 1) % 3;
        let gone = node_in(&c.view(other), before);
        assert_eq!(gone["state"], "stopped", "{gone}");
        assert_eq!(gone["leased"], 0, "{gone}");
        c.nodes[i].restart();
        down.store(usize::MAX, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(2));
    }
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() > 100, "only {} accepted", accepted.len());
    assert_eq!(
        c.wait_all_delivered(Duration::from_secs(120)),
        accepted.len() as i64
    );
    let arrived: std::collections::HashSet<String> = c
        .sink
        .received()
        .iter()
        .map(|r| r.rcpt_to.join(","))
        .collect();
    for to in &accepted {
        assert!(arrived.contains(to), "{to} was accepted but never arrived");
    }
}

#[test]
fn a_key_limit_holds_for_the_cluster_as_a_whole() {
    let limited = "[limits]\nrequests_per_second_per_key = 10\n";
    let Some(c) = Cluster::start(2, Script::default(), limited) else {
        return;
    };
    c.nodes[0].create_domain(DOMAIN);
    let key = ADMIN_KEY.to_string();
    // Let the key's allowance come back in full after the setup's requests.
    std::thread::sleep(Duration::from_millis(1200));
    let started = Instant::now();
    let ok = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (e, key, ok) = (&c.nodes[t % 2], &key, &ok);
            s.spawn(move || {
                for _ in 0..5 {
                    let r = e
                        .get(&format!("/v3/{DOMAIN}/events?limit=1"), key)
                        .send()
                        .unwrap();
                    match r.status().as_u16() {
                        200 => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        429 => {}
                        other => panic!("unexpected {other}"),
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let ok = ok.into_inner();
    // 10 at once, then one more per 100 ms that passed.
    let bound = 10 + (elapsed.as_millis() / 100) as usize + 1;
    assert!(
        elapsed < Duration::from_secs(1),
        "the 40 requests took {elapsed:?}"
    );
    assert!(
        (8..=bound).contains(&ok),
        "{ok} of 40 requests in {elapsed:?} succeeded over two nodes; the key allows 10 per second"
    );
}

#[test]
fn a_destination_pace_holds_for_the_cluster_as_a_whole() {
    // 10 messages a second to dest.test, whichever node sends them.
    let paced =
        "[limits]\nrequests_per_second_per_key = 0\nper_destination_messages_per_second = 10\n";
    let Some(c) = Cluster::start(2, Script::default(), paced) else {
        return;
    };
    c.nodes[0].create_domain(DOMAIN);
    for i in 0..30 {
        c.nodes[i % 2].send(DOMAIN, &format!("p{i}@dest.test"), &[]);
    }
    let received = c.sink.wait_for(30, Duration::from_secs(30));
    let mut at: Vec<Instant> = received.iter().map(|r| r.at).collect();
    at.sort();
    let span = at[29] - at[0];
    // 29 gaps of 100 ms for the cluster; two nodes pacing apart would take
    // half of that.
    assert!(
        span >= Duration::from_millis(2500),
        "30 messages arrived within {span:?}: faster than 10 per second"
    );
}

#[test]
fn webhooks_are_called_once_per_event_by_one_node_and_taken_over_when_it_dies() {
    let Some(mut c) = Cluster::start(2, Script::default(), UNLIMITED) else {
        return;
    };
    let hooks = WebhookReceiver::start();
    c.nodes[0].create_domain(DOMAIN);
    let r = c.nodes[0]
        .post(&format!("/v3/domains/{DOMAIN}/webhooks"), ADMIN_KEY)
        .form(&[("id", "delivered"), ("url", &hooks.url("delivered"))])
        .send()
        .unwrap();
    expect_json(r, 200);
    for i in 0..20 {
        c.nodes[i % 2].send(DOMAIN, &format!("w{i}@dest.test"), &[]);
    }
    // Called within seconds: no fixed delay on PostgreSQL any more.
    let calls = hooks.wait_for("delivered", 20, Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hooks.calls_to("delivered").len(), 20, "each event once");
    assert_eq!(calls.len(), 20);
    // Kill the node making the calls: the other takes over within seconds.
    let runner = c.view(0)["singletons"]["webhooks"]["node"]
        .as_i64()
        .unwrap();
    let index = (0..2).find(|&i| c.view(i)["this_node"] == runner).unwrap();
    c.nodes[index].kill9();
    let survivor = 1 - index;
    for i in 20..30 {
        c.nodes[survivor].send(DOMAIN, &format!("w{i}@dest.test"), &[]);
    }
    hooks.wait_for("delivered", 30, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for call in hooks.calls_to("delivered") {
        let to = call.body["event-data"]["recipient"]
            .as_str()
            .unwrap()
            .to_string();
        *seen.entry(to).or_default() += 1;
    }
    assert_eq!(seen.len(), 30);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let view = c.view(survivor);
    assert_eq!(
        view["singletons"]["webhooks"]["node"], view["this_node"],
        "{view}"
    );
}

#[test]
fn a_node_with_another_admin_key_does_not_replace_the_running_one() {
    let Some(c) = Cluster::start(1, Script::default(), UNLIMITED) else {
        return;
    };
    let newcomer = c.node(
        UNLIMITED,
        Options {
            admin_key: Some("key-of-the-newcomer-0123456789abcdef".into()),
            ..Options::default()
        },
    );
    assert!(
        newcomer.stderr().contains("ENVOI_ADMIN_KEY differs"),
        "{}",
        newcomer.stderr()
    );
    for e in [&c.nodes[0], &newcomer] {
        let r = e.get("/v4/domains", ADMIN_KEY).send().unwrap();
        assert_eq!(r.status(), 200, "the running key still works");
    }
}

#[test]
fn an_allowlist_added_through_one_node_applies_on_another_within_2_s() {
    let Some(c) = Cluster::start(2, Script::default(), UNLIMITED) else {
        return;
    };
    c.nodes[0].create_domain(DOMAIN);
    let mail_from = |e: &Envoi| {
        let (mut s, _) = smtp_client::RawSmtp::connect(e.smtp_port);
        s.cmd("EHLO app.test");
        s.cmd(&format!("MAIL FROM:<a@{DOMAIN}>"))
    };
    // Node 1 reads (and caches) the allowlists: not listed, AUTH needed.
    let r = mail_from(&c.nodes[1]);
    assert!(r.starts_with("530"), "{r}");
    let r = c.nodes[0]
        .post(&format!("/v3/domains/{DOMAIN}/ip_allowlist"), ADMIN_KEY)
        .form(&[("address", "127.0.0.1")])
        .send()
        .unwrap();
    expect_json(r, 200);
    let added = Instant::now();
    loop {
        let r = mail_from(&c.nodes[1]);
        if r.starts_with("250") {
            break;
        }
        assert!(
            added.elapsed() < Duration::from_millis(2500),
            "node 1 still refuses after {:?}: {r}",
            added.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dkim_key_switched_through_one_node_signs_on_another_within_2_s() {
    let Some(c) = Cluster::start(1, Script::default(), UNLIMITED) else {
        return;
    };
    let selector_of = |m: &envoi_tests::sink::Received| {
        let sig = m.header("DKIM-Signature");
        sig.split(';')
            .map(str::trim)
            .find_map(|t| t.strip_prefix("s="))
            .unwrap_or_default()
            .to_string()
    };
    c.nodes[0].create_domain(DOMAIN);
    // Node 0 signs with k1, and keeps the key.
    c.nodes[0].send(DOMAIN, "first@dest.test", &[]);
    let first = c.sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(selector_of(&first[0]), "k1");
    // Another node switches the domain to k2, and leaves.
    let mut other = c.node(UNLIMITED, Options::default());
    let created = expect_json(
        other
            .post("/v1/dkim/keys", ADMIN_KEY)
            .form(&[
                ("signing_domain", DOMAIN),
                ("selector", "k2"),
                ("bits", "1024"),
            ])
            .send()
            .unwrap(),
        200,
    );
    c.dns.txt(
        created["dns_record"]["name"].as_str().unwrap(),
        created["dns_record"]["value"].as_str().unwrap(),
    );
    for (key, action) in [("k2", "activate"), ("k1", "deactivate")] {
        let r = other
            .put(
                &format!("/v4/domains/{DOMAIN}/keys/{key}/{action}"),
                ADMIN_KEY,
            )
            .send()
            .unwrap();
        expect_json(r, 200);
    }
    let switched = Instant::now();
    assert!(other.terminate().success());
    std::thread::sleep(Duration::from_millis(2100).saturating_sub(switched.elapsed()));
    c.nodes[0].send(DOMAIN, "second@dest.test", &[]);
    let second = c.sink.wait_for(2, Duration::from_secs(30));
    assert_eq!(
        selector_of(&second[1]),
        "k2",
        "node 0 signs with the new key"
    );
}
