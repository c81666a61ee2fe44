//! The SMTP server every listener shares: the protocol machine without I/O
//! (`machine`, fuzzed), the connection driver (`session`), the replies
//! (`reply`), the stream before and after STARTTLS (`stream`). What a
//! listener is for comes from its `Handler`: the submission relay (`smtp`)
//! checks credentials and queues mail; the report listener (`inbound`)
//! records bounces and complaints. Neither knows the other.

pub mod machine;
pub mod reply;
pub mod session;
pub mod stream;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::config::Config;
use machine::{AuthOutcome, Envelope};
use reply::Reply;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a listener does with a client: who it may send as without AUTH,
/// whether its credentials hold, and what becomes of a message received in
/// full (the reply after DATA).
pub trait Handler: Send + Sync + 'static {
    /// Domains the client may send as without AUTH (IP allowlists).
    fn allowlisted<'a>(&'a self, app: &'a App, ip: IpAddr) -> BoxFuture<'a, Vec<String>>;
    fn authenticate<'a>(
        &'a self,
        app: &'a App,
        ip: IpAddr,
        login: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, AuthOutcome>;
    fn receive<'a>(&'a self, app: &'a App, envelope: Envelope) -> BoxFuture<'a, Reply>;
}

/// What every session of a listener shares.
pub struct Shared {
    pub host: String,
    pub tls: Option<TlsAcceptor>,
    pub handler: Arc<dyn Handler>,
    /// Set on a report listener: its bounce domain (MAIL from anyone, RCPT
    /// only there, no AUTH).
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
    /// A listener on `addr` with `[smtp]`'s certificate, for `handler`.
    pub async fn bind(
        config: &Config,
        addr: SocketAddr,
        inbound: Option<String>,
        handler: Arc<dyn Handler>,
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
                handler,
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
