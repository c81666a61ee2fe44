//! The SMTP submission relay (contract §4): a listener on `[smtp].listen`,
//! STARTTLS with `[smtp].tls_cert`/`tls_key`, AUTH with a domain's SMTP
//! credentials, into the same queue as the HTTP API.
//!
//! `machine` is the protocol without I/O, `session` drives one connection,
//! `auth` checks credentials, `submit` stores a message, `reply` holds every
//! answer.

pub mod allowlist;
pub mod auth;
pub mod machine;
pub mod reply;
pub mod session;
pub mod stream;
pub mod submit;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::config::Config;
use reply::Reply;

/// What every session shares.
pub struct Shared {
    pub host: String,
    pub tls: Option<TlsAcceptor>,
    pub guard: crate::guard::Guard,
    pub allowlist: allowlist::Cache,
    /// Set on the inbound (reports) listener: the bounce domain.
    pub inbound: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot listen for SMTP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("[smtp] TLS certificate or key: {0}")]
    Tls(String),
}

/// The server's TLS settings from the PEM files: TLS 1.2 and 1.3 only.
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, SmtpError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| SmtpError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(SmtpError::Tls(format!(
            "{}: no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| SmtpError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| SmtpError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| SmtpError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// For logs: "SMTP submission" or "inbound reports".
    name: &'static str,
}

impl Server {
    /// The submission relay on `[smtp].listen`.
    pub async fn bind(config: &Config) -> Result<Server, SmtpError> {
        let cfg = &config.smtp;
        if !cfg.allow_plain_auth_without_tls && (cfg.tls_cert.is_none() || cfg.tls_key.is_none()) {
            tracing::warn!("[smtp] has no tls_cert/tls_key: STARTTLS is not offered, so SMTP AUTH is refused (set allow_plain_auth_without_tls only for loopback tests)");
        }
        Self::bind_on(config, cfg.listen, None, "SMTP submission").await
    }

    /// The listener for bounces and complaints on `[inbound].listen`, when
    /// it and `bounce_domain` are set.
    pub async fn bind_inbound(config: &Config) -> Result<Option<Server>, SmtpError> {
        let cfg = &config.inbound;
        match (cfg.listen, &cfg.bounce_domain) {
            (Some(addr), Some(domain)) => {
                let domain = domain.to_ascii_lowercase();
                Self::bind_on(config, addr, Some(domain), "inbound reports")
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

    async fn bind_on(
        config: &Config,
        addr: SocketAddr,
        inbound: Option<String>,
        name: &'static str,
    ) -> Result<Server, SmtpError> {
        let cfg = &config.smtp;
        let tls = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
            _ => None,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SmtpError::Bind { addr, source })?;
        let host = config
            .delivery
            .helo_name
            .clone()
            .unwrap_or_else(|| "localhost".to_string());
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                host,
                tls,
                guard: auth::guard(),
                allowlist: allowlist::Cache::default(),
                inbound,
            }),
            addr,
            name,
        })
    }

    /// Accepts until `stop`, then waits for open sessions: those in DATA
    /// finish and get their answer, the others are told 421.
    pub async fn run(self, app: App, mut stop: watch::Receiver<bool>) {
        let max = app.config.smtp.max_connections.max(1) as usize;
        let slots = Arc::new(Semaphore::new(max));
        tracing::info!(addr = %self.addr, tls = self.shared.tls.is_some(), "{} listening", self.name);
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.changed() => break,
            };
            let (socket, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    Reply::too_busy().write_to(&mut out);
                    let mut socket = socket;
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, &out).await;
                });
                continue;
            };
            let (app, shared, stop) = (app.clone(), self.shared.clone(), stop.clone());
            tokio::spawn(async move {
                session::run(app, shared, socket, peer, stop).await;
                drop(permit);
            });
        }
        drop(self.listener);
        // Every permit back means every session ended.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            slots.acquire_many(max as u32),
        )
        .await;
        tracing::info!("{} stopped", self.name);
    }
}
