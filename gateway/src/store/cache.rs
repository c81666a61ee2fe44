//! Rows the hot paths read for every message (its domain, the API key of
//! every request), kept briefly: a store round trip for each costs more than
//! the rest of the lookup. This node's writes clear a cache at once; another
//! node's (PostgreSQL) show within the TTL. Only rows that exist are kept, so
//! unknown names cannot grow a cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long another node's change may go unseen here.
pub const TTL: Duration = Duration::from_secs(2);

/// A bound for an account with very many domains or keys: past it, start over.
const MAX: usize = 10_000;

pub struct Cache<K, V> {
    /// Bumped by every write: a read that started before a write does not
    /// keep what it read.
    generation: AtomicU64,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap();
        let (at, v) = entries.get(key)?;
        (at.elapsed() < TTL).then(|| v.clone())
    }

    /// To pass to `keep` once the row is read.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value` unless a write came since `generation`.
    pub fn keep(&self, generation: u64, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap();
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// After a write: forget everything (writes are rare, reads are not).
    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_value_is_returned() {
        let c: Cache<String, i32> = Cache::default();
        c.keep(c.generation(), "a".into(), 1);
        assert_eq!(c.get("a"), Some(1));
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn a_read_that_started_before_a_write_is_not_kept() {
        let c: Cache<String, i32> = Cache::default();
        let before = c.generation();
        c.clear();
        c.keep(before, "a".into(), 1);
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn a_write_forgets_everything() {
        let c: Cache<i64, i32> = Cache::default();
        c.keep(c.generation(), 1, 1);
        c.clear();
        assert_eq!(c.get(&1), None);
    }
}
