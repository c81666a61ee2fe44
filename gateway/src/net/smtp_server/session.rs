//! One client connection: reads bytes into the protocol machine, writes its
//! replies (batched, as PIPELINING allows), and performs what it asks for:
//! TLS, password checks, storing messages.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::machine::{Action, Machine, Settings};
use super::reply::Reply;
use super::stream::Stream;
use super::Shared;

pub async fn run(
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let listener = if shared.inbound.is_some() {
        "inbound"
    } else {
        "submission"
    };
    let counted = crate::telemetry::SmtpSession::open(listener);
    let settings = Settings {
        host: shared.host.clone(),
        max_message_size: shared.max_message_size,
        max_recipients: policy::limits::MAX_RECIPIENTS,
        tls_available: shared.tls.is_some(),
        // Without a certificate, AUTH in plaintext from this machine only:
        // the password never crosses a network, and SMTP works on the
        // defaults for local senders.
        auth_without_tls: shared.auth_without_tls
            || (shared.tls.is_none() && peer.ip().to_canonical().is_loopback()),
        inbound: shared.inbound.clone(),
    };
    let allowlisted = shared.handler.allowlisted(peer.ip()).await;
    let mut machine = Machine::new(settings, allowlisted);
    let mut stream = Stream::Plain(socket);
    let mut out = Vec::with_capacity(512);
    Reply::greeting(&shared.host).write_to(&mut out);
    let idle: Duration = shared.idle;
    let mut buf = vec![0u8; 64 * 1024];
    // This session's DATA bytes, from the budget shared by every session.
    let mut held: Option<OwnedSemaphorePermit> = None;
    loop {
        while let Some(action) = machine.next_action() {
            match action {
                Action::Reply(r) => r.write_to(&mut out),
                Action::Close => {
                    let _ = write_all(&mut stream, &mut out, idle).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                Action::StartTls => {
                    if write_all(&mut stream, &mut out, idle).await.is_err() {
                        return;
                    }
                    let Some(acceptor) = shared.tls.clone() else {
                        return;
                    };
                    let Stream::Plain(tcp) = std::mem::replace(&mut stream, Stream::Gone) else {
                        return;
                    };
                    match tokio::time::timeout(idle, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            stream = Stream::Tls(Box::new(tls));
                            if let Some((version, cipher)) = stream.tls_info() {
                                tracing::debug!(%peer, %version, %cipher, "SMTP STARTTLS");
                                counted.tls(&version);
                            }
                            machine.tls_started();
                        }
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "SMTP TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                Action::Authenticate { login, password } => {
                    if write_all(&mut stream, &mut out, idle).await.is_err() {
                        return;
                    }
                    let outcome = shared
                        .handler
                        .authenticate(peer.ip(), &login, &password)
                        .await;
                    machine.auth_done(outcome);
                }
                Action::Submit(envelope) => {
                    let reply = shared.handler.receive(envelope).await;
                    machine.submitted(reply);
                }
            }
        }
        if !machine.in_data() {
            held = None;
        }
        if *stop.borrow() && !machine.in_data() {
            Reply::shutting_down().write_to(&mut out);
            let _ = write_all(&mut stream, &mut out, idle).await;
            return;
        }
        // A client that does not read its replies is not read either, and
        // is dropped once a write has waited `idle_timeout`.
        if let Err(e) = write_all(&mut stream, &mut out, idle).await {
            if e.kind() == std::io::ErrorKind::TimedOut {
                tracing::info!(%peer, "SMTP client does not read its replies; dropped");
            }
            return;
        }
        let read = tokio::select! {
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => r,
            _ = stop.changed(), if !*stop.borrow() => continue,
        };
        match read {
            Ok(Ok(0)) => {
                if machine.in_data() {
                    tracing::info!(%peer, "SMTP client vanished during DATA; nothing was stored");
                }
                return;
            }
            Ok(Ok(n)) => {
                if machine.in_data() {
                    let Some(permit) = reserve(&shared.inflight, n, idle).await else {
                        tracing::warn!(%peer, "SMTP DATA refused: [smtp].max_inflight_bytes is in use by other sessions");
                        Reply::busy_receiving().write_to(&mut out);
                        let _ = write_all(&mut stream, &mut out, idle).await;
                        return;
                    };
                    match &mut held {
                        Some(h) => h.merge(permit),
                        None => held = Some(permit),
                    }
                }
                machine.feed(&buf[..n])
            }
            Ok(Err(_)) => return,
            Err(_) => {
                Reply::idle().write_to(&mut out);
                let _ = write_all(&mut stream, &mut out, idle).await;
                return;
            }
        }
    }
}

/// Longest a DATA chunk waits for room in the shared budget before the
/// session is told 451 4.3.1.
const BUDGET_WAIT: Duration = Duration::from_secs(10);

/// Permits for `bytes` of DATA, waiting a little for other sessions to
/// finish theirs; `None` when the budget stays full. Tried rather than
/// queued: a tokio semaphore serves waiters in order, so a session holding
/// most of the budget would wait behind one that needs what it holds, and
/// neither would move until a timeout.
async fn reserve(
    budget: &Arc<Semaphore>,
    bytes: usize,
    idle: Duration,
) -> Option<OwnedSemaphorePermit> {
    let n = crate::net::budget::permits(bytes);
    let deadline = tokio::time::Instant::now() + idle.min(BUDGET_WAIT);
    loop {
        match budget.clone().try_acquire_many_owned(n) {
            Ok(p) => return Some(p),
            Err(tokio::sync::TryAcquireError::Closed) => return None,
            Err(tokio::sync::TryAcquireError::NoPermits) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// How often a DATA chunk waiting for the budget looks again.
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// Writes and flushes `out` within `limit`: a client that stops reading
/// cannot hold the session (and its buffers) open.
async fn write_all(stream: &mut Stream, out: &mut Vec<u8>, limit: Duration) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let write = async {
        stream.write_all(out).await?;
        stream.flush().await
    };
    let r = match tokio::time::timeout(limit, write).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    };
    out.clear();
    r
}
