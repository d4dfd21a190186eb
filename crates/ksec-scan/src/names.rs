//! Names that announce a credential, and values that cannot be one.
//!
//! kubescape flags any variable whose name *contains* `key`, `secret` or `token`, so
//! `SECRET_STORE`, `TOKEN_TTL` and `METALLB_ML_SECRET_KEY_PATH` are findings there.
//! Here a name counts only when its last word is a credential noun (`DB_PASSWORD`,
//! `stripeApiKey`, `client-secret`), and the value must still look like one.
use crate::detect::{is_placeholder, is_reference};
use serde_json::Value;

/// Last words that name a credential.
const NOUNS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASS",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "CREDENTIALS",
    "CREDENTIAL",
    "CREDS",
    "APIKEY",
];

/// Last two words that name a credential.
const PAIRS: &[(&str, &str)] = &[
    ("API", "KEY"),
    ("PRIVATE", "KEY"),
    ("ACCESS", "KEY"),
    ("SECRET", "KEY"),
    ("SIGNING", "KEY"),
    ("ENCRYPTION", "KEY"),
    ("MASTER", "KEY"),
    ("ACCOUNT", "KEY"),
    ("AUTH", "KEY"),
];

/// Splits `dbPassword`, `db-password`, `db.password`, `DB_PASSWORD` into upper-case words.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_uppercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The name's last word is a credential noun (`…PASSWORD`, `…_PWD`, `…API_KEY`).
pub fn is_credential_name(name: &str) -> bool {
    let w = words(name);
    let Some(last) = w.last() else {
        return false;
    };
    if NOUNS.contains(&last.as_str()) {
        return true;
    }
    w.len() >= 2 && {
        let prev = &w[w.len() - 2];
        PAIRS.iter().any(|(a, b)| prev == a && last == b)
    }
}

/// A value that cannot be a credential: empty, a number or boolean, a path, a URL
/// without credentials, a reference to another variable or a template, a placeholder.
pub fn is_inert_value(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
        Value::String(s) => is_inert_text(s),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// [`is_inert_value`] for text.
pub fn is_inert_text(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || t.parse::<f64>().is_ok()
        || matches!(
            t.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "null"
        )
        || is_reference(t)
        || is_placeholder(t)
        || is_path(t)
        || is_plain_url(t)
}

fn is_path(t: &str) -> bool {
    if t.starts_with('/') || t.starts_with("./") || t.starts_with("~/") {
        return !t.contains(char::is_whitespace);
    }
    // `my/secret/file/path`: words joined by slashes. Random tokens mix upper case,
    // lower case and digits within a segment; words do not.
    t.contains('/')
        && !t.contains("//")
        && t.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                && !(seg.chars().any(|c| c.is_ascii_uppercase())
                    && seg.chars().any(|c| c.is_ascii_lowercase())
                    && seg.chars().any(|c| c.is_ascii_digit()))
        })
}

fn is_plain_url(t: &str) -> bool {
    let Some((scheme, rest)) = t.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        && !rest.split('/').next().unwrap_or("").contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credential_names_end_in_a_noun() {
        for n in [
            "DB_PASSWORD",
            "db-password",
            "dbPassword",
            "MYSQL_ROOT_PWD",
            "CLIENT_SECRET",
            "GITHUB_TOKEN",
            "STRIPE_API_KEY",
            "stripeApiKey",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "SSH_PRIVATE_KEY",
            "pwd",
            "password",
        ] {
            assert!(is_credential_name(n), "{n}");
        }
        for n in [
            "SECRET_STORE",
            "AUTH_TOKEN_HEADER",
            "TOKEN_TTL",
            "SESSION_SECRET_NAME",
            "DB_PASSWORD_FILE",
            "METALLB_ML_SECRET_KEY_PATH",
            "aws_access_key_id",
            "PASSWORD_MIN_LENGTH",
            "BYPASS",
            "KEY",
            "some-name",
        ] {
            assert!(!is_credential_name(n), "{n}");
        }
    }

    #[test]
    fn inert_values() {
        for v in [
            json!(""),
            json!(8080),
            json!(true),
            json!("8080"),
            json!("/etc/secret/pw"),
            json!("my/secret/file/path"),
            json!("$(DB_PASSWORD)"),
            json!("${DB_PASSWORD}"),
            json!("{{ .Values.password }}"),
            json!("https://vault.example.com/v1/secret"),
            json!("<your password>"),
            json!("********"),
        ] {
            assert!(is_inert_value(&v), "{v}");
        }
        for v in [
            "hunter2",
            "s3cr3t!",
            "hi",
            "postgres://u:p@db/x",
            "aB3/dE5+fG7hI9/jK1==",
            "xK9q/Lm3Zp7w",
        ] {
            assert!(!is_inert_text(v), "{v}");
        }
    }
}
