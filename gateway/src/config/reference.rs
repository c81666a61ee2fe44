//! The configuration reference: every key with its default and what it
//! does, read from the config's own types (their doc comments through
//! schemars, their defaults through serde), so it cannot drift from what
//! `Config::parse` accepts. `envoi check-config --print-defaults` prints
//! it; docs/configuration.md holds it (a test keeps the two equal).

use serde_json::Value;

use super::Config;

/// The reference as a TOML file that parses to the defaults.
pub fn defaults_toml() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("a schema is JSON");
    let defaults = toml::Table::try_from(Config::default()).expect("the defaults serialise");
    let mut out = String::from(
        "# envoi configuration: every key, with its default and what it does.\n\
         # Every key is optional; an unknown key is an error that names it.\n\
         # Durations: \"500ms\", \"30s\", \"10m\", \"2h\", \"3d\". Sizes: \"25MB\", \"256MiB\".\n\
         # Environment: ENVOI_ADMIN_KEY, ENVOI_MASTER_KEY, ENVOI_LOG (see README).\n",
    );
    let sections = schema["properties"].as_object().expect("Config has fields");
    // Tables in the order the code declares them (serde's, kept by toml's
    // preserve_order), not the schema's alphabetical one.
    for name in defaults.keys() {
        let table = resolve(&schema, &sections[name]);
        out.push('\n');
        comment(&mut out, table["description"].as_str(), "");
        out.push_str(&format!("[{name}]\n"));
        let values = defaults
            .get(name)
            .and_then(|v| v.as_table())
            .cloned()
            .unwrap_or_default();
        let keys = table["properties"].as_object().expect("sections have keys");
        // In the order the code declares them (serde's), then the keys
        // unset by default, which serde leaves out.
        let mut order: Vec<&String> = values.keys().collect();
        order.extend(keys.keys().filter(|k| !values.contains_key(*k)));
        for key in order {
            let description = keys.get(key).and_then(|k| k["description"].as_str());
            comment(&mut out, description, "");
            match values.get(key) {
                Some(v) => out.push_str(&format!("{key} = {v}\n")),
                None => out.push_str(&format!("# {key} = (unset by default)\n")),
            }
        }
    }
    out
}

/// Keys whose doc comment is missing: the reference must explain each.
pub fn undocumented() -> Vec<String> {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("a schema is JSON");
    let mut missing = Vec::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let table = resolve(&schema, property);
        for (key, v) in table["properties"].as_object().into_iter().flatten() {
            if v["description"].as_str().is_none_or(str::is_empty) {
                missing.push(format!("[{name}] {key}"));
            }
        }
    }
    missing
}

/// A section's schema, following its `$ref` into `$defs`.
fn resolve<'a>(schema: &'a Value, property: &'a Value) -> &'a Value {
    match property["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => &schema["$defs"][name],
        None => property,
    }
}

fn comment(out: &mut String, text: Option<&str>, indent: &str) {
    for line in text.unwrap_or_default().lines() {
        let line = line.trim();
        if line.is_empty() {
            out.push_str(&format!("{indent}#\n"));
        } else {
            out.push_str(&format!("{indent}# {line}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_description() {
        assert_eq!(undocumented(), Vec::<String>::new());
    }

    #[test]
    fn every_table_is_in_the_reference() {
        let text = defaults_toml();
        for table in [
            "http", "smtp", "inbound", "store", "delivery", "limits", "policy", "dkim", "webhooks",
            "cluster", "events", "log",
        ] {
            assert!(
                text.contains(&format!("\n[{table}]\n")),
                "[{table}] missing"
            );
        }
    }

    #[test]
    fn the_reference_parses_back_to_the_defaults() {
        let text = defaults_toml();
        let parsed = Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            toml::Table::try_from(parsed).unwrap(),
            toml::Table::try_from(Config::default()).unwrap()
        );
    }
}
