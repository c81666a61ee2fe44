//! The records a sending domain publishes, made in one place for the API
//! (`sending_dns_records`, verify) and `envoi dns-records DOMAIN`:
//!
//! - SPF authorising envoi's own sending host (`[delivery].helo_name`), so
//!   the return path in the sending domain passes SPF aligned;
//! - each active DKIM key;
//! - DMARC at `p=none` to start the ramp, with `rua` at envoi's report
//!   address (`dmarc@{[inbound].bounce_domain}`) when envoi takes reports;
//! - when envoi takes reports, the domain's own return-path host
//!   (`bounce.{domain}`): its SPF, and its MX at envoi (a receiving
//!   record), so the return path moves into the domain and SPF aligns.

use crate::config::Config;
use crate::store::domains::DkimKeyRow;
use crate::store::Store;

/// What a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Spf,
    Dkim,
    Dmarc,
    /// SPF of the return-path host.
    ReturnPathSpf,
    /// MX of the return-path host (the value is the host, priority 10).
    ReturnPathMx,
}

/// One record to publish: TXT, but MX for `ReturnPathMx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub role: Role,
    pub name: String,
    pub value: String,
}

impl DnsRecord {
    pub fn kind(&self) -> &'static str {
        match self.role {
            Role::ReturnPathMx => "MX",
            _ => "TXT",
        }
    }
}

/// Whether envoi takes mail back (bounces, complaints, reports): its
/// inbound listener and bounce domain are set.
fn takes_mail_back(config: &Config) -> bool {
    config.inbound.listen.is_some() && config.inbound.bounce_domain.is_some()
}

/// Where DMARC aggregate reports go: envoi's report address when its
/// inbound listener takes them, else the domain's postmaster.
pub fn rua(config: &Config, domain: &str) -> String {
    match (&config.inbound.listen, &config.inbound.bounce_domain) {
        (Some(_), Some(b)) => format!("mailto:dmarc@{b}"),
        _ => format!("mailto:postmaster@{domain}"),
    }
}

/// The records `domain` publishes, SPF, DKIM (active keys) and DMARC.
pub fn sending(config: &Config, domain: &str, keys: &[DkimKeyRow]) -> Vec<DnsRecord> {
    let mut out = vec![DnsRecord {
        role: Role::Spf,
        name: domain.to_string(),
        value: format!("v=spf1 a:{} ~all", config.delivery.helo()),
    }];
    out.extend(keys.iter().filter(|k| k.active).map(|k| DnsRecord {
        role: Role::Dkim,
        name: signer::dns::dkim_record_name(&k.selector, domain),
        value: k.dns_value.clone(),
    }));
    out.push(DnsRecord {
        role: Role::Dmarc,
        name: format!("_dmarc.{domain}"),
        value: format!("v=DMARC1; p=none; rua={}", rua(config, domain)),
    });
    if takes_mail_back(config) {
        out.push(DnsRecord {
            role: Role::ReturnPathSpf,
            name: crate::net::verp::host_of(domain),
            value: format!("v=spf1 a:{} ~all", config.delivery.helo()),
        });
    }
    out
}

/// The records that bring mail back to envoi: the return-path host's MX.
pub fn receiving(config: &Config, domain: &str) -> Vec<DnsRecord> {
    if !takes_mail_back(config) {
        return Vec::new();
    }
    vec![DnsRecord {
        role: Role::ReturnPathMx,
        name: crate::net::verp::host_of(domain),
        value: config.delivery.helo(),
    }]
}

#[derive(Debug, thiserror::Error)]
pub enum DnsRecordsError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("domain {0} is not known: create it with POST /v4/domains")]
    Unknown(String),
}

pub async fn print(config: Config, domain: &str) -> Result<(), DnsRecordsError> {
    let store = Store::open_existing(&config.store.url, config.store.connect_timeout.0).await?;
    store.migrate().await?;
    let d = store
        .domain(&domain.to_ascii_lowercase())
        .await?
        .ok_or_else(|| DnsRecordsError::Unknown(domain.into()))?;
    let keys = store.dkim_keys(d.id).await?;
    println!("; DNS records for {} (publish in its zone)", d.name);
    for r in sending(&config, &d.name, &keys) {
        println!("{}.\tTXT\t{}", r.name, signer::dns::zone_file_txt(&r.value));
    }
    store.close().await;
    Ok(())
}
