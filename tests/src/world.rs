//! The usual delivery setup: a recipient domain `dest.test` whose MX
//! (`mx.dest.test`, 127.0.0.1) is a sink, served by a real DNS server, and
//! an envoi that resolves through it and delivers there.

use std::net::Ipv4Addr;

use crate::dns::TestDns;
use crate::sink::{Script, Sink};
use crate::{Envoi, Options};

pub struct Delivering {
    pub e: Envoi,
    pub sink: Sink,
    pub dns: TestDns,
}

impl Delivering {
    /// `delivery`: more `[delivery]` keys; `opts.extra_config` goes after
    /// that table.
    pub fn start(script: Script, delivery: &str, mut opts: Options) -> Delivering {
        let sink = Sink::start(script);
        let dns = TestDns::start();
        dns.mx("dest.test", 10, "mx.dest.test");
        dns.a("mx.dest.test", Ipv4Addr::LOCALHOST);
        opts.extra_config = format!(
            "[delivery]\nport = {}\n{}\nhelo_name = \"envoi.test\"\n{delivery}\n{}",
            sink.addr.port(),
            dns.config_line(),
            opts.extra_config
        );
        let e = Envoi::start_with(opts);
        Delivering { e, sink, dns }
    }
}

/// `Delivering` whose SMTP submission offers STARTTLS with a certificate
/// for "localhost" from a test CA, and AUTH only after it (production's
/// setup); `smtp_extra` adds `[smtp]` keys.
pub struct Submitting {
    pub w: Delivering,
    pub ca: crate::ca::TestCa,
}

impl Submitting {
    pub fn start(smtp_extra: &str, mut opts: Options) -> Submitting {
        let ca = crate::ca::TestCa::new();
        let dir = crate::temp_dir("smtp-cert");
        let (cert, key) = ca
            .server_cert(crate::ca::CertKind::Good, "localhost")
            .write_pem(&dir);
        opts.smtp_extra = format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n{smtp_extra}\n{}",
            cert.display(),
            key.display(),
            opts.smtp_extra
        );
        let w = Delivering::start(Script::default(), "", opts);
        Submitting { w, ca }
    }

    /// A new credential `app@domain` and a session logged in with it over
    /// STARTTLS.
    pub fn session(&self, domain: &str) -> crate::smtp_client::RawSmtp {
        self.w.e.create_credential(domain, "app", "pass-word-1");
        self.login(domain)
    }

    /// Another session for the credential `session` created.
    pub fn login(&self, domain: &str) -> crate::smtp_client::RawSmtp {
        crate::smtp_client::RawSmtp::login_tls(
            self.w.e.smtp_port,
            &self.ca.pem(),
            &format!("app@{domain}"),
            "pass-word-1",
        )
    }
}
