//! The shared state of a running gateway and its start-up: store, master key,
//! admin key.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::config::Config;
use crate::crypto::{hash_secret, random_hex, secret_matches, MasterKey};
use crate::store::keys::NewApiKey;
use crate::store::{sqlite_path, Store};

pub const ADMIN_KEY_ID: &str = "admin";

#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Store,
    pub master_key: MasterKey,
    admin_hash: RwLock<Vec<u8>>,
    /// Rung when messages are queued, so delivery starts without waiting
    /// for its next poll.
    pub queue_wake: tokio::sync::Notify,
    /// Bumped whenever a DKIM key changes, so signers reload their keys.
    pub dkim_generation: std::sync::atomic::AtomicU64,
    /// Bumped whenever an IP allowlist changes, so SMTP reloads it.
    pub allowlist_generation: std::sync::atomic::AtomicU64,
}

impl App {
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
        let store = Store::connect(&config.store.url).await?;
        store.migrate().await?;
        let mut notes = StartNotes::default();

        let key_dir = sqlite_path(&config.store.url)
            .and_then(|p| p.parent().map(|d| d.to_path_buf()))
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let env_master = std::env::var("ENVOI_MASTER_KEY").ok();
        let (master_key, created) = MasterKey::load(env_master.as_deref(), &key_dir)?;
        notes.new_master_key_file = created;

        let admin_hash = match std::env::var("ENVOI_ADMIN_KEY")
            .ok()
            .filter(|k| !k.is_empty())
        {
            Some(secret) => {
                let hash = hash_secret(&secret);
                store.upsert_api_key_hash(&admin_row(&hash)).await?;
                hash.to_vec()
            }
            None => match store.api_key(ADMIN_KEY_ID).await? {
                Some(row) => row.secret_hash,
                None => {
                    let secret = format!("{}-{}-{}", random_hex(16), random_hex(4), random_hex(4));
                    let hash = hash_secret(&secret);
                    store.upsert_api_key_hash(&admin_row(&hash)).await?;
                    notes.new_admin_key = Some(secret);
                    hash.to_vec()
                }
            },
        };

        let app = App(Arc::new(Inner {
            queue_wake: tokio::sync::Notify::new(),
            dkim_generation: std::sync::atomic::AtomicU64::new(0),
            allowlist_generation: std::sync::atomic::AtomicU64::new(0),
            config,
            store,
            master_key,
            admin_hash: RwLock::new(admin_hash),
        }));
        Ok((app, notes))
    }

    pub fn admin_key_matches(&self, secret: &str) -> bool {
        let hash = self.admin_hash.read().expect("admin hash lock");
        secret_matches(secret, &hash)
    }
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
