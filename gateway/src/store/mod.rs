//! Persistence with sqlx. Queries use `$n` placeholders and portable SQL, so the
//! same code runs on SQLite (the embedded default) and PostgreSQL (several nodes).

pub mod audit;
pub mod buckets;
pub mod cache;
pub mod credentials;
pub mod dkim_keys;
pub mod dmarc;
pub mod domain_settings;
pub mod domains;
pub mod events;
pub mod group_commit;
pub mod holds;
pub mod ip_allowlist;
pub mod keys;
pub mod messages;
pub mod nodes;
pub mod open;
pub mod queue;
#[cfg(test)]
mod queue_tests;
pub mod relaxed;
pub mod reputation;
pub mod retention;
pub mod rollup;
pub mod settings;
pub mod snapshot;
pub mod suppressions;
pub mod templates;
pub mod ui_sessions;
pub mod webhook_history;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store}: {cause}", store = open::name(), cause = open::cause(.0))]
    Db(#[from] sqlx::Error),
    #[error("store {store}: migration failed: {source}", store = open::name(), source = .0)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot open the store {store}: {cause}")]
    Open { store: String, cause: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("no store at {0}: start `envoi serve` first, or pass --config with the config of the running gateway (its [store].url); nothing was created")]
    NoStore(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long PostgreSQL has to answer at start (`[store].connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `s` as a literal inside a `LIKE ... ESCAPE '\'` pattern: `%` and `_`
/// match themselves, so a search term is never a wildcard.
pub fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Two pools over one database. SQLite allows a single writer; giving it a
/// one-connection pool turns lock contention into an orderly queue instead of
/// SQLITE_BUSY. On PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Store {
    pub backend: Backend,
    read: AnyPool,
    write: AnyPool,
    /// Where accepts go to share transactions; `None` in the committer's
    /// own handle.
    committer: Option<group_commit::GroupCommit>,
    domain_cache: std::sync::Arc<domains::DomainCache>,
    key_cache: std::sync::Arc<cache::Cache<String, keys::ApiKey>>,
}

impl Store {
    /// The store at `url`, created when it is a SQLite file not there yet;
    /// PostgreSQL is given the default 10 s to answer.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::open(url, DEFAULT_CONNECT_TIMEOUT, true).await
    }

    /// `url`'s store; a SQLite file is created only when `create`, and
    /// PostgreSQL is retried (in the log) until `within` has passed. Errors
    /// name the store and the cause.
    pub async fn open(url: &str, within: Duration, create: bool) -> Result<Store> {
        sqlx::any::install_default_drivers();
        open::set_name(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let (read, write) = match backend {
            Backend::Sqlite => {
                let failed = |e: sqlx::Error| match sqlite_path(url) {
                    Some(path) => StoreError::Open {
                        store: path.display().to_string(),
                        cause: open::sqlite_cause(&path, &e, create),
                    },
                    None => StoreError::Open {
                        store: open::describe(url),
                        cause: open::cause(&e),
                    },
                };
                let url = if create {
                    sqlite_url_create(url)
                } else {
                    url.to_string()
                };
                let opts = AnyConnectOptions::from_str(&url).map_err(failed)?;
                let write = sqlite_pool(1)
                    .connect_with(opts.clone())
                    .await
                    .map_err(failed)?;
                // WAL is a property of the file: set it once through the writer.
                write
                    .execute("PRAGMA journal_mode=WAL")
                    .await
                    .map_err(failed)?;
                let read = sqlite_pool(8).connect_with(opts).await.map_err(failed)?;
                (read, write)
            }
            Backend::Postgres => {
                open::first_postgres_connection(url, within).await?;
                let opts = AnyConnectOptions::from_str(url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await
                    .map_err(|e| StoreError::Open {
                        store: open::describe(url),
                        cause: open::cause(&e),
                    })?;
                (pool.clone(), pool)
            }
        };
        Ok(Store {
            backend,
            read,
            write,
            committer: None,
            domain_cache: Default::default(),
            key_cache: Default::default(),
        }
        .with_group_commit())
    }

    /// The store a command-line tool works on: it must exist already. A
    /// SQLite file that is not there is an error naming it, never a new,
    /// empty store created where the command happened to run.
    pub async fn open_existing(url: &str, within: Duration) -> Result<Store> {
        if let Some(path) = sqlite_path(url) {
            if !path.exists() {
                return Err(StoreError::NoStore(path.display().to_string()));
            }
        }
        Store::open(url, within, false).await
    }

    fn with_group_commit(mut self) -> Store {
        self.committer = Some(group_commit::GroupCommit::start(self.clone()));
        self
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        self.migrator().run(&self.write).await?;
        Ok(())
    }

    /// The versions this binary knows that the store has not applied: none
    /// on a node that started, some when an older binary's store was not
    /// migrated (`envoi migrate`).
    pub async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.read)
                .await?;
        Ok(self
            .migrator()
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

fn sqlite_pool(n: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(n)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // FULL: a commit is on disk when it returns (a 200 means stored).
                conn.execute(
                    "PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON",
                )
                .await?;
                Ok(())
            })
        })
}

/// `sqlite://./envoi.db` → create the file if missing.
fn sqlite_url_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
}

/// The filesystem path of a SQLite URL, to keep files (the master key) beside it.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(path.into())
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub(crate) fn flag(v: bool) -> i64 {
    v as i64
}

/// `rows` groups of `cols` numbered placeholders from `$first` on, for
/// multi-row `VALUES` and `IN` lists: `placeholders(2, 3, 1)` is
/// `($1,$2,$3),($4,$5,$6)`; with `cols` 1 the groups have no parentheses
/// (`$1,$2`), ready for `IN (...)`.
pub(crate) fn placeholders(rows: usize, cols: usize, first: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(rows * cols * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        if cols > 1 {
            sql.push('(');
        }
        for col in 0..cols {
            if col > 0 {
                sql.push(',');
            }
            write!(sql, "${}", first + row * cols + col).expect("writing to a String");
        }
        if cols > 1 {
            sql.push(')');
        }
    }
    sql
}

/// A store on a new SQLite file in its own temporary folder (returned, for
/// the test to remove), not migrated.
#[cfg(test)]
pub(crate) async fn temp_sqlite(tag: &str) -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("envoi-{tag}-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.join("t.db").display()))
        .await
        .unwrap();
    (store, dir)
}

#[cfg(test)]
mod placeholder_tests {
    use super::placeholders;

    #[test]
    fn rows_of_numbered_placeholders() {
        assert_eq!(placeholders(2, 3, 1), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(placeholders(3, 1, 4), "$4,$5,$6");
        assert_eq!(placeholders(0, 2, 1), "");
    }
}
