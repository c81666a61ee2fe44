//! The shared state of cluster-wide rate limits: one row per limited key,
//! its GCRA state (`policy::gcra`), changed under a row lock so nodes take
//! from it one at a time.

use sqlx::Row;

use super::relaxed::RelaxedTx;
use super::{Backend, Result, Store};

impl Store {
    /// Runs `f(tat, now)` on bucket `name` (`tat` 0 for a new one; `now` the
    /// store's clock, the same for every node) and stores the state it
    /// returns, in one transaction.
    pub async fn with_bucket<R>(
        &self,
        name: &str,
        f: impl FnOnce(i64, i64) -> (i64, R),
    ) -> Result<R> {
        // SQLite has one writer: its transaction is the lock.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let select = format!(
            "SELECT tat, {} FROM rate_buckets WHERE name = $1{lock}",
            self.clock()
        );
        // Losing a limit's last few updates to a power cut only lets a few
        // more requests through: no flush.
        let mut tx = RelaxedTx::begin(self).await?;
        let mut row = sqlx::query(&select)
            .bind(name)
            .fetch_optional(tx.conn())
            .await?;
        if row.is_none() {
            sqlx::query(
                "INSERT INTO rate_buckets (name, tat) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .execute(tx.conn())
            .await?;
            row = sqlx::query(&select)
                .bind(name)
                .fetch_optional(tx.conn())
                .await?;
        }
        let (tat, now): (i64, i64) = row.map_or((0, 0), |r| (r.get(0), r.get(1)));
        let (tat, out) = f(tat, now);
        sqlx::query("UPDATE rate_buckets SET tat = $1 WHERE name = $2")
            .bind(tat)
            .bind(name)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(out)
    }
}
