//! README's Quick start, run as written: its shell block, in an empty
//! folder, with the built binary on PATH as `envoi` (what
//! `cargo install --path gateway` gives), so README cannot drift from
//! what envoi does.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use envoi_tests::*;

/// The shell block of README's Quick start that runs envoi (the one after
/// the installation line).
fn quick_start_block() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme
        .find("## Quick start")
        .expect("README has a Quick start");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .split("```sh\n")
        .skip(1)
        .map(|b| &b[..b.find("```").expect("a closed block")])
        .find(|b| b.contains("envoi serve"))
        .expect("a block that runs envoi serve")
        .to_string()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_readme_quick_start_runs_as_written() {
    let block = quick_start_block();
    for tool in ["curl", "jq", "openssl"] {
        if !have(tool) {
            assert!(
                !postgres_required(),
                "{tool} is needed on CI (.ci/run installs it)"
            );
            eprintln!("skipped: {tool} is not installed");
            return;
        }
    }
    // The block uses envoi's default ports, as a new user would.
    for port in [8080, 2587] {
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            eprintln!("skipped: port {port} is taken on this machine");
            return;
        }
    }
    let dir = temp_dir("quick-start");
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(envoi_bin(), bin.join("envoi")).unwrap();
    let work = dir.join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(dir.join("quick-start.sh"), &block).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail"])
        .arg(dir.join("quick-start.sh"))
        .current_dir(&work)
        .env("PATH", path)
        .env_remove("ENVOI_ADMIN_KEY")
        .env_remove("ENVOI_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: `envoi serve &` is stopped with it.
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > Duration::from_secs(120) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = Command::new("kill")
        .args(["-s", "TERM", "--", &format!("-{pgid}")])
        .status();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(work.join("envoi.log")).unwrap_or_default();
    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}\nenvoi.log:\n{log}");
    let status =
        status.unwrap_or_else(|| panic!("the Quick start did not finish in 120 s\n{report}"));
    assert!(
        status.success(),
        "the Quick start failed ({status})\n{report}"
    );
    // The DNS records to publish, then the message's events.
    assert!(stdout.contains("._domainkey.mg.example.com"), "{report}");
    assert!(
        stdout.contains(r#"{"event":"accepted","recipient":"alice@example.org""#),
        "{report}"
    );
    // Its store and master key are where it ran.
    assert!(work.join("envoi.db").exists() && work.join("envoi.master-key").exists());
    let _ = std::fs::remove_dir_all(dir);
}
