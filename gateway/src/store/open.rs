//! Opening a store, and errors that say which store and why it failed.
//!
//! sqlx's own errors name neither the database nor the OS cause ("unable to
//! open database file"), and a pool facing an unreachable server retries in
//! silence until its acquire timeout ("pool timed out"). Here each failure
//! names the store (a path, or host:port/db, never a password) and the cause,
//! and PostgreSQL is tried connection by connection with progress in the log.

use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection};

use super::StoreError;

/// The store this process works on, for error messages ("store error" in a
/// log says nothing about which). The first store opened names it: a node
/// has one store; unit tests open several and share the first name.
static NAME: OnceLock<String> = OnceLock::new();

/// The store's name in errors: set by the first store opened.
pub fn name() -> &'static str {
    NAME.get().map(String::as_str).unwrap_or("(not opened)")
}

pub(super) fn set_name(url: &str) {
    let _ = NAME.set(describe(url));
}

/// `url` as an operator recognises it, without credentials: the SQLite file's
/// path, or PostgreSQL's `host:port/database`.
pub fn describe(url: &str) -> String {
    if let Some(path) = super::sqlite_path(url) {
        return path.display().to_string();
    }
    if url.starts_with("sqlite:") {
        return "SQLite in memory".into();
    }
    match sqlx::postgres::PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "PostgreSQL {}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("(default database)")
        ),
        Err(_) => crate::serve::redact(url),
    }
}

/// Why a SQLite file could not be opened, asked of the OS: sqlx says only
/// "unable to open database file".
pub(super) fn sqlite_cause(path: &Path, error: &sqlx::Error, create: bool) -> String {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return format!(
            "the folder {} does not exist: create it, or set [store].url to a file in an existing folder",
            folder.display()
        );
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
    {
        Err(e) => io_cause(&e, path, folder),
        Ok(_) => cause(error),
    }
}

/// What the OS said when the file was opened, with what to do.
fn io_cause(e: &std::io::Error, path: &Path, folder: &Path) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "permission denied: the user running envoi cannot write {} (or its folder {}); give it write access or choose another path",
            path.display(),
            folder.display()
        ),
        _ => e.to_string(),
    }
}

/// The useful part of a sqlx error, with what to do for the usual ones.
pub(super) fn cause(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused: is PostgreSQL running and listening on that address and port?"
                    .into()
            }
            std::io::ErrorKind::TimedOut => {
                "the connection timed out: check the host name and the firewall".into()
            }
            _ => format!("{e}"),
        },
        sqlx::Error::Database(e) => {
            let hint = match e.code().as_deref() {
                Some("3D000") => {
                    ": create it (createdb) or correct the database name in [store].url"
                }
                Some("28P01") | Some("28000") => ": check the user and password in [store].url",
                _ => "",
            };
            format!("{}{hint}", e.message())
        }
        sqlx::Error::Tls(e) => format!("TLS failed: {e}"),
        sqlx::Error::Configuration(e) => format!("invalid [store].url: {e}"),
        other => other.to_string(),
    }
}

/// Worth another try: the server may be starting (refused, reset, timed out).
fn transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // 57P03: the database system is starting up.
        sqlx::Error::Database(e) => e.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// One PostgreSQL connection, tried until `within` has passed, each attempt
/// logged: proof that the server answers before a pool is built on it.
pub(super) async fn first_postgres_connection(
    url: &str,
    within: Duration,
) -> Result<(), StoreError> {
    let store = describe(url);
    let opts = AnyConnectOptions::from_str(url).map_err(|e| StoreError::Open {
        store: store.clone(),
        cause: cause(&e),
    })?;
    let deadline = Instant::now() + within;
    // Waits of 0.5, 1, 2, 2… s: a server still starting is found quickly,
    // and the log gets a line per attempt, not forty in ten seconds.
    let mut wait = Duration::from_millis(500);
    for attempt in 1.. {
        tracing::info!(store = %store, attempt, "connecting to the store");
        let left = deadline.saturating_duration_since(Instant::now());
        let result =
            tokio::time::timeout(left.max(Duration::from_millis(100)), opts.connect()).await;
        let error = match result {
            Ok(Ok(conn)) => {
                let _ = AnyConnection::close(conn).await;
                return Ok(());
            }
            Ok(Err(e)) => e,
            Err(_) => sqlx::Error::Io(std::io::ErrorKind::TimedOut.into()),
        };
        let cause = cause(&error);
        if !transient(&error) || Instant::now() + wait >= deadline {
            let cause = if transient(&error) {
                format!(
                    "{cause} (tried {attempt} times in {})",
                    humantime::format_duration(within)
                )
            } else {
                cause
            };
            return Err(StoreError::Open { store, cause });
        }
        tracing::warn!(store = %store, attempt, error = %cause, "the store did not answer; trying again");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_names_the_file_and_what_to_do() {
        // As root the OS never says it; the wording is checked here.
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let text = io_cause(
            &e,
            Path::new("/srv/envoi/envoi.db"),
            Path::new("/srv/envoi"),
        );
        assert_eq!(
            text,
            "permission denied: the user running envoi cannot write /srv/envoi/envoi.db (or its folder /srv/envoi); give it write access or choose another path"
        );
    }

    #[test]
    fn a_store_is_named_without_its_password() {
        assert_eq!(
            describe("postgres://envoi:secret@db.internal:6432/mail?sslmode=require"),
            "PostgreSQL db.internal:6432/mail"
        );
        assert_eq!(
            describe("sqlite:///var/lib/envoi/envoi.db"),
            "/var/lib/envoi/envoi.db"
        );
        assert_eq!(describe("sqlite://./envoi.db?mode=rwc"), "./envoi.db");
    }
}
