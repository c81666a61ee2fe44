//! A store that cannot be opened: the error names the store (a path, or
//! host:port/db, never the password) and the cause, and says what to do.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use envoi_tests::*;

/// `envoi serve` on a config whose store is `url`, with free ports: it must
/// stop by itself (the store cannot be opened).
fn serve_with_store(url: &str) -> (Output, Duration) {
    let dir = temp_dir("store-err");
    let config = dir.join("envoi.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:{}\"\n[smtp]\nlisten = \"127.0.0.1:{}\"\n[store]\nurl = \"{url}\"\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(envoi_bin())
        .args(["serve", "--config"])
        .arg(&config)
        .env("ENVOI_MASTER_KEY", "00".repeat(32))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(dir);
    assert!(!out.status.success(), "serve should have failed");
    (out, took)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_sqlite_store_in_a_missing_folder_names_the_folder() {
    let (out, _) = serve_with_store("sqlite:///nonexistent-envoi-folder/sub/envoi.db");
    let err = stderr(&out);
    assert!(
        err.contains("cannot open the store /nonexistent-envoi-folder/sub/envoi.db")
            && err.contains("the folder /nonexistent-envoi-folder/sub does not exist"),
        "{err}"
    );
}

#[test]
fn a_sqlite_store_that_is_not_writable_says_permission_denied() {
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    if uid.is_ok_and(|uid| uid == 0) {
        eprintln!("skipped: running as root, which may write anywhere");
        return;
    }
    let dir = temp_dir("store-ro");
    let ro = dir.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    let (out, _) = serve_with_store(&format!("sqlite://{}/envoi.db", ro.display()));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot open the store {}/envoi.db", ro.display()))
            && err.contains("permission denied"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unreachable_postgresql_fails_within_10_s_naming_host_port_and_cause() {
    // Nothing listens on a port just found free.
    let port = free_port();
    let (out, took) = serve_with_store(&format!(
        "postgres://envoi:s3cret-password@127.0.0.1:{port}/mail"
    ));
    let err = stderr(&out);
    assert!(
        took < Duration::from_secs(13),
        "took {took:?}, expected about 10 s"
    );
    assert!(
        err.contains(&format!(
            "cannot open the store PostgreSQL 127.0.0.1:{port}/mail"
        )) && err.contains("connection refused"),
        "{err}"
    );
    // Progress is logged while it tries.
    assert!(err.contains("connecting to the store"), "{err}");
    assert!(
        !err.contains("s3cret-password"),
        "the password leaked: {err}"
    );
}

#[test]
fn a_postgresql_database_that_does_not_exist_is_named_at_once() {
    let Some(base) = test_postgres_url() else {
        return;
    };
    let root = &base[..base.rfind('/').unwrap()];
    let (out, took) = serve_with_store(&format!("{root}/envoi_no_such_database"));
    let err = stderr(&out);
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: not a retry case"
    );
    assert!(
        err.contains("/envoi_no_such_database")
            && err.contains("does not exist")
            && err.contains("createdb"),
        "{err}"
    );
}

#[test]
fn a_wrong_postgresql_password_says_so_without_showing_it() {
    let Some(base) = test_postgres_url() else {
        return;
    };
    let at = base.rfind('@').unwrap();
    let url = format!("postgres://envoi:not-the-password{}", &base[at..]);
    let (out, _) = serve_with_store(&url);
    let err = stderr(&out);
    assert!(
        err.contains("password authentication failed")
            && err.contains("check the user and password"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-password"),
        "the password leaked: {err}"
    );
}
