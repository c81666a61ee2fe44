//! A test CA (rcgen) and the server certificates the TLS table needs: good,
//! expired, self-signed, issued for another host.

use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Issued by the test CA for the MX host name, in date.
    Good,
    /// Issued by the test CA for the MX host name, expired last year.
    Expired,
    /// Signed by its own key.
    SelfSigned,
    /// Issued by the test CA, but for another name.
    WrongHost,
}

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

pub struct ServerCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The same, as PEM (for servers configured with files).
    pub cert_pem: String,
    pub key_pem: String,
}

impl ServerCert {
    /// Writes `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write_pem(&self, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, &self.cert_pem).unwrap();
        std::fs::write(&k, &self.key_pem).unwrap();
        (c, k)
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "envoi test CA");
        let key = KeyPair::generate().unwrap();
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// The CA certificate, for `[delivery].extra_ca_file`.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn server_cert(&self, kind: CertKind, host: &str) -> ServerCert {
        let name = match kind {
            CertKind::WrongHost => format!("not-{host}"),
            _ => host.to_string(),
        };
        let mut params = CertificateParams::new(vec![name]).unwrap();
        if kind == CertKind::Expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = match kind {
            CertKind::SelfSigned => params.self_signed(&key).unwrap(),
            _ => params.signed_by(&key, &self.issuer).unwrap(),
        };
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
