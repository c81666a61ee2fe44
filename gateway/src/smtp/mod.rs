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

/// The submission relay's handler: its password guard and allowlist cache
/// live as long as the listener.
pub struct Submission {
    guard: Guard,
    allowlist: allowlist::Cache,
}

impl Handler for Submission {
    fn allowlisted<'a>(&'a self, app: &'a App, ip: IpAddr) -> BoxFuture<'a, Vec<String>> {
        Box::pin(self.allowlist.domains_for(app, ip))
    }

    fn authenticate<'a>(
        &'a self,
        app: &'a App,
        ip: IpAddr,
        login: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, AuthOutcome> {
        Box::pin(auth::check(app, &self.guard, ip, login, password))
    }

    fn receive<'a>(&'a self, app: &'a App, envelope: Envelope) -> BoxFuture<'a, Reply> {
        Box::pin(submit::submit(app, envelope))
    }
}

/// The submission relay on `[smtp].listen`.
pub async fn bind(config: &Config) -> Result<Server, SmtpError> {
    let cfg = &config.smtp;
    if !cfg.allow_plain_auth_without_tls && (cfg.tls_cert.is_none() || cfg.tls_key.is_none()) {
        tracing::warn!("[smtp] has no tls_cert/tls_key: STARTTLS is not offered, so SMTP AUTH is refused (set allow_plain_auth_without_tls only for loopback tests)");
    }
    let handler = Arc::new(Submission {
        guard: auth::guard(),
        allowlist: allowlist::Cache::default(),
    });
    Server::bind(config, cfg.listen, None, handler, "SMTP submission").await
}
