//! Events older than `[events].retention` go, in batches, after their
//! counts are added to `stats_hourly` (unless `store::rollup` counted them
//! there already): the event log stays the size of its retention, and the
//! stats keep their totals.

use sqlx::Row;

use super::{Result, Store};

/// A message none of whose recipients is still to be delivered.
const DONE: &str = "NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id \
                    AND r.status IN ('queued', 'held'))";

/// What one step of a walk over the oldest messages did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// Rows changed (cleared or removed).
    pub changed: u64,
    /// Where the next step starts: the last id walked.
    pub next: i64,
    /// The walk reached a message too young, or the end.
    pub done: bool,
}

pub(crate) const HOUR_MICROS: i64 = 3600 * 1_000_000;

impl Store {
    /// Prunes up to `batch` of the oldest events written before `before`
    /// (microseconds), their counts kept by the hour first, in one
    /// transaction. How many went (0: nothing older is left).
    pub async fn prune_events(&self, before: i64, batch: i64) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        // The history of webhook calls, and unreachable holds long over,
        // are kept as long as the events.
        sqlx::query("DELETE FROM webhook_history WHERE finished_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM destination_holds WHERE held_until < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        // Events are written in time order: the oldest are the lowest ids,
        // found on the primary key, not by scanning `ts`.
        let rows = sqlx::query("SELECT id, ts FROM events ORDER BY id LIMIT $1")
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
        let upto = rows
            .iter()
            .take_while(|r| r.get::<i64, _>(1) < before)
            .last()
            .map(|r| r.get::<i64, _>(0));
        let Some(upto) = upto else {
            tx.commit().await?;
            return Ok(0);
        };
        sqlx::query(
            "INSERT INTO stats_hourly (domain_id, hour, event, severity, reason, method, n) \
             SELECT domain_id, (ts / $2) * $2, event, COALESCE(severity, ''), COALESCE(reason, ''), \
                    COALESCE(method, ''), COUNT(*) \
             FROM events WHERE id <= $1 AND id > (SELECT upto FROM stats_rollup WHERE id = 1) \
             GROUP BY 1, 2, 3, 4, 5, 6 \
             ON CONFLICT (domain_id, hour, event, severity, reason, method) \
             DO UPDATE SET n = stats_hourly.n + excluded.n",
        )
        .bind(upto)
        .bind(HOUR_MICROS)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM events WHERE id <= $1")
            .bind(upto)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone)
    }

    /// Clears the stored body (the bulk of the store) of messages accepted
    /// before `before` whose every recipient is delivered or failed, walking
    /// ids from `from`. Their rows and recipients stay: an unsubscribe link,
    /// a late bounce or a complaint still finds whom it concerns.
    pub async fn clear_old_bodies(&self, from: i64, before: i64, batch: i64) -> Result<Walked> {
        let empty = match self.backend {
            super::Backend::Sqlite => "x''",
            super::Backend::Postgres => "'\\x'::bytea",
        };
        self.walk_old_messages(
            from,
            before,
            batch,
            &format!(
                "UPDATE messages SET body = {empty}, dkim_signature = NULL \
                 WHERE id >= $1 AND id <= $2 AND created_at < $3 AND length(body) > 0 AND {DONE}"
            ),
        )
        .await
    }

    /// Removes messages accepted before `before` whose every recipient is
    /// delivered or failed, with their recipients (ON DELETE CASCADE),
    /// walking ids from `from`. Messages still queued or held stay, however
    /// old.
    pub async fn prune_messages(&self, from: i64, before: i64, batch: i64) -> Result<Walked> {
        self.walk_old_messages(
            from,
            before,
            batch,
            &format!(
                "DELETE FROM messages WHERE id >= $1 AND id <= $2 AND created_at < $3 AND {DONE}"
            ),
        )
        .await
    }

    /// Applies `statement` (over ids `$1..=$2`, accepted before `$3`) to the
    /// oldest messages from `from` on, until it changed `batch` rows or the
    /// walk reached one accepted after `before`. Ids are in acceptance
    /// order, so a step costs what it walks, not a scan of the table (there
    /// is no index on created_at to keep).
    async fn walk_old_messages(
        &self,
        from: i64,
        before: i64,
        batch: i64,
        statement: &str,
    ) -> Result<Walked> {
        let mut walked = Walked {
            changed: 0,
            next: from,
            done: false,
        };
        loop {
            let rows = sqlx::query(
                "SELECT id, created_at FROM messages WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(walked.next)
            .bind(batch)
            .fetch_all(self.reader())
            .await?;
            let old: Vec<i64> = rows
                .iter()
                .take_while(|r| r.get::<i64, _>(1) < before)
                .map(|r| r.get::<i64, _>(0))
                .collect();
            let (Some(&first), Some(&last)) = (old.first(), old.last()) else {
                walked.done = true;
                return Ok(walked);
            };
            walked.changed += sqlx::query(statement)
                .bind(first)
                .bind(last)
                .bind(before)
                .execute(self.writer())
                .await?
                .rows_affected();
            walked.next = last;
            walked.done = old.len() < rows.len() || (rows.len() as i64) < batch;
            if walked.done || walked.changed >= batch as u64 {
                return Ok(walked);
            }
        }
    }
}

/// The hourly counts (of pruned or rolled-up events) in `[start, end]`, per
/// `group`, as `(at, event, severity, reason, method, n)` rows like the
/// events'.
pub(crate) async fn hourly_counts(
    conn: &mut sqlx::AnyConnection,
    domain_id: i64,
    start: i64,
    end: i64,
    group: i64,
) -> Result<Vec<sqlx::any::AnyRow>> {
    Ok(sqlx::query(
        "SELECT (hour / $4) * $4 AS at, event, NULLIF(severity, ''), NULLIF(reason, ''), \
                NULLIF(method, ''), CAST(SUM(n) AS BIGINT) \
         FROM stats_hourly WHERE domain_id = $1 AND hour >= ($2 / $5) * $5 AND hour <= $3 \
         GROUP BY 1, 2, 3, 4, 5",
    )
    .bind(domain_id)
    .bind(start)
    .bind(end)
    .bind(group)
    .bind(HOUR_MICROS)
    .fetch_all(conn)
    .await?)
}

#[cfg(test)]
pub(crate) mod tests {
    use policy::events::{EventKind, Severity};

    use crate::store::events::NewEvent;

    const DAY: i64 = 86_400 * 1_000_000;

    fn event(kind: EventKind, severity: Option<Severity>, ts: i64, n: usize) -> NewEvent {
        NewEvent {
            event_id: format!("e{ts}-{n}"),
            event: kind,
            ts,
            recipient: Some(format!("r{n}@example.org")),
            message_id: Some("m@x.test".into()),
            severity,
            reason: None,
            tags: "[]".into(),
            method: Some("http"),
            data: "{}".into(),
        }
    }

    /// A migrated store with domain 1, `r.test`.
    pub(crate) async fn store_with_domain() -> (crate::store::Store, std::path::PathBuf) {
        let (store, dir) = crate::store::temp_sqlite("retention").await;
        store.migrate().await.unwrap();
        sqlx::query(
            "INSERT INTO domains (id, name, dkim_selector, created_at) VALUES (1, 'r.test', 's', 0)",
        )
        .execute(store.writer())
        .await
        .unwrap();
        (store, dir)
    }

    /// (event, total) over the whole range, summed over every group.
    async fn totals(store: &crate::store::Store) -> Vec<(String, i64)> {
        let mut t = std::collections::BTreeMap::new();
        for c in store.event_counts(1, 0, 100 * DAY, DAY).await.unwrap() {
            *t.entry(c.event.as_str().to_string()).or_insert(0) += c.n;
        }
        t.into_iter().collect()
    }

    #[tokio::test]
    async fn pruned_events_go_and_the_stats_keep_their_counts() {
        let (store, dir) = store_with_domain().await;
        let mut events = Vec::new();
        for day in [1, 2, 40, 41] {
            for n in 0..3 {
                events.push(event(EventKind::Accepted, None, day * DAY + n as i64, n));
                events.push(event(
                    EventKind::Failed,
                    Some(Severity::Permanent),
                    day * DAY + 7,
                    n,
                ));
            }
        }
        store.insert_events(1, &events).await.unwrap();
        let before = totals(&store).await;
        // Older than day 30: the first two days' 12 events, in batches of 5.
        let mut gone = 0;
        loop {
            match store.prune_events(30 * DAY, 5).await.unwrap() {
                0 => break,
                n => gone += n,
            }
        }
        assert_eq!(gone, 12);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(store.reader())
            .await
            .unwrap();
        assert_eq!(left, 12);
        assert_eq!(totals(&store).await, before, "the stats count the same");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn webhook_history_and_holds_long_over_go_with_the_events() {
        let (store, dir) = store_with_domain().await;
        for (id, at) in [(1, DAY), (2, 40 * DAY)] {
            sqlx::query(
                "INSERT INTO webhook_history (id, domain_id, kind, url, event_row, outcome, attempts, answer, finished_at) \
                 VALUES ($1, 1, 'delivered', 'https://h.test/', 1, 'delivered', 1, 'HTTP 200', $2)",
            )
            .bind(id)
            .bind(at)
            .execute(store.writer())
            .await
            .unwrap();
        }
        use crate::store::holds::HoldKind;
        store
            .hold_destination("old.test", HoldKind::Unreachable, "x", Some(DAY), 1)
            .await
            .unwrap();
        store
            .hold_destination("kept.test", HoldKind::Operator, "asked", None, 0)
            .await
            .unwrap();
        // No event to prune: the rest goes all the same.
        assert_eq!(store.prune_events(30 * DAY, 5).await.unwrap(), 0);
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM webhook_history")
            .fetch_all(store.reader())
            .await
            .unwrap();
        assert_eq!(ids, [2]);
        let holds: Vec<String> = sqlx::query_scalar("SELECT destination FROM destination_holds")
            .fetch_all(store.reader())
            .await
            .unwrap();
        assert_eq!(
            holds,
            ["kept.test"],
            "an operator's hold stays until released"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Message `id`, accepted on `day`, one recipient per status.
    async fn message(store: &crate::store::Store, id: i64, day: i64, statuses: &[&str]) {
        sqlx::query(
            "INSERT INTO messages (id, domain_id, storage_key, message_id, sender, body, size, options, method, created_at) \
             VALUES ($1, 1, $2, $2, 'a@r.test', x'00', 1, '{}', 'http', $3)",
        )
        .bind(id)
        .bind(format!("k{id}"))
        .bind(day * DAY)
        .execute(store.writer())
        .await
        .unwrap();
        for (n, status) in statuses.iter().enumerate() {
            sqlx::query(
                "INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, updated_at) \
                 VALUES ($1, $2, 'd.test', $3, 0, 0)",
            )
            .bind(id)
            .bind(format!("r{n}@d.test"))
            .bind(*status)
            .execute(store.writer())
            .await
            .unwrap();
        }
    }

    #[tokio::test]
    async fn stored_bodies_go_after_their_retention_and_rows_after_the_events_once_every_recipient_is_done(
    ) {
        let (store, dir) = store_with_domain().await;
        // Old and done, old but waiting, then young: in acceptance order.
        message(&store, 1, 1, &["delivered", "failed"]).await;
        message(&store, 2, 1, &["delivered", "queued"]).await;
        message(&store, 3, 1, &["held"]).await;
        message(&store, 4, 2, &["failed"]).await;
        message(&store, 5, 2, &["testmode"]).await;
        message(&store, 6, 9, &["delivered"]).await;
        message(&store, 7, 2, &["delivered"]).await;
        // Before day 5, in steps of 2: the walk goes past the waiting ones
        // and stops at the first young message (7 is after it: next time).
        let ids = |sql: &'static str| {
            let store = store.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_all(store.reader())
                    .await
                    .unwrap()
            }
        };
        let (mut from, mut cleared) = (i64::MIN, 0);
        loop {
            let w = store.clear_old_bodies(from, 5 * DAY, 2).await.unwrap();
            (from, cleared) = (w.next, cleared + w.changed);
            if w.done {
                break;
            }
        }
        assert_eq!(cleared, 3);
        assert_eq!(
            ids("SELECT id FROM messages WHERE length(body) > 0 ORDER BY id").await,
            [2, 3, 6, 7]
        );
        assert_eq!(
            ids("SELECT id FROM messages ORDER BY id").await.len(),
            7,
            "the rows stay, for unsubscribes and late reports"
        );
        // A second walk from where the first stopped finds nothing.
        let again = store.clear_old_bodies(from, 5 * DAY, 2).await.unwrap();
        assert_eq!((again.changed, again.done), (0, true));
        // The rows go after the events' retention, the same way.
        let (mut from, mut gone) = (i64::MIN, 0);
        loop {
            let w = store.prune_messages(from, 5 * DAY, 2).await.unwrap();
            (from, gone) = (w.next, gone + w.changed);
            if w.done {
                break;
            }
        }
        assert_eq!(gone, 3);
        assert_eq!(
            ids("SELECT id FROM messages ORDER BY id").await,
            [2, 3, 6, 7]
        );
        let recipients: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recipients WHERE message_id IN (1, 4, 5)")
                .fetch_one(store.reader())
                .await
                .unwrap();
        assert_eq!(recipients, 0, "their recipients went with them");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
