//! The SMTP submission relay (contract §4): a listener on `[smtp].listen`,
//! STARTTLS with `[smtp].tls_cert`/`tls_key`, AUTH with a domain's SMTP
//! credentials, into the same queue as the HTTP API. The protocol itself is
//! `net::smtp_server`; this is its submission `Handler`: `auth` checks
//! credentials, `allowlist` the trusted networks, `submit` stores a message.

pub mod allowlist;
pub mod auth;
pub mod submit;

use std::net::IpAddr;
use std::sync::Arc;

use crate::app::App;
use crate::config::Config;
use crate::guard::Guard;
use crate::net::smtp_server::machine::{AuthOutcome, Envelope};
use crate::net::smtp_server::reply::Reply;
use crate::net::smtp_server::{BoxFuture, Handler, Server, SmtpError};

/// The submission relay's handler, the SMTP side of the wiring as the
/// HTTP handlers are the other: its password guard and allowlist cache live
/// as long as the listener.
pub struct Submission {
    app: App,
    guard: Guard,
    allowlist: allowlist::Cache,
}

impl Submission {
    pub fn new(app: App) -> Arc<Submission> {
        let allowlist = allowlist::Cache::new(app.store.clone(), app.allowlist_generation.clone());
        Arc::new(Submission {
            app,
            guard: auth::guard(),
            allowlist,
        })
    }
}

impl Handler for Submission {
    fn allowlisted(&self, ip: IpAddr) -> BoxFuture<'_, Vec<String>> {
        Box::pin(self.allowlist.domains_for(ip))
    }

    fn authenticate<'a>(
        &'a self,
        ip: IpAddr,
        login: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, AuthOutcome> {
        Box::pin(auth::check(
            &self.app.store,
            &self.guard,
            ip,
            login,
            password,
        ))
    }

    fn receive(&self, envelope: Envelope) -> BoxFuture<'_, Reply> {
        Box::pin(async move { submit::submit(&self.app.acceptor(), envelope).await })
    }
}

/// The submission relay on `[smtp].listen`.
pub async fn bind(config: &Config) -> Result<Server, SmtpError> {
    let cfg = &config.smtp;
    if !cfg.allow_plain_auth_without_tls && (cfg.tls_cert.is_none() || cfg.tls_key.is_none()) {
        tracing::warn!(
            "[smtp] has no tls_cert/tls_key: STARTTLS is not offered, so SMTP AUTH is accepted only from this machine (loopback). \
             Set tls_cert and tls_key to take submissions from other hosts."
        );
    }
    Server::bind(config, cfg.listen, None, "SMTP submission").await
}
