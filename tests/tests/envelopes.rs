//! `DELETE /v3/{domain}/envelopes`, Mailgun's "clear the queue": the
//! domain's waiting mail fails for good, each recipient with a `failed`
//! event saying why; other domains' mail is untouched.

use std::time::Duration;

use envoi_tests::*;

const SHOP: &str = "shop.test";
const NEWS: &str = "news.test";

#[test]
fn clearing_a_domains_queue_fails_its_waiting_mail_with_an_event_each() {
    let e = Envoi::start();
    e.create_domain(SHOP);
    e.create_domain(NEWS);
    // The test relay refuses connections: the mail waits for its retry.
    e.send(SHOP, "ada@example.org, bob@example.net", &[]);
    e.send(NEWS, "eve@example.org", &[]);
    for (d, n) in [(SHOP, 2), (NEWS, 1)] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while e.events(d, "event=failed").len() < n {
            assert!(std::time::Instant::now() < deadline, "no attempt for {d}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let path = format!("/v3/{SHOP}/envelopes");
    let key = e.sending_key(SHOP);
    assert_eq!(
        e.delete(&path, &key).send().unwrap().status(),
        403,
        "a sending key may not"
    );

    let cleared = expect_json(e.delete(&path, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(cleared["message"], "done");
    assert_eq!(cleared["dropped"], 2);
    let failed = e.events(SHOP, "event=failed&severity=permanent");
    assert_eq!(failed.len(), 2, "{failed:?}");
    for ev in &failed {
        let text = ev["delivery-status"]["message"].as_str().unwrap();
        assert!(text.contains("the queue was cleared"), "{ev}");
    }
    assert!(
        e.events(NEWS, "event=failed&severity=permanent").is_empty(),
        "news.test's mail stays"
    );
    let again = expect_json(e.delete(&path, ADMIN_KEY).send().unwrap(), 200);
    assert_eq!(again["dropped"], 0);
}
