//! The stored template a send names, for HTTP (`template`, `t:version`,
//! `t:variables`) and SMTP (`X-Mailgun-Template-Name`, `-Version`,
//! `-Variables`) alike.

use serde_json::{Map, Value};

use crate::compose::template::TemplateUse;
use crate::store::domains::Domain;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name:?} not found for {domain}: create it with POST /v3/{domain}/templates, or check the name")]
    NotFound { name: String, domain: String },
    #[error("template {name:?} has no version tagged {tag:?}: list them with GET /v3/{domain}/templates/{name}/versions")]
    NoSuchVersion {
        name: String,
        tag: String,
        domain: String,
    },
    #[error("template {name:?} has no version yet: add one with POST /v3/{domain}/templates/{name}/versions")]
    NoVersion { name: String, domain: String },
    #[error("{field} is not a JSON object: {text:?}. Send e.g. {{\"name\": \"Ann\"}}")]
    Variables { field: &'static str, text: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a send asks of a template.
pub struct Choice<'a> {
    pub name: &'a str,
    /// The version's tag; the active version when `None`.
    pub tag: Option<&'a str>,
    /// `t:variables` / `X-Mailgun-Template-Variables`, and its field name.
    pub variables: Option<(&'static str, &'a str)>,
    pub text: bool,
}

/// The template to render: `v:` variables (`user_variables`) with the
/// template variables over them, as Mailgun merges them.
pub async fn resolve(
    store: &Store,
    d: &Domain,
    choice: &Choice<'_>,
    user_variables: &Map<String, Value>,
) -> Result<TemplateUse, TemplateError> {
    let t = store
        .template(d.id, &choice.name.to_lowercase())
        .await?
        .ok_or_else(|| TemplateError::NotFound {
            name: choice.name.to_string(),
            domain: d.name.clone(),
        })?;
    let tag = choice.tag.map(str::to_lowercase);
    let v = store
        .template_version(t.id, tag.as_deref())
        .await?
        .ok_or_else(|| match &tag {
            Some(tag) => TemplateError::NoSuchVersion {
                name: t.name.clone(),
                tag: tag.clone(),
                domain: d.name.clone(),
            },
            None => TemplateError::NoVersion {
                name: t.name.clone(),
                domain: d.name.clone(),
            },
        })?;
    let mut variables = user_variables.clone();
    if let Some((field, text)) = choice.variables {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => variables.extend(m),
            _ => {
                return Err(TemplateError::Variables {
                    field,
                    text: text.to_string(),
                })
            }
        }
    }
    Ok(TemplateUse {
        name: t.name,
        tag: v.tag,
        source: v.body,
        text: choice.text,
        headers: v.headers,
        variables,
    })
}
