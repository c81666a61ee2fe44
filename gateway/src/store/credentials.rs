//! SMTP submission credentials.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_micros, Result, Store};

#[derive(Debug, Clone)]
pub struct SmtpCredential {
    pub domain_id: i64,
    /// `name@domain`, lower case.
    pub login: String,
    pub password_hash: String,
    pub created_at: i64,
}

const COLS: &str = "domain_id, login, password_hash, created_at";

fn from_row(r: &AnyRow) -> SmtpCredential {
    SmtpCredential {
        domain_id: r.get(0),
        login: r.get(1),
        password_hash: r.get(2),
        created_at: r.get(3),
    }
}

impl Store {
    /// `false` when the login exists already.
    pub async fn add_credential(&self, domain_id: i64, login: &str, hash: &str) -> Result<bool> {
        let now = now_micros();
        let n = sqlx::query(
            "INSERT INTO smtp_credentials (domain_id, login, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (login) DO NOTHING",
        )
        .bind(domain_id)
        .bind(login)
        .bind(hash)
        .bind(now)
        .execute(self.writer())
        .await?
        .rows_affected();
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
            "SELECT c.domain_id, c.login, c.password_hash, c.created_at, d.name \
             FROM smtp_credentials c JOIN domains d ON d.id = c.domain_id WHERE c.login = $1",
        )
        .bind(login)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.map(|r| (from_row(&r), r.get(4))))
    }

    /// `false` when there is no such login in the domain.
    pub async fn set_credential_password(
        &self,
        domain_id: i64,
        login: &str,
        hash: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE smtp_credentials SET password_hash = $1, updated_at = $2 \
             WHERE domain_id = $3 AND login = $4",
        )
        .bind(hash)
        .bind(now_micros())
        .bind(domain_id)
        .bind(login)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Deletes one login (`Some`) or all of a domain's; how many went.
    pub async fn delete_credentials(&self, domain_id: i64, login: Option<&str>) -> Result<u64> {
        let n = sqlx::query(
            "DELETE FROM smtp_credentials WHERE domain_id = $1 AND ($2 = '' OR login = $2)",
        )
        .bind(domain_id)
        .bind(login.unwrap_or(""))
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n)
    }
}
