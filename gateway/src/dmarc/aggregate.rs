//! A DMARC aggregate report (RFC 7489 appendix C, and RFC 9990's revision:
//! extra elements are ignored), read from its XML with quick-xml's serde.

use std::net::IpAddr;

use policy::dmarc::Policy;
use serde::Deserialize;

use super::ReportError;

/// One report: who sent it, about which domain and period, and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The reporting organisation.
    pub org: String,
    pub report_id: String,
    /// The period, in seconds since the epoch.
    pub begin: i64,
    pub end: i64,
    /// The policy as the reporter found it published.
    pub domain: String,
    pub p: Policy,
    pub pct: u8,
    pub rows: Vec<Row>,
}

/// Messages from one source, as the receiver evaluated them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub source_ip: IpAddr,
    pub count: u64,
    pub header_from: String,
    /// What the receiver did (`none`, `quarantine`, `reject`; RFC 9990's
    /// `pass` is `none`).
    pub disposition: Policy,
    /// DKIM and SPF passed *aligned* (`policy_evaluated`).
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
}

impl Row {
    pub fn dmarc_pass(&self) -> bool {
        self.dkim_aligned || self.spf_aligned
    }
}

impl Aggregate {
    pub fn messages(&self) -> u64 {
        self.rows.iter().map(|r| r.count).sum()
    }

    /// Messages that passed (`dkim` / `spf` aligned, or either).
    pub fn passing(&self, pass: impl Fn(&Row) -> bool) -> u64 {
        self.rows.iter().filter(|r| pass(r)).map(|r| r.count).sum()
    }
}

#[derive(Deserialize)]
struct Feedback {
    report_metadata: Metadata,
    policy_published: Published,
    #[serde(default, rename = "record")]
    records: Vec<XmlRecord>,
}

#[derive(Deserialize)]
struct Metadata {
    org_name: String,
    report_id: String,
    date_range: DateRange,
}

#[derive(Deserialize)]
struct DateRange {
    begin: String,
    end: String,
}

#[derive(Deserialize)]
struct Published {
    domain: String,
    p: String,
    #[serde(default)]
    pct: Option<String>,
}

#[derive(Deserialize)]
struct XmlRecord {
    row: XmlRow,
    identifiers: Identifiers,
}

#[derive(Deserialize)]
struct XmlRow {
    source_ip: String,
    count: String,
    policy_evaluated: Evaluated,
}

#[derive(Deserialize)]
struct Evaluated {
    #[serde(default)]
    disposition: Option<String>,
    #[serde(default)]
    dkim: Option<String>,
    #[serde(default)]
    spf: Option<String>,
}

#[derive(Deserialize)]
struct Identifiers {
    #[serde(default)]
    header_from: Option<String>,
}

fn number<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, ReportError> {
    // Some reporters write "1530133200.0" or pad with spaces.
    let t = text.trim();
    let t = t.split_once('.').map_or(t, |(whole, _)| whole);
    t.parse()
        .map_err(|_| ReportError::Invalid(format!("{what} {text:?} is not a number")))
}

fn pass(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|r| r.trim().eq_ignore_ascii_case("pass"))
}

/// Reads the XML of one report.
pub fn parse(xml: &[u8]) -> Result<Aggregate, ReportError> {
    // Invalid UTF-8 in free text (an organisation name) does not make the
    // numbers unreadable: read it replaced.
    let text = String::from_utf8_lossy(xml);
    let f: Feedback = quick_xml::de::from_str(&text)
        .map_err(|e| ReportError::Invalid(format!("the report's XML cannot be read: {e}")))?;
    let m = f.report_metadata;
    let p = f.policy_published;
    let policy = |what: &str, v: &str| {
        v.trim()
            .to_ascii_lowercase()
            .parse::<Policy>()
            .map_err(|e| ReportError::Invalid(format!("{what}: {e}")))
    };
    let mut rows = Vec::with_capacity(f.records.len());
    for r in f.records {
        let ip = r.row.source_ip.trim();
        rows.push(Row {
            source_ip: ip.parse().map_err(|_| {
                ReportError::Invalid(format!("source_ip {ip:?} is not an IP address"))
            })?,
            count: number("count", &r.row.count)?,
            header_from: r
                .identifiers
                .header_from
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
            disposition: match r.row.policy_evaluated.disposition.as_deref().map(str::trim) {
                // RFC 9990 reports `pass` for mail the policy did not touch.
                None | Some("") => Policy::None,
                Some(d) if d.eq_ignore_ascii_case("pass") => Policy::None,
                Some(d) => policy("disposition", d)?,
            },
            dkim_aligned: pass(&r.row.policy_evaluated.dkim),
            spf_aligned: pass(&r.row.policy_evaluated.spf),
        });
    }
    Ok(Aggregate {
        org: m.org_name.trim().to_string(),
        report_id: m.report_id.trim().to_string(),
        begin: number("date_range begin", &m.date_range.begin)?,
        end: number("date_range end", &m.date_range.end)?,
        domain: p.domain.trim().to_ascii_lowercase(),
        p: policy("policy_published p", &p.p)?,
        pct: match p.pct.as_deref().map(str::trim) {
            None | Some("") => 100,
            Some(v) => number::<u8>("pct", v)?.min(100),
        },
        rows,
    })
}
