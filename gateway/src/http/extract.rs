//! The prologue every handler shared, as axum extractors (axum runs those
//! of the request's parts first, in parameter order, then the one that
//! takes the body): the account key (`auth::Admin`), the domain the route
//! names (`AdminDomain`), and a small form body with the query string
//! (`SmallForm`); for sending, the key and the domain together
//! (`SenderDomain`). The key is checked before the domain is looked up, and
//! both before the body is read, so a wrong key learns nothing more.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;

use super::auth::{Admin, Principal};
use super::error::ApiError;
use super::form::Form;
use crate::app::App;
use crate::store::domains::Domain;

/// The account key and the domain of the route's `{domain}` (404 when it
/// does not exist).
pub struct AdminDomain {
    pub who: Principal,
    pub domain: Domain,
}

impl FromRequestParts<App> for AdminDomain {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Admin(who) = Admin::from_request_parts(parts, app).await?;
        let name = domain_param(parts, app).await?;
        let domain = super::domains::find(app, &name).await?;
        Ok(AdminDomain { who, domain })
    }
}

/// The route's `{domain}`, as written. `/v3/domains/…` paths that no route
/// serves land on `/v3/{domain}/…` with the domain "domains": a Mailgun
/// endpoint envoi does not serve (`/v3/domains/{d}/tracking`), said so.
async fn domain_param(parts: &mut Parts, app: &App) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, app)
        .await
        .map_err(|e| ApiError::BadRequest(format!("the path is not valid: {e}")))?;
    let name = params
        .iter()
        .find(|(k, _)| *k == "domain")
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| ApiError::Internal("route without {domain}".into()))?;
    if name == "domains" {
        return Err(ApiError::NotFound(super::unserved::message(
            parts.uri.path(),
        )));
    }
    Ok(name)
}

/// A key that may send for the route's `{domain}` (that domain's sending
/// key, or the account key), within the domain's request rate
/// (`[limits].requests_per_second_per_domain`), and the domain.
pub struct SenderDomain(pub Domain);

impl FromRequestParts<App> for SenderDomain {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let name = domain_param(parts, app).await?;
        super::principal(app, &parts.headers)
            .await?
            .require_sender_for(&name)?;
        app.limits.domain_request(&name).await.map_err(|l| {
            ApiError::RateLimited(
                l,
                format!("sending for {name} ([limits].requests_per_second_per_domain)"),
            )
        })?;
        Ok(SenderDomain(super::domains::find(app, &name).await?))
    }
}

/// A form body of at most 1 MiB (`http::SMALL_BODY`), with the query string's
/// fields first.
pub struct SmallForm(pub Form);

impl FromRequest<App> for SmallForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &App) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        super::small_form(&parts.headers, body, parts.uri.query())
            .await
            .map(SmallForm)
    }
}
