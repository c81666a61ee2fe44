//! The Mailgun-compatible HTTP API (axum).

mod audit;
pub mod auth;
mod cluster;
mod credentials;
pub(crate) mod dkim_keys;
mod dkim_rotation;
mod dmarc;
mod domains;
mod envelopes;
pub mod error;
mod events;
pub mod extract;
pub mod form;
mod health;
mod ip_allowlist;
mod keys;
mod messages;
mod metrics;
pub mod openapi;
mod reputation;
pub mod server;
pub mod shield;
mod stats;
mod suppressions;
mod suppressions_import;
mod templates;
pub mod ui;
pub(crate) mod unserved;
mod unsubscribe;
mod verify;
mod webhooks;

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap};
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::app::App;
use auth::Principal;
use error::{ApiError, ApiResult};

/// Non-message endpoints take small bodies.
const SMALL_BODY: usize = 1 << 20;
/// Multipart framing around a message that is right at the size limit.
const FORM_OVERHEAD: usize = 256 * 1024;

pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::get))
        .route("/openapi.json", get(openapi::get))
        .route(
            "/u/{token}",
            get(unsubscribe::page).post(unsubscribe::confirm),
        )
        .route("/v4/domains", post(domains::create).get(domains::list))
        .route(
            "/v4/domains/{domain}",
            get(domains::get_one)
                .put(domains::update)
                .delete(domains::remove),
        )
        // Mailgun's v3 family, the same shapes (the Python SDK calls these).
        .route("/v3/domains", post(domains::create).get(domains::list))
        .route(
            "/v3/domains/{domain}",
            get(domains::get_one)
                .put(domains::update)
                .delete(domains::remove),
        )
        .route("/v3/domains/{domain}/verify", put(verify::verify))
        .route(
            "/v3/domains/{domain}/connection",
            get(domains::get_connection).put(domains::put_connection),
        )
        .route("/v3/domains/{domain}/messages/{key}", get(messages::stored))
        .route("/v1/keys", post(keys::create).get(keys::list))
        .route(
            "/v1/dkim/keys",
            post(dkim_keys::create)
                .get(dkim_keys::list)
                .delete(dkim_keys::remove),
        )
        .route("/v4/domains/{domain}/keys", get(dkim_keys::of_domain))
        .route(
            "/v1/dkim_management/domains/{domain}/rotate",
            post(dkim_rotation::rotate),
        )
        .route(
            "/v1/dkim_management/domains/{domain}/rotation",
            put(dkim_rotation::schedule),
        )
        .route("/v4/domains/{domain}/verify", put(verify::verify))
        .route(
            "/v4/domains/{domain}/keys/{selector}/activate",
            put(dkim_keys::activate),
        )
        .route(
            "/v4/domains/{domain}/keys/{selector}/deactivate",
            put(dkim_keys::deactivate),
        )
        .route("/v1/keys/{id}", delete(keys::remove))
        .route("/v1/keys/{id}/rotate", post(keys::rotate))
        .route("/v1/audit", get(audit::list))
        .route("/v1/cluster", get(cluster::get))
        .route(
            "/v3/domains/{domain}/credentials",
            post(credentials::create)
                .get(credentials::list)
                .delete(credentials::remove_all),
        )
        .route(
            "/v3/domains/{domain}/ip_allowlist",
            get(ip_allowlist::list)
                .post(ip_allowlist::add)
                .delete(ip_allowlist::remove),
        )
        .route(
            "/v3/domains/{domain}/credentials/{login}",
            put(credentials::change_password).delete(credentials::remove),
        )
        .route(
            "/v3/domains/{domain}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/v3/domains/{domain}/webhooks/{id}",
            get(webhooks::get_one)
                .put(webhooks::update)
                .delete(webhooks::remove),
        )
        .route(
            "/v5/accounts/http_signing_key",
            get(webhooks::signing_key).post(webhooks::regenerate_signing_key),
        )
        .route("/v3/{domain}/messages", post(messages::send))
        .route("/v3/{domain}/messages.mime", post(messages::send_mime))
        .route("/v3/{domain}/events", get(events::list))
        .route("/v3/{domain}/events/{token}", get(events::page))
        .route("/v3/{domain}/stats/total", get(stats::total))
        .route("/v3/{domain}/reputation", get(reputation::get))
        .route("/v3/{domain}/dmarc", get(dmarc::ramp))
        .route("/v3/{domain}/dmarc/reports", get(dmarc::reports))
        .route("/v3/{domain}/dmarc/sources", get(dmarc::sources))
        .route(
            "/v3/{domain}/reputation/reinstate",
            post(reputation::reinstate),
        )
        .route(
            "/v3/{domain}/templates",
            get(templates::list)
                .post(templates::create)
                .delete(templates::remove_all),
        )
        .route(
            "/v3/{domain}/templates/{name}",
            get(templates::get_one)
                .put(templates::update)
                .delete(templates::remove),
        )
        .route(
            "/v3/{domain}/templates/{name}/versions",
            get(templates::versions).post(templates::add_version),
        )
        .route(
            "/v3/{domain}/templates/{name}/versions/{tag}",
            get(templates::get_version)
                .put(templates::update_version)
                .delete(templates::remove_version),
        )
        .route(
            "/v3/{domain}/templates/{name}/versions/{tag}/copy/{new_tag}",
            put(templates::copy_version),
        )
        .route("/v3/{domain}/envelopes", delete(envelopes::clear))
        .route(
            "/v3/{domain}/{table}",
            get(suppressions::list)
                .post(suppressions::add)
                .delete(suppressions::clear),
        )
        .route(
            "/v3/{domain}/{table}/import",
            post(suppressions_import::import),
        )
        .route(
            "/v3/{domain}/{table}/{address}",
            get(suppressions::get_one).delete(suppressions::remove),
        )
        .merge(ui::router().layer(axum::middleware::from_fn_with_state(app.clone(), ui::layer)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            shield::shield,
        ))
        .layer(DefaultBodyLimit::disable())
        .with_state(app)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(unserved::message(uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}: check the API reference for this path",
        uri.path()
    ))
}

/// Read a whole body up to `limit` bytes: 413 past it, 400 when cut short.
/// An oversized body is still drained (within reason) so the client, which is
/// usually still sending, gets to read the 413 instead of a broken pipe.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> ApiResult<Bytes> {
    use futures_util::StreamExt;
    let drain_cap = limit.saturating_mul(2).saturating_add(16 << 20);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        ApiError::TooLarge(format!(
            "request body is too large: the limit is {limit} bytes. Send a smaller message (the limit is [smtp].max_message_size)."
        ))
    };
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    let mut total = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match shield::BodyStop::find(e.into_inner()) {
            Ok(stop) => ApiError::from(stop),
            Err(e) => ApiError::BadRequest(format!(
                "the request body could not be read completely ({e}); send it again"
            )),
        })?;
        total += chunk.len();
        if total > limit {
            if total > drain_cap || declared.is_some_and(|n| n > drain_cap) {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

/// The base of absolute URLs in responses: how the client reached us.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}

pub async fn admin(app: &App, headers: &HeaderMap) -> ApiResult<Principal> {
    auth::authenticate(app, headers).await?.require_admin()
}

pub async fn principal(app: &App, headers: &HeaderMap) -> ApiResult<Principal> {
    auth::authenticate(app, headers).await
}

pub async fn small_form(
    headers: &HeaderMap,
    body: Body,
    query: Option<&str>,
) -> ApiResult<form::Form> {
    let bytes = read_body(headers, body, SMALL_BODY).await?;
    form::parse_form(headers, bytes, query).await
}
