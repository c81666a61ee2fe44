//! The real bounces and complaints of `../shared/data/bounces` (many mail
//! servers; RFC 3464, plain text, ARF) are each read as their manifest says:
//! the recipients, permanent or temporary with the status, or a complaint and
//! its feedback type. Every RFC 3464 and ARF sample must be right, and most of
//! the plain-text ones; the share is printed. Skipped without `../shared`.

use gateway::inbound::report::{classify, Report};
use serde_json::Value;

#[test]
fn real_bounces_and_complaints_are_classified_as_the_manifest_says() {
    let dir = envoi_tests::workspace_root().join("../shared/data/bounces");
    let Ok(manifest) = std::fs::read_to_string(dir.join("manifest.json")) else {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    };
    let samples: Vec<Value> = serde_json::from_str(&manifest).unwrap();
    let (mut structured, mut structured_ok, mut text, mut text_ok) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for s in &samples {
        let file = s["file"].as_str().unwrap();
        let raw = std::fs::read(dir.join(file)).unwrap();
        let got = classify(&raw);
        let expected: Vec<String> = s["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_ascii_lowercase())
            .collect();
        let ok = match (s["kind"].as_str().unwrap(), &got) {
            (
                "arf",
                Report::Feedback {
                    feedback_type,
                    recipients,
                },
            ) => {
                Some(feedback_type.as_str()) == s["feedback_type"].as_str()
                    && expected.iter().all(|e| recipients.contains(e))
            }
            ("dsn", Report::Delivery(failures)) => {
                let mut addrs: Vec<String> = failures.iter().map(|f| f.address.clone()).collect();
                addrs.sort();
                let mut want = expected.clone();
                want.sort();
                let first = &failures[0];
                let status_ok = match s["per_recipient"].as_array() {
                    Some(per) => per.iter().all(|p| {
                        failures.iter().any(|f| {
                            Some(f.address.as_str()) == p["address"].as_str()
                                && Some(f.status.to_string().as_str()) == p["status"].as_str()
                                && Some(f.permanent()) == p["permanent"].as_bool()
                        })
                    }),
                    None => {
                        Some(first.status.to_string().as_str()) == s["status"].as_str()
                            && Some(first.permanent()) == s["permanent"].as_bool()
                    }
                };
                addrs == want && status_ok
            }
            _ => false,
        };
        let is_text = s["format"].as_str() == Some("plain-text");
        if is_text {
            text += 1;
            text_ok += ok as usize;
        } else {
            structured += 1;
            structured_ok += ok as usize;
        }
        if !ok {
            wrong.push(format!("{file}: got {got:?}"));
        }
    }
    println!(
        "bounce samples: RFC 3464 and ARF {structured_ok}/{structured}, plain text {text_ok}/{text}"
    );
    for w in &wrong {
        println!("  wrong: {w}");
    }
    assert_eq!(
        structured_ok, structured,
        "every RFC 3464 and ARF sample: {wrong:#?}"
    );
    assert!(
        text_ok * 3 >= text * 2,
        "most plain-text samples: {wrong:#?}"
    );
}
