//! Reaching an MX: connect, greet, settle TLS as `policy::tls::decide`
//! says, or take a parked session to the same MX with the same settings.
//! Nothing here knows the store: `Transport` is all a dispatcher needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use policy::delivery::EnhancedCode;
use policy::tls::{decide, Offer, RefuseReason, TlsMode, TlsSettings};

use super::idle::{IdleSessions, Route};
use super::mx::Target;
use super::outcome::local_temp;
use crate::net::smtp::{Io, Reply, Session, SessionError, Timeouts};
use crate::net::tls::TlsClient;

/// Opens the byte stream to an MX: TCP in production (`net::smtp::dial`),
/// a scripted peer in memory in the dispatcher's tests.
pub type Dial = Arc<
    dyn Fn(SocketAddr, Duration) -> BoxFuture<'static, Result<Box<dyn Io>, SessionError>>
        + Send
        + Sync,
>;

/// What reaching MXs takes: no store, no `App`.
pub struct Transport {
    pub tls: TlsClient,
    /// Per phase of a session (`[delivery].*_timeout`).
    pub timeouts: Timeouts,
    pub helo: String,
    /// Sessions waiting for the next group to the same MX.
    pub idle: IdleSessions<Connection>,
    pub dial: Dial,
}

/// Facts of the session a reply came from.
#[derive(Clone, Default)]
pub(super) struct SessionFacts {
    pub(super) mx_host: String,
    pub(super) tls: bool,
    /// "TLSv1_3" or "TLSv1_2" when `tls`.
    pub(super) tls_version: Option<String>,
    pub(super) verified: bool,
    pub(super) started: Option<Instant>,
    /// The MX took the connection and greeted: it is reachable, whatever
    /// came after (a TLS refusal is about this message's settings).
    pub(super) connected: bool,
}

/// An open session and what is known of it.
pub struct Connection {
    pub(super) session: Session,
    pub(super) facts: SessionFacts,
}

/// Why an MX could not be used, and what was known when it failed.
#[derive(Clone)]
pub(super) struct Failed {
    pub(super) reply: Reply,
    pub(super) facts: SessionFacts,
}

impl Transport {
    /// Connect, greet, and settle TLS as the policy says.
    pub(super) async fn open(
        &self,
        target: &Target,
        settings: TlsSettings,
    ) -> Result<Connection, Failed> {
        let mut facts = SessionFacts {
            mx_host: target.host.clone(),
            started: Some(Instant::now()),
            ..Default::default()
        };
        let failed = |reply: Reply, facts: &SessionFacts| Failed {
            reply,
            facts: facts.clone(),
        };
        let s = self.greet(target).await.map_err(|r| failed(r, &facts))?;
        facts.connected = true;
        if !s.caps.starttls {
            return match decide(settings, Offer::NoStartTls) {
                TlsMode::Refuse(why) => Err(failed(refused(why), &facts)),
                _ => {
                    tracing::info!(mx = %target.host, "MX offers no STARTTLS: delivering in plaintext");
                    crate::telemetry::delivery_session(None, false);
                    Ok(Connection { session: s, facts })
                }
            };
        }
        let (connector, seen) = self.tls.connector(settings.skip_verification);
        match s.starttls(&connector, &target.host).await {
            Ok(Ok(mut s)) => {
                let valid = seen.cert_valid().unwrap_or(false);
                let mode = decide(settings, Offer::StartTls { cert_valid: valid });
                let (version, cipher) = s
                    .tls
                    .as_ref()
                    .map_or(("", ""), |i| (i.version.as_str(), i.cipher.as_str()));
                tracing::info!(
                    mx = %target.host, tls_version = %version, cipher = %cipher,
                    certificate_verified = valid, mode = ?mode,
                    cert_error = seen.cert_error().unwrap_or_default(),
                    "TLS session established"
                );
                if let TlsMode::Refuse(why) = mode {
                    s.quit().await;
                    return Err(failed(refused(why), &facts));
                }
                facts.tls = true;
                facts.tls_version = Some(version.to_string());
                facts.verified = valid;
                crate::telemetry::delivery_session(Some(version), valid);
                let ehlo = s
                    .ehlo(&self.helo)
                    .await
                    .map_err(|e| failed(local_temp(e.to_string()), &facts))?;
                if !ehlo.is_positive() {
                    return Err(failed(ehlo, &facts));
                }
                Ok(Connection { session: s, facts })
            }
            Ok(Err(reply)) => {
                // STARTTLS advertised but refused: this MX is not usable now;
                // the next one is tried, else a temporary failure and a retry.
                tracing::warn!(mx = %target.host, reply = %reply, "STARTTLS refused by the MX");
                Err(failed(reply, &facts))
            }
            Err(e) => {
                // A handshake that failed (bad certificate or otherwise) is an
                // offer we cannot use with verification.
                tracing::warn!(
                    mx = %target.host, error = %e,
                    cert_error = seen.cert_error().unwrap_or_default(),
                    "TLS handshake failed"
                );
                match decide(settings, Offer::StartTls { cert_valid: false }) {
                    TlsMode::Refuse(why) => Err(failed(refused(why), &facts)),
                    _ => {
                        // Opportunistic: a certificate we cannot trust means the
                        // message goes in clear, on a fresh connection.
                        tracing::warn!(mx = %target.host, "falling back to plaintext after the TLS failure");
                        let s = self.greet(target).await.map_err(|r| failed(r, &facts))?;
                        crate::telemetry::tls_fallback();
                        crate::telemetry::delivery_session(None, false);
                        facts.started = Some(Instant::now());
                        Ok(Connection { session: s, facts })
                    }
                }
            }
        }
    }

    /// A parked session for `route` while it is still open: one the MX
    /// closed while it waited is dropped and the next is looked at. Parked
    /// sessions to the same domain by another route are closed, since a
    /// new connection is about to be opened there.
    pub(super) fn parked(&self, route: &Route) -> Option<Connection> {
        loop {
            let taken = self.idle.take(route, Instant::now());
            close(taken.close);
            let mut c = taken.session?;
            if c.session.reusable() {
                c.facts.started = Some(Instant::now());
                return Some(c);
            }
        }
    }

    /// Connect, read the greeting and say EHLO; any refusal comes back as the reply.
    async fn greet(&self, target: &Target) -> Result<Session, Reply> {
        let local = |e: SessionError| local_temp(e.to_string());
        let io = (self.dial)(target.addr, self.timeouts.connect)
            .await
            .map_err(local)?;
        let (mut s, greeting) = Session::start(io, target.addr, self.timeouts)
            .await
            .map_err(local)?;
        if greeting.code != 220 {
            return Err(greeting);
        }
        let ehlo = s.ehlo(&self.helo).await.map_err(local)?;
        if !ehlo.is_positive() {
            return Err(ehlo);
        }
        Ok(s)
    }
}

/// TCP, as production dials.
pub fn tcp() -> Dial {
    Arc::new(|addr, within| Box::pin(crate::net::smtp::dial(addr, within)))
}

/// Says QUIT on sessions that are let go, without holding up the caller.
pub(super) fn close(connections: impl IntoIterator<Item = Connection>) {
    let connections: Vec<Connection> = connections.into_iter().collect();
    if !connections.is_empty() {
        tokio::spawn(async move {
            for c in connections {
                c.session.quit().await;
            }
        });
    }
}

pub(super) fn refused(why: RefuseReason) -> Reply {
    Reply::new(421, EnhancedCode(4, 7, 10), why.describe())
}
