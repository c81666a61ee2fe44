//! Keys (account key only): list with last use, create (the secret shown
//! once, on the page that answers the form, never stored in a cookie or a
//! URL), rotate with a grace period, delete; SMTP credentials per domain
//! (create with a generated password, a new password with a grace period,
//! delete, last login); and the audit trail.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::page::{api_form, csrf, page, when, Refusal};
use super::session::{Posted, User};
use super::Flash;
use crate::app::App;
use crate::http::auth::Admin;
use crate::http::extract::SmallForm;
use crate::http::form::Form;
use crate::store::keys::{ApiKey, KeyScope};

pub async fn list(State(app): State<App>, user: User, flash: Flash) -> Result<Markup, Refusal> {
    user.require_account()?;
    let keys = app.store.api_keys(None, None).await?;
    let (mut domains, _) = app.store.domains(10_000, 0, None).await?;
    domains.sort_by(|a, b| a.name.cmp(&b.name));
    let mut credentials = Vec::new();
    for d in &domains {
        credentials.push((d.name.clone(), app.store.credentials(d.id).await?));
    }
    Ok(page(
        Some(&user),
        "Keys",
        html! {
            (flash.markup())
            table {
                thead { tr {
                    th scope="col" { "Key" } th scope="col" { "Scope" } th scope="col" { "Description" }
                    th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Rotation" }
                    th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody { @for k in &keys { (row(&user, k)) } }
            }
            h2 { "Create a key" }
            form.add method="post" action="/ui/keys" {
                (csrf(&user))
                label for="scope" { "Scope" }
                select id="scope" name="scope" {
                    @for d in &domains { option value={"domain:" (d.name)} { "Sending key of " (d.name) } }
                    option value="account" { "Account key (everything)" }
                }
                label for="description" { "Description" }
                input id="description" name="description" type="text";
                button type="submit" { "Create" }
            }
            h2 { "SMTP credentials" }
            @for (d, creds) in &credentials {
                h3 { (d) }
                @if creds.is_empty() { p { "None." } }
                @else {
                    table {
                        thead { tr {
                            th scope="col" { "Login" } th scope="col" { "Created" } th scope="col" { "Last login" }
                            th scope="col" { "Password change" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        } }
                        tbody {
                            @for c in creds {
                                tr {
                                    td { code { (c.login) } }
                                    td { (when(c.created_at)) }
                                    td { @match c.last_used_at { Some(t) => { (when(t)) } None => { "never" } } }
                                    td {
                                        @if let Some(u) = c.previous_valid_until.filter(|u| *u > crate::store::now_micros()) {
                                            "old password works until " (when(u)) br;
                                        }
                                        form.inline method="post" action={"/ui/credentials/" (d) "/password"} {
                                            (csrf(&user))
                                            input type="hidden" name="login" value=(c.login);
                                            (grace_select(&format!("grace-{}", c.login)))
                                            button type="submit" { "New password" }
                                        }
                                    }
                                    td {
                                        form.inline.confirm method="post" action={"/ui/credentials/" (d) "/delete"}
                                            data-confirm={"Delete " (c.login) "? Its sender can no longer log in."} {
                                            (csrf(&user))
                                            input type="hidden" name="login" value=(c.login);
                                            button.danger type="submit" { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.add method="post" action={"/ui/credentials/" (d)} {
                    (csrf(&user))
                    label for={"login-" (d)} { "New login" }
                    input id={"login-" (d)} name="login" type="text" required placeholder="app";
                    span.hint { "@" (d) ", with a generated password shown once" }
                    button type="submit" { "Create" }
                }
            }
            p { a href="/ui/audit" { "The audit trail of key and credential changes" } }
        },
    ))
}

fn row(user: &User, k: &ApiKey) -> Markup {
    html! {
        tr {
            td { code { (k.id) } @if k.id == user.key.id { " (this session)" } }
            td {
                @match &k.scope {
                    KeyScope::Account => { "account" }
                    KeyScope::Sending { domain } => { "sending, " (domain) }
                }
            }
            td { (k.description) }
            td { (when(k.created_at)) }
            td { @match k.last_used_at { Some(t) => { (when(t)) } None => { "never" } } }
            td {
                @if let Some(t) = k.rotated_at { "rotated " (when(t)) }
                @if let Some(u) = k.previous_valid_until.filter(|u| *u > crate::store::now_micros()) {
                    br; "old secret works until " (when(u))
                }
            }
            td {
                form.inline method="post" action={"/ui/keys/" (k.id) "/rotate"} {
                    (csrf(user))
                    (grace_select(&format!("grace-{}", k.id)))
                    button type="submit" { "Rotate" }
                }
                @if k.id != crate::api_keys::ADMIN_KEY_ID {
                    form.inline.confirm method="post" action={"/ui/keys/" (k.id) "/delete"} data-confirm={"Delete key " (k.id) "? Whoever uses it is locked out at once."} {
                        (csrf(user))
                        button.danger type="submit" { "Delete" }
                    }
                }
            }
        }
    }
}

/// The page that shows a new secret, once.
fn secret_page(user: &User, title: &str, id: &str, secret: &str, note: &str) -> Markup {
    page(
        Some(user),
        title,
        html! {
            p.notice.ok role="status" { (note) }
            p { "The secret of " code { (id) } ". It is shown this once: envoi keeps only its hash." }
            p.secret {
                output id="secret" { (secret) }
                " "
                button type="button" data-copy="secret" { "Copy" }
            }
            p { a href="/ui/keys" { "Back to the keys" } }
        },
    )
}

pub async fn create(
    State(app): State<App>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    user.require_account()?;
    let mut pairs: Vec<(&str, &str)> = match form.get("scope").unwrap_or("") {
        "account" => vec![("role", "admin"), ("kind", "user")],
        s => match s.strip_prefix("domain:") {
            Some(d) => vec![("role", "sending"), ("kind", "domain"), ("domain_name", d)],
            None => return Err(Refusal::BadRequest("Choose what the key may do.".into())),
        },
    };
    if let Some(d) = form.get("description") {
        pairs.push(("description", d));
    }
    let api_form = api_form(pairs)?;
    let answer =
        crate::http::keys::create(State(app), Admin(user.who.clone()), SmallForm(api_form)).await;
    match answer {
        Ok(j) => {
            let id = j.0["id"].as_str().unwrap_or_default();
            let secret = j.0["secret"].as_str().unwrap_or_default();
            Ok(
                secret_page(&user, "Key created", id, secret, "The key was created.")
                    .into_response(),
            )
        }
        Err(e) => Ok(Flash::redirect("/ui/keys", false, &e.to_string())),
    }
}

pub async fn rotate(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    user.require_account()?;
    let grace = form.get("grace").unwrap_or("24h");
    let api_form = api_form([("grace", grace)])?;
    let answer = crate::http::keys::rotate(
        State(app),
        Admin(user.who.clone()),
        Path(id.clone()),
        SmallForm(api_form),
    )
    .await;
    match answer {
        Ok(j) => {
            let secret = j.0["secret"].as_str().unwrap_or_default();
            let note = format!("Key {id} was rotated; the old secret works for {grace} more.");
            Ok(secret_page(&user, "Key rotated", &id, secret, &note).into_response())
        }
        Err(e) => Ok(Flash::redirect("/ui/keys", false, &e.to_string())),
    }
}

pub async fn delete(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted { user, .. }: Posted,
) -> Result<Response, Refusal> {
    user.require_account()?;
    let answer =
        crate::http::keys::remove(State(app), Admin(user.who.clone()), Path(id.clone())).await;
    Ok(match answer {
        Ok(_) => Flash::redirect("/ui/keys", true, &format!("Key {id} was deleted.")),
        Err(e) => Flash::redirect("/ui/keys", false, &e.to_string()),
    })
}

pub async fn audit(
    State(app): State<App>,
    user: User,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    user.require_account()?;
    let asked = Form::from_query(raw.as_deref())?;
    let before = asked.get("before").and_then(|b| b.parse().ok());
    let events = app.store.audit_events(100, before).await?;
    Ok(page(
        Some(&user),
        "Audit trail",
        html! {
            p { "Every change to keys, credentials and DKIM keys: who made it (the key id) and when." }
            table {
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" }
                    th scope="col" { "Target" } th scope="col" { "Domain" } th scope="col" { "Detail" }
                } }
                tbody {
                    @for e in &events {
                        tr {
                            td { (when(e.at)) } td { code { (e.actor) } } td { (e.action) }
                            td { code { (e.target) } } td { (e.domain.as_deref().unwrap_or("")) } td { (e.detail) }
                        }
                    }
                }
            }
            @if let Some(last) = events.last().filter(|_| events.len() == 100) {
                p { a href={"/ui/audit?before=" (last.id)} { "Older" } }
            }
        },
    ))
}

/// How long an old secret keeps working, for a rotation or a new password.
fn grace_select(id: &str) -> Markup {
    html! {
        label for=(id) { "grace" }
        select id=(id) name="grace" {
            option value="0s" { "none" }
            option value="1h" { "1 hour" }
            option value="24h" selected { "24 hours" }
            option value="7d" { "7 days" }
        }
    }
}

/// A new login with a generated password, shown once.
pub async fn create_credential(
    State(app): State<App>,
    Path(name): Path<String>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    let target = user.changing(&app, &name).await?;
    let login = form.get("login").unwrap_or("").to_string();
    let api_form = api_form([("login", login.as_str())])?;
    match crate::http::credentials::create(State(app), target, SmallForm(api_form)).await {
        Ok(j) => {
            let (full, password) = j.0["credentials"]
                .as_object()
                .and_then(|m| m.iter().next())
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .unwrap_or_default();
            let note = format!("SMTP credentials {full} were created.");
            Ok(secret_page(&user, "Credentials created", &full, &password, &note).into_response())
        }
        Err(e) => Ok(Flash::redirect("/ui/keys", false, &e.to_string())),
    }
}

pub async fn delete_credential(
    State(app): State<App>,
    Path(name): Path<String>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    let target = user.changing(&app, &name).await?;
    let login = form.get("login").unwrap_or("").to_string();
    let answer =
        crate::http::credentials::remove(State(app), target, Path((name, login.clone()))).await;
    Ok(match answer {
        Ok(_) => Flash::redirect("/ui/keys", true, &format!("{login} was deleted.")),
        Err(e) => Flash::redirect("/ui/keys", false, &e.to_string()),
    })
}

/// A credential's new generated password, shown once; the old one works
/// for the grace chosen, as `PUT /v3/domains/{domain}/credentials/{login}`.
pub async fn change_password(
    State(app): State<App>,
    Path(name): Path<String>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    let target = user.changing(&app, &name).await?;
    let login = form.get("login").unwrap_or("").to_string();
    let grace = form.get("grace").unwrap_or("24h");
    let password = crate::crypto::random_hex(12);
    let api_form = api_form([("password", password.as_str()), ("grace", grace)])?;
    let path = Path((name, login.clone()));
    match crate::http::credentials::change_password(State(app), target, path, SmallForm(api_form))
        .await
    {
        Ok(_) => {
            let note = format!("{login} has a new password; the old one works for {grace} more.");
            Ok(secret_page(&user, "Password changed", &login, &password, &note).into_response())
        }
        Err(e) => Ok(Flash::redirect("/ui/keys", false, &e.to_string())),
    }
}
