//! What a role's rules let a subject do with Secrets: read them directly (C-0015 /
//! C-0186, honouring `resourceNames`), or reach them another way (ksec only).
use crate::finding::Severity;
use serde_json::Value;

/// The Secret access a set of rules grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Access {
    /// Direct read: high for unnamed list/watch, medium for unnamed get, low when
    /// limited to named Secrets.
    pub read: Option<Severity>,
    /// How, in words ("list and watch all Secrets").
    pub read_how: String,
    /// Indirect ways ("create pods", "exec into pods", …).
    pub indirect: Vec<String>,
}

impl Access {
    pub(crate) fn is_empty(&self) -> bool {
        self.read.is_none() && self.indirect.is_empty()
    }
}

fn strings<'a>(rule: &'a Value, key: &str) -> Vec<&'a str> {
    rule.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn any_of(have: &[&str], want: &[&str]) -> bool {
    have.iter().any(|h| want.contains(h))
}

/// Computes the access of `rules`.
pub(crate) fn access(rules: &[Value]) -> Access {
    let mut a = Access::default();
    let mut hows: Vec<String> = vec![];
    let indirect = |what: &str, a: &mut Access| {
        if !a.indirect.iter().any(|w| w == what) {
            a.indirect.push(what.to_string());
        }
    };
    for rule in rules {
        let groups = strings(rule, "apiGroups");
        let resources = strings(rule, "resources");
        let verbs = strings(rule, "verbs");
        let names = strings(rule, "resourceNames");
        let core = any_of(&groups, &["", "*"]);
        let all_verbs = verbs.contains(&"*");
        let wildcard_resources = resources.contains(&"*");
        if core && any_of(&resources, &["secrets", "*"]) {
            let reading: Vec<&str> = verbs
                .iter()
                .copied()
                .filter(|v| matches!(*v, "get" | "list" | "watch" | "*"))
                .collect();
            if !reading.is_empty() {
                let sev = if !names.is_empty() {
                    Severity::Low
                } else if reading.iter().any(|v| *v != "get") {
                    Severity::High
                } else {
                    Severity::Medium
                };
                let target = if names.is_empty() {
                    "all Secrets".to_string()
                } else {
                    format!("the Secrets named {}", names.join(", "))
                };
                hows.push(format!("{} {target}", reading.join("/")));
                if a.read.is_none_or(|s| sev > s) {
                    a.read = Some(sev);
                }
            }
        }
        let creates = all_verbs || verbs.contains(&"create");
        if core && creates && any_of(&resources, &["pods", "*"]) {
            indirect(
                "create pods (which mount any Secret of their namespace)",
                &mut a,
            );
        }
        if any_of(&groups, &["apps", "batch", "*"])
            && creates
            && any_of(
                &resources,
                &[
                    "deployments",
                    "daemonsets",
                    "statefulsets",
                    "replicasets",
                    "jobs",
                    "cronjobs",
                    "*",
                ],
            )
        {
            indirect(
                "create workloads (whose pods mount any Secret of their namespace)",
                &mut a,
            );
        }
        if core
            && (creates || verbs.contains(&"get"))
            && any_of(&resources, &["pods/exec", "pods/attach"])
        {
            indirect("exec into pods", &mut a);
        }
        if (all_verbs || verbs.contains(&"impersonate"))
            && any_of(&resources, &["users", "groups", "serviceaccounts", "*"])
        {
            indirect("impersonation", &mut a);
        }
        if any_of(&groups, &["rbac.authorization.k8s.io", "*"])
            && (all_verbs || any_of(&verbs, &["escalate", "bind"]))
            && any_of(&resources, &["roles", "clusterroles", "*"])
        {
            indirect("escalate/bind roles", &mut a);
        }
        if core && creates && any_of(&resources, &["serviceaccounts/token"]) {
            indirect("create service account tokens", &mut a);
        }
        if wildcard_resources && all_verbs {
            indirect("wildcard rules (every verb on every resource)", &mut a);
        }
    }
    a.read_how = hows.join("; ");
    a
}

/// kubescape's cluster-takeover test (C-0267): create/update/patch pods, or read Secrets.
pub(crate) fn takeover(rules: &[Value]) -> bool {
    rules.iter().any(|rule| {
        let groups = strings(rule, "apiGroups");
        let resources = strings(rule, "resources");
        let verbs = strings(rule, "verbs");
        any_of(&groups, &["", "*"])
            && ((any_of(&resources, &["pods", "*"])
                && any_of(&verbs, &["create", "update", "patch", "*"]))
                || (any_of(&resources, &["secrets", "*"])
                    && any_of(&verbs, &["get", "list", "watch", "*"])))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_names_lower_the_severity() {
        let named = access(&[
            json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["db"]}),
        ]);
        assert_eq!(named.read, Some(Severity::Low));
        let get = access(&[json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})]);
        assert_eq!(get.read, Some(Severity::Medium));
        let list =
            access(&[json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]})]);
        assert_eq!(list.read, Some(Severity::High));
        let other =
            access(&[json!({"apiGroups": ["apps"], "resources": ["secrets"], "verbs": ["list"]})]);
        assert!(other.is_empty());
    }

    #[test]
    fn indirect_paths() {
        let a = access(&[
            json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}),
            json!({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}),
            json!({"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}),
            json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}),
        ]);
        assert_eq!(a.read, None);
        assert_eq!(a.indirect.len(), 4, "{:?}", a.indirect);
        assert!(takeover(&[
            json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["patch"]})
        ]));
        assert!(!takeover(&[
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]})
        ]));
    }
}
