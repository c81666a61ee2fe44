//! The shared state of a running gateway and its start-up: store, master key,
//! admin key.

use std::path::PathBuf;
use std::sync::Arc;

use policy::secrets::Matched;

pub use crate::api_keys::ADMIN_KEY_ID;
use crate::api_keys::{self, new_secret};
use crate::config::Config;
use crate::crypto::{hash_secret, MasterKey};
use crate::limits::Limits;
use crate::store::audit::Audit;
use crate::store::keys::NewApiKey;
use crate::store::{sqlite_path, Store};

#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Store,
    /// This node among its peers on the store.
    pub node: Arc<crate::cluster::Node>,
    pub master_key: MasterKey,
    /// `[limits]`, counting.
    pub limits: Arc<Limits>,
    /// Which domains are suspended (cached briefly).
    pub reputation: Arc<crate::reputation::Reputation>,
    /// Rung when messages are queued, so delivery starts without waiting
    /// for its next poll.
    pub queue_wake: Arc<tokio::sync::Notify>,
    /// Bumped whenever a DKIM key changes, so signers reload their keys.
    pub dkim_generation: Arc<std::sync::atomic::AtomicU64>,
    /// Bumped whenever an IP allowlist changes, so SMTP reloads it.
    pub allowlist_generation: Arc<std::sync::atomic::AtomicU64>,
    /// Wrong API keys per client address (`http::shield`).
    pub key_guard: crate::guard::Guard,
    /// Bytes of HTTP request bodies and SMTP DATA being received, over every
    /// connection (`[http]` / `[smtp].max_inflight_bytes`).
    pub http_inflight: Arc<tokio::sync::Semaphore>,
    pub smtp_inflight: Arc<tokio::sync::Semaphore>,
    /// The listeners this node has bound (name, address), set once they
    /// all are: `/readyz` is not ready before.
    pub listening: std::sync::OnceLock<Vec<(&'static str, std::net::SocketAddr)>>,
}

impl App {
    /// Records a key change that is already committed on its own: a failure
    /// to record is logged, not returned, since the change stands.
    pub async fn audit(&self, a: &Audit<'_>) {
        self.store.audit_committed(a).await
    }

    /// What accepting messages takes (HTTP and SMTP alike).
    pub fn acceptor(&self) -> crate::accept::Acceptor<'_> {
        crate::accept::Acceptor {
            store: &self.store,
            master_key: &self.master_key,
            limits: &self.limits,
            reputation: &self.reputation,
            queue_wake: &self.queue_wake,
        }
    }

    /// Whether this node runs `job` (asked at each of the job's ticks).
    pub fn singleton(
        &self,
        job: crate::cluster::singleton::Job,
    ) -> crate::cluster::singleton::Singleton {
        crate::cluster::singleton::Singleton::new(job, self.store.clone(), self.node.clone())
    }

    /// Whether the store still expects this node's master key (a store
    /// restored from another installation would not).
    pub async fn master_key_matches(&self) -> crate::store::Result<bool> {
        let expected = self.store.setting(MASTER_KEY_CHECK).await?;
        Ok(expected.as_deref() == Some(self.master_key.check_value().as_str()))
    }

    pub fn bump_allowlist_generation(&self) {
        self.allowlist_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn bump_dkim_generation(&self) {
        self.dkim_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("ENVOI_MASTER_KEY (or ENVOI_MASTER_KEY_FILE, a file holding it) is required with PostgreSQL: every node must seal and open with the same key (a key generated beside each node would give each its own). Set it to the key the other nodes use, or for a new store to the output of `openssl rand -hex 32`. Nothing was changed.")]
    MasterKeyRequired,
    #[error("the store {store} was written with another master key: it expects the key whose check value is {expected}, and this node's key ({origin}) has check value {got}. Start with the store's key: set ENVOI_MASTER_KEY to the key the other nodes use, or restore the key file from a backup. Nothing was changed.")]
    WrongMasterKey {
        store: String,
        expected: String,
        got: String,
        origin: String,
    },
    #[error("the store {store} expects the master key whose check value is {expected}, but ENVOI_MASTER_KEY is not set and {path} does not exist. Set ENVOI_MASTER_KEY (or ENVOI_MASTER_KEY_FILE) to that key or restore the key file from a backup: envoi does not make a new key for a store that has one. Nothing was changed.")]
    MasterKeyMissing {
        store: String,
        expected: String,
        path: PathBuf,
    },
}

/// The settings row holding the master key's check value.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// The master key, checked against the one the store was written with
/// (recorded by the first start), before anything else is written.
async fn master_key_at_start(
    store: &Store,
    config: &Config,
) -> Result<(MasterKey, Option<PathBuf>), StartError> {
    let env = std::env::var("ENVOI_MASTER_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    // ENVOI_MASTER_KEY_FILE: the key in a file of its own (a Docker or
    // systemd secret, a volume apart from the data), else beside SQLite.
    let file_env = std::env::var_os("ENVOI_MASTER_KEY_FILE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if env.is_none()
        && store.backend == crate::store::Backend::Postgres
        && !file_env.as_ref().is_some_and(|p| p.exists())
    {
        return Err(StartError::MasterKeyRequired);
    }
    let key_file = file_env.unwrap_or_else(|| {
        sqlite_path(&config.store.url)
            .and_then(|p| p.parent().map(|d| d.to_path_buf()))
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
            .join("envoi.master-key")
    });
    let store_name = crate::serve::redact(&config.store.url);
    let expected = store.setting(MASTER_KEY_CHECK).await?;
    if let (Some(expected), None) = (&expected, &env) {
        if !key_file.exists() {
            return Err(StartError::MasterKeyMissing {
                store: store_name,
                expected: expected.clone(),
                path: key_file,
            });
        }
    }
    let (key, created) = MasterKey::load(env.as_deref(), &key_file)?;
    let got = key.check_value();
    // The first start records its key; two nodes starting at once agree on
    // the one that got in first.
    let expected = match expected {
        Some(e) => e,
        None => store.setting_or_insert(MASTER_KEY_CHECK, &got).await?,
    };
    if expected != got {
        let origin = match env {
            Some(_) => "from ENVOI_MASTER_KEY".to_string(),
            None => format!("from {}", key_file.display()),
        };
        return Err(StartError::WrongMasterKey {
            store: store_name,
            expected,
            got,
            origin,
        });
    }
    Ok((key, created))
}

/// What start-up did that the operator must hear about.
#[derive(Debug, Default)]
pub struct StartNotes {
    /// A freshly generated admin key, to print once.
    pub new_admin_key: Option<String>,
    /// Where a freshly generated master key was written.
    pub new_master_key_file: Option<PathBuf>,
}

impl App {
    pub async fn start(config: Config) -> Result<(App, StartNotes), StartError> {
        let store = Store::open(&config.store.url, config.store.connect_timeout.0, true).await?;
        store.migrate().await?;
        let mut notes = StartNotes::default();

        let (master_key, created) = master_key_at_start(&store, &config).await?;
        notes.new_master_key_file = created;

        let (node, released) = crate::cluster::Node::register(&store, &config).await?;
        if released > 0 {
            tracing::warn!(
                recipients = released,
                node = %node.name,
                "picked up deliveries this node's previous run left in flight"
            );
        }
        let env_admin = std::env::var("ENVOI_ADMIN_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        let peers = store.live_nodes(node.lease_timeout_micros()).await? - 1;
        notes.new_admin_key = admin_key_at_start(&store, env_admin.as_deref(), peers).await?;

        let reputation = crate::reputation::Reputation::new(store.clone(), &config.policy);
        let limits = Arc::new(Limits::new(&config.limits, &store));
        let app = App(Arc::new(Inner {
            reputation: Arc::new(reputation),
            queue_wake: Arc::default(),
            dkim_generation: Arc::default(),
            allowlist_generation: Arc::default(),
            key_guard: crate::http::shield::key_guard(),
            http_inflight: crate::net::budget::budget(config.http.max_inflight_bytes.0),
            smtp_inflight: crate::net::budget::budget(config.smtp.max_inflight_bytes.0),
            listening: Default::default(),
            store,
            node,
            master_key,
            limits,
            config,
        }));
        Ok((app, notes))
    }
}

/// The admin key at start-up: `ENVOI_ADMIN_KEY` when set (unless it is the
/// key rotated away last: a stale environment must not bring a leaked key
/// back, or other nodes are running: the key they run with wins), else the
/// stored one, else a new one, returned to be printed once.
async fn admin_key_at_start(
    store: &Store,
    env: Option<&str>,
    live_peers: i64,
) -> Result<Option<String>, StartError> {
    let stored = store.api_key(ADMIN_KEY_ID).await?;
    let (secret, action, actor) = match (env, &stored) {
        (None, Some(_)) => return Ok(None),
        (None, None) => (new_secret(ADMIN_KEY_ID), "key.created", "envoi"),
        (Some(secret), Some(row)) => match api_keys::matched(secret, row) {
            Matched::Current => return Ok(None),
            Matched::Previous => {
                tracing::warn!(
                    "ENVOI_ADMIN_KEY is the account key that was rotated away at {}: it is not restored. \
                     Set ENVOI_ADMIN_KEY to the new key, or unset it.",
                    row.rotated_at.map(crate::time::rfc2822).unwrap_or_default()
                );
                return Ok(None);
            }
            Matched::Neither if live_peers > 0 => {
                tracing::warn!(
                    peers = live_peers,
                    "ENVOI_ADMIN_KEY differs from the account key the running nodes use: it is not applied, \
                     the stored key stays. Give every node the same ENVOI_ADMIN_KEY, or change the key \
                     with POST /v1/keys/{ADMIN_KEY_ID}/rotate."
                );
                return Ok(None);
            }
            Matched::Neither => (secret.to_string(), "key.replaced", "environment"),
        },
        (Some(secret), None) => (secret.to_string(), "key.created", "environment"),
    };
    let hash = hash_secret(&secret);
    let audit = Audit {
        actor,
        action,
        target: ADMIN_KEY_ID,
        domain: None,
        detail: "",
    };
    store.upsert_api_key_hash(&admin_row(&hash), &audit).await?;
    Ok(env.is_none().then_some(secret))
}

fn admin_row(hash: &[u8]) -> NewApiKey<'_> {
    NewApiKey {
        id: ADMIN_KEY_ID,
        secret_hash: hash,
        role: "admin",
        kind: "user",
        domain_name: None,
        description: "account key",
        expires_at: None,
    }
}
