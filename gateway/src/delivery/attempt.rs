//! One destination group: check suppressions and age, find the MX, open a
//! session with the TLS the policy allows, run one transaction per message,
//! and turn every reply into a per-recipient outcome.

use std::collections::HashMap;

use policy::delivery::{EnhancedCode, PermanentReason};
use policy::suppression;
use policy::tls::TlsSettings;

use super::connect::SessionFacts;
use super::dispatcher::{Dispatcher, Letter, Sent};
use super::mx::RouteError;
use super::outcome::{finish, local_temp, release, suppressed_outcome, Fate};
use super::prepare::{prepare, Prepared};
use super::{Deliverer, Job};
use crate::net::smtp::Reply;
use crate::store::queue::Outcome;

/// Every recipient of `job` fails temporarily with `reply`, before any
/// connection: retried on the schedule, then `old`.
fn defer(d: &Deliverer, job: &Job, reply: Reply, out: &mut Vec<Outcome>) {
    for r in &job.recipients {
        let fate = Fate::Temporary(reply.clone());
        out.push(finish(d, job, None, r, fate, &SessionFacts::default()));
    }
}

/// Outcomes go to the recorder as soon as each transaction ends.
pub type OutcomeSink = tokio::sync::mpsc::UnboundedSender<Vec<Outcome>>;

fn flush(out: &mut Vec<Outcome>, tx: &OutcomeSink) {
    if !out.is_empty() {
        // The recorder outlives every delivery task; if it is gone the
        // leases expire and the recipients are retried.
        let _ = tx.send(std::mem::take(out));
    }
}

/// Every recipient of `jobs` back to the queue, untried.
pub fn release_all(jobs: &[Job]) -> Vec<Outcome> {
    jobs.iter()
        .flat_map(|job| job.recipients.iter().map(move |r| release(job, r)))
        .collect()
}

pub async fn deliver_group(
    d: &Deliverer,
    domain: &str,
    settings: TlsSettings,
    jobs: Vec<Job>,
    tx: &OutcomeSink,
) {
    let mut out = Vec::new();
    deliver_group_into(d, domain, settings, jobs, &mut out, tx).await;
    flush(&mut out, tx);
}

async fn deliver_group_into(
    d: &Deliverer,
    domain: &str,
    settings: TlsSettings,
    jobs: Vec<Job>,
    out: &mut Vec<Outcome>,
    tx: &OutcomeSink,
) {
    // Suppressed recipients are never contacted: one lookup per sending
    // domain for the whole group.
    let mut lists: HashMap<i64, Option<HashMap<String, Vec<suppression::Entry>>>> = HashMap::new();
    for job in &jobs {
        let domain_id = job.message.domain.id;
        if lists.contains_key(&domain_id) {
            continue;
        }
        let addrs: Vec<&str> = jobs
            .iter()
            .filter(|j| j.message.domain.id == domain_id)
            .flat_map(|j| j.recipients.iter().map(|r| r.address.as_str()))
            .collect();
        let found = match d.ctx.store.suppressed(domain_id, &addrs).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(error = %e, "suppression lookup failed; retrying later");
                None
            }
        };
        lists.insert(domain_id, found);
    }
    // A destination that refused connections just now: defer at once,
    // without signing or connecting.
    let held = d.holds.held(&d.ctx.store, domain).await;
    let mut ready: Vec<(Job, Prepared)> = Vec::new();
    for mut job in jobs {
        // A damaged stored message is deferred with its reason, like one
        // that cannot be decrypted: retried, then `old` after max_age.
        if let Some(why) = &job.held {
            defer(d, &job, local_temp(why.clone()), out);
            continue;
        }
        let Some(Some(list)) = lists.get(&job.message.domain.id) else {
            out.extend(job.recipients.iter().map(|r| release(&job, r)));
            continue;
        };
        let mut keep = Vec::new();
        for r in std::mem::take(&mut job.recipients) {
            let stopped = list
                .get(&r.address.to_ascii_lowercase())
                .and_then(|entries| suppression::stopping(entries, &job.opts.tags));
            match stopped {
                Some(l) => out.push(suppressed_outcome(&job, &r, l)),
                None => keep.push(r),
            }
        }
        job.recipients = keep;
        if job.recipients.is_empty() {
            continue;
        }
        if let Some(why) = &held {
            let reply = local_temp(format!("delivery to {domain} temporarily suspended: {why}"));
            defer(d, &job, reply, out);
            continue;
        }
        match prepare(d, &job).await {
            Ok(p) => ready.push((job, p)),
            Err(why) => {
                tracing::error!(message_id = %job.message.msg.message_id, error = %why, "message cannot be prepared for delivery");
                defer(d, &job, local_temp(why), out);
            }
        }
    }
    if ready.is_empty() {
        return;
    }

    let targets = match d.router.route(domain).await {
        Ok(t) => t,
        Err(e) => {
            let (fate_of, permanent) = (e.to_string(), e.is_permanent());
            tracing::warn!(domain, error = %e, "no route to the recipient domain");
            for (job, p) in &ready {
                for r in &job.recipients {
                    let reply = if permanent {
                        let (code, enh) = match e {
                            RouteError::NullMx(_) => (556, EnhancedCode(5, 1, 10)),
                            _ => (550, EnhancedCode(5, 1, 2)),
                        };
                        Fate::Permanent(
                            PermanentReason::Generic,
                            Reply::new(code, enh, fate_of.clone()),
                        )
                    } else {
                        Fate::Temporary(local_temp(fate_of.clone()))
                    };
                    out.push(finish(d, job, Some(p), r, reply, &SessionFacts::default()));
                }
            }
            return;
        }
    };

    let mut dispatcher = Dispatcher::new(&d.transport, domain, settings, &targets);
    let mut remaining = ready;
    while !remaining.is_empty() && dispatcher.next_mx().await {
        let mut later = Vec::new();
        let mut queue = remaining.into_iter();
        for (job, p) in queue.by_ref() {
            d.pace(domain).await;
            match dispatcher.send(&letter(&job, &p)).await {
                Sent::Done(fates) => {
                    // `Done` always comes from the current session.
                    let unknown = SessionFacts::default();
                    let facts = dispatcher.facts().unwrap_or(&unknown);
                    for (r, fate) in job.recipients.iter().zip(fates) {
                        out.push(finish(d, &job, Some(&p), r, fate, facts));
                    }
                    flush(out, tx);
                }
                Sent::TryNextMx => later.push((job, p)),
                Sent::Broken => {
                    later.push((job, p));
                    break;
                }
            }
        }
        later.extend(queue);
        remaining = later;
    }
    let ending = dispatcher.finish();
    if ending.reached {
        d.holds.reachable(&d.ctx.store, domain).await;
    } else {
        let why = ending.failure.reply.text();
        d.holds
            .unreachable(&d.ctx.store, domain, &why, &d.retry_schedule)
            .await;
    }
    for (job, p) in &remaining {
        for r in &job.recipients {
            let (fate, facts) = (ending.failure.fate(), &ending.failure.facts);
            out.push(finish(d, job, Some(p), r, fate, facts));
        }
    }
}

fn letter<'a>(job: &'a Job, p: &'a Prepared) -> Letter<'a> {
    Letter {
        return_path: &p.return_path,
        recipients: job.recipients.iter().map(|r| r.address.as_str()).collect(),
        content: [&p.signature, &p.body],
    }
}
