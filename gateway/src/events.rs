//! Events in Mailgun's shape, built here for every kind so the API, webhooks
//! and stats read one structure.

use policy::events::{EventKind, Failure, Severity};
use serde_json::{json, Value};

use crate::compose::{Outgoing, SendOptions};
use crate::crypto::random_hex;
use crate::store::events::NewEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Http,
    Smtp,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Http => "http",
            Method::Smtp => "smtp",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "http" => Some(Method::Http),
            "smtp" => Some(Method::Smtp),
            _ => None,
        }
    }
}

/// Event ids are opaque, like Mailgun's 22-character ones.
pub fn new_event_id() -> String {
    use base64::Engine;
    let raw = hex::decode(random_hex(16)).expect("hex");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub fn tags_json(opts: &SendOptions) -> String {
    serde_json::to_string(&opts.tags).expect("tags serialise")
}

/// The `accepted` event of one recipient of one message.
pub fn accepted(
    msg: &Outgoing,
    rcpt: &str,
    opts: &SendOptions,
    storage_key: &str,
    method: Method,
    ts: i64,
) -> NewEvent {
    let event_id = new_event_id();
    let recipients: Vec<&str> = msg.recipients.iter().map(|r| r.addr.as_str()).collect();
    let data = json!({
        "event": EventKind::Accepted.as_str(),
        "id": event_id,
        "timestamp": crate::time::epoch_seconds(ts),
        "log-level": "info",
        "method": method.as_str(),
        "recipient": rcpt,
        "recipient-domain": rcpt.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default(),
        "tags": opts.tags,
        "user-variables": Value::Object(opts.user_variables.clone()),
        "flags": {
            "is-authenticated": true,
            "is-test-mode": opts.testmode,
            "is-routed": false,
            "is-system-test": false,
        },
        "envelope": {
            "sender": msg.summary.from,
            "transport": "smtp",
            "targets": rcpt,
        },
        "message": {
            "headers": {
                "to": msg.summary.to,
                "message-id": msg.message_id,
                "from": msg.summary.from,
                "subject": msg.summary.subject,
            },
            "attachments": msg.summary.attachments,
            "recipients": recipients,
            "size": msg.mime.len(),
            "scheduled-for": opts.deliver_at.map(crate::time::epoch_seconds),
        },
        "storage": { "key": storage_key },
    });
    NewEvent {
        event_id,
        event: EventKind::Accepted,
        ts,
        recipient: Some(rcpt.to_string()),
        message_id: Some(msg.message_id.clone()),
        severity: None,
        reason: None,
        tags: tags_json(opts),
        method: Some(method.as_str()),
        data: data.to_string(),
    }
}

/// Mailgun's `delivery-status` of one attempt.
#[derive(Debug, Clone, Default)]
pub struct DeliveryStatus {
    pub code: u16,
    /// `""` in the event when the reply had none, as Mailgun shows it.
    pub enhanced_code: Option<policy::delivery::EnhancedCode>,
    pub message: String,
    pub description: String,
    pub mx_host: String,
    pub attempt_no: i64,
    pub tls: bool,
    /// envoi's own: "TLSv1.3" or "TLSv1.2" when `tls`.
    pub tls_version: Option<String>,
    pub certificate_verified: bool,
    pub session_seconds: f64,
    pub retry_seconds: Option<u64>,
}

/// What a delivery event says about the message.
pub struct DeliveredMessage<'a> {
    pub message_id: &'a str,
    pub storage_key: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub size: i64,
    pub opts: &'a SendOptions,
    pub method: &'a str,
}

/// `delivered`, or `failed` with its severity (`temporary`/`permanent`) and reason.
pub fn delivery(
    m: &DeliveredMessage<'_>,
    rcpt: &str,
    failure: Option<Failure>,
    st: &DeliveryStatus,
    ts: i64,
) -> NewEvent {
    let event_id = new_event_id();
    let kind = if failure.is_some() {
        EventKind::Failed
    } else {
        EventKind::Delivered
    };
    let log_level = match failure.map(|f| f.severity) {
        None => "info",
        Some(Severity::Temporary) => "warn",
        Some(Severity::Permanent) => "error",
    };
    let mut data = json!({
        "event": kind.as_str(),
        "id": event_id,
        "timestamp": crate::time::epoch_seconds(ts),
        "log-level": log_level,
        "method": m.method,
        "recipient": rcpt,
        "recipient-domain": rcpt.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default(),
        "tags": m.opts.tags,
        "user-variables": Value::Object(m.opts.user_variables.clone()),
        "flags": {
            "is-authenticated": true,
            "is-test-mode": m.opts.testmode,
            "is-routed": false,
            "is-system-test": false,
        },
        "envelope": {
            "sender": m.from,
            "transport": "smtp",
            "targets": rcpt,
            "sending-ip": "",
        },
        "message": {
            "headers": {
                "to": m.to,
                "message-id": m.message_id,
                "from": m.from,
                "subject": m.subject,
            },
            "attachments": [],
            "size": m.size,
        },
        "storage": { "key": m.storage_key },
        "delivery-status": {
            "code": st.code,
            "enhanced-code": st.enhanced_code.map(|e| e.to_string()).unwrap_or_default(),
            "message": st.message,
            "description": st.description,
            "mx-host": st.mx_host,
            "attempt-no": st.attempt_no,
            "tls": st.tls,
            "tls-version": st.tls_version,
            "certificate-verified": st.certificate_verified,
            "utf8": true,
            "session-seconds": st.session_seconds,
            "retry-seconds": st.retry_seconds,
        },
    });
    if let Some(f) = failure {
        data["severity"] = json!(f.severity.as_str());
        data["reason"] = json!(f.reason.as_str());
    }
    NewEvent {
        event_id,
        event: kind,
        ts,
        recipient: Some(rcpt.to_string()),
        message_id: Some(m.message_id.to_string()),
        severity: failure.map(|f| f.severity),
        reason: failure.map(|f| f.reason),
        tags: tags_json(m.opts),
        method: Method::parse(m.method).map(Method::as_str),
        data: data.to_string(),
    }
}

/// `unsubscribed`: a recipient used the one-click link of a message.
pub fn unsubscribed(
    recipient: &str,
    message_id: Option<&str>,
    storage_key: &str,
    ts: i64,
) -> NewEvent {
    let event_id = new_event_id();
    let data = json!({
        "event": EventKind::Unsubscribed.as_str(),
        "id": event_id,
        "timestamp": crate::time::epoch_seconds(ts),
        "log-level": "info",
        "recipient": recipient,
        "recipient-domain": recipient.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default(),
        "tags": [],
        "message": { "headers": { "message-id": message_id } },
        "storage": { "key": storage_key },
    });
    NewEvent {
        event_id,
        event: EventKind::Unsubscribed,
        ts,
        recipient: Some(recipient.to_string()),
        message_id: message_id.map(str::to_string),
        severity: None,
        reason: None,
        tags: "[]".into(),
        method: None,
        data: data.to_string(),
    }
}

/// `complained`: a feedback report (ARF) about a message to `recipient`.
pub fn complained(
    m: &DeliveredMessage<'_>,
    recipient: &str,
    feedback_type: &str,
    ts: i64,
) -> NewEvent {
    let event_id = new_event_id();
    let data = json!({
        "event": EventKind::Complained.as_str(),
        "id": event_id,
        "timestamp": crate::time::epoch_seconds(ts),
        "log-level": "warn",
        "recipient": recipient,
        "recipient-domain": recipient.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default(),
        "tags": m.opts.tags,
        "user-variables": Value::Object(m.opts.user_variables.clone()),
        "feedback-type": feedback_type,
        "message": { "headers": { "message-id": m.message_id, "from": m.from } },
        "storage": { "key": m.storage_key },
    });
    NewEvent {
        event_id,
        event: EventKind::Complained,
        ts,
        recipient: Some(recipient.to_string()),
        message_id: Some(m.message_id.to_string()),
        severity: None,
        reason: None,
        tags: tags_json(m.opts),
        method: Method::parse(m.method).map(Method::as_str),
        data: data.to_string(),
    }
}

/// `warning` (envoi's own): the domain's acceptable-use state worsened to
/// `warning` or `suspended`; `reason` is the rate, its value and threshold.
pub fn warning(domain: &str, state: &str, reason: Value, ts: i64) -> NewEvent {
    let event_id = new_event_id();
    let data = json!({
        "event": EventKind::Warning.as_str(),
        "id": event_id,
        "timestamp": crate::time::epoch_seconds(ts),
        "log-level": "warn",
        "domain": { "name": domain },
        "state": state,
        "reason": reason,
    });
    NewEvent {
        event_id,
        event: EventKind::Warning,
        ts,
        recipient: None,
        message_id: None,
        severity: None,
        reason: None,
        tags: "[]".into(),
        method: None,
        data: data.to_string(),
    }
}
