//! One destination group: check suppressions and age, find the MX, open a
//! session with the TLS the policy allows, run one transaction per message,
//! and turn every reply into a per-recipient outcome.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use policy::delivery::{classify, EnhancedCode, PermanentReason, Verdict};
use policy::disposition::{self, Next};
use policy::events::{Failure, Reason};
use policy::suppression::{self, List};
use policy::tls::{decide, Offer, RefuseReason, TlsMode, TlsSettings};

use super::idle::Route;
use super::mx::{RouteError, Target};
use super::{Deliverer, Job};
use crate::events::{self, DeliveredMessage, DeliveryStatus};
use crate::net::smtp::{Reply, Session, SessionError};
use crate::store::now_micros;
use crate::store::queue::{Outcome, RecipientUpdate, Suppression};
use crate::unsubscribe;

/// What a message looks like on the wire, prepared once per attempt.
struct Prepared {
    /// MAIL FROM: a VERP address at `[inbound].bounce_domain` when one is
    /// set (reports come back to envoi), else at the sending domain.
    return_path: String,
    signature: Vec<u8>,
    /// The message as sent after the signature: this recipient's
    /// List-Unsubscribe headers, then the stored message.
    body: Vec<u8>,
    from: String,
    to: String,
    subject: String,
}

/// Facts of the session a reply came from.
#[derive(Clone, Default)]
pub(super) struct SessionFacts {
    mx_host: String,
    tls: bool,
    verified: bool,
    started: Option<Instant>,
    /// The MX took the connection and greeted: it is reachable, whatever
    /// came after (a TLS refusal is about this message's settings).
    connected: bool,
}

/// How one recipient fared in one attempt.
enum Fate {
    Delivered(Reply),
    Temporary(Reply),
    Permanent(PermanentReason, Reply),
}

impl Fate {
    fn into_parts(self) -> (Verdict, Reply) {
        match self {
            Fate::Delivered(r) => (Verdict::Delivered, r),
            Fate::Temporary(r) => (Verdict::Temporary, r),
            Fate::Permanent(reason, r) => (Verdict::Permanent(reason), r),
        }
    }

    fn from_reply(r: Reply) -> Fate {
        match classify(r.code, r.enhanced, &r.text) {
            Verdict::Delivered => Fate::Delivered(r),
            Verdict::Temporary => Fate::Temporary(r),
            Verdict::Permanent(reason) => Fate::Permanent(reason, r),
        }
    }
}

fn local_temp(text: impl Into<String>) -> Reply {
    Reply::local(421, Some(EnhancedCode(4, 4, 0)), text)
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
            let reply = local_temp(why.clone());
            for r in &job.recipients {
                out.push(finish(
                    d,
                    &job,
                    None,
                    r,
                    Fate::Temporary(reply.clone()),
                    &SessionFacts::default(),
                ));
            }
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
            for r in &job.recipients {
                out.push(finish(
                    d,
                    &job,
                    None,
                    r,
                    Fate::Temporary(reply.clone()),
                    &SessionFacts::default(),
                ));
            }
            continue;
        }
        match prepare(d, &job).await {
            Ok(p) => ready.push((job, p)),
            Err(why) => {
                tracing::error!(message_id = %job.message.msg.message_id, error = %why, "message cannot be prepared for delivery");
                let reply = local_temp(why);
                for r in &job.recipients {
                    out.push(finish(
                        d,
                        &job,
                        None,
                        r,
                        Fate::Temporary(reply.clone()),
                        &SessionFacts::default(),
                    ));
                }
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

/// Decrypts the body, gives it its unsubscribe link (headers and
/// `%unsubscribe_url%`), and signs it. A copy for one recipient (the usual
/// case, and every batch-send copy) names that recipient; a copy for several
/// recipients at one domain names them all by that domain.
async fn prepare(d: &Deliverer, job: &Job) -> Result<Prepared, String> {
    let m = &job.message;
    let stored = d
        .app
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
    .seal(&d.app.master_key);
    let config = &d.app.config;
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
        signer::sign(
            &body,
            &keys,
            signer::sign::default_options(now_micros() as u64 / 1_000_000),
        )
        .map_err(|e| format!("DKIM signing failed: {e}"))?
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
    let bounces = config.inbound.bounce_domain.as_deref();
    let return_path = crate::net::verp::address(
        &d.app.master_key,
        m.msg.id,
        bounces.unwrap_or(&m.domain.name),
    );
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
fn append_with_link(out: &mut Vec<u8>, message: &[u8], url: &str) {
    const PLACEHOLDER: &[u8] = b"%unsubscribe_url%";
    let mut rest = message;
    while let Some(i) = memchr::memmem::find(rest, PLACEHOLDER) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(url.as_bytes());
        rest = &rest[i + PLACEHOLDER.len()..];
    }
    out.extend_from_slice(rest);
}

fn header_text(p: &mail_parser::Message<'_>, name: &str) -> String {
    p.header_raw(name)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Connect, greet, and settle TLS as the policy says.
async fn open(
    d: &Deliverer,
    target: &Target,
    settings: TlsSettings,
) -> Result<(Session, SessionFacts), (Reply, SessionFacts)> {
    let mut facts = SessionFacts {
        mx_host: target.host.clone(),
        started: Some(Instant::now()),
        ..Default::default()
    };
    let err = |e: SessionError, f: &SessionFacts| (local_temp(e.to_string()), f.clone());

    let s = greet(d, target).await.map_err(|r| (r, facts.clone()))?;
    facts.connected = true;
    if !s.caps.starttls {
        return match decide(settings, Offer::NoStartTls) {
            TlsMode::Refuse(why) => Err((refused(why), facts)),
            _ => {
                tracing::info!(mx = %target.host, "MX offers no STARTTLS: delivering in plaintext");
                Ok((s, facts))
            }
        };
    }
    let (connector, seen) = d.tls.connector(settings.skip_verification);
    match s.starttls(&connector, &target.host).await {
        Ok(Ok(mut s)) => {
            let valid = seen.cert_valid().unwrap_or(false);
            let mode = decide(settings, Offer::StartTls { cert_valid: valid });
            let info = s.tls.clone().unwrap_or_else(|| crate::net::smtp::TlsInfo {
                version: String::new(),
                cipher: String::new(),
            });
            tracing::info!(
                mx = %target.host, tls_version = %info.version, cipher = %info.cipher,
                certificate_verified = valid, mode = ?mode,
                cert_error = seen.cert_error().unwrap_or_default(),
                "TLS session established"
            );
            if let TlsMode::Refuse(why) = mode {
                s.quit().await;
                return Err((refused(why), facts));
            }
            facts.tls = true;
            facts.verified = valid;
            let ehlo = s.ehlo(&d.helo).await.map_err(|e| err(e, &facts))?;
            if !ehlo.is_positive() {
                return Err((ehlo, facts));
            }
            Ok((s, facts))
        }
        Ok(Err(reply)) => {
            // STARTTLS advertised but refused: this MX is not usable now;
            // the next one is tried, else a temporary failure and a retry.
            tracing::warn!(mx = %target.host, reply = %reply, "STARTTLS refused by the MX");
            Err((reply, facts))
        }
        Err(e) => {
            // A handshake that failed (bad certificate or otherwise) is an
            // offer we cannot use with verification.
            tracing::warn!(
                mx = %target.host, error = %e,
                cert_error = seen.cert_error().unwrap_or_default(),
                "TLS handshake failed"
            );
            match decide(settings, Offer::StartTls { cert_valid: false }) {
                TlsMode::Refuse(why) => Err((refused(why), facts)),
                _ => {
                    // Opportunistic: a certificate we cannot trust means the
                    // message goes in clear, on a fresh connection.
                    tracing::warn!(mx = %target.host, "falling back to plaintext after the TLS failure");
                    let s = greet(d, target).await.map_err(|r| (r, facts.clone()))?;
                    facts.started = Some(Instant::now());
                    Ok((s, facts))
                }
            }
        }
    }
}

/// A session parked between groups (`idle`), with what is known of it.
pub(super) type Parked = (Session, SessionFacts);

/// A session for this group: a parked one for the same route while it is
/// still open, else a new one (`open`). The flag says it was parked.
async fn session_for(
    d: &Deliverer,
    route: &Route,
    target: &Target,
) -> Result<(Session, SessionFacts, bool), (Reply, SessionFacts)> {
    loop {
        let taken = d.idle.take(route, Instant::now());
        close(taken.close);
        let Some((mut s, mut facts)) = taken.session else {
            let (s, facts) = open(d, target, route.settings).await?;
            return Ok((s, facts, false));
        };
        // One the MX closed while it waited is dropped; the next is tried.
        if s.reusable() {
            facts.started = Some(Instant::now());
            return Ok((s, facts, true));
        }
    }
}

/// Says QUIT on parked sessions that are let go, without holding up the caller.
pub(super) fn close(sessions: impl IntoIterator<Item = Parked>) {
    let sessions: Vec<Parked> = sessions.into_iter().collect();
    if !sessions.is_empty() {
        tokio::spawn(async move {
            for (s, _) in sessions {
                s.quit().await;
            }
        });
    }
}

/// Connect, read the greeting and say EHLO; any refusal comes back as the reply.
async fn greet(d: &Deliverer, target: &Target) -> Result<Session, Reply> {
    let local = |e: SessionError| local_temp(e.to_string());
    let (mut s, greeting) = Session::connect(target.addr, d.timeouts)
        .await
        .map_err(local)?;
    if greeting.code != 220 {
        return Err(greeting);
    }
    let ehlo = s.ehlo(&d.helo).await.map_err(local)?;
    if !ehlo.is_positive() {
        return Err(ehlo);
    }
    Ok(s)
}

fn refused(why: RefuseReason) -> Reply {
    Reply::local(421, Some(EnhancedCode(4, 7, 10)), why.describe())
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

/// Each recipient's fate: its RCPT refusal, or the end-of-data reply.
fn fates(rcpt_replies: Vec<Reply>, end: &Reply) -> Vec<Fate> {
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

fn message_view<'a>(job: &'a Job, p: Option<&'a Prepared>) -> DeliveredMessage<'a> {
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
fn finish(
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
    let max_age = d.app.config.delivery.max_age.0;
    let disp = disposition::of_attempt(verdict, attempt_no as u32, &d.retry_schedule, age, max_age);
    let update = match disp.next {
        Next::Delivered => {
            tracing::info!(rcpt = %r.address, mx = %facts.mx_host, tls = facts.tls, verified = facts.verified, reply = %reply, "delivered");
            RecipientUpdate::Delivered
        }
        Next::RetryIn(delay) => {
            tracing::warn!(rcpt = %r.address, mx = %facts.mx_host, reply = %reply, retry_in = ?delay, "temporary failure; will retry");
            RecipientUpdate::Retry {
                at: now + delay.as_micros() as i64,
            }
        }
        Next::Failed | Next::Unchanged => {
            let reason = disp.failure.map(|f| f.reason.as_str()).unwrap_or_default();
            tracing::warn!(rcpt = %r.address, mx = %facts.mx_host, reply = %reply, reason, "permanent failure");
            RecipientUpdate::Failed
        }
    };
    let status = DeliveryStatus {
        code: reply.code,
        enhanced_code: reply.enhanced.map(|e| e.to_string()).unwrap_or_default(),
        message: reply.message().to_string(),
        description: reply.text.clone(),
        mx_host: facts.mx_host.clone(),
        attempt_no,
        tls: facts.tls,
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
            error: reply.text.clone(),
        }),
    }
}

fn suppressed_outcome(job: &Job, r: &crate::store::queue::LeasedRecipient, list: List) -> Outcome {
    let text = match list {
        List::Unsubscribe => "Not delivering to unsubscribed address",
        List::Complaint => "Not delivering to a user who marked your messages as spam",
        List::Bounce => "Not delivering to previously bounced address",
    };
    let reason = Reason::suppressed_by(list);
    let view = message_view(job, None);
    let st = DeliveryStatus {
        code: 605,
        message: text.into(),
        description: text.into(),
        attempt_no: r.attempts + 1,
        ..Default::default()
    };
    tracing::info!(rcpt = %r.address, reason = reason.as_str(), "suppressed recipient not contacted");
    Outcome {
        recipient_id: r.id,
        domain_id: job.message.domain.id,
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

fn release(job: &Job, r: &crate::store::queue::LeasedRecipient) -> Outcome {
    Outcome {
        recipient_id: r.id,
        domain_id: job.message.domain.id,
        update: RecipientUpdate::Release,
        attempted: false,
        event: None,
        suppress: None,
    }
}
