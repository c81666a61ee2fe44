//! Reaching an MX: connect, greet, settle TLS as `policy::tls::decide`
//! says, or take a parked session to the same MX with the same settings.

use std::time::Instant;

use policy::delivery::EnhancedCode;
use policy::tls::{decide, Offer, RefuseReason, TlsMode, TlsSettings};

use super::idle::Route;
use super::mx::Target;
use super::outcome::local_temp;
use super::Deliverer;
use crate::net::smtp::{Reply, Session, SessionError};

/// Facts of the session a reply came from.
#[derive(Clone, Default)]
pub(super) struct SessionFacts {
    pub(super) mx_host: String,
    pub(super) tls: bool,
    pub(super) verified: bool,
    pub(super) started: Option<Instant>,
    /// The MX took the connection and greeted: it is reachable, whatever
    /// came after (a TLS refusal is about this message's settings).
    pub(super) connected: bool,
}

/// Connect, greet, and settle TLS as the policy says.
pub(super) async fn open(
    d: &Deliverer,
    target: &Target,
    settings: TlsSettings,
) -> Result<(Session, SessionFacts), (Reply, SessionFacts)> {
    let mut facts = SessionFacts {
        mx_host: target.host.clone(),
        started: Some(Instant::now()),
        ..Default::default()
    };
    let err = |e: SessionError, f: &SessionFacts| (local_temp(e.to_string()), f.clone());

    let s = greet(d, target).await.map_err(|r| (r, facts.clone()))?;
    facts.connected = true;
    if !s.caps.starttls {
        return match decide(settings, Offer::NoStartTls) {
            TlsMode::Refuse(why) => Err((refused(why), facts)),
            _ => {
                tracing::info!(mx = %target.host, "MX offers no STARTTLS: delivering in plaintext");
                Ok((s, facts))
            }
        };
    }
    let (connector, seen) = d.tls.connector(settings.skip_verification);
    match s.starttls(&connector, &target.host).await {
        Ok(Ok(mut s)) => {
            let valid = seen.cert_valid().unwrap_or(false);
            let mode = decide(settings, Offer::StartTls { cert_valid: valid });
            let info = s.tls.clone().unwrap_or_else(|| crate::net::smtp::TlsInfo {
                version: String::new(),
                cipher: String::new(),
            });
            tracing::info!(
                mx = %target.host, tls_version = %info.version, cipher = %info.cipher,
                certificate_verified = valid, mode = ?mode,
                cert_error = seen.cert_error().unwrap_or_default(),
                "TLS session established"
            );
            if let TlsMode::Refuse(why) = mode {
                s.quit().await;
                return Err((refused(why), facts));
            }
            facts.tls = true;
            facts.verified = valid;
            let ehlo = s.ehlo(&d.helo).await.map_err(|e| err(e, &facts))?;
            if !ehlo.is_positive() {
                return Err((ehlo, facts));
            }
            Ok((s, facts))
        }
        Ok(Err(reply)) => {
            // STARTTLS advertised but refused: this MX is not usable now;
            // the next one is tried, else a temporary failure and a retry.
            tracing::warn!(mx = %target.host, reply = %reply, "STARTTLS refused by the MX");
            Err((reply, facts))
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
                TlsMode::Refuse(why) => Err((refused(why), facts)),
                _ => {
                    // Opportunistic: a certificate we cannot trust means the
                    // message goes in clear, on a fresh connection.
                    tracing::warn!(mx = %target.host, "falling back to plaintext after the TLS failure");
                    let s = greet(d, target).await.map_err(|r| (r, facts.clone()))?;
                    facts.started = Some(Instant::now());
                    Ok((s, facts))
                }
            }
        }
    }
}

/// A session parked between groups (`idle`), with what is known of it.
pub(super) type Parked = (Session, SessionFacts);

/// A session for this group: a parked one for the same route while it is
/// still open, else a new one (`open`). The flag says it was parked.
pub(super) async fn session_for(
    d: &Deliverer,
    route: &Route,
    target: &Target,
) -> Result<(Session, SessionFacts, bool), (Reply, SessionFacts)> {
    loop {
        let taken = d.idle.take(route, Instant::now());
        close(taken.close);
        let Some((mut s, mut facts)) = taken.session else {
            let (s, facts) = open(d, target, route.settings).await?;
            return Ok((s, facts, false));
        };
        // One the MX closed while it waited is dropped; the next is tried.
        if s.reusable() {
            facts.started = Some(Instant::now());
            return Ok((s, facts, true));
        }
    }
}

/// Says QUIT on parked sessions that are let go, without holding up the caller.
pub(super) fn close(sessions: impl IntoIterator<Item = Parked>) {
    let sessions: Vec<Parked> = sessions.into_iter().collect();
    if !sessions.is_empty() {
        tokio::spawn(async move {
            for (s, _) in sessions {
                s.quit().await;
            }
        });
    }
}

/// Connect, read the greeting and say EHLO; any refusal comes back as the reply.
pub(super) async fn greet(d: &Deliverer, target: &Target) -> Result<Session, Reply> {
    let local = |e: SessionError| local_temp(e.to_string());
    let (mut s, greeting) = Session::connect(target.addr, d.timeouts)
        .await
        .map_err(local)?;
    if greeting.code != 220 {
        return Err(greeting);
    }
    let ehlo = s.ehlo(&d.helo).await.map_err(local)?;
    if !ehlo.is_positive() {
        return Err(ehlo);
    }
    Ok(s)
}

pub(super) fn refused(why: RefuseReason) -> Reply {
    Reply::local(421, Some(EnhancedCode(4, 7, 10)), why.describe())
}
