//! A 404 for a path envoi does not serve says so, and names the nearest
//! endpoint it does serve: a Mailgun client calling a part of Mailgun's API
//! that envoi leaves out learns that at once, and where to look instead.

/// The endpoints envoi serves, as routed (`http::router`).
pub const SERVED: &[&str] = &[
    "/v4/domains",
    "/v4/domains/{domain}",
    "/v4/domains/{domain}/verify",
    "/v4/domains/{domain}/keys",
    "/v4/domains/{domain}/keys/{selector}/activate",
    "/v4/domains/{domain}/keys/{selector}/deactivate",
    "/v3/domains",
    "/v3/domains/{domain}",
    "/v3/domains/{domain}/verify",
    "/v3/domains/{domain}/connection",
    "/v3/domains/{domain}/credentials",
    "/v3/domains/{domain}/credentials/{login}",
    "/v3/domains/{domain}/ip_allowlist",
    "/v3/domains/{domain}/webhooks",
    "/v3/domains/{domain}/webhooks/{id}",
    "/v3/domains/{domain}/messages/{key}",
    "/v3/{domain}/messages",
    "/v3/{domain}/messages.mime",
    "/v3/{domain}/events",
    "/v3/{domain}/events/{token}",
    "/v3/{domain}/stats/total",
    "/v3/{domain}/templates",
    "/v3/{domain}/templates/{name}",
    "/v3/{domain}/templates/{name}/versions",
    "/v3/{domain}/templates/{name}/versions/{tag}",
    "/v3/{domain}/templates/{name}/versions/{tag}/copy/{new_tag}",
    "/v3/{domain}/bounces",
    "/v3/{domain}/unsubscribes",
    "/v3/{domain}/complaints",
    "/v3/{domain}/bounces/{address}",
    "/v3/{domain}/unsubscribes/{address}",
    "/v3/{domain}/complaints/{address}",
    "/v3/{domain}/reputation",
    "/v3/{domain}/reputation/reinstate",
    "/v3/{domain}/dmarc",
    "/v3/{domain}/dmarc/reports",
    "/v3/{domain}/dmarc/sources",
    "/v1/keys",
    "/v1/keys/{id}",
    "/v1/keys/{id}/rotate",
    "/v1/dkim/keys",
    "/v1/dkim_management/domains/{domain}/rotate",
    "/v1/dkim_management/domains/{domain}/rotation",
    "/v1/audit",
    "/v1/cluster",
    "/v5/accounts/http_signing_key",
];

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// How alike a served template and a path are: segments equal in place
/// (a `{…}` matches anything, for less), then the length of the common
/// prefix of the first segment that differs.
fn score(template: &str, path: &[&str]) -> (usize, usize, i64) {
    let t = segments(template);
    let mut exact = 0;
    let mut any = 0;
    let mut prefix = 0;
    for (a, b) in t.iter().zip(path) {
        if a.starts_with('{') {
            any += 1;
        } else if a == b {
            exact += 1;
        } else {
            prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            break;
        }
    }
    // Fewer extra segments is nearer.
    let extra = -(t.len() as i64 - path.len() as i64).abs();
    (exact + any, exact * 16 + prefix, extra)
}

/// The served endpoint nearest `path`.
pub fn nearest(path: &str) -> &'static str {
    let p = segments(path);
    SERVED
        .iter()
        .max_by_key(|t| score(t, &p))
        .copied()
        .unwrap_or("/v4/domains")
}

/// The 404's message for `path`.
pub fn message(path: &str) -> String {
    format!(
        "{path} is not served by envoi (it serves the parts of Mailgun's API listed in README, \"Differences from Mailgun\"); the nearest endpoint it serves is {}",
        nearest(path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailgun_endpoint_envoi_leaves_out_names_its_nearest_neighbour() {
        assert_eq!(nearest("/v3/mg.example.com/event"), "/v3/{domain}/events");
        assert_eq!(
            nearest("/v3/domains/mg.example.com/webhook"),
            "/v3/domains/{domain}/webhooks"
        );
        assert_eq!(
            nearest("/v3/mg.example.com/templates/welcome/version"),
            "/v3/{domain}/templates/{name}/versions"
        );
        assert_eq!(
            nearest("/v4/domains/mg.example.com/keyz"),
            "/v4/domains/{domain}/keys"
        );
        assert!(message("/v3/routes").contains("not served by envoi"));
    }
}
