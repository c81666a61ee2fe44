//! `/v4/domains` and `/v3/domains/{name}/connection` in Mailgun's shapes.

use envoi_tests::*;

#[test]
fn create_returns_the_domain_and_the_dns_records_to_publish() {
    let e = Envoi::start();
    let r = e
        .post("/v4/domains", ADMIN_KEY)
        .multipart(form_of(vec![
            text_part("name", "Mg.Example.TEST"),
            text_part("dkim_selector", "s1"),
            text_part("require_tls", "true"),
        ]))
        .send()
        .unwrap();
    let v = expect_json(r, 200);
    assert_eq!(v["message"], "Domain DNS records have been created");
    let d = &v["domain"];
    assert_eq!(d["name"], "mg.example.test");
    assert_eq!(d["state"], "unverified");
    assert_eq!(d["require_tls"], true);
    assert_eq!(d["skip_verification"], false);
    assert_eq!(d["smtp_login"], "postmaster@mg.example.test");
    assert!(d["created_at"].as_str().unwrap().ends_with(" UTC"));
    let records = v["sending_dns_records"].as_array().unwrap();
    let find = |name: &str| {
        records
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {records:?}"))
    };
    assert!(find("mg.example.test")["value"]
        .as_str()
        .unwrap()
        .starts_with("v=spf1"));
    let dkim = find("s1._domainkey.mg.example.test");
    assert_eq!(dkim["record_type"], "TXT");
    let value = dkim["value"].as_str().unwrap();
    assert!(value.starts_with("v=DKIM1; k=rsa; p=MII"), "{value}");
    // 2048-bit by default: the base64 SPKI is about 392 characters.
    assert!(value.len() > 380, "{value}");
    assert!(find("_dmarc.mg.example.test")["value"]
        .as_str()
        .unwrap()
        .starts_with("v=DMARC1"));
    assert!(v["receiving_dns_records"].is_array());
}

#[test]
fn key_sizes_and_ed25519_on_request() {
    let e = Envoi::start();
    for (name, fields, prefix, len) in [
        (
            "k1024.test",
            vec![("dkim_key_size", "1024")],
            "v=DKIM1; k=rsa; p=",
            200..260,
        ),
        (
            "k4096.test",
            vec![("dkim_key_size", "4096")],
            "v=DKIM1; k=rsa; p=",
            730..760,
        ),
        (
            "ed.test",
            vec![("dkim_algorithm", "ed25519")],
            "v=DKIM1; k=ed25519; p=",
            60..70,
        ),
    ] {
        let mut form = vec![("name", name)];
        form.extend(fields);
        let v = expect_json(
            e.post("/v4/domains", ADMIN_KEY).form(&form).send().unwrap(),
            200,
        );
        let dkim = v["sending_dns_records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"].as_str().unwrap().contains("_domainkey"))
            .unwrap()
            .clone();
        let value = dkim["value"].as_str().unwrap();
        assert!(value.starts_with(prefix), "{value}");
        assert!(len.contains(&value.len()), "{name}: {} chars", value.len());
    }
    expect_error(
        e.post("/v4/domains", ADMIN_KEY)
            .form(&[("name", "x.test"), ("dkim_key_size", "512")])
            .send()
            .unwrap(),
        400,
        &["dkim_key_size", "2048"],
    );
    expect_error(
        e.post("/v4/domains", ADMIN_KEY)
            .form(&[("name", "x.test"), ("dkim_algorithm", "dsa")])
            .send()
            .unwrap(),
        400,
        &["dkim_algorithm"],
    );
    expect_error(
        e.post("/v4/domains", ADMIN_KEY)
            .form(&[("name", "not a domain")])
            .send()
            .unwrap(),
        400,
        &["valid domain"],
    );
    expect_error(
        e.post("/v4/domains", ADMIN_KEY)
            .form(&[("dkim_key_size", "1024")])
            .send()
            .unwrap(),
        400,
        &["name"],
    );
    expect_error(
        e.post("/v4/domains", ADMIN_KEY)
            .form(&[("name", "ed.test")])
            .send()
            .unwrap(),
        400,
        &["already taken"],
    );
}

#[test]
fn list_get_update_and_delete() {
    let e = Envoi::start();
    e.create_domain("one.test");
    e.create_domain("two.test");
    let list = expect_json(e.get("/v4/domains", ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(list["total_count"], 2);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let page = expect_json(
        e.get("/v4/domains?limit=1&skip=1", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let one = expect_json(
        e.get("/v4/domains/one.test", ADMIN_KEY).send().unwrap(),
        200,
    );
    assert_eq!(one["domain"]["name"], "one.test");
    assert!(one["sending_dns_records"].is_array());

    let updated = expect_json(
        e.put("/v4/domains/one.test", ADMIN_KEY)
            .form(&[("skip_verification", "true"), ("web_scheme", "http")])
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(updated["domain"]["skip_verification"], true);
    assert_eq!(updated["domain"]["web_scheme"], "http");

    expect_json(
        e.delete("/v3/domains/one.test", ADMIN_KEY).send().unwrap(),
        200,
    );
    expect_json(
        e.delete("/v4/domains/two.test", ADMIN_KEY).send().unwrap(),
        200,
    );
    expect_error(
        e.get("/v4/domains/one.test", ADMIN_KEY).send().unwrap(),
        404,
        &["one.test"],
    );
    expect_error(
        e.delete("/v4/domains/two.test", ADMIN_KEY).send().unwrap(),
        404,
        &["two.test"],
    );
    assert_eq!(
        expect_json(e.get("/v4/domains", ADMIN_KEY).send().unwrap(), 200)["total_count"],
        0
    );
}

#[test]
fn connection_settings_get_and_put_with_hyphenated_answer() {
    let e = Envoi::start();
    e.create_domain("conn.test");
    let v = expect_json(
        e.get("/v3/domains/conn.test/connection", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(v["connection"]["require_tls"], false);
    assert_eq!(v["connection"]["skip_verification"], false);
    let v = expect_json(
        e.put("/v3/domains/conn.test/connection", ADMIN_KEY)
            .form(&[("require_tls", "True"), ("skip_verification", "false")])
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(v["require-tls"], true);
    assert_eq!(v["skip-verification"], false);
    assert!(v["message"].as_str().unwrap().contains("updated"));
    let v = expect_json(
        e.get("/v3/domains/conn.test/connection", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(v["connection"]["require_tls"], true);
    expect_error(
        e.put("/v3/domains/conn.test/connection", ADMIN_KEY)
            .form(&[("require_tls", "maybe")])
            .send()
            .unwrap(),
        400,
        &["require_tls"],
    );
}

#[test]
fn deleting_a_domain_revokes_its_sending_keys() {
    let e = Envoi::start();
    e.create_domain("gone.test");
    let key = e.sending_key("gone.test");
    expect_json(
        e.delete("/v3/domains/gone.test", ADMIN_KEY).send().unwrap(),
        200,
    );
    e.create_domain("gone.test");
    let r = e
        .post("/v3/gone.test/messages", &key)
        .form(&[
            ("from", "a@gone.test"),
            ("to", "b@example.org"),
            ("text", "x"),
        ])
        .send()
        .unwrap();
    expect_error(r, 401, &["invalid"]);
}
