//! One destination's MX hosts, walked in order: a `Dispatcher` owns the
//! route, the session on the current MX and what is known of it, and turns
//! each message into one fate per recipient. It records nothing: the group
//! loop (`attempt`) does, with `outcome`.

use policy::delivery::{classify, Verdict};
use policy::tls::TlsSettings;

use super::connect::{close, Connection, Failed, SessionFacts, Transport};
use super::idle::Route;
use super::mx::Target;
use super::outcome::{fates, local_temp, Fate};
use crate::net::smtp::{Reply, Session, SessionError};

/// What one transaction carries.
pub(super) struct Letter<'a> {
    pub(super) return_path: &'a str,
    pub(super) recipients: Vec<&'a str>,
    /// Sent in order, dot-stuffed: the signature, then the message.
    pub(super) content: [&'a [u8]; 2],
}

impl Letter<'_> {
    fn size(&self) -> usize {
        self.content.iter().map(|c| c.len()).sum()
    }

    fn eight_bit(&self) -> bool {
        !self.content.iter().all(|c| c.is_ascii())
    }
}

/// How one message went on the current MX.
pub(super) enum Sent {
    /// A fate per recipient, in order (the session they came from is
    /// `Dispatcher::facts`).
    Done(Vec<Fate>),
    /// 4xx for every recipient while other MX hosts remain: the next may
    /// do better. The session stays usable for the other messages.
    TryNextMx,
    /// The session broke (timeout, lost connection, garbage): this message
    /// and those after it go to the next MX.
    Broken,
}

/// How the walk down the MX list ended.
pub(super) struct Ending {
    /// Some MX took a connection and greeted.
    pub(super) reached: bool,
    /// What the last MX that failed said: the fate of whatever no MX took.
    pub(super) failure: Failed,
}

/// The session on the current MX.
struct Current<'a> {
    target: &'a Target,
    route: Route,
    conn: Connection,
    /// Replies the session had read when it was taken from the parking;
    /// `None` for a new connection. A transaction that fails having read
    /// nothing more met a connection the MX closed as it was taken.
    unparked_at: Option<u64>,
}

pub(super) struct Dispatcher<'a> {
    transport: &'a Transport,
    domain: &'a str,
    settings: TlsSettings,
    /// The MX hosts not tried yet, in preference order.
    untried: std::slice::Iter<'a, Target>,
    current: Option<Current<'a>>,
    reached: bool,
    last_failure: Option<Failed>,
}

impl<'a> Dispatcher<'a> {
    pub(super) fn new(
        transport: &'a Transport,
        domain: &'a str,
        settings: TlsSettings,
        targets: &'a [Target],
    ) -> Dispatcher<'a> {
        Dispatcher {
            transport,
            domain,
            settings,
            untried: targets.iter(),
            current: None,
            reached: false,
            last_failure: None,
        }
    }

    /// Moves to the next MX that gives a session (a parked one, else a new
    /// one), leaving the current one parked if it is sound; `false` when
    /// no MX is left.
    pub(super) async fn next_mx(&mut self) -> bool {
        self.park();
        for target in self.untried.by_ref() {
            let route = Route {
                domain: self.domain.to_string(),
                host: target.host.clone(),
                addr: target.addr,
                settings: self.settings,
            };
            let (conn, unparked_at) = match self.transport.parked(&route) {
                Some(c) => {
                    let replies = c.session.replies();
                    (c, Some(replies))
                }
                None => match self.transport.open(target, self.settings).await {
                    Ok(c) => (c, None),
                    Err(failed) => {
                        tracing::warn!(mx = %target.host, addr = %target.addr, reply = %failed.reply, "MX not usable, trying the next one");
                        self.reached |= failed.facts.connected;
                        self.last_failure = Some(failed);
                        continue;
                    }
                },
            };
            self.reached = true;
            self.current = Some(Current {
                target,
                route,
                conn,
                unparked_at,
            });
            return true;
        }
        false
    }

    /// One message on the current session (after `next_mx` said `true`).
    pub(super) async fn send(&mut self, letter: &Letter<'_>) -> Sent {
        let Some(cur) = self.current.as_mut() else {
            return Sent::Broken;
        };
        let mut result = transaction(&mut cur.conn.session, letter).await;
        if result.is_err() && cur.unparked_at == Some(cur.conn.session.replies()) {
            // The MX closed the parked connection just as it was taken: it
            // answered nothing, so nothing was delivered. Once more, on a
            // new connection.
            match self.transport.open(cur.target, self.settings).await {
                Ok(conn) => {
                    cur.conn = conn;
                    cur.unparked_at = None;
                    result = transaction(&mut cur.conn.session, letter).await;
                }
                Err(failed) => {
                    self.last_failure = Some(failed);
                    self.current = None;
                    return Sent::Broken;
                }
            }
        }
        let facts = &cur.conn.facts;
        match result {
            Ok(fates) => {
                let all_temporary = fates.iter().all(|f| matches!(f, Fate::Temporary(_)));
                if all_temporary && self.untried.len() > 0 {
                    if let Some(Fate::Temporary(reply)) = fates.into_iter().next() {
                        self.last_failure = Some(Failed {
                            reply,
                            facts: facts.clone(),
                        });
                    }
                    // The transaction ended (RSET, or the final reply): the
                    // session is ready for the next message.
                    return Sent::TryNextMx;
                }
                Sent::Done(fates)
            }
            Err(e) => {
                tracing::warn!(mx = %cur.target.host, error = %e, "session broke; remaining messages go to the next MX");
                self.last_failure = Some(Failed {
                    reply: local_temp(e.to_string()),
                    facts: facts.clone(),
                });
                // Out of step with the MX: dropped, never parked.
                self.current = None;
                Sent::Broken
            }
        }
    }

    /// What is known of the current session (after `send` said `Done`).
    pub(super) fn facts(&self) -> Option<&SessionFacts> {
        self.current.as_ref().map(|c| &c.conn.facts)
    }

    /// Parks the current session and says how the walk ended.
    pub(super) fn finish(mut self) -> Ending {
        self.park();
        Ending {
            reached: self.reached,
            failure: self.last_failure.unwrap_or_else(|| Failed {
                reply: local_temp("no MX host could be reached"),
                facts: SessionFacts::default(),
            }),
        }
    }

    fn park(&mut self) {
        if let Some(cur) = self.current.take() {
            let now = std::time::Instant::now();
            close(self.transport.idle.park(cur.route, cur.conn, now));
        }
    }
}

impl Failed {
    /// The fate of a recipient no MX took.
    pub(super) fn fate(&self) -> Fate {
        let r = &self.reply;
        match classify(r.code, r.enhanced, &r.message()) {
            Verdict::Permanent(reason) => Fate::Permanent(reason, r.clone()),
            _ => Fate::Temporary(r.clone()),
        }
    }
}

/// MAIL, RCPT for each recipient, DATA: one fate per recipient, in order.
async fn transaction(s: &mut Session, l: &Letter<'_>) -> Result<Vec<Fate>, SessionError> {
    let (size, eight_bit) = (l.size(), l.eight_bit());
    if s.caps.pipelining {
        return pipelined(s, l, size, eight_bit).await;
    }
    let mail = s.mail_from(l.return_path, size, eight_bit).await?;
    if !mail.is_positive() {
        let _ = s.rset().await;
        return Ok(everyone(l, &mail));
    }
    let replies = s.rcpt_to(&l.recipients).await?;
    if !replies.iter().any(Reply::is_positive) {
        let _ = s.rset().await;
        return Ok(replies.into_iter().map(Fate::from_reply).collect());
    }
    let end = s.data(&l.content).await?;
    Ok(fates(replies, &end))
}

/// The same transaction in one round trip for the envelope (PIPELINING).
async fn pipelined(
    s: &mut Session,
    l: &Letter<'_>,
    size: usize,
    eight_bit: bool,
) -> Result<Vec<Fate>, SessionError> {
    let env = s
        .pipelined_envelope(l.return_path, size, eight_bit, &l.recipients)
        .await?;
    if !env.mail.is_positive() {
        let _ = s.rset().await;
        return Ok(everyone(l, &env.mail));
    }
    if !env.rcpts.iter().any(Reply::is_positive) {
        let _ = s.rset().await;
        return Ok(env.rcpts.into_iter().map(Fate::from_reply).collect());
    }
    let end = if env.data.code == 354 {
        s.content(&l.content).await?
    } else {
        let _ = s.rset().await;
        env.data
    };
    Ok(fates(env.rcpts, &end))
}

/// The same fate for every recipient (MAIL FROM refused).
fn everyone(l: &Letter<'_>, reply: &Reply) -> Vec<Fate> {
    l.recipients
        .iter()
        .map(|_| Fate::from_reply(reply.clone()))
        .collect()
}

#[cfg(test)]
#[path = "dispatcher_tests.rs"]
mod tests;
