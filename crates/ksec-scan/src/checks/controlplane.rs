//! The control plane: kube-apiserver's encryption flag (C-0066/C-0141), its
//! EncryptionConfiguration (C-0141/C-0142, judged by `ksec-etcd`'s checker), and its
//! audit policy (C-0161). Reads kube-apiserver static pods, the files themselves, and
//! kubescape's host-sensor `ControlPlaneInfo` objects (which carry both files).
use crate::finding::Severity;
use crate::rules;
use crate::scanner::{Loc, Obj, Scanner};
use crate::yaml::{self, Pos};
use base64::Engine;
use serde_json::Value;

/// One problem of an EncryptionConfiguration.
pub(crate) struct ConfigIssue {
    pub severity: Severity,
    pub path: String,
    pub message: String,
}

/// The one place that calls `ksec-etcd`'s EncryptionConfiguration checker.
pub(crate) fn check_encryption_config(doc: &Value) -> Vec<ConfigIssue> {
    use ksec_etcd::encryption_config::{check, CheckOptions, Severity as EtcdSeverity};
    check(doc, CheckOptions::default())
        .into_iter()
        .map(|f| {
            let severity = match f.severity {
                EtcdSeverity::Error => Severity::Low,
                _ if f.message.contains("plaintext") => Severity::High,
                _ => Severity::Medium,
            };
            let message = match f.severity {
                EtcdSeverity::Error => format!("kube-apiserver refuses this file: {}", f.message),
                _ => f.message,
            };
            ConfigIssue {
                severity,
                path: f.path,
                message,
            }
        })
        .collect()
}

fn flags_of(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|k| {
            container
                .get(*k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn has_flag(flags: &[String], flag: &str) -> bool {
    flags
        .iter()
        .any(|f| f == flag || f.starts_with(&format!("{flag}=")))
}

/// A kube-apiserver static pod: encryption at rest and audit logging switched on.
pub(crate) fn apiserver_pod(s: &mut Scanner, obj: &Obj<'_>) {
    let containers = obj
        .value
        .pointer("/spec/containers")
        .and_then(Value::as_array);
    let Some((i, c)) = containers.into_iter().flatten().enumerate().find(|(_, c)| {
        let cmd0 = c
            .pointer("/command/0")
            .and_then(Value::as_str)
            .unwrap_or("");
        cmd0.ends_with("kube-apiserver")
            || (cmd0.is_empty() && c.get("name").and_then(Value::as_str) == Some("kube-apiserver"))
    }) else {
        return;
    };
    let flags = flags_of(c);
    let n_args = c.get("args").and_then(Value::as_array).map_or(0, Vec::len);
    // Where the missing flag would go (kubescape's fix path).
    let fix_path = if n_args > 0 {
        format!("spec.containers[{i}].args[{n_args}]")
    } else {
        let n = c
            .get("command")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        format!("spec.containers[{i}].command[{n}]")
    };
    let loc = obj.loc();
    if !has_flag(&flags, "--encryption-provider-config") {
        s.emit(
            &rules::APISERVER_NO_ENCRYPTION,
            Severity::High,
            &loc,
            &fix_path,
            obj.pos(&format!("spec.containers[{i}]")),
            "kube-apiserver runs without --encryption-provider-config: Secrets are stored in etcd in plaintext".into(),
            vec![],
        );
    }
    if !has_flag(&flags, "--audit-policy-file") {
        s.emit(
            &rules::AUDIT_SECRETS,
            Severity::Low,
            &loc,
            &fix_path,
            obj.pos(&format!("spec.containers[{i}]")),
            "kube-apiserver runs without --audit-policy-file: access to Secrets is not audited"
                .into(),
            vec![],
        );
    }
}

/// An EncryptionConfiguration found in a file.
pub(crate) fn encryption_config_object(s: &mut Scanner, obj: &Obj<'_>) {
    let loc = obj.loc();
    encryption_config(s, obj.value, &loc, &|p| obj.pos(p), obj.source.committed);
}

fn encryption_config(
    s: &mut Scanner,
    doc: &Value,
    loc: &Loc<'_>,
    pos: &dyn Fn(&str) -> Pos,
    committed: bool,
) {
    for issue in check_encryption_config(doc) {
        s.emit(
            &rules::ENCRYPTION_CONFIG,
            issue.severity,
            loc,
            &issue.path,
            pos(&issue.path),
            issue.message,
            vec![],
        );
    }
    if !committed {
        return;
    }
    // Keys written inline in a file that sits in a repository are keys in git.
    for (i, r) in doc
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, p) in r
            .get("providers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            for ty in ["aescbc", "aesgcm", "secretbox"] {
                let Some(keys) = p.pointer(&format!("/{ty}/keys")).and_then(Value::as_array) else {
                    continue;
                };
                for (k, key) in keys.iter().enumerate() {
                    if key
                        .get("secret")
                        .and_then(Value::as_str)
                        .is_some_and(|v| !v.is_empty())
                    {
                        let path = format!("resources[{i}].providers[{j}].{ty}.keys[{k}].secret");
                        s.emit(
                            &rules::ENCRYPTION_CONFIG,
                            Severity::High,
                            loc,
                            &path,
                            pos(&path),
                            "an encryption key is written inline in a file in the repository: whoever reads the repository can decrypt etcd; use a KMS v2 provider (`ksec kms serve`)".into(),
                            vec![],
                        );
                    }
                }
            }
        }
    }
}

/// What the apiserver's audit policy does with requests on Secrets.
pub(crate) fn audit_policy(s: &mut Scanner, obj: &Obj<'_>, loc: &Loc<'_>, base: &str) {
    let pos = |p: &str| obj.pos(&format!("{base}{p}"));
    audit_policy_value(s, obj.value, loc, &pos, base);
}

fn covers_secrets(rule: &Value) -> bool {
    if rule
        .get("nonResourceURLs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return false;
    }
    let Some(res) = rule.get("resources").and_then(Value::as_array) else {
        return true; // no resources: every resource
    };
    if res.is_empty() {
        return true;
    }
    res.iter().any(|gr| {
        let group_ok = gr
            .get("group")
            .and_then(Value::as_str)
            .is_none_or(|g| g.is_empty() || g == "*");
        let names = gr.get("resources").and_then(Value::as_array);
        group_ok
            && names.is_none_or(|n| {
                n.is_empty()
                    || n.iter()
                        .filter_map(Value::as_str)
                        .any(|r| matches!(r, "secrets" | "*" | "secrets/*"))
            })
            && gr
                .get("resourceNames")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    })
}

/// A rule that applies to every request on Secrets (no user, group, verb or
/// namespace restriction): the apiserver stops looking after it.
fn unconditional(rule: &Value) -> bool {
    ["users", "userGroups", "verbs", "namespaces"]
        .iter()
        .all(|k| {
            rule.get(*k)
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        })
}

fn audit_policy_value(
    s: &mut Scanner,
    policy: &Value,
    loc: &Loc<'_>,
    pos: &dyn Fn(&str) -> Pos,
    base: &str,
) {
    let rules_list = policy
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, rule) in rules_list.iter().enumerate() {
        if !covers_secrets(rule) {
            continue;
        }
        let level = rule.get("level").and_then(Value::as_str).unwrap_or("None");
        let path = format!("rules[{i}]");
        let full = format!("{base}{path}");
        match level {
            "Request" | "RequestResponse" => {
                s.emit(
                    &rules::AUDIT_SECRETS,
                    Severity::High,
                    loc,
                    &full,
                    pos(&path),
                    format!("audit rule {i} logs requests on Secrets at level {level}: Secret values are written to the audit log; log them at Metadata"),
                    vec![],
                );
                if unconditional(rule) {
                    return;
                }
            }
            "None" if unconditional(rule) => {
                s.emit(
                    &rules::AUDIT_SECRETS,
                    Severity::Medium,
                    loc,
                    &full,
                    pos(&path),
                    format!("audit rule {i} matches Secrets first with level None: access to Secrets is not audited"),
                    vec![],
                );
                return;
            }
            _ if unconditional(rule) => return,
            _ => {}
        }
    }
    s.emit(
        &rules::AUDIT_SECRETS,
        Severity::Medium,
        loc,
        &format!("{base}rules"),
        pos("rules"),
        "no audit rule matches every request on Secrets: unmatched requests are not audited".into(),
        vec![],
    );
}

fn decode_file(content: &Value) -> Option<Value> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(content.as_str()?.trim())
        .ok()?;
    let text = String::from_utf8(b).ok()?;
    yaml::parse_stream(&text, yaml::Limits::default())
        .ok()?
        .into_iter()
        .next()
        .map(|d| d.value)
}

/// kubescape's host-sensor object: the apiserver's command line and the files it names.
pub(crate) fn control_plane_info(s: &mut Scanner, obj: &Obj<'_>) {
    let Some(info) = obj.value.pointer("/data/APIServerInfo") else {
        return;
    };
    let cmd = info.get("cmdLine").and_then(Value::as_str).unwrap_or("");
    let flags: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
    let loc = obj.loc();
    let cmd_path = "data.APIServerInfo.cmdLine";
    if !has_flag(&flags, "--encryption-provider-config") {
        s.emit(
            &rules::APISERVER_NO_ENCRYPTION,
            Severity::High,
            &loc,
            cmd_path,
            obj.pos(cmd_path),
            "kube-apiserver runs without --encryption-provider-config: Secrets are stored in etcd in plaintext".into(),
            vec![],
        );
    } else if let Some(cfg) = info
        .pointer("/encryptionProviderConfigFile/content")
        .and_then(decode_file)
    {
        let name = info
            .pointer("/encryptionProviderConfigFile/path")
            .and_then(Value::as_str)
            .unwrap_or("encryption-provider-config");
        let cloc = Loc {
            file: loc.file,
            kind: "EncryptionConfiguration",
            namespace: None,
            name,
            ignore: loc.ignore,
        };
        let at = obj.pos("data.APIServerInfo.encryptionProviderConfigFile");
        encryption_config(s, &cfg, &cloc, &|_| at, false);
    }
    if !has_flag(&flags, "--audit-policy-file") {
        s.emit(
            &rules::AUDIT_SECRETS,
            Severity::Low,
            &loc,
            cmd_path,
            obj.pos(cmd_path),
            "kube-apiserver runs without --audit-policy-file: access to Secrets is not audited"
                .into(),
            vec![],
        );
    } else if let Some(policy) = info
        .pointer("/auditPolicyFile/content")
        .and_then(decode_file)
    {
        let name = info
            .pointer("/auditPolicyFile/path")
            .and_then(Value::as_str)
            .unwrap_or("audit-policy");
        let ploc = Loc {
            file: loc.file,
            kind: "Policy",
            namespace: None,
            name,
            ignore: loc.ignore,
        };
        let at = obj.pos("data.APIServerInfo.auditPolicyFile");
        audit_policy_value(s, &policy, &ploc, &|_| at, "");
    }
}
