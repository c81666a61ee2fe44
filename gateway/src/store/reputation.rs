//! What the acceptable-use rates are computed from, and each domain's stored
//! state. A suspended domain's queued recipients are `held` until it is
//! reinstated.

use policy::reputation::Counts;
use sqlx::Row;

use super::events::{insert_event, NewEvent};
use super::{now_micros, Result, Store};

/// A domain's stored state; `reason` is JSON, empty when `ok`.
#[derive(Debug, Clone, Default)]
pub struct StoredState {
    pub state: String,
    pub reason: String,
    pub changed_at: Option<i64>,
    pub reinstated_at: Option<i64>,
}

impl Store {
    /// Outcomes of the domain's mail since `since` (microseconds).
    pub async fn reputation_counts(&self, domain_id: i64, since: i64) -> Result<Counts> {
        // Each count is a range of the covering index `events_rates`.
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM events WHERE domain_id = $1 AND event = 'delivered' \
                 AND severity IS NULL AND ts >= $2), \
               (SELECT COUNT(*) FROM events WHERE domain_id = $1 AND event = 'failed' \
                 AND severity = 'permanent' AND ts >= $2 AND reason NOT LIKE 'suppress-%'), \
               (SELECT COUNT(*) FROM events WHERE domain_id = $1 AND event = 'failed' \
                 AND severity = 'permanent' AND ts >= $2 AND reason = 'bounce'), \
               (SELECT COUNT(*) FROM events WHERE domain_id = $1 AND event = 'complained' \
                 AND severity IS NULL AND ts >= $2), \
               (SELECT COUNT(*) FROM events WHERE domain_id = $1 AND event = 'unsubscribed' \
                 AND severity IS NULL AND ts >= $2)",
        )
        .bind(domain_id)
        .bind(since)
        .fetch_one(self.reader())
        .await?;
        let n = |i: usize| row.get::<i64, _>(i).max(0) as u64;
        Ok(Counts {
            delivered: n(0),
            failed_permanently: n(1),
            hard_bounces: n(2),
            complaints: n(3),
            unsubscribes: n(4),
        })
    }

    /// Domains with events past event row `after`, or every domain when
    /// `after` is `None` (taking over); and the newest row seen: what the one
    /// node assessing reputation looks at, whichever node recorded the
    /// outcomes. (On PostgreSQL a row committed late below the cursor is
    /// missed; its domain is seen at its next event.)
    pub async fn domains_with_events_after(&self, after: Option<i64>) -> Result<(Vec<i64>, i64)> {
        let newest: Option<i64> = sqlx::query("SELECT MAX(id) FROM events")
            .fetch_one(self.reader())
            .await?
            .get(0);
        let newest = newest.unwrap_or(0);
        let rows = match after {
            None => {
                sqlx::query("SELECT id FROM domains")
                    .fetch_all(self.reader())
                    .await?
            }
            Some(after) if newest <= after => return Ok((Vec::new(), after)),
            Some(after) => {
                sqlx::query("SELECT DISTINCT domain_id FROM events WHERE id > $1 AND id <= $2")
                    .bind(after)
                    .bind(newest)
                    .fetch_all(self.reader())
                    .await?
            }
        };
        Ok((rows.iter().map(|r| r.get(0)).collect(), newest))
    }

    pub async fn reputation_state(&self, domain_id: i64) -> Result<StoredState> {
        let row = sqlx::query(
            "SELECT state, reason, changed_at, reinstated_at FROM reputation WHERE domain_id = $1",
        )
        .bind(domain_id)
        .fetch_optional(self.reader())
        .await?;
        Ok(match row {
            None => StoredState {
                state: "ok".into(),
                ..StoredState::default()
            },
            Some(r) => StoredState {
                state: r.get(0),
                reason: r.get(1),
                changed_at: r.get(2),
                reinstated_at: r.get(3),
            },
        })
    }

    /// Stores a new state, with the `warning` event that tells of it when
    /// it got worse. Suspending holds the domain's queued recipients.
    pub async fn set_reputation_state(
        &self,
        domain_id: i64,
        state: &str,
        reason: &str,
        event: Option<&NewEvent>,
    ) -> Result<()> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        if let Some(e) = event {
            insert_event(&mut tx, domain_id, e).await?;
        }
        sqlx::query(
            "INSERT INTO reputation (domain_id, state, reason, changed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (domain_id) DO UPDATE SET state = $2, reason = $3, changed_at = $4",
        )
        .bind(domain_id)
        .bind(state)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if state == "suspended" {
            sqlx::query(
                "UPDATE recipients SET status = 'held', updated_at = $2 \
                 WHERE status = 'queued' AND message_id IN (SELECT id FROM messages WHERE domain_id = $1)",
            )
            .bind(domain_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Lifts a suspension: state `ok`, rates counted afresh from now, held
    /// recipients due at once (or when scheduled). How many were released.
    pub async fn reinstate(&self, domain_id: i64) -> Result<u64> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO reputation (domain_id, state, reason, changed_at, reinstated_at) VALUES ($1, 'ok', '', $2, $2) \
             ON CONFLICT (domain_id) DO UPDATE SET state = 'ok', reason = '', changed_at = $2, reinstated_at = $2",
        )
        .bind(domain_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(
            "UPDATE recipients SET status = 'queued', updated_at = $2, \
             next_attempt_at = CASE WHEN next_attempt_at < $2 THEN $2 ELSE next_attempt_at END \
             WHERE status = 'held' AND message_id IN (SELECT id FROM messages WHERE domain_id = $1)",
        )
        .bind(domain_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}
