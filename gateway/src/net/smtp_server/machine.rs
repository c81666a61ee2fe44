//! The submission protocol (RFC 5321, with PIPELINING, STARTTLS, AUTH PLAIN
//! and LOGIN, SIZE) as a state machine without I/O: bytes go in with
//! `feed`, actions come out of `next`. Checking a password, upgrading to TLS
//! and storing a message are effects the session performs before handing the
//! result back. Commands are parsed by `smtp-proto`; this decides what they
//! mean here. Being pure, it is what the fuzz target drives.

use std::collections::VecDeque;

use base64::Engine;
use policy::relay::{Authority, Refusal};
use smtp_proto::request::receiver::DataReceiver;
use smtp_proto::{Error as ProtoError, Request, AUTH_LOGIN, AUTH_PLAIN};

use super::reply::{AuthHow, EnhancedCode, Reply};

/// Longest command line accepted (AUTH lines carry base64 credentials).
pub const MAX_LINE: usize = 4096;
/// Syntax errors and unknown commands tolerated before hanging up.
const MAX_ERRORS: u32 = 10;
/// Failed authentications tolerated on one connection.
const MAX_AUTH_FAILURES: u32 = 3;

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub tls_available: bool,
    pub auth_without_tls: bool,
    /// On the inbound listener, the bounce domain: MAIL from anyone (bounces
    /// come from `<>`), RCPT only at that domain, nothing relayed.
    pub inbound: Option<String>,
}

/// A message received in full, to store.
#[derive(Debug)]
pub struct Envelope {
    pub authority: Authority,
    /// The domain the client sends as (checked against MAIL FROM).
    pub domain: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub enum Action {
    Reply(Reply),
    /// The 220 went out: upgrade the stream, then call `tls_started`.
    StartTls,
    /// Check these credentials, then call `auth_done`.
    Authenticate {
        login: String,
        password: String,
    },
    /// Store this message, then call `submitted` with the reply.
    Submit(Envelope),
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials belong to this domain.
    Ok {
        domain: String,
    },
    Failed,
    Throttled,
    Unavailable,
}

enum State {
    Command,
    /// A line over `MAX_LINE`: dropping bytes up to its end.
    Discarding,
    AuthPlain,
    AuthLoginUser,
    AuthLoginPass {
        user: String,
    },
    Data {
        receiver: DataReceiver,
        buf: Vec<u8>,
        too_large: bool,
        last: u8,
    },
    /// Waiting for the session (password check, TLS, store).
    Waiting,
    Closed,
}

pub struct Machine {
    settings: Settings,
    input: Vec<u8>,
    pos: usize,
    state: State,
    tls: bool,
    greeted: bool,
    authority: Authority,
    mail_from: Option<(String, String)>,
    rcpts: Vec<String>,
    errors: u32,
    auth_failures: u32,
    /// The login of the AUTH being checked, for the 535's hint.
    auth_login: String,
    out: VecDeque<Action>,
}

impl Machine {
    /// `allowlisted`: domains whose IP allowlist holds the client address.
    pub fn new(settings: Settings, allowlisted: Vec<String>) -> Machine {
        Machine {
            settings,
            input: Vec::new(),
            pos: 0,
            state: State::Command,
            tls: false,
            greeted: false,
            authority: Authority {
                credential_domain: None,
                allowlisted,
            },
            mail_from: None,
            rcpts: Vec::new(),
            errors: 0,
            auth_failures: 0,
            auth_login: String::new(),
            out: VecDeque::new(),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// In the middle of receiving a message (a shutdown lets it finish).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data { .. } | State::Waiting)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Bytes received but not yet acted on (pipelined commands).
    pub fn has_pending_input(&self) -> bool {
        self.pos < self.input.len()
    }

    pub fn tls_started(&mut self) {
        // RFC 3207: forget everything from before TLS, including any
        // plaintext pipelined after STARTTLS (a command injection).
        self.input.clear();
        self.pos = 0;
        self.tls = true;
        self.greeted = false;
        self.authority.credential_domain = None;
        self.reset_transaction();
        self.state = State::Command;
    }

    pub fn auth_done(&mut self, outcome: AuthOutcome) {
        self.state = State::Command;
        match outcome {
            AuthOutcome::Ok { domain } => {
                self.authority.credential_domain = Some(domain);
                self.reply(Reply::auth_ok());
            }
            AuthOutcome::Failed => {
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.reply(Reply::auth_throttled());
                    self.close();
                } else {
                    let login = std::mem::take(&mut self.auth_login);
                    self.reply(Reply::bad_credentials(&login));
                }
            }
            AuthOutcome::Throttled => self.reply(Reply::auth_throttled()),
            AuthOutcome::Unavailable => self.reply(Reply::auth_unavailable()),
        }
    }

    pub fn submitted(&mut self, reply: Reply) {
        self.reset_transaction();
        self.state = State::Command;
        self.reply(reply);
    }

    /// The next thing to do, or `None` when more input is needed (or an
    /// effect is awaited).
    pub fn next_action(&mut self) -> Option<Action> {
        loop {
            if let Some(a) = self.out.pop_front() {
                return Some(a);
            }
            if !self.step() {
                return self.out.pop_front();
            }
        }
    }

    fn reply(&mut self, r: Reply) {
        self.out.push_back(Action::Reply(r));
    }

    fn close(&mut self) {
        self.out.push_back(Action::Close);
        self.state = State::Closed;
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
    }

    /// One unit of work on the input; false when nothing more can be done.
    fn step(&mut self) -> bool {
        match self.state {
            State::Waiting | State::Closed => false,
            State::Data { .. } => self.step_data(),
            _ => {
                let line = match self.take_line() {
                    None => return false,
                    Some(None) => return true,
                    Some(Some(line)) => line,
                };
                let state = std::mem::replace(&mut self.state, State::Command);
                match state {
                    State::Discarding => {} // the tail of a too-long line
                    State::AuthPlain => self.auth_plain(&line),
                    State::AuthLoginUser => match decode(&line) {
                        Some(user) => {
                            self.reply(Reply::challenge("UGFzc3dvcmQ6"));
                            self.state = State::AuthLoginPass { user };
                        }
                        None => self.auth_garbled(&line),
                    },
                    State::AuthLoginPass { user } => match decode(&line) {
                        Some(password) => self.authenticate(user, password),
                        None => self.auth_garbled(&line),
                    },
                    _ => self.command(&line),
                }
                true
            }
        }
    }

    /// The next line (with its LF): `None` when more input is needed,
    /// `Some(None)` when input was used without a line to act on (a line
    /// over `MAX_LINE` is answered once and dropped).
    fn take_line(&mut self) -> Option<Option<Vec<u8>>> {
        let discarding = matches!(self.state, State::Discarding);
        let rest = &self.input[self.pos..];
        match memchr::memchr(b'\n', rest) {
            Some(n) if n < MAX_LINE || discarding => {
                let line = rest[..=n].to_vec();
                self.pos += n + 1;
                Some(Some(line))
            }
            Some(n) => {
                self.pos += n + 1;
                self.too_long();
                Some(None)
            }
            None if rest.len() >= MAX_LINE => {
                self.pos = self.input.len();
                if !discarding {
                    self.too_long();
                    self.state = State::Discarding;
                }
                Some(None)
            }
            None => None,
        }
    }

    fn too_long(&mut self) {
        self.reply(Reply::line_too_long(MAX_LINE));
        self.error_counted();
    }

    fn error_counted(&mut self) {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.reply(Reply::too_many_errors());
            self.close();
        }
    }

    fn refuse(&mut self, r: Reply) {
        self.reply(r);
        self.error_counted();
    }

    fn command(&mut self, line: &[u8]) {
        let req = match Request::parse(&mut line.iter()) {
            Ok(r) => r,
            Err(e) => return self.refuse(parse_error(e)),
        };
        match req {
            Request::Ehlo { host } => {
                self.greeted = true;
                self.reset_transaction();
                let r = self.capabilities(&host);
                self.reply(r);
            }
            Request::Helo { host } => {
                self.greeted = true;
                self.reset_transaction();
                let text = format!("{} greets {host}", self.settings.host);
                self.reply(Reply::new(250, None, text));
            }
            Request::Lhlo { .. } => self.refuse(Reply::unknown_command()),
            Request::StartTls => {
                if self.tls {
                    self.refuse(Reply::bad_sequence("TLS is already active"));
                } else if !self.settings.tls_available {
                    self.reply(Reply::tls_unavailable());
                } else {
                    self.reply(Reply::ready_for_tls());
                    self.out.push_back(Action::StartTls);
                    self.state = State::Waiting;
                }
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response),
            Request::Mail { from } => self.mail(&from.address, from.size),
            Request::Rcpt { to } => self.rcpt(&to.address),
            Request::Data => self.data(),
            Request::Bdat { .. } => self.refuse(Reply::not_implemented("BDAT")),
            Request::Rset => {
                self.reset_transaction();
                self.reply(Reply::ok("reset"));
            }
            Request::Noop { .. } => self.reply(Reply::ok("ok")),
            Request::Vrfy { .. } => self.reply(Reply::new(
                252,
                EnhancedCode(2, 5, 0),
                "cannot verify the address; send and the outcome is in the events",
            )),
            Request::Help { .. } => self.reply(Reply::new(
                214,
                EnhancedCode(2, 0, 0),
                "envoi submission: EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, RSET, NOOP, QUIT",
            )),
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                let name = req.name();
                self.refuse(Reply::not_implemented(name))
            }
            Request::Quit => {
                self.reply(Reply::bye());
                self.close();
            }
        }
    }

    fn capabilities(&self, client: &str) -> Reply {
        let s = &self.settings;
        let mut lines = vec![
            format!("{} greets {client}", s.host),
            "PIPELINING".to_string(),
            format!("SIZE {}", s.max_message_size),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "SMTPUTF8".to_string(),
        ];
        if s.tls_available && !self.tls {
            lines.push("STARTTLS".to_string());
        }
        if self.tls || s.auth_without_tls {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        Reply {
            code: 250,
            enhanced: None,
            lines,
        }
    }

    /// How this client could authenticate now.
    fn auth_how(&self) -> AuthHow {
        if self.tls || self.settings.auth_without_tls {
            AuthHow::Auth
        } else if self.settings.tls_available {
            AuthHow::StartTlsFirst
        } else {
            AuthHow::NotHere
        }
    }

    fn auth(&mut self, mechanism: u64, initial: &str) {
        if !self.greeted {
            return self.refuse(Reply::bad_sequence("send EHLO first"));
        }
        if self.authority.credential_domain.is_some() {
            return self.refuse(Reply::bad_sequence("already authenticated"));
        }
        if self.mail_from.is_some() {
            return self.refuse(Reply::bad_sequence(
                "AUTH is not allowed during a mail transaction",
            ));
        }
        if !self.tls && !self.settings.auth_without_tls {
            return self.refuse(Reply::encryption_required(self.settings.tls_available));
        }
        let initial = initial.trim();
        match mechanism {
            AUTH_PLAIN if initial.is_empty() => {
                self.reply(Reply::challenge(""));
                self.state = State::AuthPlain;
            }
            AUTH_PLAIN => self.auth_plain(initial.as_bytes()),
            AUTH_LOGIN if initial.is_empty() => {
                self.reply(Reply::challenge("VXNlcm5hbWU6"));
                self.state = State::AuthLoginUser;
            }
            AUTH_LOGIN => match decode(initial.as_bytes()) {
                Some(user) => {
                    self.reply(Reply::challenge("UGFzc3dvcmQ6"));
                    self.state = State::AuthLoginPass { user };
                }
                None => self.auth_garbled(initial.as_bytes()),
            },
            _ => self.refuse(Reply::unsupported_mechanism()),
        }
    }

    /// `authzid NUL authcid NUL password` (RFC 4616).
    fn auth_plain(&mut self, line: &[u8]) {
        let Some(text) = decode(line) else {
            return self.auth_garbled(line);
        };
        let mut parts = text.split('\0');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(_), Some(login), Some(password), None) => {
                self.authenticate(login.to_string(), password.to_string())
            }
            _ => self.refuse(Reply::syntax(
                "AUTH PLAIN expects base64 of \"\\0login\\0password\"",
            )),
        }
    }

    fn auth_garbled(&mut self, line: &[u8]) {
        if trim_crlf(line) == b"*" {
            self.reply(Reply::auth_cancelled());
        } else {
            self.refuse(Reply::syntax(
                "AUTH data is not valid base64: send the login and password base64-encoded, or * to cancel",
            ));
        }
    }

    fn authenticate(&mut self, login: String, password: String) {
        self.auth_login.clone_from(&login);
        self.out.push_back(Action::Authenticate { login, password });
        self.state = State::Waiting;
    }

    fn mail(&mut self, address: &str, size: usize) {
        if !self.greeted {
            return self.refuse(Reply::bad_sequence("send EHLO first"));
        }
        if self.mail_from.is_some() {
            return self.refuse(Reply::bad_sequence("nested MAIL command: RSET first"));
        }
        let checked = match &self.settings.inbound {
            Some(bounce_domain) => Ok(bounce_domain.clone()),
            // A submitted sender is a real mailbox: no control characters,
            // no null sender.
            None if !crate::net::mailbox::valid(address) => {
                return self.refuse(Reply::bad_sender(format!(
                    "{address:?} is not a valid sender address: use MAIL FROM:<name@your-domain>"
                )))
            }
            None => self.authority.may_send_as(address),
        };
        let domain = match checked {
            Ok(d) => d,
            Err(Refusal::AuthRequired) => return self.reply(Reply::auth_required(self.auth_how())),
            Err(Refusal::NotYourDomain { sender, allowed }) => {
                return self.reply(Reply::not_your_domain(&sender, &allowed))
            }
        };
        if size > self.settings.max_message_size {
            return self.reply(Reply::too_large(self.settings.max_message_size));
        }
        self.mail_from = Some((address.to_string(), domain));
        self.reply(Reply::ok("sender ok"));
    }

    fn rcpt(&mut self, address: &str) {
        if self.mail_from.is_none() {
            return self.refuse(Reply::bad_sequence("send MAIL FROM first"));
        }
        if !crate::net::mailbox::valid(address) {
            return self.refuse(Reply::bad_recipient(format!(
                "{address:?} is not a valid address: use RCPT TO:<name@example.com>"
            )));
        }
        if let Some(bounce_domain) = &self.settings.inbound {
            let ours = address.rsplit_once('@').is_some_and(|(local, d)| {
                d.eq_ignore_ascii_case(bounce_domain)
                    || crate::net::verp::may_be_own_return_path(local, d)
            });
            if !ours {
                let r = Reply::relay_denied(bounce_domain);
                return self.reply(r);
            }
        }
        if self.rcpts.iter().any(|r| r.eq_ignore_ascii_case(address)) {
            return self.reply(Reply::ok("recipient ok (duplicate)"));
        }
        if self.rcpts.len() >= self.settings.max_recipients {
            return self.reply(Reply::too_many_recipients(self.settings.max_recipients));
        }
        self.rcpts.push(address.to_string());
        self.reply(Reply::new(250, EnhancedCode(2, 1, 5), "recipient ok"));
    }

    fn data(&mut self) {
        if self.mail_from.is_none() {
            return self.refuse(Reply::bad_sequence("send MAIL FROM first"));
        }
        if self.rcpts.is_empty() {
            return self.reply(Reply::no_valid_recipients());
        }
        let mut receiver = DataReceiver::new();
        let mut buf = Vec::new();
        // Primed with a line end so a "." on the very first line ends the data.
        receiver.ingest(&mut b"\r\n".iter(), &mut buf);
        self.reply(Reply::start_data());
        self.state = State::Data {
            receiver,
            buf,
            too_large: false,
            last: b'\n',
        };
    }

    fn step_data(&mut self) -> bool {
        let max = self.settings.max_message_size;
        let State::Data {
            receiver,
            buf,
            too_large,
            last,
        } = &mut self.state
        else {
            return false;
        };
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return false;
        }
        let mut it = rest.iter();
        let done = receiver.ingest(&mut it, buf);
        let consumed = rest.len() - it.as_slice().len();
        let bare_lf = has_bare_lf(&rest[..consumed], *last);
        if let Some(&b) = rest[..consumed].last() {
            *last = b;
        }
        self.pos += consumed;
        if bare_lf {
            // Ambiguous line ends are how SMTP smuggling works: refuse.
            self.reset_transaction();
            self.reply(Reply::bare_lf());
            self.close();
            return true;
        }
        if buf.len() > max + 2 {
            *too_large = true;
            buf.clear();
        }
        if !done {
            return true;
        }
        let too_large = *too_large;
        let mut data = std::mem::take(buf);
        if too_large {
            self.reset_transaction();
            self.state = State::Command;
            self.reply(Reply::too_large(max));
            return true;
        }
        data.drain(..2.min(data.len()));
        let (mail_from, domain) = self.mail_from.take().unwrap_or_default();
        self.out.push_back(Action::Submit(Envelope {
            authority: self.authority.clone(),
            domain,
            mail_from,
            rcpt_to: std::mem::take(&mut self.rcpts),
            data,
        }));
        self.state = State::Waiting;
        true
    }
}

fn has_bare_lf(bytes: &[u8], before: u8) -> bool {
    memchr::memchr_iter(b'\n', bytes).any(|i| {
        let prev = if i == 0 { before } else { bytes[i - 1] };
        prev != b'\r'
    })
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn decode(line: &[u8]) -> Option<String> {
    let text = trim_crlf(line);
    let text = if text == b"=" { &b""[..] } else { text };
    base64::engine::general_purpose::STANDARD
        .decode(text.trim_ascii())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

fn parse_error(e: ProtoError) -> Reply {
    match e {
        ProtoError::UnknownCommand => Reply::unknown_command(),
        ProtoError::InvalidSenderAddress => {
            Reply::bad_sender("bad sender address: use MAIL FROM:<name@example.com>")
        }
        ProtoError::InvalidRecipientAddress => {
            Reply::bad_recipient("bad recipient address: use RCPT TO:<name@example.com>")
        }
        ProtoError::SyntaxError { syntax } => Reply::syntax(format!("syntax: {syntax}")),
        ProtoError::InvalidParameter { param } => {
            Reply::bad_param(format!("invalid parameter {param}"))
        }
        ProtoError::UnsupportedParameter { param } => {
            Reply::bad_param(format!("unsupported parameter {param}"))
        }
        ProtoError::ResponseTooLong => Reply::line_too_long(MAX_LINE),
        _ => Reply::syntax("syntax error: see HELP for the commands and RFC 5321 for their form"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            inbound: None,
            host: "mx.test".into(),
            max_message_size: 1000,
            max_recipients: 3,
            tls_available: false,
            auth_without_tls: true,
        }
    }

    /// Feeds `input`, answers effects (password "pw" is right, every message
    /// stores) and returns what went on the wire and what was submitted.
    fn drive(m: &mut Machine, input: &[u8]) -> (String, Vec<Envelope>) {
        m.feed(input);
        let mut wire = Vec::new();
        let mut submitted = Vec::new();
        while let Some(a) = m.next_action() {
            match a {
                Action::Reply(r) => r.write_to(&mut wire),
                Action::Authenticate { password, .. } => m.auth_done(if password == "pw" {
                    AuthOutcome::Ok {
                        domain: "shop.test".into(),
                    }
                } else {
                    AuthOutcome::Failed
                }),
                Action::Submit(e) => {
                    submitted.push(e);
                    m.submitted(Reply::queued("id"));
                }
                Action::StartTls => m.tls_started(),
                Action::Close => wire.extend_from_slice(b"<close>"),
            }
        }
        (String::from_utf8(wire).unwrap(), submitted)
    }

    fn plain(login: &str, pw: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("\0{login}\0{pw}"))
    }

    fn authed() -> Machine {
        let mut m = Machine::new(settings(), vec![]);
        let (wire, _) = drive(
            &mut m,
            format!("EHLO c\r\nAUTH PLAIN {}\r\n", plain("u@shop.test", "pw")).as_bytes(),
        );
        assert!(wire.contains("235 2.7.0"), "{wire}");
        m
    }

    #[test]
    fn no_mail_without_auth() {
        let mut m = Machine::new(settings(), vec![]);
        let (wire, _) = drive(&mut m, b"EHLO c\r\nMAIL FROM:<a@shop.test>\r\n");
        assert!(wire.ends_with("530 5.7.0 authentication required: AUTH as login@domain with the domain's SMTP credentials (no relaying without it)\r\n"), "{wire}");
    }

    #[test]
    fn a_pipelined_transaction_is_submitted_once() {
        let mut m = authed();
        let (wire, sent) = drive(
            &mut m,
            b"MAIL FROM:<a@shop.test>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\nFrom: a@shop.test\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].data, b"From: a@shop.test\r\n\r\n.dot\r\n");
        assert_eq!(sent[0].rcpt_to, ["b@dest.test"]);
        assert!(wire.contains("354 "), "{wire}");
        assert!(wire.contains("250 2.0.0 OK: queued as <id>"), "{wire}");
        assert!(wire.ends_with("221 2.0.0 bye\r\n<close>"), "{wire}");
    }

    #[test]
    fn another_domains_sender_is_refused() {
        let mut m = authed();
        let (wire, _) = drive(&mut m, b"MAIL FROM:<a@other.test>\r\n");
        assert!(wire.starts_with("550 5.7.1"), "{wire}");
    }

    #[test]
    fn a_sender_with_control_characters_is_refused() {
        let mut m = authed();
        let (wire, _) = drive(&mut m, b"MAIL FROM:<a\x01b@shop.test>\r\n");
        assert!(wire.starts_with("501 5.1.7"), "{wire}");
    }

    #[test]
    fn data_split_anywhere_ends_at_the_dot() {
        let mut m = authed();
        drive(
            &mut m,
            b"MAIL FROM:<a@shop.test>\r\nRCPT TO:<b@d.test>\r\nDATA\r\n",
        );
        let msg = b"Subject: x\r\n\r\nbody\r\n.\r\n";
        let mut sent = Vec::new();
        for b in msg.chunks(1) {
            sent.extend(drive(&mut m, b).1);
        }
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].data, b"Subject: x\r\n\r\nbody\r\n");
    }

    #[test]
    fn limits_answer_with_their_codes() {
        let mut m = authed();
        let (wire, _) = drive(
            &mut m,
            b"MAIL FROM:<a@shop.test> SIZE=5000\r\nMAIL FROM:<a@shop.test>\r\nRCPT TO:<1@d.test>\r\nRCPT TO:<2@d.test>\r\nRCPT TO:<3@d.test>\r\nRCPT TO:<4@d.test>\r\n",
        );
        assert!(wire.starts_with("552 5.3.4"), "{wire}");
        assert!(
            wire.ends_with(&format!("{}\r\n", Reply::too_many_recipients(3).lines[0])),
            "{wire}"
        );
        assert!(wire.contains("452 4.5.3"), "{wire}");
        let (wire, sent) = drive(
            &mut m,
            format!("DATA\r\n{}\r\n.\r\nNOOP\r\n", "x".repeat(2000)).as_bytes(),
        );
        assert!(sent.is_empty());
        assert!(wire.contains("552 5.3.4"), "{wire}");
        assert!(
            wire.ends_with("250 2.0.0 ok\r\n"),
            "the session goes on: {wire}"
        );
    }

    #[test]
    fn a_long_line_is_answered_once_and_the_session_goes_on() {
        let mut m = Machine::new(settings(), vec![]);
        let mut input = vec![b'A'; 2 * 1024 * 1024];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let (wire, _) = drive(&mut m, &input);
        assert_eq!(wire.matches("500 5.5.2").count(), 1, "{wire}");
        assert!(wire.ends_with("250 2.0.0 ok\r\n"), "{wire}");
    }

    #[test]
    fn a_bare_lf_in_data_refuses_the_message() {
        let mut m = authed();
        let (wire, sent) = drive(
            &mut m,
            b"MAIL FROM:<a@shop.test>\r\nRCPT TO:<b@d.test>\r\nDATA\r\nSubject: x\n\nhi\n.\n",
        );
        assert!(sent.is_empty());
        assert!(wire.ends_with("<close>"), "{wire}");
        assert!(wire.contains("521 5.5.2"), "{wire}");
    }

    #[test]
    fn garbage_is_answered_then_cut_off() {
        let mut m = Machine::new(settings(), vec![]);
        let input: Vec<u8> = (0..40u8)
            .flat_map(|i| vec![i.wrapping_mul(37), 0xff, b'\n'])
            .collect();
        let (wire, _) = drive(&mut m, &input);
        assert!(wire.contains("421 4.7.0"), "{wire}");
        assert!(wire.ends_with("<close>"), "{wire}");
    }

    #[test]
    fn three_wrong_passwords_end_the_session() {
        let mut m = Machine::new(settings(), vec![]);
        let bad = plain("u@shop.test", "nope");
        let (wire, _) = drive(
            &mut m,
            format!("EHLO c\r\nAUTH PLAIN {bad}\r\nAUTH PLAIN {bad}\r\nAUTH PLAIN {bad}\r\n")
                .as_bytes(),
        );
        assert_eq!(wire.matches("535 5.7.8").count(), 2, "{wire}");
        assert!(wire.ends_with("<close>"), "{wire}");
    }

    #[test]
    fn auth_login_asks_for_user_then_password() {
        let mut m = Machine::new(settings(), vec![]);
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let (wire, _) = drive(
            &mut m,
            format!(
                "EHLO c\r\nAUTH LOGIN\r\n{}\r\n{}\r\n",
                b("u@shop.test"),
                b("pw")
            )
            .as_bytes(),
        );
        assert!(
            wire.contains("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235"),
            "{wire}"
        );
    }

    #[test]
    fn auth_needs_tls_unless_allowed() {
        let mut s = settings();
        s.auth_without_tls = false;
        s.tls_available = true;
        let mut m = Machine::new(s, vec![]);
        let (wire, _) = drive(
            &mut m,
            format!("EHLO c\r\nAUTH PLAIN {}\r\n", plain("u@shop.test", "pw")).as_bytes(),
        );
        assert!(
            !wire.contains("AUTH PLAIN LOGIN"),
            "not offered before TLS: {wire}"
        );
        assert!(wire.contains("STARTTLS"), "{wire}");
        assert!(
            wire.ends_with("538 5.7.11 encryption required: issue STARTTLS before AUTH\r\n"),
            "{wire}"
        );
        drive(&mut m, b"STARTTLS\r\n");
        let (wire, _) = drive(&mut m, b"EHLO c\r\n");
        assert!(wire.contains("AUTH PLAIN LOGIN"), "{wire}");
    }

    #[test]
    fn plaintext_pipelined_after_starttls_is_dropped() {
        let mut s = settings();
        s.tls_available = true;
        let mut m = Machine::new(s, vec![]);
        let (wire, _) = drive(&mut m, b"EHLO c\r\nSTARTTLS\r\nNOOP\r\n");
        assert!(!wire.contains("250 2.0.0 ok"), "{wire}");
    }

    #[test]
    fn without_certificate_and_off_loopback_the_530_and_538_say_how_to_get_auth() {
        let mut s = settings();
        s.auth_without_tls = false;
        s.tls_available = false;
        let mut m = Machine::new(s, vec![]);
        let (wire, _) = drive(&mut m, b"EHLO c\r\nMAIL FROM:<u@shop.test>\r\n");
        assert!(
            wire.contains("530 5.7.0 authentication required, but AUTH needs TLS and this server has no certificate")
                && wire.contains("tls_cert and tls_key"),
            "{wire}"
        );
        let (wire, _) = drive(
            &mut m,
            format!("AUTH PLAIN {}\r\n", plain("u@shop.test", "pw")).as_bytes(),
        );
        assert!(
            wire.starts_with("538 5.7.11 encryption required: AUTH needs TLS and this server has no certificate; connect from the server itself (loopback)"),
            "{wire}"
        );
    }

    #[test]
    fn with_starttls_offered_the_530_says_starttls_then_auth() {
        let mut s = settings();
        s.auth_without_tls = false;
        s.tls_available = true;
        let mut m = Machine::new(s, vec![]);
        let (wire, _) = drive(&mut m, b"EHLO c\r\nMAIL FROM:<u@shop.test>\r\n");
        assert!(
            wire.contains(
                "530 5.7.0 authentication required: issue STARTTLS, then AUTH as login@domain"
            ),
            "{wire}"
        );
    }

    #[test]
    fn a_login_without_a_domain_is_told_to_use_login_at_domain() {
        let mut m = Machine::new(settings(), vec![]);
        drive(&mut m, b"EHLO c\r\n");
        m.feed(format!("AUTH PLAIN {}\r\n", plain("app", "pw")).as_bytes());
        let mut wire = Vec::new();
        while let Some(a) = m.next_action() {
            match a {
                Action::Authenticate { .. } => m.auth_done(AuthOutcome::Failed),
                Action::Reply(r) => r.write_to(&mut wire),
                _ => {}
            }
        }
        let wire = String::from_utf8(wire).unwrap();
        assert!(
            wire.contains("535 5.7.8 authentication failed: log in with the full login, login@domain (\"app\" names no domain)"),
            "{wire}"
        );
    }
}
