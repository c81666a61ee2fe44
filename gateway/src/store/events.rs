//! The event log behind `GET /v3/{domain}/events`.

use policy::events::{EventKind, Reason, Severity};
use sqlx::Row;

use policy::filter::Expr;

use super::{placeholders, Backend, Result, Store, StoreError};

pub struct NewEvent {
    pub event_id: String,
    pub event: EventKind,
    pub ts: i64,
    pub recipient: Option<String>,
    pub message_id: Option<String>,
    pub severity: Option<Severity>,
    /// A failure's reason (`bounce`, `suppress-bounce`, `old`...), for rates.
    pub reason: Option<Reason>,
    /// JSON array of the message's tags, for filtering.
    pub tags: String,
    /// How the message came in (`http` | `smtp`), for the stats.
    pub method: Option<&'static str>,
    /// The whole event as the API shows it (JSON).
    pub data: String,
}

/// A page request. `after` is the (ts, id) of the last event already seen.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EventQuery {
    pub begin: Option<i64>,
    pub end: Option<i64>,
    pub ascending: bool,
    pub limit: i64,
    pub event: Option<String>,
    pub recipient: Option<String>,
    pub message_id: Option<String>,
    pub tags: Option<String>,
    pub severity: Option<String>,
    /// Mailgun's `from`: the From header contains it (any case).
    #[serde(default)]
    pub from: Option<String>,
    pub after: Option<(i64, i64)>,
}

/// The fields an events query filters on, each with Mailgun's filter
/// expression (`policy::filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterField {
    Event,
    Recipient,
    MessageId,
    Tags,
    Severity,
    From,
}

impl FilterField {
    /// SQL matching one value, bound at `$n`, and the value to bind.
    fn matches(self, backend: Backend, n: usize, value: &str) -> (String, String) {
        match self {
            FilterField::Event => (format!("event = ${n}"), value.into()),
            FilterField::Severity => (format!("COALESCE(severity, '') = ${n}"), value.into()),
            FilterField::MessageId => (
                format!("COALESCE(message_id, '') = ${n}"),
                value.trim_start_matches('<').trim_end_matches('>').into(),
            ),
            FilterField::Recipient => (
                format!("LOWER(COALESCE(recipient, '')) = LOWER(${n})"),
                value.into(),
            ),
            // Tags are stored as a JSON array: a tag is its JSON string.
            FilterField::Tags => (
                format!("tags LIKE ${n} ESCAPE '\\'"),
                format!(
                    "%{}%",
                    super::like_literal(&serde_json::Value::String(value.into()).to_string())
                ),
            ),
            FilterField::From => {
                let from = match backend {
                    Backend::Postgres => "(data::json->'message'->'headers'->>'from')",
                    Backend::Sqlite => "json_extract(data, '$.message.headers.from')",
                };
                (
                    format!("LOWER(COALESCE({from}, '')) LIKE ${n} ESCAPE '\\'"),
                    format!("%{}%", super::like_literal(&value.to_lowercase())),
                )
            }
        }
    }
}

/// `expr` over `field` as SQL, its values appended to `binds` (numbered
/// from `first`).
fn filter_sql(
    backend: Backend,
    field: FilterField,
    expr: &Expr,
    first: usize,
    binds: &mut Vec<String>,
) -> String {
    match expr {
        Expr::Value(v) => {
            let (sql, bind) = field.matches(backend, first + binds.len(), v);
            binds.push(bind);
            sql
        }
        Expr::Not(e) => format!("NOT ({})", filter_sql(backend, field, e, first, binds)),
        Expr::And(items) | Expr::Or(items) => {
            let join = if matches!(expr, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Vec<String> = items
                .iter()
                .map(|e| filter_sql(backend, field, e, first, binds))
                .collect();
            format!("({})", parts.join(join))
        }
    }
}

impl EventQuery {
    /// Each filter given, with its field.
    pub fn filters(&self) -> impl Iterator<Item = (FilterField, &str)> {
        [
            (FilterField::Event, &self.event),
            (FilterField::Recipient, &self.recipient),
            (FilterField::MessageId, &self.message_id),
            (FilterField::Tags, &self.tags),
            (FilterField::Severity, &self.severity),
            (FilterField::From, &self.from),
        ]
        .into_iter()
        .filter_map(|(f, v)| v.as_deref().map(|v| (f, v)))
    }
}

pub struct EventRow {
    pub id: i64,
    pub ts: i64,
    pub data: String,
}

pub(crate) async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    domain_id: i64,
    e: &NewEvent,
) -> Result<()> {
    insert_events_of(tx, &[(domain_id, e)]).await
}

/// Rows per INSERT: 11 parameters each stays far below SQLite's and
/// PostgreSQL's limits on parameters per statement.
const ROWS_PER_INSERT: usize = 256;

/// Many events (of any domains) in few statements: on SQLite each
/// statement is a round trip to sqlx's worker thread, so a batch of
/// accepts or outcomes should not pay one per event.
pub(crate) async fn insert_events_of(
    conn: &mut sqlx::AnyConnection,
    events: &[(i64, &NewEvent)],
) -> Result<()> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO events (domain_id, event_id, event, ts, recipient, message_id, severity, tags, data, reason, method) VALUES {}",
            placeholders(chunk.len(), 11, 1)
        );
        let mut q = sqlx::query(&sql);
        for (domain_id, e) in chunk {
            q = q
                .bind(*domain_id)
                .bind(&e.event_id)
                .bind(e.event.as_str())
                .bind(e.ts)
                .bind(e.recipient.as_deref())
                .bind(e.message_id.as_deref())
                .bind(e.severity.map(Severity::as_str))
                .bind(&e.tags)
                .bind(&e.data)
                .bind(e.reason.map(Reason::as_str))
                .bind(e.method);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    pub async fn insert_events(&self, domain_id: i64, events: &[NewEvent]) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        for e in events {
            insert_event(&mut tx, domain_id, e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn events(&self, domain_id: i64, q: &EventQuery) -> Result<Vec<EventRow>> {
        let (cmp, order) = if q.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let (after_ts, after_id) = q.after.unwrap_or(if q.ascending {
            (i64::MIN, i64::MIN)
        } else {
            (i64::MAX, i64::MAX)
        });
        // Fixed parameters are $1..$6; the filters' values follow.
        let mut binds = Vec::new();
        let mut filters = String::new();
        for (field, text) in q.filters() {
            let expr = policy::filter::parse(text).map_err(|e| {
                StoreError::Corrupt(format!("events filter {field:?} {text:?}: {e}"))
            })?;
            filters.push_str(" AND ");
            filters.push_str(&filter_sql(self.backend, field, &expr, 7, &mut binds));
        }
        let sql = format!(
            "SELECT id, ts, data FROM events WHERE domain_id = $1 \
             AND ts >= $2 AND ts <= $3 \
             AND (ts {cmp} $4 OR (ts = $4 AND id {cmp} $5)){filters} \
             ORDER BY ts {order}, id {order} LIMIT $6"
        );
        let mut query = sqlx::query(&sql)
            .bind(domain_id)
            .bind(q.begin.unwrap_or(0))
            .bind(q.end.unwrap_or(i64::MAX))
            .bind(after_ts)
            .bind(after_id)
            .bind(q.limit);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(self.reader()).await?;
        Ok(rows
            .iter()
            .map(|r| EventRow {
                id: r.get(0),
                ts: r.get(1),
                data: r.get(2),
            })
            .collect())
    }
}

impl Store {
    /// Events of the domain in `[start, end]`, counted per `group` (hour or
    /// day, in microseconds) and per kind, severity, reason and method.
    pub async fn event_counts(
        &self,
        domain_id: i64,
        start: i64,
        end: i64,
        group: i64,
    ) -> Result<Vec<crate::stats::Count>> {
        // The events not counted by the hour yet (`store::rollup`: those of
        // the current hour, mostly), found from the id where the rollup
        // stopped (`+domain_id` keeps SQLite on that id range rather than
        // on the domain's index, which would walk the whole month); and the
        // hourly counts of the others, pruned or not. Both in one snapshot,
        // so a rollup committing between them counts nothing twice.
        let mut tx = self.reader().begin().await?;
        if self.backend == super::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let rows = sqlx::query(
            "SELECT (ts / $4) * $4 AS at, event, severity, reason, method, COUNT(*) FROM events \
             WHERE id > (SELECT upto FROM stats_rollup WHERE id = 1) \
             AND +domain_id = $1 AND ts >= $2 AND ts <= $3 \
             GROUP BY 1, 2, 3, 4, 5",
        )
        .bind(domain_id)
        .bind(start)
        .bind(end)
        .bind(group)
        .fetch_all(&mut *tx)
        .await?;
        let kept = super::retention::hourly_counts(&mut tx, domain_id, start, end, group).await?;
        tx.commit().await?;
        rows.iter()
            .chain(&kept)
            .map(|r| {
                // A group whose strings do not parse is a damaged row.
                let corrupt = |field: &str, e: policy::events::Unknown| {
                    super::StoreError::Corrupt(format!(
                        "events rows of domain {domain_id}, field {field}: {e}"
                    ))
                };
                let event: String = r.get(1);
                let severity: Option<String> = r.get(2);
                let reason: Option<String> = r.get(3);
                Ok(crate::stats::Count {
                    at: r.get(0),
                    event: event.parse().map_err(|e| corrupt("event", e))?,
                    severity: severity
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(|e| corrupt("severity", e))?,
                    reason: reason
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(|e| corrupt("reason", e))?,
                    method: r.get(4),
                    n: r.get(5),
                })
            })
            .collect()
    }
}
