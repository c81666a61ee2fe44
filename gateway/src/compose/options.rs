//! Sending options: the `o:`, `v:` and `recipient-variables` fields of the HTTP
//! API, and the same options as `X-Mailgun-*` headers over SMTP.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ComposeError;

pub const MAX_TAGS: usize = 3;
pub const MAX_TAG_LEN: usize = 128;
pub const MAX_OPTIONS_BYTES: usize = 16 * 1024;

/// Per-message options, stored with the message and read by delivery.
/// Unknown fields are refused when read back: a damaged row must not lose
/// `require_tls` to a default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SendOptions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub user_variables: Map<String, Value>,
    /// `None`: the domain's default (sign).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim: Option<bool>,
    #[serde(default)]
    pub testmode: bool,
    /// Microseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_verification: Option<bool>,
}

/// The options of a message submitted over SMTP, from its `X-Mailgun-*`
/// headers (contract §4), checked as the API fields are. Returns the
/// options and the recipient variables, if any.
pub fn from_mailgun_headers(
    headers: &[(String, String)],
) -> Result<(SendOptions, Option<Map<String, Value>>), ComposeError> {
    let mut opts: Vec<(&str, &str)> = Vec::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut recipient_vars = None;
    for (name, value) in headers {
        let field = match name.to_ascii_lowercase().as_str() {
            "x-mailgun-tag" => "o:tag",
            "x-mailgun-dkim" => "o:dkim",
            "x-mailgun-require-tls" => "o:require-tls",
            "x-mailgun-skip-verification" => "o:skip-verification",
            "x-mailgun-drop-message" => "o:testmode",
            "x-mailgun-deliver-by" => "o:deliverytime",
            "x-mailgun-track" => "o:tracking",
            "x-mailgun-track-clicks" => "o:tracking-clicks",
            "x-mailgun-track-opens" => "o:tracking-opens",
            "x-mailgun-variables" => {
                // Several headers merge; each is a JSON object.
                let obj = serde_json::from_str::<Map<String, Value>>(value).map_err(|_| {
                    ComposeError::InvalidOption {
                        name: name.clone(),
                        value: value.clone(),
                        expected: "a JSON object like {\"key\": \"value\"}",
                    }
                })?;
                for (k, v) in obj {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    vars.push((k, text));
                }
                continue;
            }
            "x-mailgun-recipient-variables" => {
                recipient_vars = Some(parse_recipient_variables(value)?);
                continue;
            }
            _ => continue,
        };
        opts.push((field, value.as_str()));
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let parsed = super::parse_options(&opts, &vars, &[])?;
    Ok((parsed, recipient_vars))
}

/// Mailgun booleans: yes|no|true|false in any case (and 1/0).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Some(true),
        "no" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

fn bool_opt(name: &str, v: &str) -> Result<bool, ComposeError> {
    super::options::parse_bool(v).ok_or_else(|| ComposeError::InvalidOption {
        name: name.to_string(),
        value: v.to_string(),
        expected: "yes, no, true or false",
    })
}

impl SendOptions {
    /// The options stored with message `message_id`; a row that does not
    /// parse is an error naming the message and the field, never defaults.
    pub fn from_stored(json: &str, message_id: &str) -> Result<SendOptions, String> {
        serde_json::from_str(json).map_err(|e| {
            format!("stored message <{message_id}> is damaged: its field options does not parse ({e}); it is held, not sent with default options")
        })
    }

    /// Apply one option by its API name (`o:tag`, `o:dkim`, ...). Unknown `o:`
    /// options Mailgun has (tracking, sending IPs) are accepted and ignored.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), ComposeError> {
        let v = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "o:tag" => {
                if v.is_empty() {
                    return Ok(());
                }
                if v.len() > MAX_TAG_LEN || !v.is_ascii() || v.chars().any(|c| c.is_ascii_control())
                {
                    return Err(ComposeError::BadTag(v.to_string()));
                }
                if !self.tags.iter().any(|t| t.eq_ignore_ascii_case(v)) {
                    self.tags.push(v.to_string());
                }
                if self.tags.len() > MAX_TAGS {
                    return Err(ComposeError::TooManyTags(self.tags.len()));
                }
            }
            "o:dkim" => self.dkim = Some(bool_opt(name, v)?),
            "o:testmode" => self.testmode = bool_opt(name, v)?,
            "o:require-tls" => self.require_tls = Some(bool_opt(name, v)?),
            "o:skip-verification" => self.skip_verification = Some(bool_opt(name, v)?),
            "o:deliverytime" => {
                let at = crate::time::parse_api_time(v).ok_or_else(|| ComposeError::InvalidOption {
                    name: name.to_string(),
                    value: v.to_string(),
                    expected: "an RFC 2822 date (e.g. \"Thu, 13 Oct 2011 18:02:00 +0000\") or epoch seconds",
                })?;
                self.deliver_at = Some(at);
            }
            "o:tracking" | "o:tracking-opens" | "o:tracking-pixel-location-top" => {
                bool_opt(name, v)?;
            }
            "o:tracking-clicks" if !v.eq_ignore_ascii_case("htmlonly") => {
                bool_opt(name, v)?;
            }
            _ => {}
        }
        Ok(())
    }

    pub fn set_variable(&mut self, name: &str, value: &str) {
        // Mailgun keeps JSON values as JSON and anything else as a string.
        let v = serde_json::from_str::<Value>(value)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.user_variables.insert(name.to_string(), v);
    }
}

/// `recipient-variables`: `{"addr": {"key": value}}`.
pub fn parse_recipient_variables(s: &str) -> Result<Map<String, Value>, ComposeError> {
    let v: Value =
        serde_json::from_str(s).map_err(|e| ComposeError::RecipientVariables(e.to_string()))?;
    let Value::Object(map) = v else {
        return Err(ComposeError::RecipientVariables(
            "expected a JSON object keyed by recipient address".into(),
        ));
    };
    if let Some((k, _)) = map.iter().find(|(_, v)| !v.is_object()) {
        return Err(ComposeError::RecipientVariables(format!(
            "the value for {k:?} must be a JSON object"
        )));
    }
    // Keys compared case-insensitively with recipients.
    Ok(map
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect())
}

/// `v:` variables with `%recipient.KEY%` filled in from one recipient's
/// variables, as Mailgun does in batch sends: in the delivered
/// `X-Mailgun-Variables` and in the events' `user-variables`.
pub fn fill_variables(
    user: &Map<String, Value>,
    vars: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    user.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => Value::String(substitute(s, vars)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Replace `%recipient.KEY%` with the recipient's values (missing keys become empty).
pub fn substitute(text: &str, vars: Option<&Map<String, Value>>) -> String {
    const OPEN: &str = "%recipient.";
    if !text.contains(OPEN) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len()..];
        match after.find('%') {
            Some(end)
                if after[..end]
                    .chars()
                    // `:` for django-anymail's `%recipient.v:cust%` and
                    // `%recipient.h:X-Customer-Ref%`.
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')) =>
            {
                let key = &after[..end];
                if let Some(v) = vars.and_then(|m| m.get(key)) {
                    match v {
                        Value::String(s) => out.push_str(s),
                        Value::Null => {}
                        other => out.push_str(&other.to_string()),
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_limited_to_three() {
        let mut o = SendOptions::default();
        for t in ["a", "b", "c"] {
            o.apply("o:tag", t).unwrap();
        }
        assert!(matches!(
            o.apply("o:tag", "d"),
            Err(ComposeError::TooManyTags(4))
        ));
    }

    #[test]
    fn tag_over_128_chars_refused() {
        let mut o = SendOptions::default();
        assert!(o.apply("o:tag", &"x".repeat(129)).is_err());
    }

    #[test]
    fn bad_boolean_named() {
        let mut o = SendOptions::default();
        let e = o.apply("o:testmode", "sure").unwrap_err().to_string();
        assert!(e.contains("o:testmode") && e.contains("sure"), "{e}");
    }

    #[test]
    fn substitution() {
        let vars =
            parse_recipient_variables(r#"{"Bob@x.com": {"first": "Bob", "id": 7}}"#).unwrap();
        let v = vars.get("bob@x.com").and_then(Value::as_object);
        assert_eq!(
            substitute("Hi %recipient.first% #%recipient.id%%recipient.none%!", v),
            "Hi Bob #7!"
        );
        assert_eq!(substitute("100% sure", v), "100% sure");
    }

    #[test]
    fn stored_options_that_do_not_parse_are_an_error_never_defaults() {
        let ok = SendOptions::from_stored(r#"{"require_tls":true}"#, "m@x").unwrap();
        assert_eq!(ok.require_tls, Some(true));
        for bad in [
            r#"{"require_tls":"yes"}"#,
            r#"{"requre_tls":true}"#,
            "{",
            "",
        ] {
            let e = SendOptions::from_stored(bad, "m@x").unwrap_err();
            assert!(e.contains("<m@x>") && e.contains("options"), "{e}");
        }
    }

    #[test]
    fn recipient_variables_must_be_objects() {
        assert!(parse_recipient_variables("[1,2]").is_err());
        assert!(parse_recipient_variables(r#"{"a@b.com": 3}"#).is_err());
        assert!(parse_recipient_variables("{not json").is_err());
    }
}
