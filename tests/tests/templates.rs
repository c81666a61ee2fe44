//! Mailgun's templates: the API's limits and errors, and sends that name a
//! template (the Python SDK's calls are in `python_clients.rs`).

use envoi_tests::*;

const DOMAIN: &str = "tpl.test";

fn create(e: &Envoi, fields: &[(&str, &str)]) -> reqwest::blocking::Response {
    e.post(&format!("/v3/{DOMAIN}/templates"), ADMIN_KEY)
        .form(fields)
        .send()
        .unwrap()
}

fn send(e: &Envoi, fields: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut all = vec![("from", "a@tpl.test"), ("to", "r@example.org")];
    all.extend_from_slice(fields);
    e.post(&format!("/v3/{DOMAIN}/messages"), ADMIN_KEY)
        .form(&all)
        .send()
        .unwrap()
}

#[test]
fn a_template_that_fails_to_render_is_a_400_naming_it_and_nothing_is_stored() {
    let e = Envoi::start();
    e.create_domain(DOMAIN);
    // It parses; rendering calls a helper Mailgun does not have.
    expect_json(
        create(
            &e,
            &[
                ("name", "shout"),
                ("template", "{{loud name}}"),
                ("tag", "v7"),
            ],
        ),
        200,
    );
    let r = send(&e, &[("template", "shout")]);
    expect_error(r, 400, &["\"shout\"", "\"v7\"", "loud"]);
    assert!(
        e.events(DOMAIN, "event=accepted").is_empty(),
        "nothing stored"
    );
}

#[test]
fn bad_template_sends_get_clear_errors() {
    let e = Envoi::start();
    e.create_domain(DOMAIN);
    expect_json(
        create(&e, &[("name", "hello"), ("template", "<p>Hi</p>")]),
        200,
    );
    let r = send(&e, &[("template", "hello"), ("html", "<p>also</p>")]);
    expect_error(
        r,
        400,
        &["Only one parameters 'html' or 'template' is allowed"],
    );
    let r = send(&e, &[("template", "nope")]);
    expect_error(r, 400, &["\"nope\" not found"]);
    let r = send(&e, &[("template", "hello"), ("t:version", "v9")]);
    expect_error(r, 400, &["no version tagged \"v9\""]);
    let r = send(&e, &[("template", "hello"), ("t:variables", "[1]")]);
    expect_error(r, 400, &["t:variables is not a JSON object"]);
    // The template alone is a body: Mailgun's default From is postmaster@.
    let r = e
        .post(&format!("/v3/{DOMAIN}/messages"), ADMIN_KEY)
        .form(&[("to", "r@example.org"), ("template", "HELLO")])
        .send()
        .unwrap();
    expect_json(r, 200);
    let ev = &e.events(DOMAIN, "event=accepted")[0];
    assert_eq!(ev["message"]["headers"]["from"], "postmaster@tpl.test");
}

#[test]
fn the_api_refuses_what_mailgun_refuses_with_its_limits() {
    // Some 150 requests in a row: no per-key rate limit in the way.
    let e = Envoi::start_with(Options {
        extra_config: "[limits]\nrequests_per_second_per_key = 0\n".into(),
        ..Options::default()
    });
    e.create_domain(DOMAIN);
    expect_json(create(&e, &[("name", "Mixed"), ("template", "x")]), 200);
    // Names are lower-cased: the same name again is taken.
    expect_error(create(&e, &[("name", "mixed")]), 409, &["already exists"]);
    expect_error(
        create(&e, &[("name", "bad"), ("template", "{{#if x}}open")]),
        400,
        &["not valid Handlebars"],
    );
    expect_error(
        create(
            &e,
            &[
                ("name", "h"),
                ("template", "x"),
                ("headers", r#"{"To": "a@b.c"}"#),
            ],
        ),
        400,
        &["\"To\"", "cannot set"],
    );
    // 40 versions each: "initial" and 39 more, then a refusal.
    let versions = format!("/v3/{DOMAIN}/templates/mixed/versions");
    for i in 2..=40 {
        let r = e
            .post(&versions, ADMIN_KEY)
            .form(&[("template", "x"), ("tag", &format!("v{i}"))])
            .send()
            .unwrap();
        expect_json(r, 200);
    }
    let r = e
        .post(&versions, ADMIN_KEY)
        .form(&[("template", "x"), ("tag", "v41")])
        .send()
        .unwrap();
    expect_error(r, 400, &["up to 40 versions"]);
    // The active version cannot be deleted while others remain.
    let r = e
        .delete(&format!("{versions}/initial"), ADMIN_KEY)
        .send()
        .unwrap();
    expect_error(r, 400, &["active version"]);
    // 100 templates per domain.
    for i in 2..=100 {
        expect_json(create(&e, &[("name", &format!("t{i}"))]), 200);
    }
    expect_error(
        create(&e, &[("name", "t101")]),
        400,
        &["up to 100 templates"],
    );
    // Paging through them, 10 at a time by default.
    let mut url = e.url(&format!("/v3/{DOMAIN}/templates"));
    let mut names = Vec::new();
    loop {
        let page = expect_json(
            e.client
                .get(&url)
                .basic_auth("api", Some(ADMIN_KEY))
                .send()
                .unwrap(),
            200,
        );
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        names.extend(
            items
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string()),
        );
        url = page["paging"]["next"].as_str().unwrap().to_string();
    }
    assert_eq!(names.len(), 100);
    let r = e
        .delete(&format!("/v3/{DOMAIN}/templates"), ADMIN_KEY)
        .send()
        .unwrap();
    assert_eq!(
        expect_json(r, 200)["message"],
        "templates have been deleted"
    );
}

#[test]
fn an_endpoint_envoi_does_not_serve_names_the_nearest_one_it_does() {
    let e = Envoi::start();
    e.create_domain(DOMAIN);
    let r = e
        .get(&format!("/v3/{DOMAIN}/tags"), ADMIN_KEY)
        .send()
        .unwrap();
    expect_error(
        r,
        404,
        &["not served by envoi", "nearest endpoint it serves is /v3/"],
    );
    let r = e.get("/v3/routes", ADMIN_KEY).send().unwrap();
    expect_error(r, 404, &["not served by envoi"]);
    // Not "domain not found: domains".
    let r = e
        .get(&format!("/v3/domains/{DOMAIN}/tracking"), ADMIN_KEY)
        .send()
        .unwrap();
    expect_error(
        r,
        404,
        &[
            "/v3/domains/tpl.test/tracking is not served by envoi",
            "/v3/domains/{domain}/",
        ],
    );
}

#[test]
fn a_template_named_over_smtp_is_rendered_per_recipient() {
    use envoi_tests::sink::Script;
    use envoi_tests::world::Delivering;
    use mail_parser::MessageParser;
    let w = Delivering::start(
        Script::default(),
        "",
        Options {
            smtp_extra: "allow_plain_auth_without_tls = true\n".into(),
            ..Options::default()
        },
    );
    w.e.create_domain(DOMAIN);
    let r =
        w.e.post(&format!("/v3/{DOMAIN}/templates"), ADMIN_KEY)
            .form(&[
                ("name", "order"),
                ("template", "<p>{{shop}}: order {{recipient.n}}</p>"),
                ("headers", r#"{"Subject": "Your order"}"#),
            ])
            .send()
            .unwrap();
    expect_json(r, 200);
    w.e.create_credential(DOMAIN, "app", "pass-word-1");
    let (mut c, _) = smtp_client::RawSmtp::connect(w.e.smtp_port);
    assert!(c.login("app@tpl.test", "pass-word-1").starts_with("235"));
    let data = "From: shop@tpl.test\r\nTo: list@dest.test\r\n\
        X-Mailgun-Template-Name: order\r\n\
        X-Mailgun-Template-Variables: {\"shop\": \"Envoi\"}\r\n\
        X-Mailgun-Recipient-Variables: {\"a@dest.test\": {\"n\": \"7\"}, \"b@dest.test\": {\"n\": \"8\"}}\r\n\
        Content-Type: text/plain\r\n\r\nreplaced by the template\r\n";
    c.cmd("MAIL FROM:<shop@tpl.test>");
    c.cmd("RCPT TO:<a@dest.test>");
    c.cmd("RCPT TO:<b@dest.test>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(data.as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    for m in w.sink.wait_for(2, std::time::Duration::from_secs(30)) {
        let msg = MessageParser::default().parse(&m.data).unwrap();
        let n = if m.rcpt_to[0] == "a@dest.test" {
            "7"
        } else {
            "8"
        };
        assert_eq!(msg.subject(), Some("Your order"));
        assert_eq!(
            msg.body_html(0).as_deref().map(str::trim_end),
            Some(format!("<p>Envoi: order {n}</p>").as_str())
        );
        let text = String::from_utf8_lossy(&m.data);
        assert!(!text.contains("replaced by the template"), "{text}");
        assert!(
            !text.to_ascii_lowercase().contains("x-mailgun-template"),
            "{text}"
        );
    }
    // A template that does not exist: refused, nothing stored.
    c.cmd("MAIL FROM:<shop@tpl.test>");
    c.cmd("RCPT TO:<a@dest.test>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"From: shop@tpl.test\r\nTo: a@dest.test\r\nX-Mailgun-Template-Name: nope\r\n\r\nx\r\n");
    let r = c.cmd(".");
    assert!(
        r.starts_with("550 5.6.0") && r.contains("\"nope\" not found"),
        "{r}"
    );
}

#[test]
fn variables_given_as_h_x_mailgun_variables_reach_the_template() {
    // mailgun.js's README passes template variables this way.
    let e = Envoi::start();
    e.create_domain(DOMAIN);
    expect_json(
        create(
            &e,
            &[
                ("name", "hi"),
                ("template", "<p>Hi {{name}} ({{plan}})</p>"),
            ],
        ),
        200,
    );
    let r = send(
        &e,
        &[
            ("template", "hi"),
            (
                "h:X-Mailgun-Variables",
                r#"{"name": "Zoe", "plan": "free"}"#,
            ),
            ("t:variables", r#"{"plan": "pro"}"#),
        ],
    );
    expect_json(r, 200);
    let ev = &e.events(DOMAIN, "event=accepted")[0];
    assert_eq!(ev["user-variables"]["name"], "Zoe");
    let stored = e.stored(DOMAIN, ev["storage"]["key"].as_str().unwrap());
    let mime = stored["body-mime"].as_str().unwrap();
    assert!(
        mime.contains("<p>Hi Zoe (pro)</p>"),
        "t:variables over v: {mime}"
    );
    let r = send(&e, &[("template", "hi"), ("h:X-Mailgun-Variables", "[1]")]);
    expect_error(r, 400, &["h:X-Mailgun-Variables", "JSON object"]);
}
