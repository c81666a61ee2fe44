//! An SMTP TLS report (RFC 8460): who reports, and per policy the
//! sessions that succeeded and failed.

use serde::Deserialize;

use super::ReportError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsReport {
    pub org: String,
    pub report_id: String,
    pub policies: Vec<TlsPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    /// `sts`, `tlsa` or `no-policy-found`.
    pub kind: String,
    pub domain: String,
    pub successful: u64,
    pub failed: u64,
}

impl TlsReport {
    pub fn successful(&self) -> u64 {
        self.policies.iter().map(|p| p.successful).sum()
    }

    pub fn failed(&self) -> u64 {
        self.policies.iter().map(|p| p.failed).sum()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Json {
    organization_name: String,
    report_id: String,
    #[serde(default)]
    policies: Vec<JsonPolicy>,
}

#[derive(Deserialize)]
struct JsonPolicy {
    policy: PolicyDesc,
    summary: Summary,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PolicyDesc {
    policy_type: String,
    #[serde(default)]
    policy_domain: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Summary {
    total_successful_session_count: u64,
    total_failure_session_count: u64,
}

pub fn parse(json: &[u8]) -> Result<TlsReport, ReportError> {
    let j: Json = serde_json::from_slice(json)
        .map_err(|e| ReportError::Invalid(format!("the TLS report's JSON cannot be read: {e}")))?;
    Ok(TlsReport {
        org: j.organization_name,
        report_id: j.report_id,
        policies: j
            .policies
            .into_iter()
            .map(|p| TlsPolicy {
                kind: p.policy.policy_type,
                domain: p.policy.policy_domain.to_ascii_lowercase(),
                successful: p.summary.total_successful_session_count,
                failed: p.summary.total_failure_session_count,
            })
            .collect(),
    })
}
