//! The audit trail of key changes: who (which key id), when, which key, never
//! a secret.

use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use super::{now_micros, Result, Store};

/// One change, as recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub domain: Option<String>,
    pub detail: String,
}

/// A change to record.
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    /// The API key id that made the change, or `cli` / `environment`.
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub domain: Option<&'a str>,
    pub detail: &'a str,
}

/// Records `a` on `conn`: inside the transaction of the change it describes,
/// so neither is on disk without the other.
pub async fn record<'c, E>(conn: E, a: &Audit<'_>) -> Result<()>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO audit_events (at, actor, action, target, domain, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_micros())
    .bind(a.actor)
    .bind(a.action)
    .bind(a.target)
    .bind(a.domain)
    .bind(a.detail)
    .execute(conn)
    .await?;
    Ok(())
}

fn from_row(r: &AnyRow) -> AuditEvent {
    AuditEvent {
        id: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        target: r.get(4),
        domain: r.get(5),
        detail: r.get(6),
    }
}

impl Store {
    /// Records a change made outside any other transaction.
    pub async fn audit(&self, a: &Audit<'_>) -> Result<()> {
        record(self.writer(), a).await
    }

    /// Records a change that is already committed on its own: a failure
    /// to record is logged, not returned, since the change stands.
    pub async fn audit_committed(&self, a: &Audit<'_>) {
        if let Err(e) = self.audit(a).await {
            tracing::error!(error = %e, action = a.action, target = a.target, "could not record an audit event");
        }
    }

    /// Newest first, `limit` at most, older than the event `before` when given.
    pub async fn audit_events(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, domain, detail FROM audit_events \
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(from_row).collect())
    }
}
