//! The dashboard's accessibility, checked by a machine: axe-core (the rules
//! engine browsers' own audits use) run in headless Chromium on every view,
//! with data in it, against WCAG 2.1 A and AA (labels, names, headings and
//! landmarks, contrast, ARIA). axe-core is installed by `.ci/run` with npm
//! (`tests/clients/axe`).

use std::time::Duration;

use envoi_tests::browser::{Browser, SHOP};
use envoi_tests::*;

/// axe-core's script, or None when it is not installed (then the test is
/// skipped, except on CI where that is a failure).
fn axe() -> Option<String> {
    let path = workspace_root().join("tests/clients/axe/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "axe-core is not installed: run `npm ci --prefix tests/clients/axe`"
            );
            eprintln!("skipping: axe-core is not installed (npm ci --prefix tests/clients/axe)");
            None
        }
    }
}

/// Every view, as the account sees it with some mail, a suppression, a
/// webhook, a credential and a pending call in it.
#[test]
fn every_view_passes_an_automated_wcag_aa_audit() {
    let Some(axe) = axe() else { return };
    let Some(b) = Browser::start() else { return };
    let e = Envoi::start();
    e.create_domain(SHOP);
    let id = e.send(SHOP, "ada@example.org", &[("o:tag", "welcome")]);
    e.wait_event(SHOP, "event=failed", Duration::from_secs(30));
    expect_json(
        e.post(&format!("/v3/{SHOP}/bounces"), ADMIN_KEY)
            .form(&[("address", "gone@example.org")])
            .send()
            .unwrap(),
        200,
    );
    expect_json(
        e.post(&format!("/v3/domains/{SHOP}/webhooks"), ADMIN_KEY)
            .form(&[("id", "delivered"), ("url", "http://127.0.0.1:9/hook")])
            .send()
            .unwrap(),
        200,
    );
    expect_json(
        e.post(&format!("/v3/domains/{SHOP}/credentials"), ADMIN_KEY)
            .form(&[("login", "app")])
            .send()
            .unwrap(),
        200,
    );

    let mut found = Vec::new();
    let mut audit = |b: &Browser, view: &str| {
        for v in b.accessibility_violations(&axe) {
            found.push(format!("{view}: {v}"));
        }
    };
    b.goto(&e.url("/ui/login"));
    audit(&b, "sign-in");
    b.sign_in(&e, ADMIN_KEY);
    for path in [
        "/ui/".to_string(),
        format!("/ui/domains?domain={SHOP}"),
        format!("/ui/logs?domain={SHOP}"),
        format!("/ui/logs/{SHOP}/message?id={id}"),
        "/ui/queue".to_string(),
        format!("/ui/suppressions?domain={SHOP}"),
        format!("/ui/dmarc?domain={SHOP}"),
        format!("/ui/webhooks?domain={SHOP}"),
        "/ui/keys".to_string(),
        "/ui/audit".to_string(),
        "/ui/no-such-page".to_string(),
    ] {
        b.goto(&e.url(&path));
        audit(&b, &path);
    }
    // A page answering a form: a new key's secret, shown once.
    b.goto(&e.url("/ui/keys"));
    b.click("form.add button[type=submit]");
    audit(&b, "new key");
    assert!(
        found.is_empty(),
        "WCAG 2.1 AA violations:\n{}",
        found.join("\n")
    );
}
