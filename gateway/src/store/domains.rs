//! Sending domains and their DKIM keys.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::cache::Cache;
use policy::sender::FromPolicy;

use super::dkim_keys::insert_key;
pub use super::dkim_keys::{DkimKeyRow, KeyChange, NewDkimKey};
pub use super::domain_settings::{DomainState, SpamAction};
use super::{flag, now_micros, Result, Store, StoreError};

#[derive(Debug, Clone)]
pub struct Domain {
    pub id: i64,
    pub name: String,
    pub state: DomainState,
    pub require_tls: bool,
    pub skip_verification: bool,
    pub spam_action: SpamAction,
    pub wildcard: bool,
    pub web_scheme: String,
    pub web_prefix: String,
    pub dkim_selector: String,
    pub created_at: i64,
    /// Automatic DKIM rotation: on, and how often (seconds).
    pub dkim_rotation_enabled: bool,
    pub dkim_rotation_interval: i64,
    /// Who its mail may say it is from.
    pub from_policy: FromPolicy,
    /// The MX of `bounce.{name}` is envoi (last verify): the return path
    /// goes there, in the domain, so SPF aligns.
    pub return_path_mx: bool,
}

/// What a new domain starts with.
pub struct NewDomain<'a> {
    pub name: &'a str,
    pub require_tls: bool,
    pub skip_verification: bool,
    pub spam_action: SpamAction,
    pub wildcard: bool,
    pub web_scheme: &'a str,
    pub web_prefix: &'a str,
}

/// The editable settings of `PUT /v4/domains/{name}` and `/connection`.
#[derive(Debug, Default, Clone)]
pub struct DomainUpdate {
    pub require_tls: Option<bool>,
    pub skip_verification: Option<bool>,
    pub spam_action: Option<SpamAction>,
    pub wildcard: Option<bool>,
    pub web_scheme: Option<String>,
    pub web_prefix: Option<String>,
    pub from_policy: Option<FromPolicy>,
}

pub(crate) const DOMAIN_COLS: &str =
    "id, name, state, require_tls, skip_verification, spam_action, wildcard, \
                           web_scheme, web_prefix, dkim_selector, created_at, \
                           dkim_rotation_enabled, dkim_rotation_interval, from_policy, \
                           return_path_mx";
/// A domain row; a setting that does not parse is `Corrupt`, never a default.
pub(crate) fn domain_from(row: &AnyRow) -> Result<Domain> {
    let name: String = row.get(1);
    let corrupt = |field: &str, e: String| {
        StoreError::Corrupt(format!("domains row {name:?}, field {field}: {e}"))
    };
    let parsed = |field: &str, at: usize| {
        row.try_get::<String, _>(at)
            .map_err(|e| corrupt(field, e.to_string()))
    };
    let state = parsed("state", 2)?
        .parse()
        .map_err(|e: policy::events::Unknown| corrupt("state", e.to_string()))?;
    let spam_action = parsed("spam_action", 5)?
        .parse()
        .map_err(|e: policy::events::Unknown| corrupt("spam_action", e.to_string()))?;
    let from_policy = parsed("from_policy", 13)?
        .parse()
        .map_err(|e: policy::sender::UnknownPolicy| corrupt("from_policy", e.to_string()))?;
    Ok(Domain {
        id: row.get(0),
        name,
        state,
        require_tls: row.get::<i64, _>(3) != 0,
        skip_verification: row.get::<i64, _>(4) != 0,
        spam_action,
        wildcard: row.get::<i64, _>(6) != 0,
        web_scheme: row.get(7),
        web_prefix: row.get(8),
        dkim_selector: row.get(9),
        created_at: row.get(10),
        dkim_rotation_enabled: row.get::<i64, _>(11) != 0,
        dkim_rotation_interval: row.get(12),
        from_policy,
        return_path_mx: row.get::<i64, _>(14) != 0,
    })
}

/// Domains recently read, by name and by id (`super::cache`).
#[derive(Default)]
pub struct DomainCache {
    by_name: Cache<String, Domain>,
    by_id: Cache<i64, Domain>,
}

impl DomainCache {
    fn generation(&self) -> (u64, u64) {
        (self.by_name.generation(), self.by_id.generation())
    }

    fn keep(&self, (name_gen, id_gen): (u64, u64), d: &Domain) {
        self.by_name.keep(name_gen, d.name.clone(), d.clone());
        self.by_id.keep(id_gen, d.id, d.clone());
    }

    pub(super) fn clear(&self) {
        self.by_name.clear();
        self.by_id.clear();
    }
}

impl Store {
    /// Create a domain and its first DKIM key in one transaction. Returns
    /// `None` when the name is taken.
    pub async fn create_domain(
        &self,
        d: &NewDomain<'_>,
        key: &NewDkimKey<'_>,
    ) -> Result<Option<Domain>> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO domains (name, require_tls, skip_verification, spam_action, wildcard, web_scheme, \
             web_prefix, dkim_selector, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (name) DO NOTHING RETURNING {DOMAIN_COLS}"
        ))
        .bind(d.name)
        .bind(flag(d.require_tls))
        .bind(flag(d.skip_verification))
        .bind(d.spam_action.as_str())
        .bind(flag(d.wildcard))
        .bind(d.web_scheme)
        .bind(d.web_prefix)
        .bind(key.selector)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            return Ok(None);
        };
        let domain = domain_from(&row)?;
        insert_key(&mut tx, domain.id, key, now).await?;
        tx.commit().await?;
        self.domain_cache.clear();
        Ok(Some(domain))
    }

    /// The domain named `name`, from the cache when it was read within
    /// `cache::TTL` (every accept and delivery batch asks).
    pub async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        if let Some(d) = self.domain_cache.by_name.get(name) {
            return Ok(Some(d));
        }
        let sql = format!("SELECT {DOMAIN_COLS} FROM domains WHERE name = $1");
        self.read_domain(sqlx::query(&sql).bind(name)).await
    }

    /// The domain with id `id`, cached like `domain`.
    pub async fn domain_by_id(&self, id: i64) -> Result<Option<Domain>> {
        if let Some(d) = self.domain_cache.by_id.get(&id) {
            return Ok(Some(d));
        }
        let sql = format!("SELECT {DOMAIN_COLS} FROM domains WHERE id = $1");
        self.read_domain(sqlx::query(&sql).bind(id)).await
    }

    /// Runs a query for one domain row and keeps what it finds.
    async fn read_domain<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Option<Domain>> {
        // Taken before the read: a write meanwhile keeps it out of the cache.
        let generation = self.domain_cache.generation();
        let domain = query
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(domain_from)
            .transpose()?;
        if let Some(d) = &domain {
            self.domain_cache.keep(generation, d);
        }
        Ok(domain)
    }

    /// The most specific registered domain that `domain` is within (itself
    /// or a parent), through the domain cache: who owns a From address.
    pub async fn registered_owner(&self, domain: &str) -> Result<Option<String>> {
        Ok(self.registered_domain(domain).await?.map(|d| d.name))
    }

    /// The registered domain `domain` is, or is under (the closest).
    pub async fn registered_domain(&self, domain: &str) -> Result<Option<Domain>> {
        for candidate in policy::sender::owner_candidates(domain) {
            if let Some(d) = self.domain(&candidate).await? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    pub async fn domain_name(&self, id: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT name FROM domains WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn domains(
        &self,
        limit: i64,
        skip: i64,
        state: Option<&str>,
    ) -> Result<(Vec<Domain>, i64)> {
        let state = state.unwrap_or("");
        let rows = sqlx::query(&format!(
            "SELECT {DOMAIN_COLS} FROM domains WHERE ($1 = '' OR state = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(state)
        .bind(limit)
        .bind(skip)
        .fetch_all(self.reader())
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM domains WHERE ($1 = '' OR state = $1)")
            .bind(state)
            .fetch_one(self.reader())
            .await?
            .get(0);
        let domains = rows.iter().map(domain_from).collect::<Result<_>>()?;
        Ok((domains, total))
    }

    pub async fn update_domain(&self, name: &str, u: &DomainUpdate) -> Result<Option<Domain>> {
        let row = sqlx::query(&format!(
            "UPDATE domains SET \
               require_tls = COALESCE($2, require_tls), \
               skip_verification = COALESCE($3, skip_verification), \
               spam_action = COALESCE($4, spam_action), \
               wildcard = COALESCE($5, wildcard), \
               web_scheme = COALESCE($6, web_scheme), \
               web_prefix = COALESCE($7, web_prefix), \
               from_policy = COALESCE($8, from_policy) \
             WHERE name = $1 RETURNING {DOMAIN_COLS}"
        ))
        .bind(name)
        .bind(u.require_tls.map(flag))
        .bind(u.skip_verification.map(flag))
        .bind(u.spam_action.map(SpamAction::as_str))
        .bind(u.wildcard.map(flag))
        .bind(u.web_scheme.as_deref())
        .bind(u.web_prefix.as_deref())
        .bind(u.from_policy.map(FromPolicy::as_str))
        .fetch_optional(self.writer())
        .await?;
        self.domain_cache.clear();
        row.as_ref().map(domain_from).transpose()
    }

    /// Turns automatic DKIM rotation on or off.
    pub async fn set_dkim_rotation(
        &self,
        domain_id: i64,
        enabled: bool,
        interval_secs: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE domains SET dkim_rotation_enabled = $1, dkim_rotation_interval = $2 WHERE id = $3",
        )
        .bind(flag(enabled))
        .bind(interval_secs)
        .bind(domain_id)
        .execute(self.writer())
        .await?;
        self.domain_cache.clear();
        Ok(())
    }

    /// Domains automatic rotation must look at: rotation on, or a rotated
    /// key still waiting for its DNS record.
    pub async fn rotation_domains(&self) -> Result<Vec<Domain>> {
        let rows = sqlx::query(&format!(
            "SELECT {DOMAIN_COLS} FROM domains WHERE dkim_rotation_enabled = 1 \
             OR EXISTS (SELECT 1 FROM dkim_keys k WHERE k.domain_id = domains.id AND k.replaces IS NOT NULL) \
             ORDER BY id"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(domain_from).collect()
    }

    pub async fn set_domain_state(&self, id: i64, state: &str) -> Result<()> {
        sqlx::query("UPDATE domains SET state = $2 WHERE id = $1")
            .bind(id)
            .bind(state)
            .execute(self.writer())
            .await?;
        self.domain_cache.clear();
        Ok(())
    }

    /// Records whether `bounce.{domain}` has its MX at envoi (verify).
    pub async fn set_return_path_mx(&self, id: i64, at_envoi: bool) -> Result<()> {
        sqlx::query("UPDATE domains SET return_path_mx = $2 WHERE id = $1")
            .bind(id)
            .bind(at_envoi as i64)
            .execute(self.writer())
            .await?;
        self.domain_cache.clear();
        Ok(())
    }

    /// Delete a domain with everything that hangs off it. Returns false when unknown.
    pub async fn delete_domain(&self, name: &str) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let Some(row) = sqlx::query("SELECT id FROM domains WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        let id: i64 = row.get(0);
        // Explicit deletes: the same on both backends, whatever the FK settings.
        for sql in [
            "DELETE FROM recipients WHERE message_id IN (SELECT id FROM messages WHERE domain_id = $1)",
            "DELETE FROM messages WHERE domain_id = $1",
            "DELETE FROM events WHERE domain_id = $1",
            "DELETE FROM dkim_keys WHERE domain_id = $1",
            "DELETE FROM smtp_credentials WHERE domain_id = $1",
            "DELETE FROM ip_allowlist WHERE domain_id = $1",
            "DELETE FROM webhooks WHERE domain_id = $1",
            "DELETE FROM webhook_calls WHERE domain_id = $1",
            "DELETE FROM domains WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM api_keys WHERE domain_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.domain_cache.clear();
        self.key_cache.clear();
        Ok(true)
    }
}
