//! Incoming reports on `[inbound].listen`: bounces (DSN) and complaints
//! (ARF) sent back to a message's VERP return path.
//!
//! - the return path that names a message is `net::verp`;
//! - `report`: what a report says (pure parsing);
//! - `intake`: matching it to the message and recording events and
//!   suppressions;
//! - `mailto`: a message to `unsubscribe@{bounce domain}`, the mailto of
//!   List-Unsubscribe, unsubscribes as the one-click link does;
//! - `rua`: DMARC aggregate and SMTP TLS reports to `dmarc@` and
//!   `tls-reports@` the bounce domain, stored once each.

pub mod intake;
mod mailto;
pub mod report;
mod report_text;
mod rua;

use std::net::IpAddr;
use std::sync::Arc;

use crate::app::App;
use crate::config::Config;
use crate::net::smtp_server::machine::{AuthOutcome, Envelope};
use crate::net::smtp_server::reply::Reply;
use crate::net::smtp_server::{BoxFuture, Handler, Server, SmtpError};

/// The report listener's handler: nobody authenticates or is allowlisted
/// (bounces come from anyone, to a return path only), and what arrives is
/// a report to record.
pub struct Reports {
    app: App,
}

impl Reports {
    pub fn new(app: App) -> Arc<Reports> {
        Arc::new(Reports { app })
    }
}

impl Handler for Reports {
    fn allowlisted(&self, _: IpAddr) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }

    fn authenticate<'a>(&'a self, _: IpAddr, _: &'a str, _: &'a str) -> BoxFuture<'a, AuthOutcome> {
        Box::pin(async { AuthOutcome::Failed })
    }

    fn receive(&self, envelope: Envelope) -> BoxFuture<'_, Reply> {
        Box::pin(async move {
            let intake = intake::Intake {
                store: &self.app.store,
                master_key: &self.app.master_key,
                reputation: &self.app.reputation,
                dns: &self.app.config.delivery,
            };
            intake::receive(&intake, envelope).await
        })
    }
}

/// The listener for bounces and complaints on `[inbound].listen`, when it
/// and `bounce_domain` are set.
pub async fn bind(config: &Config) -> Result<Option<Server>, SmtpError> {
    let cfg = &config.inbound;
    match (cfg.listen, &cfg.bounce_domain) {
        (Some(addr), Some(domain)) => {
            let domain = domain.to_ascii_lowercase();
            Server::bind(config, addr, Some(domain), "inbound reports")
                .await
                .map(Some)
        }
        (Some(_), None) => {
            tracing::warn!("[inbound].listen is set without bounce_domain: no return path leads there, so it is not started");
            Ok(None)
        }
        _ => Ok(None),
    }
}
