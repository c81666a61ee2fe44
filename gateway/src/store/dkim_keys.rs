//! Sending domains' DKIM keys: the private half stored sealed.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{flag, now_micros, Result, Store};

/// A DKIM key as stored: the private half still sealed.
#[derive(Debug, Clone)]
pub struct DkimKeyRow {
    pub id: i64,
    pub domain_id: i64,
    pub selector: String,
    pub algorithm: String,
    pub bits: i64,
    pub sealed_private_key: Vec<u8>,
    pub dns_value: String,
    pub active: bool,
    pub created_at: i64,
    /// Set on a key made by a rotation while it waits for its DNS record:
    /// the selector it will replace once published.
    pub replaces: Option<String>,
}

pub struct NewDkimKey<'a> {
    pub selector: &'a str,
    pub algorithm: &'a str,
    pub bits: i64,
    pub sealed_private_key: &'a [u8],
    pub dns_value: &'a str,
    pub active: bool,
    pub replaces: Option<&'a str>,
}

const KEY_COLS: &str = "k.id, k.domain_id, k.selector, k.algorithm, k.bits, k.private_key, \
                        k.dns_value, k.active, k.created_at, k.replaces";

fn key_from(row: &AnyRow) -> DkimKeyRow {
    key_at(row, 0)
}

/// A key whose columns (`KEY_COLS`) start at `at`.
fn key_at(row: &AnyRow, at: usize) -> DkimKeyRow {
    DkimKeyRow {
        id: row.get(at),
        domain_id: row.get(at + 1),
        selector: row.get(at + 2),
        algorithm: row.get(at + 3),
        bits: row.get(at + 4),
        sealed_private_key: row.get(at + 5),
        dns_value: row.get(at + 6),
        active: row.get::<i64, _>(at + 7) != 0,
        created_at: row.get(at + 8),
        replaces: row.get(at + 9),
    }
}

impl Store {
    pub async fn dkim_keys(&self, domain_id: i64) -> Result<Vec<DkimKeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLS} FROM dkim_keys k WHERE domain_id = $1 ORDER BY id"
        ))
        .bind(domain_id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(key_from).collect())
    }
}

pub(crate) async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    domain_id: i64,
    key: &NewDkimKey<'_>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dkim_keys (domain_id, selector, algorithm, bits, private_key, dns_value, active, created_at, replaces) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(domain_id)
    .bind(key.selector)
    .bind(key.algorithm)
    .bind(key.bits)
    .bind(key.sealed_private_key)
    .bind(key.dns_value)
    .bind(flag(key.active))
    .bind(now)
    .bind(key.replaces)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Why a key could not be removed or switched off.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyChange {
    Done,
    NotFound,
    /// It is the domain's last active key.
    LastActive,
}

impl Store {
    /// Adds a key to a domain; `false` when the selector is taken.
    pub async fn add_dkim_key(&self, domain_id: i64, key: &NewDkimKey<'_>) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let taken = sqlx::query("SELECT 1 FROM dkim_keys WHERE domain_id = $1 AND selector = $2")
            .bind(domain_id)
            .bind(key.selector)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        insert_key(&mut tx, domain_id, key, now_micros()).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn active_others(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        domain_id: i64,
        selector: &str,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM dkim_keys WHERE domain_id = $1 AND selector <> $2 AND active = 1",
        )
        .bind(domain_id)
        .bind(selector)
        .fetch_one(&mut **tx)
        .await?;
        Ok(row.get(0))
    }

    /// Switches a key on or off; a domain always keeps one active key.
    pub async fn set_dkim_key_active(
        &self,
        domain_id: i64,
        selector: &str,
        active: bool,
    ) -> Result<KeyChange> {
        let mut tx = self.writer().begin().await?;
        if !active && Self::active_others(&mut tx, domain_id, selector).await? == 0 {
            let exists =
                sqlx::query("SELECT 1 FROM dkim_keys WHERE domain_id = $1 AND selector = $2")
                    .bind(domain_id)
                    .bind(selector)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            return Ok(if exists {
                KeyChange::LastActive
            } else {
                KeyChange::NotFound
            });
        }
        let n =
            sqlx::query("UPDATE dkim_keys SET active = $1 WHERE domain_id = $2 AND selector = $3")
                .bind(flag(active))
                .bind(domain_id)
                .bind(selector)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Ok(KeyChange::NotFound);
        }
        if active {
            // A rotated-in key takes over from the key it replaces, which
            // stays listed (and in DNS) for mail already signed with it.
            let replaces = sqlx::query(
                "SELECT replaces FROM dkim_keys WHERE domain_id = $1 AND selector = $2",
            )
            .bind(domain_id)
            .bind(selector)
            .fetch_one(&mut *tx)
            .await?
            .get::<Option<String>, _>(0);
            if let Some(old) = replaces {
                sqlx::query(
                    "UPDATE dkim_keys SET active = 0 WHERE domain_id = $1 AND selector = $2",
                )
                .bind(domain_id)
                .bind(&old)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE dkim_keys SET replaces = NULL WHERE domain_id = $1 AND selector = $2",
                )
                .bind(domain_id)
                .bind(selector)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE domains SET dkim_selector = $1 WHERE id = $2")
                .bind(selector)
                .bind(domain_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.domain_cache.clear();
        Ok(KeyChange::Done)
    }

    pub async fn delete_dkim_key(&self, domain_id: i64, selector: &str) -> Result<KeyChange> {
        let mut tx = self.writer().begin().await?;
        let row =
            sqlx::query("SELECT active FROM dkim_keys WHERE domain_id = $1 AND selector = $2")
                .bind(domain_id)
                .bind(selector)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Ok(KeyChange::NotFound);
        };
        let active = row.get::<i64, _>(0) != 0;
        if active && Self::active_others(&mut tx, domain_id, selector).await? == 0 {
            return Ok(KeyChange::LastActive);
        }
        sqlx::query("DELETE FROM dkim_keys WHERE domain_id = $1 AND selector = $2")
            .bind(domain_id)
            .bind(selector)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(KeyChange::Done)
    }

    /// Every key with its domain name, optionally filtered.
    pub async fn all_dkim_keys(
        &self,
        domain: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<(String, DkimKeyRow)>> {
        let rows = sqlx::query(&format!(
            "SELECT d.name, {KEY_COLS} FROM dkim_keys k JOIN domains d ON d.id = k.domain_id \
             WHERE ($1 = '' OR d.name = $1) AND ($2 = '' OR k.selector = $2) ORDER BY d.name, k.id",
        ))
        .bind(domain.unwrap_or(""))
        .bind(selector.unwrap_or(""))
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), key_at(r, 1)))
            .collect())
    }
}
