//! This node among its peers on one store: its identity and heartbeat
//! (`Node`), and the jobs only one node runs at a time (`singleton`).
//!
//! On SQLite there is one node; the same code runs, with the one node
//! always the runner.

pub mod singleton;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::store::queue::Lease;
use crate::store::{Result, Store};

/// This run of this node.
pub struct Node {
    /// The store's row for this run (`nodes.id`).
    pub id: i64,
    /// `[cluster].node_name`.
    pub name: String,
    /// `[cluster].lease_timeout`.
    pub lease_timeout: Duration,
    /// Live nodes as last counted (this one included; at least 1).
    live: AtomicU64,
    /// The last lease token handed out (microseconds).
    token: AtomicI64,
}

impl Node {
    /// Registers this run; how many recipients the name's earlier run
    /// still held (handed back now) comes with it.
    pub async fn register(store: &Store, config: &Config) -> Result<(Arc<Node>, u64)> {
        let name = config.node_name();
        let (id, released) = store
            .register_node(&name, &crate::config::hostname(), std::process::id())
            .await?;
        let node = Arc::new(Node {
            id,
            name,
            lease_timeout: config.cluster.lease_timeout.0,
            live: AtomicU64::new(1),
            token: AtomicI64::new(0),
        });
        Ok((node, released))
    }

    /// A lease token no earlier lease of this run had: the time it is
    /// taken (microseconds), moved on by one when the clock has not.
    pub fn next_lease(&self) -> Lease {
        let now = crate::store::now_micros();
        let last = self
            .token
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last + 1))
            })
            .expect("the closure always gives a value");
        Lease {
            node: self.id,
            token: now.max(last + 1),
        }
    }

    pub fn lease_timeout_micros(&self) -> i64 {
        self.lease_timeout.as_micros() as i64
    }

    /// Live nodes as last counted, at least 1.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Relaxed).max(1)
    }

    /// How often this node beats: five times per lease timeout, so a peer
    /// takes a node for dead only after several beats were missed, and at
    /// least every 2 s, so a node joining is counted (for the shares of
    /// connections and leases) within 2 s.
    pub fn beat_every(&self) -> Duration {
        (self.lease_timeout / 5).min(Duration::from_secs(2))
    }

    /// Beats until `stop`, counting the live nodes as it goes; then marks
    /// this run stopped, handing back whatever it still holds.
    pub async fn run(self: Arc<Self>, store: Store, mut stop: watch::Receiver<bool>) {
        let mut warned = false;
        let mut forgot_at = tokio::time::Instant::now();
        loop {
            match store.heartbeat(self.id).await {
                Ok(true) => warned = false,
                Ok(false) if !warned => {
                    warned = true;
                    tracing::error!(
                        node = %self.name,
                        "another run of node {} started and took over this one's work: two nodes share one [cluster].node_name; give each its own",
                        self.name
                    );
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "heartbeat failed; peers take this node's leases if it lasts longer than [cluster].lease_timeout")
                }
            }
            if let Ok(n) = store.live_nodes(self.lease_timeout_micros()).await {
                self.live.store(n.max(1) as u64, Ordering::Relaxed);
            }
            if forgot_at.elapsed() > Duration::from_secs(3600) {
                forgot_at = tokio::time::Instant::now();
                let _ = store.forget_old_nodes().await;
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(self.beat_every()) => {}
            }
        }
    }

    /// A clean stop, once delivery has stopped: hands back what is left
    /// and leaves the cluster.
    pub async fn leave(&self, store: &Store) {
        match store.stop_node(self.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recipients = n, "handed back leases to the other nodes"),
            Err(e) => {
                tracing::error!(error = %e, "could not hand back leases; peers take them after [cluster].lease_timeout")
            }
        }
    }
}
