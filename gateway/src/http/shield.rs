//! What every request passes before its handler, so no client can hold the
//! API hostage or guess keys at speed:
//! - an address that sent too many wrong keys gets 429 until its window
//!   ends (the right key from another address still works);
//! - headers over `MAX_HEADER_BYTES` get 431 with a JSON message;
//! - the body must arrive within `[http].body_read_timeout`, and the bytes
//!   being received over all connections stay within
//!   `[http].max_inflight_bytes` (past it: 503 with Retry-After).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{ApiError, WrongKey};
use crate::app::App;
use crate::guard::Guard;

/// Total size of a request's header fields (names and values). Mailgun's
/// clients send well under 8 KiB; hyper reads at most `HYPER_BUFFER`.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's read buffer: big enough that an oversized header section reaches
/// this shield and gets a JSON 431 rather than hyper's empty one.
pub const HYPER_BUFFER: usize = 2 << 20;

/// Wrong keys from one address within `KEY_WINDOW` before it gets 429.
pub const KEY_FAILURES: u32 = 20;
pub const KEY_WINDOW: Duration = Duration::from_secs(600);

pub fn key_guard() -> Guard {
    Guard::new(KEY_FAILURES, KEY_WINDOW)
}

/// Why a guarded body stopped: read back by `http::read_body`.
#[derive(Debug, thiserror::Error)]
pub enum BodyStop {
    #[error("the request body did not arrive within [http].body_read_timeout ({0:?}); send it again at a steady pace")]
    Timeout(Duration),
    #[error("envoi is receiving too much at once ([http].max_inflight_bytes); nothing was stored, retry in a few seconds (see Retry-After)")]
    Busy,
}

impl BodyStop {
    /// The stop inside a body error, through the layers of `axum::Error`
    /// that the body's boxing adds.
    pub fn find(mut e: BoxError) -> Result<BodyStop, BoxError> {
        loop {
            e = match e.downcast::<BodyStop>() {
                Ok(stop) => return Ok(*stop),
                Err(e) => match e.downcast::<axum::Error>() {
                    Ok(wrapped) => wrapped.into_inner(),
                    Err(e) => return Err(e),
                },
            };
        }
    }
}

impl From<BodyStop> for ApiError {
    fn from(e: BodyStop) -> Self {
        match e {
            BodyStop::Timeout(_) => ApiError::Timeout(e.to_string()),
            BodyStop::Busy => ApiError::Busy(e.to_string()),
        }
    }
}

/// The body, cut off at the deadline, each chunk paid for from `budget`
/// (returned when the body is dropped, once read).
fn guarded(body: Body, timeout: Duration, budget: Arc<Semaphore>) -> Body {
    let deadline = tokio::time::Instant::now() + timeout;
    let state = (body.into_data_stream(), None::<OwnedSemaphorePermit>, false);
    let stream = futures_util::stream::unfold(state, move |(mut inner, mut held, done)| {
        let budget = budget.clone();
        async move {
            if done {
                return None;
            }
            // Boxed as themselves, so `read_body` can downcast them back.
            let stop = |e: BodyStop| Some((Err(BoxError::from(e)), (inner_end(), None, true)));
            let chunk = match tokio::time::timeout_at(deadline, inner.next()).await {
                Err(_) => return stop(BodyStop::Timeout(timeout)),
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(e.into_inner()), (inner, held, true))),
                Ok(Some(Ok(chunk))) => chunk,
            };
            match budget.try_acquire_many_owned(crate::net::budget::permits(chunk.len())) {
                Ok(p) => match &mut held {
                    Some(h) => h.merge(p),
                    None => held = Some(p),
                },
                Err(_) => return stop(BodyStop::Busy),
            }
            Some((Ok(chunk), (inner, held, false)))
        }
    });
    Body::from_stream(stream)
}

/// An empty stream to leave in the state once a guarded body has stopped.
fn inner_end() -> axum::body::BodyDataStream {
    Body::empty().into_data_stream()
}

pub async fn shield(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let ip = peer.ip();
    // Only requests that try a key are held back: a throttled address can
    // still reach /healthz and the unsubscribe pages.
    let tries_a_key = request
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION);
    if let Some(wait) = app.key_guard.refused_for(ip).filter(|_| tries_a_key) {
        tracing::warn!(%ip, "API request refused: too many wrong keys from this address");
        return ApiError::Throttled {
            message: format!(
                "Too many requests with a wrong API key from {ip}: {KEY_FAILURES} within {} minutes. Retry in {} s (see Retry-After) with the right key.",
                KEY_WINDOW.as_secs() / 60,
                wait.as_secs().max(1)
            ),
            retry_after: wait,
        }
        .into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge(format!(
            "the request's header fields are {header_bytes} bytes; envoi takes at most {MAX_HEADER_BYTES}. Send fewer or shorter headers (the message goes in the body)."
        ))
        .into_response();
    }
    let cfg = &app.config.http;
    let (parts, body) = request.into_parts();
    let body = guarded(body, cfg.body_read_timeout.0, app.http_inflight.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    if response.extensions().get::<WrongKey>().is_some() {
        let n = app.key_guard.failed(ip);
        tracing::warn!(%ip, failures = n, "API request with a wrong key");
    }
    response
}
