//! Headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs), for the dashboard's tests:
//! a person's steps as blocking calls, so a test reads like what they do.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// chromedriver and the browser, or None (then the test is skipped, except
/// on CI where their absence is a failure).
fn installed() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| names.iter().map(PathBuf::from).find(|p| p.exists());
    let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])?;
    let browser = find(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"])?;
    Some((driver, browser))
}

/// The two sending domains the dashboard's tests use.
pub const SHOP: &str = "shop.test";
pub const NEWS: &str = "news.test";

/// envoi with the dashboard tests' two domains.
pub fn two_domains() -> crate::Envoi {
    let e = crate::Envoi::start();
    e.create_domain(SHOP);
    e.create_domain(NEWS);
    e
}

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// Where screenshots go (test artefacts).
    pub shots: PathBuf,
}

impl Browser {
    /// A fresh headless browser (its own profile), or None when Chromium
    /// is not installed here and this is not CI.
    pub fn start() -> Option<Browser> {
        let Some((driver_bin, browser_bin)) = installed() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have chromium and chromium-driver (.ci/run installs them)"
            );
            eprintln!("skipped: chromium / chromium-driver are not installed");
            return None;
        };
        let port = crate::free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let profile = crate::temp_dir("chromium-profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": browser_bin,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-default-apps",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = rt.block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps.clone())
                    .connect(&url),
            );
            match attempt {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not start: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        let shots = crate::workspace_root().join("target/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            rt,
            client: Some(client),
            driver,
            shots,
        })
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.c().goto(url)).unwrap();
    }

    pub fn url(&self) -> String {
        self.rt
            .block_on(self.c().current_url())
            .unwrap()
            .to_string()
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        self.rt
            .block_on(async { self.c().find(Locator::Css("body")).await?.text().await })
            .unwrap()
    }

    pub fn html(&self) -> String {
        self.rt.block_on(self.c().source()).unwrap()
    }

    /// Types into the field labelled (by id) `id`, replacing what was there.
    pub fn fill(&self, id: &str, value: &str) {
        self.rt
            .block_on(async {
                let el = self.c().find(Locator::Id(id)).await?;
                el.clear().await?;
                el.send_keys(value).await
            })
            .unwrap();
    }

    /// Chooses the option of the select `id` whose value is `value`.
    pub fn select(&self, id: &str, value: &str) {
        self.rt
            .block_on(async {
                let el = self.c().find(Locator::Id(id)).await?;
                el.select_by_value(value).await
            })
            .unwrap();
    }

    /// Clicks the first element matching the CSS selector, and waits for
    /// the page it leads to.
    pub fn click(&self, css: &str) {
        self.navigating(|| async move { self.c().find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks the link whose text is `text`, and waits for its page.
    pub fn follow(&self, text: &str) {
        self.navigating(
            || async move { self.c().find(Locator::LinkText(text)).await?.click().await },
        )
        .unwrap_or_else(|e| panic!("follow {text:?}: {e}"));
    }

    /// Runs `act`, then waits until a new document has loaded: the old
    /// one's window carries a mark that a new document does not.
    fn navigating<F, Fut>(&self, act: F) -> Result<(), fantoccini::error::CmdError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        self.script("window.__envoiOld = true; return null;");
        self.rt.block_on(act())?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let fresh = self.rt.block_on(self.c().execute(
                "return window.__envoiOld === undefined && document.readyState === 'complete';",
                vec![],
            ));
            if matches!(fresh, Ok(Value::Bool(true))) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "the page did not change within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a script in the page; its return value.
    pub fn script(&self, js: &str) -> Value {
        self.rt.block_on(self.c().execute(js, vec![])).unwrap()
    }

    /// Every URL the page loaded (the document and its resources), from the
    /// browser's own record of its requests.
    pub fn requested(&self) -> Vec<String> {
        let v = self.script(
            "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));",
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.rt
            .block_on(self.c().get_named_cookie(name))
            .ok()
            .map(|c| c.value().to_string())
    }

    /// Saves a PNG of the window as `target/screenshots/{name}.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.rt.block_on(self.c().screenshot()).unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Signs in to `e`'s dashboard with `key`, as a person does: the
    /// dashboard sends them to the sign-in page first.
    pub fn sign_in(&self, e: &crate::Envoi, key: &str) {
        self.goto(&e.url("/ui/"));
        assert!(
            self.url().contains("/ui/login"),
            "not sent to sign in: {}",
            self.url()
        );
        self.fill("key", key);
        self.click("form.signin button[type=submit]");
    }

    /// A view's screenshot as a test artefact, and for README when
    /// blessing (`ENVOI_BLESS=1` copies it to `docs/screenshots/`).
    pub fn shot(&self, name: &str) {
        let path = self.screenshot(name);
        if std::env::var_os("ENVOI_BLESS").is_some() {
            let docs = crate::workspace_root().join("docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::copy(&path, docs.join(format!("{name}.png"))).unwrap();
        }
    }

    /// What axe-core (`axe`: its `axe.min.js`) finds against WCAG 2.1 A
    /// and AA on the current page: each violation's rule, impact, help and
    /// the elements concerned.
    pub fn accessibility_violations(&self, axe: &str) -> Vec<Value> {
        let js = format!(
            "{axe}\n;return axe.run(document, {{runOnly: {{type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}}})\
             .then(r => r.violations.map(v => ({{id: v.id, impact: v.impact, help: v.help, \
             nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}})));"
        );
        match self.script(&js) {
            Value::Array(v) => v,
            other => panic!("axe gave no list: {other}"),
        }
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.rt
            .block_on(self.c().set_window_size(width, height))
            .unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
