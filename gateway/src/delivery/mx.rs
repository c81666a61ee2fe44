//! Where to deliver a recipient domain: its MX hosts in preference order, the
//! implicit MX (the domain's own A/AAAA) when it has none, or the smarthost.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::config::DeliveryConfig;
use crate::net::dns::resolver;

/// One host to try, with the name its certificate must carry.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub addr: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Permanent: the domain does not exist.
    #[error("the recipient domain {0} does not exist (NXDOMAIN)")]
    NoDomain(String),
    /// Permanent: the domain says it accepts no mail (RFC 7505).
    #[error("the recipient domain {0} does not accept mail (null MX)")]
    NullMx(String),
    /// Permanent: neither MX nor address records.
    #[error("the recipient domain {0} has no MX and no address records")]
    NoHosts(String),
    /// Temporary: DNS did not answer.
    #[error("DNS lookup for {domain} failed: {reason}")]
    Temporary { domain: String, reason: String },
}

impl RouteError {
    pub fn is_permanent(&self) -> bool {
        !matches!(self, RouteError::Temporary { .. })
    }
}

pub struct Router {
    resolver: TokioResolver,
    port: u16,
    relay: Option<(String, u16)>,
}

impl Router {
    pub fn new(cfg: &DeliveryConfig) -> Result<Router, String> {
        let resolver = resolver(cfg)?;
        let relay = if cfg.relay.is_empty() {
            None
        } else {
            let (h, p) = cfg.relay.rsplit_once(':').ok_or_else(|| {
                format!("[delivery].relay must be host:port, got {:?}", cfg.relay)
            })?;
            let port = p
                .parse()
                .map_err(|_| format!("[delivery].relay has a bad port: {:?}", cfg.relay))?;
            Some((h.trim_matches(['[', ']']).to_string(), port))
        };
        Ok(Router {
            resolver,
            port: cfg.port,
            relay,
        })
    }

    /// Hosts to try for `domain`, best first.
    pub async fn route(&self, domain: &str) -> Result<Vec<Target>, RouteError> {
        if let Some((host, port)) = &self.relay {
            return self.addresses(host, *port).await;
        }
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let temp = |e: &dyn std::fmt::Display| RouteError::Temporary {
            domain: domain.to_string(),
            reason: e.to_string(),
        };
        let mut exchanges: Vec<(u16, String)> = match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect(),
            Err(e) if e.is_nx_domain() => return Err(RouteError::NoDomain(domain.to_string())),
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(temp(&e)),
        };
        if exchanges.len() == 1 && (exchanges[0].1 == "." || exchanges[0].1.is_empty()) {
            return Err(RouteError::NullMx(domain.to_string()));
        }
        if exchanges.is_empty() {
            // Implicit MX (RFC 5321 §5.1).
            return match self.addresses(domain, self.port).await {
                Ok(t) if !t.is_empty() => Ok(t),
                Ok(_) => Err(RouteError::NoHosts(domain.to_string())),
                Err(RouteError::NoDomain(_)) => Err(RouteError::NoDomain(domain.to_string())),
                Err(e) => Err(e),
            };
        }
        exchanges.sort_by_key(|(p, _)| *p);
        let mut targets = Vec::new();
        let mut last_err = None;
        for (_, host) in exchanges {
            match self.addresses(&host, self.port).await {
                Ok(t) => targets.extend(t),
                Err(e) => last_err = Some(e),
            }
        }
        if targets.is_empty() {
            return Err(match last_err {
                Some(RouteError::Temporary { reason, .. }) => RouteError::Temporary {
                    domain: domain.to_string(),
                    reason,
                },
                _ => RouteError::Temporary {
                    domain: domain.to_string(),
                    reason: "no MX host has an address".into(),
                },
            });
        }
        Ok(targets)
    }

    async fn addresses(&self, host: &str, port: u16) -> Result<Vec<Target>, RouteError> {
        let name = host.trim_end_matches('.').to_string();
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![Target {
                host: name,
                addr: SocketAddr::new(ip, port),
            }]);
        }
        match self.resolver.lookup_ip(format!("{name}.").as_str()).await {
            Ok(ips) => Ok(ips
                .iter()
                .map(|ip| Target {
                    host: name.clone(),
                    addr: SocketAddr::new(ip, port),
                })
                .collect()),
            Err(e) if e.is_nx_domain() => Err(RouteError::NoDomain(name)),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(RouteError::Temporary {
                domain: name,
                reason: e.to_string(),
            }),
        }
    }
}
