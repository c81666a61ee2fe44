//! Domains: the DNS checklist (SPF, DKIM, DMARC, the return path's MX and
//! SPF, and BIMI when the domain publishes it) with what to publish and
//! copy buttons, "verify now" with what each
//! record needs, DKIM keys and rotation, and the connection settings with
//! what each one does.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::page::{api_form, csrf, domain_picker, page, when, Refusal};
use super::session::{Posted, User};
use super::Flash;
use crate::app::App;
use crate::dns_records::{DnsRecord, Role};
use crate::http::auth::Admin;
use crate::http::extract::SmallForm;
use crate::http::form::Form;
use crate::store::domains::Domain;

/// How long the page waits for the BIMI lookup.
const BIMI_LOOKUP: std::time::Duration = std::time::Duration::from_secs(2);

/// A record's short name, and what it is for.
fn purpose(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Spf => ("SPF", "envoi's host may send for the domain"),
        Role::Dkim => ("DKIM", "the public key of a signing key"),
        Role::Dmarc => ("DMARC", "the policy, starting at p=none (then the ramp)"),
        Role::ReturnPathSpf => ("Return path SPF", "so bounces' SPF aligns"),
        Role::ReturnPathMx => ("Return path MX", "bounces come back to envoi"),
    }
}

fn records_table(records: &[DnsRecord]) -> Markup {
    html! {
        table.records {
            thead { tr {
                th scope="col" { "For" } th scope="col" { "Type" } th scope="col" { "Name" } th scope="col" { "Value" }
            } }
            tbody {
                @for (i, r) in records.iter().enumerate() {
                    tr {
                        td.purpose { strong { (purpose(r.role).0) } br; span.hint { (purpose(r.role).1) } }
                        td { (r.kind()) @if r.role == Role::ReturnPathMx { " (priority 10)" } }
                        td { code { (r.name) } }
                        td {
                            code id={"rec-" (i)} { (r.value) }
                            " "
                            button type="button" data-copy={"rec-" (i)} aria-label={"Copy the value of " (r.name)} { "Copy" }
                        }
                    }
                }
            }
        }
    }
}

pub async fn get(
    State(app): State<App>,
    user: User,
    flash: Flash,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    let asked = Form::from_query(raw.as_deref())?;
    let (d, all) = super::overview::chosen(&app, &user, asked.get("domain")).await?;
    let keys = app.store.dkim_keys(d.id).await?;
    let mut records = crate::dns_records::sending(&app.config, &d.name, &keys);
    records.extend(crate::dns_records::receiving(&app.config, &d.name));
    // BIMI is the domain's own choice: shown when published. A slow DNS
    // server does not hold the page up for long.
    let bimi = tokio::time::timeout(
        BIMI_LOOKUP,
        crate::http::verify::bimi_published(&app, &d.name),
    )
    .await
    .ok()
    .flatten();
    Ok(page(
        Some(&user),
        "Domains",
        html! {
            (flash.markup())
            (domain_picker("/ui/domains", &all, &d))
            h2 { (d.name) }
            p { "State: " strong { (d.state.as_str()) } " (active once SPF and DKIM are found in DNS)." }
            h3 { "DNS records to publish" }
            (records_table(&records))
            @if let Some((record, allowed)) = &bimi {
                h3 { "BIMI" }
                p {
                    "Published at " code { "default._bimi." (d.name) } ": " code { (record) } ". "
                    @match allowed {
                        Ok(()) => { "Your DMARC policy allows receivers to show the logo." }
                        Err(why) => { "Receivers will not show the logo yet: " (why) "." }
                    }
                }
            }
            @if user.is_account() {
                form method="post" action={"/ui/domains/" (d.name) "/verify"} {
                    (csrf(&user))
                    button type="submit" { "Verify now" }
                }
            }
            h3 { "DKIM keys" }
            (dkim(&user, &d, &keys))
            h3 { "Connection settings" }
            (connection(&user, &d))
        },
    ))
}

fn dkim(user: &User, d: &Domain, keys: &[crate::store::dkim_keys::DkimKeyRow]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Selector" } th scope="col" { "Algorithm" } th scope="col" { "Signing" } th scope="col" { "Created" }
            } }
            tbody {
                @for k in keys {
                    tr {
                        td { code { (k.selector) } }
                        td { (k.algorithm) @if k.algorithm == "rsa" { " " (k.bits) } }
                        td {
                            @if k.active { "yes" } @else { "no" }
                            @if let Some(r) = &k.replaces { " (replaces " (r) " once its record is published)" }
                        }
                        td { (when(k.created_at)) }
                    }
                }
            }
        }
        p {
            "Automatic rotation: "
            @if d.dkim_rotation_enabled {
                "every " (crate::config::format_duration(std::time::Duration::from_secs(d.dkim_rotation_interval.max(0) as u64)))
            } @else { "off" }
            " (set it with " code { "PUT /v1/dkim_management/domains/" (d.name) "/rotation" } ")."
        }
        @if user.is_account() {
            form.confirm method="post" action={"/ui/domains/" (d.name) "/rotate"}
                data-confirm="Make a new DKIM key? It signs once its DNS record is published." {
                (csrf(user))
                button type="submit" { "Rotate the DKIM key now" }
            }
        }
    }
}

fn connection(user: &User, d: &Domain) -> Markup {
    html! {
        dl.facts {
            dt { "Require TLS" }
            dd {
                @if d.require_tls { "on" } @else { "off" }
                ": on, a message is delivered only over TLS; a receiver that does not offer it gets the message failed rather than sent in clear. Off, envoi still uses TLS whenever the receiver offers it."
            }
            dt { "Skip verification" }
            dd {
                @if d.skip_verification { "on" } @else { "off" }
                ": on, a receiver's certificate is not checked (name, expiry, issuer) when TLS is required; off, a certificate that does not verify fails the delivery when TLS is required."
            }
        }
        @if user.is_account() {
            form.add method="post" action={"/ui/domains/" (d.name) "/connection"} {
                (csrf(user))
                label for="require_tls" { "Require TLS" }
                select id="require_tls" name="require_tls" {
                    option value="true" selected[d.require_tls] { "on" }
                    option value="false" selected[!d.require_tls] { "off" }
                }
                label for="skip_verification" { "Skip verification" }
                select id="skip_verification" name="skip_verification" {
                    option value="true" selected[d.skip_verification] { "on" }
                    option value="false" selected[!d.skip_verification] { "off" }
                }
                button type="submit" { "Save" }
            }
        }
    }
}

/// Looks the records up now; the page says, per record, what was found and
/// what to change.
pub async fn verify(
    State(app): State<App>,
    Path(name): Path<String>,
    Posted { user, .. }: Posted,
) -> Result<Markup, Refusal> {
    let target = user.changing(&app, &name).await?;
    let answer = crate::http::verify::verify(State(app), target).await?.0;
    let rows = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
    let records: Vec<Value> = rows("sending_dns_records")
        .into_iter()
        .chain(rows("receiving_dns_records"))
        .collect();
    Ok(page(
        Some(&user),
        "DNS verification",
        html! {
            p { "Domain " strong { (name) } " is now " strong { (answer["domain"]["state"].as_str().unwrap_or("")) } "." }
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Found" } th scope="col" { "What to do" } } }
                tbody {
                    @for r in &records {
                        tr {
                            td { code { (r["name"].as_str().unwrap_or("")) } }
                            td { (r["record_type"].as_str().unwrap_or("")) }
                            td { @if r["valid"] == "valid" { "✓ as expected" } @else { "✗ " (r["cached"].as_array().map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | ")).unwrap_or_default()) } }
                            td { (r["fix"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
            h2 { "DMARC" }
            p { (summary(&answer["dmarc"])) }
            h2 { "BIMI" }
            p { (summary(&answer["bimi"])) }
            p { a href={"/ui/domains?domain=" (name)} { "Back to " (name) } }
        },
    ))
}

/// The text fields of a verification's DMARC or BIMI object, `key: value`.
fn summary(v: &Value) -> String {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some(format!("{k}: {s}")),
                    Value::Bool(b) => Some(format!("{k}: {b}")),
                    Value::Number(n) => Some(format!("{k}: {n}")),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default()
}

pub async fn rotate(
    State(app): State<App>,
    Path(name): Path<String>,
    Posted { user, .. }: Posted,
) -> Result<Response, Refusal> {
    let target = user.changing(&app, &name).await?;
    let back = format!("/ui/domains?domain={name}");
    Ok(
        match crate::http::dkim_rotation::rotate(State(app), target).await {
            Ok(_) => Flash::redirect(
                &back,
                true,
                "A new DKIM key was made: publish its record (above); it signs once verified.",
            ),
            Err(e) => Flash::redirect(&back, false, &e.to_string()),
        },
    )
}

pub async fn set_connection(
    State(app): State<App>,
    Path(name): Path<String>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    user.require_account()?;
    let pairs: Vec<(&str, &str)> = ["require_tls", "skip_verification"]
        .into_iter()
        .filter_map(|f| form.get(f).map(|v| (f, v)))
        .collect();
    let api_form = api_form(pairs)?;
    let back = format!("/ui/domains?domain={name}");
    let answer = crate::http::domains::put_connection(
        State(app),
        Admin(user.who.clone()),
        Path(name),
        SmallForm(api_form),
    )
    .await;
    Ok(Flash::answered(&back, answer, "Saved."))
}
