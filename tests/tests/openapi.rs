//! `GET /openapi.json` on the running binary: a valid OpenAPI 3.1 document
//! (checked by openapi-spec-validator), and every operation it lists is
//! served (none falls through to the "not served" 404 or a 405).

use std::io::Write;
use std::process::{Command, Stdio};

use envoi_tests::*;
use serde_json::Value;

fn document(e: &Envoi) -> Value {
    let r = e.client.get(e.url("/openapi.json")).send().unwrap();
    expect_json(r, 200)
}

#[test]
fn the_document_validates_as_openapi_3_1() {
    let e = Envoi::start();
    let doc = document(&e);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["version"]
        .as_str()
        .unwrap()
        .starts_with("0.1.0"));
    let have = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            !postgres_required(),
            "openapi-spec-validator is needed on CI (tests/clients/python/requirements.txt)"
        );
        eprintln!("skipped the validation: pip install openapi-spec-validator");
        return;
    }
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, json\n\
             from openapi_spec_validator import validate\n\
             from openapi_spec_validator.validation import OpenAPIV31SpecValidator\n\
             validate(json.load(sys.stdin), cls=OpenAPIV31SpecValidator)\n\
             print('valid')",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_documented_operation_is_served() {
    let e = Envoi::start();
    e.create_domain("oa.test");
    let doc = document(&e);
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (template, item) in paths {
        let path = template
            .replace("{domain}", "oa.test")
            .replace("{table}", "bounces")
            .replace("{address}", "someone@example.org")
            .replace("{login}", "app@oa.test")
            .replace("{selector}", "k1")
            .replace("{name}", "welcome")
            .replace("{tag}", "v1")
            .replace("{new_tag}", "v2")
            .replace("{id}", "delivered")
            .replace("{key}", "0123456789abcdef")
            .replace("{token}", "not-a-token");
        assert!(!path.contains('{'), "a parameter left in {path}");
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = e.url(&path);
            let req = match method {
                "get" => e.client.get(url),
                "post" => e.client.post(url),
                "put" => e.client.put(url),
                _ => e.client.delete(url),
            };
            let r = req.basic_auth("api", Some(ADMIN_KEY)).send().unwrap();
            let status = r.status().as_u16();
            let body = r.text().unwrap_or_default();
            assert_ne!(status, 405, "{method} {template}: {body}");
            assert!(
                !body.contains("is not served by envoi"),
                "{method} {template} fell through to the fallback: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} operations");
}
