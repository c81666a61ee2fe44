//! Decisions without I/O. The gateway gathers facts (what an MX offered, what
//! a domain's counters say) and asks these functions what to do.

pub mod delivery;
pub mod disposition;
pub mod dmarc;
pub mod events;
pub mod filter;
pub mod gcra;
pub mod limits;
pub mod relay;
pub mod reputation;
pub mod secrets;
pub mod sender;
pub mod suppression;
pub mod tls;
pub mod webhooks;
