//! A report received on `[inbound].listen`: matched to its message by the
//! VERP recipient, then recorded. A bounce (DSN) becomes a `failed` event
//! (permanent: a bounce suppression, unless the receiver blocked the sender,
//! 5.7.x); a complaint (ARF) becomes a `complained` event and a complaint
//! suppression; a message to the List-Unsubscribe mailto goes to `mailto`,
//! a DMARC or TLS report to the `rua` addresses to `rua`.
//! Anything else is refused, never relayed.

use policy::delivery::PermanentReason;
use policy::disposition::{self, Next};
use policy::suppression::List;

use super::report::{classify, Failure, Report};
use crate::compose::SendOptions;
use crate::crypto::MasterKey;
use crate::events::{self, DeliveredMessage, DeliveryStatus};
use crate::net::smtp_server::machine::Envelope;
use crate::net::smtp_server::reply::{EnhancedCode, Reply};
use crate::net::verp;
use crate::reputation::Reputation;
use crate::store::messages::ReportTarget;
use crate::store::now_micros;
use crate::store::queue::{Outcome, RecipientUpdate, Suppression};
use crate::store::Store;

/// What recording reports takes: no more.
pub struct Intake<'a> {
    pub store: &'a Store,
    /// Opens the VERP return path.
    pub master_key: &'a MasterKey,
    /// Told of new outcomes, to assess the domain again.
    pub reputation: &'a Reputation,
    /// `[delivery]`: nameservers, and the HELO name whose addresses are
    /// envoi's own (DMARC reports).
    pub dns: &'a crate::config::DeliveryConfig,
}

pub async fn receive(app: &Intake<'_>, env: Envelope) -> Reply {
    if env
        .rcpt_to
        .iter()
        .any(|r| local_part_is(r, &["unsubscribe"]))
    {
        return super::mailto::unsubscribe(app, &env.data).await;
    }
    if env
        .rcpt_to
        .iter()
        .any(|r| local_part_is(r, &super::rua::LOCAL_PARTS))
    {
        return super::rua::receive(app, &env.data).await;
    }
    let message_id = env.rcpt_to.iter().find_map(|r| {
        let local = r.rsplit_once('@').map_or(r.as_str(), |(l, _)| l);
        verp::message_of(app.master_key, local)
    });
    let Some(message_id) = message_id else {
        return Reply::new(
            550,
            EnhancedCode(5, 1, 1),
            "no such address: reports are accepted only at the return path of a message sent by this server",
        );
    };
    let target = match app.store.report_target(message_id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            // The message (or its domain) was deleted since: nothing to record.
            return Reply::new(
                250,
                EnhancedCode(2, 0, 0),
                "report accepted; its message no longer exists",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "inbound report: store unavailable");
            return Reply::store_failed();
        }
    };
    let outcomes = match classify(&env.data) {
        Report::Other => {
            return Reply::new(
                550,
                EnhancedCode(5, 7, 1),
                "this address accepts only delivery status notifications (RFC 3464) and feedback reports (RFC 5965); nothing was relayed",
            )
        }
        Report::Delivery(failures) => bounces(&target, &failures),
        Report::Feedback {
            feedback_type,
            recipients,
        } => complaints(&target, &feedback_type, &recipients),
    };
    let outcomes = match outcomes {
        Ok(o) => o,
        Err(why) => {
            // Recorded later, once the row is repaired: the reporter retries.
            tracing::error!(error = %why, "inbound report for a damaged message");
            return Reply::new(451, EnhancedCode(4, 3, 0), why);
        }
    };
    if outcomes.is_empty() {
        return Reply::new(
            250,
            EnhancedCode(2, 0, 0),
            "report accepted; it names none of the message's recipients",
        );
    }
    if let Err(e) = app.store.record_outcomes(&outcomes).await {
        tracing::error!(error = %e, "inbound report could not be recorded");
        return Reply::store_failed();
    }
    app.reputation.changed(target.message.domain_id);
    tracing::info!(domain = %target.domain_name, message = %target.message.message_id, n = outcomes.len(), "inbound report recorded");
    Reply::new(250, EnhancedCode(2, 0, 0), "report recorded")
}

/// Whether `rcpt` is one of `locals` at the bounce domain (the listener
/// takes mail for that domain only): `unsubscribe@`, the mailto of
/// List-Unsubscribe; `dmarc@` and `tls-reports@`, the report addresses.
fn local_part_is(rcpt: &str, locals: &[&str]) -> bool {
    rcpt.rsplit_once('@')
        .is_some_and(|(local, _)| locals.iter().any(|l| local.eq_ignore_ascii_case(l)))
}

/// The message's recipients a report names; when it names none of them (a
/// redacted report) and the message had one recipient, that one.
fn matched<'a>(t: &'a ReportTarget, named: &[&str]) -> Vec<&'a (i64, String)> {
    let found: Vec<_> = t
        .recipients
        .iter()
        .filter(|(_, a)| named.iter().any(|n| n.eq_ignore_ascii_case(a)))
        .collect();
    if found.is_empty() && t.recipients.len() == 1 {
        return t.recipients.iter().collect();
    }
    found
}

fn view<'a>(t: &'a ReportTarget, opts: &'a SendOptions) -> DeliveredMessage<'a> {
    DeliveredMessage {
        message_id: &t.message.message_id,
        storage_key: &t.message.storage_key,
        from: &t.message.sender,
        to: "",
        subject: "",
        size: t.message.size,
        opts,
        method: &t.message.method,
    }
}

fn bounces(t: &ReportTarget, failures: &[Failure]) -> Result<Vec<Outcome>, String> {
    let opts = SendOptions::from_stored(&t.message.options, &t.message.message_id)?;
    let named: Vec<&str> = failures.iter().map(|f| f.address.as_str()).collect();
    let now = now_micros();
    Ok(matched(t, &named)
        .into_iter()
        .map(|(id, address)| {
            let f = failures
                .iter()
                .find(|f| f.address.eq_ignore_ascii_case(address))
                .unwrap_or(&failures[0]);
            // A block of the sender (5.7.x) says nothing about the address.
            let reason = if matches!(f.status, EnhancedCode(5, 7, _)) {
                PermanentReason::EspBlock
            } else {
                PermanentReason::Bounce
            };
            let st = DeliveryStatus {
                code: if f.permanent() { 550 } else { 450 },
                enhanced_code: Some(f.status),
                message: "asynchronous bounce (delivery status notification)".into(),
                description: format!("the receiving server reported {} for {address}", f.status),
                ..Default::default()
            };
            let disp = disposition::of_report(f.permanent(), reason);
            Outcome {
                recipient_id: *id,
                domain_id: t.message.domain_id,
                lease: None,
                update: match disp.next {
                    Next::Failed => RecipientUpdate::Failed,
                    _ => RecipientUpdate::Unchanged,
                },
                attempted: false,
                event: Some(events::delivery(
                    &view(t, &opts),
                    address,
                    disp.failure,
                    &st,
                    now,
                )),
                suppress: disp.suppress.map(|kind| Suppression {
                    kind,
                    address: address.clone(),
                    code: "550".into(),
                    error: format!("{} (asynchronous bounce)", f.status),
                }),
            }
        })
        .collect())
}

fn complaints(
    t: &ReportTarget,
    feedback_type: &str,
    recipients: &[String],
) -> Result<Vec<Outcome>, String> {
    let opts = SendOptions::from_stored(&t.message.options, &t.message.message_id)?;
    let named: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let now = now_micros();
    Ok(matched(t, &named)
        .into_iter()
        .map(|(id, address)| Outcome {
            recipient_id: *id,
            domain_id: t.message.domain_id,
            lease: None,
            update: RecipientUpdate::Unchanged,
            attempted: false,
            event: Some(events::complained(
                &view(t, &opts),
                address,
                feedback_type,
                now,
            )),
            suppress: Some(Suppression {
                kind: List::Complaint,
                address: address.clone(),
                code: String::new(),
                error: feedback_type.to_string(),
            }),
        })
        .collect())
}
