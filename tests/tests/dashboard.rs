//! The dashboard (issue 23), used the way a person uses it: headless
//! Chromium signing in, searching, clicking. This file: signing in and out,
//! what each key may see and do, and the page's own safety (CSRF, nothing
//! loaded from elsewhere, a phone's width). `dashboard_views.rs` has what
//! each view shows; `dashboard_actions.rs` the changes made there.
//! Screenshots of each view go to `target/screenshots/` (`ENVOI_BLESS=1`
//! also refreshes those in `docs/`).

use envoi_tests::browser::{two_domains as envoi, Browser, NEWS, SHOP};
use envoi_tests::*;

#[test]
fn the_account_key_signs_in_and_sees_every_domain() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    // news.test comes first on the page: it has traffic in the screenshot.
    for to in ["ada@example.org", "bob@example.org", "eve@example.net"] {
        e.send(NEWS, to, &[]);
    }
    b.sign_in(&e, ADMIN_KEY);
    assert!(b.url().ends_with("/ui/"), "{}", b.url());
    let text = b.text();
    for needle in [
        SHOP,
        NEWS,
        "bounce rate",
        "complaint rate",
        "unsubscribe rate",
        "Last 30 days",
        "Per hour",
    ] {
        assert!(text.contains(needle), "overview lacks {needle:?}:\n{text}");
    }
    assert!(b.html().contains("<svg class=\"chart\""), "no chart");
    b.shot("overview");
}

#[test]
fn signing_out_ends_the_session_even_for_a_copy_of_its_cookie() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    let copied = b.cookie("envoi_ui").expect("signed in");
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = || {
        client
            .get(e.url("/ui/keys"))
            .header("cookie", format!("envoi_ui={copied}"))
            .send()
            .unwrap()
    };
    assert_eq!(get().status(), 200, "the copy works while signed in");
    b.click("form.signout button");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    let after = get();
    assert_ne!(
        after.status(),
        200,
        "a copy of a signed-out cookie still works"
    );
    assert!(!after.text().unwrap().contains("API keys"));
}

#[test]
fn sign_in_is_throttled_like_api_keys_after_twenty_wrong_keys() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    let attempt = |key: &str| {
        b.goto(&e.url("/ui/login"));
        b.fill("key", key);
        b.click("form.signin button[type=submit]");
        b.text()
    };
    for i in 0..20 {
        let text = attempt(&format!("wrong-{i}"));
        assert!(
            text.contains("That key is not valid"),
            "attempt {i}: {text}"
        );
    }
    // Refused now, even with the right key, and the API counts the same.
    let text = attempt(ADMIN_KEY);
    assert!(text.contains("Too many wrong keys"), "{text}");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    assert_eq!(
        e.get("/v4/domains", ADMIN_KEY).send().unwrap().status(),
        429
    );
}

#[test]
fn a_wrong_key_gets_the_sign_in_page_again_with_why() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, "not-a-key");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    assert!(b.text().contains("That key is not valid"), "{}", b.text());
    b.goto(&e.url("/ui/keys"));
    assert!(
        b.url().contains("/ui/login"),
        "a wrong key opened a page: {}",
        b.url()
    );
}

#[test]
fn a_domain_key_sees_its_domain_read_only_and_nothing_else() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    let key = e.sending_key(SHOP);
    b.sign_in(&e, &key);
    let text = b.text();
    assert!(text.contains(SHOP) && !text.contains(NEWS), "{text}");
    assert!(text.contains("read-only"), "{text}");
    assert!(
        !text.contains("Keys") && !text.contains("Audit") && !text.contains("Webhooks"),
        "account sections shown:\n{text}"
    );
    for path in [
        format!("/ui/logs?domain={NEWS}"),
        format!("/ui/suppressions?domain={NEWS}"),
        format!("/ui/webhooks?domain={SHOP}"),
        "/ui/keys".to_string(),
        "/ui/audit".to_string(),
    ] {
        b.goto(&e.url(&path));
        let text = b.text();
        assert!(
            text.contains("Not for this key"),
            "{path} answered:\n{text}"
        );
    }
    b.shot("forbidden");
    b.goto(&e.url(&format!("/ui/suppressions?domain={SHOP}")));
    assert!(
        !b.html().contains("/ui/suppressions/add"),
        "a read-only key got the add form"
    );
}

#[test]
fn a_form_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    b.sign_in(&e, ADMIN_KEY);
    let session = b.cookie("envoi_ui").expect("signed in");
    let client = reqwest::blocking::Client::new();
    for csrf in [None, Some("0123456789abcdef0123456789abcdef")] {
        let mut form = vec![
            ("domain", SHOP),
            ("list", "bounces"),
            ("address", "x@example.org"),
        ];
        if let Some(t) = csrf {
            form.push(("csrf", t));
        }
        let r = client
            .post(e.url("/ui/suppressions/add"))
            .header("cookie", format!("envoi_ui={session}"))
            .form(&form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().unwrap().contains("security token"));
    }
    let api = format!("/v3/{SHOP}/bounces/x@example.org");
    assert_eq!(e.get(&api, ADMIN_KEY).send().unwrap().status(), 404);
}

#[test]
fn no_page_requests_anything_from_another_origin() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    e.send(SHOP, "ada@example.org", &[]);
    b.sign_in(&e, ADMIN_KEY);
    let origin = e.url("");
    for path in [
        "/ui/",
        "/ui/logs",
        "/ui/suppressions",
        "/ui/keys",
        "/ui/audit",
    ] {
        b.goto(&e.url(path));
        let loaded = b.requested();
        assert!(
            loaded.len() >= 3,
            "{path}: the stylesheet and script were not loaded: {loaded:?}"
        );
        for url in loaded {
            assert!(url.starts_with(&origin), "{path} requested {url}");
        }
    }
}

#[test]
fn pages_fit_a_phone_screen() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    // Some mail, so the queue and logs have rows.
    e.send(SHOP, "ada@example.org", &[]);
    b.sign_in(&e, ADMIN_KEY);
    b.resize(390, 844);
    for path in [
        "/ui/",
        "/ui/domains",
        "/ui/logs",
        "/ui/queue",
        "/ui/suppressions",
        "/ui/dmarc",
        "/ui/webhooks",
        "/ui/keys",
        "/ui/audit",
    ] {
        b.goto(&e.url(path));
        let fits =
            b.script("return document.documentElement.scrollWidth <= window.innerWidth + 1;");
        // What sticks out, for the failure's message.
        let wide = b.script(
            "return [...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)\
             .slice(0, 12).map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right));",
        );
        assert_eq!(
            fits,
            serde_json::json!(true),
            "{path} scrolls sideways on a phone: {wide}"
        );
    }
    b.goto(&e.url("/ui/"));
    b.shot("overview-phone");
}

#[test]
fn a_domain_key_gets_no_queue_actions_and_its_posts_are_refused() {
    let Some(b) = Browser::start() else { return };
    let e = envoi();
    e.send(SHOP, "ada@example.org", &[]);
    b.sign_in(&e, &e.sending_key(SHOP));
    b.goto(&e.url("/ui/queue"));
    assert!(b.html().contains("example.org"));
    assert!(
        !b.html().contains("/ui/queue/example.org/drop"),
        "{}",
        b.html()
    );
    // Even with its good CSRF token, the post is refused with a 403 page.
    let csrf = b.script("return document.querySelector('form.signout input[name=csrf]').value;");
    let r = reqwest::blocking::Client::new()
        .post(e.url("/ui/queue/example.org/hold"))
        .header(
            "cookie",
            format!("envoi_ui={}", b.cookie("envoi_ui").unwrap()),
        )
        .form(&[("csrf", csrf.as_str().unwrap())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    b.goto(&e.url("/ui/queue"));
    assert!(!b.text().contains("by an operator"), "{}", b.text());
}

/// The session cookie set by signing in over HTTP, as a client sees it.
fn session_cookie(e: &Envoi) -> String {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(e.url("/ui/login")).send().unwrap();
    let login_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("envoi_ui_login="))
        .expect("a sign-in token cookie");
    let pair = login_cookie.split(';').next().unwrap().to_string();
    let token = pair.trim_start_matches("envoi_ui_login=").to_string();
    let r = client
        .post(e.url("/ui/login"))
        .header("cookie", pair)
        .form(&[
            ("login_token", token.as_str()),
            ("key", ADMIN_KEY),
            ("next", "/ui/"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("envoi_ui="))
        .expect("a session cookie")
}

#[test]
fn the_session_cookie_is_http_only_strict_and_secure_behind_https() {
    let plain = session_cookie(&envoi());
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(plain.contains(attr), "{plain}");
    }
    assert!(!plain.contains("Secure"), "plain http: {plain}");
    let e = Envoi::start_with(Options {
        http_extra: "public_url = \"https://mail.example.com\"\n".into(),
        ..Options::default()
    });
    let behind_https = session_cookie(&e);
    assert!(behind_https.contains("; Secure"), "{behind_https}");
}

#[test]
fn every_page_forbids_other_origins_framing_and_caching() {
    let e = envoi();
    for path in ["/ui/login", "/ui/", "/ui/no-such-page"] {
        let r = e.client.get(e.url(path)).send().unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(
            h["cache-control"].to_str().unwrap().contains("no-store"),
            "{path}"
        );
    }
}
