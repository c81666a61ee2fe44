//! Incoming reports: bounces (DSN) and complaints (ARF). `report` reads what
//! a report says; the `[inbound].listen` listener and VERP matching come next.

pub mod report;
