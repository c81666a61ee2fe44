//! Domains whose IP allowlist holds a client address: such a client may
//! submit without AUTH, as an address of those domains only.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ipnet::IpNet;

use crate::store::Store;

/// An IP or a CIDR, normalised (`10.1.2.3/8` → `10.0.0.0/8`, a bare IP → /32
/// or /128), or `None`.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .ok()
}

/// The allowlists, parsed, kept between connections: reloaded when this node
/// changes one, and at least every `TTL` (another node may have: every node
/// sees a change within the 2 s of the other caches).
pub struct Cache {
    store: Store,
    /// Bumped whenever an allowlist changes.
    generation: Arc<AtomicU64>,
    entries: Mutex<Option<(u64, Instant, Networks)>>,
}

/// Each allowed network with the domain that listed it.
type Networks = Arc<Vec<(IpNet, String)>>;

use crate::store::cache::TTL;

impl Cache {
    pub fn new(store: Store, generation: Arc<AtomicU64>) -> Cache {
        Cache {
            store,
            generation,
            entries: Mutex::new(None),
        }
    }

    async fn networks(&self) -> Networks {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some((g, at, nets)) = &*self.entries.lock().unwrap() {
            if *g == generation && at.elapsed() < TTL {
                return nets.clone();
            }
        }
        let nets: Vec<(IpNet, String)> = match self.store.allowed_networks(None).await {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|n| parse_network(&n.network).map(|net| (net, n.domain)))
                .collect(),
            Err(e) => {
                // Not cached: the next connection asks the store again.
                tracing::error!(error = %e, "IP allowlist unavailable; treating the client as unlisted");
                return Arc::new(Vec::new());
            }
        };
        let nets = Arc::new(nets);
        *self.entries.lock().unwrap() = Some((generation, Instant::now(), nets.clone()));
        nets
    }

    /// Domains whose allowlist holds `ip`.
    pub async fn domains_for(&self, ip: IpAddr) -> Vec<String> {
        // IPv4 clients may arrive as IPv4-mapped IPv6 addresses.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let mut domains: Vec<String> = self
            .networks()
            .await
            .iter()
            .filter(|(net, _)| net.contains(&ip))
            .map(|(_, domain)| domain.clone())
            .collect();
        domains.dedup();
        domains
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_normalised() {
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("2001:db8::1").unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert!(parse_network("10.0.0.0/33").is_none());
        assert!(parse_network("example.com").is_none());
    }
}
