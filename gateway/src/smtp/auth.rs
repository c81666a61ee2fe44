//! Checking SMTP credentials, and slowing down whoever guesses: each failure
//! from an address delays the answer, and an address with too many recent
//! failures is refused without a check.

use std::net::IpAddr;
use std::time::Duration;

use policy::secrets::{Lifetime, Matched};

use crate::guard::Guard;
use crate::net::smtp_server::machine::AuthOutcome;
use crate::store::now_micros;
use crate::store::Store;

/// Failures from one address within `WINDOW` before it is refused outright.
const MAX_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(600);
/// Added to each failed answer, per recent failure (capped).
const STEP: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(3);

/// A hash of nothing in particular: unknown logins cost the same as known
/// ones, so timing does not tell which exist.
static DUMMY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::crypto::hash_password("no such login"));

/// The SMTP side's guard: ten failures from one address in ten minutes.
pub fn guard() -> Guard {
    Guard::new(MAX_FAILURES, WINDOW)
}

pub async fn check(
    store: &Store,
    guard: &Guard,
    ip: IpAddr,
    login: &str,
    password: &str,
) -> AuthOutcome {
    if guard.is_refused(ip) {
        tracing::warn!(%ip, "SMTP AUTH refused: too many recent failures from this address");
        return AuthOutcome::Throttled;
    }
    let login = login.trim().to_ascii_lowercase();
    let found = match store.credential(&login).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "SMTP AUTH: store unavailable");
            return AuthOutcome::Unavailable;
        }
    };
    let now = now_micros();
    // The password replaced by the last change is tried only during its
    // grace: a rotated password costs no second hash afterwards.
    let mut last_used_at = None;
    let (hash, previous, life, domain) = match found {
        Some((c, domain)) => {
            last_used_at = Some(c.last_used_at);
            let life = Lifetime {
                expires_at: None,
                previous_valid_until: c.previous_valid_until,
            };
            let previous = c
                .previous_password_hash
                .filter(|_| c.previous_valid_until.is_some_and(|t| now < t));
            (c.password_hash, previous, life, Some(domain))
        }
        None => (DUMMY.clone(), None, Lifetime::default(), None),
    };
    let password = password.to_string();
    let matched = tokio::task::spawn_blocking(move || {
        if crate::crypto::password_matches(&password, &hash) {
            Matched::Current
        } else if previous.is_some_and(|p| crate::crypto::password_matches(&password, &p)) {
            Matched::Previous
        } else {
            Matched::Neither
        }
    })
    .await
    .unwrap_or(Matched::Neither);
    if matched == Matched::Previous {
        tracing::info!(%ip, %login, "SMTP AUTH with the previous password, within its grace period");
    }
    let matches = policy::secrets::check(matched, life, now).is_ok();
    match (matches, domain) {
        (true, Some(domain)) => {
            guard.succeeded(ip);
            tracing::info!(%ip, %login, %domain, "SMTP AUTH succeeded");
            // last_used_at is informative: refreshed at most once a minute,
            // and a store that cannot take it does not refuse the login.
            if last_used_at.flatten().is_none_or(|t| now - t > 60_000_000) {
                if let Err(e) = store.touch_credential(&login, now).await {
                    tracing::warn!(error = %e, %login, "could not record the credential's last use");
                }
            }
            AuthOutcome::Ok { domain }
        }
        _ => {
            let n = guard.failed(ip);
            tracing::warn!(%ip, %login, failures = n, "SMTP AUTH failed");
            tokio::time::sleep((STEP * n).min(MAX_DELAY)).await;
            AuthOutcome::Failed
        }
    }
}
