//! The real DMARC aggregate and SMTP TLS reports of `../shared/data/dmarc`
//! (Google, Outlook, Fastmail and others; bare XML, gzip, zip, attached to
//! a mail) are each read as their manifest says; the damaged one is refused
//! with a reason that names the problem. Skipped without `../shared`.

use gateway::dmarc::{read, Report};
use serde_json::Value;

#[test]
fn real_reports_are_read_as_the_manifest_says() {
    let dir = envoi_tests::workspace_root().join("../shared/data/dmarc");
    let Ok(manifest) = std::fs::read_to_string(dir.join("manifest.json")) else {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    };
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    let samples = manifest["samples"].as_array().unwrap();
    let mut wrong = Vec::new();
    for s in samples {
        let file = s["file"].as_str().unwrap();
        let got = read(&std::fs::read(dir.join(file)).unwrap());
        let n = |k: &str| s[k].as_u64().unwrap();
        let text = |k: &str| s[k].as_str().unwrap();
        let ok = match (text("kind"), &got) {
            ("dmarc-aggregate", Ok(Report::Aggregate(a))) => {
                a.org == text("organization")
                    && a.report_id == text("report_id")
                    && a.domain == text("domain")
                    && a.p.as_str() == text("p")
                    && a.rows.len() as u64 == n("records")
                    && a.messages() == n("messages")
                    && a.passing(|r| r.dkim_aligned) == n("dkim_aligned_pass")
                    && a.passing(|r| r.spf_aligned) == n("spf_aligned_pass")
                    && a.passing(|r| r.dmarc_pass()) == n("dmarc_pass")
            }
            ("tls-rpt", Ok(Report::Tls(t))) => {
                t.org == text("organization")
                    && t.report_id == text("report_id")
                    && t.policies.len() as u64 == n("policies")
                    && t.successful() == n("successful_sessions")
                    && t.failed() == n("failed_sessions")
            }
            // Refused, with a reason that says where the XML breaks.
            ("invalid", Err(e)) => {
                let e = e.to_string();
                e.contains("XML") && e.contains("cannot be read")
            }
            _ => false,
        };
        if !ok {
            wrong.push(format!("{file}: got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    println!("dmarc samples: {} read as the manifest says", samples.len());
}
