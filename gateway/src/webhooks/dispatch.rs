//! Makes the webhook calls: turns new events into calls (`store::webhooks`),
//! leases the due ones, POSTs them signed, and records what became of each
//! as `policy::webhooks::after` says.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use policy::webhooks::{after, Answer, Kind, Next};

use super::signing;
use crate::config::WebhooksConfig;
use crate::crypto::MasterKey;
use crate::store::webhook_history::CallOutcome;
use crate::store::webhooks::{CallResult, DueCall};
use crate::store::{now_micros, Store};

/// How often new events and due retries are looked for.
const POLL: Duration = Duration::from_millis(500);
/// Calls leased at a time, and made at once.
const BATCH: i64 = 64;
const CONCURRENCY: usize = 16;

/// What the webhook calls take: no more.
pub struct Context {
    pub store: Store,
    /// Opens the signing key.
    pub master_key: MasterKey,
    pub config: WebhooksConfig,
    /// `[delivery].extra_ca_file`: endpoints are trusted as MXs are.
    pub extra_ca_file: Option<std::path::PathBuf>,
}

/// Runs until `stop`. A batch in flight is finished first (each call is
/// bounded by `[webhooks].timeout`).
/// One node of a cluster makes the calls (`runner`), so each event is
/// called out once, in order.
pub async fn run(
    app: Context,
    runner: crate::cluster::singleton::Singleton,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = match client(&app) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks are off: cannot build the HTTP client");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        if !runner.mine().await {
            continue;
        }
        if let Err(e) = app
            .store
            .scan_events_for_webhooks(|event, severity| {
                Kind::of_event(event, severity).map(Kind::as_str)
            })
            .await
        {
            tracing::error!(error = %e, "could not turn new events into webhook calls");
            continue;
        }
        loop {
            match call_due(&app, &client).await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, "webhook calls");
                    break;
                }
            }
        }
    }
}

fn client(app: &Context) -> Result<reqwest::Client, String> {
    let tls = crate::net::tls::TlsClient::new(app.extra_ca_file.as_deref())?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls.https_config())
        .timeout(app.config.timeout.0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("envoi-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Key(#[from] signing::SigningKeyError),
}

/// Makes the calls due now; how many there were.
async fn call_due(app: &Context, client: &reqwest::Client) -> Result<usize, CallError> {
    let timeout = app.config.timeout.0;
    // Long enough for every call of the batch; a node that dies leaves
    // its calls due again after it.
    let lease = now_micros() + (timeout * 4 + Duration::from_secs(30)).as_micros() as i64;
    let calls = app.store.lease_webhook_calls(BATCH, lease).await?;
    if calls.is_empty() {
        return Ok(0);
    }
    let key = signing::key(&app.store, &app.master_key).await?;
    let n = calls.len();
    let results: Vec<CallResult> = stream::iter(calls)
        .map(|c| call(app, client, &key, c))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    app.store.finish_webhook_calls(&results).await?;
    Ok(n)
}

async fn call(app: &Context, client: &reqwest::Client, key: &str, c: DueCall) -> CallResult {
    let Some(event) = &c.event else {
        tracing::warn!(url = %c.url, kind = %c.kind, "webhook call dropped: its event is gone");
        return CallResult::Finished {
            id: c.id,
            outcome: CallOutcome::EventGone,
            answer: "not called: the event is gone".into(),
        };
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let signature = signing::sign(key, now.as_secs());
    // The event is stored as the JSON the events API shows: used as is.
    let body = format!(
        r#"{{"signature":{},"event-data":{}}}"#,
        serde_json::to_string(&signature).expect("signature serialises"),
        event
    );
    let sent = client
        .post(&c.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let (answer, error) = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (Answer::Status(status), format!("HTTP {status}"))
        }
        Err(e) => (Answer::Unreachable, describe(&e)),
    };
    let attempt = c.attempts as u32 + 1;
    let schedule: Vec<Duration> = app.config.retry_schedule.iter().map(|d| d.0).collect();
    match after(answer, attempt, &schedule) {
        Next::Done => {
            tracing::debug!(url = %c.url, kind = %c.kind, attempt, "webhook delivered");
            crate::telemetry::webhook_call("ok");
            CallResult::Finished {
                id: c.id,
                outcome: CallOutcome::Delivered,
                answer: error,
            }
        }
        Next::Refused => {
            tracing::info!(url = %c.url, kind = %c.kind, attempt, "webhook refused with 406: not retried");
            crate::telemetry::webhook_call("refused");
            CallResult::Finished {
                id: c.id,
                outcome: CallOutcome::Refused,
                answer: error,
            }
        }
        Next::GaveUp => {
            tracing::warn!(url = %c.url, kind = %c.kind, attempt, error = %error, domain_id = c.domain_id,
                "webhook given up after its last retry");
            crate::telemetry::webhook_call("given_up");
            CallResult::Finished {
                id: c.id,
                outcome: CallOutcome::GivenUp,
                answer: error,
            }
        }
        Next::RetryIn(wait) => {
            tracing::info!(url = %c.url, kind = %c.kind, attempt, error = %error,
                retry_in = %humantime::format_duration(wait), "webhook failed; will retry");
            crate::telemetry::webhook_call("retry");
            CallResult::Retry {
                id: c.id,
                next_at: now_micros() + wait.as_micros() as i64,
                error,
            }
        }
    }
}

/// reqwest's error with its causes (the top one alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
