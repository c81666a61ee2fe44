//! The document against the router: every (method, path) routed in
//! `http/mod.rs` is documented, and nothing else is.

use std::collections::BTreeSet;

use super::document;

const METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

/// (method, path) of every `.route("PATH", get(..).post(..))` in the
/// router's source.
fn routed() -> BTreeSet<(String, String)> {
    let source = include_str!("../mod.rs");
    let mut out = BTreeSet::new();
    for (at, _) in source.match_indices(".route(") {
        // The call's arguments, up to its matching parenthesis.
        let rest = &source[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a closed .route(");
        let args = &rest[..end];
        let path = args.split('"').nth(1).expect("a path literal").to_string();
        let handlers = &args[args.find(',').expect("methods after the path")..];
        for method in METHODS {
            let calls = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && handlers.as_bytes()[i - 1] != b'_'
            });
            if calls {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(document()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(*method).is_some() {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_of_the_router_is_documented_and_nothing_else() {
    let routed = routed();
    assert!(
        routed.len() > 60,
        "the router's routes were read: {routed:?}"
    );
    let documented = documented();
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routed but not in /openapi.json: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
}

#[test]
fn the_document_is_openapi_3_1_with_basic_auth() {
    let doc = serde_json::to_value(document()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "basic"
    );
    // The send form's fields, with Mailgun's names.
    let send = &doc["components"]["schemas"]["SendForm"]["properties"];
    for field in ["from", "to", "o:tag", "recipient-variables", "t:variables"] {
        assert!(send.get(field).is_some(), "{field} missing from SendForm");
    }
}
