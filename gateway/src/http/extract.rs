//! The prologue every handler shared, as axum extractors (axum runs those
//! of the request's parts first, in parameter order, then the one that
//! takes the body): the account key (`auth::Admin`), the domain the route
//! names (`AdminDomain`), and a small form body with the query string
//! (`SmallForm`). The key is checked before the domain is looked up, and
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
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::BadRequest(format!("the path is not valid: {e}")))?;
        let name = params
            .iter()
            .find(|(k, _)| *k == "domain")
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| ApiError::Internal("route without {domain}".into()))?;
        let domain = super::domains::find(app, &name).await?;
        Ok(AdminDomain { who, domain })
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
