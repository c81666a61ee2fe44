//! Dashboard sessions signed out before their end (`http::ui::session`):
//! a session cookie is checked without a table, so a sign-out is written
//! down here for as long as the cookie could otherwise still be used.

use super::{Result, Store};

impl Store {
    /// Records that the session `nonce` is over; it would have ended at
    /// `ends_at` (seconds). Sessions already over are forgotten meanwhile.
    pub async fn sign_out_session(&self, nonce: &str, ends_at: i64, now: i64) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM ui_signed_out WHERE ends_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ui_signed_out (nonce, ends_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(ends_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the session `nonce` was signed out.
    pub async fn session_signed_out(&self, nonce: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM ui_signed_out WHERE nonce = $1")
            .bind(nonce)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }
}
