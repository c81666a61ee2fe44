//! Dates as Mailgun's API writes and reads them.

use chrono::{DateTime, TimeZone, Utc};

pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

/// RFC 2822 with a two-digit day and a zone name: `Thu, 13 Oct 2011 18:02:00 UTC`
/// (mailgun-go parses RFC1123, which wants exactly this).
pub fn rfc2822(us: i64) -> String {
    from_micros(us)
        .format("%a, %d %b %Y %H:%M:%S UTC")
        .to_string()
}

/// ISO-8601 without a zone, for `/v1/keys` (mailgun-go requires it).
pub fn iso8601(us: i64) -> String {
    from_micros(us).format("%Y-%m-%dT%H:%M:%S").to_string()
}

pub fn epoch_seconds(us: i64) -> f64 {
    us as f64 / 1e6
}

/// `begin`/`end`/`o:deliverytime`: RFC 2822 (any day width, zone name or
/// offset) or epoch seconds (possibly fractional). Returns microseconds.
pub fn parse_api_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some((secs * 1e6) as i64);
        }
        return None;
    }
    let normalised = s.replace(" UTC", " +0000").replace(" GMT", " +0000");
    DateTime::parse_from_rfc2822(&normalised)
        .ok()
        .map(|d| d.with_timezone(&Utc).timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let us = 1_318_528_920_000_000; // 2011-10-13 18:02:00 UTC
        assert_eq!(rfc2822(us), "Thu, 13 Oct 2011 18:02:00 UTC");
        assert_eq!(iso8601(us), "2011-10-13T18:02:00");
        let early = 1_317_492_000_000_000; // 2011-10-01
        assert!(rfc2822(early).starts_with("Sat, 01 Oct"));
    }

    #[test]
    fn parses() {
        let us = 1_318_528_920_000_000;
        assert_eq!(parse_api_time("Thu, 13 Oct 2011 18:02:00 +0000"), Some(us));
        assert_eq!(parse_api_time("Thu, 13 Oct 2011 18:02:00 GMT"), Some(us));
        assert_eq!(parse_api_time("Thu, 13 Oct 2011 20:02:00 +0200"), Some(us));
        assert_eq!(parse_api_time("1318528920"), Some(us));
        assert_eq!(parse_api_time("1318528920.5"), Some(us + 500_000));
        assert_eq!(parse_api_time("tomorrow"), None);
    }
}
