//! `envoi dns-records DOMAIN`: the records to publish, in zone-file form.

use crate::config::Config;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DnsRecordsError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("domain {0} is not known: create it with POST /v4/domains")]
    Unknown(String),
}

pub async fn print(config: Config, domain: &str) -> Result<(), DnsRecordsError> {
    let store = Store::connect(&config.store.url).await?;
    store.migrate().await?;
    let d = store
        .domain(&domain.to_ascii_lowercase())
        .await?
        .ok_or_else(|| DnsRecordsError::Unknown(domain.into()))?;
    let keys = store.dkim_keys(d.id).await?;
    let spf = match &config.delivery.helo_name {
        Some(h) => format!("v=spf1 a:{h} ~all"),
        None => "v=spf1 a mx ~all".into(),
    };
    println!("; DNS records for {} (publish in its zone)", d.name);
    println!("{}.\tTXT\t\"{spf}\"", d.name);
    for k in keys.iter().filter(|k| k.active) {
        println!(
            "{}.\tTXT\t{}",
            signer::dns::dkim_record_name(&k.selector, &d.name),
            signer::dns::zone_file_txt(&k.dns_value)
        );
    }
    println!(
        "_dmarc.{}.\tTXT\t\"v=DMARC1; p=none; rua=mailto:postmaster@{}\"",
        d.name, d.name
    );
    store.close().await;
    Ok(())
}
