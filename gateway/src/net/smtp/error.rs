//! What can go wrong in a session, naming the command it happened at.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection to {addr} failed: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("timed out {0}: the server stopped reading")]
    WriteTimeout(&'static str),
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server spoke something other than SMTP: {0}")]
    Protocol(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}
