//! The TOML configuration of contract §1. Every key is optional; unknown keys
//! are an error that names the key (serde's `deny_unknown_fields`).

pub mod reference;
mod units;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
pub use units::{format_duration, format_size, parse_duration, parse_size, ByteSize, Dur};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub smtp: SmtpConfig,
    pub inbound: InboundConfig,
    pub store: StoreConfig,
    pub delivery: DeliveryConfig,
    pub limits: LimitsConfig,
    pub policy: PolicyConfig,
    pub dkim: DkimConfig,
    pub webhooks: WebhooksConfig,
    pub cluster: ClusterConfig,
    pub events: EventsConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port of the HTTP API (and of `/healthz`, `/readyz`).
    pub listen: SocketAddr,
    /// Base of unsubscribe links and of absolute paging URLs when set.
    pub public_url: Option<String>,
    /// envoi's own: a request's headers must arrive within this (hyper's
    /// header read timeout; also how long an idle keep-alive connection
    /// waits for its next request).
    pub header_read_timeout: Dur,
    /// envoi's own: a request's whole body must arrive within this, so a
    /// client dripping bytes cannot hold a connection and its buffer.
    pub body_read_timeout: Dur,
    /// envoi's own: bytes of request bodies being received at once, over
    /// every connection; past it a request gets 503 with Retry-After.
    pub max_inflight_bytes: ByteSize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".parse().unwrap(),
            public_url: None,
            header_read_timeout: Dur(Duration::from_secs(30)),
            body_read_timeout: Dur(Duration::from_secs(300)),
            max_inflight_bytes: ByteSize(256 << 20),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Address and port of SMTP submission (STARTTLS and AUTH).
    pub listen: SocketAddr,
    /// PEM certificate chain offered with STARTTLS. Without it (and tls_key),
    /// AUTH is accepted only from loopback, in plaintext.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of tls_cert.
    pub tls_key: Option<PathBuf>,
    /// AUTH without TLS from any address: for tests on a private network only.
    pub allow_plain_auth_without_tls: bool,
    /// The largest message accepted, over SMTP and HTTP alike.
    pub max_message_size: ByteSize,
    /// envoi's own: a silent client is told 421 and dropped after this.
    pub idle_timeout: Dur,
    /// envoi's own: more simultaneous clients are told 421.
    pub max_connections: u32,
    /// envoi's own: bytes of DATA being received at once, over every
    /// session; past it a session's DATA waits, then gets 451 4.3.1.
    pub max_inflight_bytes: ByteSize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: "127.0.0.1:2587".parse().unwrap(),
            tls_cert: None,
            tls_key: None,
            allow_plain_auth_without_tls: false,
            max_message_size: ByteSize(25_000_000),
            idle_timeout: Dur(Duration::from_secs(300)),
            max_connections: 1000,
            max_inflight_bytes: ByteSize(256 << 20),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Address and port where bounces (DSN), complaints (ARF) and DMARC/TLS
    /// reports arrive by SMTP; unset: no inbound listener.
    pub listen: Option<SocketAddr>,
    /// The domain of VERP return paths (its MX must point at `listen`).
    pub bounce_domain: Option<String>,
}

#[allow(clippy::derivable_impls)]
impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            listen: None,
            bounce_domain: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (one node) or `postgres://USER:PASS@HOST/DB` (one or more).
    pub url: String,
    /// envoi's own: how long PostgreSQL has to answer at start (each
    /// attempt is logged); past it, envoi stops with the cause.
    pub connect_timeout: Dur,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://./envoi.db".into(),
            connect_timeout: Dur(crate::store::DEFAULT_CONNECT_TIMEOUT),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// DNS servers for MX lookups ("ip:port"); empty: the system's resolver.
    pub nameservers: Vec<SocketAddr>,
    /// The port of recipients' MXs (25; tests use others).
    pub port: u16,
    /// PEM file of more certificate authorities to trust for MX certificates.
    pub extra_ca_file: Option<PathBuf>,
    /// The name said in EHLO; default: the host name when it is a full name.
    pub helo_name: Option<String>,
    /// "host:port" of a smarthost taking every message; empty: direct to MXs.
    pub relay: String,
    /// Waits before each retry of a temporary failure (the last one repeats).
    pub retry_schedule: Vec<Dur>,
    /// A message not delivered after this fails for good (Mailgun: 3 days).
    pub max_age: Dur,
    /// How long a TCP connection to an MX may take.
    pub connect_timeout: Dur,
    /// envoi's own, one for each phase of a delivery session (the reply to
    /// each command, and each write); defaults are RFC 5321 §4.5.3.2's and
    /// Postfix's. `transfer_timeout` applies per 64 KiB of message.
    pub greeting_timeout: Dur,
    /// Waiting for the reply to EHLO.
    pub ehlo_timeout: Dur,
    /// Waiting for the reply to STARTTLS and the handshake.
    pub starttls_timeout: Dur,
    /// Waiting for the reply to MAIL FROM.
    pub mail_timeout: Dur,
    /// Waiting for the reply to each RCPT TO.
    pub rcpt_timeout: Dur,
    /// Waiting for the reply to DATA.
    pub data_timeout: Dur,
    /// Sending each 64 KiB of the message.
    pub transfer_timeout: Dur,
    /// Waiting for the reply to the final dot.
    pub final_dot_timeout: Dur,
    /// envoi's own: how long a connection to an MX stays open after a batch,
    /// for the next batch to the same MX (Postfix's connection cache time).
    pub idle_connection_time: Dur,
}

impl DeliveryConfig {
    /// The name envoi says in EHLO and that SPF records authorise:
    /// `helo_name`, else the host's `HOSTNAME` when it is a full name, else
    /// `localhost` (fine for tests only).
    pub fn helo(&self) -> String {
        self.helo_name.clone().unwrap_or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|h| h.contains('.'))
                .unwrap_or_else(|| "localhost".into())
        })
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            nameservers: Vec::new(),
            port: 25,
            extra_ca_file: None,
            helo_name: None,
            relay: String::new(),
            retry_schedule: ["1m", "5m", "30m", "2h", "6h"]
                .iter()
                .map(|s| Dur(parse_duration(s).unwrap()))
                .collect(),
            max_age: Dur(Duration::from_secs(3 * 86400)),
            connect_timeout: Dur(Duration::from_secs(30)),
            greeting_timeout: Dur(Duration::from_secs(300)),
            ehlo_timeout: Dur(Duration::from_secs(300)),
            starttls_timeout: Dur(Duration::from_secs(300)),
            mail_timeout: Dur(Duration::from_secs(300)),
            rcpt_timeout: Dur(Duration::from_secs(300)),
            data_timeout: Dur(Duration::from_secs(120)),
            transfer_timeout: Dur(Duration::from_secs(180)),
            final_dot_timeout: Dur(Duration::from_secs(600)),
            idle_connection_time: Dur(Duration::from_secs(2)),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// HTTP requests per second for one API key (0 = unlimited).
    pub requests_per_second_per_key: u32,
    /// envoi's own: HTTP sends per second for one domain, whichever key.
    pub requests_per_second_per_domain: u32,
    /// Recipients accepted per hour for one domain, HTTP and SMTP (0 = unlimited).
    pub messages_per_hour_per_domain: u32,
    /// Recipients accepted per day for one domain (0 = unlimited).
    pub messages_per_day_per_domain: u32,
    /// Messages per second to one recipient domain, from the whole cluster.
    pub per_destination_messages_per_second: u32,
    /// Connections open at once to one recipient domain, over the cluster.
    pub per_destination_connections: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            requests_per_second_per_key: 100,
            requests_per_second_per_domain: 0,
            messages_per_hour_per_domain: 0,
            messages_per_day_per_domain: 0,
            per_destination_messages_per_second: 50,
            per_destination_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The period over which bounce, complaint and unsubscribe rates are counted.
    pub window: Dur,
    /// Messages a domain must have sent in the window before its rates count.
    pub min_sample: u64,
    /// Bounce rate over delivered: above it the domain is warned, above twice
    /// it suspended (5 %).
    pub bounce_rate: f64,
    /// Complaint rate: warned above it, suspended above twice it (0.8 %).
    pub complaint_rate: f64,
    /// Unsubscribe rate: warned above it, suspended above twice it (1.4 %).
    pub unsubscribe_rate: f64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            window: Dur(Duration::from_secs(30 * 86400)),
            min_sample: 100,
            bounce_rate: 0.05,
            complaint_rate: 0.008,
            unsubscribe_rate: 0.014,
        }
    }
}

/// envoi's own: how often automatic DKIM rotation looks for domains due a
/// new key and for rotated keys whose record is now published.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DkimConfig {
    /// How often domains due a new key and published rotated keys are looked for.
    pub rotation_check: Dur,
}

impl Default for DkimConfig {
    fn default() -> Self {
        DkimConfig {
            rotation_check: Dur(Duration::from_secs(300)),
        }
    }
}

/// envoi's own: how webhook calls are made and retried. Mailgun retries
/// for 8 hours: after 5 min, 10 min, 15 min, 1 h, 2 h and 4 h.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// The waits before each retry; after the last, the call is given up.
    pub retry_schedule: Vec<Dur>,
    /// How long a receiver has to answer.
    pub timeout: Dur,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let m = |n: u64| Dur(Duration::from_secs(n * 60));
        WebhooksConfig {
            retry_schedule: vec![m(5), m(10), m(15), m(60), m(120), m(240)],
            timeout: Dur(Duration::from_secs(10)),
        }
    }
}

/// How long events and stored messages are kept (Mailgun keeps its event
/// logs for a number of days, by plan, and stored messages for 3 days).
/// Older ones are pruned by one node, the events' counts kept by the hour
/// for the stats.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Events older than this are pruned (their counts stay in the stats).
    pub retention: Dur,
    /// A message's stored MIME (GET /v3/domains/{domain}/messages/{key})
    /// is removed this long after it was accepted, once every recipient is
    /// delivered or failed; a message still queued or held stays. Whom it
    /// was sent to stays as long as its events (`retention`), so its
    /// unsubscribe links, late bounces and complaints still count.
    pub message_retention: Dur,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            retention: Dur(Duration::from_secs(30 * 86400)),
            message_retention: Dur(Duration::from_secs(3 * 86400)),
        }
    }
}

/// envoi's own: how logs are written (levels: the `ENVOI_LOG` variable,
/// as `RUST_LOG`, default "info,sqlx=warn").
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "text" for people, "json" for one object per line (log collectors).
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// envoi's own: `GET /metrics`, Prometheus' text format.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Who may read /metrics: "loopback" (clients on this machine, or
    /// anyone with the account key; a request forwarded by a proxy needs
    /// the key), "account_key" (the account key only), "open" (anyone who
    /// reaches the HTTP listener) or "off".
    pub access: MetricsAccess,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    #[default]
    Loopback,
    AccountKey,
    Open,
    Off,
}

/// envoi's own: several nodes on one PostgreSQL store.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's name, the same across its restarts (a restart hands
    /// back what the name's earlier run held, at once). Default: the host
    /// name and the HTTP port, `host:8080`.
    pub node_name: Option<String>,
    /// A node silent this long is taken for dead: any peer takes its
    /// leases. Each node beats five times per `lease_timeout`.
    pub lease_timeout: Dur,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_name: None,
            lease_timeout: Dur(Duration::from_secs(30)),
        }
    }
}

impl Config {
    /// `[cluster].node_name`, or the host name and the HTTP port.
    pub fn node_name(&self) -> String {
        self.cluster.node_name.clone().unwrap_or_else(|| {
            let host = hostname();
            format!("{host}:{}", self.http.listen.port())
        })
    }

    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let config = Self::parse(&text).map_err(|e| match e {
            ConfigError::Invalid(message) => ConfigError::Parse {
                path: path.into(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.events.retention.0 < Duration::from_secs(3600) {
            return Err(ConfigError::Invalid(
                "[events] retention must be at least 1h (events are pruned, and counted for the stats, by the hour)".into(),
            ));
        }
        if self.events.message_retention.0 < Duration::from_secs(3600) {
            return Err(ConfigError::Invalid(
                "[events] message_retention must be at least 1h (a message is kept at least until it is delivered or failed, and looked at for an hour after)".into(),
            ));
        }
        if self.cluster.lease_timeout.0 < Duration::from_secs(1) {
            return Err(ConfigError::Invalid(
                "[cluster] lease_timeout must be at least 1s (nodes beat five times per lease_timeout)".into(),
            ));
        }
        if self.smtp.tls_cert.is_some() != self.smtp.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "[smtp] tls_cert and tls_key must be set together".into(),
            ));
        }
        if self.delivery.retry_schedule.is_empty() {
            return Err(ConfigError::Invalid(
                "[delivery] retry_schedule needs at least one duration".into(),
            ));
        }
        if !self.delivery.relay.is_empty() && !self.delivery.relay.contains(':') {
            return Err(ConfigError::Invalid(format!(
                "[delivery] relay = {:?}: expected \"host:port\"",
                self.delivery.relay
            )));
        }
        if !(self.store.url.starts_with("sqlite:")
            || self.store.url.starts_with("postgres:")
            || self.store.url.starts_with("postgresql:"))
        {
            return Err(ConfigError::Invalid(format!(
                "[store] url = {:?}: expected sqlite://PATH or postgres://USER:PASS@HOST/DB",
                self.store.url
            )));
        }
        for (table, budget) in [
            ("http", self.http.max_inflight_bytes),
            ("smtp", self.smtp.max_inflight_bytes),
        ] {
            // A read is at most 64 KiB: a smaller budget could never hold one.
            if budget.0 < self.smtp.max_message_size.0.max(64 * 1024) {
                return Err(ConfigError::Invalid(format!(
                    "[{table}] max_inflight_bytes = {} bytes is less than [smtp].max_message_size = {} bytes (or 64 KiB): one message must fit; raise it",
                    budget.0, self.smtp.max_message_size.0
                )));
            }
        }
        for (name, d) in [
            ("[http] header_read_timeout", self.http.header_read_timeout),
            ("[http] body_read_timeout", self.http.body_read_timeout),
            ("[smtp] idle_timeout", self.smtp.idle_timeout),
        ] {
            if d.0.is_zero() {
                return Err(ConfigError::Invalid(format!(
                    "{name} = \"0s\": it must be longer than zero, or every client would be cut off"
                )));
            }
        }
        for (name, rate) in [
            ("bounce_rate", self.policy.bounce_rate),
            ("complaint_rate", self.policy.complaint_rate),
            ("unsubscribe_rate", self.policy.unsubscribe_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::Invalid(format!(
                    "[policy] {name} = {rate}: expected a fraction between 0 and 1"
                )));
            }
        }
        Ok(())
    }

    /// The message size limit shared by HTTP and SMTP.
    pub fn max_message_size(&self) -> usize {
        self.smtp.max_message_size.0 as usize
    }
}

#[cfg(test)]
mod tests;

/// This machine's name (`/etc/hostname`, `$HOSTNAME`), or "localhost".
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
