//! dotenv files (`.env`, `*.env`): `KEY=value` lines, judged by the credential rules.
use crate::checks::config::judge;
use crate::checks::encrypted;
use crate::rules;
use crate::scanner::{Loc, Scanner, Source};
use crate::yaml::Pos;
use serde_json::Value;

/// `.env`, `prod.env`, `.env.local`.
pub(crate) fn is_dotenv_name(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base == ".env" || base.ends_with(".env") || base.starts_with(".env.")
}

/// `KEY=value` pairs with their 1-based line; comments and blank lines skipped.
pub(crate) fn parse(text: &str) -> Vec<(String, String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let t = line.trim().trim_start_matches("export ").trim_start();
            if t.is_empty() || t.starts_with('#') {
                return None;
            }
            let (k, v) = t.split_once('=')?;
            let k = k.trim();
            if k.is_empty() || k.contains(char::is_whitespace) {
                return None;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.to_string(), v.to_string(), n + 1))
        })
        .collect()
}

pub(crate) fn scan(s: &mut Scanner, source: &Source, text: &str) {
    let pairs = parse(text);
    if pairs.iter().any(|(k, _, _)| k.starts_with("sops_")) {
        encrypted::sops_dotenv(s, source, text, &pairs);
        return;
    }
    let loc = Loc::file(&source.file);
    for (k, v, line) in pairs {
        if let Some(verdict) = judge(&k, &Value::String(v)) {
            let msg = verdict.describe(&k);
            s.emit(
                &rules::CONFIG_CREDENTIAL,
                verdict.severity(),
                &loc,
                &k,
                Pos { line, column: 1 },
                msg,
                vec![],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_names() {
        let p = parse("# c\nexport A=\"1\"\nB='x y'\n\nbad line\nC=3\n");
        assert_eq!(
            p,
            vec![
                ("A".into(), "1".into(), 2),
                ("B".into(), "x y".into(), 3),
                ("C".into(), "3".into(), 6)
            ]
        );
        assert!(
            is_dotenv_name("dir/.env") && is_dotenv_name("prod.env") && !is_dotenv_name("env.yaml")
        );
    }
}
