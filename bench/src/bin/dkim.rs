//! DKIM signatures per second on one core: RSA-2048 through aws-lc-rs (the
//! path envoi uses), through ring and through the `rsa` crate, RSA-1024
//! (legacy, `rsa` crate), Ed25519 (aws-lc-rs); on a 4 KB and a 100 KB
//! message. Then `openssl speed` on the same machine as the ceiling.
//!
//! cargo run --release -p envoi-bench --bin dkim [-- SECONDS_PER_CASE]

use std::time::{Duration, Instant};

use signer::{sign, DkimKey, KeySpec, PrivateKey, SigningPath};

fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: Shop <shop@bench.test>\r\nTo: alice@example.org\r\nSubject: Your receipt\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@bench.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    let line = b"Thank you for your order. Your receipt is attached below.   \r\n";
    while m.len() < size {
        m.extend_from_slice(line);
    }
    m
}

fn rate(key: &DkimKey, msg: &[u8], budget: Duration) -> f64 {
    let opts = signer::sign::default_options(1_795_400_000);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        std::hint::black_box(sign(msg, std::slice::from_ref(key), opts).unwrap());
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(secs);
    let rsa2048 = PrivateKey::generate(KeySpec::Rsa { bits: 2048 }).unwrap();
    let rsa1024 = PrivateKey::generate(KeySpec::Rsa { bits: 1024 }).unwrap();
    let ed = PrivateKey::generate(KeySpec::Ed25519).unwrap();
    let cases = [
        (
            "rsa-2048 aws-lc-rs",
            DkimKey::with_path("bench.test", "s", &rsa2048, Some(SigningPath::AwsLc)).unwrap(),
        ),
        (
            "rsa-2048 ring",
            DkimKey::with_path("bench.test", "s", &rsa2048, Some(SigningPath::Ring)).unwrap(),
        ),
        (
            "rsa-2048 rsa-crate",
            DkimKey::with_path("bench.test", "s", &rsa2048, Some(SigningPath::RsaCrate)).unwrap(),
        ),
        (
            "rsa-1024 rsa-crate",
            DkimKey::new("bench.test", "s", &rsa1024).unwrap(),
        ),
        (
            "ed25519 aws-lc-rs",
            DkimKey::new("bench.test", "s", &ed).unwrap(),
        ),
    ];
    println!(
        "DKIM signing, one core, {secs}s per case (whole message: body hash + headers + signature)"
    );
    println!(
        "{:<22} {:>14} {:>14}",
        "key / path", "4 KB msg/s", "100 KB msg/s"
    );
    let small = message(4 * 1024);
    let large = message(100 * 1024);
    for (name, key) in &cases {
        println!(
            "{:<22} {:>14.0} {:>14.0}",
            name,
            rate(key, &small, budget),
            rate(key, &large, budget)
        );
    }
    println!("\nceiling: openssl speed (raw sign/s, no hashing of the message)");
    match std::process::Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            &format!("{}", secs.ceil() as u64),
            "rsa2048",
            "ed25519",
        ])
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            for l in text
                .lines()
                .filter(|l| l.contains("sign") || l.starts_with("rsa") || l.contains("Ed25519"))
            {
                println!("  {l}");
            }
        }
        Err(e) => println!("  openssl not available: {e}"),
    }
}
