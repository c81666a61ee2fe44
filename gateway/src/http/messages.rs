//! Sending: `POST /v3/{domain}/messages` and `.mime`, and reading a stored
//! message back.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SenderDomain};
use super::form::{parse_form, Form, Value as FormValue};
use super::{read_body, FORM_OVERHEAD};
use crate::accept::{accept, body_context};
use crate::app::App;
use crate::compose::{self, whole, ComposeError, File, Outgoing, SendRequest, Summary};
use crate::events::Method;

fn queued(id: &str) -> Json<Value> {
    Json(json!({"id": format!("<{id}>"), "message": "Queued. Thank you."}))
}

/// The body, read after the key and the domain (`SenderDomain`) so a
/// wrong key learns nothing more.
async fn message_form(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    query: Option<&str>,
) -> ApiResult<Form> {
    let max = app.config.max_message_size();
    let bytes = read_body(headers, body, max + FORM_OVERHEAD).await?;
    parse_form(headers, bytes, query).await
}

/// `(name, value)` pairs of one family of prefixed fields.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// Splits `o:`, `v:` and `h:` fields (any case) into their own lists.
fn split_options(form: &Form) -> (Pairs<'_>, Pairs<'_>, Pairs<'_>) {
    let (mut opts, mut vars, mut hdrs) = (Vec::new(), Vec::new(), Vec::new());
    for (name, value) in &form.fields {
        let FormValue::Text(v) = value else { continue };
        if name.len() > 2 && name.is_char_boundary(2) {
            match &name[..2] {
                "o:" | "O:" => opts.push((name.as_str(), v.as_str())),
                "v:" | "V:" => vars.push((&name[2..], v.as_str())),
                "h:" | "H:" => hdrs.push((&name[2..], v.as_str())),
                _ => {}
            }
        }
    }
    (opts, vars, hdrs)
}

fn files(form: &Form, name: &str) -> Vec<File> {
    form.files(name)
        .map(|f| File {
            filename: f.filename,
            content_type: f.content_type,
            data: f.data,
        })
        .collect()
}

#[utoipa::path(
    post,
    path = "/v3/{domain}/messages",
    operation_id = "messages_send",
    tag = "messages",
    summary = "Send a message, as Mailgun: answered once it is stored on disk.",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::SendForm = "multipart/form-data"),
        (crate::http::openapi::schemas::SendForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Queued),
        crate::http::openapi::schemas::Refusals,
        crate::http::openapi::schemas::SendLimits,
    ),
    security(("api_key" = [])))]
pub async fn send(
    State(app): State<App>,
    headers: HeaderMap,
    SenderDomain(d): SenderDomain,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let form = message_form(&app, &headers, body, q.as_deref()).await?;
    let (opts, vars, hdrs) = split_options(&form);
    let options = compose::parse_options(&opts, &vars, &hdrs)?;
    let template = match form.get("template") {
        Some(name) => Some(super::templates::for_send(&app, &d, name, &form, &options).await?),
        None => None,
    };
    let req = SendRequest {
        from: form.get("from"),
        to: form.texts("to").collect(),
        cc: form.texts("cc").collect(),
        bcc: form.texts("bcc").collect(),
        subject: form.text("subject"),
        text: form.text("text"),
        html: form.text("html"),
        amp_html: form.text("amp-html"),
        attachments: files(&form, "attachment"),
        inlines: files(&form, "inline"),
        headers: hdrs,
        variables: vars,
        options: opts,
        recipient_variables: form.get("recipient-variables"),
        template,
    };
    let mut messages = compose::compose(&d.name, &req, &options)?;
    let total: usize = messages.iter().map(|m| m.mime.len()).max().unwrap_or(0);
    let max = app.config.max_message_size();
    if total > max {
        return Err(ComposeError::TooLarge(total, max).into());
    }
    accept(&app.acceptor(), &d, &options, &mut messages, Method::Http).await?;
    tracing::info!(domain = %d.name, messages = messages.len(), id = %messages[0].message_id, "accepted over HTTP");
    Ok(queued(&messages[0].message_id))
}

#[utoipa::path(
    post,
    path = "/v3/{domain}/messages.mime",
    operation_id = "messages_send_mime",
    tag = "messages",
    summary = "Send a whole MIME message.",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::SendMimeForm = "multipart/form-data"),
        (crate::http::openapi::schemas::SendMimeForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Queued),
        crate::http::openapi::schemas::Refusals,
        crate::http::openapi::schemas::SendLimits,
    ),
    security(("api_key" = [])))]
pub async fn send_mime(
    State(app): State<App>,
    headers: HeaderMap,
    SenderDomain(d): SenderDomain,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let form = message_form(&app, &headers, body, q.as_deref()).await?;
    let raw = form
        .files("message")
        .next()
        .ok_or(ComposeError::Missing("message"))?;
    let max = app.config.max_message_size();
    if raw.data.len() > max {
        return Err(ComposeError::TooLarge(raw.data.len(), max).into());
    }
    let to_values: Vec<&str> = form.texts("to").collect();
    if to_values.is_empty() {
        return Err(ComposeError::Missing("to").into());
    }
    for v in &to_values {
        compose::check_single_line("to", v)?;
    }
    let recipients = compose::address::parse_list("to", to_values.into_iter())?;
    if recipients.len() > compose::MAX_RECIPIENTS {
        return Err(ComposeError::TooManyRecipients(recipients.len()).into());
    }
    let (opts, vars, hdrs) = split_options(&form);
    let options = compose::parse_options(&opts, &vars, &hdrs)?;
    let prepared = whole::prepare_whole(raw.data.to_vec(), &d.name)?;
    let msg = Outgoing {
        message_id: prepared.message_id,
        sender: prepared.from.addr.clone(),
        authors: prepared.authors,
        recipients,
        summary: Summary {
            from: prepared.from.to_string(),
            to: prepared.to,
            subject: prepared.subject,
            attachments: Vec::new(),
        },
        mime: prepared.mime,
        user_variables: None,
    };
    let mut messages = [msg];
    accept(&app.acceptor(), &d, &options, &mut messages, Method::Http).await?;
    tracing::info!(domain = %d.name, id = %messages[0].message_id, "accepted MIME over HTTP");
    Ok(queued(&messages[0].message_id))
}

/// `GET /v3/domains/{domain}/messages/{storage_key}`: the stored message, its
/// parsed parts, and (envoi's own) where each recipient stands in the queue.
#[utoipa::path(
    get,
    path = "/v3/domains/{domain}/messages/{key}",
    operation_id = "messages_stored",
    tag = "messages",
    summary = "A stored message (storage key from its events): headers, parts, body-mime, and where each recipient stands in the queue.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("key" = String, Path, description = "The message's storage key (from its events)."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn stored(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    headers: HeaderMap,
    Path((_, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (m, body) = stored_body(&app, &d, &key).await?;
    let recipients = app.store.recipients_of(m.id).await?;
    let parsed = mail_parser::MessageParser::default().parse(&body);
    let mut out = json!({
        "recipients": recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>().join(", "),
        "sender": m.sender,
        "Message-Id": format!("<{}>", m.message_id),
        "recipients-status": recipients.iter().map(|r| json!({
            "recipient": r.address,
            "status": r.status,
            "attempts": r.attempts,
            "next-attempt": crate::time::epoch_seconds(r.next_attempt_at),
        })).collect::<Vec<_>>(),
    });
    if let Some(p) = &parsed {
        out["from"] = json!(p.header_raw("From").map(str::trim));
        out["subject"] = json!(p.subject());
        out["body-plain"] = json!(p.body_text(0));
        out["body-html"] = json!(p.body_html(0));
        out["message-headers"] = json!(p
            .headers_raw()
            .map(|(k, v)| json!([k, v.trim()]))
            .collect::<Vec<_>>());
        out["attachments"] = json!(p
            .attachments()
            .map(|a| json!({
                "filename": mail_parser::MimeHeaders::attachment_name(a),
                "content-type": mail_parser::MimeHeaders::content_type(a).map(|c| match c.subtype() {
                    Some(s) => format!("{}/{}", c.ctype(), s),
                    None => c.ctype().to_string(),
                }),
                "size": a.len(),
            }))
            .collect::<Vec<_>>());
    }
    let wants_mime = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("message/rfc2822"));
    if wants_mime {
        out["body-mime"] = json!(String::from_utf8_lossy(&body));
    }
    Ok(Json(out))
}

/// A stored message of `d` and its opened content; 404 saying why when it
/// is gone or its content no longer kept (the API and the dashboard).
pub(crate) async fn stored_body(
    app: &App,
    d: &crate::store::domains::Domain,
    key: &str,
) -> ApiResult<(crate::store::messages::StoredMessage, Vec<u8>)> {
    let m = app
        .store
        .message_by_storage_key(d.id, key)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Message not found: no stored message {key:?} for {} (messages are kept as long as their events: [events].retention, {})",
                d.name,
                crate::config::format_duration(app.config.events.retention.0)
            ))
        })?;
    if m.sealed_body.is_empty() {
        return Err(ApiError::NotFound(format!(
            "Message not found: the content of stored message {key:?} for {} is no longer kept (a message is kept {} after it was accepted, once it is delivered or failed: [events].message_retention); its events still are",
            d.name,
            crate::config::format_duration(app.config.events.message_retention.0)
        )));
    }
    let body = app
        .master_key
        .open(&body_context(&m.storage_key), &m.sealed_body)
        .map_err(|e| ApiError::Internal(format!("stored message {key} cannot be opened: {e}")))?;
    Ok((m, body))
}
