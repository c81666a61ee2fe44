//! The process: subcommands, config errors, the admin key, SIGTERM.

use std::process::Command;

use envoi_tests::*;

#[test]
fn version_prints_the_version() {
    let out = Command::new(envoi_bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("envoi "));
}

#[test]
fn check_config_names_an_unknown_key() {
    let dir = temp_dir("cfg");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[http]\nlisten = \"127.0.0.1:8080\"\nlisen_typo = 1\n",
    )
    .unwrap();
    let out = check_config(&path);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen_typo"), "{err}");

    std::fs::write(&path, "[delivery]\nmax_age = \"3 fortnights\"\n").unwrap();
    let out = check_config(&path);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duration"));

    std::fs::write(
        &path,
        "[http]\nlisten = \"127.0.0.1:9999\"\n[policy]\nbounce_rate = 0.05\n",
    )
    .unwrap();
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn migrate_creates_the_schema_in_an_existing_store() {
    let dir = temp_dir("migrate");
    // An empty file is an empty SQLite database: the store exists.
    std::fs::write(dir.join("m.db"), b"").unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n",
            dir.join("m.db").display()
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let out = Command::new(envoi_bin())
            .args(["migrate", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.join("m.db").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn admin_key_is_generated_once_and_printed_once() {
    let mut e = Envoi::start_with(Options {
        admin_key: None,
        ..Default::default()
    });
    let log = e.stderr();
    let key = log
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 50 && l.chars().filter(|c| *c == '-').count() == 2)
        .unwrap_or_else(|| panic!("no key printed:\n{log}"))
        .to_string();
    expect_json(e.get("/v4/domains", &key).send().unwrap(), 200);
    e.restart();
    let again = e.stderr();
    assert_eq!(
        again.matches(&key).count(),
        1,
        "printed only on first start"
    );
    expect_json(e.get("/v4/domains", &key).send().unwrap(), 200);
    assert!(e.dir.join("envoi.master-key").exists());
}

#[test]
fn sigterm_stops_cleanly_with_exit_0() {
    let mut e = Envoi::start();
    e.create_domain("t.test");
    let status = e.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn healthz_needs_no_auth() {
    let e = Envoi::start();
    let r = e.client.get(e.url("/healthz")).send().unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn dns_records_prints_spf_dkim_and_dmarc() {
    let mut e = Envoi::start();
    e.create_domain("dns.test");
    e.terminate();
    let out = Command::new(envoi_bin())
        .current_dir(&e.dir)
        .args(["dns-records", "dns.test", "--config"])
        .arg(&e.config_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dns.test.\tTXT\t\"v=spf1"), "{text}");
    assert!(
        text.contains("k1._domainkey.dns.test.\tTXT\t\"v=DKIM1; k=rsa; p="),
        "{text}"
    );
    assert!(text.contains("_dmarc.dns.test."), "{text}");
    e.restart();
}

#[test]
fn command_line_tools_never_create_a_store() {
    // Run from an empty folder with the default config: no envoi.db here.
    let dir = temp_dir("no-store");
    for args in [
        &["dns-records", "dns.test"][..],
        &["rotate-admin-key"][..],
        &["migrate"][..],
    ] {
        let out = Command::new(envoi_bin())
            .current_dir(&dir)
            .args(args)
            .env_remove("ENVOI_ADMIN_KEY")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no store at ./envoi.db") && err.contains("start `envoi serve` first"),
            "{args:?}: {err}"
        );
        assert!(!dir.join("envoi.db").exists(), "{args:?} created a store");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// docs/configuration.md: a heading, then exactly what
/// `envoi check-config --print-defaults` prints.
fn configuration_md(reference: &str) -> String {
    format!(
        "# Configuration reference\n\n\
         Every key of envoi's TOML configuration, with its default and what it does.\n\
         Generated by `envoi check-config --print-defaults` from the code that parses\n\
         the configuration; `cargo test -p envoi-tests --test cli` checks that this\n\
         file matches (run it with `ENVOI_BLESS=1` to rewrite it).\n\n\
         ```toml\n{reference}```\n"
    )
}

#[test]
fn print_defaults_is_the_configuration_reference_in_docs() {
    let out = Command::new(envoi_bin())
        .args(["check-config", "--print-defaults"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let reference = String::from_utf8(out.stdout).unwrap();
    // It is a config file: every key with its default, which envoi accepts.
    let dir = temp_dir("defaults");
    std::fs::write(dir.join("defaults.toml"), &reference).unwrap();
    let check = check_config(&dir.join("defaults.toml"));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
    for key in [
        "listen = \"127.0.0.1:8080\"",
        "retention = \"30d\"",
        "# tls_cert = (unset by default)",
    ] {
        assert!(reference.contains(key), "{key} missing:\n{reference}");
    }
    let path = workspace_root().join("docs/configuration.md");
    let expected = configuration_md(&reference);
    if std::env::var_os("ENVOI_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let found = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        found == expected,
        "docs/configuration.md is not what `envoi check-config --print-defaults` prints: \
         rerun this test with ENVOI_BLESS=1 to rewrite it"
    );
}
