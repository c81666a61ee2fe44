//! Transactions for the queue's own bookkeeping (leases, delivery outcomes)
//! whose commit need not wait for the disk.
//!
//! An accept is on disk before its 200/250 (`synchronous=FULL`). A lease or
//! an outcome lost to a power cut costs at most a second delivery, never a
//! message, so those commits skip the flush: on SQLite `synchronous=NORMAL`
//! for that transaction (WAL: the commit is written, not synced, so a
//! killed process loses nothing; the next durable commit or checkpoint
//! syncs it), on PostgreSQL `synchronous_commit = off`. Half of the commits
//! under load are bookkeeping: each flush saved shortens the single
//! writer's queue in front of the accepts.

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor};

use super::{Backend, Result, Store};

pub struct RelaxedTx {
    /// `None` once committed. Dropped any other way (an error, `?`), the
    /// connection is closed rather than returned to the pool: its
    /// transaction and its relaxed setting go with it.
    conn: Option<PoolConnection<Any>>,
    backend: Backend,
}

impl RelaxedTx {
    pub async fn begin(store: &Store) -> Result<RelaxedTx> {
        let conn = store.writer().acquire().await?;
        let mut tx = RelaxedTx {
            conn: Some(conn),
            backend: store.backend,
        };
        // SQLite refuses to change the setting inside a transaction.
        let sql = match tx.backend {
            Backend::Sqlite => "PRAGMA synchronous=NORMAL; BEGIN",
            Backend::Postgres => "BEGIN; SET LOCAL synchronous_commit = off",
        };
        tx.conn().execute(sql).await?;
        Ok(tx)
    }

    pub fn conn(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("not committed yet")
    }

    pub async fn commit(mut self) -> Result<()> {
        // The connection goes back to the pool as durable as it came.
        let sql = match self.backend {
            Backend::Sqlite => "COMMIT; PRAGMA synchronous=FULL",
            Backend::Postgres => "COMMIT",
        };
        self.conn().execute(sql).await?;
        drop(self.conn.take());
        Ok(())
    }
}

impl Drop for RelaxedTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Closed, not reused; the pool opens a fresh one (FULL again).
            drop(conn.detach());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    async fn store() -> (Store, std::path::PathBuf) {
        let (store, dir) = crate::store::temp_sqlite("relaxed").await;
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(store.writer())
            .await
            .unwrap();
        (store, dir)
    }

    /// 2 is FULL, 1 is NORMAL.
    async fn synchronous(conn: &mut AnyConnection) -> i64 {
        sqlx::query("PRAGMA synchronous")
            .fetch_one(conn)
            .await
            .unwrap()
            .get(0)
    }

    async fn count(store: &Store) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM t")
            .fetch_one(store.reader())
            .await
            .unwrap()
            .get(0)
    }

    #[tokio::test]
    async fn a_relaxed_commit_hands_the_writer_back_durable() {
        let (store, dir) = store().await;
        let mut tx = RelaxedTx::begin(&store).await.unwrap();
        assert_eq!(synchronous(tx.conn()).await, 1);
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&store).await, 1);
        let mut conn = store.writer().acquire().await.unwrap();
        assert_eq!(synchronous(&mut conn).await, 2);
        drop(conn);
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_abandoned_relaxed_transaction_is_rolled_back_and_its_connection_closed() {
        let (store, dir) = store().await;
        let mut tx = RelaxedTx::begin(&store).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(tx.conn())
            .await
            .unwrap();
        drop(tx);
        assert_eq!(count(&store).await, 0);
        let mut conn = store.writer().acquire().await.unwrap();
        assert_eq!(synchronous(&mut conn).await, 2);
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(count(&store).await, 1);
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
