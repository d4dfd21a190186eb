//! Rules that join objects: a workload with its service account, a binding with its
//! role. The scanner keeps only these summaries of the objects, not the objects.
use super::rbac::{self, Access};
use crate::finding::Severity;
use crate::rules;
use crate::scanner::{Loc, Obj, Scanner};
use crate::yaml::Pos;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug)]
pub(crate) struct Workload {
    pub file: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub service_account: String,
    pub automount: Option<bool>,
    pub automount_path: String,
    pub pos: Pos,
    pub ignore: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Role {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub rules: Vec<Value>,
}

#[derive(Debug)]
pub(crate) struct Binding {
    pub file: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub role_kind: String,
    pub role_name: String,
    /// (subject, position of `subjects[k]`)
    pub subjects: Vec<(Value, Pos)>,
    pub ignore: Vec<String>,
}

/// Summaries kept until the end of the scan.
#[derive(Debug, Default)]
pub(crate) struct CrossRefs {
    /// (namespace, name) → automountServiceAccountToken
    pub service_accounts: HashMap<(String, String), Option<bool>>,
    pub roles: Vec<Role>,
    pub bindings: Vec<Binding>,
    pub workloads: Vec<Workload>,
}

fn ns_or_default(ns: Option<&str>) -> String {
    ns.filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_string()
}

impl CrossRefs {
    pub(crate) fn add_service_account(&mut self, obj: &Obj<'_>) {
        self.service_accounts.insert(
            (ns_or_default(obj.namespace), obj.name.to_string()),
            obj.value
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool),
        );
    }

    pub(crate) fn add_role(&mut self, obj: &Obj<'_>) {
        self.roles.push(Role {
            kind: obj.kind.to_string(),
            namespace: ns_or_default(obj.namespace),
            name: obj.name.to_string(),
            rules: obj
                .value
                .get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        });
    }

    pub(crate) fn add_binding(&mut self, obj: &Obj<'_>) {
        let role_ref = obj.value.get("roleRef");
        let s = |k: &str| {
            role_ref
                .and_then(|r| r.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let subjects = obj
            .value
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(k, v)| (v.clone(), obj.pos(&format!("subjects[{k}]"))))
            .collect();
        self.bindings.push(Binding {
            file: obj.source.file.clone(),
            kind: obj.kind.to_string(),
            namespace: ns_or_default(obj.namespace),
            name: obj.name.to_string(),
            role_kind: s("kind"),
            role_name: s("name"),
            subjects,
            ignore: obj.ignore.clone(),
        });
    }

    fn role_of(&self, b: &Binding) -> Option<&Role> {
        self.roles.iter().find(|r| {
            r.kind == b.role_kind
                && r.name == b.role_name
                && (r.kind == "ClusterRole" || r.namespace == b.namespace)
        })
    }
}

/// A subject's identity: (kind, namespace for service accounts, name).
type SubjectKey = (String, Option<String>, String);

fn subject_key(subject: &Value, binding_ns: &str) -> Option<SubjectKey> {
    let kind = subject.get("kind")?.as_str()?.to_string();
    let name = subject.get("name")?.as_str()?.to_string();
    let ns = (kind == "ServiceAccount").then(|| {
        subject
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(binding_ns)
            .to_string()
    });
    Some((kind, ns, name))
}

pub(crate) fn run(s: &mut Scanner, refs: &CrossRefs) {
    rbac_by_subject(s, refs);
    workloads(s, refs);
}

struct Grant<'a> {
    binding: &'a Binding,
    subject_pos: Pos,
    role: &'a Role,
    access: Access,
}

fn rbac_by_subject(s: &mut Scanner, refs: &CrossRefs) {
    let mut by_subject: BTreeMap<SubjectKey, Vec<Grant<'_>>> = BTreeMap::new();
    for b in &refs.bindings {
        let Some(role) = refs.role_of(b) else {
            continue;
        };
        let access = rbac::access(&role.rules);
        if access.is_empty() {
            continue;
        }
        for (subject, pos) in &b.subjects {
            if let Some(key) = subject_key(subject, &b.namespace) {
                by_subject.entry(key).or_default().push(Grant {
                    binding: b,
                    subject_pos: *pos,
                    role,
                    access: access.clone(),
                });
            }
        }
    }
    for ((kind, ns, name), grants) in &by_subject {
        let first = &grants[0];
        let related: Vec<String> = grants
            .iter()
            .flat_map(|g| {
                [
                    format!("{}/{}", g.binding.kind, g.binding.name),
                    format!("{}/{}", g.role.kind, g.role.name),
                ]
            })
            .collect();
        let loc = Loc {
            file: &first.binding.file,
            kind,
            namespace: ns.as_deref(),
            name,
            ignore: &first.binding.ignore,
        };
        let read = grants
            .iter()
            .filter_map(|g| g.access.read.map(|sev| (g, sev)))
            .max_by_key(|(_, sev)| *sev);
        if let Some((g, sev)) = read {
            let path = format!("subjects[{}]", subject_index(g.binding, kind, name));
            let how = &g.access.read_how;
            s.emit(
                &rules::RBAC_SECRETS,
                sev,
                &Loc {
                    file: &g.binding.file,
                    ..loc
                },
                &path,
                g.subject_pos,
                format!(
                    "{kind} {name} can {how} through {} {} → {} {}",
                    g.binding.kind, g.binding.name, g.role.kind, g.role.name
                ),
                related.clone(),
            );
        }
        let indirect: Vec<&str> = grants
            .iter()
            .flat_map(|g| g.access.indirect.iter().map(String::as_str))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !indirect.is_empty() {
            let path = format!("subjects[{}]", subject_index(first.binding, kind, name));
            s.emit(
                &rules::RBAC_INDIRECT,
                rules::RBAC_INDIRECT.severity,
                &loc,
                &path,
                first.subject_pos,
                format!(
                    "{kind} {name} can reach Secret values through {}",
                    indirect.join(", ")
                ),
                related,
            );
        }
    }
}

fn subject_index(b: &Binding, kind: &str, name: &str) -> usize {
    b.subjects
        .iter()
        .position(|(v, _)| {
            v.get("kind").and_then(Value::as_str) == Some(kind)
                && v.get("name").and_then(Value::as_str) == Some(name)
        })
        .unwrap_or(0)
}

fn workloads(s: &mut Scanner, refs: &CrossRefs) {
    for w in &refs.workloads {
        let ns = ns_or_default(w.namespace.as_deref());
        let sa = refs
            .service_accounts
            .get(&(ns.clone(), w.service_account.clone()));
        // The pod's setting wins; unset, the service account's; unset, Kubernetes mounts.
        let mounted = match w.automount {
            Some(b) => b,
            None => !matches!(sa, Some(Some(false))),
        };
        if !mounted {
            continue;
        }
        let loc = Loc {
            file: &w.file,
            kind: &w.kind,
            namespace: w.namespace.as_deref(),
            name: &w.name,
            ignore: &w.ignore,
        };
        let why = match (w.automount, sa) {
            (Some(true), _) => "the pod sets automountServiceAccountToken: true".to_string(),
            (_, Some(_)) => format!("neither the pod nor service account {} disables automountServiceAccountToken", w.service_account),
            _ => format!("the pod does not disable automountServiceAccountToken (service account {} not among the inputs)", w.service_account),
        };
        s.emit(
            &rules::SA_TOKEN_MOUNT,
            rules::SA_TOKEN_MOUNT.severity,
            &loc,
            &w.automount_path,
            w.pos,
            format!("{} {} gets a service account token: {why}", w.kind, w.name),
            vec![],
        );
        // C-0267: the mounted token can take over the cluster.
        let takeover = refs.bindings.iter().find_map(|b| {
            let bound = b.subjects.iter().any(|(sub, _)| {
                sub.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && sub.get("name").and_then(Value::as_str) == Some(w.service_account.as_str())
                    && sub
                        .get("namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(&b.namespace)
                        == ns
            });
            if !bound {
                return None;
            }
            let role = refs.role_of(b)?;
            rbac::takeover(&role.rules).then_some((b, role))
        });
        if let Some((b, role)) = takeover {
            s.emit(
                &rules::WORKLOAD_TAKEOVER,
                Severity::High,
                &loc,
                &w.automount_path,
                w.pos,
                format!(
                    "{} {} mounts the token of service account {}, which {} {} → {} {} lets create pods or read Secrets",
                    w.kind, w.name, w.service_account, b.kind, b.name, role.kind, role.name
                ),
                vec![format!("{}/{}", b.kind, b.name), format!("{}/{}", role.kind, role.name)],
            );
        }
    }
}
