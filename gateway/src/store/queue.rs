//! The delivery queue: leasing due recipients and recording what happened.
//!
//! A lease names its holder, a node's run (`store::nodes`), and lasts as
//! long as that node beats: a node killed (kill -9) or frozen leaves leases
//! that any peer takes once its heartbeat is `[cluster].lease_timeout` old.
//! Outcomes are fenced: one is recorded only while its lease is still held,
//! so a node that lost its lease cannot overwrite what the peer recorded.
//! Leasing and recording are each one transaction for a whole batch.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::domains::Domain;
use super::events::{insert_events_of, NewEvent};
use super::messages::{message_from, StoredMessage, MSG_COLS};
use super::relaxed::RelaxedTx;
use super::{placeholders, Backend, Result, Store};

/// Who holds a recipient: a node's run and which of its leases (`token`:
/// when it was taken, in the node's microseconds, unique in the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub node: i64,
    pub token: i64,
}

/// A recipient leased for one delivery attempt.
#[derive(Debug, Clone)]
pub struct LeasedRecipient {
    pub id: i64,
    pub message_id: i64,
    pub address: String,
    pub domain: String,
    pub attempts: i64,
    pub lease: Lease,
}

/// A row of `RETURNING id, message_id, address, domain, attempts`.
pub(super) fn leased_from(r: &sqlx::any::AnyRow, lease: Lease) -> LeasedRecipient {
    LeasedRecipient {
        id: r.get(0),
        message_id: r.get(1),
        address: r.get(2),
        domain: r.get(3),
        attempts: r.get(4),
        lease,
    }
}

/// What to lease.
pub struct LeaseRequest<'a> {
    pub lease: Lease,
    pub now: i64,
    /// A lease whose node has not beaten for this long is free to take.
    pub timeout_micros: i64,
    /// Recipients at most.
    pub limit: i64,
    /// Message bytes at most (counted once per recipient; the first is
    /// always taken), so a queue of big messages is never loaded at once.
    pub max_bytes: i64,
    /// Recipients at most per destination domain: what this node's
    /// connections to it can start soon; the rest stays for peers.
    pub per_domain: i64,
    /// Destination domains this node already holds enough of.
    pub skip_domains: &'a [String],
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
    /// The lease the outcome was reached under: recorded only while it is
    /// still held. `None` for reports (DSN, ARF), which hold no lease.
    pub lease: Option<Lease>,
    pub update: RecipientUpdate,
    /// Whether this was an attempt (counts towards `attempts`).
    pub attempted: bool,
    pub event: Option<NewEvent>,
    pub suppress: Option<Suppression>,
}

/// `AND` the lease still held, for an outcome's UPDATE (placeholders `$a`, `$a+1`).
fn fence(lease: Option<Lease>, a: usize) -> String {
    match lease {
        Some(_) => format!(" AND lease_node = ${a} AND lease_token = ${}", a + 1),
        None => String::new(),
    }
}

impl Store {
    /// Leases due recipients to `req.lease`, oldest first, within the
    /// request's bounds (count, bytes, per destination).
    pub async fn lease_due(&self, req: &LeaseRequest<'_>) -> Result<Vec<LeasedRecipient>> {
        // Several nodes on PostgreSQL: skip rows another node is leasing.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let skip = if req.skip_domains.is_empty() {
            String::new()
        } else {
            format!(
                " AND domain NOT IN ({})",
                placeholders(req.skip_domains.len(), 1, 9)
            )
        };
        // Candidates are scanned wider than the lease so that a backlog for
        // one destination (capped per domain) does not hide the others.
        let sql = format!(
            "UPDATE recipients SET lease_node = $1, lease_token = $2 WHERE id IN (\
               SELECT id FROM (\
                 SELECT id, next_attempt_at, SUM(size) OVER (ORDER BY next_attempt_at, id) - size AS bytes_ahead FROM (\
                   SELECT c.id, c.next_attempt_at, m.size, \
                          ROW_NUMBER() OVER (PARTITION BY c.domain ORDER BY c.next_attempt_at, c.id) AS nth \
                   FROM (SELECT id, message_id, domain, next_attempt_at FROM recipients \
                         WHERE status = 'queued' AND next_attempt_at <= $3 AND {free}{skip} \
                         AND domain NOT IN (SELECT destination FROM destination_holds WHERE kind = 'operator') \
                         ORDER BY next_attempt_at LIMIT $5{lock}) c \
                   JOIN messages m ON m.id = c.message_id) d \
                 WHERE nth <= $6) w \
               WHERE bytes_ahead < $7 ORDER BY next_attempt_at, id LIMIT $8) \
             RETURNING id, message_id, address, domain, attempts",
            free = self.lease_is_free(4, 3),
        );
        // A lease lost to a power cut is only a lease never taken.
        let mut tx = RelaxedTx::begin(self).await?;
        let mut q = sqlx::query(&sql)
            .bind(req.lease.node)
            .bind(req.lease.token)
            .bind(req.now)
            .bind(req.timeout_micros)
            .bind(req.limit * 4)
            .bind(req.per_domain)
            .bind(req.max_bytes)
            .bind(req.limit);
        for d in req.skip_domains {
            q = q.bind(d.as_str());
        }
        let rows = q.fetch_all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| leased_from(r, req.lease)).collect())
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
    /// transaction. An outcome whose lease another node took over is not
    /// recorded (neither its event nor its suppression: the peer records
    /// its own); how many were dropped so is returned.
    pub async fn record_outcomes(&self, outcomes: &[Outcome]) -> Result<usize> {
        if outcomes.is_empty() {
            return Ok(0);
        }
        let now = super::now_micros();
        // Lost to a power cut, an outcome means a second delivery: no flush.
        let mut tx = RelaxedTx::begin(self).await?;
        // Recipients whose outcome lost its lease.
        let mut fenced: HashSet<i64> = HashSet::new();
        // Final outcomes (the usual case) are one UPDATE per status and
        // lease, not one per recipient.
        type Finals<'a> = HashMap<(&'a str, i64, Option<Lease>), Vec<i64>>;
        let mut finals: Finals = HashMap::new();
        for o in outcomes {
            let inc = o.attempted as i64;
            let (sql, at) = match &o.update {
                RecipientUpdate::Unchanged => continue,
                RecipientUpdate::Delivered | RecipientUpdate::Failed => {
                    let status = match o.update {
                        RecipientUpdate::Delivered => "delivered",
                        _ => "failed",
                    };
                    finals
                        .entry((status, inc, o.lease))
                        .or_default()
                        .push(o.recipient_id);
                    continue;
                }
                // The time is bound after the fence's two values, if any.
                RecipientUpdate::Retry { at } => (
                    format!(
                        "UPDATE recipients SET attempts = attempts + $1, updated_at = $2, lease_node = NULL, lease_token = NULL, next_attempt_at = ${} WHERE id = $3{}",
                        if o.lease.is_some() { 6 } else { 4 },
                        fence(o.lease, 4)
                    ),
                    Some(*at),
                ),
                RecipientUpdate::Release => (
                    format!(
                        "UPDATE recipients SET attempts = attempts + $1, updated_at = $2, lease_node = NULL, lease_token = NULL WHERE id = $3{}",
                        fence(o.lease, 4)
                    ),
                    None,
                ),
            };
            let mut q = sqlx::query(&sql).bind(inc).bind(now).bind(o.recipient_id);
            if let Some(l) = o.lease {
                q = q.bind(l.node).bind(l.token);
            }
            if let Some(at) = at {
                q = q.bind(at);
            }
            if q.execute(tx.conn()).await?.rows_affected() == 0 && o.lease.is_some() {
                fenced.insert(o.recipient_id);
            }
        }
        for ((status, inc, lease), ids) in &finals {
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "UPDATE recipients SET status = $1, attempts = attempts + $2, lease_node = NULL, lease_token = NULL, updated_at = $3 \
                     WHERE id IN ({}){} RETURNING id",
                    placeholders(chunk.len(), 1, 4),
                    fence(*lease, 4 + chunk.len()),
                );
                let mut q = sqlx::query(&sql).bind(*status).bind(*inc).bind(now);
                for id in chunk {
                    q = q.bind(*id);
                }
                if let Some(l) = lease {
                    q = q.bind(l.node).bind(l.token);
                }
                let done: HashSet<i64> = q
                    .fetch_all(tx.conn())
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                fenced.extend(chunk.iter().filter(|id| !done.contains(id)));
            }
        }
        let recorded = || {
            outcomes
                .iter()
                .filter(|o| o.lease.is_none() || !fenced.contains(&o.recipient_id))
        };
        for (o, s) in recorded().filter_map(|o| o.suppress.as_ref().map(|s| (o, s))) {
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
        let events: Vec<(i64, &NewEvent)> = recorded()
            .filter_map(|o| o.event.as_ref().map(|e| (o.domain_id, e)))
            .collect();
        insert_events_of(tx.conn(), &events).await?;
        tx.commit().await?;
        Ok(fenced.len())
    }

    /// Hands back every lease: on a single node (SQLite) at startup, any
    /// lease is a leftover of a process that died mid-delivery.
    pub async fn release_all_leases(&self) -> Result<u64> {
        let r = sqlx::query("UPDATE recipients SET lease_node = NULL, lease_token = NULL WHERE status = 'queued' AND lease_node IS NOT NULL")
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
