//! DKIM keys loaded per domain, kept briefly so RSA keys are not parsed
//! for every message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Deliverer;

/// A domain's keys, the key generation they were loaded at, and when.
struct Loaded {
    generation: u64,
    at: Instant,
    /// The active rows the keys were parsed from (selector, sealed key): a
    /// reload that finds the same rows keeps the parsed keys.
    source: Vec<(String, Vec<u8>)>,
    keys: Arc<Vec<signer::DkimKey>>,
}

/// Per domain id.
#[derive(Default)]
pub(super) struct KeyCache(Mutex<HashMap<i64, Loaded>>);

impl Deliverer {
    /// Active DKIM keys of a domain, ready to sign.
    /// The store is read only when the cache is cold or a key changed.
    pub async fn dkim_keys(
        &self,
        domain: &crate::store::domains::Domain,
    ) -> Result<Arc<Vec<signer::DkimKey>>, String> {
        let generation = self
            .ctx
            .dkim_generation
            .load(std::sync::atomic::Ordering::SeqCst);
        if let Some(l) = self.keys.0.lock().unwrap().get(&domain.id) {
            if l.generation == generation && l.at.elapsed() < crate::store::cache::TTL {
                return Ok(l.keys.clone());
            }
        }
        let rows = self
            .ctx
            .store
            .dkim_keys(domain.id)
            .await
            .map_err(|e| e.to_string())?;
        let source: Vec<(String, Vec<u8>)> = rows
            .iter()
            .filter(|r| r.active)
            .map(|r| (r.selector.clone(), r.sealed_private_key.clone()))
            .collect();
        // Re-read every `TTL` so another node's rotation shows within 2 s;
        // parsing an RSA key again only when it changed.
        if let Some(l) = self.keys.0.lock().unwrap().get_mut(&domain.id) {
            if l.source == source {
                l.generation = generation;
                l.at = Instant::now();
                return Ok(l.keys.clone());
            }
        }
        let mut keys = Vec::new();
        for row in rows.iter().filter(|r| r.active) {
            let pk = crate::dkim::open_key(
                &self.ctx.master_key,
                &domain.name,
                &row.selector,
                &row.sealed_private_key,
            )
            .map_err(|e| e.to_string())?;
            keys.push(
                signer::DkimKey::new(&domain.name, &row.selector, &pk)
                    .map_err(|e| format!("DKIM key {} of {}: {e}", row.selector, domain.name))?,
            );
        }
        // RSA first: receivers that know only RSA look at the first signature.
        keys.sort_by_key(|k| k.algorithm != signer::Algorithm::Rsa);
        let keys = Arc::new(keys);
        self.keys.0.lock().unwrap().insert(
            domain.id,
            Loaded {
                generation,
                at: Instant::now(),
                source,
                keys: keys.clone(),
            },
        );
        Ok(keys)
    }
}
