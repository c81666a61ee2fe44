//! Mailgun's templates: a domain's named templates and their versions.

use sqlx::Row;

use super::{now_micros, Result, Store, StoreError};

/// Templates per domain and versions per template, as Mailgun.
pub const MAX_TEMPLATES: i64 = 100;
pub const MAX_VERSIONS: i64 = 40;

#[derive(Debug, Clone)]
pub struct Template {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Version {
    pub id: i64,
    pub tag: String,
    pub body: String,
    pub comment: String,
    /// Only From, Subject and Reply-To.
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub active: bool,
    pub created_at: i64,
}

/// A version as written.
pub struct NewVersion<'a> {
    pub tag: &'a str,
    pub body: &'a str,
    pub comment: &'a str,
    pub headers: &'a serde_json::Map<String, serde_json::Value>,
    pub active: bool,
}

/// Why a write was refused (the HTTP layer words it).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    TemplateExists,
    TooManyTemplates,
    VersionExists,
    TooManyVersions,
    NoSuchVersion,
    /// The active version of a template with others cannot be deleted.
    ActiveVersion,
}

const TEMPLATE_COLS: &str = "id, name, description, created_by, created_at";
const VERSION_COLS: &str = "id, tag, body, comment, headers, active, created_at";

fn template_from(r: &sqlx::any::AnyRow) -> Template {
    Template {
        id: r.get(0),
        name: r.get(1),
        description: r.get(2),
        created_by: r.get(3),
        created_at: r.get(4),
    }
}

fn version_from(r: &sqlx::any::AnyRow) -> Result<Version> {
    let id: i64 = r.get(0);
    let text: String = r.get(4);
    let headers = match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "template_versions row {id}, field headers: {text:?} is not a JSON object"
            )))
        }
    };
    Ok(Version {
        id,
        tag: r.get(1),
        body: r.get(2),
        comment: r.get(3),
        headers,
        active: r.get::<i64, _>(5) != 0,
        created_at: r.get(6),
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

async fn insert_version(
    tx: &mut Tx<'_>,
    template_id: i64,
    v: &NewVersion<'_>,
    now: i64,
) -> Result<()> {
    if v.active {
        sqlx::query("UPDATE template_versions SET active = 0 WHERE template_id = $1")
            .bind(template_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO template_versions (template_id, tag, body, comment, headers, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(template_id)
    .bind(v.tag)
    .bind(v.body)
    .bind(v.comment)
    .bind(serde_json::Value::Object(v.headers.clone()).to_string())
    .bind(v.active as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The domain's templates by name, from `after` (exclusive) on, `limit`
    /// at most; with `reverse`, by name descending before `after`.
    pub async fn templates(
        &self,
        domain_id: i64,
        after: Option<&str>,
        reverse: bool,
        limit: i64,
    ) -> Result<Vec<Template>> {
        let (cmp, order) = if reverse { ("<", "DESC") } else { (">", "ASC") };
        let sql = format!(
            "SELECT {TEMPLATE_COLS} FROM templates WHERE domain_id = $1 AND ($2 = '' OR name {cmp} $2) \
             ORDER BY name {order} LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(domain_id)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        let mut out: Vec<Template> = rows.iter().map(template_from).collect();
        if reverse {
            out.reverse();
        }
        Ok(out)
    }

    pub async fn template(&self, domain_id: i64, name: &str) -> Result<Option<Template>> {
        let row = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLS} FROM templates WHERE domain_id = $1 AND name = $2"
        ))
        .bind(domain_id)
        .bind(name)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.as_ref().map(template_from))
    }

    /// A template's versions, oldest first.
    pub async fn template_versions(&self, template_id: i64) -> Result<Vec<Version>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLS} FROM template_versions WHERE template_id = $1 ORDER BY id"
        ))
        .bind(template_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(version_from).collect()
    }

    /// One version by tag, or the active one.
    pub async fn template_version(
        &self,
        template_id: i64,
        tag: Option<&str>,
    ) -> Result<Option<Version>> {
        let row = match tag {
            Some(tag) => {
                sqlx::query(&format!(
                    "SELECT {VERSION_COLS} FROM template_versions WHERE template_id = $1 AND tag = $2"
                ))
                .bind(template_id)
                .bind(tag)
                .fetch_optional(self.reader())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {VERSION_COLS} FROM template_versions WHERE template_id = $1 AND active = 1"
                ))
                .bind(template_id)
                .fetch_optional(self.reader())
                .await?
            }
        };
        row.as_ref().map(version_from).transpose()
    }

    /// Creates a template, with its first version (active) when given.
    pub async fn create_template(
        &self,
        domain_id: i64,
        name: &str,
        description: &str,
        created_by: &str,
        first: Option<&NewVersion<'_>>,
    ) -> Result<std::result::Result<Template, Refused>> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM templates WHERE domain_id = $1")
            .bind(domain_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if n >= MAX_TEMPLATES {
            return Ok(Err(Refused::TooManyTemplates));
        }
        let row = sqlx::query(&format!(
            "INSERT INTO templates (domain_id, name, description, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain_id, name) DO NOTHING RETURNING {TEMPLATE_COLS}"
        ))
        .bind(domain_id)
        .bind(name)
        .bind(description)
        .bind(created_by)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(Refused::TemplateExists));
        };
        let t = template_from(&row);
        if let Some(v) = first {
            let v = NewVersion { active: true, ..*v };
            insert_version(&mut tx, t.id, &v, now).await?;
        }
        tx.commit().await?;
        Ok(Ok(t))
    }

    pub async fn update_template(&self, template_id: i64, description: &str) -> Result<()> {
        sqlx::query("UPDATE templates SET description = $1 WHERE id = $2")
            .bind(description)
            .bind(template_id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn delete_template(&self, template_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM templates WHERE id = $1")
            .bind(template_id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn delete_templates(&self, domain_id: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM templates WHERE domain_id = $1")
            .bind(domain_id)
            .execute(self.writer())
            .await?
            .rows_affected())
    }

    /// Adds a version; the first of a template is active whatever was asked.
    pub async fn add_template_version(
        &self,
        template_id: i64,
        v: &NewVersion<'_>,
    ) -> Result<std::result::Result<(), Refused>> {
        let now = now_micros();
        let mut tx = self.writer().begin().await?;
        let tags: Vec<String> =
            sqlx::query("SELECT tag FROM template_versions WHERE template_id = $1")
                .bind(template_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
        if tags.iter().any(|t| t == v.tag) {
            return Ok(Err(Refused::VersionExists));
        }
        if tags.len() as i64 >= MAX_VERSIONS {
            return Ok(Err(Refused::TooManyVersions));
        }
        let v = NewVersion {
            active: v.active || tags.is_empty(),
            ..*v
        };
        insert_version(&mut tx, template_id, &v, now).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Changes a version: what is `Some` is set; `active` makes it the
    /// template's active version.
    pub async fn update_template_version(
        &self,
        template_id: i64,
        tag: &str,
        body: Option<&str>,
        comment: Option<&str>,
        headers: Option<&serde_json::Map<String, serde_json::Value>>,
        active: bool,
    ) -> Result<std::result::Result<(), Refused>> {
        let mut tx = self.writer().begin().await?;
        let exists =
            sqlx::query("SELECT 1 FROM template_versions WHERE template_id = $1 AND tag = $2")
                .bind(template_id)
                .bind(tag)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !exists {
            return Ok(Err(Refused::NoSuchVersion));
        }
        if active {
            sqlx::query("UPDATE template_versions SET active = 0 WHERE template_id = $1")
                .bind(template_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE template_versions SET body = COALESCE($1, body), comment = COALESCE($2, comment), \
             headers = COALESCE($3, headers), active = CASE WHEN $4 = 1 THEN 1 ELSE active END \
             WHERE template_id = $5 AND tag = $6",
        )
        .bind(body)
        .bind(comment)
        .bind(headers.map(|h| serde_json::Value::Object(h.clone()).to_string()))
        .bind(active as i64)
        .bind(template_id)
        .bind(tag)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Deletes a version; the active one only when it is the last.
    pub async fn delete_template_version(
        &self,
        template_id: i64,
        tag: &str,
    ) -> Result<std::result::Result<(), Refused>> {
        let versions = self.template_versions(template_id).await?;
        let Some(v) = versions.iter().find(|v| v.tag == tag) else {
            return Ok(Err(Refused::NoSuchVersion));
        };
        if v.active && versions.len() > 1 {
            return Ok(Err(Refused::ActiveVersion));
        }
        sqlx::query("DELETE FROM template_versions WHERE id = $1")
            .bind(v.id)
            .execute(self.writer())
            .await?;
        Ok(Ok(()))
    }
}
