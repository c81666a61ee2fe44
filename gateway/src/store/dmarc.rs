//! DMARC aggregate and SMTP TLS reports, as received: each stored once
//! (reporters resend), a report and its rows in one transaction.

use policy::dmarc::Policy;
use sqlx::Row;

use super::{now_micros, placeholders, Result, Store, StoreError};

/// Rows of a report per INSERT.
const ROWS_PER_INSERT: usize = 256;
use crate::dmarc::{Aggregate, TlsReport};

/// A stored aggregate report, as the list shows it.
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// Its row: with `end`, the cursor of the list.
    pub id: i64,
    pub org: String,
    pub report_id: String,
    pub begin: i64,
    pub end: i64,
    pub policy: Policy,
    pub pct: i64,
    pub messages: i64,
    pub dmarc_pass: i64,
}

/// What the reports say of one source (sending IP address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub ip: String,
    pub messages: i64,
    pub dkim_aligned: i64,
    pub spf_aligned: i64,
    pub dmarc_pass: i64,
    pub quarantined: i64,
    pub rejected: i64,
}

/// Whether a report was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Duplicate,
}

impl Store {
    /// Stores `a` for `domain_id` with its rows, unless the same reporter's
    /// report of that id is already there.
    pub async fn store_aggregate(&self, domain_id: i64, a: &Aggregate) -> Result<Stored> {
        let mut tx = self.writer().begin().await?;
        let id: Option<i64> = sqlx::query(
            "INSERT INTO dmarc_reports (domain_id, org, report_id, begin_at, end_at, policy, pct, \
             messages, dmarc_pass, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (domain_id, org, report_id) DO NOTHING RETURNING id",
        )
        .bind(domain_id)
        .bind(&a.org)
        .bind(&a.report_id)
        .bind(a.begin)
        .bind(a.end)
        .bind(a.p.as_str())
        .bind(a.pct as i64)
        .bind(a.messages() as i64)
        .bind(a.passing(|r| r.dmarc_pass()) as i64)
        .bind(now_micros())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get(0));
        let Some(id) = id else {
            return Ok(Stored::Duplicate);
        };
        // A big reporter's report has hundreds of rows: a few statements,
        // not one per row (PostgreSQL takes at most 65535 parameters).
        for chunk in a.rows.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO dmarc_rows (report, source_ip, count, header_from, disposition, \
                 dkim_aligned, spf_aligned) VALUES {}",
                placeholders(chunk.len(), 7, 1)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(id)
                    .bind(r.source_ip.to_string())
                    .bind(r.count as i64)
                    .bind(&r.header_from)
                    .bind(r.disposition.as_str())
                    .bind(r.dkim_aligned as i64)
                    .bind(r.spf_aligned as i64);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Stored::New)
    }

    /// Stores each policy of a TLS report once.
    pub async fn store_tls_report(&self, t: &TlsReport) -> Result<Stored> {
        let mut tx = self.writer().begin().await?;
        let mut stored = Stored::Duplicate;
        for p in &t.policies {
            let done = sqlx::query(
                "INSERT INTO tls_reports (org, report_id, policy_domain, policy_type, successful, \
                 failed, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (org, report_id, policy_domain, policy_type) DO NOTHING",
            )
            .bind(&t.org)
            .bind(&t.report_id)
            .bind(&p.domain)
            .bind(&p.kind)
            .bind(p.successful as i64)
            .bind(p.failed as i64)
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                stored = Stored::New;
            }
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// A domain's reports whose period ended at `since` (seconds) or later,
    /// newest period first, `limit` at most.
    pub async fn aggregate_reports(
        &self,
        domain_id: i64,
        since: i64,
        limit: i64,
    ) -> Result<Vec<StoredReport>> {
        self.aggregate_reports_before(domain_id, since, (i64::MAX, i64::MAX), limit)
            .await
    }

    /// The same, after the report `(end, id)` of a previous page.
    pub async fn aggregate_reports_before(
        &self,
        domain_id: i64,
        since: i64,
        (end, id): (i64, i64),
        limit: i64,
    ) -> Result<Vec<StoredReport>> {
        let rows = sqlx::query(
            "SELECT org, report_id, begin_at, end_at, policy, pct, messages, dmarc_pass, id \
             FROM dmarc_reports WHERE domain_id = $1 AND end_at >= $2 \
             AND (end_at < $3 OR (end_at = $3 AND id < $4)) \
             ORDER BY end_at DESC, id DESC LIMIT $5",
        )
        .bind(domain_id)
        .bind(since)
        .bind(end)
        .bind(id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let org: String = r.get(0);
                let report_id: String = r.get(1);
                let policy: String = r.get(4);
                Ok(StoredReport {
                    policy: policy.parse().map_err(|e| {
                        StoreError::Corrupt(format!(
                            "dmarc_reports row {org}/{report_id}, field policy: {e}"
                        ))
                    })?,
                    id: r.get(8),
                    org,
                    report_id,
                    begin: r.get(2),
                    end: r.get(3),
                    pct: r.get(5),
                    messages: r.get(6),
                    dmarc_pass: r.get(7),
                })
            })
            .collect()
    }

    /// Per source, what the reports ending at `since` or later say, the
    /// sources sending most first.
    pub async fn dmarc_sources(&self, domain_id: i64, since: i64) -> Result<Vec<Source>> {
        let sum =
            |cond: &str| format!("CAST(SUM(CASE WHEN {cond} THEN r.count ELSE 0 END) AS BIGINT)");
        let sql = format!(
            "SELECT r.source_ip, CAST(SUM(r.count) AS BIGINT), {}, {}, {}, {}, {} \
             FROM dmarc_rows r JOIN dmarc_reports p ON p.id = r.report \
             WHERE p.domain_id = $1 AND p.end_at >= $2 \
             GROUP BY r.source_ip ORDER BY 2 DESC, r.source_ip",
            sum("r.dkim_aligned = 1"),
            sum("r.spf_aligned = 1"),
            sum("(r.dkim_aligned = 1 OR r.spf_aligned = 1)"),
            sum("r.disposition = 'quarantine'"),
            sum("r.disposition = 'reject'"),
        );
        let rows = sqlx::query(&sql)
            .bind(domain_id)
            .bind(since)
            .fetch_all(self.reader())
            .await?;
        Ok(rows
            .iter()
            .map(|r| Source {
                ip: r.get(0),
                messages: r.get(1),
                dkim_aligned: r.get(2),
                spf_aligned: r.get(3),
                dmarc_pass: r.get(4),
                quarantined: r.get(5),
                rejected: r.get(6),
            })
            .collect())
    }

    /// Records the spoofing warning `event` for `source_ip` on `day`,
    /// unless one was given already for that source and day; whether it
    /// was new. The warning and its mark commit together.
    pub async fn dmarc_alarm(
        &self,
        domain_id: i64,
        source_ip: &str,
        day: i64,
        event: &super::events::NewEvent,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let marked = sqlx::query(
            "INSERT INTO dmarc_alarms (domain_id, source_ip, day) VALUES ($1, $2, $3) \
             ON CONFLICT (domain_id, source_ip, day) DO NOTHING",
        )
        .bind(domain_id)
        .bind(source_ip)
        .bind(day)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if marked {
            super::events::insert_event(&mut tx, domain_id, event).await?;
        }
        tx.commit().await?;
        Ok(marked)
    }
}
