//! Domains whose IP allowlist holds a client address (issue 9 fills this).

use std::net::IpAddr;

use crate::app::App;

pub async fn domains_for(_app: &App, _ip: IpAddr) -> Vec<String> {
    Vec::new()
}
