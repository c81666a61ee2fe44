//! `POST /v3/{domain}/{table}/import`: a CSV file of addresses into a
//! suppression list, as Mailgun takes it (multipart `file`, at most 25 MB,
//! answered 202). envoi checks every line first, so a bad file adds
//! nothing, then writes the list before answering: a 202 means stored.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use policy::suppression::List;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::AdminDomain;
use super::read_body;
use super::suppressions::{list_of, new_item, table};
use crate::app::App;
use crate::store::suppressions::NewSuppression;

/// Mailgun's limit on an import file (the form around it is a little more).
pub const IMPORT_BODY: usize = 25 << 20;
/// Addresses per transaction: a big file does not hold the store's writer
/// for long at once (it is checked whole before the first is written).
const CHUNK: usize = 1000;

/// A CSV file with a header line (`address`, and `code`, `error`,
/// `created_at` for bounces, `tags` for unsubscribes, split on `;` or `,`)
/// as the list's entries; the first bad line is named.
pub fn parse_csv(list: List, data: &[u8]) -> ApiResult<Vec<NewSuppression>> {
    let bad = |text: String| ApiError::BadRequest(text);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| bad(format!("the file is not CSV: {e}")))?
        .iter()
        .map(str::to_ascii_lowercase)
        .collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let Some(address) = column("address") else {
        return Err(bad(
            "the CSV file needs a header line with an address column (and code, error, created_at or tags if wanted)".into(),
        ));
    };
    let (code, error, created_at, tags) = (
        column("code"),
        column("error"),
        column("created_at"),
        column("tags"),
    );
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| bad(format!("line {line} of the CSV file: {e}")))?;
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let addr = get(Some(address))
            .ok_or_else(|| bad(format!("line {line} of the CSV file has no address")))?;
        let tags = get(tags)
            .map(|t| {
                t.split([';', ','])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let item = new_item(list, &addr, get(code), get(error), tags, get(created_at))
            .map_err(|e| bad(format!("line {line} of the CSV file: {e}")))?;
        out.push(item);
    }
    Ok(out)
}

/// Adds `items` to `list`, a chunk per transaction.
pub async fn store(
    app: &App,
    domain_id: i64,
    list: List,
    items: &[NewSuppression],
) -> ApiResult<()> {
    for chunk in items.chunks(CHUNK) {
        app.store.add_suppressions(domain_id, list, chunk).await?;
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v3/{domain}/{table}/import",
    operation_id = "suppressions_import",
    tag = "suppressions",
    summary = "Import a CSV file (multipart `file`, at most 25 MB) into a suppression list.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("table" = String, Path, description = "bounces, unsubscribes or complaints."),
    ),
    responses(
        (status = 202, description = "Imported", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn import(
    State(app): State<App>,
    headers: HeaderMap,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, t)): Path<(String, String)>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let list = list_of(&d.name, &t)?;
    let bytes = read_body(&headers, body, IMPORT_BODY + (64 << 10))
        .await
        .map_err(|e| match e {
            ApiError::TooLarge(_) => ApiError::TooLarge(
                "the CSV file is larger than 25 MB: split it and import each part".into(),
            ),
            other => other,
        })?;
    let form = super::form::parse_form(&headers, bytes, None).await?;
    let file = form.files("file").next().ok_or_else(|| {
        ApiError::BadRequest(
            "file parameter is missing: send the CSV file as the multipart part `file`".into(),
        )
    })?;
    let items = parse_csv(list, &file.data)?;
    store(&app, d.id, list, &items).await?;
    tracing::info!(domain = %d.name, list = list.as_str(), n = items.len(), "suppressions imported");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "message": "file uploaded successfully for processing. standby...",
            // envoi's own: the import is done when this is answered.
            "imported": items.len(),
            "table": table(list),
        })),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_entries_with_their_tags() {
        let items = parse_csv(
            List::Unsubscribe,
            b"address,tags\nA@x.test,promo;news\nb@x.test,\n",
        )
        .unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].address, "a@x.test");
        assert_eq!(items[0].tags, ["promo", "news"]);
        assert_eq!(items[1].tags, ["*"], "no tag: unsubscribed from everything");
    }

    #[test]
    fn a_bad_csv_is_refused_with_its_line() {
        let err = |data: &[u8]| parse_csv(List::Bounce, data).unwrap_err().to_string();
        assert!(err(b"code\n550\n").contains("address column"));
        assert!(err(b"address,code\n,550\n").contains("line 2"));
        assert!(err(b"address\nok@x.test\nnot-an-address\n").contains("line 3"));
    }
}
