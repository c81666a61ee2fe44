//! This node's share of each destination: how many recipients it holds
//! (leased, not yet recorded) and how many connections it has open.
//!
//! A node leases for a destination only what its connections can start
//! soon (its connection share times `JOBS_PER_CONNECTION`), leaving the rest
//! in the queue for its peers: a node that dies strands little more than
//! what was in flight. Connections are shared out too:
//! `[limits].per_destination_connections` is for the whole cluster, so each
//! of `n` live nodes opens at most its `1/n` of it (at least one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default)]
pub struct Share {
    /// Recipients held per destination.
    held: Mutex<HashMap<String, usize>>,
    /// Connections open (or being opened) per destination.
    open: Mutex<HashMap<String, usize>>,
    closed: Notify,
}

/// Connections this node may open to one destination: its share of the
/// cluster's `limit` over `live` nodes; `None` when unlimited (0).
pub fn connections_per_node(limit: u32, live: u64) -> Option<usize> {
    (limit > 0).then(|| (limit as u64 / live.max(1)).max(1) as usize)
}

impl Share {
    /// Destinations holding at least `cap` recipients.
    pub fn full(&self, cap: usize) -> Vec<String> {
        self.held
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, n)| **n >= cap)
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Counts `n` recipients more held for `domain`.
    pub fn hold(&self, domain: &str, n: usize) {
        *self
            .held
            .lock()
            .unwrap()
            .entry(domain.to_string())
            .or_default() += n;
    }

    /// `n` recipients of `domain` are no longer held.
    pub fn let_go(&self, domain: &str, n: usize) {
        let mut held = self.held.lock().unwrap();
        if let Some(h) = held.get_mut(domain) {
            *h = h.saturating_sub(n);
            if *h == 0 {
                held.remove(domain);
            }
        }
    }

    /// Waits for a connection to `domain` within `cap()` (read again at each
    /// wake: nodes come and go); `None` cap is unlimited.
    pub async fn connect(
        self: &Arc<Self>,
        domain: &str,
        cap: impl Fn() -> Option<usize>,
    ) -> Connection {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            {
                let mut open = self.open.lock().unwrap();
                let n = open.entry(domain.to_string()).or_default();
                if cap().is_none_or(|c| *n < c) {
                    *n += 1;
                    return Connection {
                        share: self.clone(),
                        domain: domain.to_string(),
                    };
                }
            }
            tokio::select! {
                _ = closed => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// One connection counted against a destination; uncounted when dropped.
pub struct Connection {
    share: Arc<Share>,
    domain: String,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut open = self.share.open.lock().unwrap();
        if let Some(n) = open.get_mut(&self.domain) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.domain);
            }
        }
        drop(open);
        self.share.closed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_live_node_opens_its_share_of_the_cluster_limit() {
        assert_eq!(connections_per_node(10, 1), Some(10));
        assert_eq!(connections_per_node(10, 3), Some(3));
        assert_eq!(connections_per_node(2, 3), Some(1), "at least one");
        assert_eq!(connections_per_node(0, 3), None, "unlimited");
    }

    #[test]
    fn a_destination_is_full_once_it_holds_its_cap() {
        let s = Share::default();
        s.hold("a.test", 3);
        s.hold("b.test", 1);
        assert_eq!(s.full(3), ["a.test"]);
        s.let_go("a.test", 1);
        assert!(s.full(3).is_empty());
    }

    #[tokio::test]
    async fn a_connection_over_the_cap_waits_for_one_to_close() {
        let s = Arc::new(Share::default());
        let first = s.connect("a.test", || Some(1)).await;
        let waiting = {
            let s = s.clone();
            tokio::spawn(async move { s.connect("a.test", || Some(1)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(first);
        tokio::time::timeout(Duration::from_millis(500), waiting)
            .await
            .expect("woken when the first closed")
            .unwrap();
    }
}
