//! Form bodies as Mailgun clients send them: multipart/form-data or
//! application/x-www-form-urlencoded, with repeated keys, plus the query string.
//! Parsed from the whole body (already size-checked) so every failure gets a
//! clear message.

use axum::http::{header, HeaderMap};
use bytes::Bytes;

use super::error::ApiError;

#[derive(Debug, Clone)]
pub struct FilePart {
    pub filename: String,
    pub content_type: Option<String>,
    pub data: Bytes,
}

#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    File(FilePart),
}

#[derive(Debug, Default, Clone)]
pub struct Form {
    pub fields: Vec<(String, Value)>,
}

impl Form {
    /// Every text value of `name`, in order (files given where text is
    /// expected are read as UTF-8 text).
    pub fn texts<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .filter_map(|(_, v)| match v {
                Value::Text(t) => Some(t.as_str()),
                Value::File(f) => std::str::from_utf8(&f.data).ok(),
            })
    }

    pub fn text<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.texts(name).next()
    }

    /// The last non-empty value, trimmed.
    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.texts(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .last()
    }

    pub fn files<'a>(&'a self, name: &'a str) -> impl Iterator<Item = FilePart> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| match v {
                Value::File(f) => f.clone(),
                // A text value where a file is expected: a file with no name.
                Value::Text(t) => FilePart {
                    filename: String::new(),
                    content_type: None,
                    data: Bytes::from(t.clone()),
                },
            })
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_bool(v).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!("{name} must be yes, no, true or false (got {v:?})"))
            }),
        }
    }

    /// A date (`begin`, `end`, `start`): RFC 2822 or epoch seconds, in
    /// microseconds; `None` when absent.
    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                crate::time::parse_api_time(v).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{name} {v:?} is not a date: use RFC 2822 (\"Thu, 13 Oct 2011 18:02:00 +0000\") or epoch seconds"
                    ))
                })
            })
            .transpose()
    }

    /// A whole number from 0 to `max`, `default` when absent (paging).
    pub fn number(&self, name: &str, default: i64, max: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("{name} must be a whole number from 0 to {max}"))
                }),
        }
    }

    /// A form of the query string alone (GET and DELETE handlers).
    pub fn from_query(query: Option<&str>) -> Result<Form, ApiError> {
        let mut form = Form::default();
        form.push_query(query)?;
        Ok(form)
    }

    pub fn push_query(&mut self, query: Option<&str>) -> Result<(), ApiError> {
        if let Some(q) = query {
            self.fields.extend(parse_urlencoded(q.as_bytes())?);
        }
        Ok(())
    }
}

pub use crate::compose::options::parse_bool;

pub fn parse_urlencoded(body: &[u8]) -> Result<Vec<(String, Value)>, ApiError> {
    let mut out = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let k = percent_decode(k)?;
        let v = percent_decode(v).map_err(|_| {
            ApiError::BadRequest(format!(
                "the value of {k:?} is not valid UTF-8 text; send UTF-8, percent-encoded"
            ))
        })?;
        out.push((k, Value::Text(v)));
    }
    Ok(out)
}

/// Strict application/x-www-form-urlencoded decoding: `+` is a space, `%XX` a
/// byte, and the result must be UTF-8 (a lossy decode would store garbage).
fn percent_decode(raw: &[u8]) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::BadRequest(
            "a form field name or value is not valid UTF-8 text; send UTF-8, percent-encoded"
                .into(),
        )
    })
}

pub async fn parse_form(
    headers: &HeaderMap,
    body: Bytes,
    query: Option<&str>,
) -> Result<Form, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut form = Form::default();
    form.push_query(query)?;
    match mime.as_str() {
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(ctype).map_err(|_| {
                ApiError::BadRequest(
                    "Boundary not found for multipart/form-data request: send Content-Type: multipart/form-data; boundary=...".into(),
                )
            })?;
            read_multipart(body, boundary, &mut form).await?;
        }
        "application/x-www-form-urlencoded" | "" => form.fields.extend(parse_urlencoded(&body)?),
        other => {
            return Err(ApiError::Unsupported(format!(
                "unsupported Content-Type {other:?}: send multipart/form-data or application/x-www-form-urlencoded"
            )))
        }
    }
    Ok(form)
}

/// A multipart part's own header block (Content-Disposition, Content-Type):
/// a few hundred bytes from any real client.
pub const MAX_PART_HEADER_BYTES: usize = 16 * 1024;

async fn read_multipart(body: Bytes, boundary: String, form: &mut Form) -> Result<(), ApiError> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let malformed = |e: multer::Error| {
        ApiError::BadRequest(format!(
            "the multipart/form-data body is malformed or cut short ({e}); send the complete body with its closing boundary"
        ))
    };
    let mut index = 0usize;
    while let Some(field) = mp.next_field().await.map_err(malformed)? {
        index += 1;
        let name = field.name().unwrap_or("").to_string();
        let header_bytes: usize = field
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > MAX_PART_HEADER_BYTES {
            return Err(ApiError::BadRequest(format!(
                "multipart part {index} ({name:?}) has a header block of {header_bytes} bytes; a part's headers may take at most {MAX_PART_HEADER_BYTES}. Send the value in the part's body"
            )));
        }
        let filename = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.to_string());
        let data = field.bytes().await.map_err(malformed)?;
        let value = match filename {
            Some(filename) => Value::File(FilePart { filename, content_type, data }),
            None => match String::from_utf8(data.to_vec()) {
                Ok(text) => Value::Text(text),
                Err(_) if name == "message" || name == "attachment" || name == "inline" => {
                    Value::File(FilePart { filename: name.clone(), content_type, data })
                }
                Err(_) => {
                    return Err(ApiError::BadRequest(format!(
                        "form field {name:?} is not valid UTF-8 text; send text fields as UTF-8 (files as file parts)"
                    )))
                }
            },
        };
        form.fields.push((name, value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_repeated_keys_and_plus() {
        let f = parse_urlencoded(b"to=a%40x.com&to=b%40y.com&subject=hi+there").unwrap();
        let form = Form { fields: f };
        assert_eq!(form.texts("to").collect::<Vec<_>>(), ["a@x.com", "b@y.com"]);
        assert_eq!(form.get("subject"), Some("hi there"));
    }

    #[test]
    fn urlencoded_rejects_non_utf8() {
        assert!(parse_urlencoded(b"subject=%ff%fe").is_err());
    }

    #[test]
    fn bools_in_every_spelling() {
        for t in ["yes", "YES", "True", "true", "1"] {
            assert_eq!(parse_bool(t), Some(true));
        }
        for f in ["no", "No", "FALSE", "false", "0"] {
            assert_eq!(parse_bool(f), Some(false));
        }
        assert_eq!(parse_bool("maybe"), None);
    }
}
