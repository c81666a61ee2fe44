//! What `/metrics` reads from the store at each scrape: the queue by
//! destination, each domain's acceptable-use state, the webhook backlog.
//! Read fresh rather than counted in memory, so every node of a cluster
//! reports the shared queue as it is, and a destination that empties stops
//! being reported.

use sqlx::Row;

use super::{Result, Store};

/// Queued recipients of one destination domain.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedFor {
    pub destination: String,
    pub recipients: i64,
    /// Of which leased by a node (being delivered or about to be).
    pub leased: i64,
    /// When the oldest of their messages was accepted (microseconds).
    pub oldest_at: i64,
    /// The soonest next attempt among them (microseconds).
    pub next_attempt_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Destinations, most recipients first.
    pub queue: Vec<QueuedFor>,
    /// (domain, state): "ok", "warning" or "suspended".
    pub reputation: Vec<(String, String)>,
    /// Webhook calls waiting to be made or retried.
    pub webhook_backlog: i64,
}

impl Store {
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let queue = self.queue_by_destination(None).await?;
        let reputation = sqlx::query(
            "SELECT d.name, COALESCE(r.state, 'ok') FROM domains d \
             LEFT JOIN reputation r ON r.domain_id = d.id ORDER BY d.name",
        )
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let webhook_backlog: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_calls")
            .fetch_one(self.reader())
            .await?;
        Ok(Snapshot {
            queue,
            reputation,
            webhook_backlog,
        })
    }
}

impl Store {
    /// The queue by destination domain, most recipients first: all of it,
    /// or the mail of one sending domain (the dashboard's queue page).
    pub async fn queue_by_destination(&self, sender: Option<i64>) -> Result<Vec<QueuedFor>> {
        // The queued rows through `recipients_due` (status first); the join
        // finds each message's acceptance time and sender. COUNT(column)
        // counts the leased ones (SUM would be NUMERIC on PostgreSQL).
        let rows = sqlx::query(
            "SELECT r.domain, COUNT(*), COUNT(r.lease_node), MIN(m.created_at), MIN(r.next_attempt_at) \
             FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE r.status = 'queued' AND ($1 = 0 OR m.domain_id = $1) \
             GROUP BY r.domain ORDER BY 2 DESC, 1",
        )
        .bind(sender.unwrap_or(0))
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|r| QueuedFor {
                destination: r.get(0),
                recipients: r.get(1),
                leased: r.get(2),
                oldest_at: r.get(3),
                next_attempt_at: r.get(4),
            })
            .collect())
    }

    /// Recipients of one sending domain still queued, and when the oldest
    /// of their messages was accepted (the dashboard's overview).
    pub async fn queued_of_domain(&self, domain_id: i64) -> Result<(i64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(m.created_at) FROM recipients r \
             JOIN messages m ON m.id = r.message_id \
             WHERE r.status = 'queued' AND m.domain_id = $1",
        )
        .bind(domain_id)
        .fetch_one(self.reader())
        .await?;
        Ok((row.get(0), row.get(1)))
    }
}
