//! Domains whose IP allowlist holds a client address: such a client may
//! submit without AUTH, as an address of those domains only.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::app::App;

/// An IP or a CIDR, normalised (`10.1.2.3/8` → `10.0.0.0/8`, a bare IP → /32
/// or /128), or `None`.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .ok()
}

pub async fn domains_for(app: &App, ip: IpAddr) -> Vec<String> {
    // IPv4 clients may arrive as IPv4-mapped IPv6 addresses.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let networks = match app.store.allowed_networks(None).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "IP allowlist unavailable; treating the client as unlisted");
            return Vec::new();
        }
    };
    let mut domains: Vec<String> = networks
        .into_iter()
        .filter(|n| parse_network(&n.network).is_some_and(|net| net.contains(&ip)))
        .map(|n| n.domain)
        .collect();
    domains.dedup();
    domains
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
