//! Every failure of the HTTP API becomes `{"message": "..."}` with
//! `Content-Type: application/json` here, and nowhere else.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use policy::limits::Limited;

use crate::accept::AcceptError;
use crate::compose::ComposeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A key that matches nothing: counted against the caller's address.
    #[error("{0}")]
    InvalidKey(String),
    /// Too many wrong keys from this address: 429 until `retry_after`.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after: std::time::Duration,
    },
    /// Busy (the inflight byte budget): 503 with Retry-After.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unsupported(String),
    /// Over a rate limit; the text names which limit ("requests with this
    /// API key (...)").
    #[error("{}", limited_text(.0, .1))]
    RateLimited(Limited, String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn limited_text(l: &Limited, what: &str) -> String {
    if l.too_big {
        format!(
            "Too many at once: {what} allows {} and this request alone is more than that. Split it into smaller sends.",
            l.rate
        )
    } else {
        format!(
            "Rate limit reached: {what} allows {}. Retry in {} s (see Retry-After).",
            l.rate,
            retry_secs(l)
        )
    }
}

/// Whole seconds, rounded up, at least 1.
fn retry_secs(l: &Limited) -> u64 {
    whole_secs(l.retry_after)
}

fn whole_secs(d: std::time::Duration) -> u64 {
    d.as_micros().div_ceil(1_000_000).max(1) as u64
}

/// Marks a response to a key that matched nothing (`ApiError::InvalidKey`),
/// so the guard in `http::shield` counts it against the caller's address.
#[derive(Debug, Clone, Copy)]
pub struct WrongKey;

/// Seconds a 503 for a full inflight budget asks the client to wait.
pub const BUSY_RETRY_SECS: u64 = 5;

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidKey(_) => StatusCode::UNAUTHORIZED,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn domain_not_found(name: &str) -> ApiError {
        ApiError::NotFound(format!(
            "Domain not found: {name}. Create it first with POST /v4/domains (account key), or check the domain in the URL."
        ))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        ApiError::Internal("the store failed; nothing was changed, please retry".into())
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::Store(e) => e.into(),
            AcceptError::Suspended { .. } => ApiError::Forbidden(e.to_string()),
            AcceptError::NotYourAuthor(_) => ApiError::BadRequest(e.to_string()),
            AcceptError::Limited(l) => {
                let what = format!(
                    "sending for this domain ([limits].messages_per_{}_per_domain, counting recipients)",
                    l.rate.per.as_str()
                );
                ApiError::RateLimited(l, what)
            }
        }
    }
}

impl From<ComposeError> for ApiError {
    fn from(e: ComposeError) -> Self {
        match e {
            ComposeError::TooLarge(..) => ApiError::TooLarge(e.to_string()),
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(msg) = &self {
            tracing::error!(%msg, "internal error");
        }
        let status = self.status();
        let mut resp = (status, axum::Json(json!({ "message": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"envoi\""),
            );
        }
        match &self {
            ApiError::InvalidKey(_) => {
                resp.extensions_mut().insert(WrongKey);
            }
            ApiError::Throttled { retry_after, .. } => {
                let secs = HeaderValue::from(whole_secs(*retry_after));
                resp.headers_mut().insert(header::RETRY_AFTER, secs);
            }
            ApiError::Busy(_) => {
                let secs = HeaderValue::from(BUSY_RETRY_SECS);
                resp.headers_mut().insert(header::RETRY_AFTER, secs);
            }
            // The rest of a slow body is not worth waiting for.
            ApiError::Timeout(_) | ApiError::HeadersTooLarge(_) => {
                let close = HeaderValue::from_static("close");
                resp.headers_mut().insert(header::CONNECTION, close);
            }
            _ => {}
        }
        if let ApiError::RateLimited(l, _) = &self {
            let reset = crate::store::now_micros() as u64 / 1_000_000
                + l.reset_after.as_micros().div_ceil(1_000_000) as u64;
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(l)));
            h.insert("x-ratelimit-limit", HeaderValue::from(l.rate.count));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        }
        resp
    }
}
