//! A message received over SMTP joins the queue exactly as one sent over
//! HTTP: the same checks on the MIME, `X-Mailgun-*` headers as options (then
//! removed), the same `accept` (durable before the 250).

use crate::accept::{accept, AcceptError, Acceptor};
use crate::compose::address::{parse_mailbox, Mailbox};
use crate::compose::options::{from_mailgun_headers, substitute};
use crate::compose::template::{into_mime, RenderError, TemplateUse};
use crate::compose::{whole, Outgoing, Summary};
use crate::events::Method;

use crate::net::smtp_server::machine::Envelope;
use crate::net::smtp_server::reply::Reply;

pub async fn submit(app: &Acceptor<'_>, mut env: Envelope) -> Reply {
    let domain = match app.store.domain(&env.domain).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Reply::bad_message(format!(
                "domain {} no longer exists; nothing was stored",
                env.domain
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "SMTP submission: store unavailable");
            return Reply::store_failed();
        }
    };
    // The DATA bytes become the message itself, not a copy of them.
    let prepared = match whole::prepare_whole(std::mem::take(&mut env.data), &domain.name) {
        Ok(p) => p,
        Err(e) => return Reply::bad_message(e.to_string()),
    };
    let mut body = prepared.mime;
    let headers = whole::take_mailgun_headers(&mut body);
    let (opts, recipient_vars) = match from_mailgun_headers(&headers) {
        Ok(o) => o,
        Err(e) => return Reply::bad_message(e.to_string()),
    };
    let template = match template_choice(&headers) {
        None => None,
        Some(choice) => {
            match crate::templates::resolve(app.store, &domain, &choice, &opts.user_variables).await
            {
                Ok(t) => Some(t),
                Err(crate::templates::TemplateError::Store(e)) => {
                    tracing::error!(error = %e, "SMTP submission: store unavailable");
                    return Reply::store_failed();
                }
                Err(e) => return Reply::bad_message(format!("{e}; nothing was stored")),
            }
        }
    };
    let mut recipients = Vec::with_capacity(env.rcpt_to.len());
    for r in &env.rcpt_to {
        match parse_mailbox("to", r) {
            Ok(m) => recipients.push(m),
            Err(e) => return Reply::bad_message(e.to_string()),
        }
    }
    let subject = match template.as_ref().and_then(|t| t.header("Subject")) {
        Some(s) if prepared.subject.is_empty() => s.to_string(),
        _ => prepared.subject,
    };
    let summary = Summary {
        from: prepared.from.to_string(),
        to: prepared.to,
        subject,
        attachments: Vec::new(),
    };
    let rendered = match (&template, &recipient_vars) {
        (Some(t), None) => match t.render(None) {
            Ok(html) => Some(into_mime(&body, t, &html)),
            Err(e) => return Reply::bad_message(format!("{e}; nothing was stored")),
        },
        _ => None,
    };
    let body = rendered.unwrap_or(body);
    let mut messages = match recipient_vars {
        // Batch sending: a copy per recipient, its variables filled in.
        Some(vars) => match per_recipient(
            &body,
            &recipients,
            &vars,
            &Copies {
                message_id: &prepared.message_id,
                authors: &prepared.authors,
                summary: &summary,
                user_variables: &opts.user_variables,
                template: template.as_ref(),
            },
        ) {
            Ok(m) => m,
            Err(e) => return Reply::bad_message(format!("{e}; nothing was stored")),
        },
        None => vec![Outgoing {
            message_id: prepared.message_id,
            mime: body,
            sender: prepared.from.addr.clone(),
            authors: prepared.authors,
            recipients,
            summary,
            user_variables: None,
        }],
    };
    match accept(app, &domain, &opts, &mut messages, Method::Smtp).await {
        Ok(()) => {
            tracing::info!(domain = %domain.name, id = %messages[0].message_id, recipients = env.rcpt_to.len(), "accepted over SMTP");
            Reply::queued(&messages[0].message_id)
        }
        Err(AcceptError::Limited(l)) => {
            tracing::warn!(domain = %domain.name, limit = %l.rate, "SMTP submission over the domain's sending limit");
            Reply::sending_limit(&domain.name, &l)
        }
        Err(AcceptError::NotYourAuthor(refusal)) => {
            tracing::warn!(domain = %domain.name, %refusal, "SMTP submission refused: From or Sender not of the domain");
            Reply::not_your_author(&refusal)
        }
        Err(e @ AcceptError::Suspended { .. }) => {
            tracing::warn!(domain = %domain.name, "SMTP submission refused: the domain is suspended");
            Reply::suspended(&e.to_string())
        }
        Err(AcceptError::Store(e)) => {
            tracing::error!(error = %e, "SMTP submission could not be stored");
            Reply::store_failed()
        }
    }
}

/// One copy per recipient, `%recipient.KEY%` filled in from its variables
/// (in a UTF-8 message; other bytes are left as they are). Every copy keeps
/// the message's Message-ID, as Mailgun's batch sends do.
/// What every copy of a batch shares.
struct Copies<'a> {
    message_id: &'a str,
    authors: &'a [Mailbox],
    summary: &'a Summary,
    user_variables: &'a serde_json::Map<String, serde_json::Value>,
    template: Option<&'a TemplateUse>,
}

fn per_recipient(
    body: &[u8],
    recipients: &[Mailbox],
    vars: &serde_json::Map<String, serde_json::Value>,
    c: &Copies<'_>,
) -> Result<Vec<Outgoing>, RenderError> {
    recipients
        .iter()
        .map(|r| {
            let own = vars.get(&r.addr).and_then(|v| v.as_object());
            // The template rendered with the recipient's own variables.
            let body = match c.template {
                Some(t) => into_mime(body, t, &t.render(vars.get(&r.addr))?),
                None => body.to_vec(),
            };
            let mime = match std::str::from_utf8(&body) {
                Ok(t) => substitute(t, own).into_bytes(),
                Err(_) => body,
            };
            Ok(Outgoing {
                message_id: c.message_id.to_string(),
                mime,
                user_variables: (!c.user_variables.is_empty())
                    .then(|| crate::compose::options::fill_variables(c.user_variables, own)),
                sender: c.authors[0].addr.clone(),
                authors: c.authors.to_vec(),
                recipients: vec![r.clone()],
                summary: Summary {
                    to: r.to_string(),
                    subject: substitute(&c.summary.subject, own),
                    ..c.summary.clone()
                },
            })
        })
        .collect()
}

/// `X-Mailgun-Template-Name` (and `-Version`, `-Variables`), as Mailgun
/// takes them over SMTP.
fn template_choice(headers: &[(String, String)]) -> Option<crate::templates::Choice<'_>> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    Some(crate::templates::Choice {
        name: get("X-Mailgun-Template-Name")?,
        tag: get("X-Mailgun-Template-Version"),
        variables: get("X-Mailgun-Template-Variables").map(|v| ("X-Mailgun-Template-Variables", v)),
        text: false,
    })
}
