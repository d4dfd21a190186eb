//! Where kube-apiserver keeps a resource in etcd: `PREFIX/<resource prefix>/[NAMESPACE/]NAME`.
//!
//! Two storage factories decide the resource prefix (read from kubernetes'
//! `pkg/kubeapiserver/default_storage_factory_builder.go` and
//! `k8s.io/apiserver/pkg/server/storage/storage_factory.go`):
//! - the resources kube-apiserver serves itself (the core group and its built-in API
//!   groups) are stored under the resource name alone, lower-cased, with no group:
//!   `deployments.apps` lives under `/registry/deployments/`. A resource that cohabits
//!   with another group's (`deployments.extensions` with `deployments.apps`) uses the
//!   storage of the first of them, and a few carry a historical prefix
//!   (`services` → `services/specs`, `nodes` → `minions`, …).
//! - custom resources, `customresourcedefinitions.apiextensions.k8s.io` and
//!   `apiservices.apiregistration.k8s.io` are stored by the apiextensions and aggregator
//!   servers as `GROUP/RESOURCE`: `/registry/example.com/widgets/`.

/// The API groups kube-apiserver stores with its own storage factory (the groups of
/// its legacy scheme, including ones since removed, so that old snapshots read
/// right). `apiextensions.k8s.io` and `apiregistration.k8s.io` are not among them:
/// their servers store by `GROUP/RESOURCE`, as for custom resources.
const BUILT_IN_GROUPS: &[&str] = &[
    "admissionregistration.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "settings.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Resources kept in another group's storage (`AddCohabitatingResources`): the first
/// group of each entry is the one whose storage is used when both are served.
const COHABITING: &[(&str, [&str; 2])] = &[
    ("networkpolicies", ["networking.k8s.io", "extensions"]),
    ("deployments", ["apps", "extensions"]),
    ("daemonsets", ["apps", "extensions"]),
    ("replicasets", ["apps", "extensions"]),
    ("events", ["", "events.k8s.io"]),
    ("replicationcontrollers", ["", "extensions"]),
    ("podsecuritypolicies", ["policy", "extensions"]),
    ("ingresses", ["networking.k8s.io", "extensions"]),
];

/// Prefixes compiled into kube-apiserver (`SpecialDefaultResourcePrefixes`); the
/// PodSecurityPolicy one until PodSecurityPolicy was removed (1.25).
const SPECIAL_PREFIXES: &[((&str, &str), &str)] = &[
    (("", "replicationcontrollers"), "controllers"),
    (("", "endpoints"), "services/endpoints"),
    (("", "nodes"), "minions"),
    (("", "services"), "services/specs"),
    (("extensions", "ingresses"), "ingress"),
    (("networking.k8s.io", "ingresses"), "ingress"),
    (("extensions", "podsecuritypolicies"), "podsecuritypolicy"),
    (("policy", "podsecuritypolicies"), "podsecuritypolicy"),
];

/// The etcd key prefix (ending in `/`) under which kube-apiserver, started with
/// `--etcd-prefix` `prefix`, stores `resource`: `secrets` or `RESOURCE.GROUP`, as an
/// EncryptionConfiguration names it (`deployments.apps`, `widgets.example.com`).
///
/// ```
/// use ksec_etcd::registry::resource_prefix;
/// assert_eq!(resource_prefix("/registry", "secrets"), "/registry/secrets/");
/// assert_eq!(resource_prefix("/registry", "deployments.apps"), "/registry/deployments/");
/// assert_eq!(resource_prefix("/registry", "widgets.example.com"), "/registry/example.com/widgets/");
/// ```
pub fn resource_prefix(prefix: &str, resource: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    let resource = resource.to_lowercase();
    let (name, group) = resource.split_once('.').unwrap_or((&resource, ""));
    if !group.is_empty() && !BUILT_IN_GROUPS.contains(&group) {
        return format!("{prefix}/{group}/{name}/");
    }
    let group = COHABITING
        .iter()
        .find(|(r, groups)| *r == name && groups.contains(&group))
        .map_or(group, |(_, groups)| groups[0]);
    let stored = SPECIAL_PREFIXES
        .iter()
        .find(|(gr, _)| *gr == (group, name))
        .map_or(name, |(_, p)| p);
    format!("{prefix}/{stored}/")
}
