//! Mailgun's Python clients, unchanged, against the real binary: the
//! official SDK (PyPI `mailgun` 1.10) and django-anymail 15.2 (its Mailgun
//! backend and tracking webhook view). `.ci/run` installs them from
//! `tests/clients/python/requirements.txt`; skipped without them outside CI.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use envoi_tests::sink::{Received, Script};
use envoi_tests::webhook_receiver::WebhookReceiver;
use envoi_tests::world::Delivering;
use envoi_tests::*;
use mail_parser::MessageParser;
use serde_json::Value;

fn clients_dir() -> std::path::PathBuf {
    workspace_root().join("tests/clients/python")
}

/// Whether the packages are there; in CI they must be.
fn have_clients() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import mailgun, anymail, django"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !postgres_required(),
            "the Python clients must be installed in CI: pip install -r tests/clients/python/requirements.txt"
        );
        eprintln!("skipping: pip install -r tests/clients/python/requirements.txt");
    }
    ok
}

/// Runs a script of `tests/clients/python`; its stdout, parsed as JSON.
fn run(script: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Value {
    let mut cmd = Command::new("python3");
    cmd.arg(clients_dir().join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run python3");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script}: {e}: {stdout}"))
}

fn parsed(m: &Received) -> mail_parser::Message<'_> {
    MessageParser::default().parse(&m.data).unwrap()
}

fn to_of(m: &Received) -> String {
    m.rcpt_to[0].clone()
}

#[test]
fn the_official_python_sdk_works_unchanged() {
    if !have_clients() {
        return;
    }
    let w = Delivering::start(Script::default(), "", Options::default());
    let url = w.e.url("");
    let out = run(
        "sdk.py",
        &[],
        &[("ENVOI_URL", &url), ("ENVOI_KEY", ADMIN_KEY)],
        None,
    );
    let id = out["message_id"].as_str().unwrap().trim_matches(['<', '>']);
    // The template, rendered per recipient, as delivered.
    for m in w.sink.wait_for(2, Duration::from_secs(30)) {
        let msg = parsed(&m);
        let (n, cust) = if to_of(&m) == "ann@dest.test" {
            ("1", "cust-1")
        } else {
            ("2", "cust-2")
        };
        assert_eq!(msg.message_id(), Some(id), "one id for the batch");
        assert_eq!(
            msg.subject(),
            Some("Welcome aboard"),
            "the template's Subject"
        );
        let reply_to = msg.reply_to().unwrap().first().unwrap().address().unwrap();
        assert_eq!(reply_to, "help@sdk.test", "the template's Reply-To");
        let html = msg.body_html(0).unwrap();
        assert!(
            html.contains(&format!("<p>Hi Ann &amp; Ben, pro #{n}</p>")),
            "{html}"
        );
        let text = msg.body_text(0).unwrap();
        assert!(text.contains("Hi Ann &amp; Ben"), "t:text=yes: {text}");
        let vars = msg
            .header_raw("X-Mailgun-Variables")
            .unwrap_or_default()
            .trim();
        let vars: Value = serde_json::from_str(vars).unwrap();
        assert_eq!(vars["cust"], cust, "%recipient.n% in a v: value");
    }
}

#[test]
fn django_anymail_sends_through_envoi_and_reads_its_webhooks() {
    if !have_clients() {
        return;
    }
    const DOMAIN: &str = "anymail.test";
    let w = Delivering::start(Script::default(), "", Options::default());
    let hooks = WebhookReceiver::start();
    w.e.create_domain(DOMAIN);
    let r =
        w.e.post(&format!("/v3/{DOMAIN}/templates"), ADMIN_KEY)
            .form(&[
                ("name", "receipt"),
                ("template", "<p>{{name}} at {{shop}}</p>"),
                ("headers", r#"{"Subject": "Your receipt"}"#),
            ])
            .send()
            .unwrap();
    expect_json(r, 200);
    let r =
        w.e.post(&format!("/v3/domains/{DOMAIN}/webhooks"), ADMIN_KEY)
            .form(&[("id", "delivered"), ("url", &hooks.url("delivered"))])
            .send()
            .unwrap();
    expect_json(r, 200);
    let url = w.e.url("");
    let env = [("ENVOI_URL", url.as_str()), ("ENVOI_KEY", ADMIN_KEY)];
    let ids = run("anymail_client.py", &["send"], &env, None);

    let received = w.sink.wait_for(4, Duration::from_secs(30));
    for m in &received {
        let msg = parsed(m);
        let to = to_of(m);
        let kept = ids["batch"][&to]
            .as_str()
            .or(ids["template"][&to].as_str())
            .unwrap()
            .trim_matches(['<', '>'])
            .to_string();
        assert_eq!(
            msg.message_id(),
            Some(kept.as_str()),
            "the id anymail kept for {to}"
        );
        match to.as_str() {
            "ann@dest.test" | "ben@dest.test" => {
                let i = if to == "ann@dest.test" { "0" } else { "1" };
                let reference = msg.header_raw("X-Customer-Ref").unwrap_or_default();
                assert_eq!(reference.trim(), format!("ref-{i}"), "merge_headers");
                let vars: Value = serde_json::from_str(
                    msg.header_raw("X-Mailgun-Variables")
                        .unwrap_or_default()
                        .trim(),
                )
                .unwrap();
                assert_eq!(vars["cust"], format!("cust-{i}"), "merge_metadata");
                assert_eq!(vars["campaign"], "spring");
            }
            _ => {
                let name = if to == "cat@dest.test" { "Cat" } else { "Dan" };
                assert_eq!(msg.subject(), Some("Your receipt"));
                let html = msg.body_html(0).unwrap();
                assert!(
                    html.contains(&format!("<p>{name} at Envoi Shop</p>")),
                    "{html}"
                );
            }
        }
    }

    // envoi's real webhook calls, fed to anymail's view, signatures checked.
    let calls: Vec<Value> = hooks
        .wait_for("delivered", 4, Duration::from_secs(30))
        .into_iter()
        .map(|c| c.body)
        .collect();
    let key = expect_json(
        w.e.get("/v5/accounts/http_signing_key", ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    )["http_signing_key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut env = env.to_vec();
    env.push(("ENVOI_SIGNING_KEY", &key));
    let stdin = serde_json::to_string(&calls).unwrap();
    let events = run("anymail_client.py", &["webhook"], &env, Some(&stdin));
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    for e in events {
        assert_eq!(e["event_type"], "delivered", "{e}");
        let to = e["recipient"].as_str().unwrap();
        let kept = ids["batch"][to]
            .as_str()
            .or(ids["template"][to].as_str())
            .unwrap();
        assert_eq!(e["message_id"], kept, "{e}");
        if to == "ann@dest.test" {
            assert_eq!(e["metadata"]["cust"], "cust-0", "{e}");
            assert_eq!(e["metadata"]["campaign"], "spring", "{e}");
            assert_eq!(e["tags"], serde_json::json!(["orders"]), "{e}");
        }
    }
}
