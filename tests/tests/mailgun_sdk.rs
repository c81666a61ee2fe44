//! An official Mailgun SDK, unchanged, sends through envoi with only the base
//! URL and key changed (mailgun.js from npm; `.ci/run` installs it).

use std::process::Command;

use envoi_tests::*;

#[test]
fn mailgun_js_sends_unchanged() {
    let dir = workspace_root().join("tests/clients/mailgun-js");
    if !dir.join("node_modules/mailgun.js").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "mailgun.js is not installed: run `npm install --prefix tests/clients/mailgun-js`"
        );
        eprintln!(
            "skipping: mailgun.js not installed (npm install --prefix tests/clients/mailgun-js)"
        );
        return;
    }
    let e = Envoi::start();
    e.create_domain("sdk.test");
    let key = e.sending_key("sdk.test");
    let out = Command::new("node")
        .current_dir(&dir)
        .args(["send.js", &e.url(""), &key, "sdk.test"])
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"]["status"], 200, "{v}");
    assert_eq!(v["sent"]["message"], "Queued. Thank you.");
    assert_eq!(v["wrongKeyStatus"], 401);
    let id = v["sent"]["id"]
        .as_str()
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    let events = e.events("sdk.test", &format!("message-id={id}"));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["tags"], serde_json::json!(["sdk"]));
    assert_eq!(events[0]["user-variables"]["campaign"], "spring");
    assert_eq!(events[0]["flags"]["is-test-mode"], true);
    let stored = e.stored("sdk.test", events[0]["storage"]["key"].as_str().unwrap());
    let mime = stored["body-mime"].as_str().unwrap();
    assert!(mime.contains("X-Sdk: mailgun.js"), "{mime}");
    assert!(mime.contains("note.txt"), "attachment kept");
}
