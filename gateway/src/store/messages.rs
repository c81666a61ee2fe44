//! Accepted messages and their recipients: the durable queue.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::events::{insert_events_of, NewEvent};
use super::group_commit::Acceptance;
use super::{placeholders, Result, Store, StoreError};
use crate::compose::Summary;

/// One stored message body with its recipients, as accepted.
pub struct NewMessage {
    pub storage_key: String,
    pub message_id: String,
    pub sender: String,
    pub sealed_body: Vec<u8>,
    pub size: i64,
    /// JSON of `SendOptions`.
    pub options: String,
    pub method: &'static str,
    /// JSON of `compose::Summary`.
    pub summary: String,
    pub recipients: Vec<NewRecipient>,
}

pub struct NewRecipient {
    pub address: String,
    pub domain: String,
    pub status: RecipientStatus,
    pub next_attempt_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientStatus {
    Queued,
    Delivered,
    Failed,
    /// `o:testmode`: recorded, never delivered.
    TestMode,
}

impl RecipientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Queued => "queued",
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Failed => "failed",
            RecipientStatus::TestMode => "testmode",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: i64,
    pub domain_id: i64,
    pub storage_key: String,
    pub message_id: String,
    pub sender: String,
    pub sealed_body: Vec<u8>,
    pub size: i64,
    pub options: String,
    pub method: String,
    pub created_at: i64,
    /// `None` for messages accepted before summaries were stored.
    pub summary: Option<Summary>,
}

#[derive(Debug, Clone)]
pub struct StoredRecipient {
    pub address: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

pub(crate) const MSG_COLS: &str =
    "id, domain_id, storage_key, message_id, sender, body, size, options, method, created_at, summary";

/// A message row; a summary that does not parse is `Corrupt`.
pub(crate) fn message_from(row: &AnyRow) -> Result<StoredMessage> {
    let message_id: String = row.get(3);
    let summary: Option<String> = row.get(10);
    let summary = summary
        .map(|s| serde_json::from_str::<Summary>(&s))
        .transpose()
        .map_err(|e| {
            StoreError::Corrupt(format!("messages row <{message_id}>, field summary: {e}"))
        })?;
    Ok(StoredMessage {
        id: row.get(0),
        domain_id: row.get(1),
        storage_key: row.get(2),
        message_id,
        sender: row.get(4),
        sealed_body: row.get(5),
        size: row.get(6),
        options: row.get(7),
        method: row.get(8),
        created_at: row.get(9),
        summary,
    })
}

/// Messages per INSERT: 10 parameters each, well under SQLite's and
/// PostgreSQL's limits on parameters per statement.
const MESSAGES_PER_INSERT: usize = 64;

/// Recipients (of stored messages) in few statements, as events.
async fn insert_recipients(
    conn: &mut sqlx::AnyConnection,
    recipients: &[(i64, &NewRecipient)],
    now: i64,
) -> Result<()> {
    for chunk in recipients.chunks(256) {
        let sql = format!(
            "INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, updated_at) VALUES {}",
            placeholders(chunk.len(), 6, 1)
        );
        let mut q = sqlx::query(&sql);
        for (message_id, r) in chunk {
            q = q
                .bind(*message_id)
                .bind(&r.address)
                .bind(&r.domain)
                .bind(r.status.as_str())
                .bind(r.next_attempt_at)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    /// Store messages, recipients and their events: when this returns Ok,
    /// all of it is on disk; when it fails, none of it is. Concurrent calls
    /// share a transaction (`group_commit`).
    pub async fn insert_messages(
        &self,
        domain_id: i64,
        messages: Vec<NewMessage>,
        events: Vec<NewEvent>,
    ) -> Result<()> {
        let work = Acceptance {
            domain_id,
            messages,
            events,
        };
        match &self.committer {
            Some(c) => c.commit(work).await,
            None => self.insert_acceptances(&[&work]).await,
        }
    }

    /// Several accepts in one transaction.
    pub(crate) async fn insert_acceptances(&self, works: &[&Acceptance]) -> Result<()> {
        let now = super::now_micros();
        let mut tx = self.writer().begin().await?;
        // Messages in multi-row INSERTs: each returns its id with its storage
        // key (unique), since RETURNING promises no order.
        let all: Vec<(i64, &NewMessage)> = works
            .iter()
            .flat_map(|w| w.messages.iter().map(move |m| (w.domain_id, m)))
            .collect();
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(all.len());
        for chunk in all.chunks(MESSAGES_PER_INSERT) {
            let sql = format!(
                "INSERT INTO messages (domain_id, storage_key, message_id, sender, body, size, options, method, created_at, summary) \
                 VALUES {} RETURNING id, storage_key",
                placeholders(chunk.len(), 10, 1)
            );
            let mut q = sqlx::query(&sql);
            for (domain_id, m) in chunk {
                q = q
                    .bind(*domain_id)
                    .bind(&m.storage_key)
                    .bind(&m.message_id)
                    .bind(&m.sender)
                    .bind(&m.sealed_body)
                    .bind(m.size)
                    .bind(&m.options)
                    .bind(m.method)
                    .bind(now)
                    .bind(&m.summary);
            }
            for row in q.fetch_all(&mut *tx).await? {
                ids.insert(row.get(1), row.get(0));
            }
        }
        let mut recipients: Vec<(i64, &NewRecipient)> = Vec::new();
        for (_, m) in &all {
            let id = *ids.get(&m.storage_key).ok_or(sqlx::Error::RowNotFound)?;
            recipients.extend(m.recipients.iter().map(|r| (id, r)));
        }
        insert_recipients(&mut tx, &recipients, now).await?;
        let events: Vec<(i64, &NewEvent)> = works
            .iter()
            .flat_map(|w| w.events.iter().map(move |e| (w.domain_id, e)))
            .collect();
        insert_events_of(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn message_by_storage_key(
        &self,
        domain_id: i64,
        key: &str,
    ) -> Result<Option<StoredMessage>> {
        let row = sqlx::query(&format!(
            "SELECT {MSG_COLS} FROM messages WHERE storage_key = $1 AND domain_id = $2"
        ))
        .bind(key)
        .bind(domain_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(message_from).transpose()
    }

    pub async fn recipients_of(&self, message_id: i64) -> Result<Vec<StoredRecipient>> {
        let rows = sqlx::query(
            "SELECT address, status, attempts, next_attempt_at FROM recipients WHERE message_id = $1 ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|r| StoredRecipient {
                address: r.get(0),
                status: r.get(1),
                attempts: r.get(2),
                next_attempt_at: r.get(3),
            })
            .collect())
    }

    /// Recipients per status for a domain (the sending queue's view).
    pub async fn queue_counts(&self, domain_id: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT r.status, COUNT(*) FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE m.domain_id = $1 GROUP BY r.status ORDER BY r.status",
        )
        .bind(domain_id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// A message a report came back for: the message, its domain's name, and
/// its recipients (id, address).
pub struct ReportTarget {
    pub message: StoredMessage,
    pub domain_name: String,
    pub recipients: Vec<(i64, String)>,
}

impl Store {
    pub async fn report_target(&self, message_id: i64) -> Result<Option<ReportTarget>> {
        let Some(row) = sqlx::query(&format!("SELECT {MSG_COLS} FROM messages WHERE id = $1"))
            .bind(message_id)
            .fetch_optional(self.reader())
            .await?
        else {
            return Ok(None);
        };
        let message = message_from(&row)?;
        let Some(domain_name) = self.domain_name(message.domain_id).await? else {
            return Ok(None);
        };
        let recipients =
            sqlx::query("SELECT id, address FROM recipients WHERE message_id = $1 ORDER BY id")
                .bind(message_id)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
                .collect();
        Ok(Some(ReportTarget {
            message,
            domain_name,
            recipients,
        }))
    }
}
