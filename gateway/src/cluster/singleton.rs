//! Jobs that must run on one node at a time (webhook calls, reputation
//! assessment, DKIM rotation, event retention): on PostgreSQL, the node holding the job's
//! advisory lock runs it. The lock lives with a connection of its own, so a
//! node that dies (its connection with it) loses it at once and a peer,
//! asking at its next tick, takes over within seconds.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::Node;
use crate::store::{Backend, Store};

/// The singleton jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Webhooks,
    Reputation,
    DkimRotation,
    EventRetention,
}

impl Job {
    pub const ALL: [Job; 4] = [
        Job::Webhooks,
        Job::Reputation,
        Job::DkimRotation,
        Job::EventRetention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Job::Webhooks => "webhooks",
            Job::Reputation => "reputation",
            Job::DkimRotation => "dkim_rotation",
            Job::EventRetention => "event_retention",
        }
    }

    /// The advisory lock's key: "envoi" and the job's number.
    fn lock_key(self) -> i64 {
        0x656e_766f_6900 + self as i64
    }
}

/// Whether this node runs one job.
pub struct Singleton {
    job: Job,
    store: Store,
    node: Arc<Node>,
    /// The connection holding the lock, while this node runs the job.
    held: Mutex<Option<sqlx::AnyConnection>>,
    /// SQLite: the one node recorded itself as the runner.
    recorded: std::sync::atomic::AtomicBool,
}

impl Singleton {
    pub fn new(job: Job, store: Store, node: Arc<Node>) -> Singleton {
        Singleton {
            job,
            store,
            node,
            held: Mutex::new(None),
            recorded: Default::default(),
        }
    }

    /// Whether this node runs the job now: keeps the lock while its
    /// connection answers, else tries to take it. Called at each tick.
    pub async fn mine(&self) -> bool {
        if self.store.backend == Backend::Sqlite {
            if !self
                .recorded
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                self.took();
            }
            return true;
        }
        let mut held = self.held.lock().await;
        if let Some(conn) = held.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return true;
            }
            tracing::warn!(
                job = self.job.as_str(),
                "lost the store connection holding a singleton job; another node may take it"
            );
            *held = None;
        }
        match self.store.try_advisory_lock(self.job.lock_key()).await {
            Ok(Some(conn)) => {
                *held = Some(conn);
                self.took();
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(job = self.job.as_str(), error = %e, "could not ask for a singleton job");
                false
            }
        }
    }

    fn took(&self) {
        tracing::info!(job = self.job.as_str(), node = %self.node.name, "this node runs the job");
        let (store, job, id) = (self.store.clone(), self.job, self.node.id);
        tokio::spawn(async move {
            let _ = store.set_runner(job.as_str(), id).await;
        });
    }
}
