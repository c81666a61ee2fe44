//! Mailgun's templates rendered as Mailgun renders them: Handlebars with
//! the block helpers `if` (and `else if`), `unless`, `each`, `with` and
//! `equal` (the string forms of its two arguments compared); a missing
//! variable renders empty; `{{x}}` escapes HTML, `{{{x}}}` does not.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, Renderable,
};
use serde_json::{Map, Value};

/// A stored template chosen for a send (`template`, `t:version`).
#[derive(Debug, Clone)]
pub struct TemplateUse {
    pub name: String,
    pub tag: String,
    pub source: String,
    /// `t:text=yes`: the rendered template is the text part too.
    pub text: bool,
    /// The version's From, Subject and Reply-To, applied unless the message
    /// sets them.
    pub headers: Map<String, Value>,
    /// `v:` variables, then `t:variables` over them.
    pub variables: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("template {name:?} version {tag:?} cannot be rendered: {reason}. Fix the template or the variables it uses (t:variables, v:, recipient-variables)")]
pub struct RenderError {
    pub name: String,
    pub tag: String,
    pub reason: String,
}

/// `{{#equal a b}}…{{else}}…{{/equal}}`.
struct Equal;

fn string_form(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl HelperDef for Equal {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let arg = |i: usize| h.param(i).map(|p| string_form(p.value()));
        let branch = if arg(0) == arg(1) {
            h.template()
        } else {
            h.inverse()
        };
        match branch {
            Some(t) => t.render(r, ctx, rc, out),
            None => Ok(()),
        }
    }
}

fn engine() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    // Mailgun renders a missing variable as nothing.
    hb.set_strict_mode(false);
    hb.register_helper("equal", Box::new(Equal));
    hb
}

/// Checks that `source` parses (when a version is stored).
pub fn check(source: &str) -> Result<(), String> {
    handlebars::Template::compile(source)
        .map(drop)
        .map_err(|e| e.to_string())
}

impl TemplateUse {
    /// The template for one recipient: its variables, and the recipient's
    /// own (`recipient-variables`) as `{{recipient.KEY}}`.
    pub fn render(&self, recipient: Option<&Value>) -> Result<String, RenderError> {
        let mut data = self.variables.clone();
        data.insert(
            "recipient".into(),
            recipient.cloned().unwrap_or(Value::Object(Map::new())),
        );
        engine()
            .render_template(&self.source, &Value::Object(data))
            .map_err(|e| RenderError {
                name: self.name.clone(),
                tag: self.tag.clone(),
                reason: e.to_string(),
            })
    }

    /// A header of the version (`From`, `Subject`, `Reply-To`), any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }
}

/// A whole message (SMTP) with a rendered template as its body: its own
/// Content-Type and Content-Transfer-Encoding go, the rendered HTML (and,
/// with `t:text`, the same as text) comes in, and the template's Subject
/// and Reply-To are added where the message has none.
pub fn into_mime(mime: &[u8], tpl: &TemplateUse, rendered: &str) -> Vec<u8> {
    use mail_builder::mime::MimePart;
    let end = super::whole::find_header_end(mime).unwrap_or(mime.len());
    let mut out = Vec::with_capacity(end + rendered.len() * 2 + 256);
    let (mut subject, mut reply_to, mut version) = (false, false, false);
    let mut dropping = false;
    for line in mime[..end].split_inclusive(|&b| b == b'\n') {
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            dropping = is("Content-Type") || is("Content-Transfer-Encoding");
            subject |= is("Subject");
            reply_to |= is("Reply-To");
            version |= is("MIME-Version");
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    for (present, name) in [(subject, "Subject"), (reply_to, "Reply-To")] {
        if let (false, Some(value)) = (present, tpl.header(name)) {
            out.extend_from_slice(format!("{name}: {}\r\n", encoded_word(value)).as_bytes());
        }
    }
    if !version {
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    }
    let html = MimePart::new("text/html", rendered.to_string());
    let body = if tpl.text {
        MimePart::new(
            "multipart/alternative",
            vec![MimePart::new("text/plain", rendered.to_string()), html],
        )
    } else {
        html
    };
    body.write_part(&mut out).expect("writing to a Vec");
    out
}

/// A header value as is when it is printable ASCII, else an RFC 2047
/// encoded word.
fn encoded_word(value: &str) -> String {
    use base64::Engine;
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        value.to_string()
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        format!("=?utf-8?b?{b64}?=")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(source: &str, vars: Value) -> String {
        TemplateUse {
            name: "t".into(),
            tag: "v1".into(),
            source: source.into(),
            text: false,
            headers: Map::new(),
            variables: vars.as_object().unwrap().clone(),
        }
        .render(None)
        .unwrap()
    }

    // The examples of Mailgun's template documentation, rendered as it
    // shows them.
    #[test]
    fn variables_and_a_missing_one() {
        assert_eq!(
            render("<h1>Hello {{name}}{{missing}}</h1>", json!({"name": "Ann"})),
            "<h1>Hello Ann</h1>"
        );
    }

    #[test]
    fn if_with_else_if() {
        let t = "{{#if gold}}gold{{else if silver}}silver{{else}}bronze{{/if}}";
        assert_eq!(render(t, json!({"gold": true})), "gold");
        assert_eq!(render(t, json!({"silver": true})), "silver");
        assert_eq!(render(t, json!({})), "bronze");
    }

    #[test]
    fn unless_each_and_with() {
        assert_eq!(
            render(
                "{{#unless paid}}Please pay{{/unless}}",
                json!({"paid": false})
            ),
            "Please pay"
        );
        assert_eq!(
            render(
                "{{#each items}}<li>{{this.name}} x{{this.qty}}</li>{{/each}}",
                json!({"items": [{"name": "Tea", "qty": 2}, {"name": "Cake", "qty": 1}]})
            ),
            "<li>Tea x2</li><li>Cake x1</li>"
        );
        assert_eq!(
            render(
                "{{#with user}}{{first}} {{last}}{{/with}}",
                json!({"user": {"first": "Ann", "last": "Lee"}})
            ),
            "Ann Lee"
        );
    }

    #[test]
    fn equal_compares_string_forms() {
        let t =
            "{{#equal plan \"pro\"}}Pro{{else}}Free{{/equal}} {{#equal count 3}}three{{/equal}}";
        assert_eq!(render(t, json!({"plan": "pro", "count": 3})), "Pro three");
        assert_eq!(
            render(t, json!({"plan": "free", "count": "3"})),
            "Free three"
        );
    }

    #[test]
    fn double_braces_escape_html_and_triple_do_not() {
        assert_eq!(
            render("{{x}} {{{x}}}", json!({"x": "<b>&</b>"})),
            "&lt;b&gt;&amp;&lt;/b&gt; <b>&</b>"
        );
    }

    #[test]
    fn recipient_variables_are_recipient_dot_key() {
        let t = TemplateUse {
            name: "t".into(),
            tag: "v1".into(),
            source: "Hi {{recipient.first}} ({{recipient.account.id}})".into(),
            text: false,
            headers: Map::new(),
            variables: Map::new(),
        };
        let r = json!({"first": "Ben", "account": {"id": 7}});
        assert_eq!(t.render(Some(&r)).unwrap(), "Hi Ben (7)");
    }

    #[test]
    fn a_whole_message_takes_the_rendered_template_as_its_body() {
        let mut headers = Map::new();
        headers.insert("Subject".into(), json!("Bienvenue à bord"));
        let t = TemplateUse {
            name: "t".into(),
            tag: "v1".into(),
            source: String::new(),
            text: true,
            headers,
            variables: Map::new(),
        };
        let mime = b"From: a@x.test\r\nTo: b@y.test\r\nContent-Type: text/plain;\r\n charset=us-ascii\r\n\r\nold body\r\n";
        let out = into_mime(mime, &t, "<p>Hi</p>");
        let msg = mail_parser::MessageParser::default().parse(&out).unwrap();
        assert_eq!(msg.subject(), Some("Bienvenue à bord"));
        assert_eq!(msg.body_html(0).as_deref(), Some("<p>Hi</p>"));
        assert_eq!(msg.body_text(0).as_deref(), Some("<p>Hi</p>"));
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text.contains("old body") && !text.contains("us-ascii"),
            "{text}"
        );
    }

    #[test]
    fn a_template_that_does_not_parse_is_named_in_the_error() {
        assert!(check("{{#if x}}open").is_err());
        let t = TemplateUse {
            name: "welcome".into(),
            tag: "v2".into(),
            source: "{{#if x}}open".into(),
            text: false,
            headers: Map::new(),
            variables: Map::new(),
        };
        let e = t.render(None).unwrap_err().to_string();
        assert!(e.contains("\"welcome\"") && e.contains("\"v2\""), "{e}");
    }
}
