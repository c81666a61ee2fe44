//! A load generator like Postfix's `smtp-source`, which can also submit
//! over STARTTLS (smtp-source cannot): the same client for every server
//! of the TLS profile (issue 22). One message per connection, as
//! smtp-source does by default; with --tls, each connection verifies the
//! server's certificate against the given CA.
//!
//! smtpload ADDR [-s SESSIONS] [-m COUNT] [-l BYTES] [-f FROM] [-t TO]
//!          [--tls CA.pem --name SERVER_NAME] [--domains K] [--unique]
//!
//! --domains K sends to `TO`'s local part at d0.K..d(K-1).TO's domain in
//! turn (many destinations); --unique makes every recipient different
//! (`local+N@…`), so a sink can answer some of them differently. Prints `smtpload: N msgs in S s = R msg/s`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    addr: String,
    sessions: usize,
    count: usize,
    size: usize,
    from: String,
    to: String,
    tls: Option<(String, String)>,
    domains: usize,
    unique: bool,
}

fn args() -> Args {
    let mut a = Args {
        addr: String::new(),
        sessions: 20,
        count: 1000,
        size: 4096,
        from: "a@example.test".into(),
        to: "b@example.test".into(),
        tls: None,
        domains: 1,
        unique: false,
    };
    let mut ca = None;
    let mut name = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "-s" => a.sessions = value().parse().expect("-s SESSIONS"),
            "-m" => a.count = value().parse().expect("-m COUNT"),
            "-l" => a.size = value().parse().expect("-l BYTES"),
            "-f" => a.from = value(),
            "-t" => a.to = value(),
            "--tls" => ca = Some(value()),
            "--name" => name = Some(value()),
            "--domains" => a.domains = value().parse().expect("--domains K"),
            "--unique" => a.unique = true,
            _ if a.addr.is_empty() => a.addr = arg,
            _ => panic!("unexpected argument {arg}"),
        }
    }
    assert!(!a.addr.is_empty(), "usage: smtpload ADDR [options]");
    if let Some(ca) = ca {
        a.tls = Some((ca, name.expect("--tls needs --name SERVER_NAME")));
    }
    a
}

/// Reads one reply (all its lines); its code.
async fn reply<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> std::io::Result<u16> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad reply {line:?}")));
        }
    }
}

/// Sends `command` and expects a reply of class `class` (2 or 3).
async fn step<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    command: &[u8],
    class: u16,
) -> std::io::Result<()> {
    s.get_mut().write_all(command).await?;
    let code = reply(s).await?;
    if code / 100 != class {
        return Err(std::io::Error::other(format!(
            "{} answered {code}",
            String::from_utf8_lossy(command).trim_end()
        )));
    }
    Ok(())
}

/// MAIL, RCPT, DATA, the message, QUIT over an established session.
async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    from: &str,
    to: &str,
    message: &[u8],
) -> std::io::Result<()> {
    step(s, format!("MAIL FROM:<{from}>\r\n").as_bytes(), 2).await?;
    step(s, format!("RCPT TO:<{to}>\r\n").as_bytes(), 2).await?;
    step(s, b"DATA\r\n", 3).await?;
    s.get_mut().write_all(message).await?;
    step(s, b".\r\n", 2).await?;
    step(s, b"QUIT\r\n", 2).await
}

async fn one(
    a: &Args,
    tls: Option<&tokio_rustls::TlsConnector>,
    n: usize,
    message: &[u8],
) -> std::io::Result<()> {
    let (local, domain) = a.to.split_once('@').expect("-t local@domain");
    let local = if a.unique {
        format!("{local}+{n}")
    } else {
        local.to_string()
    };
    let to = if a.domains > 1 {
        format!("{local}@d{}.{domain}", n % a.domains)
    } else {
        format!("{local}@{domain}")
    };
    let mut s = BufReader::new(TcpStream::connect(&a.addr).await?);
    s.get_ref().set_nodelay(true)?;
    if reply(&mut s).await? != 220 {
        return Err(std::io::Error::other("no 220 greeting"));
    }
    step(&mut s, b"EHLO load.bench.example.test\r\n", 2).await?;
    let Some(connector) = tls else {
        return transaction(&mut s, &a.from, &to, message).await;
    };
    step(&mut s, b"STARTTLS\r\n", 2).await?;
    let name = rustls_pki_types::ServerName::try_from(a.tls.as_ref().unwrap().1.clone())
        .map_err(std::io::Error::other)?;
    let tls = connector.connect(name, s.into_inner()).await?;
    let mut s = BufReader::new(tls);
    step(&mut s, b"EHLO load.bench.example.test\r\n", 2).await?;
    transaction(&mut s, &a.from, &to, message).await
}

fn connector(ca: &str) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).expect("read the CA file") {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a CA certificate");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::main]
async fn main() {
    let a = Arc::new(args());
    let tls = a.tls.as_ref().map(|(ca, _)| Arc::new(connector(ca)));
    // Headers, then lines of text up to the size, as smtp-source -l does.
    let mut message = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: smtpload\r\nMessage-ID: <{}@load.bench.example.test>\r\n\r\n",
        a.from,
        a.to,
        std::process::id()
    )
    .into_bytes();
    let line =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop\r\n";
    while message.len() + line.len() <= a.size {
        message.extend_from_slice(line);
    }
    let message = Arc::new(message);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.sessions)
        .map(|_| {
            let (a, tls, next, message) = (a.clone(), tls.clone(), next.clone(), message.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= a.count {
                        return;
                    }
                    if let Err(e) = one(&a, tls.as_deref(), n, &message).await {
                        eprintln!("smtpload: message {n}: {e}");
                        std::process::exit(1);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("a session panicked");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "smtpload: {} msgs in {secs:.3} s = {:.1} msg/s ({}, {} sessions, {} bytes)",
        a.count,
        a.count as f64 / secs,
        if a.tls.is_some() { "STARTTLS" } else { "plain" },
        a.sessions,
        a.size
    );
}
