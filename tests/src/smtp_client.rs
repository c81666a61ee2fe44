//! A bare SMTP client over a plain socket, for saying exactly the bytes a
//! test needs (garbage, pipelining, a vanishing client).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct RawSmtp {
    reader: BufReader<TcpStream>,
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
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        };
        let greeting = c.reply();
        (c, greeting)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
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
