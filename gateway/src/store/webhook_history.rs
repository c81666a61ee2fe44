//! What the dashboard shows of webhook calls: those still to make, and
//! those over (kept as long as the events), which an operator may replay.

use sqlx::Row;

use super::{now_micros, Store, StoreError};

// Not `Result`: `named_values!` spells out `Result` for `FromStr`.
type StoreResult<T> = super::Result<T>;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// It answered 406: Mailgun's "do not retry".
    Refused,
    /// Every retry failed.
    GivenUp,
    /// The event was pruned before the call could be made.
    EventGone,
}

policy::named_values!(CallOutcome, "one of delivered, refused, given_up or event_gone", {
    Delivered => "delivered",
    Refused => "refused",
    GivenUp => "given_up",
    EventGone => "event_gone",
});

/// A webhook call not made yet, or being retried.
#[derive(Debug, Clone)]
pub struct PendingCall {
    pub kind: String,
    pub url: String,
    pub attempts: i64,
    /// When it is due (or when a node's lease on it ends).
    pub next_at: i64,
    /// What the last attempt met, empty before the first.
    pub last_error: String,
}

/// A call that is over.
#[derive(Debug, Clone)]
pub struct FinishedCall {
    pub id: i64,
    pub kind: String,
    pub url: String,
    pub outcome: CallOutcome,
    pub attempts: i64,
    pub answer: String,
    pub finished_at: i64,
    /// The event's own id (`event-data.id`), while the event is kept.
    pub event_id: Option<String>,
}

impl Store {
    /// The calls of a domain still to make, soonest first, at most `limit`
    /// (the dashboard's webhooks page).
    pub async fn pending_webhook_calls(
        &self,
        domain_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<PendingCall>> {
        let rows = sqlx::query(
            "SELECT kind, url, attempts, next_at, last_error FROM webhook_calls \
             WHERE domain_id = $1 ORDER BY next_at LIMIT $2",
        )
        .bind(domain_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|r| PendingCall {
                kind: r.get(0),
                url: r.get(1),
                attempts: r.get(2),
                next_at: r.get(3),
                last_error: r.get(4),
            })
            .collect())
    }

    /// The calls of a domain that are over, newest first, at most `limit`.
    pub async fn finished_webhook_calls(
        &self,
        domain_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<FinishedCall>> {
        let rows = sqlx::query(
            "SELECT h.id, h.kind, h.url, h.outcome, h.attempts, h.answer, h.finished_at, e.event_id \
             FROM webhook_history h LEFT JOIN events e ON e.id = h.event_row \
             WHERE h.domain_id = $1 ORDER BY h.finished_at DESC, h.id DESC LIMIT $2",
        )
        .bind(domain_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let outcome: String = r.get(3);
                Ok(FinishedCall {
                    id: r.get(0),
                    kind: r.get(1),
                    url: r.get(2),
                    outcome: outcome
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("webhook_history: {e}")))?,
                    attempts: r.get(4),
                    answer: r.get(5),
                    finished_at: r.get(6),
                    event_id: r.get(7),
                })
            })
            .collect()
    }

    /// Makes a finished call of `domain_id` again, now, to the same URL
    /// with the same event (signed afresh when made). `false` when there is
    /// no such call or its event is gone.
    pub async fn replay_webhook_call(&self, domain_id: i64, id: i64) -> StoreResult<bool> {
        let n = sqlx::query(
            "INSERT INTO webhook_calls (domain_id, kind, url, event_row, attempts, next_at) \
             SELECT h.domain_id, h.kind, h.url, h.event_row, 0, $3 FROM webhook_history h \
             WHERE h.id = $1 AND h.domain_id = $2 AND EXISTS (SELECT 1 FROM events e WHERE e.id = h.event_row)",
        )
        .bind(id)
        .bind(domain_id)
        .bind(now_micros())
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
