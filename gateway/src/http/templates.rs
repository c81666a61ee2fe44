//! Mailgun's Templates API (`/v3/{domain}/templates`), with Mailgun's
//! shapes, messages, paging and limits, and the template chosen for a send.

use axum::extract::{FromRequestParts, Path, RawPathParams, RawQuery, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use super::base_url;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SmallForm};
use super::form::Form;
use crate::app::App;
use crate::compose::template::{check, TemplateUse};
use crate::compose::SendOptions;
use crate::store::domains::Domain;
use crate::store::templates::{
    NewVersion, Refused, Template, Version, MAX_TEMPLATES, MAX_VERSIONS,
};
use crate::time::rfc2822;

/// The only headers a template version may carry, as Mailgun.
const TEMPLATE_HEADERS: [&str; 3] = ["From", "Subject", "Reply-To"];

fn id(prefix: char, n: i64) -> String {
    format!("{prefix}{n:031x}")
}

fn template_json(t: &Template) -> Value {
    json!({
        "name": t.name,
        "description": t.description,
        "createdAt": rfc2822(t.created_at),
        "createdBy": t.created_by,
        "id": id('t', t.id),
    })
}

fn version_json(v: &Version) -> Value {
    json!({
        "tag": v.tag,
        "template": v.body,
        "engine": "handlebars",
        "mjml": "",
        "createdAt": rfc2822(v.created_at),
        "comment": v.comment,
        "active": v.active,
        "id": id('v', v.id),
        "headers": v.headers,
    })
}

fn refused(r: Refused, d: &Domain, name: &str, tag: &str) -> ApiError {
    let domain = &d.name;
    match r {
        Refused::TemplateExists => ApiError::Conflict(format!(
            "template {name:?} already exists: add a version with POST /v3/{domain}/templates/{name}/versions"
        )),
        Refused::TooManyTemplates => ApiError::BadRequest(format!(
            "a domain can store up to {MAX_TEMPLATES} templates: delete one first"
        )),
        Refused::VersionExists => ApiError::Conflict(format!(
            "template {name:?} already has a version tagged {tag:?}: choose another tag"
        )),
        Refused::TooManyVersions => ApiError::BadRequest(format!(
            "a template can store up to {MAX_VERSIONS} versions: delete one of {name:?} first"
        )),
        Refused::NoSuchVersion => ApiError::NotFound(format!(
            "template {name:?} has no version tagged {tag:?}: list them with GET /v3/{domain}/templates/{name}/versions"
        )),
        Refused::ActiveVersion => ApiError::BadRequest(format!(
            "version {tag:?} is the active version of {name:?}: make another version active first (PUT .../versions/{{tag}} with active=yes)"
        )),
    }
}

/// The account key, the route's domain and its template `{name}` (a 404
/// naming both when there is no such template).
pub struct DomainTemplate {
    pub domain: Domain,
    pub template: Template,
}

impl FromRequestParts<App> for DomainTemplate {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let AdminDomain { domain, .. } = AdminDomain::from_request_parts(parts, app).await?;
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::BadRequest(format!("the path is not valid: {e}")))?;
        let name = params
            .iter()
            .find(|(k, _)| *k == "name")
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| ApiError::Internal("route without {name}".into()))?;
        let template = app
            .store
            .template(domain.id, &name.to_lowercase())
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "template {name:?} not found for {d}: create it with POST /v3/{d}/templates, or list them with GET /v3/{d}/templates",
                    d = domain.name
                ))
            })?;
        Ok(DomainTemplate { domain, template })
    }
}

/// `headers`: a JSON object of From, Subject and Reply-To only.
fn headers_from(form: &Form) -> ApiResult<Option<Map<String, Value>>> {
    let Some(text) = form.get("headers") else {
        return Ok(None);
    };
    let bad = |why: String| {
        ApiError::BadRequest(format!(
            "headers {why}: send a JSON object with From, Subject and/or Reply-To, e.g. {{\"Subject\": \"Welcome\"}}"
        ))
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(bad("is not a JSON object".into()));
    };
    for (k, v) in &map {
        if !TEMPLATE_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(k)) {
            return Err(bad(format!("has {k:?}, which a template cannot set")));
        }
        if !v.is_string() {
            return Err(bad(format!("{k} is not a string")));
        }
    }
    Ok(Some(map))
}

fn checked_source(source: &str) -> ApiResult<()> {
    check(source).map_err(|e| {
        ApiError::BadRequest(format!(
            "template is not valid Handlebars: {e}. Fix the template and send it again"
        ))
    })
}

fn tag_of(form: &Form) -> ApiResult<Option<String>> {
    match form.get("tag") {
        None => Ok(None),
        Some(t) if t.is_empty() || t.len() > 100 || t.contains('/') => Err(ApiError::BadRequest(
            format!("tag {t:?} is not valid: 1 to 100 characters, no slash"),
        )),
        Some(t) => Ok(Some(t.to_lowercase())),
    }
}

/// `GET /v3/{d}/templates`: `limit` (≤ 100, default 10), `page`
/// (`first`, `last`, `next`, `previous`) with `p`, the pivot name.
#[utoipa::path(
    get,
    path = "/v3/{domain}/templates",
    operation_id = "templates_list",
    tag = "templates",
    summary = "List templates.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("limit" = Option<i64>, Query, description = "At most this many."),
        ("page" = Option<String>, Query, description = "first, last, next or previous."),
        ("p" = Option<String>, Query, description = "The pivot name for next/previous."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Page),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    AdminDomain { domain: d, .. }: AdminDomain,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;
    let limit = form.number("limit", 10, 100)?;
    let pivot = form.get("p").filter(|p| !p.is_empty());
    let page = form.get("page").unwrap_or("first");
    let items = match page {
        "first" => app.store.templates(d.id, None, false, limit).await?,
        "last" => app.store.templates(d.id, None, true, limit).await?,
        "next" => app.store.templates(d.id, pivot, false, limit).await?,
        "previous" => app.store.templates(d.id, pivot, true, limit).await?,
        other => {
            return Err(ApiError::BadRequest(format!(
                "page {other:?} is not valid: use first, last, next or previous"
            )))
        }
    };
    let base = format!("{}/v3/{}/templates", base_url(&headers), d.name);
    let url = |page: &str, p: Option<&str>| match p {
        Some(p) => format!("{base}?page={page}&p={}&limit={limit}", urlencode(p)),
        None => format!("{base}?page={page}&limit={limit}"),
    };
    let (first_name, last_name) = (
        items.first().map(|t| t.name.as_str()),
        items.last().map(|t| t.name.as_str()),
    );
    Ok(Json(json!({
        "items": items.iter().map(template_json).collect::<Vec<_>>(),
        "paging": {
            "first": url("first", None),
            "last": url("last", None),
            "next": url("next", last_name.or(pivot)),
            "previous": url("previous", first_name.or(pivot)),
        }
    })))
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `POST /v3/{d}/templates`.
#[utoipa::path(
    post,
    path = "/v3/{domain}/templates",
    operation_id = "templates_create",
    tag = "templates",
    summary = "Create a template (and its first version when template is given).",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::TemplateForm = "multipart/form-data"),
        (crate::http::openapi::schemas::TemplateForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<App>,
    AdminDomain { domain: d, who }: AdminDomain,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let name = form
        .get("name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "name parameter is missing: name the template, e.g. name=welcome".into(),
            )
        })?
        .trim()
        .to_lowercase();
    if name.len() > 255 || name.contains('/') {
        return Err(ApiError::BadRequest(format!(
            "name {name:?} is not valid: at most 255 characters, no slash"
        )));
    }
    let headers = headers_from(&form)?.unwrap_or_default();
    let tag = tag_of(&form)?.unwrap_or_else(|| "initial".into());
    let source = form.text("template");
    if let Some(s) = source {
        checked_source(s)?;
    }
    let first = source.map(|body| NewVersion {
        tag: &tag,
        body,
        comment: form.get("comment").unwrap_or(""),
        headers: &headers,
        active: true,
    });
    let created_by = form.get("createdBy").unwrap_or(who.key_id());
    let t = app
        .store
        .create_template(
            d.id,
            &name,
            form.get("description").unwrap_or(""),
            created_by,
            first.as_ref(),
        )
        .await?
        .map_err(|r| refused(r, &d, &name, &tag))?;
    let mut template = template_json(&t);
    if first.is_some() {
        if let Some(v) = app.store.template_version(t.id, None).await? {
            template["version"] = version_json(&v);
        }
    }
    tracing::info!(domain = %d.name, template = %name, "template stored");
    Ok(Json(
        json!({"message": "template has been stored", "template": template}),
    ))
}

/// `DELETE /v3/{d}/templates`.
#[utoipa::path(
    delete,
    path = "/v3/{domain}/templates",
    operation_id = "templates_remove_all",
    tag = "templates",
    summary = "Delete every template of the domain.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Message),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove_all(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    app.store.delete_templates(d.id).await?;
    Ok(Json(json!({"message": "templates have been deleted"})))
}

/// `GET /v3/{d}/templates/{name}` (`active=yes`: with the active version).
#[utoipa::path(
    get,
    path = "/v3/{domain}/templates/{name}",
    operation_id = "templates_get_one",
    tag = "templates",
    summary = "A template (active=yes: with its active version).",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
        ("active" = Option<String>, Query, description = "yes: include the active version."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get_one(
    State(app): State<App>,
    DomainTemplate { template: t, .. }: DomainTemplate,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;
    let mut template = template_json(&t);
    if form.bool("active")?.unwrap_or(false) {
        if let Some(v) = app.store.template_version(t.id, None).await? {
            template["version"] = version_json(&v);
        }
    }
    Ok(Json(json!({ "template": template })))
}

/// `PUT /v3/{d}/templates/{name}`: `description`.
#[utoipa::path(
    put,
    path = "/v3/{domain}/templates/{name}",
    operation_id = "templates_update",
    tag = "templates",
    summary = "Change a template's description.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
    ),
    request_body(content(
        (crate::http::openapi::schemas::TemplateForm = "multipart/form-data"),
        (crate::http::openapi::schemas::TemplateForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn update(
    State(app): State<App>,
    DomainTemplate { template: t, .. }: DomainTemplate,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let description = form.get("description").ok_or_else(|| {
        ApiError::BadRequest(
            "description parameter is missing: it is what a template update changes".into(),
        )
    })?;
    app.store.update_template(t.id, description).await?;
    Ok(Json(
        json!({"message": "template has been updated", "template": {"name": t.name}}),
    ))
}

/// `DELETE /v3/{d}/templates/{name}`.
#[utoipa::path(
    delete,
    path = "/v3/{domain}/templates/{name}",
    operation_id = "templates_remove",
    tag = "templates",
    summary = "Delete a template and its versions.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    DomainTemplate { template: t, .. }: DomainTemplate,
) -> ApiResult<Json<Value>> {
    app.store.delete_template(t.id).await?;
    Ok(Json(
        json!({"message": "template has been deleted", "template": {"name": t.name}}),
    ))
}

/// `GET /v3/{d}/templates/{name}/versions`.
#[utoipa::path(
    get,
    path = "/v3/{domain}/templates/{name}/versions",
    operation_id = "templates_versions",
    tag = "templates",
    summary = "A template's versions.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn versions(
    State(app): State<App>,
    headers: HeaderMap,
    DomainTemplate {
        domain: d,
        template: t,
    }: DomainTemplate,
) -> ApiResult<Json<Value>> {
    let versions = app.store.template_versions(t.id).await?;
    let mut template = template_json(&t);
    template["versions"] = versions.iter().map(version_json).collect();
    // At most 40 versions: one page.
    let url = format!(
        "{}/v3/{}/templates/{}/versions?limit={MAX_VERSIONS}",
        base_url(&headers),
        d.name,
        urlencode(&t.name)
    );
    Ok(Json(json!({
        "template": template,
        "paging": {"first": url, "last": url, "next": url, "previous": url},
    })))
}

/// `POST /v3/{d}/templates/{name}/versions`.
#[utoipa::path(
    post,
    path = "/v3/{domain}/templates/{name}/versions",
    operation_id = "templates_add_version",
    tag = "templates",
    summary = "Add a version.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
    ),
    request_body(content(
        (crate::http::openapi::schemas::TemplateForm = "multipart/form-data"),
        (crate::http::openapi::schemas::TemplateForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn add_version(
    State(app): State<App>,
    DomainTemplate {
        domain: d,
        template: t,
    }: DomainTemplate,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let source = form.text("template").ok_or_else(|| {
        ApiError::BadRequest(
            "template parameter is missing: the Handlebars source of the version".into(),
        )
    })?;
    checked_source(source)?;
    let tag = tag_of(&form)?.ok_or_else(|| {
        ApiError::BadRequest("tag parameter is missing: name the version, e.g. tag=v2".into())
    })?;
    let headers = headers_from(&form)?.unwrap_or_default();
    let v = NewVersion {
        tag: &tag,
        body: source,
        comment: form.get("comment").unwrap_or(""),
        headers: &headers,
        active: form.bool("active")?.unwrap_or(false),
    };
    app.store
        .add_template_version(t.id, &v)
        .await?
        .map_err(|r| refused(r, &d, &t.name, &tag))?;
    let mut template = template_json(&t);
    if let Some(v) = app.store.template_version(t.id, Some(&tag)).await? {
        template["version"] = version_json(&v);
    }
    Ok(Json(json!({
        "message": "new version of the template has been stored",
        "template": template,
    })))
}

/// `GET /v3/{d}/templates/{name}/versions/{tag}`.
#[utoipa::path(
    get,
    path = "/v3/{domain}/templates/{name}/versions/{tag}",
    operation_id = "templates_get_version",
    tag = "templates",
    summary = "One version.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
        ("tag" = String, Path, description = "The version's tag."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get_version(
    State(app): State<App>,
    DomainTemplate {
        domain: d,
        template: t,
    }: DomainTemplate,
    Path((_, _, tag)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let tag = tag.to_lowercase();
    let v = app
        .store
        .template_version(t.id, Some(&tag))
        .await?
        .ok_or_else(|| refused(Refused::NoSuchVersion, &d, &t.name, &tag))?;
    let mut template = template_json(&t);
    template["version"] = version_json(&v);
    Ok(Json(json!({ "template": template })))
}

/// `PUT /v3/{d}/templates/{name}/versions/{tag}`: `template`, `comment`,
/// `active`, `headers`.
#[utoipa::path(
    put,
    path = "/v3/{domain}/templates/{name}/versions/{tag}",
    operation_id = "templates_update_version",
    tag = "templates",
    summary = "Change a version.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
        ("tag" = String, Path, description = "The version's tag."),
    ),
    request_body(content(
        (crate::http::openapi::schemas::TemplateForm = "multipart/form-data"),
        (crate::http::openapi::schemas::TemplateForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn update_version(
    State(app): State<App>,
    DomainTemplate {
        domain: d,
        template: t,
    }: DomainTemplate,
    Path((_, _, tag)): Path<(String, String, String)>,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let tag = tag.to_lowercase();
    let source = form.text("template");
    if let Some(s) = source {
        checked_source(s)?;
    }
    let headers = headers_from(&form)?;
    app.store
        .update_template_version(
            t.id,
            &tag,
            source,
            form.get("comment"),
            headers.as_ref(),
            form.bool("active")?.unwrap_or(false),
        )
        .await?
        .map_err(|r| refused(r, &d, &t.name, &tag))?;
    Ok(Json(json!({
        "message": "version has been updated",
        "template": {"name": t.name, "version": {"tag": tag}},
    })))
}

/// `DELETE /v3/{d}/templates/{name}/versions/{tag}`.
#[utoipa::path(
    delete,
    path = "/v3/{domain}/templates/{name}/versions/{tag}",
    operation_id = "templates_remove_version",
    tag = "templates",
    summary = "Delete a version.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
        ("tag" = String, Path, description = "The version's tag."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove_version(
    State(app): State<App>,
    DomainTemplate {
        domain: d,
        template: t,
    }: DomainTemplate,
    Path((_, _, tag)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let tag = tag.to_lowercase();
    app.store
        .delete_template_version(t.id, &tag)
        .await?
        .map_err(|r| refused(r, &d, &t.name, &tag))?;
    Ok(Json(json!({
        "message": "version has been deleted",
        "template": {"name": t.name, "version": {"tag": tag}},
    })))
}

/// `PUT /v3/{d}/templates/{name}/versions/{tag}/copy/{new_tag}?comment=`.
#[utoipa::path(
    put,
    path = "/v3/{domain}/templates/{name}/versions/{tag}/copy/{new_tag}",
    operation_id = "templates_copy_version",
    tag = "templates",
    summary = "Copy a version under a new tag.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("name" = String, Path, description = "The template's name."),
        ("tag" = String, Path, description = "The version's tag."),
        ("new_tag" = String, Path, description = "The copy's tag."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn copy_version(
    State(app): State<App>,
    DomainTemplate {
        domain: d,
        template: t,
    }: DomainTemplate,
    Path((_, _, tag, new_tag)): Path<(String, String, String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;
    let (tag, new_tag) = (tag.to_lowercase(), new_tag.to_lowercase());
    let from = app
        .store
        .template_version(t.id, Some(&tag))
        .await?
        .ok_or_else(|| refused(Refused::NoSuchVersion, &d, &t.name, &tag))?;
    let v = NewVersion {
        tag: &new_tag,
        body: &from.body,
        comment: form.get("comment").unwrap_or(&from.comment),
        headers: &from.headers,
        active: false,
    };
    app.store
        .add_template_version(t.id, &v)
        .await?
        .map_err(|r| refused(r, &d, &t.name, &new_tag))?;
    let copy = app
        .store
        .template_version(t.id, Some(&new_tag))
        .await?
        .ok_or_else(|| refused(Refused::NoSuchVersion, &d, &t.name, &new_tag))?;
    Ok(Json(json!({
        "message": "version has been copied",
        "version": version_json(&copy),
        "template": {"tag": copy.tag},
    })))
}

/// The template a send names (`template`, `t:version`, `t:text`,
/// `t:variables` over the `v:` variables); a 400 when it cannot be used.
pub async fn for_send(
    app: &App,
    d: &Domain,
    name: &str,
    form: &Form,
    options: &SendOptions,
) -> ApiResult<TemplateUse> {
    let choice = crate::templates::Choice {
        name,
        tag: form.get("t:version"),
        variables: form.get("t:variables").map(|v| ("t:variables", v)),
        text: form.bool("t:text")?.unwrap_or(false),
    };
    crate::templates::resolve(&app.store, d, &choice, &options.user_variables)
        .await
        .map_err(|e| match e {
            crate::templates::TemplateError::Store(e) => e.into(),
            other => ApiError::BadRequest(other.to_string()),
        })
}
