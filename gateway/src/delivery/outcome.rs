//! From a reply to a recipient's outcome: the fate of each recipient,
//! `policy::disposition` for what it means, and the event it records.

use std::time::Duration;

use policy::delivery::{classify, EnhancedCode, PermanentReason, Verdict};
use policy::disposition::{self, Next};
use policy::events::{Failure, Reason};
use policy::suppression::List;

use super::connect::SessionFacts;
use super::prepare::Prepared;
use super::{Deliverer, Job};
use crate::events::{self, DeliveredMessage, DeliveryStatus};
use crate::net::smtp::Reply;
use crate::store::now_micros;
use crate::store::queue::{Outcome, RecipientUpdate, Suppression};

/// How one recipient fared in one attempt.
pub(super) enum Fate {
    Delivered(Reply),
    Temporary(Reply),
    Permanent(PermanentReason, Reply),
}

impl Fate {
    pub(super) fn into_parts(self) -> (Verdict, Reply) {
        match self {
            Fate::Delivered(r) => (Verdict::Delivered, r),
            Fate::Temporary(r) => (Verdict::Temporary, r),
            Fate::Permanent(reason, r) => (Verdict::Permanent(reason), r),
        }
    }

    pub(super) fn from_reply(r: Reply) -> Fate {
        // The text matters only without an enhanced code: the message is it.
        match classify(r.code, r.enhanced, &r.message()) {
            Verdict::Delivered => Fate::Delivered(r),
            Verdict::Temporary => Fate::Temporary(r),
            Verdict::Permanent(reason) => Fate::Permanent(reason, r),
        }
    }
}

pub(super) fn local_temp(text: impl Into<String>) -> Reply {
    Reply::new(421, EnhancedCode(4, 4, 0), text)
}

/// Each recipient's fate: its RCPT refusal, or the end-of-data reply.
pub(super) fn fates(rcpt_replies: Vec<Reply>, end: &Reply) -> Vec<Fate> {
    rcpt_replies
        .into_iter()
        .map(|r| {
            if r.is_positive() {
                Fate::from_reply(end.clone())
            } else {
                Fate::from_reply(r)
            }
        })
        .collect()
}

pub(super) fn message_view<'a>(job: &'a Job, p: Option<&'a Prepared>) -> DeliveredMessage<'a> {
    let m = &job.message.msg;
    DeliveredMessage {
        message_id: &m.message_id,
        storage_key: &m.storage_key,
        from: p.map_or(m.sender.as_str(), |p| p.from.as_str()),
        to: p.map_or("", |p| p.to.as_str()),
        subject: p.map_or("", |p| p.subject.as_str()),
        size: m.size,
        opts: &job.opts,
        method: &m.method,
    }
}

/// Turns a fate into the recipient's new state, its event and any
/// suppression: `policy::disposition` decides, this writes it down.
pub(super) fn finish(
    d: &Deliverer,
    job: &Job,
    p: Option<&Prepared>,
    r: &crate::store::queue::LeasedRecipient,
    fate: Fate,
    facts: &SessionFacts,
) -> Outcome {
    let now = now_micros();
    let view = message_view(job, p);
    let attempt_no = r.attempts + 1;
    let (verdict, reply) = fate.into_parts();
    let age = Duration::from_micros((now - job.message.msg.created_at).max(0) as u64);
    let max_age = d.ctx.config.delivery.max_age.0;
    let disp = disposition::of_attempt(verdict, attempt_no as u32, &d.retry_schedule, age, max_age);
    let update = match disp.next {
        Next::Delivered => {
            tracing::info!(message_id = %view.message_id, domain = %job.message.domain.name, rcpt = %r.address, mx = %facts.mx_host, tls = facts.tls_version.as_deref().unwrap_or("none"), verified = facts.verified, reply = %reply, "delivered");
            crate::telemetry::delivered(&job.message.domain.name, age);
            RecipientUpdate::Delivered
        }
        Next::RetryIn(delay) => {
            tracing::warn!(message_id = %view.message_id, domain = %job.message.domain.name, rcpt = %r.address, mx = %facts.mx_host, tls = facts.tls_version.as_deref().unwrap_or("none"), verified = facts.verified, reply = %reply, retry_in = ?delay, "temporary failure; will retry");
            let reason = disp.failure.map_or("generic", |f| f.reason.as_str());
            crate::telemetry::failed(&job.message.domain.name, false, reason);
            RecipientUpdate::Retry {
                at: now + delay.as_micros() as i64,
            }
        }
        Next::Failed | Next::Unchanged => {
            let reason = disp.failure.map(|f| f.reason.as_str()).unwrap_or_default();
            tracing::warn!(message_id = %view.message_id, domain = %job.message.domain.name, rcpt = %r.address, mx = %facts.mx_host, tls = facts.tls_version.as_deref().unwrap_or("none"), verified = facts.verified, reply = %reply, reason, "permanent failure");
            crate::telemetry::failed(&job.message.domain.name, true, reason);
            RecipientUpdate::Failed
        }
    };
    let status = DeliveryStatus {
        code: reply.code,
        enhanced_code: reply.enhanced,
        message: reply.message().into_owned(),
        description: reply.text(),
        mx_host: facts.mx_host.clone(),
        attempt_no,
        tls: facts.tls,
        tls_version: facts.tls_version.clone(),
        certificate_verified: facts.verified,
        session_seconds: facts.started.map_or(0.0, |s| s.elapsed().as_secs_f64()),
        retry_seconds: match disp.next {
            Next::RetryIn(delay) => Some(delay.as_secs()),
            _ => None,
        },
    };
    Outcome {
        recipient_id: r.id,
        domain_id: job.message.domain.id,
        lease: Some(r.lease),
        update,
        attempted: true,
        event: Some(events::delivery(
            &view,
            &r.address,
            disp.failure,
            &status,
            now,
        )),
        suppress: disp.suppress.map(|kind| Suppression {
            kind,
            address: r.address.clone(),
            code: reply.code.to_string(),
            error: reply.text(),
        }),
    }
}

pub(super) fn suppressed_outcome(
    job: &Job,
    r: &crate::store::queue::LeasedRecipient,
    list: List,
) -> Outcome {
    let text = match list {
        List::Unsubscribe => "Not delivering to unsubscribed address",
        List::Complaint => "Not delivering to a user who marked your messages as spam",
        List::Bounce => "Not delivering to previously bounced address",
    };
    let reason = Reason::suppressed_by(list);
    tracing::info!(message_id = %job.message.msg.message_id, domain = %job.message.domain.name, rcpt = %r.address, reason = reason.as_str(), "suppressed recipient not contacted");
    not_sent(job, r, reason, text)
}

/// The recipient fails for good without being contacted: a `failed`
/// permanent event with Mailgun's "not delivering" code, 605.
pub(super) fn not_sent(
    job: &Job,
    r: &crate::store::queue::LeasedRecipient,
    reason: Reason,
    text: &str,
) -> Outcome {
    let view = message_view(job, None);
    let st = DeliveryStatus {
        code: 605,
        message: text.into(),
        description: text.into(),
        attempt_no: r.attempts + 1,
        ..Default::default()
    };
    crate::telemetry::failed(&job.message.domain.name, true, reason.as_str());
    Outcome {
        recipient_id: r.id,
        domain_id: job.message.domain.id,
        lease: Some(r.lease),
        update: RecipientUpdate::Failed,
        attempted: false,
        event: Some(events::delivery(
            &view,
            &r.address,
            Some(Failure::permanent(reason)),
            &st,
            now_micros(),
        )),
        suppress: None,
    }
}

/// A recipient whose message is gone (its domain was deleted): closed
/// out, with nobody left to tell.
pub(super) fn orphaned(r: &crate::store::queue::LeasedRecipient) -> Outcome {
    Outcome {
        recipient_id: r.id,
        domain_id: 0,
        lease: Some(r.lease),
        update: RecipientUpdate::Failed,
        attempted: false,
        event: None,
        suppress: None,
    }
}

pub(super) fn release(job: &Job, r: &crate::store::queue::LeasedRecipient) -> Outcome {
    Outcome {
        recipient_id: r.id,
        domain_id: job.message.domain.id,
        lease: Some(r.lease),
        update: RecipientUpdate::Release,
        attempted: false,
        event: None,
        suppress: None,
    }
}
