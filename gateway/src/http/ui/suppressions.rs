//! Suppressions: bounces, unsubscribes (with tags) and complaints of a
//! domain; search, add, remove, CSV import and export. Changes go through
//! the API's handlers, so they are checked and answered as the API does.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use policy::suppression::List;

use super::page::{csrf, domain_select, page, when, Refusal};
use super::session::{Posted, User};
use super::Flash;
use crate::app::App;
use crate::http::extract::AdminDomain;
use crate::http::form::Form;
use crate::store::suppressions::{Page, Suppressed};

const LISTS: [(List, &str, &str); 3] = [
    (List::Bounce, "bounces", "Bounces"),
    (List::Unsubscribe, "unsubscribes", "Unsubscribes"),
    (List::Complaint, "complaints", "Complaints"),
];

fn list_named(name: &str) -> Result<(List, &'static str, &'static str), Refusal> {
    LISTS
        .into_iter()
        .find(|(_, n, _)| *n == name)
        .ok_or_else(|| {
            Refusal::BadRequest(format!(
                "{name:?} is not a list: use bounces, unsubscribes or complaints"
            ))
        })
}

/// The CSV columns of each list (Mailgun's import files have these).
fn columns(list: List) -> &'static [&'static str] {
    match list {
        List::Bounce => &["address", "code", "error", "created_at"],
        List::Unsubscribe => &["address", "tags", "created_at"],
        List::Complaint => &["address", "created_at"],
    }
}

fn back(domain: &str, table: &str) -> String {
    format!("/ui/suppressions?domain={domain}&list={table}")
}

pub async fn list(
    State(app): State<App>,
    user: User,
    flash: Flash,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    let asked = Form::from_query(raw.as_deref())?;
    let (d, all) = super::overview::chosen(&app, &user, asked.get("domain")).await?;
    let (list, table, title) = list_named(asked.get("list").unwrap_or("bounces"))?;
    let term = asked.get("term").unwrap_or("");
    let after = asked.get("after").unwrap_or("");
    let page_of = if after.is_empty() {
        Page::First
    } else {
        Page::Next(after)
    };
    let items = app
        .store
        .suppressions(d.id, list, page_of, term, 100)
        .await?;
    let account = user.is_account();
    Ok(page(
        Some(&user),
        "Suppressions",
        html! {
            (flash.markup())
            nav.tabs aria-label="Lists" {
                @for (_, t, label) in LISTS {
                    a href=(back(&d.name, t)) aria-current=[(t == table).then_some("page")] { (label) }
                }
            }
            form.search method="get" action="/ui/suppressions" {
                (domain_select(&all, &d))
                input type="hidden" name="list" value=(table);
                label for="term" { "Address starts with" }
                input id="term" name="term" type="search" value=(term);
                button type="submit" { "Search" }
                a href={"/ui/suppressions/export?domain=" (d.name) "&list=" (table)} download { "Export CSV" }
            }
            h2 { (title) " of " (d.name) }
            @if items.is_empty() { p { "No address in this list" @if !term.is_empty() { " starting with " (term) } "." } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { "Address" }
                        @if list == List::Bounce { th scope="col" { "Code" } th scope="col" { "Error" } }
                        @if list == List::Unsubscribe { th scope="col" { "Tags" } }
                        th scope="col" { "Since" }
                        @if account { th scope="col" { span.visually-hidden { "Actions" } } }
                    } }
                    tbody {
                        @for s in &items { (row(&user, &d.name, list, table, s)) }
                    }
                }
                @if items.len() == 100 {
                    @let last = &items[items.len() - 1].address;
                    p { a href={(back(&d.name, table)) "&term=" (term) "&after=" (last)} { "Next page" } }
                }
            }
            @if account {
                h2 { "Add an address" }
                form.add method="post" action="/ui/suppressions/add" {
                    (csrf(&user))
                    input type="hidden" name="domain" value=(d.name);
                    input type="hidden" name="list" value=(table);
                    label for="address" { "Address" }
                    input id="address" name="address" type="email" required;
                    @if list == List::Bounce {
                        label for="code" { "SMTP code" }
                        input id="code" name="code" type="text" inputmode="numeric" value="550";
                        label for="error" { "Error" }
                        input id="error" name="error" type="text";
                    }
                    @if list == List::Unsubscribe {
                        label for="tag" { "Tag (empty: every message)" }
                        input id="tag" name="tag" type="text";
                    }
                    button type="submit" { "Add to " (table) }
                }
                h2 { "Import a CSV file" }
                form.import method="post" action="/ui/suppressions/import" enctype="multipart/form-data" {
                    (csrf(&user))
                    input type="hidden" name="domain" value=(d.name);
                    input type="hidden" name="list" value=(table);
                    label for="file" { "CSV with a header line: " (columns(list).join(", ")) }
                    input id="file" name="file" type="file" accept=".csv,text/csv" required;
                    button type="submit" { "Import" }
                }
            }
        },
    ))
}

fn row(user: &User, domain: &str, list: List, table: &str, s: &Suppressed) -> Markup {
    html! {
        tr {
            td { (s.address) }
            @if list == List::Bounce { td { (s.code) } td { (s.error) } }
            @if list == List::Unsubscribe { td { (s.tags.join(", ")) } }
            td { (when(s.created_at)) }
            @if user.is_account() {
                td {
                    form.inline method="post" action="/ui/suppressions/remove" {
                        (csrf(user))
                        input type="hidden" name="domain" value=(domain);
                        input type="hidden" name="list" value=(table);
                        input type="hidden" name="address" value=(s.address);
                        button type="submit" aria-label={"Remove " (s.address)} { "Remove" }
                    }
                }
            }
        }
    }
}

/// The domain, list and account check every change starts with.
async fn target(
    app: &App,
    user: &User,
    form: &Form,
) -> Result<(AdminDomain, &'static str), Refusal> {
    let target = user.changing(app, form.get("domain").unwrap_or("")).await?;
    let (_, table, _) = list_named(form.get("list").unwrap_or(""))?;
    Ok((target, table))
}

fn body_of(pairs: &[(&str, &str)], kind: &'static str) -> (HeaderMap, String) {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    (h, body)
}

pub async fn add(
    State(app): State<App>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    let (target, table) = target(&app, &user, &form).await?;
    let name = target.domain.name.clone();
    let mut pairs = vec![("address", form.get("address").unwrap_or(""))];
    for f in ["code", "error", "tag"] {
        if let Some(v) = form.get(f).filter(|v| !v.is_empty()) {
            pairs.push((f, v));
        }
    }
    let (headers, body) = body_of(&pairs, "application/x-www-form-urlencoded");
    let answer = crate::http::suppressions::add(
        State(app),
        headers,
        target,
        Path((name.clone(), table.to_string())),
        RawQuery(None),
        Body::from(body),
    )
    .await;
    Ok(Flash::answered(&back(&name, table), answer, "Done."))
}

pub async fn remove(
    State(app): State<App>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    let (target, table) = target(&app, &user, &form).await?;
    let name = target.domain.name.clone();
    let address = form.get("address").unwrap_or("").to_string();
    let answer = crate::http::suppressions::remove(
        State(app),
        target,
        Path((name.clone(), table.to_string(), address)),
    )
    .await;
    Ok(Flash::answered(&back(&name, table), answer, "Done."))
}

/// What the import form may carry: the API's 25 MB file, and the form.
const IMPORT_FORM: usize = crate::http::suppressions_import::IMPORT_BODY + (64 << 10);

/// A CSV file into a list, as `POST /v3/{domain}/{table}/import` takes it:
/// every line checked before any is written.
pub async fn import(
    State(app): State<App>,
    Posted { user, form }: Posted<IMPORT_FORM>,
) -> Result<Response, Refusal> {
    let (target, table) = target(&app, &user, &form).await?;
    let name = target.domain.name.clone();
    let to = back(&name, table);
    let Some(file) = form.files("file").next() else {
        return Ok(Flash::redirect(&to, false, "Choose a CSV file to import."));
    };
    let list = crate::http::suppressions::list_of(&name, table)?;
    let imported = match crate::http::suppressions_import::parse_csv(list, &file.data) {
        Ok(items) => crate::http::suppressions_import::store(&app, target.domain.id, list, &items)
            .await
            .map(|()| items.len()),
        Err(e) => Err(e),
    };
    Ok(match imported {
        Ok(n) => Flash::redirect(
            &to,
            true,
            &format!("{n} address(es) imported into {table}."),
        ),
        Err(e) => Flash::redirect(&to, false, &format!("Nothing was imported: {e}.")),
    })
}

pub async fn export(
    State(app): State<App>,
    user: User,
    RawQuery(raw): RawQuery,
) -> Result<Response, Refusal> {
    let asked = Form::from_query(raw.as_deref())?;
    let name = asked.get("domain").unwrap_or("");
    user.may_see(name)?;
    let d = crate::http::domains::find(&app, name).await?;
    let (list, table, _) = list_named(asked.get("list").unwrap_or("bounces"))?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let cols = columns(list);
    let csv_err = |e: csv::Error| {
        tracing::error!(error = %e, "CSV export");
        Refusal::Internal
    };
    w.write_record(cols).map_err(csv_err)?;
    let mut after: Option<String> = None;
    loop {
        let p = after.as_deref().map_or(Page::First, Page::Next);
        let items = app.store.suppressions(d.id, list, p, "", 1000).await?;
        for s in &items {
            let created = crate::time::rfc2822(s.created_at);
            let tags = s.tags.join(";");
            let rec: Vec<&str> = cols
                .iter()
                .map(|c| match *c {
                    "address" => s.address.as_str(),
                    "code" => s.code.as_str(),
                    "error" => s.error.as_str(),
                    "tags" => tags.as_str(),
                    _ => created.as_str(),
                })
                .collect();
            w.write_record(rec).map_err(csv_err)?;
        }
        match items.last() {
            Some(last) if items.len() == 1000 => after = Some(last.address.clone()),
            _ => break,
        }
    }
    let bytes = w.into_inner().map_err(|e| csv_err(e.into_error().into()))?;
    let disposition = format!("attachment; filename=\"{}-{table}.csv\"", d.name);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
