//! envoi's DKIM signatures, checked by an independent verifier (mail-auth)
//! that fetches the public keys from a real DNS server on loopback.

use std::sync::OnceLock;

use envoi_tests::dkim::Verifier;
use envoi_tests::dns::TestDns;
use signer::{
    dns::{dkim_record_name, dkim_txt_value},
    sign, Canon, Canonicalization, DkimKey, KeySpec, PrivateKey, SignOptions, SigningPath,
};

const DOMAIN: &str = "signed.test";

struct Fixture {
    dns: TestDns,
    keys: Vec<(&'static str, PrivateKey)>,
}

/// One DNS server and one key of each kind, published, for all tests.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dns = TestDns::start();
        let keys = vec![
            (
                "rsa1024",
                PrivateKey::generate(KeySpec::Rsa { bits: 1024 }).unwrap(),
            ),
            (
                "rsa2048",
                PrivateKey::generate(KeySpec::Rsa { bits: 2048 }).unwrap(),
            ),
            (
                "rsa4096",
                PrivateKey::generate(KeySpec::Rsa { bits: 4096 }).unwrap(),
            ),
            ("ed", PrivateKey::generate(KeySpec::Ed25519).unwrap()),
        ];
        for (sel, key) in &keys {
            dns.txt(&dkim_record_name(sel, DOMAIN), &dkim_txt_value(key));
        }
        Fixture { dns, keys }
    })
}

fn key(selector: &str) -> DkimKey {
    let (sel, k) = fixture().keys.iter().find(|(s, _)| *s == selector).unwrap();
    DkimKey::new(DOMAIN, sel, k).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn opts(header: Canon, body: Canon) -> SignOptions {
    SignOptions {
        canon: Canonicalization { header, body },
        timestamp: now(),
    }
}

/// What travels on the wire: signature fields, then the message with CRLF
/// line ends (SMTP DATA carries CRLF lines whatever the input had).
fn signed(message: &[u8], keys: &[DkimKey], o: SignOptions) -> Vec<u8> {
    let mut out = sign(message, keys, o).unwrap();
    out.extend_from_slice(message);
    to_crlf(&out)
}

fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let base = "From: Shop <shop@signed.test>\r\nTo: alice@example.org\r\nSubject: Receipt\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <c1@signed.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n";
    let big: String = {
        use base64::Engine;
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        b64.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    vec![
        ("plain", format!("{base}\r\nThanks for your order.\r\n").into_bytes()),
        (
            "folded and long headers",
            format!(
                "From: Shop <shop@signed.test>\r\nTo: alice@example.org,\r\n  bob@example.org,\r\n\tcarol@example.org\r\nSubject: {}\r\n continued here\r\nMessage-ID: <c2@signed.test>\r\n\r\nbody\r\n",
                "a long subject word ".repeat(40)
            )
            .into_bytes(),
        ),
        (
            "trailing whitespace and runs of spaces",
            b"From: shop@signed.test  \r\nSubject:   lots   of   space \t \r\nTo: a@example.org\r\n\r\nline with trailing   \r\n\tindented\t\tline\r\n\r\n\r\n\r\n".to_vec(),
        ),
        ("empty body", format!("{base}\r\n").into_bytes()),
        ("no header/body separator", base.as_bytes().to_vec()),
        (
            "body without final CRLF",
            format!("{base}\r\nlast line has no end").into_bytes(),
        ),
        (
            "8-bit and UTF-8 headers",
            "From: Boutique Élodie <shop@signed.test>\r\nTo: José <jose@example.org>\r\nSubject: Votre reçu ✓ — merci\r\n\r\nCafé crème: 3,50 €\r\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "bare LF input",
            "From: shop@signed.test\nTo: a@example.org\nSubject: lf\n\nline one\nline two\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "large attachment",
            format!("{base}\r\n{big}\r\n").into_bytes(),
        ),
        (
            "duplicate headers",
            "From: shop@signed.test\r\nTo: a@example.org\r\nTo: b@example.org\r\nSubject: one\r\nSubject: two\r\nReceived: x\r\nReceived: y\r\n\r\nbody\r\n"
                .as_bytes()
                .to_vec(),
        ),
    ]
}

fn check_all(selectors: &[&str]) {
    let v = Verifier::new(fixture().dns.addr);
    let keys: Vec<DkimKey> = selectors.iter().map(|s| key(s)).collect();
    for (h, b) in [
        (Canon::Relaxed, Canon::Relaxed),
        (Canon::Simple, Canon::Simple),
        (Canon::Relaxed, Canon::Simple),
    ] {
        for (name, msg) in corpus() {
            let out = signed(&msg, &keys, opts(h, b));
            let verdicts = v.verify(&out);
            assert_eq!(
                verdicts.len(),
                keys.len(),
                "{name} ({h:?}/{b:?}): one verdict per signature: {verdicts:?}"
            );
            assert!(
                verdicts.iter().all(|(_, _, r)| r == "pass"),
                "{name} ({h:?}/{b:?}) with {selectors:?}: {verdicts:?}"
            );
        }
    }
}

#[test]
fn rsa_1024_signatures_verify() {
    assert_eq!(key("rsa1024").path(), SigningPath::RsaCrate);
    check_all(&["rsa1024"]);
}

#[test]
fn rsa_2048_signatures_verify() {
    assert_eq!(key("rsa2048").path(), SigningPath::AwsLc);
    check_all(&["rsa2048"]);
}

#[test]
fn rsa_4096_signatures_verify() {
    check_all(&["rsa4096"]);
}

#[test]
fn ed25519_signatures_verify() {
    check_all(&["ed"]);
}

#[test]
fn dual_signed_rsa_and_ed25519_both_verify() {
    check_all(&["rsa2048", "ed"]);
}

#[test]
fn rsa_crate_path_verifies_for_2048_too() {
    let (_, k) = fixture()
        .keys
        .iter()
        .find(|(s, _)| *s == "rsa2048")
        .unwrap();
    let legacy = DkimKey::with_path(DOMAIN, "rsa2048", k, Some(SigningPath::RsaCrate)).unwrap();
    let v = Verifier::new(fixture().dns.addr);
    let out = signed(
        &corpus()[0].1,
        &[legacy],
        opts(Canon::Relaxed, Canon::Relaxed),
    );
    v.assert_pass(&out);
}

fn tamper(out: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(out.to_vec()).unwrap();
    assert!(s.contains(from), "{from:?} not in message");
    s.replacen(from, to, 1).into_bytes()
}

#[test]
fn tampered_body_fails_verification() {
    let v = Verifier::new(fixture().dns.addr);
    let out = signed(
        &corpus()[0].1,
        &[key("rsa2048"), key("ed")],
        opts(Canon::Relaxed, Canon::Relaxed),
    );
    v.assert_pass(&out);
    let bad = tamper(&out, "Thanks for your order.", "Thanks for your ORDER.");
    let verdicts = v.verify(&bad);
    assert!(verdicts.iter().all(|(_, _, r)| r != "pass"), "{verdicts:?}");
}

#[test]
fn tampered_header_fails_verification() {
    let v = Verifier::new(fixture().dns.addr);
    let out = signed(
        &corpus()[0].1,
        &[key("rsa2048")],
        opts(Canon::Relaxed, Canon::Relaxed),
    );
    let bad = tamper(&out, "Subject: Receipt", "Subject: Invoice");
    assert!(v.verify(&bad).iter().all(|(_, _, r)| r != "pass"));
}

#[test]
fn an_added_from_header_fails_verification() {
    let v = Verifier::new(fixture().dns.addr);
    let out = signed(
        &corpus()[0].1,
        &[key("ed")],
        opts(Canon::Relaxed, Canon::Relaxed),
    );
    let bad = tamper(
        &out,
        "From: Shop <shop@signed.test>\r\n",
        "From: Shop <shop@signed.test>\r\nFrom: evil@attacker.test\r\n",
    );
    assert!(v.verify(&bad).iter().all(|(_, _, r)| r != "pass"));
}

#[test]
fn signature_fields_never_use_l_and_always_set_t() {
    let out = sign(
        &corpus()[0].1,
        &[key("rsa2048")],
        opts(Canon::Relaxed, Canon::Relaxed),
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let unfolded = text.replace("\r\n\t", " ");
    assert!(unfolded.contains(" t="), "{unfolded}");
    assert!(!unfolded.contains(" l="), "{unfolded}");
    assert!(
        unfolded.contains("h=From:From:To:Subject:Date:Message-ID:MIME-Version:Content-Type;"),
        "{unfolded}"
    );
}

#[test]
fn a_message_without_from_is_refused() {
    let err = sign(
        b"To: a@example.org\r\n\r\nhi\r\n",
        &[key("ed")],
        opts(Canon::Relaxed, Canon::Relaxed),
    )
    .unwrap_err();
    assert!(err.to_string().contains("From"), "{err}");
}

/// dkimpy (Python) as a second independent verifier; `.ci/run` installs it.
fn dkimpy(message: &[u8]) -> Option<(bool, String)> {
    use std::io::Write;
    let script = envoi_tests::workspace_root().join("tests/clients/dkimpy/verify.py");
    let have = std::process::Command::new("python3")
        .args(["-c", "import dkim, dns.resolver, nacl"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !have {
        assert!(
            std::env::var_os("CI").is_none(),
            "dkimpy is not installed: pip install dkimpy dnspython pynacl"
        );
        eprintln!("skipping dkimpy: pip install dkimpy dnspython pynacl");
        return None;
    }
    let addr = fixture().dns.addr;
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .args([addr.ip().to_string(), addr.port().to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[test]
fn dkimpy_verifies_every_key_kind_and_rejects_tampering() {
    for sel in ["rsa1024", "rsa2048", "rsa4096", "ed"] {
        for (name, msg) in corpus()
            .into_iter()
            .filter(|(n, _)| *n != "large attachment")
        {
            let out = signed(&msg, &[key(sel)], opts(Canon::Relaxed, Canon::Relaxed));
            let Some((ok, said)) = dkimpy(&out) else {
                return;
            };
            assert!(ok, "dkimpy on {name} with {sel}: {said}");
        }
    }
    let out = signed(
        &corpus()[0].1,
        &[key("rsa2048"), key("ed")],
        opts(Canon::Simple, Canon::Simple),
    );
    let Some((ok, said)) = dkimpy(&out) else {
        return;
    };
    assert!(ok, "dual-signed, simple/simple: {said}");
    let bad = tamper(&out, "Thanks for your order.", "Thanks for your ORDER.");
    let Some((ok, _)) = dkimpy(&bad) else { return };
    assert!(!ok, "dkimpy must fail a tampered body");
}
