//! One client connection: reads bytes into the protocol machine, writes its
//! replies (batched, as PIPELINING allows), and performs what it asks for:
//! TLS, password checks, storing messages.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::machine::{Action, Machine, Settings};
use super::reply::Reply;
use super::stream::Stream;
use super::Shared;
use crate::app::App;

pub async fn run(
    app: App,
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let settings = Settings {
        host: shared.host.clone(),
        max_message_size: app.config.max_message_size(),
        max_recipients: crate::compose::MAX_RECIPIENTS,
        tls_available: shared.tls.is_some(),
        auth_without_tls: app.config.smtp.allow_plain_auth_without_tls,
        inbound: shared.inbound.clone(),
    };
    let allowlisted = match shared.inbound {
        Some(_) => Vec::new(),
        None => shared.allowlist.domains_for(&app, peer.ip()).await,
    };
    let mut machine = Machine::new(settings, allowlisted);
    let mut stream = Stream::Plain(socket);
    let mut out = Vec::with_capacity(512);
    Reply::greeting(&shared.host).write_to(&mut out);
    let idle: Duration = app.config.smtp.idle_timeout.0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(action) = machine.next_action() {
            match action {
                Action::Reply(r) => r.write_to(&mut out),
                Action::Close => {
                    let _ = write_all(&mut stream, &mut out).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                Action::StartTls => {
                    if write_all(&mut stream, &mut out).await.is_err() {
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
                    if write_all(&mut stream, &mut out).await.is_err() {
                        return;
                    }
                    let outcome =
                        super::auth::check(&app, &shared.guard, peer.ip(), &login, &password).await;
                    machine.auth_done(outcome);
                }
                Action::Submit(envelope) => {
                    let reply = match shared.inbound {
                        Some(_) => crate::inbound::intake::receive(&app, envelope).await,
                        None => super::submit::submit(&app, envelope).await,
                    };
                    machine.submitted(reply);
                }
            }
        }
        if *stop.borrow() && !machine.in_data() {
            Reply::shutting_down().write_to(&mut out);
            let _ = write_all(&mut stream, &mut out).await;
            return;
        }
        if write_all(&mut stream, &mut out).await.is_err() {
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
            Ok(Ok(n)) => machine.feed(&buf[..n]),
            Ok(Err(_)) => return,
            Err(_) => {
                Reply::idle().write_to(&mut out);
                let _ = write_all(&mut stream, &mut out).await;
                return;
            }
        }
    }
}

async fn write_all(stream: &mut Stream, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let r = stream.write_all(out).await;
    out.clear();
    match r {
        Ok(()) => stream.flush().await,
        Err(e) => Err(e),
    }
}
