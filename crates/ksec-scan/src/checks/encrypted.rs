//! Files that are already protected: SOPS files and SealedSecrets. Other scanners flag
//! their ciphertexts as leaked credentials; here they are understood (through
//! `ksec-sops` and `ksec-seal`) and only their real weaknesses are findings.
use super::config::{join, judge};
use crate::finding::Severity;
use crate::rules;
use crate::scanner::{Loc, Obj, Scanner, Source};
use crate::yaml::Doc;
use ksec_sops::{KeyIdentity, LockedFile, MasterKey};
use serde_json::Value;

/// A document with sops's metadata entry (YAML or JSON store).
pub(crate) fn is_sops(v: &Value) -> bool {
    v.get("sops")
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key("mac") || m.contains_key("lastmodified"))
}

fn is_encrypted_value(s: &str) -> bool {
    s.starts_with("ENC[") && s.ends_with(']')
}

fn format_of(name: &str) -> ksec_sops::Format {
    ksec_sops::Format::from_path(std::path::Path::new(name))
}

/// The identity a user names a recipient by: age recipient, PGP fingerprint, KMS id.
fn key_id(k: &MasterKey) -> String {
    match k.identity() {
        KeyIdentity::Age { recipient } => recipient,
        KeyIdentity::Pgp { fingerprint } => fingerprint,
        KeyIdentity::AwsKms { arn, .. } => arn,
        KeyIdentity::GcpKms { resource_id } => resource_id,
        _ => k
            .describe()
            .split_once(" key ")
            .map(|(_, id)| id.to_string())
            .unwrap_or_default(),
    }
}

/// A SOPS file: plaintext values that look like credentials, the MAC, the recipients.
pub(crate) fn sops_file(s: &mut Scanner, source: &Source, text: &str, doc: &Doc) {
    let loc = Loc::file(&source.file);
    let pos = |p: &str| {
        if source.has_lines {
            doc.pos(&crate::scanner::kubescape_to_yaml_path(p))
        } else {
            Default::default()
        }
    };
    // Values left in plaintext by the file's encryption rules.
    let mut found = vec![];
    plaintext_leaves(&doc.value, "", "", &mut found);
    for (path, key, value) in found {
        // `db_password_unencrypted` is still a password: judge the name without sops's
        // default suffix.
        let name = key.strip_suffix("_unencrypted").unwrap_or(&key);
        if let Some(verdict) = judge(name, &Value::String(value)) {
            s.emit(
                &rules::SOPS_UNENCRYPTED,
                verdict.severity().max(Severity::Medium),
                &loc,
                &path,
                pos(&path),
                format!(
                    "left unencrypted by the file's rules: {}",
                    verdict.describe(&path)
                ),
                vec![],
            );
        }
    }
    // The metadata, read by ksec-sops.
    let locked = match LockedFile::parse(text.as_bytes(), format_of(&source.file)) {
        Ok(l) => l,
        Err(e) => {
            s.skip(&source.file, format!("SOPS metadata: {e}"));
            return;
        }
    };
    let meta = locked.metadata();
    if meta.mac.is_empty() {
        s.emit(
            &rules::SOPS_NO_MAC,
            rules::SOPS_NO_MAC.severity,
            &loc,
            "sops.mac",
            pos("sops"),
            "the file has no MAC: its values can be swapped, removed or replaced unnoticed".into(),
            vec![],
        );
    }
    let retired = &s.opts.retired_recipients;
    if !retired.is_empty() {
        let keys: Vec<&MasterKey> = meta.key_groups.iter().flatten().collect();
        let all_retired = !keys.is_empty()
            && keys.iter().all(|k| {
                let id = key_id(k);
                retired.iter().any(|r| r.eq_ignore_ascii_case(&id))
            });
        if all_retired {
            s.emit(
                &rules::SOPS_RETIRED_KEYS,
                rules::SOPS_RETIRED_KEYS.severity,
                &loc,
                "sops",
                pos("sops"),
                format!(
                    "all {} recipient(s) of the file are retired keys",
                    keys.len()
                ),
                vec![],
            );
        }
    }
}

fn plaintext_leaves(v: &Value, path: &str, key: &str, out: &mut Vec<(String, String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if path.is_empty() && k == "sops" {
                    continue;
                }
                plaintext_leaves(x, &join(path, k), k, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                plaintext_leaves(x, &format!("{path}[{i}]"), key, out);
            }
        }
        Value::String(t) if !is_encrypted_value(t) => {
            out.push((path.to_string(), key.to_string(), t.clone()));
        }
        _ => {}
    }
}

/// A dotenv SOPS file (`sops_*` entries) checked by the same rules.
pub(crate) fn sops_dotenv(
    s: &mut Scanner,
    source: &Source,
    text: &str,
    pairs: &[(String, String, usize)],
) {
    let mut map = serde_json::Map::new();
    for (k, v, _) in pairs {
        if !k.starts_with("sops_") {
            map.insert(k.clone(), Value::String(v.clone()));
        }
    }
    map.insert("sops".into(), serde_json::json!({"mac": ""}));
    let doc = Doc::unpositioned(Value::Object(map));
    let src = Source {
        has_lines: false,
        ..source.clone()
    };
    sops_file(s, &src, text, &doc);
}

/// A SealedSecret: its values are ciphertexts (never flagged); its template and scope
/// can still leak.
pub(crate) fn sealed_secret(s: &mut Scanner, obj: &Obj<'_>) {
    let ss = match ksec_seal::SealedSecret::from_value(obj.value) {
        Ok(ss) => ss,
        Err(e) => {
            s.skip(&obj.source.file, format!("SealedSecret {}: {e}", obj.name));
            return;
        }
    };
    let loc = obj.loc();
    let literal: Vec<&String> = ss
        .template
        .data
        .iter()
        .filter(|(_, v)| {
            v.as_deref()
                .is_some_and(|t| !t.trim().is_empty() && !t.contains("{{"))
        })
        .map(|(k, _)| k)
        .collect();
    if !literal.is_empty() {
        let path = "spec.template.data";
        s.emit(
            &rules::SEALED_TEMPLATE_DATA,
            rules::SEALED_TEMPLATE_DATA.severity,
            &loc,
            path,
            obj.pos(path),
            format!(
                "template key(s) {} hold literal text that is copied into the Secret unencrypted",
                literal
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            vec![],
        );
    }
    if ss.scope() == ksec_seal::Scope::ClusterWide {
        let path = "metadata.annotations";
        s.emit(
            &rules::SEALED_CLUSTER_WIDE,
            rules::SEALED_CLUSTER_WIDE.severity,
            &loc,
            path,
            obj.pos(path),
            "sealed cluster-wide: it opens in any namespace under any name".into(),
            vec![],
        );
    }
}
