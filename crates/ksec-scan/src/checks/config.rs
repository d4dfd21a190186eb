//! Credentials in values that are not a known Kubernetes field: Helm values files,
//! plain YAML/JSON/dotenv configuration, and fields of other objects (container
//! arguments, custom resources). A value counts when a detector recognises it (high),
//! or when its key's last word is a credential noun and the value is a literal that
//! could be one (medium).
use crate::detect;
use crate::finding::Severity;
use crate::names;
use crate::rules;
use crate::scanner::{Loc, Obj, Scanner, Source};
use crate::yaml::{Doc, Pos};
use serde_json::Value;

/// What the credential rules concluded about one named value.
pub(crate) enum Verdict {
    /// A detector recognised it.
    Detected(detect::Detection),
    /// A credential name with a literal value.
    Named,
    /// High entropy under a credential name.
    Entropy,
}

impl Verdict {
    pub(crate) fn severity(&self) -> Severity {
        match self {
            Verdict::Named => Severity::Medium,
            Verdict::Detected(_) | Verdict::Entropy => Severity::High,
        }
    }

    pub(crate) fn describe(&self, name: &str) -> String {
        match self {
            Verdict::Detected(d) => format!("{name} holds {}", d.describe()),
            Verdict::Entropy => {
                format!("{name} holds a random-looking literal under a credential name")
            }
            Verdict::Named => {
                format!("{name} is named like a credential and holds a literal value")
            }
        }
    }
}

/// Judges a `name: value` pair.
pub(crate) fn judge(name: &str, value: &Value) -> Option<Verdict> {
    let text = value.as_str()?;
    if let Some(d) = detect::detect(text) {
        return Some(Verdict::Detected(d));
    }
    if !names::is_credential_name(name) || names::is_inert_value(value) {
        return None;
    }
    Some(if detect::high_entropy(text) {
        Verdict::Entropy
    } else {
        Verdict::Named
    })
}

/// `--db-password=x`, `password=x` (container arguments, Kustomize generator literals).
fn judge_assignment(text: &str) -> Option<Verdict> {
    let (name, value) = text.split_once('=')?;
    let name = name.trim_start_matches('-');
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return None;
    }
    match judge(name, &Value::String(value.to_string()))? {
        // A detector match on the value alone was already tried by the caller.
        Verdict::Detected(_) => None,
        v => Some(v),
    }
}

/// `a.b`, or `a[x.y]` for keys that are not plain words (kubescape's style).
pub(crate) fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key}]"),
    }
}

/// Walks `v`, judging every string under its key; `skip` says which subtrees other
/// rules own.
pub(crate) fn walk(
    v: &Value,
    path: &str,
    key: &str,
    skip: &dyn Fn(&str) -> bool,
    out: &mut Vec<(String, Verdict)>,
) {
    if skip(path) {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk(x, &join(path, k), k, skip, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, &format!("{path}[{i}]"), key, skip, out);
            }
        }
        Value::String(text) => {
            if let Some(verdict) = judge(key, v).or_else(|| judge_assignment(text)) {
                out.push((path.to_string(), verdict));
            }
        }
        _ => {}
    }
}

fn emit_all(
    s: &mut Scanner,
    loc: &Loc<'_>,
    found: Vec<(String, Verdict)>,
    pos: &dyn Fn(&str) -> Pos,
) {
    for (path, verdict) in found {
        let msg = verdict.describe(&path);
        s.emit(
            &rules::CONFIG_CREDENTIAL,
            verdict.severity(),
            loc,
            &path,
            pos(&path),
            msg,
            vec![],
        );
    }
}

/// A document that is not a Kubernetes object.
pub(crate) fn scan_value(s: &mut Scanner, source: &Source, doc: &Doc, base: &str, v: &Value) {
    let mut found = vec![];
    walk(v, "", "", &|_| false, &mut found);
    if found.is_empty() {
        return;
    }
    let loc = Loc::file(&source.file);
    let has_lines = source.has_lines;
    let pos = |p: &str| {
        if !has_lines {
            return Pos::default();
        }
        let yp = crate::scanner::kubescape_to_yaml_path(p);
        doc.pos(&if base.is_empty() {
            yp
        } else {
            format!("{base}.{yp}")
        })
    };
    emit_all(s, &loc, found, &pos);
}

/// Fields of a Kubernetes object no other rule owns (metadata and status excluded).
pub(crate) fn scan_object(s: &mut Scanner, obj: &Obj<'_>) {
    scan_object_except(s, obj, &|_| false);
}

/// [`scan_object`] minus the subtrees `skip` names.
pub(crate) fn scan_object_except(s: &mut Scanner, obj: &Obj<'_>, skip: &dyn Fn(&str) -> bool) {
    let mut found = vec![];
    let Some(m) = obj.value.as_object() else {
        return;
    };
    for (k, v) in m {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
            continue;
        }
        walk(v, &join("", k), k, skip, &mut found);
    }
    let loc = obj.loc();
    emit_all(s, &loc, found, &|p| obj.pos(p));
}
