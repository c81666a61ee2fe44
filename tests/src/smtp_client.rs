//! A bare SMTP client, for saying exactly the bytes a test needs (garbage,
//! pipelining, a vanishing client), in plain text or after STARTTLS as a
//! production client would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// The connection under the reader: the socket, or TLS over it.
pub trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

pub struct RawSmtp {
    reader: BufReader<Box<dyn Conn>>,
    /// The socket itself (timeouts, shutdown, raw bytes before TLS).
    pub stream: TcpStream,
}

impl RawSmtp {
    /// Connects and reads the greeting.
    pub fn connect(port: u16) -> (RawSmtp, String) {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut c = RawSmtp {
            reader: BufReader::new(Box::new(stream.try_clone().unwrap())),
            stream,
        };
        let greeting = c.reply();
        (c, greeting)
    }

    /// EHLO, STARTTLS (the server's certificate checked against `ca_pem`
    /// for "localhost"), EHLO again over TLS.
    pub fn starttls(&mut self, ca_pem: &str) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let r = self.cmd("EHLO client.test");
        assert!(r.contains("STARTTLS"), "no STARTTLS offered: {r}");
        let r = self.cmd("STARTTLS");
        assert!(r.starts_with("220"), "STARTTLS: {r}");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
        let tls = rustls::StreamOwned::new(conn, self.stream.try_clone().unwrap());
        self.reader = BufReader::new(Box::new(tls));
        let r = self.cmd("EHLO client.test");
        assert!(r.starts_with("250"), "EHLO over TLS: {r}");
    }

    /// Connects, STARTTLS, then AUTH PLAIN over TLS, as in production.
    pub fn login_tls(port: u16, ca_pem: &str, login: &str, password: &str) -> RawSmtp {
        use base64::Engine;
        let (mut c, _) = RawSmtp::connect(port);
        c.starttls(ca_pem);
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{login}\0{password}"));
        let r = c.cmd(&format!("AUTH PLAIN {token}"));
        assert!(r.starts_with("235"), "AUTH over TLS: {r}");
        c
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let conn = self.reader.get_mut();
        conn.write_all(bytes).unwrap();
        conn.flush().unwrap();
    }

    /// Like `send`, but a write error (the server hung up) is returned.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let conn = self.reader.get_mut();
        conn.write_all(bytes)?;
        conn.flush()
    }

    /// One whole reply (all its lines); empty when the server hung up.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return all,
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    /// Sends one command line and reads its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// EHLO and AUTH PLAIN (on a server that allows AUTH without TLS).
    pub fn login(&mut self, login: &str, password: &str) -> String {
        use base64::Engine;
        self.cmd("EHLO client.test");
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{login}\0{password}"));
        self.cmd(&format!("AUTH PLAIN {token}"))
    }

    /// One transaction whose envelope the server takes: MAIL, RCPT, DATA,
    /// the message (dot-terminated here), and the reply to its end.
    pub fn submit(&mut self, from: &str, to: &str, message: &[u8]) -> String {
        let r = self.cmd(&format!("MAIL FROM:<{from}>"));
        assert!(r.starts_with("250"), "MAIL: {r}");
        let r = self.cmd(&format!("RCPT TO:<{to}>"));
        assert!(r.starts_with("250"), "RCPT: {r}");
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "DATA: {r}");
        self.send(message);
        self.cmd(".")
    }

    /// True once the server has closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}

/// A complaint about a delivered message, as a real ARF report sent to its
/// return path on envoi's inbound listener.
pub fn complain(inbound_port: u16, about: &crate::sink::Received) {
    let arf = format!(
        "From: fbl@isp.test\r\nSubject: complaint\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=f\r\n\r\n--f\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nOriginal-Rcpt-To: {}\r\n\r\n--f--\r\n",
        about.rcpt_to[0]
    );
    let (mut c, _) = RawSmtp::connect(inbound_port);
    assert!(c.cmd("EHLO isp.test").starts_with("250"));
    let reply = c.submit("", &about.mail_from, arf.as_bytes());
    assert!(reply.starts_with("250"), "{reply}");
}
