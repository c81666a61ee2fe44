//! An SMTP sink on loopback playing a recipient's MX: STARTTLS with a chosen
//! certificate (or none), scripted replies, and a record of what arrived.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufStream};

use crate::ca::ServerCert;

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
    pub tls: bool,
    /// When its end of DATA arrived.
    pub at: Instant,
}

impl Received {
    /// A header of the message, unfolded; empty when absent.
    pub fn header(&self, name: &str) -> String {
        let text = String::from_utf8_lossy(&self.data);
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .replace("\r\n ", " ")
            .replace("\r\n\t", " ");
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default()
    }

    /// The https (or http) one-click link of its List-Unsubscribe header.
    pub fn unsubscribe_url(&self) -> String {
        self.header("List-Unsubscribe")
            .split(['<', '>'])
            .find(|p| p.starts_with("http"))
            .expect("a List-Unsubscribe header with an http link")
            .to_string()
    }
}

type RcptRule = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Script {
    /// Refuses every recipient whose address starts with `prefix`, with
    /// `reply` (e.g. "550 5.1.1 no such user"); takes the rest.
    pub fn refusing(prefix: &'static str, reply: &'static str) -> Script {
        Script {
            rcpt: Some(Box::new(move |addr: &str| {
                addr.starts_with(prefix).then(|| reply.to_string())
            })),
            ..Script::default()
        }
    }
}

/// How the sink behaves.
#[derive(Default)]
pub struct Script {
    /// Offer STARTTLS with this certificate.
    pub cert: Option<ServerCert>,
    /// Accept connections but never say anything.
    pub hang: bool,
    /// A reply line (e.g. "550 5.1.1 no such user") to refuse a recipient.
    pub rcpt: Option<RcptRule>,
    /// Replies to successive end-of-DATA, then "250 2.0.0 OK" for ever.
    pub data_replies: Mutex<VecDeque<String>>,
    /// Time taken before answering each end-of-DATA (a slow MX).
    pub data_delay: Duration,
    /// Keep no message content, only envelopes (benchmarks of many messages).
    pub forget_data: bool,
    /// Close the connection right after answering this many messages on it
    /// (a server that takes only so many per connection).
    pub close_after: Option<usize>,
    /// After this many messages on a connection, hang up without a word on
    /// the next MAIL FROM (a server that dropped the connection just then).
    pub hang_up_on_mail_after: Option<usize>,
}

struct Shared {
    script: Script,
    tls: Option<tokio_rustls::TlsAcceptor>,
    received: Mutex<Vec<Received>>,
    connections: AtomicUsize,
    /// Messages whose end of DATA arrived (before `data_delay` and the reply).
    data_ended: AtomicUsize,
    /// Connections open now, and the most ever open at once.
    open: AtomicUsize,
    peak_open: AtomicUsize,
}

pub struct Sink {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _rt: tokio::runtime::Runtime,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Sink {
    pub fn start(script: Script) -> Sink {
        Self::start_on("127.0.0.1:0".parse().unwrap(), script)
    }

    pub fn start_on(addr: SocketAddr, script: Script) -> Sink {
        let tls = script.cert.as_ref().map(|c| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(c.chain.clone(), c.key.clone_key())
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
        });
        let shared = Arc::new(Shared {
            script,
            tls,
            received: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            data_ended: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            peak_open: AtomicUsize::new(0),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
        let addr = listener.local_addr().unwrap();
        let s = shared.clone();
        rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // Each reply is its own small write: with Nagle, the second
                // reply to pipelined commands waits for the client's delayed
                // ACK (up to 40 ms), and that, not envoi, bounded delivery.
                let _ = tcp.set_nodelay(true);
                s.connections.fetch_add(1, Ordering::SeqCst);
                let now_open = s.open.fetch_add(1, Ordering::SeqCst) + 1;
                s.peak_open.fetch_max(now_open, Ordering::SeqCst);
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(s.clone(), Box::new(tcp)).await;
                    s.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Sink {
            addr,
            shared,
            _rt: rt,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// How many messages arrived so far.
    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// Messages whose end of DATA arrived, answered or not yet.
    pub fn data_ended(&self) -> usize {
        self.shared.data_ended.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// The most connections that were ever open at once.
    pub fn peak_connections(&self) -> usize {
        self.shared.peak_open.load(Ordering::SeqCst)
    }

    /// Waits until `n` messages arrived (or panics after `within`).
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            // Counted, not copied, until they are all there.
            let got = self.count();
            if got >= n {
                return self.received();
            }
            assert!(
                start.elapsed() < within,
                "sink got {got} of {n} messages in {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn serve(s: Arc<Shared>, io: Box<dyn Io>) -> std::io::Result<()> {
    if s.script.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return Ok(());
    }
    let mut io = BufStream::new(io);
    io.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    io.flush().await?;
    let mut tls = false;
    let mut mail_from = String::new();
    let mut rcpts: Vec<String> = Vec::new();
    let mut line = String::new();
    // Messages answered on this connection.
    let mut answered = 0usize;
    loop {
        line.clear();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let mut close_now = false;
        let reply: String = if upper.starts_with("EHLO") {
            let mut r = String::from(
                "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 50000000\r\n",
            );
            if s.tls.is_some() && !tls {
                r.push_str("250-STARTTLS\r\n");
            }
            r.push_str("250 ENHANCEDSTATUSCODES");
            r
        } else if upper.starts_with("HELO") {
            "250 sink.test".into()
        } else if upper == "STARTTLS" && s.tls.is_some() && !tls {
            io.write_all(b"220 2.0.0 go ahead\r\n").await?;
            io.flush().await?;
            let acceptor = s.tls.clone().unwrap();
            let inner = io.into_inner();
            let stream = match acceptor.accept(inner).await {
                Ok(t) => t,
                Err(_) => return Ok(()), // the client gave up on our certificate
            };
            io = BufStream::new(Box::new(stream) as Box<dyn Io>);
            tls = true;
            mail_from.clear();
            rcpts.clear();
            continue;
        } else if upper.starts_with("MAIL FROM:") {
            if s.script
                .hang_up_on_mail_after
                .is_some_and(|n| answered >= n)
            {
                return Ok(());
            }
            mail_from = between_brackets(&cmd);
            rcpts.clear();
            "250 2.1.0 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            let addr = between_brackets(&cmd);
            match s.script.rcpt.as_ref().and_then(|f| f(&addr)) {
                Some(refusal) => refusal,
                None => {
                    rcpts.push(addr);
                    "250 2.1.5 OK".into()
                }
            }
        } else if upper == "DATA" {
            if rcpts.is_empty() {
                "554 5.5.1 no valid recipients".into()
            } else {
                io.write_all(b"354 go ahead\r\n").await?;
                io.flush().await?;
                let mut data = Vec::new();
                let mut l = Vec::new();
                loop {
                    l.clear();
                    if io.read_until(b'\n', &mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == b".\r\n" {
                        break;
                    }
                    let content = if l.starts_with(b"..") {
                        &l[1..]
                    } else {
                        &l[..]
                    };
                    data.extend_from_slice(content);
                }
                s.data_ended.fetch_add(1, Ordering::SeqCst);
                if !s.script.data_delay.is_zero() {
                    tokio::time::sleep(s.script.data_delay).await;
                }
                let reply = s
                    .script
                    .data_replies
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or_else(|| "250 2.0.0 OK queued".into());
                if reply.starts_with('2') {
                    let data = if s.script.forget_data {
                        Vec::new()
                    } else {
                        data
                    };
                    s.received.lock().unwrap().push(Received {
                        mail_from: mail_from.clone(),
                        rcpt_to: rcpts.clone(),
                        data,
                        tls,
                        at: Instant::now(),
                    });
                }
                rcpts.clear();
                answered += 1;
                close_now = s.script.close_after == Some(answered);
                reply
            }
        } else if upper == "RSET" {
            rcpts.clear();
            "250 2.0.0 OK".into()
        } else if upper == "NOOP" {
            "250 2.0.0 OK".into()
        } else if upper == "QUIT" {
            io.write_all(b"221 2.0.0 bye\r\n").await?;
            io.flush().await?;
            return Ok(());
        } else {
            "500 5.5.2 unknown command".into()
        };
        io.write_all(reply.as_bytes()).await?;
        io.write_all(b"\r\n").await?;
        io.flush().await?;
        if close_now {
            return Ok(());
        }
    }
}

fn between_brackets(cmd: &str) -> String {
    match (cmd.find('<'), cmd.find('>')) {
        (Some(a), Some(b)) if b > a => cmd[a + 1..b].to_string(),
        _ => cmd
            .split_once(':')
            .map(|(_, r)| r.trim().to_string())
            .unwrap_or_default(),
    }
}
