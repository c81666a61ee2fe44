//! The TLS client for delivery: rustls (TLS 1.2 minimum), the platform roots
//! plus `[delivery].extra_ca_file`, host names checked against the MX name.
//!
//! The verifier records whether the certificate was valid and, when the
//! policy allows an unverified session (`skip_verification`), lets the
//! handshake go on anyway, so one connection tells both what the MX offered
//! and what we did with it. The decision itself is `policy::tls::decide`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

pub struct TlsClient {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
}

/// What the certificate check found: `None` until the handshake got there.
#[derive(Debug, Default)]
pub struct Observation {
    pub verdict: Mutex<Option<Result<(), String>>>,
}

impl Observation {
    pub fn cert_valid(&self) -> Option<bool> {
        self.verdict.lock().unwrap().as_ref().map(|r| r.is_ok())
    }

    pub fn cert_error(&self) -> Option<String> {
        self.verdict.lock().unwrap().clone().and_then(|r| r.err())
    }
}

impl TlsClient {
    pub fn new(extra_ca_file: Option<&Path>) -> Result<TlsClient, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = extra_ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read [delivery].extra_ca_file {}: {e}",
                    path.display()
                )
            })?;
            let mut n = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!(
                    "[delivery].extra_ca_file {} holds no PEM certificate",
                    path.display()
                ));
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("TLS verifier: {e}"))?;
        Ok(TlsClient { provider, verifier })
    }

    /// A client configuration that verifies certificates against the same
    /// roots, for HTTPS calls (webhooks).
    pub fn https_config(&self) -> ClientConfig {
        ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("TLS 1.2 and 1.3 are supported")
            .with_webpki_verifier(self.verifier.clone())
            .with_no_client_auth()
    }

    /// A connector for one session. With `accept_invalid`, a certificate that
    /// fails verification still completes the handshake (and is recorded).
    pub fn connector(
        &self,
        accept_invalid: bool,
    ) -> (tokio_rustls::TlsConnector, Arc<Observation>) {
        let seen = Arc::new(Observation::default());
        let verifier = Arc::new(Observing {
            inner: self.verifier.clone(),
            accept_invalid,
            seen: seen.clone(),
        });
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("TLS 1.2 and 1.3 are supported")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        (tokio_rustls::TlsConnector::from(Arc::new(config)), seen)
    }
}

#[derive(Debug)]
struct Observing {
    inner: Arc<WebPkiServerVerifier>,
    accept_invalid: bool,
    seen: Arc<Observation>,
}

impl ServerCertVerifier for Observing {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        *self.seen.verdict.lock().unwrap() =
            Some(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        match r {
            Ok(v) => Ok(v),
            Err(_) if self.accept_invalid => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
