//! Plaintext Secret manifests and credentials in ConfigMaps.
use super::config::{judge, Verdict};
use crate::detect;
use crate::finding::Severity;
use crate::rules;
use crate::scanner::{Obj, Scanner};
use base64::Engine;
use serde_json::Value;

/// Secret types whose manifests carry no value of their own.
const EMPTY_BY_DESIGN: &[&str] = &["kubernetes.io/service-account-token"];

/// One finding per Secret object with values in `data` or `stringData`; high when a
/// detector recognises one of them.
pub(crate) fn plaintext_secret(s: &mut Scanner, obj: &Obj<'_>) {
    let v = obj.value;
    let mut keys = 0usize;
    let mut recognised: Option<(String, detect::Detection)> = None;
    for field in ["data", "stringData"] {
        let Some(m) = v.get(field).and_then(Value::as_object) else {
            continue;
        };
        for (k, val) in m {
            let Some(text) = val.as_str().filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            keys += 1;
            if recognised.is_some() {
                continue;
            }
            let plain = if field == "data" {
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
            } else {
                Some(text.to_string())
            };
            if let Some(d) = plain.as_deref().and_then(detect::detect) {
                recognised = Some((format!("{field}[{k}]"), d));
            }
        }
    }
    if keys == 0 {
        return;
    }
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    if EMPTY_BY_DESIGN.contains(&ty) && recognised.is_none() {
        return;
    }
    // The finding sits on whichever of data/stringData comes first in the file.
    let field = ["data", "stringData"]
        .into_iter()
        .filter(|f| {
            v.get(*f)
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
        .min_by_key(|f| obj.pos(f).line)
        .unwrap_or("data");
    let mut msg = format!(
        "Secret {} holds {keys} value(s) in plaintext (base64 is an encoding, not encryption)",
        obj.name
    );
    let severity = match &recognised {
        Some((path, d)) => {
            msg.push_str(&format!(
                "; {path} is {}",
                d.describe().trim_start_matches("a value that is ")
            ));
            Severity::High
        }
        None => rules::PLAINTEXT_SECRET.severity,
    };
    s.emit(
        &rules::PLAINTEXT_SECRET,
        severity,
        &obj.loc(),
        field,
        obj.pos(field),
        msg,
        vec![],
    );
}

/// ConfigMap values: detectors, credential names, and `key=value` / `key: value`
/// lines of embedded configuration files.
pub(crate) fn configmap(s: &mut Scanner, obj: &Obj<'_>) {
    let Some(data) = obj.value.get("data").and_then(Value::as_object) else {
        return;
    };
    let mut found: Vec<(String, Verdict, String)> = vec![];
    for (k, v) in data {
        let path = format!("data[{k}]");
        if let Some(verdict) = judge(k, v) {
            let what = verdict.describe(&format!("data key {k}"));
            found.push((path, verdict, what));
            continue;
        }
        let Some(text) = v.as_str().filter(|t| t.contains('\n')) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let Some((name, value)) = split_assignment(line) else {
                continue;
            };
            if let Some(verdict) = judge(name, &Value::String(value.to_string())) {
                let what = verdict.describe(&format!("line {} of data key {k} ({name})", n + 1));
                found.push((path.clone(), verdict, what));
                break;
            }
        }
    }
    let loc = obj.loc();
    for (path, verdict, what) in found {
        s.emit(
            &rules::CONFIGMAP_CREDENTIAL,
            verdict.severity(),
            &loc,
            &path,
            obj.pos(&path),
            what,
            vec![],
        );
    }
}

/// `name = value`, `name: value`, `export NAME="value"` in an embedded file.
fn split_assignment(line: &str) -> Option<(&str, &str)> {
    let t = line.trim().trim_start_matches("export ");
    if t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    let i = t.find(['=', ':'])?;
    let name = t[..i].trim();
    let value = t[i + 1..].trim().trim_matches(['"', '\'']);
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some((name, value))
}
