//! A sink like Postfix's `smtp-sink -c`, which also offers STARTTLS (smtp-sink
//! cannot): the receiving end of the TLS profile (issue 22). It accepts
//! every domain, can answer `451` once to a share of the recipients, and
//! writes smtp-sink's running counters (`sess=.. quit=.. mesg=K\r`) on
//! stdout, so the peers' harness (`sinkwatch.py`) reads it unchanged.
//!
//! tlssink ADDR --cert CERT.pem --key KEY.pem [--dump FILE] [--defer PCT]
//!
//! --dump appends each message in smtp-sink -D's layout (its X- headers and
//! Received, then the message with LF endings), which the harness counts
//! and `verify_dkim.py` verifies. --defer PCT answers `451 4.3.0` to the
//! first RCPT of PCT % of the addresses (chosen by hash, the same in every
//! run) and accepts them on the retry.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Sink {
    tls: tokio_rustls::TlsAcceptor,
    defer_percent: u64,
    deferred: Mutex<HashSet<String>>,
    dump: Option<Mutex<std::fs::File>>,
    sessions: AtomicU64,
    quits: AtomicU64,
    messages: AtomicU64,
}

impl Sink {
    /// smtp-sink -c's counter record, after every change that matters.
    fn report(&self) {
        let mut out = std::io::stdout().lock();
        // A closed reader is the harness going away: nothing to keep.
        let _ = write!(
            out,
            "sess={} quit={} mesg={}\r",
            self.sessions.load(Ordering::Relaxed),
            self.quits.load(Ordering::Relaxed),
            self.messages.load(Ordering::Relaxed)
        );
        let _ = out.flush();
    }

    /// True the first time a chosen address is seen: answer 451.
    fn defer(&self, rcpt: &str) -> bool {
        if self.defer_percent == 0 {
            return false;
        }
        let mut h = DefaultHasher::new();
        rcpt.hash(&mut h);
        h.finish() % 100 < self.defer_percent
            && self.deferred.lock().unwrap().insert(rcpt.to_string())
    }
}

fn tls_acceptor(cert: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
        .expect("read --cert")
        .map(|c| c.expect("a PEM certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).expect("read --key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("certificate and key");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// The address inside `MAIL FROM:<…>` / `RCPT TO:<…>`, parameters dropped.
fn address(line: &str) -> String {
    let rest = line.split_once(':').map_or("", |(_, r)| r).trim_start();
    rest.split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(['<', '>'])
        .to_string()
}

async fn session(sink: Arc<Sink>, tcp: TcpStream) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let peer = tcp.peer_addr()?.ip();
    let mut s: BufReader<Box<dyn Io>> = BufReader::new(Box::new(tcp));
    let mut encrypted = false;
    let (mut from, mut rcpts) = (String::new(), Vec::<String>::new());
    s.get_mut()
        .write_all(b"220 sink.bench.example.test ESMTP tlssink\r\n")
        .await?;
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if encrypted => b"250-sink.bench.example.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n",
            "EHLO" => b"250-sink.bench.example.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SIZE 104857600\r\n",
            "HELO" => b"250 sink.bench.example.test\r\n",
            "STAR" if !encrypted => {
                s.get_mut().write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                // Nothing may follow STARTTLS in the same packet (RFC 3207 §4).
                let tcp = s.into_inner();
                let tls = sink.tls.accept(tcp).await?;
                s = BufReader::new(Box::new(tls));
                encrypted = true;
                (from, rcpts) = (String::new(), Vec::new());
                continue;
            }
            "MAIL" => {
                (from, rcpts) = (address(&line), Vec::new());
                b"250 2.1.0 Ok\r\n"
            }
            "RCPT" => {
                let rcpt = address(&line);
                if sink.defer(&rcpt) {
                    b"451 4.3.0 Deferred once by the bench sink, try again\r\n"
                } else {
                    rcpts.push(rcpt);
                    b"250 2.1.5 Ok\r\n"
                }
            }
            "DATA" if rcpts.is_empty() => b"554 5.5.1 No valid recipients\r\n",
            "DATA" => {
                s.get_mut().write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut text = Vec::new();
                loop {
                    line.clear();
                    if s.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let l = line.trim_end_matches(['\r', '\n']);
                    if l == "." {
                        break;
                    }
                    if sink.dump.is_some() {
                        text.extend_from_slice(l.strip_prefix('.').unwrap_or(l).as_bytes());
                        text.push(b'\n');
                    }
                }
                if let Some(dump) = &sink.dump {
                    let head = format!(
                        "X-Client-Addr: {peer}\nX-Client-Proto: ESMTP\nX-Mail-Args: {from}\nX-Rcpt-Args: {}\nReceived: from client ([{peer}])\n\tby sink.bench.example.test (smtp-sink)\n\twith ESMTP{} id tlssink;\n",
                        rcpts.join(" "),
                        if encrypted { "S" } else { "" }
                    );
                    let mut f = dump.lock().unwrap();
                    f.write_all(head.as_bytes())?;
                    f.write_all(&text)?;
                }
                // As smtp-sink: one message per DATA, whatever its recipients.
                sink.messages.fetch_add(1, Ordering::Relaxed);
                sink.report();
                rcpts.clear();
                b"250 2.0.0 Ok: queued\r\n"
            }
            "RSET" => {
                rcpts.clear();
                b"250 2.0.0 Ok\r\n"
            }
            "NOOP" => b"250 2.0.0 Ok\r\n",
            "QUIT" => {
                s.get_mut().write_all(b"221 2.0.0 Bye\r\n").await?;
                sink.quits.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognized\r\n",
        };
        s.get_mut().write_all(reply).await?;
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let (mut cert, mut key, mut dump, mut defer) = (None, None, None, 0);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--cert" => cert = Some(value()),
            "--key" => key = Some(value()),
            "--dump" => dump = Some(value()),
            "--defer" => defer = value().parse().expect("--defer PERCENT"),
            _ if addr.is_none() => addr = Some(arg),
            _ => panic!("unexpected argument {arg}"),
        }
    }
    let usage = "usage: tlssink ADDR --cert CERT.pem --key KEY.pem [--dump FILE] [--defer PCT]";
    let addr = addr.expect(usage);
    let sink = Arc::new(Sink {
        tls: tls_acceptor(&cert.expect(usage), &key.expect(usage)),
        defer_percent: defer,
        deferred: Mutex::default(),
        dump: dump.map(|path| {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open --dump");
            Mutex::new(f)
        }),
        sessions: AtomicU64::new(0),
        quits: AtomicU64::new(0),
        messages: AtomicU64::new(0),
    });
    let listener = TcpListener::bind(&addr).await.expect("bind ADDR");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        sink.sessions.fetch_add(1, Ordering::Relaxed);
        let sink = sink.clone();
        tokio::spawn(async move {
            // A client that breaks off is the client's business, as in smtp-sink.
            let _ = session(sink, tcp).await;
        });
    }
}
