//! Byte budgets shared by every connection of a listener (bytes of HTTP
//! bodies and SMTP DATA being received at once): a semaphore, one permit a
//! byte.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// A budget of bytes: one permit a byte (chunks are at most a few hundred
/// KiB, well within a u32 per acquisition).
pub fn budget(bytes: u64) -> Arc<Semaphore> {
    let permits = usize::try_from(bytes).unwrap_or(usize::MAX);
    Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS)))
}

/// Permits for a chunk of `len` bytes.
pub fn permits(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
