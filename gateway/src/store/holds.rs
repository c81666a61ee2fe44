//! Destinations held, and what an operator does to a destination's queue:
//! hold it (nothing is leased for it until released), retry it now (its
//! waiting recipients become due and an unreachable hold is lifted), or
//! lease what waits so it can be dropped (`delivery::drop`).
//!
//! Delivery decides unreachable holds in memory (`delivery::hold`); they
//! are written here so every node's dashboard shows them and "retry now"
//! on any node can lift them.

use sqlx::Row;

use super::queue::{leased_from, Lease, LeasedRecipient};
use super::relaxed::RelaxedTx;
use super::{now_micros, Store, StoreError};

// Not `Result`: `named_values!` spells out `Result` for `FromStr`.
type StoreResult<T> = super::Result<T>;

/// Why a destination is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    /// By an operator, until released.
    Operator,
    /// By delivery: no MX host took a connection lately.
    Unreachable,
}

policy::named_values!(HoldKind, "one of operator or unreachable", {
    Operator => "operator",
    Unreachable => "unreachable",
});

#[derive(Debug, Clone)]
pub struct DestinationHold {
    pub destination: String,
    pub kind: HoldKind,
    pub reason: String,
    /// Microseconds; `None` until released.
    pub until: Option<i64>,
    /// Failures in a row (unreachable holds).
    pub failures: i64,
    pub created_at: i64,
}

/// `AND` the message is `sender`'s, for a query on `recipients` (`$n`; 0: any).
fn of_sender(n: usize) -> String {
    format!(" AND (${n} = 0 OR message_id IN (SELECT id FROM messages WHERE domain_id = ${n}))")
}

impl Store {
    /// The holds in force (operator holds, unreachable ones not yet over),
    /// by destination.
    pub async fn destination_holds(&self) -> StoreResult<Vec<DestinationHold>> {
        let rows = sqlx::query(
            "SELECT destination, kind, reason, held_until, failures, created_at FROM destination_holds \
             WHERE held_until IS NULL OR held_until > $1 ORDER BY destination, kind",
        )
        .bind(now_micros())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get(1);
                Ok(DestinationHold {
                    destination: r.get(0),
                    kind: kind
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("destination_holds: {e}")))?,
                    reason: r.get(2),
                    until: r.get(3),
                    failures: r.get(4),
                    created_at: r.get(5),
                })
            })
            .collect()
    }

    /// Holds `destination` (replacing any hold of the same kind).
    pub async fn hold_destination(
        &self,
        destination: &str,
        kind: HoldKind,
        reason: &str,
        until: Option<i64>,
        failures: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO destination_holds (destination, kind, reason, held_until, failures, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (destination, kind) \
             DO UPDATE SET reason = $3, held_until = $4, failures = $5, created_at = $6",
        )
        .bind(destination)
        .bind(kind.as_str())
        .bind(reason)
        .bind(until)
        .bind(failures)
        .bind(now_micros())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Lifts a hold; whether there was one.
    pub async fn release_destination(
        &self,
        destination: &str,
        kind: HoldKind,
    ) -> StoreResult<bool> {
        let n = sqlx::query("DELETE FROM destination_holds WHERE destination = $1 AND kind = $2")
            .bind(destination)
            .bind(kind.as_str())
            .execute(self.writer())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Whether an unreachable hold on `destination` is still written down
    /// (delivery checks before honouring its own: "retry now" deletes it).
    pub async fn unreachable_hold_stands(&self, destination: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM destination_holds WHERE destination = $1 AND kind = 'unreachable'",
        )
        .bind(destination)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.is_some())
    }

    /// Makes the waiting recipients for `destination` (of `sender` only,
    /// when given) due now and lifts its unreachable hold; how many.
    pub async fn retry_destination_now(
        &self,
        destination: &str,
        sender: Option<i64>,
    ) -> StoreResult<u64> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let n = sqlx::query(&format!(
            "UPDATE recipients SET next_attempt_at = $1 WHERE status = 'queued' AND domain = $2 \
             AND next_attempt_at > $1{}",
            of_sender(3)
        ))
        .bind(now)
        .bind(destination)
        .bind(sender.unwrap_or(0))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM destination_holds WHERE destination = $1 AND kind = 'unreachable'",
        )
        .bind(destination)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Leases to `lease` every recipient waiting for `destination` (any,
    /// when `None`) of `sender` (any, when `None`) that no node is
    /// delivering: those are left to finish.
    pub async fn lease_destination(
        &self,
        lease: Lease,
        destination: Option<&str>,
        sender: Option<i64>,
        timeout_micros: i64,
    ) -> StoreResult<Vec<LeasedRecipient>> {
        let now = now_micros();
        let sql = format!(
            "UPDATE recipients SET lease_node = $1, lease_token = $2 \
             WHERE status = 'queued' AND ($5 = '' OR domain = $5) AND {free}{sender} \
             RETURNING id, message_id, address, domain, attempts",
            free = self.lease_is_free(4, 3),
            sender = of_sender(6),
        );
        let mut tx = RelaxedTx::begin(self).await?;
        let rows = sqlx::query(&sql)
            .bind(lease.node)
            .bind(lease.token)
            .bind(now)
            .bind(timeout_micros)
            .bind(destination.unwrap_or(""))
            .bind(sender.unwrap_or(0))
            .fetch_all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| leased_from(r, lease)).collect())
    }
}
