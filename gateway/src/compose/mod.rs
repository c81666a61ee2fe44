//! Turning a send request into RFC 5322 messages ready to queue: validation,
//! batch expansion with `recipient-variables`, MIME building. No I/O.

pub mod address;
pub mod headers;
pub mod mime;
pub mod options;
pub mod template;
pub mod whole;

use serde_json::Value;

pub use address::Mailbox;
pub use options::SendOptions;

pub use policy::limits::MAX_RECIPIENTS;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{0} parameter is missing. Add the {0} field to the request.")]
    Missing(&'static str),
    #[error("{field} parameter is not a valid address: {value:?}. Use name@example.com or \"Name <name@example.com>\".")]
    InvalidAddress { field: &'static str, value: String },
    #[error("Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified.")]
    NoBody,
    #[error("{0} contains a line break (CR or LF): header fields must be a single line; remove the line breaks")]
    HeaderInjection(String),
    #[error("invalid header name {0:?} in h:{0}: use printable ASCII without spaces or colons")]
    BadHeaderName(String),
    #[error("{field} contains the control character {}: header fields and addresses take text and TAB only; remove it", control_name(*.code))]
    ControlCharacter { field: String, code: u32 },
    #[error("{0} contains a NUL byte: a text part cannot carry one; remove it, or send the content as an attachment (sent base64-encoded)")]
    NulInBody(&'static str),
    #[error("h:{0} cannot be set: envoi writes the {0} header itself and a message never carries two. Use the API field for it (to, cc, o:deliverytime...) or leave it out")]
    ReservedHeader(String),
    #[error("h:{0} is given twice: a message carries one {0} header; send it once")]
    DuplicateHeader(String),
    #[error("the MIME message is malformed: it has {0} From header fields, and RFC 5322 allows exactly one; send one From field (it may list several mailboxes)")]
    FromCount(usize),
    #[error("Too many recipients, max is 1000 (to + cc + bcc = {0}). Split the send into batches of at most 1000.")]
    TooManyRecipients(usize),
    #[error("too many tags ({0}): a message takes at most 3 o:tag values")]
    TooManyTags(usize),
    #[error("invalid tag {0:?}: a tag is at most 128 printable ASCII characters")]
    BadTag(String),
    #[error("Send options (parameters starting with o:, h:, or v:) are limited to 16KB total (got {0} bytes)")]
    OptionsTooLarge(usize),
    #[error("invalid value {value:?} for {name}: expected {expected}")]
    InvalidOption {
        name: String,
        value: String,
        expected: &'static str,
    },
    #[error("recipient-variables is not valid: {0}. Send a JSON object like {{\"bob@example.com\": {{\"first\": \"Bob\"}}}}")]
    RecipientVariables(String),
    #[error("message is too large: {0} bytes, the limit is {1} bytes")]
    TooLarge(usize, usize),
    #[error("the MIME message is malformed: {0}. Send a complete RFC 5322 message (headers, a blank line, the body) in the message part.")]
    BadMime(String),
    #[error("Only one parameters 'html' or 'template' is allowed.")]
    HtmlAndTemplate,
    #[error(transparent)]
    Template(#[from] template::RenderError),
}

fn control_name(code: u32) -> String {
    match code {
        0 => "NUL (0x00)".to_string(),
        c => format!("0x{c:02X}"),
    }
}

/// One message body to store, with its envelope recipients.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Without angle brackets (as in events); the API answers `<id>`.
    pub message_id: String,
    pub mime: Vec<u8>,
    /// The (first) From address, as events show it. Never the envelope
    /// sender: delivery uses a return path in the sending domain.
    pub sender: String,
    /// Every mailbox of From and Sender: who the message says it is from,
    /// checked against the sending domain (`policy::sender`).
    pub authors: Vec<Mailbox>,
    pub recipients: Vec<Mailbox>,
    pub summary: Summary,
    /// This copy's `v:` variables when a batch send filled them in per
    /// recipient; `None`: the send's own.
    pub user_variables: Option<serde_json::Map<String, Value>>,
}

/// What events show of a message, stored with it at accept time.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub attachments: Vec<AttachmentInfo>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInfo {
    pub filename: String,
    #[serde(rename = "content-type")]
    pub content_type: String,
    pub size: usize,
}

/// A file given as `attachment` or `inline`.
#[derive(Debug, Clone)]
pub struct File {
    pub filename: String,
    pub content_type: Option<String>,
    pub data: bytes::Bytes,
}

/// The fields of `POST /v3/{domain}/messages`, already split by kind.
#[derive(Debug, Default)]
pub struct SendRequest<'a> {
    pub from: Option<&'a str>,
    pub to: Vec<&'a str>,
    pub cc: Vec<&'a str>,
    pub bcc: Vec<&'a str>,
    pub subject: Option<&'a str>,
    pub text: Option<&'a str>,
    pub html: Option<&'a str>,
    pub amp_html: Option<&'a str>,
    pub attachments: Vec<File>,
    pub inlines: Vec<File>,
    /// `h:Name` → ("Name", value), in order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// `v:name` and `o:...` as given, for validation and the 16 KB limit.
    pub variables: Vec<(&'a str, &'a str)>,
    pub options: Vec<(&'a str, &'a str)>,
    pub recipient_variables: Option<&'a str>,
    /// A stored template to render as the HTML part (`template`).
    pub template: Option<template::TemplateUse>,
}

/// A field that becomes a header: one line, no control characters.
pub fn check_single_line(field: &str, value: &str) -> Result<(), ComposeError> {
    headers::check_value(field, value)
}

/// Options shared by both send endpoints: `o:`, `v:`, the 16 KB limit.
pub fn parse_options(
    req_options: &[(&str, &str)],
    vars: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Result<SendOptions, ComposeError> {
    let total: usize = req_options
        .iter()
        .chain(vars)
        .map(|(k, v)| k.len() + v.len() + 2)
        .chain(headers.iter().map(|(k, v)| k.len() + v.len() + 2))
        .sum();
    if total > options::MAX_OPTIONS_BYTES {
        return Err(ComposeError::OptionsTooLarge(total));
    }
    let mut opts = SendOptions::default();
    for (k, v) in req_options {
        opts.apply(k, v)?;
    }
    // `h:X-Mailgun-Variables` (a JSON object, as mailgun.js's README sends
    // template variables) is variables, as `v:` fields are.
    for (_, v) in headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(VARIABLES_HEADER))
    {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(v) else {
            return Err(ComposeError::InvalidOption {
                name: format!("h:{VARIABLES_HEADER}"),
                value: v.to_string(),
                expected: "a JSON object like {\"key\": \"value\"}",
            });
        };
        for (k, v) in map {
            match v {
                Value::String(s) => opts.set_variable(&k, &s),
                other => opts.set_variable(&k, &other.to_string()),
            }
        }
    }
    for (k, v) in vars {
        opts.set_variable(k, v);
    }
    Ok(opts)
}

const VARIABLES_HEADER: &str = "X-Mailgun-Variables";

pub fn new_message_id(domain: &str) -> String {
    let now = chrono::Utc::now().format("%Y%m%d%H%M%S");
    format!("{now}.{}@{domain}", crate::crypto::random_hex(8))
}

/// Build the message(s) of a send request. With `recipient-variables`, one
/// copy per recipient (only that address in To, `%recipient.KEY%` filled in);
/// without, one message whose To lists every `to` address.
pub fn compose(
    domain: &str,
    req: &SendRequest<'_>,
    opts: &SendOptions,
) -> Result<Vec<Outgoing>, ComposeError> {
    // `h:X-Mailgun-Variables` went into the variables (`parse_options`).
    let written_headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(VARIABLES_HEADER))
        .copied()
        .collect();
    let custom = headers::classify(&written_headers)?;
    let tpl = req.template.as_ref();
    // A template's From, else Mailgun's default for a template send.
    let postmaster = format!("postmaster@{domain}");
    let (from_field, from_raw) = match (custom.from, req.from, tpl) {
        (Some(h), _, _) => ("h:From", h),
        (None, Some(f), _) => ("from", f),
        (None, None, Some(t)) => ("template From", t.header("From").unwrap_or(&postmaster)),
        (None, None, None) => return Err(ComposeError::Missing("from")),
    };
    check_single_line(from_field, from_raw)?;
    let from = address::parse_mailbox("from", from_raw)?;
    let mut authors = vec![from.clone()];
    if let Some(sender) = custom.sender {
        authors.push(address::parse_mailbox("h:Sender", sender)?);
    }
    if req.to.is_empty() {
        return Err(ComposeError::Missing("to"));
    }
    for (field, vals) in [("to", &req.to), ("cc", &req.cc), ("bcc", &req.bcc)] {
        for v in vals.iter() {
            check_single_line(field, v)?;
        }
    }
    let to = address::parse_list("to", req.to.iter().copied())?;
    let cc = address::parse_list("cc", req.cc.iter().copied())?;
    let bcc = address::parse_list("bcc", req.bcc.iter().copied())?;
    if to.is_empty() {
        return Err(ComposeError::Missing("to"));
    }
    let count = to.len() + cc.len() + bcc.len();
    if count > MAX_RECIPIENTS {
        return Err(ComposeError::TooManyRecipients(count));
    }
    if tpl.is_some() && req.html.is_some() {
        return Err(ComposeError::HtmlAndTemplate);
    }
    if req.text.is_none() && req.html.is_none() && req.amp_html.is_none() && tpl.is_none() {
        return Err(ComposeError::NoBody);
    }
    // An empty subject (Django sends one) leaves the template's in place.
    let subject = custom
        .subject
        .or(req.subject.filter(|s| !s.is_empty() || tpl.is_none()))
        .or_else(|| tpl.and_then(|t| t.header("Subject")));
    if let Some(s) = subject {
        check_single_line("subject", s)?;
    }
    let mut written: Vec<(&str, &str)> = custom.rest.clone();
    if let Some(sender) = custom.sender {
        written.push(("Sender", sender));
    }
    // The template's Reply-To, unless the message sets one.
    if let Some(reply_to) = tpl.and_then(|t| t.header("Reply-To")) {
        if !written
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Reply-To"))
        {
            check_single_line("template Reply-To", reply_to)?;
            written.push(("Reply-To", reply_to));
        }
    }

    let rcpt_vars = req
        .recipient_variables
        .map(options::parse_recipient_variables)
        .transpose()?;

    let content = mime::Content {
        from: &from,
        subject: subject.unwrap_or(""),
        text: req.text,
        html: req.html,
        amp_html: req.amp_html,
        attachments: &req.attachments,
        inlines: &req.inlines,
        headers: &written,
        user_variables: &opts.user_variables,
    };
    let attachments: Vec<AttachmentInfo> = req
        .attachments
        .iter()
        .chain(&req.inlines)
        .map(|f| AttachmentInfo {
            filename: f.filename.clone(),
            content_type: mime::content_type_of(f),
            size: f.data.len(),
        })
        .collect();

    let all = dedupe(to.iter().chain(&cc).chain(&bcc));
    let mut out = Vec::new();
    // One id for the whole send, as Mailgun: every copy of a batch carries
    // the id the sender was given, in its Message-Id and its events.
    let message_id = new_message_id(domain);
    match rcpt_vars {
        Some(vars) => {
            for rcpt in all {
                let v = vars.get(&rcpt.key());
                let message_id = message_id.clone();
                let rendered = tpl.map(|t| t.render(v)).transpose()?;
                let content = with_template(&content, tpl, rendered.as_deref());
                let mime = mime::build(
                    &content,
                    std::slice::from_ref(&rcpt),
                    &[],
                    &message_id,
                    Some(v),
                )?;
                out.push(outgoing(
                    message_id,
                    mime,
                    vec![rcpt.clone()],
                    &authors,
                    &rcpt.to_string(),
                    &content,
                    Some(v),
                    &attachments,
                ));
            }
        }
        None => {
            let rendered = tpl.map(|t| t.render(None)).transpose()?;
            let content = with_template(&content, tpl, rendered.as_deref());
            let mime = mime::build(&content, &to, &cc, &message_id, None)?;
            let to_header = to
                .iter()
                .map(Mailbox::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            out.push(outgoing(
                message_id,
                mime,
                all,
                &authors,
                &to_header,
                &content,
                None,
                &attachments,
            ));
        }
    }
    Ok(out)
}

/// The content with a rendered template as its HTML part (and text part,
/// with `t:text=yes`).
fn with_template<'a>(
    content: &mime::Content<'a>,
    tpl: Option<&template::TemplateUse>,
    rendered: Option<&'a str>,
) -> mime::Content<'a> {
    match (tpl, rendered) {
        (Some(t), Some(html)) => mime::Content {
            html: Some(html),
            text: if t.text { Some(html) } else { content.text },
            ..*content
        },
        _ => *content,
    }
}

#[allow(clippy::too_many_arguments)]
fn outgoing(
    message_id: String,
    mime: Vec<u8>,
    recipients: Vec<Mailbox>,
    authors: &[Mailbox],
    to: &str,
    content: &mime::Content<'_>,
    subst: Option<Option<&Value>>,
    attachments: &[AttachmentInfo],
) -> Outgoing {
    let batch = subst.is_some();
    let vars = subst.flatten().and_then(Value::as_object);
    let from = &authors[0];
    Outgoing {
        user_variables: (batch && !content.user_variables.is_empty())
            .then(|| options::fill_variables(content.user_variables, vars)),
        message_id,
        mime,
        sender: from.addr.clone(),
        authors: authors.to_vec(),
        recipients,
        summary: Summary {
            from: from.to_string(),
            to: to.to_string(),
            subject: options::substitute(content.subject, vars),
            attachments: attachments.to_vec(),
        },
    }
}

fn dedupe<'a>(list: impl Iterator<Item = &'a Mailbox>) -> Vec<Mailbox> {
    let mut seen = std::collections::HashSet::new();
    list.filter(|m| seen.insert(m.key())).cloned().collect()
}
