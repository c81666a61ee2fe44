//! DKIM for envoi: key generation and import, the DNS text to publish, and
//! (RFC 6376 / RFC 8463) signing.

pub mod canon;
pub mod dns;
pub mod keys;
pub mod sign;

pub use canon::{Canon, Canonicalization};
pub use keys::{Algorithm, KeyError, KeySpec, PrivateKey};
pub use sign::{sign, DkimKey, SignError, SignOptions, SigningPath};
