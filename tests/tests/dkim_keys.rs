//! DKIM key management over the API, and what receivers then verify:
//! rotation end to end against a real DNS server and an SMTP sink.

use std::time::Duration;

use envoi_tests::dkim::Verifier;
use envoi_tests::dns::TestDns;
use envoi_tests::sink::{Script, Sink};
use envoi_tests::world::Delivering;
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
    world_with("")
}

fn world_with(config: &str) -> World {
    let Delivering { e, sink, dns } = Delivering::start(
        Script::default(),
        "",
        Options {
            extra_config: config.to_string(),
            ..Options::default()
        },
    );
    dns.publish_dkim(&e.create_domain(SENDER));
    World { e, sink, dns }
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

fn key_list(e: &Envoi) -> Vec<Value> {
    let keys = expect_json(
        e.get(&format!("/v4/domains/{SENDER}/keys"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    keys["items"].as_array().unwrap().clone()
}

#[test]
fn automatic_rotation_activates_the_new_key_once_its_record_is_published() {
    let w = world_with("[dkim]\nrotation_check = \"200ms\"\n");
    let v = Verifier::new(w.dns.addr);
    let old = deliver(&w, 1);
    assert_eq!(selectors_of(&v.assert_pass(&old)), ["k1"]);

    let rotate = || {
        w.e.post(
            &format!("/v1/dkim_management/domains/{SENDER}/rotate"),
            ADMIN_KEY,
        )
        .send()
        .unwrap()
    };
    let r = expect_json(rotate(), 200);
    assert_eq!(r["message"], "ok");
    let record = &r["keys"][0]["dns_record"];
    let selector = r["keys"][0]["selector"].as_str().unwrap().to_string();
    assert_eq!(r["keys"][0]["replaces"], "k1");
    assert_eq!(
        record["name"],
        format!("{selector}._domainkey.{SENDER}").as_str()
    );
    // One rotation at a time: the second names the record still to publish.
    expect_error(rotate(), 409, &["already waiting", &selector]);

    // Until the record is in DNS, k1 keeps signing.
    std::thread::sleep(Duration::from_millis(800));
    let meanwhile = deliver(&w, 2);
    assert_eq!(selectors_of(&v.assert_pass(&meanwhile)), ["k1"]);
    let listed = key_list(&w.e);
    let new = listed
        .iter()
        .find(|k| k["selector"] == selector.as_str())
        .unwrap();
    assert_eq!(new["active"], false);
    assert_eq!(new["replaces"], "k1");

    w.dns.txt(
        record["name"].as_str().unwrap(),
        record["value"].as_str().unwrap(),
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let keys = key_list(&w.e);
        let active: Vec<&str> = keys
            .iter()
            .filter(|k| k["active"] == true)
            .map(|k| k["selector"].as_str().unwrap())
            .collect();
        if active == [selector.as_str()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated key was not activated after its record appeared: {keys:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let new_msg = deliver(&w, 3);
    assert_eq!(selectors_of(&v.assert_pass(&new_msg)), [selector.as_str()]);
    // The old key is kept (listed, inactive) and older mail still verifies.
    let listed = key_list(&w.e);
    let k1 = listed.iter().find(|k| k["selector"] == "k1").unwrap();
    assert_eq!(k1["active"], false);
    v.assert_pass(&old);
}

#[test]
fn rotation_schedule_is_mailgun_shaped_and_at_least_five_days() {
    let w = world();
    let path = format!("/v1/dkim_management/domains/{SENDER}/rotation");
    let r =
        w.e.put(&path, ADMIN_KEY)
            .form(&[("rotation_enabled", "true"), ("rotation_interval", "1d")])
            .send()
            .unwrap();
    expect_error(r, 400, &["rotation_interval", "5d"]);
    let r =
        w.e.put(&path, ADMIN_KEY)
            .form(&[("rotation_enabled", "true"), ("rotation_interval", "7d")])
            .send()
            .unwrap();
    let body = expect_json(r, 200);
    let d = &body["domain"];
    assert_eq!(d["name"], SENDER);
    assert_eq!(d["active_selector"], "k1");
    assert_eq!(d["rotation_enabled"], true);
    assert_eq!(d["rotation_interval"], "7d");
    assert_eq!(d["records"][0]["name"], "k1._domainkey.shop.test");
    assert_eq!(d["records"][0]["identifier"], "DKIM");
    let r =
        w.e.put(&path, ADMIN_KEY)
            .form(&[("rotation_enabled", "false")])
            .send()
            .unwrap();
    let body = expect_json(r, 200);
    assert_eq!(body["domain"]["rotation_enabled"], false);
    assert_eq!(body["domain"]["rotation_interval"], "7d");
    let r =
        w.e.put("/v1/dkim_management/domains/nope.test/rotation", ADMIN_KEY)
            .form(&[("rotation_enabled", "true")])
            .send()
            .unwrap();
    expect_error(r, 404, &["nope.test"]);
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
