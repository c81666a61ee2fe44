//! envoi's gateway: configuration, the HTTP API, the store, the queue and
//! delivery. Pure decisions live in the `policy` and `signer` crates.

pub mod accept;
pub mod api_keys;
pub mod app;
pub mod cluster;
pub mod compose;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod dkim;
pub mod dmarc;
pub mod dns_check;
pub mod dns_records;
pub mod events;
pub mod guard;
pub mod health;
pub mod http;
pub mod inbound;
pub mod limits;
pub mod logs;
pub mod net;
pub mod reputation;
pub mod retention;
pub mod serve;
pub mod smtp;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod time;
pub mod unsubscribe;
pub mod webhooks;
