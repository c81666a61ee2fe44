//! API keys: the admin (account) key and per-domain sending keys. Only a hash
//! of each secret is stored.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, Audit};
use super::{now_micros, Result, Store, StoreError};

/// What a key may do, from its stored role, kind and domain together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    /// The account key, or another `admin` key: everything.
    Account,
    /// A domain's sending key: send for that domain only.
    Sending { domain: String },
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    /// Checked when read: a row whose role, kind and domain do not make a
    /// scope is `Corrupt`, never an account key.
    pub scope: KeyScope,
    pub secret_hash: Vec<u8>,
    pub role: String,
    pub kind: String,
    pub domain_name: Option<String>,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// The secret replaced by the last rotation, and until when it works.
    pub previous_hash: Option<Vec<u8>>,
    pub previous_valid_until: Option<i64>,
    pub rotated_at: Option<i64>,
}

impl ApiKey {
    pub fn lifetime(&self) -> policy::secrets::Lifetime {
        policy::secrets::Lifetime {
            expires_at: self.expires_at,
            previous_valid_until: self.previous_valid_until,
        }
    }
}

pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub secret_hash: &'a [u8],
    pub role: &'a str,
    pub kind: &'a str,
    pub domain_name: Option<&'a str>,
    pub description: &'a str,
    pub expires_at: Option<i64>,
}

const COLS: &str =
    "id, secret_hash, role, kind, domain_name, description, created_at, updated_at, \
                    expires_at, last_used_at, previous_hash, previous_valid_until, rotated_at";

fn key_from(row: &AnyRow) -> Result<ApiKey> {
    let id: String = row.get(0);
    let (role, kind, domain): (String, String, Option<String>) =
        (row.get(2), row.get(3), row.get(4));
    let scope = match (role.as_str(), kind.as_str(), &domain) {
        ("admin", "user", None) => KeyScope::Account,
        ("sending", "domain", Some(d)) if !d.is_empty() => KeyScope::Sending { domain: d.clone() },
        _ => {
            return Err(StoreError::Corrupt(format!(
                "api_keys row {id}, fields role/kind/domain_name: {role:?}/{kind:?}/{domain:?} is neither an account key nor a domain's sending key"
            )))
        }
    };
    Ok(ApiKey {
        scope,
        id,
        secret_hash: row.get(1),
        role: row.get(2),
        kind: row.get(3),
        domain_name: row.get(4),
        description: row.get(5),
        created_at: row.get(6),
        updated_at: row.get(7),
        expires_at: row.get(8),
        last_used_at: row.get(9),
        previous_hash: row.get(10),
        previous_valid_until: row.get(11),
        rotated_at: row.get(12),
    })
}

impl Store {
    pub async fn insert_api_key(&self, k: &NewApiKey<'_>, audit: &Audit<'_>) -> Result<ApiKey> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO api_keys (id, secret_hash, role, kind, domain_name, description, created_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING {COLS}"
        ))
        .bind(k.id)
        .bind(k.secret_hash)
        .bind(k.role)
        .bind(k.kind)
        .bind(k.domain_name)
        .bind(k.description)
        .bind(now)
        .bind(k.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        audit::record(&mut *tx, audit).await?;
        tx.commit().await?;
        self.key_cache.clear();
        key_from(&row)
    }

    /// Replace the stored hash of a key (the admin key set from the
    /// environment or generated at first start); any rotated-away secret is
    /// forgotten.
    pub async fn upsert_api_key_hash(&self, k: &NewApiKey<'_>, audit: &Audit<'_>) -> Result<()> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, secret_hash, role, kind, domain_name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash, updated_at = excluded.updated_at, \
             previous_hash = NULL, previous_valid_until = NULL",
        )
        .bind(k.id)
        .bind(k.secret_hash)
        .bind(k.role)
        .bind(k.kind)
        .bind(k.domain_name)
        .bind(k.description)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::record(&mut *tx, audit).await?;
        tx.commit().await?;
        self.key_cache.clear();
        Ok(())
    }

    /// Gives key `id` a new secret; the one it had keeps working until
    /// `previous_valid_until`. A secret rotated away earlier is forgotten.
    pub async fn rotate_api_key(
        &self,
        id: &str,
        new_hash: &[u8],
        previous_valid_until: i64,
        audit: &Audit<'_>,
    ) -> Result<Option<ApiKey>> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE api_keys SET previous_hash = secret_hash, previous_valid_until = $2, rotated_at = $3, \
             secret_hash = $4, updated_at = $3 WHERE id = $1 RETURNING {COLS}"
        ))
        .bind(id)
        .bind(previous_valid_until)
        .bind(now)
        .bind(new_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let key = row.as_ref().map(key_from).transpose()?;
        if let Some(k) = &key {
            let audit = Audit {
                domain: k.domain_name.as_deref(),
                ..*audit
            };
            audit::record(&mut *tx, &audit).await?;
        }
        tx.commit().await?;
        self.key_cache.clear();
        Ok(key)
    }

    /// Key `id`, cached for `cache::TTL`: every request asks.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        if let Some(k) = self.key_cache.get(id) {
            return Ok(Some(k));
        }
        let generation = self.key_cache.generation();
        let row = sqlx::query(&format!("SELECT {COLS} FROM api_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        let key = row.as_ref().map(key_from).transpose()?;
        if let Some(k) = &key {
            self.key_cache.keep(generation, k.id.clone(), k.clone());
        }
        Ok(key)
    }

    pub async fn api_keys(
        &self,
        domain_name: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM api_keys WHERE ($1 = '' OR domain_name = $1) AND ($2 = '' OR kind = $2) \
             ORDER BY created_at, id"
        ))
        .bind(domain_name.unwrap_or(""))
        .bind(kind.unwrap_or(""))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(key_from).collect()
    }

    pub async fn delete_api_key(&self, id: &str, audit: &Audit<'_>) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let gone = sqlx::query("DELETE FROM api_keys WHERE id = $1 RETURNING domain_name")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = &gone {
            let domain: Option<String> = row.get(0);
            let audit = Audit {
                domain: domain.as_deref(),
                ..*audit
            };
            audit::record(&mut *tx, &audit).await?;
        }
        tx.commit().await?;
        self.key_cache.clear();
        Ok(gone.is_some())
    }

    pub async fn touch_api_key(&self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(self.writer())
            .await?;
        self.key_cache.clear();
        Ok(())
    }
}
