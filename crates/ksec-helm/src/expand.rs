//! `HELM_SECRETS_URL_VARIABLE_EXPANSION`: environment variables in http(s) values
//! URLs, as helm-secrets expands them (`scripts/lib/expand_vars_strict.sh`, called
//! from `scripts/lib/file/http.sh` only).
//!
//! The rules, read from helm-secrets:
//! - only http(s) URLs are expanded, never a local path or a key location (so a
//!   variable can never move a local path around the `HELM_SECRETS_VALUES_ALLOW_*`
//!   checks);
//! - only `${NAME}` is a reference; `$NAME`, `$(…)` and backticks stay as written;
//! - a backslash escapes the next `$` or backslash (`\${X}` is the text `${X}`);
//! - a variable that is set but empty expands to nothing; one that is not set is an
//!   error (helm-secrets runs under `set -u`).
//!
//! helm-secrets hands the reference to the shell, so `${X:-default}` and other shell
//! operators also work there; here they are refused with a message, as is a `${`
//! without its `}`. The expanded URL may carry a token (`https://${TOKEN}@host/…`):
//! it is kept in a zeroizing buffer and never shown; messages name the URL as
//! written.
use crate::error::{Error, Result};
use ksec_sops::Zeroizing;

/// Expands `${NAME}` references in `url` with `lookup` (see the module docs).
pub(crate) fn expand_url(
    url: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Zeroizing<String>> {
    let fail = |reference: String, reason: &'static str| Error::UrlVariable {
        url: url.to_string(),
        variable: reference,
        reason,
    };
    let mut out = Zeroizing::new(String::with_capacity(url.len()));
    let mut rest = url;
    while let Some(i) = rest.find(['\\', '$']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(escaped) = tail.strip_prefix('\\') {
            match escaped.chars().next() {
                Some(c @ ('$' | '\\')) => {
                    out.push(c);
                    rest = &escaped[1..];
                }
                _ => {
                    out.push('\\');
                    rest = escaped;
                }
            }
            continue;
        }
        let Some(body) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            let shown: String = body.chars().take(64).collect();
            return Err(fail(format!("${{{shown}"), "has no closing '}'"));
        };
        let name = &body[..end];
        if !is_name(name) {
            return Err(fail(
                format!("${{{}}}", name.chars().take(64).collect::<String>()),
                "is not a variable name; only ${NAME} is expanded (no shell operators such as :-)",
            ));
        }
        match lookup(name) {
            Some(v) => out.push_str(&Zeroizing::new(v)),
            None => return Err(fail(format!("${{{name}}}"), "is not set")),
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A shell variable name: a letter or `_`, then letters, digits and `_`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(url: &str) -> Result<String> {
        expand_url(url, |k| match k {
            "OWNER" => Some("jkroepke".into()),
            "TOKEN" => Some("ghp_s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        })
        .map(|s| s.to_string())
    }

    #[test]
    fn braces_expand_and_everything_else_stays() {
        assert_eq!(
            expand("https://${TOKEN}@raw.example/${OWNER}/x.yaml").unwrap(),
            "https://ghp_s3cret@raw.example/jkroepke/x.yaml"
        );
        assert_eq!(
            expand("https://h/$OWNER/$(id)/`id`/$/a$").unwrap(),
            "https://h/$OWNER/$(id)/`id`/$/a$"
        );
        assert_eq!(expand("https://h/${EMPTY}x").unwrap(), "https://h/x");
        assert_eq!(
            expand("https://h/${OWNER}${OWNER}").unwrap(),
            "https://h/jkroepkejkroepke"
        );
        assert_eq!(expand("https://h/plain").unwrap(), "https://h/plain");
    }

    #[test]
    fn backslash_escapes_dollar_and_itself() {
        assert_eq!(
            expand(r"https://h/\${OWNER}").unwrap(),
            "https://h/${OWNER}"
        );
        assert_eq!(
            expand(r"https://h/\\${OWNER}").unwrap(),
            r"https://h/\jkroepke"
        );
        assert_eq!(expand(r"https://h/a\b\").unwrap(), r"https://h/a\b\");
    }

    #[test]
    fn unset_bad_and_unclosed_references_are_named_without_secrets() {
        let e = expand("https://${TOKEN}@h/${NOPE}/x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("NOPE") && e.contains("not set"), "{e}");
        assert!(
            e.contains("https://${TOKEN}@h/${NOPE}/x"),
            "the URL as written: {e}"
        );
        assert!(!e.contains("ghp_s3cret"), "{e}");
        let e = expand("https://h/${OWNER:-x}").unwrap_err().to_string();
        assert!(e.contains("OWNER:-x") && e.contains("${NAME}"), "{e}");
        assert!(expand("https://h/${}").is_err());
        assert!(expand("https://h/${1X}").is_err());
        let e = expand("https://h/${OWNER").unwrap_err().to_string();
        assert!(e.contains("closing"), "{e}");
    }

    #[test]
    fn never_panics_on_any_text() {
        for s in ["$", "\\", "${", "${}", "$${X}", "\\$", "é${OWNER}é", "${é}"] {
            let _ = expand(s);
        }
        assert_eq!(expand("é${OWNER}é").unwrap(), "éjkroepkeé");
    }
}
