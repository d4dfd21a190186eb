//! kube-apiserver's own files seen from the API (feature `cluster`): which files its
//! flags name, the volume each lives on (only a ConfigMap's can be read through the API;
//! a node's file or a Secret's cannot, or may not), and judging their text with the rules
//! of [`super::controlplane`].
use super::controlplane::{apiserver_container, audit_policy_value, encryption_config, flags_of};
use crate::scanner::{Loc, Scanner};
use crate::yaml::{self, Pos};
use serde_json::Value;

/// A pod that runs kube-apiserver.
pub(crate) fn runs_apiserver(pod: &Value) -> bool {
    apiserver_container(pod).is_some()
}

/// A file kube-apiserver reads, named by one of its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiserverFile {
    /// `--encryption-provider-config`.
    EncryptionConfig,
    /// `--audit-policy-file`.
    AuditPolicy,
}

impl ApiserverFile {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ApiserverFile::EncryptionConfig => "EncryptionConfiguration",
            ApiserverFile::AuditPolicy => "audit policy",
        }
    }
}

/// The value of `--flag=value` or `--flag value`.
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
pub(crate) fn apiserver_files(pod: &Value) -> Vec<(ApiserverFile, String)> {
    let Some((_, c)) = apiserver_container(pod) else {
        return vec![];
    };
    let flags = flags_of(c);
    [
        (
            ApiserverFile::EncryptionConfig,
            "--encryption-provider-config",
        ),
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
        .filter(|m| {
            m.get("mountPath")
                .and_then(Value::as_str)
                .is_some_and(under)
        })
        .max_by_key(|m| {
            m.get("mountPath")
                .and_then(Value::as_str)
                .map_or(0, str::len)
        });
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

#[cfg(test)]
mod tests {
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
            json!([
                "/usr/local/bin/kube-apiserver",
                "--encryption-provider-config=/e.yaml",
                "--audit-policy-file",
                "/a.yaml",
                "--audit-log-path=-"
            ]),
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
        assert!(!runs_apiserver(
            &json!({"spec": {"containers": [{"name": "x", "command": ["nginx"]}]}})
        ));
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
        assert_eq!(
            locate(&p, "/etc/kubernetes/enc/c.yaml"),
            Place::HostPath {
                path: "/srv/k8s/enc/c.yaml".into()
            }
        );
        // The longest mount wins.
        assert_eq!(
            locate(&p, "/etc/kubernetes/cm/enc.yaml"),
            Place::ConfigMap {
                name: "files".into(),
                key: "enc.yaml".into()
            }
        );
        assert_eq!(
            locate(&p, "/etc/mapped/x/enc.yaml"),
            Place::ConfigMap {
                name: "mapped".into(),
                key: "enc".into()
            }
        );
        assert_eq!(
            locate(&p, "/etc/one.yaml"),
            Place::ConfigMap {
                name: "files".into(),
                key: "one".into()
            }
        );
        assert_eq!(
            locate(&p, "/etc/secret/enc.yaml"),
            Place::Secret {
                name: "enc-config".into()
            }
        );
        assert_eq!(
            locate(&p, "/etc/proj/policy.yaml"),
            Place::ConfigMap {
                name: "p".into(),
                key: "pol".into()
            }
        );
        assert_eq!(
            locate(&p, "/etc/proj/other.yaml"),
            Place::Secret {
                name: "psec".into()
            }
        );
        assert_eq!(
            locate(&p, "/tmp/enc.yaml"),
            Place::Volume {
                kind: "emptyDir".into()
            }
        );
        assert_eq!(locate(&p, "/opt/enc.yaml"), Place::Image);
        // A mount path is a directory boundary: /etc/kubernetes-other is not under /etc/kubernetes.
        assert_eq!(locate(&p, "/etc/kubernetes-other/enc.yaml"), Place::Image);
    }
}
