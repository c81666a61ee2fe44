//! The DNS resolver every feature shares (MX routing, the domain checks):
//! hickory, honouring `[delivery].nameservers`.

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

use crate::config::DeliveryConfig;

/// A resolver honouring `[delivery].nameservers` (the system's otherwise).
pub fn resolver(cfg: &DeliveryConfig) -> Result<TokioResolver, String> {
    let resolver = if cfg.nameservers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?
            .build()
            .map_err(|e| e.to_string())?
    } else {
        let servers = cfg
            .nameservers
            .iter()
            .map(|ns| {
                let mut udp = ConnectionConfig::udp();
                udp.port = ns.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = ns.port();
                NameServerConfig::new(ns.ip(), true, vec![udp, tcp])
            })
            .collect();
        let mut opts = ResolverOpts::default();
        opts.attempts = 2;
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(opts)
        .build()
        .map_err(|e| e.to_string())?
    };
    Ok(resolver)
}
