//! Webhooks (Mailgun's): the events a domain asks for are POSTed to its URLs
//! as `{"signature": {timestamp, token, signature}, "event-data": {...}}`,
//! signed with the account's HTTP signing key. `policy::webhooks` says which
//! events go where and what to do after an answer; `dispatch` makes the
//! calls; `store::webhooks` keeps them until they are done.

pub mod dispatch;
pub mod signing;

pub use dispatch::{run, Context};
