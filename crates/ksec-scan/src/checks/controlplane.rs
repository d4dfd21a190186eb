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

/// The kube-apiserver container of a pod, and its index.
fn apiserver_container(pod: &Value) -> Option<(usize, &Value)> {
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    containers.into_iter().flatten().enumerate().find(|(_, c)| {
        let cmd0 = c
            .pointer("/command/0")
            .and_then(Value::as_str)
            .unwrap_or("");
        cmd0.ends_with("kube-apiserver")
            || (cmd0.is_empty() && c.get("name").and_then(Value::as_str) == Some("kube-apiserver"))
    })
}

/// A pod that runs kube-apiserver.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) fn runs_apiserver(pod: &Value) -> bool {
    apiserver_container(pod).is_some()
}

/// A kube-apiserver static pod: encryption at rest and audit logging switched on.
pub(crate) fn apiserver_pod(s: &mut Scanner, obj: &Obj<'_>) {
    let Some((i, c)) = apiserver_container(obj.value) else {
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

/// What inline keys in a file that sits in a repository mean.
const KEYS_IN_REPOSITORY: &str = "an encryption key is written inline in a file in the repository: whoever reads the repository can decrypt etcd; use a KMS v2 provider (`ksec kms serve`)";

/// An EncryptionConfiguration found in a file.
pub(crate) fn encryption_config_object(s: &mut Scanner, obj: &Obj<'_>) {
    let loc = obj.loc();
    let inline_keys = obj.source.committed.then_some(KEYS_IN_REPOSITORY);
    encryption_config(s, obj.value, &loc, &|p| obj.pos(p), inline_keys);
}

/// Judges an EncryptionConfiguration; `inline_keys`: the finding for keys written in
/// it, when where it sits makes them readable (a repository, a ConfigMap).
fn encryption_config(
    s: &mut Scanner,
    doc: &Value,
    loc: &Loc<'_>,
    pos: &dyn Fn(&str) -> Pos,
    inline_keys: Option<&str>,
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
    let Some(inline_keys) = inline_keys else {
        return;
    };
    // Keys written inline in a file that others can read are keys they hold.
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
                            inline_keys.to_string(),
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
        encryption_config(s, &cfg, &cloc, &|_| at, None);
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

/// A file kube-apiserver reads, named by one of its flags.
#[cfg(feature = "cluster")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiserverFile {
    /// `--encryption-provider-config`.
    EncryptionConfig,
    /// `--audit-policy-file`.
    AuditPolicy,
}

#[cfg(feature = "cluster")]
impl ApiserverFile {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ApiserverFile::EncryptionConfig => "EncryptionConfiguration",
            ApiserverFile::AuditPolicy => "audit policy",
        }
    }
}

/// The value of `--flag=value` or `--flag value`.
#[cfg(feature = "cluster")]
fn flag_value(flags: &[String], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    flags.iter().enumerate().find_map(|(i, f)| {
        if let Some(v) = f.strip_prefix(&prefix) {
            Some(v.to_string())
        } else if f == flag {
            flags.get(i + 1).cloned()
        } else {
            None
        }
    })
}

/// The files a kube-apiserver pod's flags name: (which, path).
#[cfg(feature = "cluster")]
pub(crate) fn apiserver_files(pod: &Value) -> Vec<(ApiserverFile, String)> {
    let Some((_, c)) = apiserver_container(pod) else {
        return vec![];
    };
    let flags = flags_of(c);
    [
        (ApiserverFile::EncryptionConfig, "--encryption-provider-config"),
        (ApiserverFile::AuditPolicy, "--audit-policy-file"),
    ]
    .into_iter()
    .filter_map(|(what, flag)| {
        flag_value(&flags, flag)
            .filter(|p| !p.is_empty())
            .map(|p| (what, p))
    })
    .collect()
}

/// Where a file of the kube-apiserver container comes from.
#[cfg(feature = "cluster")]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// A key of a ConfigMap: readable through the API.
    ConfigMap { name: String, key: String },
    /// The node's file system.
    HostPath { path: String },
    /// A Secret volume: ksec does not read Secret data.
    Secret { name: String },
    /// Another kind of volume (`emptyDir`, a CSI driver, …).
    Volume { kind: String },
    /// No volume is mounted there: the container image's own file system.
    Image,
}

#[cfg(feature = "cluster")]
impl Place {
    /// Why the file was not read, for a note.
    pub(crate) fn why_unread(&self) -> String {
        match self {
            Place::ConfigMap { name, key } => format!("key {key} of ConfigMap {name}"),
            Place::HostPath { path } => format!(
                "on the control-plane node (hostPath {path}), which the Kubernetes API does not serve; check it on the node (`ksec scan` on the file, or `ksec encryption-config check`)"
            ),
            Place::Secret { name } => format!(
                "in Secret {name}, whose data ksec does not read; check the file where it is written"
            ),
            Place::Volume { kind } => {
                format!("in a {kind} volume, which the Kubernetes API does not serve")
            }
            Place::Image => {
                "not under any volume mount (inside the container image); not readable through the Kubernetes API".into()
            }
        }
    }
}

/// Finds the volume a file of the kube-apiserver container lives on: the mount with the
/// longest path that contains it, then that volume's source.
#[cfg(feature = "cluster")]
pub(crate) fn locate(pod: &Value, file: &str) -> Place {
    let Some((_, c)) = apiserver_container(pod) else {
        return Place::Image;
    };
    let under = |mount: &str| {
        let m = mount.trim_end_matches('/');
        file == m || file.strip_prefix(m).is_some_and(|r| r.starts_with('/'))
    };
    let mount = c
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m.get("mountPath").and_then(Value::as_str).is_some_and(under))
        .max_by_key(|m| m.get("mountPath").and_then(Value::as_str).map_or(0, str::len));
    let Some(mount) = mount else {
        return Place::Image;
    };
    let mount_path = mount
        .get("mountPath")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_end_matches('/');
    let rest = file[mount_path.len().min(file.len())..].trim_start_matches('/');
    let sub = mount.get("subPath").and_then(Value::as_str).unwrap_or("");
    // The path inside the volume.
    let inner = match (sub.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => sub.to_string(),
        (false, false) => format!("{}/{rest}", sub.trim_end_matches('/')),
    };
    let vname = mount.get("name").and_then(Value::as_str).unwrap_or("");
    let Some(volume) = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(vname))
    else {
        return Place::Image;
    };
    let key_in = |src: &Value| -> Option<String> {
        match src.get("items").and_then(Value::as_array) {
            Some(items) if !items.is_empty() => items
                .iter()
                .find(|i| i.get("path").and_then(Value::as_str) == Some(inner.as_str()))
                .and_then(|i| i.get("key").and_then(Value::as_str))
                .map(str::to_string),
            _ => (!inner.contains('/')).then(|| inner.clone()),
        }
    };
    let name_of = |src: &Value, field: &str| {
        src.get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if let Some(h) = volume.get("hostPath") {
        let base = name_of(h, "path");
        let path = if inner.is_empty() {
            base
        } else {
            format!("{}/{inner}", base.trim_end_matches('/'))
        };
        return Place::HostPath { path };
    }
    if let Some(cm) = volume.get("configMap") {
        if let Some(key) = key_in(cm) {
            return Place::ConfigMap {
                name: name_of(cm, "name"),
                key,
            };
        }
    }
    if let Some(sec) = volume.get("secret") {
        return Place::Secret {
            name: name_of(sec, "secretName"),
        };
    }
    for src in volume
        .pointer("/projected/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(cm) = src.get("configMap") {
            let listed = cm
                .get("items")
                .and_then(Value::as_array)
                .is_some_and(|i| !i.is_empty());
            if let Some(key) = key_in(cm).filter(|_| listed) {
                return Place::ConfigMap {
                    name: name_of(cm, "name"),
                    key,
                };
            }
        }
        if let Some(sec) = src.get("secret") {
            return Place::Secret {
                name: name_of(sec, "name"),
            };
        }
    }
    let kind = volume
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "name").cloned())
        .unwrap_or_else(|| "unknown".into());
    Place::Volume { kind }
}

/// Judges the text of kube-apiserver's EncryptionConfiguration or audit policy, read
/// from `holder` (a ConfigMap, `ConfigMap/ns/name`).
#[cfg(feature = "cluster")]
pub(crate) fn judge_file(
    s: &mut Scanner,
    what: ApiserverFile,
    text: &str,
    holder: &str,
    path: &str,
    ignore: &[String],
) {
    let doc = match yaml::parse_stream(text, s.opts.limits) {
        Ok(docs) => docs.into_iter().next().map(|d| d.value),
        Err(e) => {
            s.skip(
                holder,
                format!("kube-apiserver's {} {path}: {e}", what.describe()),
            );
            return;
        }
    };
    let Some(doc) = doc else {
        s.skip(
            holder,
            format!("kube-apiserver's {} {path} is empty", what.describe()),
        );
        return;
    };
    let loc = Loc {
        file: holder,
        kind: match what {
            ApiserverFile::EncryptionConfig => "EncryptionConfiguration",
            ApiserverFile::AuditPolicy => "Policy",
        },
        namespace: None,
        name: path,
        ignore,
    };
    match what {
        ApiserverFile::EncryptionConfig => {
            let keys = format!(
                "an encryption key is written inline in {holder}: whoever may read that ConfigMap can decrypt etcd; use a KMS v2 provider (`ksec kms serve`)"
            );
            encryption_config(s, &doc, &loc, &|_| Pos::default(), Some(&keys));
        }
        ApiserverFile::AuditPolicy => {
            audit_policy_value(s, &doc, &loc, &|_| Pos::default(), "");
        }
    }
}

#[cfg(all(test, feature = "cluster"))]
mod cluster_tests {
    use super::*;
    use serde_json::json;

    fn pod(volumes: Value, mounts: Value, command: Value) -> Value {
        json!({"spec": {"containers": [
            {"name": "sidecar", "command": ["sleep"]},
            {"name": "kube-apiserver", "command": command, "volumeMounts": mounts}],
            "volumes": volumes}})
    }

    #[test]
    fn flags_name_the_files_in_both_spellings() {
        let p = pod(
            json!([]),
            json!([]),
            json!(["/usr/local/bin/kube-apiserver", "--encryption-provider-config=/e.yaml",
                   "--audit-policy-file", "/a.yaml", "--audit-log-path=-"]),
        );
        assert_eq!(
            apiserver_files(&p),
            vec![
                (ApiserverFile::EncryptionConfig, "/e.yaml".to_string()),
                (ApiserverFile::AuditPolicy, "/a.yaml".to_string())
            ]
        );
        let none = pod(json!([]), json!([]), json!(["kube-apiserver"]));
        assert!(apiserver_files(&none).is_empty());
        assert!(!runs_apiserver(&json!({"spec": {"containers": [{"name": "x", "command": ["nginx"]}]}})));
    }

    #[test]
    fn files_are_located_on_their_volume() {
        let cmd = json!(["kube-apiserver"]);
        let volumes = json!([
            {"name": "host", "hostPath": {"path": "/srv/k8s"}},
            {"name": "cm", "configMap": {"name": "files"}},
            {"name": "cm-items", "configMap": {"name": "mapped", "items": [{"key": "enc", "path": "x/enc.yaml"}]}},
            {"name": "sec", "secret": {"secretName": "enc-config"}},
            {"name": "proj", "projected": {"sources": [
                {"configMap": {"name": "p", "items": [{"key": "pol", "path": "policy.yaml"}]}},
                {"secret": {"name": "psec"}}]}},
            {"name": "scratch", "emptyDir": {}}
        ]);
        let mounts = json!([
            {"name": "host", "mountPath": "/etc/kubernetes"},
            {"name": "cm", "mountPath": "/etc/kubernetes/cm/"},
            {"name": "cm-items", "mountPath": "/etc/mapped"},
            {"name": "cm", "mountPath": "/etc/one.yaml", "subPath": "one"},
            {"name": "sec", "mountPath": "/etc/secret"},
            {"name": "proj", "mountPath": "/etc/proj"},
            {"name": "scratch", "mountPath": "/tmp"}
        ]);
        let p = pod(volumes, mounts, cmd);
        assert_eq!(locate(&p, "/etc/kubernetes/enc/c.yaml"), Place::HostPath { path: "/srv/k8s/enc/c.yaml".into() });
        // The longest mount wins.
        assert_eq!(locate(&p, "/etc/kubernetes/cm/enc.yaml"), Place::ConfigMap { name: "files".into(), key: "enc.yaml".into() });
        assert_eq!(locate(&p, "/etc/mapped/x/enc.yaml"), Place::ConfigMap { name: "mapped".into(), key: "enc".into() });
        assert_eq!(locate(&p, "/etc/one.yaml"), Place::ConfigMap { name: "files".into(), key: "one".into() });
        assert_eq!(locate(&p, "/etc/secret/enc.yaml"), Place::Secret { name: "enc-config".into() });
        assert_eq!(locate(&p, "/etc/proj/policy.yaml"), Place::ConfigMap { name: "p".into(), key: "pol".into() });
        assert_eq!(locate(&p, "/etc/proj/other.yaml"), Place::Secret { name: "psec".into() });
        assert_eq!(locate(&p, "/tmp/enc.yaml"), Place::Volume { kind: "emptyDir".into() });
        assert_eq!(locate(&p, "/opt/enc.yaml"), Place::Image);
        // A mount path is a directory boundary: /etc/kubernetes-other is not under /etc/kubernetes.
        assert_eq!(locate(&p, "/etc/kubernetes-other/enc.yaml"), Place::Image);
    }
}
