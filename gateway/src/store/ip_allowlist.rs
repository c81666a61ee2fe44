//! Per-domain IP allowlists for SMTP submission without AUTH.

use sqlx::Row;

use super::{now_micros, Result, Store};

#[derive(Debug, Clone)]
pub struct AllowedNetwork {
    pub domain: String,
    pub network: String,
    pub description: String,
}

impl Store {
    /// `false` when the network was already listed.
    pub async fn allow_network(
        &self,
        domain_id: i64,
        network: &str,
        description: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO ip_allowlist (domain_id, network, description, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (domain_id, network) DO NOTHING",
        )
        .bind(domain_id)
        .bind(network)
        .bind(description)
        .bind(now_micros())
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn disallow_network(&self, domain_id: i64, network: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM ip_allowlist WHERE domain_id = $1 AND network = $2")
            .bind(domain_id)
            .bind(network)
            .execute(self.writer())
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Every allowed network (of one domain, or of all).
    pub async fn allowed_networks(&self, domain_id: Option<i64>) -> Result<Vec<AllowedNetwork>> {
        let rows = sqlx::query(
            "SELECT d.name, a.network, a.description FROM ip_allowlist a \
             JOIN domains d ON d.id = a.domain_id WHERE ($1 = 0 OR a.domain_id = $1) \
             ORDER BY d.name, a.id",
        )
        .bind(domain_id.unwrap_or(0))
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|r| AllowedNetwork {
                domain: r.get(0),
                network: r.get(1),
                description: r.get(2),
            })
            .collect())
    }
}
