//! SMTP submission credentials.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, Audit};
use super::{now_micros, Result, Store};

#[derive(Debug, Clone)]
pub struct SmtpCredential {
    pub domain_id: i64,
    /// `name@domain`, lower case.
    pub login: String,
    pub password_hash: String,
    pub created_at: i64,
    /// The password replaced by the last change, and until when it works.
    pub previous_password_hash: Option<String>,
    pub previous_valid_until: Option<i64>,
    /// The last successful login (refreshed at most once a minute).
    pub last_used_at: Option<i64>,
}

const COLS: &str = "domain_id, login, password_hash, created_at, previous_password_hash, \
                    previous_valid_until, last_used_at";

fn from_row(r: &AnyRow) -> SmtpCredential {
    SmtpCredential {
        domain_id: r.get(0),
        login: r.get(1),
        password_hash: r.get(2),
        created_at: r.get(3),
        previous_password_hash: r.get(4),
        previous_valid_until: r.get(5),
        last_used_at: r.get(6),
    }
}

impl Store {
    /// `false` when the login exists already.
    pub async fn add_credential(
        &self,
        domain_id: i64,
        login: &str,
        hash: &str,
        audit: &Audit<'_>,
    ) -> Result<bool> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let n = sqlx::query(
            "INSERT INTO smtp_credentials (domain_id, login, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (login) DO NOTHING",
        )
        .bind(domain_id)
        .bind(login)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            audit::record(&mut *tx, audit).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn credentials(&self, domain_id: i64) -> Result<Vec<SmtpCredential>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM smtp_credentials WHERE domain_id = $1 ORDER BY login"
        ))
        .bind(domain_id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    /// A credential by login, with its domain's name.
    pub async fn credential(&self, login: &str) -> Result<Option<(SmtpCredential, String)>> {
        let row = sqlx::query(
            "SELECT c.domain_id, c.login, c.password_hash, c.created_at, c.previous_password_hash, \
             c.previous_valid_until, c.last_used_at, d.name \
             FROM smtp_credentials c JOIN domains d ON d.id = c.domain_id WHERE c.login = $1",
        )
        .bind(login)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.map(|r| (from_row(&r), r.get(7))))
    }

    /// Records a successful login at `now`.
    pub async fn touch_credential(&self, login: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE smtp_credentials SET last_used_at = $2 WHERE login = $1")
            .bind(login)
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// A new password; the one it replaces keeps working until
    /// `previous_valid_until`. `false` when there is no such login in the domain.
    pub async fn set_credential_password(
        &self,
        domain_id: i64,
        login: &str,
        hash: &str,
        previous_valid_until: i64,
        audit: &Audit<'_>,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let n = sqlx::query(
            "UPDATE smtp_credentials SET previous_password_hash = password_hash, previous_valid_until = $1, \
             password_hash = $2, updated_at = $3 WHERE domain_id = $4 AND login = $5",
        )
        .bind(previous_valid_until)
        .bind(hash)
        .bind(now_micros())
        .bind(domain_id)
        .bind(login)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            audit::record(&mut *tx, audit).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Deletes one login (`Some`) or all of a domain's; how many went.
    pub async fn delete_credentials(
        &self,
        domain_id: i64,
        login: Option<&str>,
        audit: &Audit<'_>,
    ) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        let n = sqlx::query(
            "DELETE FROM smtp_credentials WHERE domain_id = $1 AND ($2 = '' OR login = $2)",
        )
        .bind(domain_id)
        .bind(login.unwrap_or(""))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            audit::record(&mut *tx, audit).await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}
