//! DMARC without I/O (RFC 7489): the published record read, identifier
//! alignment (strict or relaxed, by organisational domain from the Public
//! Suffix List), whether envoi's own mail passes under a record, and the
//! ramp from `p=none` to `p=reject` of the DMARC guide envoi follows:
//! quarantine at 5, 25, 50 and 100 %, then reject at 5, 25, 50 and 100 %,
//! two weeks a step, tightened only when the reports say it is safe.

/// What a receiver does with mail that fails DMARC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

crate::named_values!(Policy, "a DMARC policy (none, quarantine or reject)", {
    None => "none",
    Quarantine => "quarantine",
    Reject => "reject",
});

/// Identifier alignment (`adkim`, `aspf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The organisational domains match (the default).
    Relaxed,
    /// The domains are the same.
    Strict,
}

crate::named_values!(Mode, "an alignment mode (r or s)", {
    Relaxed => "r",
    Strict => "s",
});

/// A `_dmarc` TXT record, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub p: Policy,
    /// For subdomains; `p` when absent.
    pub sp: Option<Policy>,
    /// The share of failing mail the policy applies to, 0 to 100.
    pub pct: u8,
    pub adkim: Mode,
    pub aspf: Mode,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a DMARC record: it must start with \"v=DMARC1\"")]
    NotDmarc,
    #[error(
        "the record has no valid p= (none, quarantine or reject) and no rua=: receivers ignore it"
    )]
    NoPolicy,
}

impl Record {
    /// Reads a record as receivers do (RFC 7489 §6.3, §6.6.3): `v=DMARC1`
    /// first; unknown tags and invalid optional values are ignored (their
    /// defaults apply); without a valid `p`, a record with `rua` counts as
    /// `p=none`.
    pub fn parse(txt: &str) -> Result<Record, RecordError> {
        let mut tags = txt
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()));
        match tags.next() {
            Some((k, v)) if k == "v" && v == "DMARC1" => {}
            _ => return Err(RecordError::NotDmarc),
        }
        let (mut p, mut sp, mut pct) = (None, None, 100u8);
        let (mut adkim, mut aspf) = (Mode::Relaxed, Mode::Relaxed);
        let (mut rua, mut ruf) = (Vec::new(), Vec::new());
        let uris = |v: &str| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect()
        };
        for (k, v) in tags {
            let lower = v.to_ascii_lowercase();
            match k.as_str() {
                "p" => p = lower.parse().ok(),
                "sp" => sp = lower.parse().ok(),
                "pct" => pct = v.parse::<u8>().ok().filter(|n| *n <= 100).unwrap_or(100),
                "adkim" => adkim = lower.parse().unwrap_or(Mode::Relaxed),
                "aspf" => aspf = lower.parse().unwrap_or(Mode::Relaxed),
                "rua" => rua = uris(v),
                "ruf" => ruf = uris(v),
                _ => {}
            }
        }
        let p = match p {
            Some(p) => p,
            None if !rua.is_empty() => Policy::None,
            None => return Err(RecordError::NoPolicy),
        };
        Ok(Record {
            p,
            sp,
            pct,
            adkim,
            aspf,
            rua,
            ruf,
        })
    }

    /// Where the record stands on the ramp.
    pub fn step(&self) -> Step {
        Step::at_or_below(self.p, self.pct)
    }
}

/// The organisational domain (RFC 7489 §3.2): the registrable domain by the
/// Public Suffix List, or the name itself when the list knows no suffix.
pub fn organizational_domain(domain: &str) -> String {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&d).map_or_else(|| d.clone(), str::to_string)
}

/// Whether `authenticated` (DKIM `d=`, or the SPF-checked return path
/// domain) is aligned with the From domain under `mode`.
pub fn aligned(mode: Mode, from: &str, authenticated: &str) -> bool {
    let same = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    match mode {
        Mode::Strict => same(from, authenticated),
        Mode::Relaxed => organizational_domain(from) == organizational_domain(authenticated),
    }
}

/// How a message fares under a record: DMARC passes when DKIM or SPF
/// passes aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alignment {
    pub dkim: bool,
    pub spf: bool,
}

impl Alignment {
    pub fn pass(&self) -> bool {
        self.dkim || self.spf
    }
}

/// envoi's own mail under `record`: signed with `d=` the sending domain,
/// sent with the return path at `return_path_domain` (the sending domain,
/// a return-path subdomain of it, or the global bounce domain), both
/// passing their own check.
pub fn envoi_alignment(
    record: &Record,
    from: &str,
    dkim_domain: &str,
    return_path_domain: &str,
) -> Alignment {
    Alignment {
        dkim: aligned(record.adkim, from, dkim_domain),
        spf: aligned(record.aspf, from, return_path_domain),
    }
}

/// Whether BIMI may be published: receivers show a logo only under a
/// policy that acts on all failing mail.
pub fn bimi_allowed(record: &Record) -> Result<(), String> {
    match (record.p, record.pct) {
        (Policy::Quarantine | Policy::Reject, 100) => Ok(()),
        (Policy::None, _) => {
            Err("BIMI needs p=quarantine or p=reject: with p=none receivers show no logo".into())
        }
        (p, pct) => Err(format!(
            "BIMI needs the policy at 100 %: p={p} applies to pct={pct} % only"
        )),
    }
}

/// One step of the ramp: a policy and the share it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub policy: Policy,
    pub pct: u8,
}

/// The guide's ramp, in order.
pub const RAMP: [Step; 9] = [
    Step::new(Policy::None, 100),
    Step::new(Policy::Quarantine, 5),
    Step::new(Policy::Quarantine, 25),
    Step::new(Policy::Quarantine, 50),
    Step::new(Policy::Quarantine, 100),
    Step::new(Policy::Reject, 5),
    Step::new(Policy::Reject, 25),
    Step::new(Policy::Reject, 50),
    Step::new(Policy::Reject, 100),
];

/// How long each step lasts at least (two weeks, as the guide says).
pub const STEP_DAYS: i64 = 14;
/// The share of reported mail that must pass DMARC over a whole step
/// before the next one.
pub const MIN_PASS: f64 = 0.98;

impl Step {
    pub const fn new(policy: Policy, pct: u8) -> Step {
        Step { policy, pct }
    }

    /// The last step of the ramp at or below (`p`, `pct`): a record at
    /// quarantine 10 % stands at quarantine 5 %, and goes to 25 % next.
    pub fn at_or_below(p: Policy, pct: u8) -> Step {
        let pct = if p == Policy::None { 100 } else { pct };
        RAMP.iter()
            .rev()
            .find(|s| (s.policy, s.pct) <= (p, pct))
            .copied()
            .unwrap_or(RAMP[0])
    }

    fn index(self) -> usize {
        RAMP.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The step after this one; `None` at reject 100 %.
    pub fn next(self) -> Option<Step> {
        RAMP.get(self.index() + 1).copied()
    }
}

/// `none`, `quarantine; pct=25`, `reject`: as a record says it.
impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.policy, self.pct) {
            (Policy::None, _) | (_, 100) => f.write_str(self.policy.as_str()),
            (p, pct) => write!(f, "{p}; pct={pct}"),
        }
    }
}

/// What the reports say of the mail sent as the domain since the current
/// step was published.
#[derive(Debug, Clone, Default)]
pub struct StepHistory {
    /// Days since the current step was first seen published.
    pub days_at_step: i64,
    /// Messages in the aggregate reports over those days, and how many of
    /// them passed DMARC.
    pub messages: u64,
    pub passed: u64,
    /// Sources whose mail fails DMARC, in words (address and name), worst
    /// first.
    pub failing_sources: Vec<String>,
}

/// Messages failing DMARC from one source in one report above which the
/// domain is warned: mail sent as it by someone else, or a source of its
/// own that was never aligned.
pub const SPOOFING_MIN_MESSAGES: u64 = 10;

/// Sources of a report whose failing mail calls for a warning, with how
/// many of their messages failed, most first: every source but envoi's
/// own (`is_envoi`) failing at least `SPOOFING_MIN_MESSAGES`.
pub fn spoofing_sources<Ip: Clone + Ord>(
    rows: impl IntoIterator<Item = (Ip, u64, bool)>,
    is_envoi: impl Fn(&Ip) -> bool,
) -> Vec<(Ip, u64)> {
    let mut failing: std::collections::BTreeMap<Ip, u64> = Default::default();
    for (ip, count, pass) in rows {
        if !pass && !is_envoi(&ip) {
            *failing.entry(ip).or_default() += count;
        }
    }
    let mut out: Vec<(Ip, u64)> = failing
        .into_iter()
        .filter(|(_, n)| *n >= SPOOFING_MIN_MESSAGES)
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.1));
    out
}

/// One aggregate report's period, as the history of a step needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The step the reporter saw published.
    pub step: Step,
    /// Seconds since the epoch.
    pub begin: i64,
    pub end: i64,
    pub messages: u64,
    pub passed: u64,
}

/// What the reports say of `current`: the newest reports that saw it
/// published, back to the first of that run (`newest_first`). Returns the
/// history (without sources) and when the step was first seen; a step the
/// reports have not seen yet has an empty history.
pub fn step_history(
    current: Step,
    newest_first: &[Period],
    now: i64,
) -> (StepHistory, Option<i64>) {
    let run: Vec<&Period> = newest_first
        .iter()
        .take_while(|p| p.step == current)
        .collect();
    let Some(since) = run.iter().map(|p| p.begin).min() else {
        return (StepHistory::default(), None);
    };
    let history = StepHistory {
        days_at_step: (now - since).max(0) / 86_400,
        messages: run.iter().map(|p| p.messages).sum(),
        passed: run.iter().map(|p| p.passed).sum(),
        failing_sources: Vec::new(),
    };
    (history, Some(since))
}

/// The next step of the ramp, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub current: Step,
    /// The step to publish next; the current one while it is not safe to
    /// tighten; `None` at the end of the ramp.
    pub next: Option<Step>,
    /// Days from now until `next` may be published (0: now).
    pub in_days: i64,
    pub because: String,
}

/// Where to go from `current`, given what the reports of this step say.
pub fn advise(current: Step, h: &StepHistory) -> Advice {
    let advice = |next, in_days, because| Advice {
        current,
        next,
        in_days,
        because,
    };
    let failing = match h.failing_sources.len() {
        0 => String::new(),
        n => format!(
            "; {n} source{} fail{}: {}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            h.failing_sources.join(", ")
        ),
    };
    let Some(next) = current.next() else {
        return advice(
            None,
            0,
            format!("the ramp is complete: keep reading the reports for spoofing and for sources that start failing{failing}"),
        );
    };
    if h.messages == 0 {
        return advice(
            Some(current),
            STEP_DAYS,
            "no aggregate reports for this step yet: publish rua=mailto pointing at envoi and wait for the first reports".into(),
        );
    }
    let rate = h.passed as f64 / h.messages as f64;
    let passed = format!(
        "{:.1} % of {} day{} of reported mail passed",
        (rate * 1000.0).floor() / 10.0,
        h.days_at_step,
        if h.days_at_step == 1 { "" } else { "s" }
    );
    if rate < MIN_PASS {
        return advice(
            Some(current),
            STEP_DAYS,
            format!(
                "{passed}, under the {:.0} % needed to tighten: fix the failing sources (align their DKIM d= or return path with the From domain, or stop them sending as it){failing}",
                MIN_PASS * 100.0
            ),
        );
    }
    let wait = (STEP_DAYS - h.days_at_step).max(0);
    advice(Some(next), wait, format!("{passed}{failing}"))
}

#[cfg(test)]
#[path = "dmarc_tests.rs"]
mod tests;
