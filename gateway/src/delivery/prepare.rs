//! A message made ready for one attempt: decrypted, given its recipient's
//! unsubscribe link, signed, with its return path and what events show.

use super::{Deliverer, Job};
use crate::store::now_micros;
use crate::unsubscribe;

/// What a message looks like on the wire, prepared once per attempt.
pub(super) struct Prepared {
    /// MAIL FROM: a VERP address (`net::verp`) at the domain's own
    /// return-path host once its MX is at envoi, else at
    /// `[inbound].bounce_domain`, else at the sending domain.
    pub(super) return_path: String,
    pub(super) signature: Vec<u8>,
    /// The message as sent after the signature: this recipient's
    /// List-Unsubscribe headers, then the stored message.
    pub(super) body: Vec<u8>,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) subject: String,
}

/// Decrypts the body, gives it its unsubscribe link (headers and
/// `%unsubscribe_url%`), and signs it. A copy for one recipient (the usual
/// case, and every batch-send copy) names that recipient; a copy for several
/// recipients at one domain names them all by that domain.
pub(super) async fn prepare(d: &Deliverer, job: &Job) -> Result<Prepared, String> {
    let m = &job.message;
    let stored = d
        .ctx
        .master_key
        .open(
            &crate::accept::body_context(&m.msg.storage_key),
            &m.msg.sealed_body,
        )
        .map_err(|e| format!("the stored message could not be decrypted: {e}"))?;
    let recipients = match job.recipients.as_slice() {
        [one] => unsubscribe::Recipients::One(one.address.to_ascii_lowercase()),
        _ => unsubscribe::Recipients::AllAt(
            job.recipients
                .first()
                .map(|r| r.domain.to_ascii_lowercase())
                .unwrap_or_default(),
        ),
    };
    let token = unsubscribe::Token {
        domain: m.domain.name.clone(),
        recipients,
        storage_key: m.msg.storage_key.clone(),
    }
    .seal(&d.ctx.master_key);
    let config = &d.ctx.config;
    let mut body = unsubscribe::headers(config, &token).into_bytes();
    body.reserve(stored.len());
    append_with_link(&mut body, &stored, &unsubscribe::url(config, &token));
    let signature = if job.opts.dkim == Some(false) {
        Vec::new()
    } else {
        let keys = d.dkim_keys(&m.domain).await?;
        if keys.is_empty() {
            return Err(format!(
                "domain {} has no active DKIM key; activate one (messages are never sent unsigned by accident)",
                m.domain.name
            ));
        }
        let started = std::time::Instant::now();
        let signature = signer::sign(
            &body,
            &keys,
            signer::sign::default_options(now_micros() as u64 / 1_000_000),
        )
        .map_err(|e| format!("DKIM signing failed: {e}"))?;
        crate::telemetry::signed(started.elapsed());
        signature
    };
    // Stored at accept; parsed again only for messages queued before.
    let (from, to, subject) = match &m.msg.summary {
        Some(s) => (s.from.clone(), s.to.clone(), s.subject.clone()),
        None => match mail_parser::MessageParser::default().parse_headers(&body) {
            Some(p) => (
                header_text(&p, "From"),
                header_text(&p, "To"),
                p.subject().unwrap_or_default().to_string(),
            ),
            None => (m.msg.sender.clone(), String::new(), String::new()),
        },
    };
    // Never the From address: SPF is evaluated for the tenant's own domain
    // (or envoi's bounce domain), so nobody's SPF vouches for another's mail.
    let host = if m.domain.return_path_mx && config.inbound.listen.is_some() {
        crate::net::verp::host_of(&m.domain.name)
    } else {
        let bounces = config.inbound.bounce_domain.as_deref();
        bounces.unwrap_or(&m.domain.name).to_string()
    };
    let return_path = crate::net::verp::address(&d.ctx.master_key, m.msg.id, &host);
    Ok(Prepared {
        return_path,
        signature,
        body,
        from,
        to,
        subject,
    })
}

/// `message` onto `out`, with `%unsubscribe_url%` replaced by `url`.
pub(super) fn append_with_link(out: &mut Vec<u8>, message: &[u8], url: &str) {
    const PLACEHOLDER: &[u8] = b"%unsubscribe_url%";
    let mut rest = message;
    while let Some(i) = memchr::memmem::find(rest, PLACEHOLDER) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(url.as_bytes());
        rest = &rest[i + PLACEHOLDER.len()..];
    }
    out.extend_from_slice(rest);
}

pub(super) fn header_text(p: &mail_parser::Message<'_>, name: &str) -> String {
    p.header_raw(name)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}
