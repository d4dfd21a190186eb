//! What each rule is given as `input`, as kubescape's opa-utils builds it: the objects
//! its `rule.metadata.json` selects (`match` and `dynamicMatch`: API groups, versions and
//! kinds), then turned by its `resourcesAggregator` into subject vectors
//! (`subject-role-rolebinding`) or kube-apiserver's pod alone (`apiserver-pod`). A rule
//! whose selection is empty is not run, as kubescape does not run it. For kubescape's own
//! data groups (`hostdata.kubescape.cloud`) only the group and version are compared. For kubescape's own
//! data groups (`hostdata.kubescape.cloud`) only the group and version are compared. Plain `.rego` files
//! have no metadata and get every object.
use serde_json::{json, Value};

/// One `match` entry; `*` matches anything.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Match {
    groups: Vec<String>,
    versions: Vec<String>,
    kinds: Vec<String>,
}

/// How the selected objects become the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Aggregate {
    /// The objects themselves.
    Objects,
    /// One subject vector per subject of each binding (with its binding and role).
    Subjects,
    /// The first kube-apiserver pod in `kube-system`.
    ApiserverPod,
}

/// What one rule is given; rules with equal selections share one input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Selection {
    /// `None`: every object (no metadata).
    matches: Option<Vec<Match>>,
    aggregate: Aggregate,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

impl Selection {
    /// Every object, as it is: a plain `.rego` file.
    pub(super) fn everything() -> Self {
        Selection {
            matches: None,
            aggregate: Aggregate::Objects,
        }
    }

    /// The selection a `rule.metadata.json` describes.
    pub(super) fn of_metadata(meta: &Value) -> Self {
        let aggregate = match meta
            .pointer("/attributes/resourcesAggregator")
            .and_then(Value::as_str)
        {
            Some("subject-role-rolebinding") => Aggregate::Subjects,
            Some("apiserver-pod") => Aggregate::ApiserverPod,
            _ => Aggregate::Objects,
        };
        let matches: Vec<Match> = ["match", "dynamicMatch"]
            .iter()
            .flat_map(|k| meta.get(*k).and_then(Value::as_array).into_iter().flatten())
            .map(|m| Match {
                groups: strings(m.get("apiGroups")),
                versions: strings(m.get("apiVersions")),
                kinds: strings(m.get("resources")),
            })
            .collect();
        Selection {
            matches: (!matches.is_empty()).then_some(matches),
            aggregate,
        }
    }

    fn selects(&self, o: &Value) -> bool {
        let Some(matches) = &self.matches else {
            return true;
        };
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let api = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
        let any = |list: &[String], x: &str| list.iter().any(|s| s == "*" || s == x);
        // kubescape's own groups (host sensor, cloud data) name data types, not the kind
        // of the object that carries them (`APIServerInfo` is in a `ControlPlaneInfo`).
        let own_group = group.ends_with(".kubescape.cloud");
        matches.iter().any(|m| {
            (own_group || any(&m.kinds, kind)) && any(&m.groups, group) && any(&m.versions, version)
        })
    }

    /// The input of a rule with this selection; `None` when it has nothing to judge
    /// (only for rules with metadata: a plain rule runs on an empty input too).
    pub(super) fn input(&self, objects: &[Value]) -> Option<Vec<Value>> {
        let selected: Vec<&Value> = objects.iter().filter(|o| self.selects(o)).collect();
        let input: Vec<Value> = match self.aggregate {
            Aggregate::Objects => selected.into_iter().cloned().collect(),
            Aggregate::Subjects => subject_vectors(&selected),
            Aggregate::ApiserverPod => selected
                .into_iter()
                .find(|o| is_apiserver_pod(o))
                .cloned()
                .into_iter()
                .collect(),
        };
        (self.matches.is_none() || !input.is_empty()).then_some(input)
    }
}

/// kubescape's test: a Pod in `kube-system` named like kube-apiserver.
fn is_apiserver_pod(o: &Value) -> bool {
    let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("");
    s("/kind") == "Pod"
        && s("/metadata/namespace") == "kube-system"
        && (s("/metadata/name").contains("apiserver") || s("/metadata/name").contains("api-server"))
}

/// kubescape's subject vectors: each subject of each binding, with the binding and its
/// role as `relatedObjects`.
fn subject_vectors(objects: &[&Value]) -> Vec<Value> {
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut out = vec![];
    for b in objects
        .iter()
        .copied()
        .filter(|o| s(o, "/kind").ends_with("Binding"))
    {
        let (rk, rn) = (s(b, "/roleRef/kind"), s(b, "/roleRef/name"));
        let Some(role) = objects.iter().copied().find(|o| {
            s(o, "/kind") == rk
                && s(o, "/metadata/name") == rn
                && (rk == "ClusterRole"
                    || s(o, "/metadata/namespace") == s(b, "/metadata/namespace"))
        }) else {
            continue;
        };
        for subj in b
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut v = subj.clone();
            v["relatedObjects"] = json!([b, role]);
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(text: &str) -> Selection {
        Selection::of_metadata(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_rule_gets_the_objects_its_match_selects() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        ];
        let workloads = meta(
            r#"{"match": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["Pod"]},
            {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["Deployment"]}]}"#,
        );
        let names = |input: Vec<Value>| -> Vec<String> {
            input
                .iter()
                .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(workloads.input(&objects).unwrap()), ["p", "d"]);
        let any_cm = meta(
            r#"{"match": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["ConfigMap"]}]}"#,
        );
        assert_eq!(names(any_cm.input(&objects).unwrap()), ["c"]);
        let secrets = meta(
            r#"{"match": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["Secret"]}]}"#,
        );
        assert_eq!(secrets.input(&objects), None, "nothing to judge: not run");
        assert_eq!(Selection::everything().input(&objects).unwrap().len(), 3);
        assert_eq!(Selection::everything().input(&[]), Some(vec![]));
    }

    #[test]
    fn the_apiserver_pod_aggregator_gives_kube_apiserver_alone() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api", "namespace": "shop"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system"}}),
        ];
        let rule = meta(
            r#"{"attributes": {"resourcesAggregator": "apiserver-pod"},
            "match": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["Pod"]}]}"#,
        );
        let input = rule.input(&objects).unwrap();
        assert_eq!(input.len(), 1);
        assert_eq!(input[0]["metadata"]["name"], "kube-apiserver-cp1");
        assert_eq!(rule.input(&objects[..1]), None);
    }

    #[test]
    fn the_subject_aggregator_gives_subject_vectors_alone() {
        let objects = [
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "r", "namespace": "shop"}, "rules": []}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "b", "namespace": "shop"},
                   "roleRef": {"kind": "Role", "name": "r"},
                   "subjects": [{"kind": "User", "name": "jane"}, {"kind": "Group", "name": "ops"}]}),
        ];
        let rule = meta(
            r#"{"attributes": {"resourcesAggregator": "subject-role-rolebinding"},
            "match": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["Role", "RoleBinding"]}]}"#,
        );
        let input = rule.input(&objects).unwrap();
        assert_eq!(input.len(), 2);
        assert_eq!(input[0]["name"], "jane");
        assert_eq!(input[1]["relatedObjects"][0]["kind"], "RoleBinding");
        assert_eq!(input[1]["relatedObjects"][1]["kind"], "Role");
    }
}
