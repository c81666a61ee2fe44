//! A 200 means the message is on disk: kill -9 right after it, restart, and
//! the message is still there and queued.

use envoi_tests::*;

#[test]
fn accepted_message_survives_kill_9() {
    let mut e = Envoi::start();
    e.create_domain("dur.test");
    let key = e.sending_key("dur.test");
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = e
            .post("/v3/dur.test/messages", &key)
            .form(&[
                ("from", "a@dur.test"),
                ("to", &format!("r{i}@example.org") as &str),
                ("subject", &format!("n{i}")),
                ("text", "keep me"),
            ])
            .send()
            .unwrap();
        ids.push(
            expect_json(r, 200)["id"]
                .as_str()
                .unwrap()
                .trim_matches(['<', '>'])
                .to_string(),
        );
    }
    e.kill9();
    e.restart();
    for (i, id) in ids.iter().enumerate() {
        let events = e.events("dur.test", &format!("event=accepted&message-id={id}"));
        assert_eq!(events.len(), 1, "accepted event of message {i} survived");
        let stored = e.stored("dur.test", events[0]["storage"]["key"].as_str().unwrap());
        assert_eq!(stored["recipients-status"][0]["status"], "queued");
        assert!(stored["body-mime"].as_str().unwrap().contains("keep me"));
        assert_eq!(stored["subject"], format!("n{i}"));
    }
}

#[test]
fn stored_bodies_are_encrypted_at_rest() {
    let e = Envoi::start();
    e.create_domain("enc.test");
    let marker = "PLAINTEXT-MARKER-7f3a9c";
    let r = e
        .post("/v3/enc.test/messages", ADMIN_KEY)
        .form(&[
            ("from", "a@enc.test"),
            ("to", "b@example.org"),
            ("text", marker),
        ])
        .send()
        .unwrap();
    expect_json(r, 200);
    for f in ["envoi.db", "envoi.db-wal"] {
        if let Ok(bytes) = std::fs::read(e.dir.join(f)) {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "body found in clear in {f}"
            );
        }
    }
}
