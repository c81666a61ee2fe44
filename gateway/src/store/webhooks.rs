//! Webhooks: each domain's URLs per kind, and the calls still to make.
//!
//! Calls are not written by the code that records events (the hot path):
//! the dispatcher scans the events table past a cursor and turns each event
//! of a domain with webhooks into one call per URL, in one transaction that
//! also moves the cursor, so an event is turned into calls exactly once
//! even with several nodes.

use std::collections::HashMap;

use policy::events::{EventKind, Severity};
use sqlx::Row;

use super::webhook_history::CallOutcome;
use super::{now_micros, placeholders, Backend, Result, Store, StoreError};

/// A call due now, leased to this node (`lease_webhook_calls`).
#[derive(Debug, Clone)]
pub struct DueCall {
    pub id: i64,
    pub domain_id: i64,
    pub kind: String,
    pub url: String,
    pub attempts: i64,
    /// The event as the events API shows it (JSON); `None` when it is gone.
    pub event: Option<String>,
}

/// What became of a call after an attempt.
pub enum CallResult {
    /// Done with (delivered, refused or given up): kept as history only.
    Finished {
        id: i64,
        outcome: CallOutcome,
        /// "HTTP 200", or what the connection met.
        answer: String,
    },
    /// Try again at `next_at` (microseconds).
    Retry {
        id: i64,
        next_at: i64,
        error: String,
    },
}

const CURSOR: &str = "webhook_cursor";

/// Where the scan is: past the event row `id` (SQLite: one writer, so ids
/// are in commit order), or on PostgreSQL, where ids are taken before
/// commit and a later id can be seen before an earlier one, past `(tx, id)`:
/// events are read in the order of the transactions that wrote them, and
/// only from transactions older than every one still running (the
/// snapshot's xmin), so none can appear behind the cursor later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    tx: i64,
    id: i64,
}

impl Cursor {
    fn parse(text: &str) -> Result<Cursor> {
        let bad =
            || StoreError::Corrupt(format!("settings row {CURSOR}: {text:?} is not a cursor"));
        match text.split_once(':') {
            Some((tx, id)) => Ok(Cursor {
                tx: tx.parse().map_err(|_| bad())?,
                id: id.parse().map_err(|_| bad())?,
            }),
            None => Ok(Cursor {
                tx: 0,
                id: text.parse().map_err(|_| bad())?,
            }),
        }
    }

    fn to_text(self, backend: Backend) -> String {
        match backend {
            Backend::Sqlite => self.id.to_string(),
            Backend::Postgres => format!("{}:{}", self.tx, self.id),
        }
    }
}

/// Events looked at per scan, at most.
const SCAN_BATCH: i64 = 5_000;

/// A webhook's URLs; a row that does not parse is `Corrupt`.
fn urls_from(kind: &str, text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "webhooks row {kind:?}, field urls: {e} (stored {text:?})"
        ))
    })
}

impl Store {
    /// The domain's webhooks: kind → URLs.
    pub async fn webhooks(&self, domain_id: i64) -> Result<Vec<(String, Vec<String>)>> {
        let rows =
            sqlx::query("SELECT kind, urls FROM webhooks WHERE domain_id = $1 ORDER BY kind")
                .bind(domain_id)
                .fetch_all(self.reader())
                .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get(0);
                let urls = urls_from(&kind, &r.get::<String, _>(1))?;
                Ok((kind, urls))
            })
            .collect()
    }

    pub async fn webhook(&self, domain_id: i64, kind: &str) -> Result<Option<Vec<String>>> {
        let row = sqlx::query("SELECT urls FROM webhooks WHERE domain_id = $1 AND kind = $2")
            .bind(domain_id)
            .bind(kind)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| urls_from(kind, &r.get::<String, _>(0)))
            .transpose()
    }

    /// Sets the webhook's URLs. With `create_only`, an existing webhook is
    /// left alone and `false` returned.
    pub async fn set_webhook(
        &self,
        domain_id: i64,
        kind: &str,
        urls: &[String],
        create_only: bool,
    ) -> Result<bool> {
        let urls = serde_json::to_string(urls).expect("urls serialise");
        let sql = if create_only {
            "INSERT INTO webhooks (domain_id, kind, urls, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (domain_id, kind) DO NOTHING"
        } else {
            "INSERT INTO webhooks (domain_id, kind, urls, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (domain_id, kind) DO UPDATE SET urls = excluded.urls"
        };
        let n = sqlx::query(sql)
            .bind(domain_id)
            .bind(kind)
            .bind(urls)
            .bind(now_micros())
            .execute(self.writer())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Removes the webhook; its URLs, if it existed. Calls already due are
    /// still made (they were owed when the event happened).
    pub async fn delete_webhook(&self, domain_id: i64, kind: &str) -> Result<Option<Vec<String>>> {
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query("SELECT urls FROM webhooks WHERE domain_id = $1 AND kind = $2")
            .bind(domain_id)
            .bind(kind)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhooks WHERE domain_id = $1 AND kind = $2")
            .bind(domain_id)
            .bind(kind)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| urls_from(kind, &r.get::<String, _>(0)))
            .transpose()
    }

    /// Turns the events recorded since the last scan into calls, with
    /// `kind_of(event, severity)` naming the webhook each goes to. How many
    /// calls were added.
    pub async fn scan_events_for_webhooks(
        &self,
        kind_of: impl Fn(EventKind, Option<Severity>) -> std::result::Result<&'static str, String>,
    ) -> Result<usize> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let cursor: String = match sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(CURSOR)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(r) => r.get(0),
            None => return Ok(0), // the migration sets it
        };
        let from = Cursor::parse(&cursor)?;
        // Events are read up to what no running transaction can still add
        // to: on PostgreSQL, transactions below the snapshot's xmin.
        let (order, visible) = match self.backend {
            Backend::Sqlite => ("id", String::new()),
            Backend::Postgres => (
                "tx, id",
                " AND tx < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint".to_string(),
            ),
        };
        let (cols, past) = match self.backend {
            Backend::Sqlite => ("0, id", "id > $2".to_string()),
            Backend::Postgres => ("tx, id", "(tx > $1 OR (tx = $1 AND id > $2))".to_string()),
        };
        // Read before the webhooks: an event at or under it was created
        // before any webhook made after that read.
        let newest = sqlx::query(&format!(
            "SELECT {cols} FROM events WHERE 1 = 1{visible} ORDER BY {} LIMIT 1",
            order.replace(',', " DESC,") + " DESC"
        ))
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| Cursor {
            tx: r.get(0),
            id: r.get(1),
        });
        // domain → kind → URLs.
        let mut hooks: HashMap<i64, HashMap<String, Vec<String>>> = HashMap::new();
        for r in sqlx::query("SELECT domain_id, kind, urls FROM webhooks")
            .fetch_all(&mut *tx)
            .await?
        {
            let kind: String = r.get(1);
            let urls = urls_from(&kind, &r.get::<String, _>(2))?;
            hooks.entry(r.get(0)).or_default().insert(kind, urls);
        }
        let mut upto = from;
        let mut added = 0;
        if hooks.is_empty() {
            // Nobody to call: skip to the newest event without reading any
            // (a webhook applies to events after its creation).
            if let Some(newest) = newest.filter(|n| (n.tx, n.id) > (from.tx, from.id)) {
                upto = newest;
            }
        } else {
            let events = sqlx::query(&format!(
                "SELECT {cols}, domain_id, event, severity FROM events WHERE {past}{visible} ORDER BY {order} LIMIT $3"
            ))
            .bind(from.tx)
            .bind(from.id)
            .bind(SCAN_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            for e in &events {
                let (id, domain_id): (i64, i64) = (e.get(1), e.get(2));
                upto = Cursor { tx: e.get(0), id };
                let (event, severity): (&str, Option<&str>) = (e.get(3), e.get(4));
                let typed = event
                    .parse::<EventKind>()
                    .map_err(|e| format!("field event: {e}"))
                    .and_then(|event| {
                        let severity = severity
                            .map(str::parse::<Severity>)
                            .transpose()
                            .map_err(|e| format!("field severity: {e}"))?;
                        kind_of(event, severity)
                    });
                let kind = match typed {
                    Ok(kind) => kind,
                    Err(why) => {
                        // Skipped with its reason rather than stalling every
                        // webhook behind one damaged row.
                        tracing::error!(
                            row = id,
                            "events row {id} is damaged, {why}: no webhook call made for it"
                        );
                        continue;
                    }
                };
                let Some(urls) = hooks.get(&domain_id).and_then(|k| k.get(kind)) else {
                    continue;
                };
                for url in urls {
                    sqlx::query(
                        "INSERT INTO webhook_calls (domain_id, kind, url, event_row, attempts, next_at) \
                         VALUES ($1, $2, $3, $4, 0, $5)",
                    )
                    .bind(domain_id)
                    .bind(kind)
                    .bind(url)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    added += 1;
                }
            }
        }
        if upto == from {
            return Ok(0);
        }
        // Another node may have scanned the same events: only one moves
        // the cursor, the other rolls back.
        let moved = sqlx::query("UPDATE settings SET value = $1 WHERE name = $2 AND value = $3")
            .bind(upto.to_text(self.backend))
            .bind(CURSOR)
            .bind(&cursor)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Up to `limit` calls due now, leased to the caller until `lease_until`
    /// so that no other node makes them meanwhile; a node that dies leaves
    /// them due again when the lease ends.
    pub async fn lease_webhook_calls(&self, limit: i64, lease_until: i64) -> Result<Vec<DueCall>> {
        let now = now_micros();
        // `next_at <= now` outside the subquery too: on PostgreSQL another
        // node may lease the same rows meanwhile, and then they no longer
        // match when this UPDATE reaches them.
        let leased = sqlx::query(
            "UPDATE webhook_calls SET next_at = $1 WHERE next_at <= $2 AND id IN (\
               SELECT id FROM webhook_calls WHERE next_at <= $2 ORDER BY next_at LIMIT $3) \
             RETURNING id, domain_id, kind, url, attempts, event_row",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(self.writer())
        .await?;
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<i64> = leased.iter().map(|r| r.get(5)).collect();
        let sql = format!(
            "SELECT id, data FROM events WHERE id IN ({})",
            placeholders(rows.len(), 1, 1)
        );
        let mut q = sqlx::query(&sql);
        for id in &rows {
            q = q.bind(*id);
        }
        let events: HashMap<i64, String> = q
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(leased
            .iter()
            .map(|r| {
                let event_row: i64 = r.get(5);
                DueCall {
                    id: r.get(0),
                    domain_id: r.get(1),
                    kind: r.get(2),
                    url: r.get(3),
                    attempts: r.get(4),
                    // Several URLs may share an event.
                    event: events.get(&event_row).cloned(),
                }
            })
            .collect())
    }

    /// Records what became of calls, in one transaction.
    pub async fn finish_webhook_calls(&self, results: &[CallResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        for r in results {
            match r {
                CallResult::Finished {
                    id,
                    outcome,
                    answer,
                } => {
                    sqlx::query(
                        "INSERT INTO webhook_history (domain_id, kind, url, event_row, outcome, attempts, answer, finished_at) \
                         SELECT domain_id, kind, url, event_row, $2, attempts + 1, $3, $4 FROM webhook_calls WHERE id = $1",
                    )
                    .bind(id)
                    .bind(outcome.as_str())
                    .bind(answer)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM webhook_calls WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                CallResult::Retry { id, next_at, error } => {
                    sqlx::query(
                        "UPDATE webhook_calls SET attempts = attempts + 1, next_at = $1, last_error = $2 \
                         WHERE id = $3",
                    )
                    .bind(next_at)
                    .bind(error)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
