//! Incoming reports on `[inbound].listen`: bounces (DSN) and complaints
//! (ARF) sent back to a message's VERP return path.
//!
//! - the return path that names a message is `net::verp`;
//! - `report`: what a report says (pure parsing);
//! - `intake`: matching it to the message and recording events and
//!   suppressions.

pub mod intake;
pub mod report;
