//! The API resources the fake serves, and the discovery documents kubectl and kube-rs read
//! before they call them (`/api`, `/apis`, `/api/v1`, `/apis/GROUP/VERSION`, `/version`).
//!
//! The store keeps any resource a request names; this table only says which ones are
//! advertised, which are cluster-scoped, and how a `kind` maps to its resource.

use serde_json::{json, Value};

/// One API resource, as its discovery entry describes it.
pub(super) struct Resource {
    /// The API group, `""` for the core group.
    pub(super) group: &'static str,
    pub(super) version: &'static str,
    pub(super) plural: &'static str,
    pub(super) singular: &'static str,
    pub(super) kind: &'static str,
    pub(super) namespaced: bool,
    pub(super) short_names: &'static [&'static str],
    /// Subresources served (`status`; `scale` is advertised only).
    pub(super) subresources: &'static [&'static str],
    /// Categories (`all`: what `kubectl get all` lists).
    pub(super) categories: &'static [&'static str],
}

impl Resource {
    /// The store's name for it: `core/secrets`, `apps/deployments`, ….
    pub(super) fn key(&self) -> String {
        key(self.group, self.plural)
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The store's name for resource `plural` of `group` (`""` or `"core"` for the core group).
pub(super) fn key(group: &str, plural: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    format!("{group}/{plural}")
}

macro_rules! resources {
    ($( $group:literal $version:literal $plural:literal $singular:literal $kind:literal
        $namespaced:literal [$($short:literal),*] [$($sub:literal),*] [$($cat:literal),*] ;)*) => {
        &[$( Resource {
            group: $group, version: $version, plural: $plural, singular: $singular,
            kind: $kind, namespaced: $namespaced, short_names: &[$($short),*],
            subresources: &[$($sub),*], categories: &[$($cat),*],
        } ),*]
    };
}

/// Every resource the fake advertises.
pub(super) const RESOURCES: &[Resource] = resources! {
    "" "v1" "namespaces" "namespace" "Namespace" false ["ns"] ["status"] [];
    "" "v1" "nodes" "node" "Node" false ["no"] ["status"] [];
    "" "v1" "persistentvolumes" "persistentvolume" "PersistentVolume" false ["pv"] ["status"] [];
    "" "v1" "secrets" "secret" "Secret" true [] [] [];
    "" "v1" "configmaps" "configmap" "ConfigMap" true ["cm"] [] [];
    "" "v1" "serviceaccounts" "serviceaccount" "ServiceAccount" true ["sa"] [] [];
    "" "v1" "services" "service" "Service" true ["svc"] ["status", "proxy"] ["all"];
    "" "v1" "endpoints" "endpoints" "Endpoints" true ["ep"] [] [];
    "" "v1" "pods" "pod" "Pod" true ["po"] ["status"] ["all"];
    "" "v1" "persistentvolumeclaims" "persistentvolumeclaim" "PersistentVolumeClaim" true ["pvc"] ["status"] [];
    "" "v1" "events" "event" "Event" true ["ev"] [] [];
    "" "v1" "limitranges" "limitrange" "LimitRange" true ["limits"] [] [];
    "" "v1" "resourcequotas" "resourcequota" "ResourceQuota" true ["quota"] ["status"] [];
    "apps" "v1" "deployments" "deployment" "Deployment" true ["deploy"] ["status", "scale"] ["all"];
    "apps" "v1" "statefulsets" "statefulset" "StatefulSet" true ["sts"] ["status", "scale"] ["all"];
    "apps" "v1" "daemonsets" "daemonset" "DaemonSet" true ["ds"] ["status"] ["all"];
    "apps" "v1" "replicasets" "replicaset" "ReplicaSet" true ["rs"] ["status", "scale"] ["all"];
    "batch" "v1" "jobs" "job" "Job" true [] ["status"] ["all"];
    "batch" "v1" "cronjobs" "cronjob" "CronJob" true ["cj"] ["status"] ["all"];
    "rbac.authorization.k8s.io" "v1" "roles" "role" "Role" true [] [] [];
    "rbac.authorization.k8s.io" "v1" "rolebindings" "rolebinding" "RoleBinding" true [] [] [];
    "rbac.authorization.k8s.io" "v1" "clusterroles" "clusterrole" "ClusterRole" false [] [] [];
    "rbac.authorization.k8s.io" "v1" "clusterrolebindings" "clusterrolebinding" "ClusterRoleBinding" false [] [] [];
    "coordination.k8s.io" "v1" "leases" "lease" "Lease" true [] [] [];
    "events.k8s.io" "v1" "events" "event" "Event" true ["ev"] [] [];
    "networking.k8s.io" "v1" "ingresses" "ingress" "Ingress" true ["ing"] ["status"] [];
    "networking.k8s.io" "v1" "networkpolicies" "networkpolicy" "NetworkPolicy" true ["netpol"] [] [];
    "policy" "v1" "poddisruptionbudgets" "poddisruptionbudget" "PodDisruptionBudget" true ["pdb"] ["status"] [];
    "apiextensions.k8s.io" "v1" "customresourcedefinitions" "customresourcedefinition" "CustomResourceDefinition" false ["crd", "crds"] ["status"] [];
    "bitnami.com" "v1alpha1" "sealedsecrets" "sealedsecret" "SealedSecret" true [] ["status"] [];
};

/// The resource stored under `key` (`core/secrets`), if the fake advertises it.
pub(super) fn by_key(key_: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.key() == key_)
}

/// The resource of `kind` in `api_version` (`v1`, `apps/v1`).
pub(super) fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// True for a resource the fake knows to be cluster-scoped (`core/namespaces`, …).
pub(super) fn is_cluster_scoped(key_: &str) -> bool {
    by_key(key_).is_some_and(|r| !r.namespaced)
}

/// The resource's `kind` and `apiVersion` for list responses (`SecretList`, `v1`).
pub(super) fn list_kind(key_: &str) -> (String, String) {
    match by_key(key_) {
        Some(r) => (format!("{}List", r.kind), r.api_version()),
        None => ("List".into(), "v1".into()),
    }
}

const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// The discovery document served at `path`, if it is one.
pub(super) fn document(path: &str) -> Option<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["openapi", "v3"] => Some(openapi_root()),
        ["openapi", "v3", "api", "v1"] => Some(openapi_group_version("", "v1")),
        ["openapi", "v3", "apis", g, v]
            if RESOURCES.iter().any(|r| r.group == *g && r.version == *v) =>
        {
            Some(openapi_group_version(g, v))
        }
        ["version"] => Some(version()),
        ["api"] => Some(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        })),
        ["api", "v1"] => Some(resource_list("", "v1")),
        ["apis"] => Some(json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": groups().iter().map(|g| group(g)).collect::<Vec<_>>(),
        })),
        ["apis", g] if groups().contains(g) => Some(group(g)),
        ["apis", g, v] if RESOURCES.iter().any(|r| r.group == *g && r.version == *v) => {
            Some(resource_list(g, v))
        }
        _ => None,
    }
}

/// The version of Kubernetes the fake claims: the API (k8s-openapi's `v1_33`) it models.
fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// The OpenAPI v3 index: one document per group version.
fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES {
        let key = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        let url = format!("/openapi/v3/{key}");
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// The OpenAPI v3 document of a group version, reduced to what kubectl reads before it
/// writes: each kind's PATCH operation and its `fieldValidation` parameter (so kubectl
/// leaves validation to the server, which does not validate). No schemas, and no request
/// bodies, so `kubectl apply` computes strategic merge patches from its built-in types.
fn openapi_group_version(group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        paths.insert(
            path,
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {},
            }}),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
    })
}

fn groups() -> Vec<&'static str> {
    let mut out: Vec<&str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

fn group(name: &str) -> Value {
    let version = RESOURCES
        .iter()
        .find(|r| r.group == name)
        .map_or("v1", |r| r.version);
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [gv],
        "preferredVersion": gv,
    })
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut entries = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        entries.push(e);
        for sub in r.subresources {
            let (kind, verbs): (&str, &[&str]) = match *sub {
                "scale" => ("Scale", &["get", "patch", "update"]),
                "proxy" => (
                    "ServiceProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                _ => (r.kind, &["get", "patch", "update"]),
            };
            entries.push(json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_their_resources() {
        assert_eq!(
            by_kind("v1", "Secret").map(Resource::key).as_deref(),
            Some("core/secrets")
        );
        assert_eq!(
            by_kind("bitnami.com/v1alpha1", "SealedSecret")
                .map(Resource::key)
                .as_deref(),
            Some("bitnami.com/sealedsecrets")
        );
        assert!(by_kind("apps/v1beta1", "Deployment").is_none());
        assert!(is_cluster_scoped("rbac.authorization.k8s.io/clusterroles"));
        assert!(!is_cluster_scoped("core/secrets"));
        assert!(!is_cluster_scoped("example.com/unknown"));
    }

    #[test]
    fn every_group_is_discoverable() {
        let groups = document("/apis").unwrap();
        for g in groups["groups"].as_array().unwrap() {
            let gv = g["preferredVersion"]["groupVersion"].as_str().unwrap();
            let list = document(&format!("/apis/{gv}")).unwrap();
            assert!(!list["resources"].as_array().unwrap().is_empty(), "{gv}");
        }
        assert!(document("/apis/nothing.example.com/v1").is_none());
    }
}
