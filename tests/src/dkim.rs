//! An independent DKIM verifier (the `mail-auth` crate) that looks keys up in
//! a [`TestDns`](crate::dns::TestDns) on loopback.

use std::net::SocketAddr;

use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator};

pub struct Verifier {
    auth: MessageAuthenticator,
    rt: tokio::runtime::Runtime,
}

/// What the verifier said about each signature: (`d=`, `s=`, result).
pub type Verdicts = Vec<(String, String, String)>;

impl Verifier {
    pub fn new(dns: SocketAddr) -> Verifier {
        let mut udp = ConnectionConfig::udp();
        udp.port = dns.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = dns.port();
        let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
            dns.ip(),
            true,
            vec![udp, tcp],
        )]);
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let auth = rt.block_on(async { MessageAuthenticator::new(config, opts).unwrap() });
        Verifier { auth, rt }
    }

    /// Verifies every DKIM signature of `message`.
    pub fn verify(&self, message: &[u8]) -> Verdicts {
        let msg = AuthenticatedMessage::parse(message).expect("message parses");
        self.rt.block_on(async {
            self.auth
                .verify_dkim(&msg)
                .await
                .iter()
                .map(|o| {
                    let (d, s) = o
                        .signature()
                        .map(|s| (s.d.clone(), s.s.clone()))
                        .unwrap_or_default();
                    (d, s, result_name(o.result()))
                })
                .collect()
        })
    }

    /// Panics unless the message has at least one signature and all pass.
    pub fn assert_pass(&self, message: &[u8]) -> Verdicts {
        let v = self.verify(message);
        assert!(
            !v.is_empty() && v.iter().all(|(_, _, r)| r == "pass"),
            "DKIM verification: {v:?}\n--- message ---\n{}",
            String::from_utf8_lossy(&message[..message.len().min(3000)])
        );
        v
    }
}

/// What a receiver's DMARC check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dmarc {
    /// The SPF result for the MAIL FROM identity.
    pub spf: String,
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    pub pass: bool,
}

impl Verifier {
    /// SPF (for `mail_from`, sent from `ip` after EHLO `helo`), DKIM and
    /// DMARC of `message`, as a receiver evaluates them.
    pub fn dmarc(
        &self,
        message: &[u8],
        ip: std::net::IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> Dmarc {
        let msg = AuthenticatedMessage::parse(message).expect("message parses");
        self.rt.block_on(async {
            let dkim = self.auth.verify_dkim(&msg).await;
            let spf = self
                .auth
                .verify_spf(SpfParameters::verify_mail_from(
                    ip,
                    helo,
                    "receiver.test",
                    mail_from,
                ))
                .await;
            let from_domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
            let dmarc = self
                .auth
                .verify_dmarc(DmarcParameters::new(&msg, &dkim, from_domain, &spf))
                .await;
            Dmarc {
                spf: format!("{:?}", spf.result()),
                dkim_aligned: matches!(dmarc.dkim_result(), DmarcResult::Pass),
                spf_aligned: matches!(dmarc.spf_result(), DmarcResult::Pass),
                pass: matches!(dmarc.result(), DmarcResult::Pass),
            }
        })
    }
}

fn result_name(r: &DkimResult) -> String {
    match r {
        DkimResult::Pass => "pass".into(),
        other => format!("{other:?}"),
    }
}
