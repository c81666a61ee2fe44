//! The nodes of a cluster: a row per run of a node, kept alive by its
//! heartbeat, and the node running each singleton job.
//!
//! Times here are the store's clock (`clock`), never a node's: nodes on
//! different machines compare heartbeats without trusting each other's
//! clocks.

use sqlx::Row;

use super::{Backend, Result, Store};

/// A node's row.
#[derive(Debug, Clone)]
pub struct NodeRow {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub pid: i64,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub stopped_at: Option<i64>,
}

/// Recipients a node holds for one destination domain.
#[derive(Debug, Clone)]
pub struct Held {
    pub node_id: i64,
    pub domain: String,
    pub recipients: i64,
}

/// Which node runs a singleton job, since when.
#[derive(Debug, Clone)]
pub struct Runner {
    pub name: String,
    pub node_id: i64,
    pub since: i64,
}

const NODE_COLS: &str = "id, name, host, pid, started_at, heartbeat_at, stopped_at";

fn node_from(r: &sqlx::any::AnyRow) -> NodeRow {
    NodeRow {
        id: r.get(0),
        name: r.get(1),
        host: r.get(2),
        pid: r.get(3),
        started_at: r.get(4),
        heartbeat_at: r.get(5),
        stopped_at: r.get(6),
    }
}

/// A lease older than this is free whoever holds it: longer than any one
/// attempt (every SMTP phase has its timeout), short enough that a
/// recipient a live node failed to record is not stranded for long.
pub const MAX_LEASE_AGE_MICROS: i64 = 3600 * 1_000_000;

/// Rows of nodes stopped or silent this long (and holding nothing) go.
const FORGET_AFTER_MICROS: i64 = 24 * 3600 * 1_000_000;

impl Store {
    /// The store's clock in microseconds, as SQL.
    pub(crate) fn clock(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
        }
    }

    /// SQL for "held by no live node": a lease whose node has not beaten
    /// for `$timeout` microseconds (or stopped) is free, and so is one older
    /// than `MAX_LEASE_AGE` at `$now` (its token is when it was taken), which
    /// no attempt lasts: what a live node failed to record or load comes
    /// back, and fencing drops the late outcome if there ever is one.
    pub(crate) fn lease_is_free(&self, timeout: usize, now: usize) -> String {
        format!(
            "(lease_node IS NULL OR lease_token < ${now} - {MAX_LEASE_AGE_MICROS} \
              OR lease_node NOT IN (SELECT id FROM nodes WHERE stopped_at IS NULL AND heartbeat_at >= {} - ${timeout}))",
            self.clock()
        )
    }

    /// Registers a new run of node `name`: earlier runs of the same name
    /// are over (it restarted), so their leases are handed back at once.
    /// The new node's id, and how many recipients were handed back.
    pub async fn register_node(&self, name: &str, host: &str, pid: u32) -> Result<(i64, u64)> {
        let clock = self.clock();
        let mut tx = self.writer().begin().await?;
        let released = sqlx::query(
            "UPDATE recipients SET lease_node = NULL, lease_token = NULL \
             WHERE lease_node IN (SELECT id FROM nodes WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "UPDATE nodes SET stopped_at = {clock} WHERE name = $1 AND stopped_at IS NULL"
        ))
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query(&format!(
            "INSERT INTO nodes (name, host, pid, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, {clock}, {clock}) RETURNING id"
        ))
        .bind(name)
        .bind(host)
        .bind(pid as i64)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        tx.commit().await?;
        Ok((id, released))
    }

    /// Beats for node `id`. `false` when its row says it stopped: another
    /// run took its name (two nodes configured with one `node_name`).
    pub async fn heartbeat(&self, id: i64) -> Result<bool> {
        let n = sqlx::query(&format!(
            "UPDATE nodes SET heartbeat_at = {} WHERE id = $1 AND stopped_at IS NULL",
            self.clock()
        ))
        .bind(id)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// A clean stop: node `id` hands back every lease it still holds and
    /// is marked stopped. How many recipients went back.
    pub async fn stop_node(&self, id: i64) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        let released = sqlx::query(
            "UPDATE recipients SET lease_node = NULL, lease_token = NULL WHERE lease_node = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "UPDATE nodes SET stopped_at = {} WHERE id = $1",
            self.clock()
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(released)
    }

    /// Nodes beating within `timeout_micros` (this one included).
    pub async fn live_nodes(&self, timeout_micros: i64) -> Result<i64> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) FROM nodes WHERE stopped_at IS NULL AND heartbeat_at >= {} - $1",
            self.clock()
        ))
        .bind(timeout_micros)
        .fetch_one(self.reader())
        .await?;
        Ok(row.get(0))
    }

    /// Every node row, newest first, with the store's clock now.
    pub async fn nodes(&self) -> Result<(Vec<NodeRow>, i64)> {
        let rows = sqlx::query(&format!("SELECT {NODE_COLS} FROM nodes ORDER BY id DESC"))
            .fetch_all(self.reader())
            .await?;
        let now: i64 = sqlx::query(&format!("SELECT {}", self.clock()))
            .fetch_one(self.reader())
            .await?
            .get(0);
        Ok((rows.iter().map(node_from).collect(), now))
    }

    /// What each node holds, by destination domain.
    pub async fn held_leases(&self) -> Result<Vec<Held>> {
        let rows = sqlx::query(
            "SELECT lease_node, domain, COUNT(*) FROM recipients \
             WHERE lease_node IS NOT NULL AND status = 'queued' \
             GROUP BY lease_node, domain ORDER BY lease_node, domain",
        )
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|r| Held {
                node_id: r.get(0),
                domain: r.get(1),
                recipients: r.get(2),
            })
            .collect())
    }

    /// Forgets nodes gone for a day that hold nothing.
    pub async fn forget_old_nodes(&self) -> Result<u64> {
        let n = sqlx::query(&format!(
            "DELETE FROM nodes WHERE COALESCE(stopped_at, heartbeat_at) < {} - $1 \
             AND id NOT IN (SELECT lease_node FROM recipients WHERE lease_node IS NOT NULL)",
            self.clock()
        ))
        .bind(FORGET_AFTER_MICROS)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n)
    }

    /// Records that node `node_id` now runs singleton `name`.
    pub async fn set_runner(&self, name: &str, node_id: i64) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO singletons (name, node_id, since) VALUES ($1, $2, {clock}) \
             ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, since = excluded.since",
            clock = self.clock()
        ))
        .bind(name)
        .bind(node_id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn runners(&self) -> Result<Vec<Runner>> {
        let rows = sqlx::query("SELECT name, node_id, since FROM singletons ORDER BY name")
            .fetch_all(self.reader())
            .await?;
        Ok(rows
            .iter()
            .map(|r| Runner {
                name: r.get(0),
                node_id: r.get(1),
                since: r.get(2),
            })
            .collect())
    }

    /// A session-level advisory lock on PostgreSQL, on a connection of its
    /// own that holds it until dropped (or until the node dies and its
    /// connection with it). `None` when another session holds it.
    pub async fn try_advisory_lock(&self, key: i64) -> Result<Option<sqlx::AnyConnection>> {
        let mut conn = self.writer().acquire().await?;
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        // Taken: the connection leaves the pool with its lock. Not taken: it
        // goes back, holding nothing.
        Ok(got.then(|| conn.detach()))
    }
}
