//! Test harness: runs the real `envoi` binary on loopback with its own
//! directory, config and port, and talks to it over HTTP like a user would.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client, RequestBuilder, Response};

pub mod browser;
pub mod ca;
pub mod dkim;
pub mod dns;
pub mod sink;
pub mod smtp_client;
pub mod webhook_receiver;
pub mod world;
use serde_json::Value;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// The master key every node on a test PostgreSQL store shares (envoi
/// requires one there, the same on every node).
pub const TEST_MASTER_KEY: &str =
    "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

static BUILD: Once = Once::new();

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `envoi` binary, built once per test run (same profile as the tests),
/// or `ENVOI_BIN` when set (benchmarks comparing two builds).
pub fn envoi_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ENVOI_BIN") {
        return PathBuf::from(bin);
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    BUILD.call_once(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root())
            .args(["build", "-q", "-p", "gateway", "--bin", "envoi"]);
        if profile == "release" {
            cmd.arg("--release");
        }
        // Run outside cargo (the benchmarks), rustup would take the toolchain
        // a dependency's own rust-toolchain.toml names: keep ours.
        if let (Some(tc), None) = (
            option_env!("RUSTUP_TOOLCHAIN"),
            std::env::var_os("RUSTUP_TOOLCHAIN"),
        ) {
            cmd.env("RUSTUP_TOOLCHAIN", tc);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building envoi failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join(profile).join("envoi")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("envoi-{tag}-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A new, empty database on the PostgreSQL server named by
/// `ENVOI_TEST_POSTGRES_URL` (a URL whose user may create databases), or
/// `None` when that variable is unset.
pub fn fresh_postgres() -> Option<String> {
    // Unset: a failure on CI, a skip (with a message) elsewhere.
    let base = test_postgres_url()?;
    let name = format!("envoi_test_{:016x}", rand::random::<u64>());
    let out = Command::new("psql")
        .args([base.as_str(), "-qAtc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("run psql (install postgresql-client)");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Replace the database part of the URL, keeping any query string.
    let (head, query) = base
        .split_once('?')
        .map_or((base.as_str(), ""), |(h, q)| (h, q));
    let authority_end = head.find("://").map_or(0, |i| i + 3);
    let root = match head[authority_end..].find('/') {
        Some(i) => &head[..authority_end + i],
        None => head,
    };
    Some(if query.is_empty() {
        format!("{root}/{name}")
    } else {
        format!("{root}/{name}?{query}")
    })
}

/// One value from PostgreSQL (`psql -At`), trimmed: for tests that look at a
/// store several nodes share.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .expect("run psql (install postgresql-client)");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// True when PostgreSQL tests must run (CI), so a missing server is a failure.
pub fn postgres_required() -> bool {
    std::env::var_os("CI").is_some()
}

/// `ENVOI_TEST_POSTGRES_URL` for a test that needs a PostgreSQL server: a
/// failure on CI when unset, elsewhere `None` with a message (the test is
/// skipped).
pub fn test_postgres_url() -> Option<String> {
    match std::env::var("ENVOI_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                !postgres_required(),
                "ENVOI_TEST_POSTGRES_URL is required on CI"
            );
            eprintln!("skipped: ENVOI_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// `envoi check-config --config PATH`, run to its end.
pub fn check_config(path: &std::path::Path) -> std::process::Output {
    Command::new(envoi_bin())
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

/// A running envoi. Killed (and its directory removed) on drop.
pub struct Envoi {
    pub dir: PathBuf,
    pub port: u16,
    /// The SMTP submission port.
    pub smtp_port: u16,
    /// The bounce and complaint listener's port, when `Options::inbound`
    /// asked for one.
    pub inbound_port: Option<u16>,
    pub config_path: PathBuf,
    child: Option<Child>,
    pub env: Vec<(String, String)>,
    pub client: Client,
    pub stderr_log: PathBuf,
    /// The store this envoi runs on (tests may reach in to damage it).
    pub store_url: String,
}

pub struct Options {
    /// Extra TOML appended to the generated config.
    pub extra_config: String,
    /// Extra keys for the `[smtp]` table (which the harness writes itself).
    pub smtp_extra: String,
    /// Extra keys for the `[http]` table (likewise).
    pub http_extra: String,
    /// Keys for an `[inbound]` table with a listener: the harness picks its
    /// port (like the others, picked again when taken at start-up).
    pub inbound: Option<String>,
    pub admin_key: Option<String>,
    pub store_url: Option<String>,
}

impl Options {
    /// An inbound listener (bounces, complaints, reports) for `bounce_domain`.
    pub fn with_bounce_domain(bounce_domain: &str) -> Options {
        Options {
            inbound: Some(format!("bounce_domain = \"{bounce_domain}\"")),
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            extra_config: String::new(),
            smtp_extra: String::new(),
            http_extra: String::new(),
            inbound: None,
            admin_key: Some(ADMIN_KEY.to_string()),
            store_url: None,
        }
    }
}

impl Envoi {
    pub fn start() -> Envoi {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Envoi {
        let dir = temp_dir("e2e");
        let port = free_port();
        let smtp_port = free_port();
        let inbound_port = opts.inbound.as_ref().map(|_| free_port());
        // ENVOI_TEST_STORE=postgres runs every end-to-end test on PostgreSQL.
        let store = opts
            .store_url
            .or_else(|| {
                (std::env::var("ENVOI_TEST_STORE").as_deref() == Ok("postgres"))
                    .then(|| fresh_postgres().expect("ENVOI_TEST_POSTGRES_URL is not set"))
            })
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("envoi.db").display()));
        // Tests never reach the Internet: without a [delivery] table of the
        // test's own, deliveries go to a closed local port and are retried.
        let delivery = if opts.extra_config.contains("[delivery]") {
            String::new()
        } else {
            "[delivery]\nrelay = \"127.0.0.1:9\"\nconnect_timeout = \"1s\"\n".to_string()
        };
        let config_for = |port: u16, smtp_port: u16, inbound_port: Option<u16>| {
            let inbound = match (inbound_port, &opts.inbound) {
                (Some(p), Some(keys)) => {
                    format!("[inbound]\nlisten = \"127.0.0.1:{p}\"\n{keys}\n")
                }
                _ => String::new(),
            };
            format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\n{}\n[smtp]\nlisten = \"127.0.0.1:{smtp_port}\"\n{}\n[store]\nurl = \"{store}\"\n{delivery}{inbound}{}\n",
                opts.http_extra, opts.smtp_extra, opts.extra_config
            )
        };
        let config_path = dir.join("envoi.toml");
        std::fs::write(&config_path, config_for(port, smtp_port, inbound_port)).unwrap();
        let mut env = vec![("ENVOI_LOG".to_string(), "info,sqlx=warn".to_string())];
        if let Some(k) = opts.admin_key {
            env.push(("ENVOI_ADMIN_KEY".into(), k));
        }
        if store.starts_with("postgres") {
            env.push(("ENVOI_MASTER_KEY".into(), TEST_MASTER_KEY.into()));
        }
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let stderr_log = dir.join("stderr.log");
        let mut e = Envoi {
            dir,
            port,
            smtp_port,
            inbound_port,
            config_path,
            child: None,
            env,
            client,
            stderr_log,
            store_url: store.clone(),
        };
        // A port picked free can be taken by someone else before envoi binds
        // it (tests run in parallel): pick others and try again.
        for attempt in 1.. {
            match e.try_spawn() {
                Ok(()) => break,
                Err(why) if attempt < 5 && why.contains("Address already in use") => {
                    e.port = free_port();
                    e.smtp_port = free_port();
                    e.inbound_port = e.inbound_port.map(|_| free_port());
                    let config = config_for(e.port, e.smtp_port, e.inbound_port);
                    std::fs::write(&e.config_path, config).unwrap();
                }
                Err(why) => panic!("{why}"),
            }
        }
        e
    }

    fn spawn(&mut self) {
        if let Err(why) = self.try_spawn() {
            panic!("{why}");
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_log)
            .unwrap();
        let mut cmd = Command::new(envoi_bin());
        cmd.current_dir(&self.dir)
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .env_remove("ENVOI_ADMIN_KEY")
            .env_remove("ENVOI_MASTER_KEY")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn envoi"));
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(self.url("/healthz")).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "envoi exited during start-up ({status}):\n{}",
                    self.stderr()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "envoi did not become ready:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// kill -9: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "envoi did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    /// Like `restart`, but a start-up that fails is returned (with the log)
    /// instead of failing the test.
    pub fn try_restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            self.kill9();
        }
        self.try_spawn()
    }

    /// Sets (or replaces) an environment variable for the next start.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.into(), value.into()));
    }

    pub fn get(&self, path: &str, key: &str) -> RequestBuilder {
        self.client.get(self.url(path)).basic_auth("api", Some(key))
    }
    pub fn post(&self, path: &str, key: &str) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .basic_auth("api", Some(key))
    }
    pub fn put(&self, path: &str, key: &str) -> RequestBuilder {
        self.client.put(self.url(path)).basic_auth("api", Some(key))
    }
    pub fn delete(&self, path: &str, key: &str) -> RequestBuilder {
        self.client
            .delete(self.url(path))
            .basic_auth("api", Some(key))
    }

    /// Create a domain with the admin key (RSA 1024: quick to generate).
    pub fn create_domain(&self, name: &str) -> Value {
        let r = self
            .post("/v4/domains", ADMIN_KEY)
            .form(&[("name", name), ("dkim_key_size", "1024")])
            .send()
            .unwrap();
        expect_json(r, 200)
    }

    /// A sending key for `domain`; returns the secret.
    pub fn sending_key(&self, domain: &str) -> String {
        let r = self
            .post("/v1/keys", ADMIN_KEY)
            .form(&[
                ("role", "sending"),
                ("kind", "domain"),
                ("domain_name", domain),
            ])
            .send()
            .unwrap();
        expect_json(r, 200)["secret"].as_str().unwrap().to_string()
    }

    pub fn events(&self, domain: &str, query: &str) -> Vec<Value> {
        self.items(&format!("/v3/{domain}/events?{query}"))
    }

    /// The `items` of a list endpoint, read with the account key (200).
    pub fn items(&self, path: &str) -> Vec<Value> {
        let r = self.get(path, ADMIN_KEY).send().unwrap();
        expect_json(r, 200)["items"].as_array().unwrap().clone()
    }

    /// The process id of the running envoi (benchmarks read /proc with it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("envoi is running").id()
    }

    /// Polls the events API until `query` matches at least one event.
    pub fn wait_event(&self, domain: &str, query: &str, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(e) = self.events(domain, query).into_iter().next() {
                return e;
            }
            assert!(
                start.elapsed() < within,
                "no event matching {query:?} for {domain} within {within:?}; log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last part of envoi's stderr, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let start = log.len().saturating_sub(6000);
        log[log.floor_char_boundary(start)..].to_string()
    }

    /// Sends a small message with the admin key; returns the bare Message-Id.
    pub fn send(&self, domain: &str, to: &str, extra: &[(&str, &str)]) -> String {
        let from = format!("sender@{domain}");
        let mut fields = vec![
            ("from", from.as_str()),
            ("to", to),
            ("subject", "Hello"),
            ("text", "Delivered by envoi."),
        ];
        fields.extend_from_slice(extra);
        let r = self
            .post(&format!("/v3/{domain}/messages"), ADMIN_KEY)
            .form(&fields)
            .send()
            .unwrap();
        expect_json(r, 200)["id"]
            .as_str()
            .unwrap()
            .trim_matches(['<', '>'])
            .to_string()
    }

    /// Creates the SMTP credential `login@domain` with the admin key.
    pub fn create_credential(&self, domain: &str, login: &str, password: &str) {
        let r = self
            .post(&format!("/v3/domains/{domain}/credentials"), ADMIN_KEY)
            .form(&[("login", login), ("password", password)])
            .send()
            .unwrap();
        expect_json(r, 200);
    }

    /// A new SMTP credential `app@domain`, and a session logged in with it
    /// (plain AUTH: the test's config must allow it without TLS).
    pub fn smtp_as_app(&self, domain: &str) -> smtp_client::RawSmtp {
        self.create_credential(domain, "app", "pass-word-1");
        let (mut c, _) = smtp_client::RawSmtp::connect(self.smtp_port);
        let reply = c.login(&format!("app@{domain}"), "pass-word-1");
        assert!(reply.starts_with("235"), "{reply}");
        c
    }

    /// Runs SQL against this envoi's own store, as damage from outside
    /// would: `$1` is `value`, `$2` the row (a message id, a DKIM selector, a
    /// key id; angle brackets are taken off). Exactly one row must change.
    pub fn damage<T>(&self, sql: &str, value: T, row: &str)
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'static,
    {
        let url = self.store_url.clone();
        let sql = sql.to_string();
        let row = row.trim_matches(['<', '>']).to_string();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                sqlx::any::install_default_drivers();
                let pool = sqlx::AnyPool::connect(&url).await.unwrap();
                let n = sqlx::query(&sql)
                    .bind(value)
                    .bind(row)
                    .execute(&pool)
                    .await
                    .unwrap()
                    .rows_affected();
                assert_eq!(n, 1, "the damage reached one row");
                pool.close().await;
            });
    }

    /// The stored message (with `body-mime`) behind an event's storage key.
    pub fn stored(&self, domain: &str, storage_key: &str) -> Value {
        let r = self
            .get(
                &format!("/v3/domains/{domain}/messages/{storage_key}"),
                ADMIN_KEY,
            )
            .header("Accept", "message/rfc2822")
            .send()
            .unwrap();
        expect_json(r, 200)
    }
}

impl Drop for Envoi {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("envoi stderr ({}):\n{}", self.dir.display(), self.stderr());
        }
    }
}

/// Assert the status and that the body is JSON; return it.
pub fn expect_json(r: Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert!(
        ctype.starts_with("application/json"),
        "content-type {ctype:?}, body {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Assert an error status with a JSON `message` containing every `needle`
/// (case-insensitive); return the message.
pub fn expect_error(r: Response, status: u16, needles: &[&str]) -> String {
    let v = expect_json(r, status);
    let msg = v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {v}"))
        .to_string();
    for n in needles {
        assert!(
            msg.to_lowercase().contains(&n.to_lowercase()),
            "message {msg:?} does not mention {n:?}"
        );
    }
    msg
}

pub fn text_part(name: &str, value: &str) -> (String, multipart::Part) {
    (name.to_string(), multipart::Part::text(value.to_string()))
}

pub fn form_of(parts: Vec<(String, multipart::Part)>) -> multipart::Form {
    parts
        .into_iter()
        .fold(multipart::Form::new(), |f, (n, p)| f.part(n, p))
}
