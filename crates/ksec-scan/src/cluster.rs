//! A live cluster as an input (feature `cluster`): the objects the rules judge, read
//! through the Kubernetes API with the kubeconfig's credentials, page by page, and handed
//! to [`Scanner::scan_objects`] one at a time, so every rule runs as it does on files.
//!
//! What is read: workloads (CronJobs, Deployments, StatefulSets, DaemonSets, Jobs,
//! ReplicaSets, Pods), ServiceAccounts, Roles, RoleBindings, ClusterRoles,
//! ClusterRoleBindings, ConfigMaps, SealedSecrets when their CRD is installed, and Secrets
//! **as metadata only** (`PartialObjectMetadataList`: names, labels, annotations; never
//! `data`). Then kube-apiserver's pod in `kube-system`: its flags are judged like a static
//! pod manifest, and the EncryptionConfiguration and audit policy it names are read when
//! the API serves them (a file from a ConfigMap volume); a file on the node (`hostPath`),
//! which the API does not serve, or in a Secret, which ksec does not read, gets a note.
//!
//! Findings name the object (`Deployment/shop/api`, `ClusterRole/reader`) where a file
//! scan names the file. Three differences from scanning the same manifests as files, each
//! because the live object is not a manifest someone wrote:
//! - a Secret in the cluster is where Secrets belong (and ksec never reads its data), so
//!   `KSEC-SECRET-PLAINTEXT` does not apply;
//! - objects a scanned controller made (the ReplicaSets of a Deployment, the Pods of a
//!   ReplicaSet, StatefulSet, DaemonSet or Job, the Jobs of a CronJob) are judged through
//!   that controller's template, once, instead of once per copy;
//! - kubectl's `last-applied-configuration` annotation (a copy of the object as last
//!   applied, with a Secret's values in it) is dropped unread, and so are `managedFields`;
//!   bindings the API server itself maintains (label `kubernetes.io/bootstrapping:
//!   rbac-defaults`, restored at every start) are not judged, while the roles they name
//!   are still known to the bindings a team wrote.
//!
//! A list the credentials may not read (403) is reported as skipped and the scan goes on;
//! credentials the server refuses (401) and a server that cannot be reached end it.
//!
//! With the `rego` feature, policies given to `Scanner::add_policy` run once the lists
//! are read, on the objects judged (kept up to the policies' object limit), through the
//! same evaluation as a file's objects (the `policy` module).
use crate::checks::{apiserver_files, IGNORE_ANNOTATION};
use crate::error::{Error, Result};
use crate::scanner::Scanner;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Which part of the cluster to read.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Read namespaced objects from this namespace only; `None`: every namespace.
    /// Cluster-scoped RBAC and kube-apiserver's pod in `kube-system` are read either way.
    pub namespace: Option<String>,
    /// Objects per list request (the API server pages larger lists).
    pub page_size: u32,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            namespace: None,
            page_size: 500,
        }
    }
}

/// How a resource is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Whole objects.
    Full,
    /// `PartialObjectMetadata` only (Secrets).
    Metadata,
}

struct Resource {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    read: Read,
    /// A CRD that may not be installed: a 404 is a note, not a skipped input.
    optional: bool,
    /// Its Pods, ReplicaSets or Jobs are judged through it.
    controller: bool,
}

const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        namespaced,
        read: Read::Full,
        optional: false,
        controller: false,
    }
}

const fn controller(r: Resource) -> Resource {
    Resource {
        controller: true,
        ..r
    }
}

/// Controllers come before what they make, so a copy can be recognised by its owner.
const RESOURCES: &[Resource] = &[
    controller(res("batch", "v1", "CronJob", "cronjobs", true)),
    controller(res("apps", "v1", "Deployment", "deployments", true)),
    controller(res("apps", "v1", "StatefulSet", "statefulsets", true)),
    controller(res("apps", "v1", "DaemonSet", "daemonsets", true)),
    controller(res("batch", "v1", "Job", "jobs", true)),
    controller(res("apps", "v1", "ReplicaSet", "replicasets", true)),
    res("", "v1", "Pod", "pods", true),
    res("", "v1", "ServiceAccount", "serviceaccounts", true),
    res("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    res("", "v1", "ConfigMap", "configmaps", true),
    Resource {
        read: Read::Metadata,
        ..res("", "v1", "Secret", "secrets", true)
    },
    Resource {
        optional: true,
        ..res(
            "bitnami.com",
            "v1alpha1",
            "SealedSecret",
            "sealedsecrets",
            true,
        )
    },
];

/// Where Pods are in [`RESOURCES`].
const PODS: usize = 6;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const BOOTSTRAPPING: &str = "kubernetes.io/bootstrapping";

impl Resource {
    fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// `Deployment/shop/api`, `ClusterRole/reader`: what a finding names instead of a file.
pub fn object_id(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace.filter(|n| !n.is_empty()) {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// What one cluster scan keeps between lists: uids of the controllers judged (their
/// copies are skipped), kube-apiserver pods, counts for the notes.
#[derive(Default)]
struct Walk {
    controllers: HashSet<String>,
    apiservers: Vec<Value>,
    copies: usize,
    defaults: usize,
    secrets: usize,
    /// The objects judged, kept for the Rego policies (feature `rego`) up to one past
    /// their object limit: enough for the evaluation to refuse them, never more.
    #[cfg(feature = "rego")]
    judged: Vec<Value>,
    #[cfg(feature = "rego")]
    keep: usize,
}

/// A list request's answer, one page.
enum Page {
    Items(Vec<Value>, Option<String>),
    /// Not read; the reason is recorded.
    Refused,
}

fn meta_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get(key)?.as_str()
}

/// The uid of the controller that made this object, if it names one.
fn controller_uid(v: &Value) -> Option<&str> {
    v.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

/// Drops what is not the object's own content: kubectl's copy of the last applied
/// object (for a Secret, its values) and the field managers.
fn trim(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(LAST_APPLIED);
        }
    }
}

impl Scanner {
    /// Resolves the kubeconfig, context and credentials of `kube` (with
    /// `options.namespace` as its namespace) and scans that cluster as
    /// [`Scanner::scan_cluster`] does. A kubeconfig that cannot be used is
    /// [`Error::Cluster`].
    pub async fn scan_kubeconfig(
        &mut self,
        kube: &ksec_kube::KubeOptions,
        options: &ClusterOptions,
    ) -> Result<()> {
        let kube = ksec_kube::KubeOptions {
            namespace: options.namespace.clone(),
            ..kube.clone()
        };
        let cluster = ksec_kube::ClusterConfig::load(&kube)
            .await
            .map_err(|e| Error::Cluster(Box::new(e)))?;
        self.scan_cluster(&cluster, options).await
    }

    /// Reads the cluster `cluster` points at and runs every rule on what it finds (see the
    /// [module documentation](crate::cluster)). Call [`Scanner::finish`] afterwards, as
    /// for files. A resource the credentials may not list is reported as skipped and the
    /// scan goes on; an error that stops every request (refused credentials, an
    /// unreachable server) is returned.
    pub async fn scan_cluster(
        &mut self,
        cluster: &ksec_kube::ClusterConfig,
        options: &ClusterOptions,
    ) -> Result<()> {
        let client = cluster.client().map_err(|e| Error::Cluster(Box::new(e)))?;
        let scope = match &options.namespace {
            Some(ns) => format!("namespace {ns} (and cluster-scoped RBAC)"),
            None => "every namespace".to_string(),
        };
        self.note(format!(
            "cluster {} ({}): {scope}",
            cluster.server(),
            cluster.origin()
        ));
        let mut walk = Walk::default();
        #[cfg(feature = "rego")]
        {
            walk.keep = self
                .policies
                .iter()
                .map(|p| p.limits().max_objects.saturating_add(1))
                .max()
                .unwrap_or(0);
        }
        for r in RESOURCES {
            let ns = if r.namespaced {
                options.namespace.as_deref()
            } else {
                None
            };
            self.read_resource(&client, cluster, r, ns, None, options, &mut walk)
                .await?;
        }
        if options
            .namespace
            .as_deref()
            .is_some_and(|n| n != "kube-system")
        {
            // The control plane is judged whatever the namespace scanned.
            self.read_resource(
                &client,
                cluster,
                &RESOURCES[PODS],
                Some("kube-system"),
                Some("component=kube-apiserver"),
                options,
                &mut walk,
            )
            .await?;
        }
        if walk.copies > 0 {
            self.note(format!(
                "{} object(s) made by a scanned controller (ReplicaSets, Pods, Jobs) were judged through that controller's template",
                walk.copies
            ));
        }
        if walk.defaults > 0 {
            self.note(format!(
                "{} RBAC binding(s) the API server maintains itself (label {BOOTSTRAPPING}: rbac-defaults) were not judged",
                walk.defaults
            ));
        }
        self.note(format!(
            "{} Secret(s) read as metadata only; their values were not requested",
            walk.secrets
        ));
        let apiservers = std::mem::take(&mut walk.apiservers);
        if apiservers.is_empty() {
            self.note("no kube-apiserver pod found (a managed control plane?): encryption at rest and the audit policy could not be judged from the cluster");
        }
        for pod in &apiservers {
            self.control_plane_files(&client, cluster, pod).await?;
        }
        #[cfg(feature = "rego")]
        self.evaluate_policies(&std::mem::take(&mut walk.judged));
        Ok(())
    }

    /// Runs the Rego policies on the objects judged, through the same evaluation as a
    /// file's objects; findings name the live object.
    #[cfg(feature = "rego")]
    fn evaluate_policies(&mut self, objects: &[Value]) {
        let policies = std::mem::take(&mut self.policies);
        for policy in &policies {
            match policy.evaluate_at(objects, None, &|kind, ns, name| object_id(kind, ns, name)) {
                Ok(findings) => {
                    self.note(format!(
                        "policy {}: {} rule(s) evaluated on {} cluster object(s)",
                        policy.root().display(),
                        policy.rule_names().len(),
                        objects.len()
                    ));
                    self.add_findings(findings);
                }
                Err(Error::Policy { path, message }) => {
                    self.skip(path.display().to_string(), message);
                }
                Err(e) => self.skip(policy.root().display().to_string(), e.to_string()),
            }
        }
        self.policies = policies;
    }

    /// Lists one resource page by page and scans every object.
    #[allow(clippy::too_many_arguments)]
    async fn read_resource(
        &mut self,
        client: &kube::Client,
        cluster: &ksec_kube::ClusterConfig,
        r: &Resource,
        namespace: Option<&str>,
        labels: Option<&str>,
        options: &ClusterOptions,
        walk: &mut Walk,
    ) -> Result<()> {
        let ar = r.api_resource();
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let what = match (namespace, r.namespaced) {
            (Some(ns), _) => format!("{} in namespace {ns}", r.plural),
            (None, true) => format!("{} (all namespaces)", r.plural),
            (None, false) => r.plural.to_string(),
        };
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(options.page_size.max(1));
            if let Some(l) = labels {
                lp = lp.labels(l);
            }
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = match r.read {
                Read::Full => api.list(&lp).await.map(|l| {
                    let next = l.metadata.continue_.clone();
                    let items = l
                        .items
                        .into_iter()
                        .filter_map(|o| serde_json::to_value(o).ok())
                        .collect();
                    (items, next)
                }),
                Read::Metadata => api.list_metadata(&lp).await.map(|l| {
                    let next = l.metadata.continue_.clone();
                    let items = l
                        .items
                        .into_iter()
                        .filter_map(|o| serde_json::to_value(&o.metadata).ok())
                        .map(|metadata| json!({"metadata": metadata}))
                        .collect();
                    (items, next)
                }),
            };
            let page = match page {
                Ok((items, next)) => Page::Items(items, next.filter(|t| !t.is_empty())),
                Err(e) => self.refused(cluster, r, &what, e)?,
            };
            let Page::Items(items, next) = page else {
                return Ok(());
            };
            for item in items {
                self.scan_cluster_object(r, item, walk);
            }
            match next {
                Some(t) => token = Some(t),
                None => return Ok(()),
            }
        }
    }

    /// A failed list: a skipped input (403, 404, other answers of the server) or the end
    /// of the scan (credentials refused, server unreachable).
    fn refused(
        &mut self,
        cluster: &ksec_kube::ClusterConfig,
        r: &Resource,
        what: &str,
        err: kube::Error,
    ) -> Result<Page> {
        let kube::Error::Api(status) = &err else {
            return Err(Error::Cluster(Box::new(cluster.explain(err))));
        };
        match status.code {
            401 => Err(Error::Cluster(Box::new(cluster.explain(err)))),
            403 => {
                self.skip(
                    what,
                    format!(
                        "{} (403): {}",
                        crate::finding::FORBIDDEN,
                        bounded(&status.message)
                    ),
                );
                Ok(Page::Refused)
            }
            404 if r.optional => {
                self.note(format!(
                    "{what}: not served by this cluster ({}/{} is not installed)",
                    r.group, r.version
                ));
                Ok(Page::Refused)
            }
            code => {
                self.skip(
                    what,
                    format!(
                        "the API server answered {code}: {}",
                        bounded(&status.message)
                    ),
                );
                Ok(Page::Refused)
            }
        }
    }

    fn scan_cluster_object(&mut self, r: &Resource, mut v: Value, walk: &mut Walk) {
        trim(&mut v);
        if let Some(o) = v.as_object_mut() {
            // List items carry no type of their own.
            o.insert("apiVersion".into(), json!(r.api_version()));
            o.insert("kind".into(), json!(r.kind));
        }
        let uid = meta_str(&v, "uid").unwrap_or("").to_string();
        if r.kind == "Pod" && apiserver_files::runs_apiserver(&v) {
            walk.apiservers.push(v.clone());
        } else if controller_uid(&v).is_some_and(|owner| walk.controllers.contains(owner)) {
            walk.copies += 1;
            if r.controller && !uid.is_empty() {
                walk.controllers.insert(uid);
            }
            return;
        }
        if r.kind.ends_with("Binding")
            && v.pointer(&format!(
                "/metadata/labels/{}",
                BOOTSTRAPPING.replace('/', "~1")
            ))
            .and_then(Value::as_str)
                == Some("rbac-defaults")
        {
            walk.defaults += 1;
            return;
        }
        if r.controller && !uid.is_empty() {
            walk.controllers.insert(uid);
        }
        if r.read == Read::Metadata {
            walk.secrets += 1;
        }
        let id = object_id(
            r.kind,
            meta_str(&v, "namespace"),
            meta_str(&v, "name").unwrap_or(""),
        );
        #[cfg(feature = "rego")]
        if walk.judged.len() < walk.keep {
            walk.judged.push(v.clone());
        }
        self.scan_objects(&id, vec![v]);
    }

    /// kube-apiserver's EncryptionConfiguration and audit policy, when the API serves
    /// the files (a ConfigMap volume); a note saying where they are otherwise.
    async fn control_plane_files(
        &mut self,
        client: &kube::Client,
        cluster: &ksec_kube::ClusterConfig,
        pod: &Value,
    ) -> Result<()> {
        let pod_ns = meta_str(pod, "namespace").unwrap_or("kube-system");
        let pod_id = object_id("Pod", Some(pod_ns), meta_str(pod, "name").unwrap_or(""));
        let ignore: Vec<String> = pod
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(IGNORE_ANNOTATION))
            .and_then(Value::as_str)
            .map(|l| ksec_text::split_list(l).map(str::to_string).collect())
            .unwrap_or_default();
        for (what, path) in apiserver_files::apiserver_files(pod) {
            let (cm_name, key) = match apiserver_files::locate(pod, &path) {
                apiserver_files::Place::ConfigMap { name, key } => (name, key),
                other => {
                    self.note(format!(
                        "{pod_id}: {} {path} is {}",
                        what.describe(),
                        other.why_unread()
                    ));
                    continue;
                }
            };
            let ar = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "ConfigMap"),
                "configmaps",
            );
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), pod_ns, &ar);
            let cm_id = object_id("ConfigMap", Some(pod_ns), &cm_name);
            let cm = match api.get_opt(&cm_name).await {
                Ok(Some(cm)) => cm,
                Ok(None) => {
                    self.note(format!(
                        "{pod_id}: {} {path} comes from {cm_id}, which does not exist",
                        what.describe()
                    ));
                    continue;
                }
                Err(kube::Error::Api(status)) if status.code != 401 => {
                    self.skip(
                        cm_id,
                        format!(
                            "holds kube-apiserver's {} but could not be read ({}): {}",
                            what.describe(),
                            status.code,
                            bounded(&status.message)
                        ),
                    );
                    continue;
                }
                Err(e) => return Err(Error::Cluster(Box::new(cluster.explain(e)))),
            };
            let text = cm
                .data
                .get("data")
                .and_then(|d| d.get(&key))
                .and_then(Value::as_str);
            let Some(text) = text else {
                self.note(format!(
                    "{pod_id}: {} {path} should be key {key} of {cm_id}, which has no such key",
                    what.describe()
                ));
                continue;
            };
            apiserver_files::judge_file(self, what, text, &cm_id, &path, &ignore);
        }
        Ok(())
    }
}

/// A server message, cut to a length that fits a report line.
fn bounded(message: &str) -> String {
    if message.chars().count() <= 300 {
        return message.to_string();
    }
    let cut: String = message.chars().take(300).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_kind_namespace_name() {
        assert_eq!(
            object_id("Deployment", Some("shop"), "api"),
            "Deployment/shop/api"
        );
        assert_eq!(object_id("ClusterRole", None, "r"), "ClusterRole/r");
        assert_eq!(object_id("ClusterRole", Some(""), "r"), "ClusterRole/r");
    }

    #[test]
    fn controllers_come_before_what_they_make() {
        let pos = |k: &str| RESOURCES.iter().position(|r| r.kind == k).unwrap();
        assert!(pos("CronJob") < pos("Job"));
        assert!(pos("Deployment") < pos("ReplicaSet"));
        for owner in ["ReplicaSet", "StatefulSet", "DaemonSet", "Job"] {
            assert!(pos(owner) < pos("Pod"), "{owner}");
        }
        assert_eq!(RESOURCES[PODS].kind, "Pod");
    }

    #[test]
    fn trim_drops_the_last_applied_copy_and_field_managers() {
        let mut v = json!({"metadata": {"name": "db", "managedFields": [{}],
            "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVy\"}}", "a": "b"}}});
        trim(&mut v);
        assert_eq!(
            v,
            json!({"metadata": {"name": "db", "annotations": {"a": "b"}}})
        );
    }

    #[test]
    fn the_controller_owner_is_the_one_marked_controller() {
        let v = json!({"metadata": {"ownerReferences": [
            {"uid": "a", "kind": "Node"},
            {"uid": "b", "kind": "ReplicaSet", "controller": true}]}});
        assert_eq!(controller_uid(&v), Some("b"));
        assert_eq!(controller_uid(&json!({"metadata": {}})), None);
    }
}
