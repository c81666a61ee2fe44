//! DKIM for envoi: key generation and import, the DNS text to publish, and
//! (RFC 6376 / RFC 8463) signing.

pub mod dns;
pub mod keys;

pub use keys::{Algorithm, KeyError, KeySpec, PrivateKey};
