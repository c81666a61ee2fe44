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
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use machine::{AuthOutcome, Envelope};
use reply::Reply;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a listener does with a client: who it may send as without AUTH,
/// whether its credentials hold, and what becomes of a message received in
/// full (the reply after DATA).
pub trait Handler: Send + Sync + 'static {
    /// Domains the client may send as without AUTH (IP allowlists).
    fn allowlisted(&self, ip: IpAddr) -> BoxFuture<'_, Vec<String>>;
    fn authenticate<'a>(
        &'a self,
        ip: IpAddr,
        login: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, AuthOutcome>;
    fn receive(&self, envelope: Envelope) -> BoxFuture<'_, Reply>;
}

/// What every session of a listener shares.
pub struct Shared {
    pub host: String,
    pub tls: Option<TlsAcceptor>,
    pub handler: Arc<dyn Handler>,
    /// Set on a report listener: its bounce domain (MAIL from anyone, RCPT
    /// only there, no AUTH).
    pub inbound: Option<String>,
    pub max_message_size: usize,
    /// `[smtp].allow_plain_auth_without_tls`.
    pub auth_without_tls: bool,
    /// `[smtp].idle_timeout`: the longest wait for a client, and for a write.
    pub idle: Duration,
    /// Bytes of DATA being received, over every connection of every
    /// listener (`[smtp].max_inflight_bytes`).
    pub inflight: Arc<Semaphore>,
}

/// What a bound listener knows before it runs.
struct Listening {
    host: String,
    tls: Option<TlsAcceptor>,
    inbound: Option<String>,
    max_connections: usize,
    max_message_size: usize,
    auth_without_tls: bool,
    idle: Duration,
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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
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
    listening: Listening,
    addr: SocketAddr,
    /// For logs: "SMTP submission" or "inbound reports".
    name: &'static str,
}

impl Server {
    /// A listener on `addr` with `[smtp]`'s certificate and limits.
    pub async fn bind(
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
            listening: Listening {
                host,
                tls,
                inbound,
                max_connections: cfg.max_connections.max(1) as usize,
                max_message_size: config.max_message_size(),
                auth_without_tls: cfg.allow_plain_auth_without_tls,
                idle: cfg.idle_timeout.0,
            },
            addr,
            name,
        })
    }

    /// The address bound (the port chosen when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.addr)
    }

    /// Serves `handler` until `stop`, then waits for open sessions: those
    /// in DATA finish and get their answer, the others are told 421.
    pub async fn run(
        self,
        handler: Arc<dyn Handler>,
        inflight: Arc<Semaphore>,
        mut stop: watch::Receiver<bool>,
    ) {
        let l = self.listening;
        let max = l.max_connections;
        let shared = Arc::new(Shared {
            host: l.host,
            tls: l.tls,
            handler,
            inbound: l.inbound,
            max_message_size: l.max_message_size,
            auth_without_tls: l.auth_without_tls,
            idle: l.idle,
            inflight,
        });
        let slots = Arc::new(Semaphore::new(max));
        tracing::info!(addr = %self.addr, tls = shared.tls.is_some(), "{} listening", self.name);
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
            let (shared, stop) = (shared.clone(), stop.clone());
            tokio::spawn(async move {
                session::run(shared, socket, peer, stop).await;
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
