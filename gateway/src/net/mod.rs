//! Shared network infrastructure, below the features that use it (imports
//! point down: delivery, inbound, webhooks and the domain checks use these,
//! never the other way): the DNS resolver, the TLS client with its
//! certificate verdict, the SMTP client, the SMTP server that the submission
//! and report listeners share, and the VERP return-path codec.

pub mod budget;
pub mod dns;
pub mod mailbox;
pub mod reply;
pub mod smtp;
pub mod smtp_server;
pub mod tls;
pub mod verp;
