//! Delivery: the queue worker leases due recipients, groups them by
//! destination domain (and TLS settings, `group`), and carries each group
//! over one SMTP connection to the best MX that answers.
//!
//! - `attempt`: one destination group, from suppressions to per-recipient
//!   outcomes, with `prepare` (the message for one attempt: decrypted,
//!   unsubscribe link, signed), `dispatcher` (the MX list walked in order,
//!   owning the session and what is known of it) and `outcome` (a reply to
//!   the recipient's new state and event, by `policy::disposition`);
//! - `connect`: reaching an MX (`Transport`: TLS as `policy::tls::decide`
//!   says, timeouts, parked sessions) over `net::tls` and `net::smtp`;
//! - `mx`: where to connect; `idle`: sessions kept open between groups;
//!   `hold`: destinations none of whose MXs answered lately; `keys`: DKIM
//!   keys per domain, cached.
//!
//! Delivery takes what it needs (`Context`), not the whole `App`.

pub mod attempt;
mod connect;
mod dispatcher;
pub mod drop;
mod group;
pub mod hold;
pub mod idle;
mod keys;
pub mod mx;
mod outcome;
mod prepare;
#[cfg(test)]
mod scripted_peer;
pub mod share;

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::AtomicU64;
use tokio::sync::{watch, Notify, Semaphore};

use crate::cluster::Node;

use crate::compose::SendOptions;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::limits::Limits;
use crate::net::smtp::Timeouts;
use crate::net::tls;
use crate::reputation::Reputation;
use crate::store::now_micros;
use crate::store::queue::{DeliveryMessage, LeaseRequest, LeasedRecipient, Outcome};
use crate::store::Store;

const BATCH: i64 = 500;
const JOBS_PER_CONNECTION: usize = 50;
const MAX_GROUPS_IN_FLIGHT: usize = 64;
/// Message bytes the worker holds at once, leased to sent: each copy is
/// counted twice (the sealed body and the signed copy made from it).
/// Small messages never reach it; big ones are leased fewer at a time, so
/// a queue of 25 MB messages cannot all be loaded together.
const BYTES_IN_FLIGHT: usize = 128 << 20;
const IDLE_POLL: Duration = Duration::from_millis(500);
/// After a lease that was not full, the next one waits this long: under a
/// steady flow a lease then carries tens of messages rather than the few of
/// one group commit (fewer transactions, bigger groups; in `bench/`, about
/// 4 % less CPU and 7 to 11 % more messages per second), and a message waits
/// at most this much more. A backlog (full leases) is leased without a pause.
const LEASE_GATHER: Duration = Duration::from_millis(25);

/// What a connection group holds in memory, in KiB of `BYTES_IN_FLIGHT`
/// (never more than all of it, so one huge group still goes alone).
fn kib_in_flight(jobs: &[Job]) -> u32 {
    let bytes: usize = jobs.iter().map(|j| 2 * j.message.msg.size as usize).sum();
    (bytes.div_ceil(1024)).clamp(1, BYTES_IN_FLIGHT >> 10) as u32
}

/// One message and the recipients of it going to one destination.
pub struct Job {
    pub message: Arc<DeliveryMessage>,
    /// The options as stored. A message whose options do not parse is held
    /// (`held`), and these are empty: used for its events only.
    pub opts: Arc<SendOptions>,
    /// Why the message cannot be sent as stored: deferred, never sent.
    pub held: Option<String>,
    pub recipients: Vec<LeasedRecipient>,
}

/// What delivery takes from the rest of envoi: no more.
pub struct Context {
    pub config: Config,
    pub store: Store,
    /// Opens bodies and DKIM keys, seals unsubscribe tokens and VERP.
    pub master_key: MasterKey,
    /// `[limits]`: per-destination pacing.
    pub limits: Arc<Limits>,
    /// Told of new outcomes, to assess the domain again.
    pub reputation: Arc<Reputation>,
    /// Rung when messages are queued.
    pub queue_wake: Arc<Notify>,
    /// Bumped when a DKIM key changes.
    pub dkim_generation: Arc<AtomicU64>,
    /// This node: whose leases these are, and how many peers share the work.
    pub node: Arc<Node>,
}

pub struct Deliverer {
    pub ctx: Context,
    pub router: mx::Router,
    /// TLS client, timeouts, HELO name and parked sessions.
    pub transport: connect::Transport,
    /// `[delivery].retry_schedule`, read once.
    pub retry_schedule: Vec<Duration>,
    keys: keys::KeyCache,
    /// What this node holds and has open per destination.
    share: Arc<share::Share>,
    /// Destinations none of whose MX hosts took a connection lately.
    pub holds: hold::Holds,
}

impl Deliverer {
    /// What delivery needs from the config alone (resolver, TLS roots),
    /// built before anything is written so a bad setting changes nothing.
    pub fn transport(
        cfg: &crate::config::DeliveryConfig,
    ) -> Result<(mx::Router, tls::TlsClient), String> {
        Ok((
            mx::Router::new(cfg)?,
            tls::TlsClient::new(cfg.extra_ca_file.as_deref())?,
        ))
    }

    pub fn new(ctx: Context, (router, tls): (mx::Router, tls::TlsClient)) -> Arc<Deliverer> {
        let cfg = &ctx.config.delivery;
        let timeouts = Timeouts {
            connect: cfg.connect_timeout.0,
            greeting: cfg.greeting_timeout.0,
            ehlo: cfg.ehlo_timeout.0,
            starttls: cfg.starttls_timeout.0,
            mail: cfg.mail_timeout.0,
            rcpt: cfg.rcpt_timeout.0,
            data: cfg.data_timeout.0,
            transfer: cfg.transfer_timeout.0,
            final_dot: cfg.final_dot_timeout.0,
        };
        let helo = cfg.helo();
        let retry_schedule = cfg.retry_schedule.iter().map(|d| d.0).collect();
        let idle = idle::IdleSessions::new(cfg.idle_connection_time.0);
        Arc::new(Deliverer {
            transport: connect::Transport {
                tls,
                timeouts,
                helo,
                idle,
                dial: connect::tcp(),
            },
            ctx,
            router,
            retry_schedule,
            keys: keys::KeyCache::default(),
            share: Arc::default(),
            holds: hold::Holds::default(),
        })
    }

    /// Connections this node may open to one destination: its share of
    /// `[limits].per_destination_connections`; `None` when unlimited.
    fn connections_cap(&self) -> Option<usize> {
        share::connections_per_node(
            self.ctx.config.limits.per_destination_connections,
            self.ctx.node.live(),
        )
    }

    /// Recipients this node may hold for one destination: what its
    /// connections to it can start soon.
    fn held_cap(&self) -> usize {
        self.connections_cap().unwrap_or(MAX_GROUPS_IN_FLIGHT) * JOBS_PER_CONNECTION
    }

    /// Waits until one more message may go to `domain`
    /// (`[limits].per_destination_messages_per_second`), and counts it.
    pub async fn pace(&self, domain: &str) {
        self.ctx.limits.pace(domain).await
    }

    /// The worker loop: until `stop` turns true, lease and deliver. On stop,
    /// in-flight groups finish (their own timeouts bound them).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.ctx.store.backend == crate::store::Backend::Sqlite {
            match self.ctx.store.release_all_leases().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    recipients = n,
                    "picked up deliveries left in flight by a previous run"
                ),
                Err(e) => tracing::error!(error = %e, "could not hand back old leases"),
            }
        }
        let slots = Arc::new(Semaphore::new(MAX_GROUPS_IN_FLIGHT));
        // Permits are KiB of BYTES_IN_FLIGHT.
        let memory = Arc::new(Semaphore::new(BYTES_IN_FLIGHT >> 10));
        let mut tasks = tokio::task::JoinSet::new();
        // Outcomes are committed by one recorder, in groups: each is on disk
        // within moments of the MX's reply (few duplicates after a crash)
        // without a commit per message.
        let (outcomes_tx, mut outcomes_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Outcome>>();
        let recorder = {
            let me = self.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while outcomes_rx.recv_many(&mut buf, 256).await > 0 {
                    let batch: Vec<Outcome> = buf.drain(..).flatten().collect();
                    me.record(batch).await;
                }
            })
        };
        // When the last lease was not full, and when it was taken.
        let mut gathering: Option<Instant> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            connect::close(self.transport.idle.expired(Instant::now()));
            if let Some(wait) = gathering.and_then(|at| LEASE_GATHER.checked_sub(at.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            let free = slots.available_permits();
            let free_kib = memory.available_permits();
            let leased = if free == 0 || free_kib == 0 {
                Vec::new()
            } else {
                // In halves: a destination holding half its cap is skipped,
                // and a lease adds at most half, so none goes over the cap.
                let cap = self.held_cap().div_ceil(2);
                let full = self.share.full(cap);
                let request = LeaseRequest {
                    lease: self.ctx.node.next_lease(),
                    now: now_micros(),
                    timeout_micros: self.ctx.node.lease_timeout_micros(),
                    limit: BATCH,
                    // Each copy counts twice (see BYTES_IN_FLIGHT).
                    max_bytes: free_kib as i64 * 1024 / 2,
                    per_domain: cap as i64,
                    skip_domains: &full,
                };
                match self.ctx.store.lease_due(&request).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "could not lease due recipients; retrying");
                        Vec::new()
                    }
                }
            };
            gathering = (leased.len() < BATCH as usize).then(Instant::now);
            if leased.is_empty() {
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = self.ctx.queue_wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
                continue;
            }
            let groups = match self.group(leased).await {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!(error = %e, "could not load leased messages; retrying");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            for ((domain, settings), mut jobs) in groups {
                // Big groups are split so a destination gets several connections.
                while !jobs.is_empty() {
                    let n = jobs.len().min(JOBS_PER_CONNECTION);
                    let chunk: Vec<Job> = jobs.drain(..n).collect();
                    let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                    let held = memory
                        .clone()
                        .acquire_many_owned(kib_in_flight(&chunk))
                        .await
                        .expect("semaphore open");
                    let me = self.clone();
                    let tx = outcomes_tx.clone();
                    let domain = domain.clone();
                    let mut stopping = stop.clone();
                    let recipients = chunk.iter().map(|j| j.recipients.len()).sum();
                    self.share.hold(&domain, recipients);
                    tasks.spawn(async move {
                        let share = me.share.clone();
                        tokio::select! {
                            connection = share.connect(&domain, || me.connections_cap()) => {
                                let _in_flight = crate::telemetry::InFlight::start(recipients);
                                attempt::deliver_group(&me, &domain, settings, chunk, &tx).await;
                                drop(connection);
                            }
                            // Not started when the node stops: handed back
                            // at once, for a peer (or the next run) to send.
                            _ = async { let _ = stopping.wait_for(|s| *s).await; } => {
                                let _ = tx.send(attempt::release_all(&chunk));
                            }
                        }
                        me.share.let_go(&domain, recipients);
                        drop((permit, held));
                    });
                }
            }
        }
        tracing::info!(
            in_flight = tasks.len(),
            "delivery stopping: letting in-flight deliveries finish"
        );
        while tasks.join_next().await.is_some() {}
        for c in self.transport.idle.drain() {
            c.session.quit().await;
        }
        drop(outcomes_tx);
        let _ = recorder.await;
        tracing::info!("delivery stopped");
    }

    pub(super) async fn record(&self, outcomes: Vec<Outcome>) {
        for attempt in 0..5 {
            match self.ctx.store.record_outcomes(&outcomes).await {
                Ok(dropped) => {
                    if dropped > 0 {
                        tracing::warn!(
                            recipients = dropped,
                            "outcomes not recorded: this node lost their leases (it was silent longer than [cluster].lease_timeout) and another node took them over"
                        );
                    }
                    // The rates changed: the domains are assessed again soon.
                    for o in outcomes.iter().filter(|o| o.event.is_some()) {
                        self.ctx.reputation.changed(o.domain_id);
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt, "could not record delivery outcomes; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        // The leases are handed back when this node stops or dies, and the
        // recipients tried again: a duplicate at worst, never a loss.
        tracing::error!(
            n = outcomes.len(),
            "giving up recording outcomes; recipients will be retried"
        );
    }
}
