//! Running envoi as a service: health and readiness probes, `envoi health`,
//! the version, and logs a machine or a person can read.

use std::process::Command;
use std::time::Duration;

use envoi_tests::sink::Script;
use envoi_tests::world::Delivering;
use envoi_tests::*;
use serde_json::Value;

#[test]
fn healthz_says_alive_with_the_version() {
    let e = Envoi::start();
    let r = e.client.get(e.url("/healthz")).send().unwrap();
    let body = expect_json(r, 200);
    assert_eq!(body["status"], "ok");
    assert!(
        body["version"].as_str().unwrap().starts_with("0.1.0 ("),
        "{body}"
    );
}

#[test]
fn readyz_reports_store_migrations_master_key_and_listeners() {
    let e = Envoi::start();
    let r = e.client.get(e.url("/readyz")).send().unwrap();
    let body = expect_json(r, 200);
    assert_eq!(body["status"], "ready", "{body}");
    let checks = &body["checks"];
    assert_eq!(checks["store"], "reachable");
    assert_eq!(checks["migrations"], "current");
    assert_eq!(checks["master_key"], "matches");
    assert_eq!(checks["listeners"]["http"], format!("127.0.0.1:{}", e.port));
    assert_eq!(
        checks["listeners"]["smtp"],
        format!("127.0.0.1:{}", e.smtp_port)
    );
}

/// `/readyz`'s 503 body, whose message must name each of `needles`.
fn not_ready(e: &Envoi, needles: &[&str]) -> Value {
    let r = e.client.get(e.url("/readyz")).send().unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().unwrap();
    assert_eq!(body["status"], "not ready");
    let message = body["message"].as_str().unwrap();
    for n in needles {
        assert!(message.contains(n), "{n:?} not in {message:?}");
    }
    body
}

#[test]
fn readyz_is_503_naming_a_migration_the_store_lacks() {
    let e = Envoi::start();
    // (`damage` binds a value and a row name: both are only checked here.)
    e.damage(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations) AND $1 = 1 AND $2 <> ''",
        1_i64,
        "the last migration",
    );
    let body = not_ready(&e, &["lacks migrations", "envoi migrate"]);
    assert_eq!(body["checks"]["migrations"], "pending");
    // Alive all the same: a liveness probe must not restart it for this.
    let r = e.client.get(e.url("/healthz")).send().unwrap();
    expect_json(r, 200);
}

#[test]
fn readyz_is_503_when_the_store_expects_another_master_key() {
    let e = Envoi::start();
    e.damage(
        "UPDATE settings SET value = $1 WHERE name = 'master_key_check' AND $2 <> ''",
        "0000000000000000".to_string(),
        "the master key check",
    );
    let body = not_ready(&e, &["another master key"]);
    assert_eq!(body["checks"]["master_key"], "differs");
}

#[test]
fn health_command_exits_0_on_a_running_node_and_1_naming_the_address_otherwise() {
    let e = Envoi::start();
    for args in [&["health"][..], &["health", "--ready"][..]] {
        let out = Command::new(envoi_bin())
            .args(args)
            .arg("--config")
            .arg(&e.config_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = temp_dir("health");
    let config = dir.join("envoi.toml");
    let port = free_port();
    std::fs::write(&config, format!("[http]\nlisten = \"0.0.0.0:{port}\"\n")).unwrap();
    let out = Command::new(envoi_bin())
        .args(["health", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // Bound to every interface: probed on loopback.
    assert!(
        err.contains(&format!("cannot reach envoi at 127.0.0.1:{port}")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn version_names_the_commit_and_the_first_log_line_repeats_it() {
    let out = Command::new(envoi_bin()).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // "envoi 0.1.0 (3f2a9c1e4b7d)": a commit, or "unknown" outside git.
    let inner = version
        .strip_prefix("envoi 0.1.0 (")
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    assert!(
        inner == "unknown" || (inner.len() >= 7 && inner.chars().all(|c| c.is_ascii_hexdigit())),
        "{version}"
    );
    let e = Envoi::start();
    let first = e.stderr().lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains("envoi starting") && first.contains(inner),
        "{first}"
    );
}

#[test]
fn logs_carry_no_colour_codes_when_not_on_a_terminal() {
    let e = Envoi::start();
    e.create_domain("plain.test");
    let log = e.stderr();
    assert!(log.contains("HTTP API listening"), "{log}");
    assert!(!log.contains('\x1b'), "ANSI codes in a piped log:\n{log}");
}

#[test]
fn json_logs_give_every_delivery_line_its_message_recipient_mx_and_tls() {
    let w = Delivering::start(
        Script::default(),
        "",
        Options {
            extra_config: "[log]\nformat = \"json\"\n".into(),
            ..Options::default()
        },
    );
    w.e.create_domain("json.test");
    let id = w.e.send("json.test", "someone@dest.test", &[]);
    w.e.wait_event("json.test", "event=delivered", Duration::from_secs(30));
    let log = w.e.stderr();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines[0]["message"], "envoi starting", "{}", lines[0]);
    let delivered = lines
        .iter()
        .find(|l| l["message"] == "delivered")
        .unwrap_or_else(|| panic!("no delivered line:\n{log}"));
    assert_eq!(delivered["message_id"], id.as_str(), "{delivered}");
    assert_eq!(delivered["domain"], "json.test");
    assert_eq!(delivered["rcpt"], "someone@dest.test");
    assert_eq!(delivered["mx"], "mx.dest.test");
    assert_eq!(delivered["tls"], "none", "the sink offers no STARTTLS");
    assert_eq!(delivered["level"], "INFO");
}

/// `envoi serve` on a taken port, run under a pseudo-terminal (util-linux
/// `script`): it logs its first line, then stops. What the terminal got.
fn first_log_on_a_terminal(no_color: Option<&str>) -> Option<String> {
    let have = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        return None;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = temp_dir("tty");
    let config = dir.join("envoi.toml");
    std::fs::write(
        &config,
        format!("[http]\nlisten = \"{}\"\n", taken.local_addr().unwrap()),
    )
    .unwrap();
    let mut cmd = Command::new("script");
    cmd.args(["-qec"])
        .arg(format!(
            "{} serve --config {}",
            envoi_bin().display(),
            config.display()
        ))
        .arg("/dev/null")
        .env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn on_a_terminal_logs_are_coloured_unless_no_color_is_set() {
    let Some(coloured) = first_log_on_a_terminal(None) else {
        eprintln!("skipped: no `script` to give envoi a terminal");
        return;
    };
    assert!(coloured.contains("envoi starting"), "{coloured}");
    assert!(
        coloured.contains('\x1b'),
        "a terminal gets colour: {coloured:?}"
    );
    let plain = first_log_on_a_terminal(Some("1")).unwrap();
    assert!(plain.contains("envoi starting"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR is respected: {plain:?}");
}
