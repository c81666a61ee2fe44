//! One destination group: check suppressions and age, find the MX, open a
//! session with the TLS the policy allows, run one transaction per message,
//! and turn every reply into a per-recipient outcome.

use std::collections::HashMap;
use std::time::Instant;

use policy::delivery::{classify, EnhancedCode, PermanentReason, Verdict};
use policy::suppression;
use policy::tls::TlsSettings;

use super::connect::{close, open, session_for, SessionFacts};
use super::idle::Route;
use super::mx::RouteError;
use super::outcome::{fates, finish, local_temp, release, suppressed_outcome, Fate};
use super::prepare::{prepare, Prepared};
use super::{Deliverer, Job};
use crate::net::smtp::{Reply, Session, SessionError};
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
        let found = match d.app.store.suppressed(domain_id, &addrs).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(error = %e, "suppression lookup failed; retrying later");
                None
            }
        };
        lists.insert(domain_id, found);
    }
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
        // A destination that refused connections just now: defer at once,
        // without signing or connecting.
        if let Some(why) = d.held(domain) {
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
                            Reply::local(code, Some(enh), fate_of.clone()),
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

    let mut remaining = ready;
    let mut last_failure: Option<(Reply, SessionFacts)> = None;
    let mut connected = false;
    for target in &targets {
        if remaining.is_empty() {
            break;
        }
        let route = Route {
            domain: domain.to_string(),
            host: target.host.clone(),
            addr: target.addr,
            settings,
        };
        let (mut session, mut facts, mut reused) = match session_for(d, &route, target).await {
            Ok(s) => s,
            Err((reply, facts)) => {
                tracing::warn!(mx = %target.host, addr = %target.addr, reply = %reply, "MX not usable, trying the next one");
                connected |= facts.connected;
                last_failure = Some((reply, facts));
                continue;
            }
        };
        connected = true;
        let mut next_round = Vec::new();
        let mut broken = false;
        for (job, p) in remaining {
            if broken {
                next_round.push((job, p));
                continue;
            }
            d.pace(domain).await;
            let broke = |e: SessionError| local_temp(e.to_string());
            let before = session.replies();
            let mut result = transaction(&mut session, &job, &p).await.map_err(broke);
            if std::mem::take(&mut reused) && result.is_err() && session.replies() == before {
                // The MX closed the parked connection just as it was taken:
                // it answered nothing, so nothing was delivered. Once more,
                // on a new connection.
                result = match open(d, target, settings).await {
                    Ok((s, f)) => {
                        (session, facts) = (s, f);
                        transaction(&mut session, &job, &p).await.map_err(broke)
                    }
                    Err((reply, f)) => {
                        facts = f;
                        Err(reply)
                    }
                };
            }
            match result {
                Ok(fates) => {
                    let all_temp = fates.iter().all(|f| matches!(f, Fate::Temporary(_)));
                    if all_temp && targets.len() > 1 {
                        // 4xx for everyone: the next MX may do better.
                        if let Some(Fate::Temporary(r)) = fates.into_iter().next() {
                            last_failure = Some((r, facts.clone()));
                        }
                        next_round.push((job, p));
                        let _ = session.rset().await;
                        continue;
                    }
                    for (r, fate) in job.recipients.iter().zip(fates) {
                        out.push(finish(d, &job, Some(&p), r, fate, &facts));
                    }
                    flush(out, tx);
                }
                Err(reply) => {
                    tracing::warn!(mx = %target.host, reply = %reply, "session broke; remaining messages go to the next MX");
                    last_failure = Some((reply, facts.clone()));
                    broken = true;
                    next_round.push((job, p));
                }
            }
        }
        if !broken {
            close(d.idle.park(route, (session, facts), Instant::now()));
        }
        remaining = next_round;
    }
    if connected {
        d.mark_reachable(domain);
    } else if let Some((reply, _)) = &last_failure {
        d.mark_unreachable(domain, &reply.text);
    }
    let (reply, facts) = last_failure.unwrap_or_else(|| {
        (
            local_temp("no MX host could be reached"),
            SessionFacts::default(),
        )
    });
    for (job, p) in &remaining {
        for r in &job.recipients {
            let fate = match classify(reply.code, reply.enhanced, &reply.text) {
                Verdict::Permanent(reason) => Fate::Permanent(reason, reply.clone()),
                _ => Fate::Temporary(reply.clone()),
            };
            out.push(finish(d, job, Some(p), r, fate, &facts));
        }
    }
}

/// MAIL, RCPT for each recipient, DATA: one fate per recipient, in order.
async fn transaction(s: &mut Session, job: &Job, p: &Prepared) -> Result<Vec<Fate>, SessionError> {
    let size = p.signature.len() + p.body.len();
    let eight_bit = !p.body.is_ascii();
    if s.caps.pipelining {
        return pipelined(s, job, p, size, eight_bit).await;
    }
    let mail = s.mail_from(&p.return_path, size, eight_bit).await?;
    if !mail.is_positive() {
        let _ = s.rset().await;
        return Ok(job
            .recipients
            .iter()
            .map(|_| Fate::from_reply(mail.clone()))
            .collect());
    }
    let addrs: Vec<&str> = job.recipients.iter().map(|r| r.address.as_str()).collect();
    let replies = s.rcpt_to(&addrs).await?;
    let accepted = replies.iter().filter(|r| r.is_positive()).count();
    if accepted == 0 {
        let _ = s.rset().await;
        return Ok(replies.into_iter().map(Fate::from_reply).collect());
    }
    let end = s.data(&[&p.signature, &p.body]).await?;
    Ok(fates(replies, &end))
}

/// The same transaction in one round trip for the envelope (PIPELINING).
async fn pipelined(
    s: &mut Session,
    job: &Job,
    p: &Prepared,
    size: usize,
    eight_bit: bool,
) -> Result<Vec<Fate>, SessionError> {
    let addrs: Vec<&str> = job.recipients.iter().map(|r| r.address.as_str()).collect();
    let env = s
        .pipelined_envelope(&p.return_path, size, eight_bit, &addrs)
        .await?;
    if !env.mail.is_positive() {
        let _ = s.rset().await;
        return Ok(addrs
            .iter()
            .map(|_| Fate::from_reply(env.mail.clone()))
            .collect());
    }
    if !env.rcpts.iter().any(Reply::is_positive) {
        let _ = s.rset().await;
        return Ok(env.rcpts.into_iter().map(Fate::from_reply).collect());
    }
    let end = if env.data.code == 354 {
        s.content(&[&p.signature, &p.body]).await?
    } else {
        let _ = s.rset().await;
        env.data
    };
    Ok(fates(env.rcpts, &end))
}
