//! The delivery queue: leasing due recipients and recording what happened.
//!
//! A lease is a time, not a lock: a worker that dies (kill -9) leaves leases
//! that simply expire, and the recipients are picked up again. Leasing and
//! recording are each one transaction for a whole batch.

use std::collections::HashMap;

use sqlx::Row;

use super::domains::Domain;
use super::events::{insert_events_of, NewEvent};
use super::messages::{message_from, StoredMessage, MSG_COLS};
use super::relaxed::RelaxedTx;
use super::{placeholders, Backend, Result, Store};

/// A recipient leased for one delivery attempt.
#[derive(Debug, Clone)]
pub struct LeasedRecipient {
    pub id: i64,
    pub message_id: i64,
    pub address: String,
    pub domain: String,
    pub attempts: i64,
}

/// A message to deliver, with its domain.
#[derive(Debug, Clone)]
pub struct DeliveryMessage {
    pub msg: StoredMessage,
    pub domain: Domain,
}

/// What became of a leased recipient.
#[derive(Debug, Clone)]
pub enum RecipientUpdate {
    Delivered,
    Failed,
    /// Try again at this time (microseconds).
    Retry {
        at: i64,
    },
    /// Not attempted (shutdown, per-destination limit): back to the queue as is.
    Release,
    /// Only an event (and maybe a suppression) about the recipient: a late
    /// report must not touch its status or a lease a delivery may hold.
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Suppression {
    pub kind: policy::suppression::List,
    pub address: String,
    pub code: String,
    pub error: String,
}

pub struct Outcome {
    pub recipient_id: i64,
    pub domain_id: i64,
    pub update: RecipientUpdate,
    /// Whether this was an attempt (counts towards `attempts`).
    pub attempted: bool,
    pub event: Option<NewEvent>,
    pub suppress: Option<Suppression>,
}

impl Store {
    /// Leases up to `limit` due recipients until `lease_until` (microseconds),
    /// oldest first, and stops once their messages add up to `max_bytes`
    /// (counted once per recipient; the first is always taken), so that a
    /// queue of big messages is never loaded into memory all at once.
    pub async fn lease_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
        max_bytes: i64,
    ) -> Result<Vec<LeasedRecipient>> {
        // Several nodes on PostgreSQL: skip rows another node is leasing.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE recipients SET lease_until = $1 WHERE id IN (\
               SELECT id FROM (\
                 SELECT c.id, SUM(m.size) OVER (ORDER BY c.next_attempt_at, c.id) - m.size AS bytes_ahead \
                 FROM (SELECT id, message_id, next_attempt_at FROM recipients \
                       WHERE status = 'queued' AND next_attempt_at <= $2 \
                       AND (lease_until IS NULL OR lease_until < $2) \
                       ORDER BY next_attempt_at LIMIT $3{lock}) c \
                 JOIN messages m ON m.id = c.message_id) w \
               WHERE bytes_ahead < $4) \
             RETURNING id, message_id, address, domain, attempts"
        );
        // A lease lost to a power cut is only a lease never taken.
        let mut tx = RelaxedTx::begin(self).await?;
        let rows = sqlx::query(&sql)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .bind(max_bytes)
            .fetch_all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows
            .iter()
            .map(|r| LeasedRecipient {
                id: r.get(0),
                message_id: r.get(1),
                address: r.get(2),
                domain: r.get(3),
                attempts: r.get(4),
            })
            .collect())
    }

    /// The messages (and their domains) of leased recipients, by message id.
    pub async fn messages_for_delivery(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, DeliveryMessage>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(200) {
            let sql = format!(
                "SELECT {MSG_COLS} FROM messages WHERE id IN ({})",
                placeholders(chunk.len(), 1, 1)
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(self.reader()).await? {
                let msg = message_from(&row)?;
                // Cached (`domain_by_id`). A deleted domain takes its
                // messages with it (ON DELETE CASCADE).
                let Some(domain) = self.domain_by_id(msg.domain_id).await? else {
                    continue;
                };
                out.insert(msg.id, DeliveryMessage { msg, domain });
            }
        }
        Ok(out)
    }

    /// Records a batch of outcomes, their events and suppressions in one
    /// transaction.
    pub async fn record_outcomes(&self, outcomes: &[Outcome]) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let now = super::now_micros();
        // Lost to a power cut, an outcome means a second delivery: no flush.
        let mut tx = RelaxedTx::begin(self).await?;
        // Final outcomes (the usual case) are one UPDATE per status, not
        // one per recipient.
        let mut finals: HashMap<(&str, i64), Vec<i64>> = HashMap::new();
        for o in outcomes {
            let inc = o.attempted as i64;
            let q = match &o.update {
                RecipientUpdate::Unchanged => None,
                RecipientUpdate::Delivered => {
                    finals.entry(("delivered", inc)).or_default().push(o.recipient_id);
                    None
                }
                RecipientUpdate::Failed => {
                    finals.entry(("failed", inc)).or_default().push(o.recipient_id);
                    None
                }
                RecipientUpdate::Retry { at } => Some(
                    sqlx::query(
                        "UPDATE recipients SET next_attempt_at = $1, attempts = attempts + $2, lease_until = NULL, updated_at = $3 WHERE id = $4",
                    )
                    .bind(*at)
                    .bind(inc)
                    .bind(now)
                    .bind(o.recipient_id),
                ),
                RecipientUpdate::Release => Some(
                    sqlx::query(
                        "UPDATE recipients SET lease_until = NULL, attempts = attempts + $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(inc)
                    .bind(now)
                    .bind(o.recipient_id),
                ),
            };
            if let Some(q) = q {
                q.execute(tx.conn()).await?;
            }
            if let Some(s) = &o.suppress {
                sqlx::query(
                    "INSERT INTO suppressions (domain_id, kind, address, code, error, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (domain_id, kind, address) DO UPDATE SET code = $4, error = $5, created_at = $6",
                )
                .bind(o.domain_id)
                .bind(s.kind.as_str())
                .bind(s.address.to_ascii_lowercase())
                .bind(&s.code)
                .bind(&s.error)
                .bind(now)
                .execute(tx.conn())
                .await?;
            }
        }
        for ((status, inc), ids) in &finals {
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "UPDATE recipients SET status = $1, attempts = attempts + $2, lease_until = NULL, updated_at = $3 \
                     WHERE id IN ({})",
                    placeholders(chunk.len(), 1, 4)
                );
                let mut q = sqlx::query(&sql).bind(*status).bind(*inc).bind(now);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(tx.conn()).await?;
            }
        }
        let events: Vec<(i64, &NewEvent)> = outcomes
            .iter()
            .filter_map(|o| o.event.as_ref().map(|e| (o.domain_id, e)))
            .collect();
        insert_events_of(tx.conn(), &events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Hands back every lease: on a single node (SQLite) at startup, any
    /// lease is a leftover of a process that died mid-delivery.
    pub async fn release_all_leases(&self) -> Result<u64> {
        let r = sqlx::query("UPDATE recipients SET lease_until = NULL WHERE status = 'queued' AND lease_until IS NOT NULL")
            .execute(self.writer())
            .await?;
        Ok(r.rows_affected())
    }

    /// Due or leased recipients left (for tests, logs and shutdown).
    pub async fn queued_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM recipients WHERE status = 'queued'")
            .fetch_one(self.reader())
            .await?;
        Ok(row.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated store with one domain and `sizes.len()` messages, one due
    /// recipient each, oldest first.
    async fn queue_of(sizes: &[i64]) -> (Store, std::path::PathBuf) {
        let (store, dir) = crate::store::temp_sqlite("queue").await;
        store.migrate().await.unwrap();
        sqlx::query(
            "INSERT INTO domains (id, name, dkim_selector, created_at) VALUES (1, 'q.test', 's', 0)",
        )
        .execute(store.writer())
        .await
        .unwrap();
        for (i, size) in sizes.iter().enumerate() {
            let i = i as i64 + 1;
            sqlx::query(
                "INSERT INTO messages (id, domain_id, storage_key, message_id, sender, body, size, options, method, created_at) \
                 VALUES ($1, 1, $2, $2, 'a@q.test', x'00', $3, '{}', 'http', 0)",
            )
            .bind(i)
            .bind(format!("k{i}"))
            .bind(*size)
            .execute(store.writer())
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, updated_at) \
                 VALUES ($1, $2, 'dest.test', 'queued', $1, 0)",
            )
            .bind(i)
            .bind(format!("r{i}@dest.test"))
            .execute(store.writer())
            .await
            .unwrap();
        }
        (store, dir)
    }

    fn ids(leased: &[LeasedRecipient]) -> Vec<i64> {
        leased.iter().map(|r| r.message_id).collect()
    }

    #[tokio::test]
    async fn a_lease_stops_at_its_byte_budget_oldest_first() {
        let (store, dir) = queue_of(&[1000, 1000, 1000, 1000, 1000]).await;
        // 0, 1000 and 2000 bytes are ahead of the first three: under 2500.
        let first = store.lease_due(100, 1_000, 500, 2500).await.unwrap();
        assert_eq!(ids(&first), [1, 2, 3]);
        let rest = store.lease_due(100, 1_000, 500, 1 << 30).await.unwrap();
        assert_eq!(ids(&rest), [4, 5], "the leased ones are not leased again");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_message_bigger_than_the_budget_is_still_leased_alone() {
        let (store, dir) = queue_of(&[50_000_000, 10]).await;
        let first = store.lease_due(100, 1_000, 500, 1024).await.unwrap();
        assert_eq!(ids(&first), [1]);
        let next = store.lease_due(100, 1_000, 500, 1024).await.unwrap();
        assert_eq!(ids(&next), [2]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
