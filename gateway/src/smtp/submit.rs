//! A message received over SMTP joins the queue exactly as one sent over
//! HTTP: the same checks on the MIME, `X-Mailgun-*` headers as options (then
//! removed), the same `accept` (durable before the 250).

use crate::accept::{accept, AcceptError, Acceptor};
use crate::compose::address::{parse_mailbox, Mailbox};
use crate::compose::options::{from_mailgun_headers, substitute};
use crate::compose::{whole, Outgoing, Summary};
use crate::events::Method;

use crate::net::smtp_server::machine::Envelope;
use crate::net::smtp_server::reply::Reply;

pub async fn submit(app: &Acceptor<'_>, env: Envelope) -> Reply {
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
    let prepared = match whole::prepare_whole(&env.data, &domain.name) {
        Ok(p) => p,
        Err(e) => return Reply::bad_message(e.to_string()),
    };
    let mut body = prepared.mime;
    let headers = whole::take_mailgun_headers(&mut body);
    let (opts, recipient_vars) = match from_mailgun_headers(&headers) {
        Ok(o) => o,
        Err(e) => return Reply::bad_message(e.to_string()),
    };
    let mut recipients = Vec::with_capacity(env.rcpt_to.len());
    for r in &env.rcpt_to {
        match parse_mailbox("to", r) {
            Ok(m) => recipients.push(m),
            Err(e) => return Reply::bad_message(e.to_string()),
        }
    }
    let summary = Summary {
        from: prepared.from.to_string(),
        to: prepared.to,
        subject: prepared.subject,
        attachments: Vec::new(),
    };
    let messages = match recipient_vars {
        // Batch sending: a copy per recipient, its variables filled in.
        Some(vars) => per_recipient(
            &body,
            &recipients,
            &vars,
            &prepared.message_id,
            &prepared.authors,
            &summary,
            &opts.user_variables,
        ),
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
    match accept(app, &domain, &opts, &messages, Method::Smtp).await {
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
fn per_recipient(
    body: &[u8],
    recipients: &[Mailbox],
    vars: &serde_json::Map<String, serde_json::Value>,
    message_id: &str,
    authors: &[Mailbox],
    summary: &Summary,
    user_variables: &serde_json::Map<String, serde_json::Value>,
) -> Vec<Outgoing> {
    let text = std::str::from_utf8(body).ok();
    recipients
        .iter()
        .map(|r| {
            let own = vars.get(&r.addr).and_then(|v| v.as_object());
            let mime = match text {
                Some(t) => substitute(t, own).into_bytes(),
                None => body.to_vec(),
            };
            Outgoing {
                message_id: message_id.to_string(),
                mime,
                user_variables: (!user_variables.is_empty())
                    .then(|| crate::compose::options::fill_variables(user_variables, own)),
                sender: authors[0].addr.clone(),
                authors: authors.to_vec(),
                recipients: vec![r.clone()],
                summary: Summary {
                    to: r.to_string(),
                    subject: substitute(&summary.subject, own),
                    ..summary.clone()
                },
            }
        })
        .collect()
}
