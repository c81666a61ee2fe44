//! A webhook receiver on loopback: a real HTTP server (axum) that records
//! every call, answers with scripted statuses, and checks signatures the way
//! Mailgun's SDKs do: hex HMAC-SHA256(signing key, timestamp + token).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use serde_json::Value;

/// One call as received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The path's last segment: which hook URL was called.
    pub hook: String,
    pub body: Value,
    pub at: Instant,
}

impl Call {
    pub fn event(&self) -> &str {
        self.body["event-data"]["event"]
            .as_str()
            .unwrap_or_default()
    }

    /// Whether its signature holds under `key`.
    pub fn signed_with(&self, key: &str) -> bool {
        verify(key, &self.body)
    }
}

#[derive(Default)]
struct Shared {
    calls: Mutex<Vec<Call>>,
    /// Statuses to answer per hook, in order; 200 once they run out.
    answers: Mutex<HashMap<String, VecDeque<u16>>>,
}

pub struct WebhookReceiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _rt: tokio::runtime::Runtime,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared::default());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hooks/{hook}", axum::routing::post(receive))
            .with_state(shared.clone());
        rt.spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver {
            addr,
            shared,
            _rt: rt,
        }
    }

    /// The URL of one hook.
    pub fn url(&self, hook: &str) -> String {
        format!("http://{}/hooks/{hook}", self.addr)
    }

    /// Answer the next calls to `hook` with these statuses, then 200.
    pub fn answer(&self, hook: &str, statuses: &[u16]) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .insert(hook.to_string(), statuses.iter().copied().collect());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    pub fn calls_to(&self, hook: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.hook == hook)
            .collect()
    }

    /// Waits until `hook` was called `n` times; those calls.
    pub fn wait_for(&self, hook: &str, n: usize, within: Duration) -> Vec<Call> {
        let start = Instant::now();
        loop {
            let calls = self.calls_to(hook);
            if calls.len() >= n {
                return calls;
            }
            assert!(
                start.elapsed() < within,
                "{hook}: {} of {n} calls after {within:?}: {:?}",
                calls.len(),
                self.calls().iter().map(|c| &c.hook).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(hook): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.calls.lock().unwrap().push(Call {
        hook: hook.clone(),
        body,
        at: Instant::now(),
    });
    let status = shared
        .answers
        .lock()
        .unwrap()
        .get_mut(&hook)
        .and_then(VecDeque::pop_front)
        .unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// Mailgun's check, as its SDKs do it (timestamp and token as strings).
pub fn verify(key: &str, body: &Value) -> bool {
    let sig = &body["signature"];
    let (Some(timestamp), Some(token), Some(signature)) = (
        sig["timestamp"].as_str(),
        sig["token"].as_str(),
        sig["signature"].as_str(),
    ) else {
        return false;
    };
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&expected).is_ok()
}
