//! `PUT /v4/domains/{name}/verify`: each record looked up and checked, the
//! domain made active when SPF and DKIM hold, the return-path MX recorded,
//! the DMARC record read and BIMI checked.

use std::net::IpAddr;

use axum::extract::State;
use axum::Json;
use policy::dmarc::Record;
use serde_json::{json, Value};

use super::domains::{domain_json, find, record};
use super::error::ApiResult;
use super::extract::AdminDomain;
use crate::app::App;
use crate::dns_records::{DnsRecord, Role};

/// Whether what DNS holds does the record's job, else what to change: an
/// SPF record that authorises envoi's host (`a:{host}`, or an `ip4:`/`ip6:`
/// holding one of its addresses; an `include:` is not followed here and is
/// taken on trust), a DMARC record receivers can read, a DKIM key exactly as
/// envoi signs with it, an MX at envoi's host.
fn check(r: &DnsRecord, found: &[String], host: &str, envoi: &[IpAddr]) -> Result<(), String> {
    let publish = || format!("publish {} \"{}\" at {}", r.kind(), r.value, r.name);
    match r.role {
        Role::Spf | Role::ReturnPathSpf => {
            let spf: Vec<&String> = found
                .iter()
                .filter(|v| v.trim_start().starts_with("v=spf1"))
                .collect();
            match spf.as_slice() {
                [] => Err(publish()),
                [one] if spf_authorises(one, host, envoi) => Ok(()),
                [_] => Err(format!(
                    "the SPF record at {} does not authorise envoi ({host}): add a:{host} before its all mechanism",
                    r.name
                )),
                _ => Err(format!(
                    "{} SPF records at {}: receivers treat that as an error (permerror); merge them into one",
                    spf.len(),
                    r.name
                )),
            }
        }
        Role::ReturnPathMx => match found.iter().any(|h| h.eq_ignore_ascii_case(&r.value)) {
            true => Ok(()),
            false => Err(format!("publish MX 10 {} at {}", r.value, r.name)),
        },
        Role::Dmarc => match found
            .iter()
            .find(|v| v.trim_start().starts_with("v=DMARC1"))
        {
            None => Err(publish()),
            Some(v) => Record::parse(v)
                .map(drop)
                .map_err(|e| format!("{e}; {}", publish())),
        },
        Role::Dkim => match found
            .iter()
            .any(|v| crate::dns_check::same_txt(v, &r.value))
        {
            true => Ok(()),
            false if found.is_empty() => Err(publish()),
            false => Err(format!(
                "the TXT at {} is not this key: replace it with \"{}\"",
                r.name, r.value
            )),
        },
    }
}

/// Whether an SPF record lets envoi send: `a:{host}`, an address or network
/// of envoi's, or an include (not followed).
fn spf_authorises(spf: &str, host: &str, envoi: &[IpAddr]) -> bool {
    spf.split_whitespace().any(|term| {
        let term = term.trim_start_matches('+').to_ascii_lowercase();
        if term.starts_with("include:") || term == format!("a:{host}") {
            return true;
        }
        let Some(net) = term
            .strip_prefix("ip4:")
            .or_else(|| term.strip_prefix("ip6:"))
        else {
            return false;
        };
        match net.parse::<ipnet::IpNet>() {
            Ok(n) => envoi.iter().any(|ip| n.contains(ip)),
            Err(_) => net.parse::<IpAddr>().is_ok_and(|a| envoi.contains(&a)),
        }
    })
}

/// The domain's DMARC record read: its tags, and whether envoi's mail
/// (DKIM `d=` the domain, return path `return_path_domain`) passes under
/// it; and the record itself when it reads (for BIMI).
fn dmarc_json(found: &[String], domain: &str, return_path_domain: &str) -> (Value, Option<Record>) {
    let Some(text) = found
        .iter()
        .find(|v| v.trim_start().starts_with("v=DMARC1"))
    else {
        let missing = json!({
            "record": null,
            "error": format!("no DMARC record at _dmarc.{domain}: publish the one in sending_dns_records to start (p=none)"),
        });
        return (missing, None);
    };
    match Record::parse(text) {
        Err(e) => (json!({ "record": text, "error": e.to_string() }), None),
        Ok(r) => {
            let a = policy::dmarc::envoi_alignment(&r, domain, domain, return_path_domain);
            let read = json!({
                "record": text,
                "p": r.p.as_str(),
                "sp": r.sp.map(|p| p.as_str()),
                "pct": r.pct,
                "adkim": r.adkim.as_str(),
                "aspf": r.aspf.as_str(),
                "rua": r.rua,
                "ruf": r.ruf,
                "ramp_step": r.step().to_string(),
                "envoi_mail": {
                    "dkim_aligned": a.dkim,
                    "spf_aligned": a.spf,
                    "passes": a.pass(),
                },
            });
            (read, Some(r))
        }
    }
}

/// BIMI at `default._bimi`: published, and allowed by the DMARC policy.
async fn bimi_json(app: &App, domain: &str, dmarc: Option<&Record>) -> Value {
    let name = format!("default._bimi.{domain}");
    let found = crate::dns_check::txt(&app.config.delivery, &name)
        .await
        .unwrap_or_default();
    let record = found.iter().find(|v| v.trim_start().starts_with("v=BIMI1"));
    let allowed = bimi_allowed_by(dmarc);
    json!({
        "name": name,
        "record": record,
        "allowed": allowed.is_ok(),
        "why": allowed.err(),
    })
}

fn bimi_allowed_by(dmarc: Option<&Record>) -> Result<(), String> {
    match dmarc {
        Some(r) => policy::dmarc::bimi_allowed(r),
        None => Err("BIMI needs a DMARC record at quarantine or reject".into()),
    }
}

/// The BIMI record `domain` publishes, if any, and whether its DMARC
/// policy lets receivers show the logo (or why not): the dashboard's
/// checklist shows BIMI when present.
pub async fn bimi_published(app: &App, domain: &str) -> Option<(String, Result<(), String>)> {
    let found = crate::dns_check::txt(&app.config.delivery, &format!("default._bimi.{domain}"))
        .await
        .ok()?;
    let record = found
        .into_iter()
        .find(|v| v.trim_start().starts_with("v=BIMI1"))?;
    let dmarc = crate::dns_check::txt(&app.config.delivery, &format!("_dmarc.{domain}"))
        .await
        .unwrap_or_default();
    let parsed = dmarc
        .iter()
        .find(|v| v.trim_start().starts_with("v=DMARC1"))
        .and_then(|t| Record::parse(t).ok());
    Some((record, bimi_allowed_by(parsed.as_ref())))
}

/// `PUT /v4/domains/{name}/verify`: looks up SPF, DKIM and DMARC, marks each
/// record `valid`/`invalid` with what DNS holds (`cached`) and what to
/// change (`fix`), and makes the
/// domain `active` when SPF and DKIM hold (DMARC is advised, not required).
/// DMARC is read (`dmarc`: its tags, and whether envoi's mail passes under
/// it), and BIMI checked (`bimi`).
#[utoipa::path(
    put,
    path = "/v4/domains/{domain}/verify",
    operation_id = "verify_verify",
    tag = "domains",
    summary = "Look up the domain's DNS records now; the domain is active when SPF and DKIM are published (each record says valid or invalid, with the fix).",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::DomainWithRecords),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn verify(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let keys = app.store.dkim_keys(d.id).await?;
    let wanted = crate::dns_records::sending(&app.config, &d.name, &keys);
    let receiving = crate::dns_records::receiving(&app.config, &d.name);
    let (mut spf_ok, mut dkim_ok, mut return_path_ok) = (false, true, false);
    let (mut records, mut receiving_records) = (Vec::new(), Vec::new());
    let mut dmarc_found = Vec::new();
    let host = app.config.delivery.helo();
    let envoi = crate::dns_check::envoi_addresses(&app.config.delivery).await;
    for r in wanted.iter().chain(&receiving) {
        let dns = &app.config.delivery;
        let looked_up = match r.role {
            Role::ReturnPathMx => crate::dns_check::mx(dns, &r.name).await,
            _ => crate::dns_check::txt(dns, &r.name).await,
        };
        let (found, verdict) = match looked_up {
            Ok(found) => {
                let verdict = check(r, &found, &host, &envoi);
                (found, verdict)
            }
            Err(e) => {
                tracing::warn!(record = %r.name, error = %e, "DNS lookup failed during verification");
                (Vec::new(), Err(format!("{e}: try again shortly")))
            }
        };
        let ok = verdict.is_ok();
        match r.role {
            Role::Spf => spf_ok = ok,
            Role::Dkim => dkim_ok &= ok,
            Role::Dmarc => dmarc_found = found.clone(),
            Role::ReturnPathSpf => {}
            Role::ReturnPathMx => return_path_ok = ok,
        }
        let mut rec = record(r.kind(), &r.name, &r.value);
        rec["valid"] = json!(if ok { "valid" } else { "invalid" });
        // What to change, when something is to be.
        rec["fix"] = json!(verdict.err());
        rec["cached"] = json!(found);
        if r.role == Role::ReturnPathMx {
            rec["priority"] = json!("10");
            receiving_records.push(rec);
        } else {
            records.push(rec);
        }
    }
    if return_path_ok != d.return_path_mx {
        app.store.set_return_path_mx(d.id, return_path_ok).await?;
    }
    let state = if spf_ok && dkim_ok {
        "active"
    } else {
        "unverified"
    };
    app.store.set_domain_state(d.id, state).await?;
    tracing::info!(domain = %d.name, spf = spf_ok, dkim = dkim_ok, return_path = return_path_ok, state, "domain DNS verified");
    // The return path envoi uses for this domain's mail from now (`prepare`).
    let return_path_domain = if return_path_ok {
        crate::net::verp::host_of(&d.name)
    } else {
        app.config
            .inbound
            .bounce_domain
            .clone()
            .unwrap_or_else(|| d.name.clone())
    };
    let (dmarc, parsed) = dmarc_json(&dmarc_found, &d.name, &return_path_domain);
    let bimi = bimi_json(&app, &d.name, parsed.as_ref()).await;
    let d = find(&app, &d.name).await?;
    Ok(Json(json!({
        "message": "Domain DNS records have been updated",
        "domain": domain_json(&d),
        "sending_dns_records": records,
        "receiving_dns_records": receiving_records,
        "return_path": format!("b-…@{return_path_domain}"),
        "dmarc": dmarc,
        "bimi": bimi,
    })))
}
