//! Acceptable use at the edges (contract §5): count a domain's outcomes over
//! `[policy].window`, ask `policy::reputation` what state that puts it in,
//! store it, and refuse the sends of a suspended domain. Queued messages of a
//! suspended domain are held (`store::reputation`), not dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use policy::reputation::{self, Counts, Rate, Rates, Reason, State, Thresholds};
use serde_json::{json, Value};

use crate::config::PolicyConfig;
use crate::store::{now_micros, Store, StoreError};

/// How long a node trusts its cached "is this domain suspended" answer;
/// a change made on this node applies at once.
const CACHE_FOR: Duration = Duration::from_secs(2);

/// The domains' acceptable-use state: what it needs (the store, the
/// thresholds and the window), and the cache of suspensions.
pub struct Reputation {
    store: Store,
    thresholds: Thresholds,
    /// `[policy].window`.
    window: Duration,
    suspended: Mutex<HashMap<i64, (Instant, Option<Reason>)>>,
    /// Domains with new outcomes since their last assessment.
    dirty: Mutex<std::collections::HashSet<i64>>,
}

fn reason_json(r: &Reason) -> Value {
    json!({
        "rate": r.rate.as_str(),
        "value": r.value,
        "threshold": r.threshold,
        "text": r.to_string(),
    })
}

fn reason_from(text: &str) -> Option<Reason> {
    let v: Value = serde_json::from_str(text).ok()?;
    Some(Reason {
        rate: v["rate"].as_str()?.parse().ok()?,
        value: v["value"].as_f64()?,
        threshold: v["threshold"].as_f64()?,
    })
}

/// An object with a value for each rate, keyed by its name.
fn by_rate(value: impl Fn(Rate) -> Value) -> Value {
    Value::Object(
        Rate::ALL
            .iter()
            .map(|&r| (r.as_str().to_string(), value(r)))
            .collect(),
    )
}

/// The stored state of `domain_id`. A state or reason that does not parse
/// is `Corrupt`: a damaged suspended domain must not quietly send again.
fn stored_state(domain_id: i64, state: &str, reason: &str) -> Result<State, StoreError> {
    let corrupt = |field: &str, value: &str| {
        StoreError::Corrupt(format!(
            "reputation row of domain {domain_id}, field {field}: {value:?} does not parse"
        ))
    };
    let reason = || reason_from(reason).ok_or_else(|| corrupt("reason", reason));
    match state {
        "ok" => Ok(State::Ok),
        "suspended" => Ok(State::Suspended(reason()?)),
        "warning" => Ok(State::Warning(reason()?)),
        other => Err(corrupt("state", other)),
    }
}

/// Everything `GET /v3/{domain}/reputation` shows.
pub struct Report {
    pub state: State,
    pub counts: Counts,
    pub rates: Rates,
    pub since: i64,
    pub changed_at: Option<i64>,
}

/// How often domains whose outcomes changed are assessed again: counting
/// the window is a query per domain, not something to do per message.
const ASSESS_EVERY: Duration = Duration::from_secs(1);

impl Reputation {
    pub fn new(store: Store, policy: &PolicyConfig) -> Reputation {
        Reputation {
            store,
            thresholds: Thresholds {
                bounce: policy.bounce_rate,
                complaint: policy.complaint_rate,
                unsubscribe: policy.unsubscribe_rate,
                min_sample: policy.min_sample,
            },
            window: policy.window.0,
            suspended: Mutex::default(),
            dirty: Mutex::default(),
        }
    }

    /// Counts and assesses the domain now, stores a changed state, and returns
    /// the report. Called after outcomes and unsubscribes are recorded.
    pub async fn evaluate(&self, domain_id: i64, name: &str) -> Result<Report, StoreError> {
        let stored = self.store.reputation_state(domain_id).await?;
        let now = now_micros();
        let window = self.window.as_micros() as i64;
        let since = (now - window).max(stored.reinstated_at.unwrap_or(i64::MIN));
        let counts = self.store.reputation_counts(domain_id, since).await?;
        let before = stored_state(domain_id, &stored.state, &stored.reason)?;
        let state = reputation::next(before, reputation::assess(&counts, &self.thresholds));
        if state != before {
            let reason = match &state {
                State::Ok => None,
                State::Warning(r) | State::Suspended(r) => Some(reason_json(r)),
            };
            // Worse news is told (`warning` event and webhook); recovery is not.
            let event = state.worse_than(&before).then(|| {
                let why = reason.clone().unwrap_or_default();
                crate::events::warning(name, state.as_str(), why, now)
            });
            let reason = reason.map(|r| r.to_string()).unwrap_or_default();
            self.store
                .set_reputation_state(domain_id, state.as_str(), &reason, event.as_ref())
                .await?;
            self.forget(domain_id);
            match &state {
                State::Suspended(r) => {
                    tracing::warn!(domain = name, reason = %r, "domain suspended: sends refused, queued messages held until reinstated")
                }
                State::Warning(r) => tracing::warn!(domain = name, reason = %r, "domain warned"),
                State::Ok => tracing::info!(domain = name, "domain back to ok"),
            }
        }
        Ok(Report {
            state,
            counts,
            rates: reputation::rates(&counts),
            since,
            changed_at: if state != before {
                Some(now)
            } else {
                stored.changed_at
            },
        })
    }

    /// Assesses again, every second, the domains whose outcomes changed, until
    /// `stop`. A domain whose count takes long (a large window) waits twenty
    /// times that before the next one, so counting stays a small share of the
    /// CPU however many events the window holds.
    ///
    /// One node of a cluster assesses (`runner`): it looks at the domains
    /// with new events, whichever node recorded them.
    pub async fn run(
        &self,
        runner: crate::cluster::singleton::Singleton,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut not_before: HashMap<i64, Instant> = HashMap::new();
        // The newest event row looked at; `None` until this node runs.
        let mut seen: Option<i64> = None;
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(ASSESS_EVERY) => {}
            }
            if !runner.mine().await {
                self.dirty.lock().unwrap().clear();
                seen = None;
                continue;
            }
            // Taking over: every domain once (what the last runner had
            // still to do is not known), then those with new events.
            match self.store.domains_with_events_after(seen).await {
                Ok((domains, newest)) => {
                    seen = Some(newest);
                    domains.into_iter().for_each(|id| self.changed(id));
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not list the domains with new outcomes")
                }
            }
            let dirty: Vec<i64> = std::mem::take(&mut *self.dirty.lock().unwrap())
                .into_iter()
                .collect();
            for id in dirty {
                if not_before.get(&id).is_some_and(|t| *t > Instant::now()) {
                    self.changed(id); // still dirty: next time
                    continue;
                }
                let started = Instant::now();
                let assessed = match self.store.domain_name(id).await {
                    Ok(Some(name)) => self.evaluate(id, &name).await.map(drop),
                    Ok(None) => Ok(()), // deleted meanwhile
                    Err(e) => Err(e),
                };
                not_before.insert(id, Instant::now() + started.elapsed() * 20);
                if let Err(e) = assessed {
                    tracing::error!(error = %e, domain_id = id, "could not assess the domain's rates");
                    self.changed(id);
                }
            }
            not_before.retain(|_, t| *t > Instant::now());
        }
    }

    /// The configured thresholds (`[policy]`).
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The JSON of a report (`GET /v3/{domain}/reputation`).
    pub fn report_json(&self, domain: &str, r: &Report) -> Value {
        let t = &self.thresholds;
        let mut thresholds = by_rate(|rate| json!(t.of(rate)));
        thresholds["min_sample"] = json!(t.min_sample);
        let reason = match &r.state {
            State::Ok => Value::Null,
            State::Warning(x) | State::Suspended(x) => reason_json(x),
        };
        json!({
            "domain": domain,
            "state": r.state.as_str(),
            "reason": reason,
            "rates": by_rate(|rate| json!(r.rates.of(rate))),
            "thresholds": thresholds,
        "sample": r.rates.sample,
            "counts": {
                "delivered": r.counts.delivered,
                "failed_permanently": r.counts.failed_permanently,
                "hard_bounces": r.counts.hard_bounces,
                "complained": r.counts.complaints,
                "unsubscribed": r.counts.unsubscribes,
            },
            "window": humantime::format_duration(self.window).to_string(),
            "since": crate::time::rfc2822(r.since.max(0)),
            "changed_at": r.changed_at.map(crate::time::rfc2822),
        })
    }

    /// Why the domain is suspended, if it is.
    pub async fn suspended(&self, domain_id: i64) -> Result<Option<Reason>, StoreError> {
        if let Some((at, r)) = self.suspended.lock().unwrap().get(&domain_id) {
            if at.elapsed() < CACHE_FOR {
                return Ok(*r);
            }
        }
        let stored = self.store.reputation_state(domain_id).await?;
        let r = match stored_state(domain_id, &stored.state, &stored.reason)? {
            State::Suspended(r) => Some(r),
            _ => None,
        };
        self.suspended
            .lock()
            .unwrap()
            .insert(domain_id, (Instant::now(), r));
        Ok(r)
    }

    /// New outcomes for the domain: assess it again soon (`run`).
    pub fn changed(&self, domain_id: i64) {
        if domain_id > 0 {
            self.dirty.lock().unwrap().insert(domain_id);
        }
    }

    pub fn forget(&self, domain_id: i64) {
        self.suspended.lock().unwrap().remove(&domain_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_stored_state_is_corrupt_never_ok() {
        let good = r#"{"rate":"bounce","value":0.12,"threshold":0.05}"#;
        assert!(matches!(
            stored_state(1, "suspended", good),
            Ok(State::Suspended(_))
        ));
        assert!(matches!(stored_state(1, "ok", ""), Ok(State::Ok)));
        for (state, reason) in [
            ("suspended", "{"),
            ("suspended", r#"{"rate":"bouncy"}"#),
            ("paused", ""),
        ] {
            let e = stored_state(7, state, reason).unwrap_err().to_string();
            assert!(e.contains("domain 7"), "{e}");
        }
    }
}
