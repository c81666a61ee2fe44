//! Reports sent to envoi's `rua` addresses (`dmarc@` and `tls-reports@` the
//! bounce domain): DMARC aggregate reports, stored for the domain they are
//! about, and SMTP TLS reports; each stored once however often it is sent.
//! A report that cannot be read whole is refused with the reason, and
//! nothing of it is stored.

use serde_json::json;

use super::intake::Intake;
use crate::dmarc::{Aggregate, Report};
use crate::net::smtp_server::reply::{EnhancedCode, Reply};
use crate::store::dmarc::Stored;
use crate::store::now_micros;

/// Local parts of the report addresses.
pub const LOCAL_PARTS: [&str; 2] = ["dmarc", "tls-reports"];

pub async fn receive(app: &Intake<'_>, message: &[u8]) -> Reply {
    let report = match crate::dmarc::read(message) {
        Ok(r) => r,
        Err(e) => {
            return Reply::new(
                550,
                EnhancedCode(5, 6, 0),
                format!("{e}; nothing was stored"),
            )
        }
    };
    let stored = match &report {
        Report::Aggregate(a) => {
            match app.store.registered_domain(&a.domain).await {
                Ok(Some(d)) => {
                    let stored = app.store.store_aggregate(d.id, a).await;
                    if matches!(stored, Ok(Stored::New)) {
                        alarm(app, d.id, &d.name, a).await;
                    }
                    stored
                }
                Ok(None) => {
                    return Reply::new(
                        550,
                        EnhancedCode(5, 1, 1),
                        format!(
                            "the report is about {}, which sends no mail through this server; nothing was stored",
                            a.domain
                        ),
                    )
                }
                Err(e) => Err(e),
            }
        }
        Report::Tls(t) => app.store.store_tls_report(t).await,
    };
    let (kind, org, id) = match &report {
        Report::Aggregate(a) => ("DMARC aggregate report", &a.org, &a.report_id),
        Report::Tls(t) => ("SMTP TLS report", &t.org, &t.report_id),
    };
    match stored {
        Ok(Stored::New) => {
            tracing::info!(org = %org, report_id = %id, "{kind} stored");
            Reply::new(
                250,
                EnhancedCode(2, 0, 0),
                format!("{kind} {id} from {org} stored"),
            )
        }
        Ok(Stored::Duplicate) => Reply::new(
            250,
            EnhancedCode(2, 0, 0),
            format!("{kind} {id} from {org} was already stored"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "{kind}: store unavailable");
            Reply::store_failed()
        }
    }
}

/// A `warning` event (and its webhook) for each source other than envoi
/// whose mail in `a` failed DMARC (`policy::dmarc::spoofing_sources`), once
/// per source and day.
async fn alarm(app: &Intake<'_>, domain_id: i64, domain: &str, a: &Aggregate) {
    let envoi = crate::dns_check::envoi_addresses(app.dns).await;
    let rows = a
        .rows
        .iter()
        .map(|r| (r.source_ip, r.count, r.dmarc_pass()));
    let day = a.begin.div_euclid(86_400);
    for (ip, failing) in policy::dmarc::spoofing_sources(rows, |ip| envoi.contains(ip)) {
        let text = format!(
            "{failing} messages from {ip} failed DMARC as {domain} (reported by {}): someone else sends as the domain, or a source of yours is not aligned",
            a.org
        );
        let reason = json!({
            "kind": "dmarc",
            "source_ip": ip.to_string(),
            "failing": failing,
            "reporter": a.org,
            "report_id": a.report_id,
            "text": text,
        });
        let event = crate::events::warning(domain, "spoofing", reason, now_micros());
        match app
            .store
            .dmarc_alarm(domain_id, &ip.to_string(), day, &event)
            .await
        {
            Ok(true) => {
                tracing::warn!(domain, source = %ip, failing, "DMARC: mail failing from a source that is not envoi")
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "DMARC spoofing warning not recorded"),
        }
    }
}
