//! Where logs go and in what shape: human text (the default) or one JSON
//! object per line (`[log].format = "json"`) for a log collector. Colour
//! codes only when stderr is a terminal and `NO_COLOR` is unset: piped to a
//! file or journald they are noise.

use std::io::IsTerminal;

use crate::config::LogFormat;

/// The version and the commit it was built from: `0.1.0 (3f2a9c1e4b7d)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ENVOI_GIT_COMMIT"),
    ")"
);

/// Colour only for a person at a terminal (<https://no-color.org>).
pub fn colour() -> bool {
    std::io::stderr().is_terminal()
        && !matches!(std::env::var_os("NO_COLOR"), Some(v) if !v.is_empty())
}

/// Install the global subscriber. `ENVOI_LOG` chooses levels as
/// `RUST_LOG` does ("info,sqlx=warn" by default).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENVOI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour()).init(),
        // Fields at the top level of each object, beside "message", so a
        // collector indexes `rcpt` or `message_id` without unwrapping.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
