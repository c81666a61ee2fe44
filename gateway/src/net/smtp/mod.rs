//! An SMTP client session to one MX: greeting, EHLO, STARTTLS, then any
//! number of MAIL/RCPT/DATA transactions on the same connection.

use std::net::SocketAddr;
use std::time::Duration;

use smtp_proto::response::parser::ResponseReceiver;
use smtp_proto::{EhloResponse, Response};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

pub use super::reply::Reply;
pub use caps::Capabilities;
use dot::dot_stuffed;

pub use error::SessionError;
pub use timeouts::Timeouts;

mod caps;
mod dot;
mod error;
mod timeouts;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The TLS parameters of an encrypted session, for events and logs.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
}

/// The replies to a pipelined MAIL, RCPTs and DATA.
pub struct Envelope {
    pub mail: Reply,
    pub rcpts: Vec<Reply>,
    pub data: Reply,
}

/// A TCP connection to `addr` within `within`, for `Session::start`.
pub async fn dial(addr: SocketAddr, within: Duration) -> Result<Box<dyn Io>, SessionError> {
    let tcp = tokio::time::timeout(within, TcpStream::connect(addr))
        .await
        .map_err(|_| SessionError::Timeout("the TCP connection"))?
        .map_err(|source| SessionError::Connect { addr, source })?;
    let _ = tcp.set_nodelay(true);
    Ok(Box::new(tcp))
}

pub struct Session {
    io: BufStream<Box<dyn Io>>,
    pub caps: Capabilities,
    pub tls: Option<TlsInfo>,
    timeouts: Timeouts,
    pub peer: SocketAddr,
    /// Replies read on this connection.
    replies: u64,
    /// A reply went wrong (timeout, garbage, connection lost): the dialogue
    /// may be out of step, so the session is never reused.
    failed: bool,
}

impl Session {
    /// Connects and reads the greeting. A non-2xx greeting is returned as the
    /// reply so the caller can classify it.
    pub async fn connect(
        addr: SocketAddr,
        timeouts: Timeouts,
    ) -> Result<(Session, Reply), SessionError> {
        Session::start(dial(addr, timeouts.connect).await?, addr, timeouts).await
    }

    /// Reads the greeting on a connection already made (by `dial`, or an
    /// in-memory peer in tests).
    pub async fn start(
        io: Box<dyn Io>,
        peer: SocketAddr,
        timeouts: Timeouts,
    ) -> Result<(Session, Reply), SessionError> {
        let mut s = Session {
            io: BufStream::new(io),
            caps: Capabilities::default(),
            tls: None,
            timeouts,
            peer,
            replies: 0,
            failed: false,
        };
        let greeting = s.read_reply("the greeting", timeouts.greeting).await?;
        Ok((s, greeting))
    }

    async fn read_reply(
        &mut self,
        what: &'static str,
        within: Duration,
    ) -> Result<Reply, SessionError> {
        self.read_reply_within(what, within, None).await
    }

    /// Writes and flushes `bytes` within `within`.
    async fn send(
        &mut self,
        bytes: &[u8],
        what: &'static str,
        within: Duration,
    ) -> Result<(), SessionError> {
        let write = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(within, write).await {
            Ok(r) => r.map_err(SessionError::Io),
            Err(_) => {
                self.failed = true;
                Err(SessionError::WriteTimeout(what))
            }
        }
    }

    /// Replies read on this connection so far.
    pub fn replies(&self) -> u64 {
        self.replies
    }

    /// Whether the session may carry another transaction: nothing went
    /// wrong on it, and the server has neither closed the connection nor
    /// said anything unasked (a 421 before hanging up) while it waited.
    pub fn reusable(&mut self) -> bool {
        use futures_util::FutureExt;
        // Readable now means EOF, an error or unasked bytes; a quiet open
        // connection has nothing to read.
        !self.failed && self.io.fill_buf().now_or_never().is_none()
    }

    async fn read_reply_within(
        &mut self,
        what: &'static str,
        within: Duration,
        raw: Option<&mut Vec<u8>>,
    ) -> Result<Reply, SessionError> {
        let read = tokio::time::timeout(within, self.next_reply(what, raw))
            .await
            .unwrap_or(Err(SessionError::Timeout(what)));
        match read {
            Ok(_) => self.replies += 1,
            Err(_) => self.failed = true,
        }
        read.map(Reply::from_wire)
    }

    /// One reply, parsed by smtp-proto as the bytes come; with `raw`, the
    /// bytes it took too (EHLO's, for its own parser).
    async fn next_reply(
        &mut self,
        what: &'static str,
        mut raw: Option<&mut Vec<u8>>,
    ) -> Result<Response<String>, SessionError> {
        let mut receiver = ResponseReceiver::default();
        loop {
            let buf = self.io.fill_buf().await?;
            if buf.is_empty() {
                return Err(SessionError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the server closed the connection while we waited for {what}"),
                )));
            }
            let mut it = buf.iter();
            let parsed = receiver.parse(&mut it);
            let used = buf.len() - it.len();
            if let Some(raw) = raw.as_deref_mut() {
                raw.extend_from_slice(&buf[..used]);
            }
            self.io.consume(used);
            match parsed {
                Ok(r) if (200..600).contains(&r.code) => return Ok(r),
                Ok(r) => {
                    return Err(SessionError::Protocol(format!(
                        "reply code {} is not SMTP ({what})",
                        r.code
                    )))
                }
                Err(smtp_proto::Error::NeedsMoreData { .. }) => continue,
                Err(smtp_proto::Error::ResponseTooLong) => {
                    return Err(SessionError::Protocol(format!(
                        "the reply is over 4096 bytes ({what})"
                    )))
                }
                Err(smtp_proto::Error::SyntaxError { syntax }) => {
                    return Err(SessionError::Protocol(format!(
                        "{} in the reply ({what})",
                        syntax.to_ascii_lowercase()
                    )))
                }
                Err(e) => return Err(SessionError::Protocol(format!("{e:?} ({what})"))),
            }
        }
    }

    /// One write of the message's content (buffered; flushed by `send`).
    async fn write_within(&mut self, bytes: &[u8], within: Duration) -> Result<(), SessionError> {
        match tokio::time::timeout(within, self.io.write_all(bytes)).await {
            Ok(r) => r.map_err(SessionError::Io),
            Err(_) => {
                self.failed = true;
                Err(SessionError::WriteTimeout("sending the message"))
            }
        }
    }

    /// One command and its reply, each within `within`.
    async fn command(
        &mut self,
        line: &str,
        what: &'static str,
        within: Duration,
    ) -> Result<Reply, SessionError> {
        self.send(format!("{line}\r\n").as_bytes(), what, within)
            .await?;
        self.read_reply(what, within).await
    }

    /// EHLO (HELO when EHLO is refused); records the capabilities.
    pub async fn ehlo(&mut self, helo_name: &str) -> Result<Reply, SessionError> {
        let t = self.timeouts.ehlo;
        let line = format!("EHLO {helo_name}\r\n");
        self.send(line.as_bytes(), "the EHLO reply", t).await?;
        let mut raw = Vec::new();
        let reply = self
            .read_reply_within("the EHLO reply", t, Some(&mut raw))
            .await?;
        if reply.code == 250 {
            // A keyword smtp-proto cannot read costs every capability; the
            // session then goes on as with a plain HELO.
            self.caps = match EhloResponse::parse(&mut raw.iter()) {
                Ok(ehlo) => Capabilities::from_ehlo(&ehlo),
                Err(e) => {
                    tracing::warn!(peer = %self.peer, error = ?e, reply = %reply, "EHLO reply not understood; using no extension");
                    Capabilities::default()
                }
            };
            return Ok(reply);
        }
        self.caps = Capabilities::default();
        self.command(&format!("HELO {helo_name}"), "the HELO reply", t)
            .await
    }

    /// STARTTLS and the handshake. On `Ok`, the session is encrypted and EHLO
    /// must be sent again. On a handshake error the connection is unusable.
    pub async fn starttls(
        mut self,
        connector: &tokio_rustls::TlsConnector,
        host: &str,
    ) -> Result<Result<Session, Reply>, SessionError> {
        let t = self.timeouts.starttls;
        let reply = self.command("STARTTLS", "the STARTTLS reply", t).await?;
        if reply.code != 220 {
            return Ok(Err(reply));
        }
        let Session {
            io, timeouts, peer, ..
        } = self;
        let stream = io.into_inner();
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| SessionError::Tls(format!("bad host name {host:?}: {e}")))?;
        let tls = tokio::time::timeout(timeouts.starttls, connector.connect(name, stream))
            .await
            .map_err(|_| SessionError::Timeout("the TLS handshake"))?
            .map_err(|e| SessionError::Tls(e.to_string()))?;
        let conn = tls.get_ref().1;
        let info = TlsInfo {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}").replace("TLSv1_", "TLSv1."))
                .unwrap_or_default(),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
        };
        Ok(Ok(Session {
            io: BufStream::new(Box::new(tls) as Box<dyn Io>),
            caps: Capabilities::default(),
            tls: Some(info),
            timeouts,
            peer,
            replies: 0,
            failed: false,
        }))
    }

    pub async fn mail_from(
        &mut self,
        sender: &str,
        size: usize,
        eight_bit: bool,
    ) -> Result<Reply, SessionError> {
        let cmd = self.mail_command(sender, size, eight_bit);
        let t = self.timeouts.mail;
        self.command(&cmd, "the MAIL FROM reply", t).await
    }

    fn mail_command(&self, sender: &str, size: usize, eight_bit: bool) -> String {
        let mut cmd = format!("MAIL FROM:<{sender}>");
        if self.caps.size.is_some() {
            cmd.push_str(&format!(" SIZE={size}"));
        }
        if eight_bit && self.caps.eightbitmime {
            cmd.push_str(" BODY=8BITMIME");
        }
        if !sender.is_ascii() && self.caps.smtputf8 {
            cmd.push_str(" SMTPUTF8");
        }
        cmd
    }

    /// With PIPELINING (RFC 2920): MAIL, every RCPT and DATA in one write,
    /// then their replies: one round trip instead of three. When DATA got
    /// 354 but nothing may follow (MAIL or every RCPT refused), the data is
    /// ended empty at once, as RFC 2920 asks.
    pub async fn pipelined_envelope(
        &mut self,
        sender: &str,
        size: usize,
        eight_bit: bool,
        addresses: &[&str],
    ) -> Result<Envelope, SessionError> {
        let mut out = self.mail_command(sender, size, eight_bit);
        out.push_str("\r\n");
        for a in addresses {
            out.push_str("RCPT TO:<");
            out.push_str(a);
            out.push_str(">\r\n");
        }
        out.push_str("DATA\r\n");
        let t = self.timeouts;
        self.send(out.as_bytes(), "sending MAIL, RCPT and DATA", t.mail)
            .await?;
        let mail = self.read_reply("the MAIL FROM reply", t.mail).await?;
        let mut rcpts = Vec::with_capacity(addresses.len());
        for _ in addresses {
            rcpts.push(self.read_reply("a RCPT TO reply", t.rcpt).await?);
        }
        let data = self.read_reply("the DATA reply", t.data).await?;
        let may_send = mail.is_positive() && rcpts.iter().any(Reply::is_positive);
        if data.code == 354 && !may_send {
            self.send(b".\r\n", "sending the final dot", t.transfer)
                .await?;
            self.read_reply("the end-of-data reply", t.final_dot)
                .await?;
        }
        Ok(Envelope { mail, rcpts, data })
    }

    /// RCPT TO for each address; with PIPELINING all are sent before reading.
    pub async fn rcpt_to(&mut self, addresses: &[&str]) -> Result<Vec<Reply>, SessionError> {
        let t = self.timeouts.rcpt;
        if self.caps.pipelining {
            let out: String = addresses
                .iter()
                .map(|a| format!("RCPT TO:<{a}>\r\n"))
                .collect();
            self.send(out.as_bytes(), "sending RCPT TO", t).await?;
            let mut replies = Vec::with_capacity(addresses.len());
            for _ in addresses {
                replies.push(self.read_reply("a RCPT TO reply", t).await?);
            }
            Ok(replies)
        } else {
            let mut replies = Vec::with_capacity(addresses.len());
            for a in addresses {
                replies.push(
                    self.command(&format!("RCPT TO:<{a}>"), "a RCPT TO reply", t)
                        .await?,
                );
            }
            Ok(replies)
        }
    }

    /// DATA, then `parts` in order (dot-stuffed, CRLF-terminated), then the
    /// final dot. Returns the DATA reply if it was not 354, else the final one.
    pub async fn data(&mut self, parts: &[&[u8]]) -> Result<Reply, SessionError> {
        let t = self.timeouts.data;
        let go = self.command("DATA", "the DATA reply", t).await?;
        if go.code != 354 {
            return Ok(go);
        }
        self.content(parts).await
    }

    /// After a 354: `parts` dot-stuffed, then the final dot; the final reply.
    pub async fn content(&mut self, parts: &[&[u8]]) -> Result<Reply, SessionError> {
        let t = self.timeouts;
        // Each 64 KiB must go within `transfer`: a slow link is fine, a
        // server that stopped reading is not.
        let mut last = b'\n';
        for piece in dot_stuffed(parts) {
            for chunk in piece.chunks(64 << 10) {
                self.write_within(chunk, t.transfer).await?;
            }
            last = piece[piece.len() - 1];
        }
        if last != b'\n' {
            self.write_within(b"\r\n", t.transfer).await?;
        }
        self.send(b".\r\n", "sending the message", t.transfer)
            .await?;
        self.read_reply("the end-of-data reply", t.final_dot).await
    }

    pub async fn rset(&mut self) -> Result<Reply, SessionError> {
        let t = self.timeouts.mail;
        self.command("RSET", "the RSET reply", t).await
    }

    /// Polite goodbye; errors do not matter any more.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.command("QUIT", "the QUIT reply", Duration::from_secs(5)),
        )
        .await;
    }
}

#[cfg(test)]
#[path = "timeouts_tests.rs"]
mod timeouts_tests;
