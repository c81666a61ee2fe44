//! DNS lookups for the API (is a DKIM record published?), through the same
//! nameservers as delivery. A fresh resolver per check, so a record just
//! published is not hidden by a cached "not found".

use crate::config::DeliveryConfig;

/// The TXT strings at `name` (each record's strings joined), or an error
/// text; through `[delivery]`'s nameservers.
pub async fn txt(dns: &DeliveryConfig, name: &str) -> Result<Vec<String>, String> {
    let resolver = crate::net::dns::resolver(dns)?;
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.txt_lookup(fqdn.as_str()).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                hickory_resolver::proto::rr::RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(format!("DNS lookup failed: {e}")),
    }
}

/// The MX hosts at `name` (lower case, without the final dot), or an error
/// text; through `[delivery]`'s nameservers.
pub async fn mx(dns: &DeliveryConfig, name: &str) -> Result<Vec<String>, String> {
    let resolver = crate::net::dns::resolver(dns)?;
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.mx_lookup(fqdn.as_str()).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                hickory_resolver::proto::rr::RData::MX(mx) => Some(
                    mx.exchange
                        .to_utf8()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(format!("DNS lookup failed: {e}")),
    }
}

/// envoi's own sending addresses: those of its HELO name, which the SPF
/// records it suggests authorise. None when the name does not resolve.
pub async fn envoi_addresses(dns: &DeliveryConfig) -> Vec<std::net::IpAddr> {
    let helo = dns.helo();
    let Ok(resolver) = crate::net::dns::resolver(dns) else {
        return Vec::new();
    };
    match resolver.lookup_ip(format!("{helo}.").as_str()).await {
        Ok(found) => found.iter().collect(),
        Err(e) => {
            tracing::warn!(helo = %helo, error = %e, "envoi's own addresses unknown: every source counts as another sender");
            Vec::new()
        }
    }
}

/// The reverse names of `ips` (PTR, without the final dot), looked up
/// together, each within 3 s; `None` where there is none (or no answer).
pub async fn reverse_names(dns: &DeliveryConfig, ips: &[std::net::IpAddr]) -> Vec<Option<String>> {
    let Ok(resolver) = crate::net::dns::resolver(dns) else {
        return vec![None; ips.len()];
    };
    let lookups = ips.iter().map(|ip| {
        let resolver = &resolver;
        async move {
            let found = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                resolver.reverse_lookup(*ip),
            )
            .await
            .ok()?
            .ok()?;
            found.answers().iter().find_map(|r| match &r.data {
                hickory_resolver::proto::rr::RData::PTR(p) => {
                    Some(p.0.to_utf8().trim_end_matches('.').to_string())
                }
                _ => None,
            })
        }
    });
    futures_util::future::join_all(lookups).await
}

/// TXT values compare without the spaces DNS tools add or drop.
pub fn same_txt(published: &str, ours: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    norm(published) == norm(ours)
}

/// Whether the TXT at `record` carries `value`; if not, what DNS has
/// instead, in words for an error message or a log line.
pub async fn published(dns: &DeliveryConfig, record: &str, value: &str) -> Result<(), String> {
    match txt(dns, record).await {
        Ok(found) if found.iter().any(|v| same_txt(v, value)) => Ok(()),
        Ok(found) if found.is_empty() => Err("no TXT record".into()),
        Ok(found) => Err(format!("TXT {found:?}")),
        Err(e) => Err(e),
    }
}
