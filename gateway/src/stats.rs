//! `GET /v3/{domain}/stats/total` in Mailgun's shape: event counts per hour,
//! day or month (UTC), from the events log. The time arithmetic and the
//! folding of counts into Mailgun's nested objects are here, without I/O.

use chrono::{Datelike, Months, TimeZone, Utc};
use policy::events::{EventKind, Reason, Severity};
use serde_json::{json, Map, Value};

use crate::time::from_micros;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Hour,
    Day,
    Month,
}

impl Resolution {
    pub fn parse(s: &str) -> Option<Resolution> {
        match s {
            "hour" => Some(Resolution::Hour),
            "day" => Some(Resolution::Day),
            "month" => Some(Resolution::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Hour => "hour",
            Resolution::Day => "day",
            Resolution::Month => "month",
        }
    }

    /// The width the store groups by: months are folded from days.
    pub fn group_micros(self) -> i64 {
        match self {
            Resolution::Hour => HOUR,
            Resolution::Day | Resolution::Month => DAY,
        }
    }

    /// The start of the bucket holding `us`.
    pub fn floor(self, us: i64) -> i64 {
        match self {
            Resolution::Hour => us.div_euclid(HOUR) * HOUR,
            Resolution::Day => us.div_euclid(DAY) * DAY,
            Resolution::Month => {
                let t = from_micros(us);
                Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
                    .single()
                    .map(|d| d.timestamp_micros())
                    .unwrap_or(us)
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Resolution::Hour => start + HOUR,
            Resolution::Day => start + DAY,
            Resolution::Month => from_micros(start)
                .checked_add_months(Months::new(1))
                .map(|d| d.timestamp_micros())
                .unwrap_or(i64::MAX),
        }
    }
}

/// Mailgun's `duration`: a count and a unit, `h`, `d` or `m` (months),
/// counted back from `end`. The start it gives, or `None` if malformed.
pub fn start_from_duration(duration: &str, end: i64) -> Option<i64> {
    let d = duration.trim();
    let unit = d.chars().last()?;
    let n: u32 = d[..d.len() - unit.len_utf8()].parse().ok()?;
    let end_t = from_micros(end);
    let start = match unit {
        'h' => end_t - chrono::Duration::hours(n.into()),
        'd' => end_t - chrono::Duration::days(n.into()),
        'm' => end_t.checked_sub_months(Months::new(n))?,
        _ => return None,
    };
    Some(start.timestamp_micros())
}

/// The bucket starts from the one holding `start` to the one holding `end`;
/// `None` past `max` of them (stopping there, not after building them all).
pub fn buckets(resolution: Resolution, start: i64, end: i64, max: usize) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    let mut t = resolution.floor(start);
    while t <= end {
        if out.len() == max {
            return None;
        }
        out.push(t);
        t = resolution.next(t);
    }
    Some(out)
}

/// The event types Mailgun's stats know. envoi tracks no opens, clicks or
/// stored messages: those are always zero.
pub const EVENTS: [&str; 8] = [
    "accepted",
    "delivered",
    "failed",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "stored",
];

/// One group of events as the store counts them.
#[derive(Debug, Clone)]
pub struct Count {
    /// Start of the store's group (hour or day).
    pub at: i64,
    pub event: EventKind,
    pub severity: Option<Severity>,
    pub reason: Option<Reason>,
    pub method: Option<String>,
    pub n: i64,
}

#[derive(Debug, Default, Clone)]
struct Bucket {
    accepted: i64,
    delivered_smtp: i64,
    delivered_http: i64,
    delivered: i64,
    temporary_espblock: i64,
    temporary: i64,
    permanent: Map<String, Value>,
    permanent_total: i64,
    unsubscribed: i64,
    complained: i64,
}

impl Bucket {
    fn add(&mut self, c: &Count) {
        match (c.event, c.severity) {
            (EventKind::Accepted, _) => self.accepted += c.n,
            (EventKind::Delivered, _) => {
                self.delivered += c.n;
                match c.method.as_deref() {
                    Some("smtp") => self.delivered_smtp += c.n,
                    Some("http") => self.delivered_http += c.n,
                    _ => {}
                }
            }
            (EventKind::Failed, Some(Severity::Temporary)) => {
                self.temporary += c.n;
                if c.reason == Some(Reason::EspBlock) {
                    self.temporary_espblock += c.n;
                }
            }
            (EventKind::Failed, Some(Severity::Permanent)) => {
                self.permanent_total += c.n;
                if let Some(r) = c.reason {
                    if let Some(v) = self.permanent.get_mut(r.as_str()) {
                        *v = json!(v.as_i64().unwrap_or(0) + c.n);
                    }
                }
            }
            (EventKind::Unsubscribed, _) => self.unsubscribed += c.n,
            (EventKind::Complained, _) => self.complained += c.n,
            (EventKind::Failed, None) | (EventKind::Warning, _) => {}
        }
    }

    fn json(&self, time: i64, events: &[&str]) -> Value {
        let mut out = Map::new();
        out.insert("time".into(), json!(crate::time::rfc2822(time)));
        for &e in events {
            let v = match e {
                "accepted" => {
                    json!({"incoming": 0, "outgoing": self.accepted, "total": self.accepted})
                }
                "delivered" => json!({
                    "smtp": self.delivered_smtp,
                    "http": self.delivered_http,
                    "optimized": 0,
                    "total": self.delivered,
                }),
                "failed" => {
                    let mut permanent = self.permanent.clone();
                    permanent.insert("total".into(), json!(self.permanent_total));
                    let temporary = json!({
                        Reason::EspBlock.as_str(): self.temporary_espblock,
                        "total": self.temporary,
                    });
                    json!({
                        Severity::Temporary.as_str(): temporary,
                        Severity::Permanent.as_str(): permanent,
                    })
                }
                "opened" | "clicked" => json!({"total": 0, "unique": 0}),
                "unsubscribed" => json!({"total": self.unsubscribed}),
                "complained" => json!({"total": self.complained}),
                _ => json!({"total": 0}),
            };
            out.insert(e.to_string(), v);
        }
        Value::Object(out)
    }
}

/// Mailgun's keys of `failed.permanent` that envoi never records (always 0).
const NEVER_RECORDED: [&str; 3] = ["delayed-bounce", "webhook", "optimized"];

fn empty_bucket() -> Bucket {
    let mut b = Bucket::default();
    let recorded = [
        Reason::SuppressBounce,
        Reason::SuppressUnsubscribe,
        Reason::SuppressComplaint,
        Reason::Bounce,
    ]
    .map(Reason::as_str);
    for k in recorded.into_iter().chain(NEVER_RECORDED) {
        b.permanent.insert(k.into(), json!(0));
    }
    b
}

/// The `stats` array: one entry per bucket, with the requested events.
pub fn fold(
    resolution: Resolution,
    starts: &[i64],
    counts: &[Count],
    events: &[&str],
) -> Vec<Value> {
    let mut tallies: Vec<Bucket> = vec![empty_bucket(); starts.len()];
    for c in counts {
        let at = resolution.floor(c.at);
        if let Ok(i) = starts.binary_search(&at) {
            tallies[i].add(c);
        }
    }
    starts
        .iter()
        .zip(&tallies)
        .map(|(&t, b)| b.json(t, events))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0)
            .unwrap()
            .timestamp_micros()
    }

    fn count(at: i64, event: &str, severity: Option<&str>, reason: Option<&str>, n: i64) -> Count {
        Count {
            at,
            event: event.parse().unwrap(),
            severity: severity.map(|s| s.parse().unwrap()),
            reason: reason.map(|r| r.parse().unwrap()),
            method: Some("http".into()),
            n,
        }
    }

    #[test]
    fn buckets_are_calendar_aligned_in_utc() {
        let start = at(2026, 1, 30, 13) + 5;
        let end = at(2026, 3, 2, 1);
        let months = buckets(Resolution::Month, start, end, 100).unwrap();
        assert_eq!(
            months,
            vec![at(2026, 1, 1, 0), at(2026, 2, 1, 0), at(2026, 3, 1, 0)]
        );
        let days = buckets(Resolution::Day, at(2026, 2, 27, 5), at(2026, 3, 1, 0), 100).unwrap();
        assert_eq!(
            days,
            vec![at(2026, 2, 27, 0), at(2026, 2, 28, 0), at(2026, 3, 1, 0)]
        );
        let hours = buckets(
            Resolution::Hour,
            at(2026, 2, 27, 5) + 1,
            at(2026, 2, 27, 6),
            100,
        )
        .unwrap();
        assert_eq!(hours, vec![at(2026, 2, 27, 5), at(2026, 2, 27, 6)]);
        // Too many is refused before they are all built.
        assert_eq!(
            buckets(Resolution::Hour, 0, at(2026, 1, 1, 0), 10_000),
            None
        );
    }

    #[test]
    fn durations_count_back_from_the_end() {
        let end = at(2026, 3, 31, 12);
        assert_eq!(start_from_duration("1m", end), Some(at(2026, 2, 28, 12)));
        assert_eq!(start_from_duration("7d", end), Some(at(2026, 3, 24, 12)));
        assert_eq!(start_from_duration("24h", end), Some(at(2026, 3, 30, 12)));
        assert_eq!(start_from_duration("3w", end), None);
        assert_eq!(start_from_duration("m", end), None);
        assert_eq!(start_from_duration("", end), None);
    }

    #[test]
    fn counts_fold_into_mailguns_shape() {
        let day = at(2026, 5, 4, 0);
        let starts = buckets(Resolution::Day, day, day + DAY, 100).unwrap();
        let counts = vec![
            count(day, "accepted", None, None, 10),
            count(day, "delivered", None, None, 7),
            count(day, "failed", Some("permanent"), Some("bounce"), 2),
            count(
                day,
                "failed",
                Some("permanent"),
                Some("suppress-unsubscribe"),
                1,
            ),
            count(day, "failed", Some("permanent"), Some("old"), 1),
            count(day, "failed", Some("temporary"), Some("generic"), 3),
            count(day + DAY, "complained", None, None, 1),
        ];
        let stats = fold(
            Resolution::Day,
            &starts,
            &counts,
            &["accepted", "delivered", "failed", "complained"],
        );
        assert_eq!(stats.len(), 2);
        let s = &stats[0];
        assert_eq!(s["time"], crate::time::rfc2822(day));
        assert_eq!(
            s["accepted"],
            json!({"incoming": 0, "outgoing": 10, "total": 10})
        );
        assert_eq!(s["delivered"]["http"], 7);
        assert_eq!(s["delivered"]["total"], 7);
        assert_eq!(s["failed"]["permanent"]["bounce"], 2);
        assert_eq!(s["failed"]["permanent"]["suppress-unsubscribe"], 1);
        assert_eq!(s["failed"]["permanent"]["total"], 4);
        assert_eq!(s["failed"]["temporary"]["total"], 3);
        assert_eq!(s["complained"]["total"], 0);
        assert_eq!(stats[1]["complained"]["total"], 1);
        assert!(s.get("opened").is_none(), "only the requested events");
    }
}
