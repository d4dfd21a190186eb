//! Values a rule's alert must not print. A rule writes its own alert message and paths,
//! and a careless one quotes what it looked at; before a finding is made, every value of
//! the input that may be a secret is replaced by `[withheld]` (as are evaluator errors).
use base64::Engine as _;
use serde_json::Value;

/// The values of an input, found in a text in one pass (Aho-Corasick), whatever their
/// number: a cluster's thousands of env values cost each message its length, not that
/// number of searches.
pub(super) struct Withheld(Option<aho_corasick::AhoCorasick>);

impl Withheld {
    /// The values of `objects` (see [`input_values`]).
    pub(super) fn of(objects: &[Value]) -> Self {
        let values = input_values(objects);
        Withheld(
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&values)
                .ok(),
        )
    }

    /// `text` with every value replaced by `[withheld]` (the longest at each place); the
    /// whole text when the values could not be indexed, rather than risk one.
    pub(super) fn apply(&self, text: &str) -> String {
        match &self.0 {
            Some(ac) => ac.replace_all(text, &vec!["[withheld]"; ac.patterns_len()]),
            None if text.is_empty() => String::new(),
            None => "[withheld]".to_string(),
        }
    }
}

/// Values a rule may see and must not print: top-level `data`, `stringData` and `binaryData` (Secrets,
/// ConfigMaps; a Secret's `data` also base64-decoded), every `env[].value`, and the
/// lines and `key=value` / `key: value` right-hand sides of multi-line values.
fn input_values(objects: &[Value]) -> Vec<String> {
    let mut out = vec![];
    for o in objects {
        let secret = o.get("kind").and_then(Value::as_str) == Some("Secret");
        for key in ["data", "stringData", "binaryData"] {
            for v in o.get(key).and_then(Value::as_object).into_iter().flatten() {
                let Some(text) = v.1.as_str() else { continue };
                add_value(&mut out, text);
                if secret && key == "data" {
                    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    if let Some(plain) = base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                    {
                        add_value(&mut out, &plain);
                    }
                }
            }
        }
        env_values(o, &mut out, 0);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Shorter strings (`true`, `80`) are withheld by no one and confirm nothing.
const MIN_WITHHELD: usize = 4;

fn add_value(out: &mut Vec<String>, text: &str) {
    let mut push = |t: &str| {
        let t = t.trim();
        if t.chars().count() >= MIN_WITHHELD {
            out.push(t.to_string());
        }
    };
    push(text);
    if text.contains('\n') {
        for line in text.lines() {
            push(line);
            if let Some((_, rhs)) = line.split_once(['=', ':']) {
                push(rhs.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\''));
            }
        }
    }
}

fn env_values(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "env" {
                    for e in child.as_array().into_iter().flatten() {
                        if let Some(text) = e.get("value").and_then(Value::as_str) {
                            add_value(out, text);
                        }
                    }
                }
                env_values(child, out, depth + 1);
            }
        }
        Value::Array(items) => {
            for child in items {
                env_values(child, out, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_of_secrets_configmaps_and_env_are_withheld() {
        let objects = vec![
            json!({"kind": "Secret", "metadata": {"name": "db"},
                   "data": {"password": "aHVudGVyMg=="}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "app"},
                   "data": {"app.properties": "user=app\npassword = \"s3cr3t-pw\"\n"}}),
            json!({"kind": "Deployment", "metadata": {"name": "api"},
                   "spec": {"template": {"spec": {"containers": [{"name": "c",
                       "env": [{"name": "TOKEN", "value": "tok-123456"}, {"name": "PORT", "value": "80"}]}]}}}}),
        ];
        let withheld = Withheld::of(&objects);
        let w = |t: &str| withheld.apply(t);
        assert_eq!(w("db holds hunter2"), "db holds [withheld]");
        assert_eq!(w("base64 aHVudGVyMg=="), "base64 [withheld]");
        assert_eq!(w("app has s3cr3t-pw"), "app has [withheld]");
        assert_eq!(w("api sets TOKEN=tok-123456"), "api sets TOKEN=[withheld]");
        // Names, and values too short to confirm anything, stay.
        assert_eq!(w("api listens on 80"), "api listens on 80");
        assert_eq!(w("Secret db, ConfigMap app"), "Secret db, ConfigMap app");
    }
}
