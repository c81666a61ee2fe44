//! The shapes of requests and responses, as OpenAPI schemas. The handlers
//! read Mailgun's forms field by field and answer JSON in Mailgun's shapes;
//! these types describe those fields and shapes for the document (each
//! `#[utoipa::path]` names them), and are used for nothing else.

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// Every error, and many confirmations: `{"message": "..."}` naming what
/// happened or what was wrong and what to do.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// A message accepted (stored on disk) and queued.
#[derive(Serialize, ToSchema)]
pub struct Queued {
    /// The Message-Id, in angle brackets.
    pub id: String,
    pub message: String,
}

/// `POST /v3/{domain}/messages`, as multipart/form-data or
/// application/x-www-form-urlencoded. Besides these fields: `h:NAME` adds
/// header NAME, `v:NAME` a user variable (shown in events and webhooks),
/// `o:...` Mailgun's options.
#[derive(Serialize, ToSchema)]
pub struct SendForm {
    /// The sender: an address of this domain, or one it may send as.
    pub from: String,
    /// Recipients, repeated or comma-separated (at most 1000 with cc and bcc).
    pub to: Vec<String>,
    pub cc: Option<Vec<String>>,
    pub bcc: Option<Vec<String>>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    #[serde(rename = "amp-html")]
    pub amp_html: Option<String>,
    /// Files attached (repeatable).
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    pub attachment: Option<Vec<Vec<u8>>>,
    /// Files shown inline, referenced as cid:NAME (repeatable).
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    pub inline: Option<Vec<Vec<u8>>>,
    /// A stored template's name: its active version (or `t:version`) is the body.
    pub template: Option<String>,
    #[serde(rename = "t:version")]
    pub t_version: Option<String>,
    /// "yes": a text part rendered from the template too.
    #[serde(rename = "t:text")]
    pub t_text: Option<String>,
    /// JSON object of the template's variables.
    #[serde(rename = "t:variables")]
    pub t_variables: Option<String>,
    /// JSON object: per recipient, the values of %recipient.KEY% (a batch send).
    #[serde(rename = "recipient-variables")]
    pub recipient_variables: Option<String>,
    /// Tags (repeatable, at most 10).
    #[serde(rename = "o:tag")]
    pub o_tag: Option<Vec<String>>,
    /// "no" sends without a DKIM signature.
    #[serde(rename = "o:dkim")]
    pub o_dkim: Option<String>,
    /// RFC 2822 date: delivery starts then (at most 3 days ahead).
    #[serde(rename = "o:deliverytime")]
    pub o_deliverytime: Option<String>,
    /// "yes": accepted and recorded, never delivered.
    #[serde(rename = "o:testmode")]
    pub o_testmode: Option<String>,
    /// "yes": deliver only over TLS.
    #[serde(rename = "o:require-tls")]
    pub o_require_tls: Option<String>,
    /// "yes": TLS without verifying the MX's certificate.
    #[serde(rename = "o:skip-verification")]
    pub o_skip_verification: Option<String>,
    /// "yes": delivered by nobody, recorded as delivered.
    #[serde(rename = "o:drop-message")]
    pub o_drop_message: Option<String>,
}

/// `POST /v3/{domain}/messages.mime`.
#[derive(Serialize, ToSchema)]
pub struct SendMimeForm {
    pub to: Vec<String>,
    /// The whole MIME message.
    #[schema(value_type = String, format = Binary)]
    pub message: Vec<u8>,
    #[serde(rename = "o:tag")]
    pub o_tag: Option<Vec<String>>,
    #[serde(rename = "o:deliverytime")]
    pub o_deliverytime: Option<String>,
    #[serde(rename = "o:testmode")]
    pub o_testmode: Option<String>,
}

/// A DNS record to publish, and whether it was found.
#[derive(Serialize, ToSchema)]
pub struct DnsRecord {
    pub record_type: String,
    pub name: String,
    pub value: String,
    /// "unknown" until verified, then "valid" or "invalid".
    pub valid: String,
    pub is_active: bool,
    pub cached: Vec<String>,
    pub priority: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// "unverified", "active" or "disabled".
    pub state: String,
    pub require_tls: bool,
    pub skip_verification: bool,
    pub smtp_login: String,
    pub spam_action: String,
    pub wildcard: bool,
    pub web_scheme: String,
    pub web_prefix: String,
    pub from_policy: String,
}

#[derive(Serialize, ToSchema)]
pub struct DomainWithRecords {
    pub domain: Domain,
    pub sending_dns_records: Vec<DnsRecord>,
    pub receiving_dns_records: Vec<DnsRecord>,
    pub message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DomainList {
    pub total_count: i64,
    pub items: Vec<Domain>,
}

/// `POST /v4/domains`.
#[derive(Serialize, ToSchema)]
pub struct CreateDomainForm {
    pub name: String,
    /// Creates the SMTP credential postmaster@NAME with this password.
    pub smtp_password: Option<String>,
    /// "rsa" (default) or "ed25519".
    pub dkim_algorithm: Option<String>,
    /// RSA key size: 1024, 2048 (default) or 4096.
    pub dkim_key_size: Option<i64>,
    /// Default "k1".
    pub dkim_selector: Option<String>,
    /// "disabled", "tag" or "block".
    pub spam_action: Option<String>,
    pub web_scheme: Option<String>,
    pub web_prefix: Option<String>,
    pub require_tls: Option<bool>,
    pub skip_verification: Option<bool>,
    pub wildcard: Option<bool>,
}

/// `PUT /v4/domains/{domain}`: the settings to change.
#[derive(Serialize, ToSchema)]
pub struct UpdateDomainForm {
    pub require_tls: Option<bool>,
    pub skip_verification: Option<bool>,
    pub wildcard: Option<bool>,
    pub spam_action: Option<String>,
    pub web_scheme: Option<String>,
    pub web_prefix: Option<String>,
    /// Who may be named in From: "domain" (default) or "allowlist".
    pub from_policy: Option<String>,
    pub smtp_password: Option<String>,
}

/// The TLS settings of a domain's deliveries.
#[derive(Serialize, ToSchema)]
pub struct ConnectionForm {
    /// Deliver only over TLS; otherwise retry, then fail.
    pub require_tls: Option<bool>,
    /// With TLS, accept an MX certificate that does not verify.
    pub skip_verification: Option<bool>,
}

/// An API key; `secret` only in the answer that created or rotated it.
#[derive(Serialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub description: String,
    /// "domain" or "user" (account).
    pub kind: String,
    /// "admin" or "sending".
    pub role: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub rotated_at: Option<String>,
    pub previous_secret_valid_until: Option<String>,
    pub domain_name: Option<String>,
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyAnswer {
    pub key: ApiKey,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub total_count: i64,
    pub items: Vec<ApiKey>,
}

/// `POST /v1/keys`.
#[derive(Serialize, ToSchema)]
pub struct CreateKeyForm {
    /// "sending" (send only, one domain) or "admin".
    pub role: String,
    /// "domain" (needs domain_name) or "user".
    pub kind: Option<String>,
    pub domain_name: Option<String>,
    pub description: Option<String>,
    /// Seconds until it expires.
    pub expiration: Option<i64>,
}

/// `POST /v1/keys/{id}/rotate`.
#[derive(Serialize, ToSchema)]
pub struct RotateForm {
    /// How long the replaced secret keeps working: "24h" (default), "0s".
    pub grace: Option<String>,
}

/// Links to the pages around this one.
#[derive(Serialize, ToSchema)]
pub struct Paging {
    pub first: Option<String>,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub last: Option<String>,
}

/// A page of items (events, suppressions, templates…), with paging links.
#[derive(Serialize, ToSchema)]
pub struct Page {
    /// The items, each in Mailgun's shape for the list.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub paging: Paging,
}

/// Items without paging (credentials, DKIM keys…).
#[derive(Serialize, ToSchema)]
pub struct Items {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub total_count: Option<i64>,
}

/// A JSON object whose fields the endpoint's description lists.
#[derive(Serialize, ToSchema)]
pub struct Object {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
}

/// `POST /v3/domains/{domain}/credentials`.
#[derive(Serialize, ToSchema)]
pub struct CredentialForm {
    /// A name (becomes name@domain) or the full login@domain; repeatable.
    pub login: String,
    /// 5 to 32 characters; generated (and shown once) when absent.
    pub password: Option<String>,
}

/// `PUT /v3/domains/{domain}/credentials/{login}`.
#[derive(Serialize, ToSchema)]
pub struct PasswordForm {
    pub password: String,
    /// How long the old password keeps working.
    pub grace: Option<String>,
}

/// `POST /v3/domains/{domain}/ip_allowlist`.
#[derive(Serialize, ToSchema)]
pub struct AllowlistForm {
    /// An IP address or a CIDR network.
    pub address: String,
    pub description: Option<String>,
}

/// `POST /v3/domains/{domain}/webhooks`; `PUT` takes `url` only.
#[derive(Serialize, ToSchema)]
pub struct WebhookForm {
    /// The event: accepted, delivered, opened, clicked, unsubscribed,
    /// complained, permanent_fail, temporary_fail.
    pub id: Option<String>,
    /// Up to 3 URLs (repeatable).
    pub url: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookUrls {
    pub urls: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    pub message: Option<String>,
    pub webhook: WebhookUrls,
}

/// `POST /v3/{domain}/{table}` (bounces, unsubscribes, complaints): one
/// address as a form, or many as a JSON array of these objects.
#[derive(Serialize, ToSchema)]
pub struct SuppressionForm {
    pub address: String,
    /// Bounces: the SMTP code and error.
    pub code: Option<String>,
    pub error: Option<String>,
    /// Unsubscribes: the tag unsubscribed from ("*": everything).
    pub tag: Option<String>,
    pub created_at: Option<String>,
}

/// `POST /v3/{domain}/templates`; versions take `tag`, `template`,
/// `comment`, `active`, `headers`.
#[derive(Serialize, ToSchema)]
pub struct TemplateForm {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The Handlebars source of the first (or this) version.
    pub template: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    /// "yes": this version becomes the active one.
    pub active: Option<String>,
    /// JSON object of headers the version sets (Subject, From, Reply-To).
    pub headers: Option<String>,
}

/// `PUT /v1/dkim_management/domains/{domain}/rotation`.
#[derive(Serialize, ToSchema)]
pub struct RotationForm {
    /// "30d", "90d"…, or "0" to stop rotating.
    pub rotation_interval: String,
}

/// `POST /v1/dkim/keys`.
#[derive(Serialize, ToSchema)]
pub struct DkimKeyForm {
    pub signing_domain: String,
    pub selector: String,
    /// "rsa" or "ed25519".
    pub algorithm: Option<String>,
    pub bits: Option<i64>,
    /// A PEM private key to import instead of generating one.
    pub pem: Option<String>,
}

/// The readiness checks.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// "ready" or "not ready".
    pub status: String,
    /// With 503: what is not ready.
    pub message: Option<String>,
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// The refusals of every endpoint that takes a key.
#[derive(utoipa::IntoResponses)]
pub enum Refusals {
    #[response(
        status = 400,
        description = "Bad input: message names the field and what to do"
    )]
    BadInput(Message),
    #[response(status = 401, description = "No key, or a wrong one")]
    NoKey(Message),
    #[response(
        status = 403,
        description = "This key may not do this (a sending key, another domain), or the domain is suspended"
    )]
    NotThisKey(Message),
    #[response(status = 404, description = "No such domain or item")]
    NotFound(Message),
}

/// What a send may be refused besides: its size and a rate limit.
#[derive(utoipa::IntoResponses)]
pub enum SendLimits {
    #[response(status = 413, description = "Larger than [smtp].max_message_size")]
    TooLarge(Message),
    #[response(status = 429, description = "A rate limit: Retry-After says when")]
    Limited(Message),
}
