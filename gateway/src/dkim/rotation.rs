//! Automatic DKIM rotation. A rotation makes a new key (same algorithm and
//! size) for each active key of a domain, under a fresh selector, and keeps
//! it inactive until its TXT record is seen in DNS; then the new key signs
//! and the old one is switched off but kept (mail already signed with it
//! still verifies while its record stays published). A background task does
//! this every `rotation_interval` for domains that asked for it, and
//! activates rotated keys as their records appear.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use signer::{Algorithm, KeySpec, PrivateKey};

use crate::config::DeliveryConfig;
use crate::crypto::MasterKey;
use crate::store::audit::Audit;
use crate::store::domains::{DkimKeyRow, Domain, KeyChange};
use crate::store::{now_micros, Store, StoreError};

/// Mailgun's floor for `rotation_interval`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5 * 86400);

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "a rotation of {domain} is already waiting for its DNS record: publish TXT \"{value}\" at {record} (it is activated once seen), or delete key {selector}"
    )]
    AlreadyPending {
        domain: String,
        selector: String,
        record: String,
        value: String,
    },
    #[error("{domain} has no active DKIM key to rotate: activate one first")]
    NoActiveKey { domain: String },
    #[error("generating a key for {domain}: {reason}")]
    Generate { domain: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key made by a rotation, waiting for its record.
#[derive(Debug, Clone)]
pub struct RotatedKey {
    pub selector: String,
    pub replaces: String,
    /// The TXT value to publish at `{selector}._domainkey.{domain}`.
    pub value: String,
}

/// One rotation at a time, so the API and the background task cannot both
/// start one for the same domain.
static ROTATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What rotating keys takes: no more.
pub struct Rotation {
    pub store: Store,
    /// Seals the new keys.
    pub master_key: MasterKey,
    /// `[delivery]`'s nameservers, to see records published.
    pub dns: DeliveryConfig,
    /// `[dkim].rotation_check`.
    pub every: Duration,
    /// Bumped when a key is activated, so signers reload their keys.
    pub dkim_generation: Arc<AtomicU64>,
    /// One node of a cluster checks rotations.
    pub runner: crate::cluster::singleton::Singleton,
}

/// Starts a rotation of `domain`: a new inactive key per active key.
/// `actor`: who asked (a key id, or `envoi` for the schedule), for the audit.
pub async fn rotate(
    store: &Store,
    master_key: &MasterKey,
    domain: &Domain,
    actor: &str,
) -> Result<Vec<RotatedKey>, RotateError> {
    let _one = ROTATING.lock().await;
    let keys = store.dkim_keys(domain.id).await?;
    if let Some(p) = keys.iter().find(|k| k.replaces.is_some()) {
        return Err(RotateError::AlreadyPending {
            domain: domain.name.clone(),
            selector: p.selector.clone(),
            record: signer::dns::dkim_record_name(&p.selector, &domain.name),
            value: p.dns_value.clone(),
        });
    }
    let active: Vec<&DkimKeyRow> = keys.iter().filter(|k| k.active).collect();
    if active.is_empty() {
        return Err(RotateError::NoActiveKey {
            domain: domain.name.clone(),
        });
    }
    let mut taken: Vec<String> = keys.iter().map(|k| k.selector.clone()).collect();
    let mut made = Vec::new();
    for old in active {
        let Some(spec) = spec_of(old) else {
            continue;
        };
        let key = tokio::task::spawn_blocking(move || PrivateKey::generate(spec))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|reason| RotateError::Generate {
                domain: domain.name.clone(),
                reason,
            })?;
        let selector = next_selector(key.algorithm, Utc::now(), &taken);
        let sealed = super::SealedKey::new(master_key, &domain.name, &selector, &key);
        if !store
            .add_dkim_key(domain.id, &sealed.row(false, Some(&old.selector)))
            .await?
        {
            continue; // taken meanwhile by hand; the next rotation tries again
        }
        let record = signer::dns::dkim_record_name(&selector, &domain.name);
        tracing::info!(domain = %domain.name, selector = %selector, replaces = %old.selector, %record,
            value = %sealed.dns_value, "DKIM rotation: new key made; publish its TXT record, it is activated once seen in DNS");
        let detail = format!("replaces {}", old.selector);
        store
            .audit_committed(&Audit {
                actor,
                action: "dkim_key.rotated",
                target: &selector,
                domain: Some(&domain.name),
                detail: &detail,
            })
            .await;
        taken.push(selector.clone());
        made.push(RotatedKey {
            selector,
            replaces: old.selector.clone(),
            value: sealed.dns_value,
        });
    }
    Ok(made)
}

fn spec_of(k: &DkimKeyRow) -> Option<KeySpec> {
    match Algorithm::parse(&k.algorithm)? {
        Algorithm::Ed25519 => Some(KeySpec::Ed25519),
        Algorithm::Rsa => Some(KeySpec::Rsa {
            bits: k.bits as usize,
        }),
    }
}

/// `r20261123` for RSA, `e20261123` for Ed25519, with `-2`, `-3`… when a
/// domain rotates more than once a day.
pub fn next_selector(algorithm: Algorithm, now: DateTime<Utc>, taken: &[String]) -> String {
    let prefix = match algorithm {
        Algorithm::Rsa => 'r',
        Algorithm::Ed25519 => 'e',
    };
    let base = format!("{prefix}{}", now.format("%Y%m%d"));
    std::iter::once(base.clone())
        .chain((2..).map(|n| format!("{base}-{n}")))
        .find(|s| !taken.iter().any(|t| t == s))
        .expect("an unbounded sequence has a free name")
}

/// A domain is due a new key once its newest active key is `interval` old.
pub fn due(newest_active_created_us: i64, interval_secs: i64, now_us: i64) -> bool {
    interval_secs > 0 && now_us - newest_active_created_us >= interval_secs * 1_000_000
}

impl Rotation {
    /// One pass: activate rotated keys whose record is published, and start
    /// the rotations that are due.
    pub async fn tick(&self) -> Result<(), StoreError> {
        for domain in self.store.rotation_domains().await? {
            let keys = self.store.dkim_keys(domain.id).await?;
            let pending: Vec<&DkimKeyRow> = keys.iter().filter(|k| k.replaces.is_some()).collect();
            for key in &pending {
                self.activate_if_published(&domain, key).await?;
            }
            let newest = keys.iter().filter(|k| k.active).map(|k| k.created_at).max();
            if pending.is_empty() && domain.dkim_rotation_enabled {
                if let Some(newest) = newest {
                    if due(newest, domain.dkim_rotation_interval, now_micros()) {
                        match rotate(&self.store, &self.master_key, &domain, "envoi").await {
                            Ok(_) => {}
                            Err(RotateError::Store(e)) => return Err(e),
                            Err(e) => {
                                tracing::warn!(domain = %domain.name, error = %e, "DKIM rotation not started")
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn activate_if_published(
        &self,
        domain: &Domain,
        key: &DkimKeyRow,
    ) -> Result<(), StoreError> {
        let record = signer::dns::dkim_record_name(&key.selector, &domain.name);
        if let Err(seen) = crate::dns_check::published(&self.dns, &record, &key.dns_value).await {
            tracing::debug!(domain = %domain.name, %record, %seen, "DKIM rotation: record not published yet");
            return Ok(());
        }
        let changed = self
            .store
            .set_dkim_key_active(domain.id, &key.selector, true)
            .await?;
        if changed == KeyChange::Done {
            self.dkim_generation.fetch_add(1, Ordering::SeqCst);
            self.store
                .audit_committed(&Audit {
                    actor: "envoi",
                    action: "dkim_key.activated",
                    target: &key.selector,
                    domain: Some(&domain.name),
                    detail: "record published",
                })
                .await;
            tracing::info!(domain = %domain.name, selector = %key.selector,
                replaced = key.replaces.as_deref().unwrap_or(""),
                "DKIM rotation: record published, new key active; the old key is kept until deleted");
        }
        Ok(())
    }

    /// The background task, until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        // Whether this node runs the checks is asked more often than the
        // checks are made, so a peer takes over within seconds.
        let ask = self.every.min(std::time::Duration::from_secs(5));
        let mut next = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next && self.runner.mine().await {
                next = tokio::time::Instant::now() + self.every;
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = %e, "DKIM rotation check failed; trying again later");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(ask) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn selectors_name_the_algorithm_and_day_and_never_collide() {
        let day = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        assert_eq!(next_selector(Algorithm::Rsa, day, &[]), "r20261123");
        assert_eq!(next_selector(Algorithm::Ed25519, day, &[]), "e20261123");
        let taken = vec!["r20261123".to_string(), "r20261123-2".to_string()];
        assert_eq!(next_selector(Algorithm::Rsa, day, &taken), "r20261123-3");
        assert!(super::super::valid_selector("r20261123-3"));
    }

    #[test]
    fn due_once_the_newest_active_key_is_interval_old() {
        let day = 86_400i64;
        let created = 1_000_000_000_000i64;
        assert!(!due(created, 5 * day, created + (5 * day - 1) * 1_000_000));
        assert!(due(created, 5 * day, created + 5 * day * 1_000_000));
        assert!(!due(created, 0, created + 100 * day * 1_000_000));
    }

    /// The background pass starts a rotation once a domain's key is older
    /// than its interval, and leaves the new key waiting for DNS.
    #[tokio::test]
    async fn a_due_domain_is_rotated_by_the_background_pass() {
        let dir = std::env::temp_dir().join(format!("envoi-rotation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = crate::config::Config::default();
        config.store.url = format!("sqlite://{}/envoi.db", dir.display());
        // Nothing answers here: the new record is never seen as published.
        config.delivery.nameservers = vec!["127.0.0.1:9".parse().unwrap()];
        let (app, _) = crate::app::App::start(config).await.unwrap();
        let rotation = Rotation {
            store: app.store.clone(),
            master_key: app.master_key.clone(),
            dns: app.config.delivery.clone(),
            every: app.config.dkim.rotation_check.0,
            dkim_generation: app.dkim_generation.clone(),
            runner: app.singleton(crate::cluster::singleton::Job::DkimRotation),
        };
        let key = PrivateKey::generate(KeySpec::Ed25519).unwrap();
        let sealed = super::super::SealedKey::new(&app.master_key, "due.test", "k1", &key);
        let new = crate::store::domains::NewDomain {
            name: "due.test",
            require_tls: false,
            skip_verification: false,
            spam_action: crate::store::domains::SpamAction::Disabled,
            wildcard: false,
            web_scheme: "https",
            web_prefix: "email",
        };
        let d = app
            .store
            .create_domain(&new, &sealed.row(true, None))
            .await
            .unwrap()
            .unwrap();
        app.store
            .set_dkim_rotation(d.id, true, 5 * 86_400)
            .await
            .unwrap();

        rotation.tick().await.unwrap();
        assert_eq!(
            app.store.dkim_keys(d.id).await.unwrap().len(),
            1,
            "not due yet"
        );

        // The key is now six days old.
        sqlx::query("UPDATE dkim_keys SET created_at = created_at - $1")
            .bind(6 * 86_400 * 1_000_000i64)
            .execute(app.store.writer())
            .await
            .unwrap();
        rotation.tick().await.unwrap();
        let keys = app.store.dkim_keys(d.id).await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].algorithm, "ed25519");
        assert_eq!(keys[1].replaces.as_deref(), Some("k1"));
        assert!(
            keys[0].active && !keys[1].active,
            "k1 signs until the record is published"
        );

        // A second pass does not start another rotation.
        rotation.tick().await.unwrap();
        assert_eq!(app.store.dkim_keys(d.id).await.unwrap().len(), 2);
        app.store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
