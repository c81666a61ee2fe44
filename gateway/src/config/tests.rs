//! Loading and checking the config.

use super::*;

#[test]
fn empty_file_is_the_embedded_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.store.url, "sqlite://./envoi.db");
    assert_eq!(c.delivery.retry_schedule.len(), 5);
}

#[test]
fn unknown_key_is_named() {
    let err = Config::parse("[http]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("listne"), "{err}");
    let err = Config::parse("[htpp]\n").unwrap_err().to_string();
    assert!(err.contains("htpp"), "{err}");
}

#[test]
fn contract_example_parses() {
    let text = r#"
[http]
listen = "127.0.0.1:8080"
public_url = "https://mail.example.com"
[smtp]
listen = "127.0.0.1:2587"
allow_plain_auth_without_tls = false
max_message_size = "25MB"
[inbound]
listen = "127.0.0.1:2525"
bounce_domain = "bounces.example.com"
[store]
url = "sqlite://./envoi.db"
[delivery]
nameservers = ["127.0.0.1:5353"]
port = 25
helo_name = "mta.example.com"
relay = ""
retry_schedule = ["1m", "5m", "30m", "2h", "6h"]
max_age = "3d"
connect_timeout = "30s"
idle_connection_time = "2s"
[limits]
requests_per_second_per_key = 100
messages_per_hour_per_domain = 0
messages_per_day_per_domain = 0
per_destination_messages_per_second = 50
per_destination_connections = 10
[policy]
window = "30d"
min_sample = 100
bounce_rate = 0.05
complaint_rate = 0.008
unsubscribe_rate = 0.014
"#;
    let c = Config::parse(text).unwrap();
    assert_eq!(c.delivery.max_age.0, Duration::from_secs(3 * 86400));
    assert_eq!(c.smtp.max_message_size.0, 25_000_000);
    assert_eq!(c.delivery.nameservers.len(), 1);
}

#[test]
fn bad_duration_says_what_is_expected() {
    let err = Config::parse("[delivery]\nmax_age = \"3 weeks-ish\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("duration"), "{err}");
}
