//! Suppression lists per domain: bounces, unsubscribes, complaints.
//! Addresses are kept in lower case.

use std::collections::HashMap;

use policy::suppression::{Entry, List};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::events::{insert_event, NewEvent};
use super::{placeholders, Result, Store, StoreError};

/// One address on one list, as stored.
#[derive(Debug, Clone)]
pub struct Suppressed {
    pub address: String,
    pub code: String,
    pub error: String,
    pub tags: Vec<String>,
    pub created_at: i64,
}

/// One address to add (or update) on a list.
#[derive(Debug, Clone)]
pub struct NewSuppression {
    pub address: String,
    pub code: String,
    pub error: String,
    pub tags: Vec<String>,
    pub created_at: i64,
}

/// Where a page of a list starts.
#[derive(Debug, Clone, Copy)]
pub enum Page<'a> {
    First,
    /// Addresses after this one.
    Next(&'a str),
    /// Addresses before this one.
    Previous(&'a str),
    Last,
}

/// An unsubscribe's tags: a row whose tags do not parse is `Corrupt`, never
/// "no tags" (which would stop nothing and let mail through).
fn tags_of(address: &str, text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "suppressions row for {address}, field tags: {e} (stored {text:?})"
        ))
    })
}

fn from_row(r: &AnyRow) -> Result<Suppressed> {
    let address: String = r.get(0);
    let tags = tags_of(&address, &r.get::<String, _>(3))?;
    Ok(Suppressed {
        address,
        code: r.get(1),
        error: r.get(2),
        tags,
        created_at: r.get(4),
    })
}

const COLS: &str = "address, code, error, tags, created_at";

impl Store {
    /// Which of `addresses` are on the domain's lists, with the tags of
    /// their unsubscribes: lower-cased address → entries.
    pub async fn suppressed(
        &self,
        domain_id: i64,
        addresses: &[&str],
    ) -> Result<HashMap<String, Vec<Entry>>> {
        let mut out: HashMap<String, Vec<Entry>> = HashMap::new();
        for chunk in addresses.chunks(200) {
            let sql = format!(
                "SELECT address, kind, tags FROM suppressions WHERE domain_id = $1 AND address IN ({})",
                placeholders(chunk.len(), 1, 2)
            );
            let mut q = sqlx::query(&sql).bind(domain_id);
            for a in chunk {
                q = q.bind(a.to_ascii_lowercase());
            }
            for row in q.fetch_all(self.reader()).await? {
                let address: String = row.get(0);
                let kind: &str = row.get(1);
                let list: List = kind.parse().map_err(|e| {
                    StoreError::Corrupt(format!("suppressions row for {address}, field kind: {e}"))
                })?;
                let tags = tags_of(&address, &row.get::<String, _>(2))?;
                out.entry(address).or_default().push(Entry { list, tags });
            }
        }
        Ok(out)
    }

    /// A page of a list, in address order; `term`: an address prefix.
    pub async fn suppressions(
        &self,
        domain_id: i64,
        list: List,
        page: Page<'_>,
        term: &str,
        limit: i64,
    ) -> Result<Vec<Suppressed>> {
        let (cond, order) = match page {
            Page::First => ("", "ASC"),
            Page::Next(_) => ("AND address > $4", "ASC"),
            Page::Previous(_) => ("AND address < $4", "DESC"),
            Page::Last => ("", "DESC"),
        };
        let sql = format!(
            "SELECT {COLS} FROM suppressions WHERE domain_id = $1 AND kind = $2 AND address LIKE $3 ESCAPE '\\' {cond} \
             ORDER BY address {order} LIMIT {limit}"
        );
        let like = format!("{}%", super::like_literal(&term.to_ascii_lowercase()));
        let mut q = sqlx::query(&sql)
            .bind(domain_id)
            .bind(list.as_str())
            .bind(like);
        if let Page::Next(a) | Page::Previous(a) = page {
            q = q.bind(a.to_ascii_lowercase());
        }
        let mut items: Vec<Suppressed> = q
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<_>>()?;
        if order == "DESC" {
            items.reverse();
        }
        Ok(items)
    }

    pub async fn suppression(
        &self,
        domain_id: i64,
        list: List,
        address: &str,
    ) -> Result<Option<Suppressed>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM suppressions WHERE domain_id = $1 AND kind = $2 AND address = $3"
        ))
        .bind(domain_id)
        .bind(list.as_str())
        .bind(address.to_ascii_lowercase())
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Adds (or updates) addresses on a list, all in one transaction.
    pub async fn add_suppressions(
        &self,
        domain_id: i64,
        list: List,
        items: &[NewSuppression],
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        for s in items {
            upsert(&mut tx, domain_id, list, s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Unsubscribes and their `unsubscribed` events, together.
    pub async fn unsubscribe(
        &self,
        domain_id: i64,
        entries: &[(NewSuppression, NewEvent)],
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        for (entry, event) in entries {
            upsert(&mut tx, domain_id, List::Unsubscribe, entry).await?;
            insert_event(&mut tx, domain_id, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes one address (`Some`) or the whole list; how many went.
    pub async fn delete_suppressions(
        &self,
        domain_id: i64,
        list: List,
        address: Option<&str>,
    ) -> Result<u64> {
        let n = sqlx::query(
            "DELETE FROM suppressions WHERE domain_id = $1 AND kind = $2 AND ($3 = '' OR address = $3)",
        )
        .bind(domain_id)
        .bind(list.as_str())
        .bind(address.map(str::to_ascii_lowercase).unwrap_or_default())
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n)
    }
}

async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    domain_id: i64,
    list: List,
    s: &NewSuppression,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO suppressions (domain_id, kind, address, code, error, tags, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (domain_id, kind, address) DO UPDATE SET code = $4, error = $5, tags = $6, created_at = $7",
    )
    .bind(domain_id)
    .bind(list.as_str())
    .bind(s.address.to_ascii_lowercase())
    .bind(&s.code)
    .bind(&s.error)
    .bind(serde_json::to_string(&s.tags).expect("tags serialise"))
    .bind(s.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
