//! DKIM key management over the API, and what receivers then verify:
//! rotation end to end against a real DNS server and an SMTP sink.

use std::net::Ipv4Addr;
use std::time::Duration;

use envoi_tests::dkim::Verifier;
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::*;
use serde_json::Value;

const SENDER: &str = "shop.test";
const WAIT: Duration = Duration::from_secs(30);

struct World {
    e: Envoi,
    sink: Sink,
    dns: TestDns,
}

fn world() -> World {
    let sink = Sink::start(Script::default());
    let dns = TestDns::start();
    dns.mx("dest.test", 10, "mx.dest.test");
    dns.a("mx.dest.test", Ipv4Addr::LOCALHOST);
    let e = Envoi::start_with(Options {
        extra_config: format!(
            "[delivery]\nport = {}\n{}\nhelo_name = \"envoi.test\"\n",
            sink.addr.port(),
            dns.config_line()
        ),
        ..Options::default()
    });
    let created = e.create_domain(SENDER);
    publish_dkim(&dns, &created["sending_dns_records"]);
    World { e, sink, dns }
}

fn publish_dkim(dns: &TestDns, records: &Value) {
    for rec in records.as_array().into_iter().flatten() {
        let name = rec["name"].as_str().unwrap_or_default();
        if rec["record_type"] == "TXT" && name.contains("._domainkey.") {
            dns.txt(name, rec["value"].as_str().unwrap());
        }
    }
}

fn selectors_of(v: &[(String, String, String)]) -> Vec<String> {
    v.iter().map(|(_, s, _)| s.clone()).collect()
}

fn deliver(w: &World, n: usize) -> Vec<u8> {
    let id = w.e.send(SENDER, "rcpt@dest.test", &[]);
    w.e.wait_event(SENDER, &format!("event=delivered&message-id={id}"), WAIT);
    w.sink.wait_for(n, WAIT)[n - 1].data.clone()
}

fn add_key(e: &Envoi, selector: &str, extra: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut f = vec![("signing_domain", SENDER), ("selector", selector)];
    f.extend_from_slice(extra);
    e.post("/v1/dkim/keys", ADMIN_KEY).form(&f).send().unwrap()
}

#[test]
fn rotation_end_to_end() {
    let w = world();
    let v = Verifier::new(w.dns.addr);
    let old = deliver(&w, 1);
    assert_eq!(selectors_of(&v.assert_pass(&old)), ["k1"]);

    // A new key: returned with its record, inactive until published.
    let created = expect_json(add_key(&w.e, "k2", &[("bits", "1024")]), 200);
    assert_eq!(created["dns_record"]["name"], "k2._domainkey.shop.test");
    let refused =
        w.e.put(&format!("/v4/domains/{SENDER}/keys/k2/activate"), ADMIN_KEY)
            .send()
            .unwrap();
    expect_error(refused, 400, &["not published", "k2._domainkey.shop.test"]);

    w.dns.txt(
        created["dns_record"]["name"].as_str().unwrap(),
        created["dns_record"]["value"].as_str().unwrap(),
    );
    let ok =
        w.e.put(&format!("/v4/domains/{SENDER}/keys/k2/activate"), ADMIN_KEY)
            .send()
            .unwrap();
    assert_eq!(expect_json(ok, 200)["active"], true);
    let off =
        w.e.put(
            &format!("/v4/domains/{SENDER}/keys/k1/deactivate"),
            ADMIN_KEY,
        )
        .send()
        .unwrap();
    assert_eq!(expect_json(off, 200)["active"], false);

    let new = deliver(&w, 2);
    assert_eq!(selectors_of(&v.assert_pass(&new)), ["k2"]);
    // The old key is still listed, and older messages still verify.
    let keys = expect_json(
        w.e.get(&format!("/v4/domains/{SENDER}/keys"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    let listed: Vec<&str> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["selector"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["k1", "k2"]);
    assert!(
        keys.to_string().find("PRIVATE").is_none(),
        "private keys are never returned"
    );
    v.assert_pass(&old);
}

#[test]
fn rsa_and_ed25519_keys_both_sign() {
    let w = world();
    let created = expect_json(add_key(&w.e, "ed1", &[("algorithm", "ed25519")]), 200);
    let r =
        w.e.put(
            &format!("/v4/domains/{SENDER}/keys/ed1/activate"),
            ADMIN_KEY,
        )
        .form(&[("force", "true")])
        .send()
        .unwrap();
    expect_json(r, 200);
    w.dns.txt(
        created["dns_record"]["name"].as_str().unwrap(),
        created["dns_record"]["value"].as_str().unwrap(),
    );
    let msg = deliver(&w, 1);
    let verdicts = Verifier::new(w.dns.addr).assert_pass(&msg);
    assert_eq!(
        selectors_of(&verdicts),
        ["k1", "ed1"],
        "RSA first, then Ed25519"
    );
}

#[test]
fn key_management_errors_are_clear() {
    let w = world();
    // A 512-bit import is refused with the reason.
    // A real 512-bit RSA key (openssl genpkey), far too weak for DKIM.
    let weak = "-----BEGIN PRIVATE KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASCAUEwggE9AgEAAkEAr70PEMBWylvbvI+5\nLIQWCHf86saCf1sKZcuP7NRtDyolC5rt9nZijyHb4Su6aeBZEjBu+6HLG1uT/nRw\nfmEzmwIDAQABAkEAo/gmgl6znAOxNnJzOBHV7PjnRrcJM4LiZLBWDYb2ato/+Eyk\nhG9WlqXSdjR6Ju7pJvpbFLyR1w8wWvYvHZJ8oQIhANaat0GecuAtjwyXoADSE2zA\nC+BjmQV7W0SahodBs7HVAiEA0aMgI/l7UOvP5TmKc2UnxW2b1PtxBft/mdGF3+kO\nl68CIQDMkwwip3MGtSdqb5f9cEVIJAKuUwNqMF+elFet1DoCSQIhANEEQyR7N7+8\nDmFvWKKrhdbr7UaSmOMtGdGEvWU92qXTAiEAmWhF2M/3YKMBXpscubEjauiL8Qjr\nqUvZvblfVrYgvnA=\n-----END PRIVATE KEY-----\n";
    let r = add_key(&w.e, "weak", &[("pem", weak)]);
    expect_error(r, 400, &["512", "1024"]);
    expect_error(
        add_key(&w.e, "x", &[("algorithm", "dsa")]),
        400,
        &["dsa", "ed25519"],
    );
    expect_error(add_key(&w.e, "bad sel", &[]), 400, &["selector"]);
    expect_error(add_key(&w.e, "k1", &[]), 409, &["k1"]);
    // The last active key cannot be deleted or switched off.
    let r =
        w.e.delete(
            &format!("/v1/dkim/keys?signing_domain={SENDER}&selector=k1"),
            ADMIN_KEY,
        )
        .send()
        .unwrap();
    expect_error(r, 400, &["at least one active"]);
    let r =
        w.e.put(
            &format!("/v4/domains/{SENDER}/keys/k1/deactivate"),
            ADMIN_KEY,
        )
        .send()
        .unwrap();
    expect_error(r, 400, &["at least one active"]);
    let r =
        w.e.delete(
            &format!("/v1/dkim/keys?signing_domain={SENDER}&selector=nope"),
            ADMIN_KEY,
        )
        .send()
        .unwrap();
    expect_error(r, 404, &["not found"]);
}

#[test]
fn verify_checks_spf_dkim_and_dmarc_in_dns() {
    let w = world();
    let verify = || {
        expect_json(
            w.e.put(&format!("/v4/domains/{SENDER}/verify"), ADMIN_KEY)
                .send()
                .unwrap(),
            200,
        )
    };
    let find = |v: &Value, prefix: &str| -> Value {
        v["sending_dns_records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"].as_str().unwrap().starts_with(prefix))
            .unwrap()
            .clone()
    };
    // DKIM is published (by world()), SPF is not yet.
    let v = verify();
    assert_eq!(v["domain"]["state"], "unverified");
    assert_eq!(find(&v, SENDER)["valid"], "invalid");
    assert_eq!(find(&v, "k1._domainkey")["valid"], "valid");
    assert_eq!(find(&v, "_dmarc")["valid"], "invalid");

    w.dns.txt(SENDER, "v=spf1 a:envoi.test ~all");
    let v = verify();
    assert_eq!(find(&v, SENDER)["valid"], "valid");
    assert_eq!(find(&v, SENDER)["cached"][0], "v=spf1 a:envoi.test ~all");
    assert_eq!(
        v["domain"]["state"], "active",
        "SPF and DKIM hold; DMARC is advised only"
    );
}
