//! The store of the in-memory API server: objects by (resource, namespace, name), one
//! resourceVersion counter, the event history that watches replay, faults and the write log.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::Method;
use serde_json::{json, Value};

use super::http::not_found;
use super::patch::{json_patch, merge_patch, strategic_merge};
use super::resources;
use super::selector::selects;
use super::target::Target;

/// `secrets` of `core/secrets`: how the API server names a resource in messages.
fn plural(resource: &str) -> &str {
    resource.rsplit('/').next().unwrap_or(resource)
}

/// What the API server fills in on every write: a Secret's `stringData` merged into
/// `data` (base64) and dropped, and its `type` defaulted to `Opaque`.
fn defaults(resource: &str, obj: &mut Value) {
    if resource != "core/secrets" {
        return;
    }
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(plain)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| json!({}));
        if let Some(data) = data.as_object_mut() {
            for (k, v) in plain {
                let text = v.as_str().unwrap_or_default().to_string();
                data.insert(k, json!(STANDARD.encode(text)));
            }
        }
    }
    if o.get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        o.insert("type".into(), json!("Opaque"));
    }
}

/// True for a resource with a status subresource: its status is written only through
/// `/status` (and dropped on create), as for a CRD with `subresources: {status: {}}`.
fn has_status(resource: &str) -> bool {
    resources::by_key(resource).is_some_and(|r| r.subresources.contains(&"status"))
}

/// The patch formats the fake applies (server-side apply is not one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json` (built-in kinds only, as the API server).
    Strategic,
    /// `application/json-patch+json` (RFC 6902).
    Json,
}

pub(super) type Key = (String, String, String); // (group/resource, namespace, name)

/// A rule that makes matching requests fail: (method, path) -> Some(status code).
pub type Fault = Box<dyn Fn(&Method, &str) -> Option<u16> + Send + Sync>;

#[derive(Clone)]
pub(super) struct Event {
    pub(super) rv: u64,
    pub(super) resource: String,
    pub(super) namespace: String,
    pub(super) kind: &'static str,
    pub(super) object: Value,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) rv: u64,
    pub(super) objects: BTreeMap<Key, Value>,
    pub(super) history: Vec<Event>,
    pub(super) faults: Vec<Fault>,
    pub(super) writes: Vec<String>,
    /// Services whose proxy subresource is forwarded: (namespace, name) -> address.
    pub(super) forwards: HashMap<(String, String), std::net::SocketAddr>,
    next_uid: u64,
}

/// The fake API server. Cheap to clone; every clone shares the same store.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    pub(super) changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeApi {
    /// An empty cluster.
    pub fn new() -> Self {
        let (tx, _) = tokio::sync::watch::channel(0);
        Self {
            state: Arc::new(Mutex::new(State::default())),
            changed: Arc::new(tx),
        }
    }

    /// A `kube::Client` talking to this fake, with `default` as its namespace.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Stores an object directly (as `kubectl create` would), filling in server fields.
    /// `resource` is `"core/secrets"`, `"bitnami.com/sealedsecrets"`, ….
    /// A namespaced object without a namespace goes to `default`.
    pub fn insert(&self, resource: &str, obj: Value) -> Value {
        let ns = if resources::is_cluster_scoped(resource) {
            String::new()
        } else {
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string()
        };
        self.create(resource, &ns, obj, false)
            .unwrap_or_else(|(code, msg)| panic!("insert {resource}: {code} {msg}"))
    }

    /// The stored object, if any.
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        let st = self.lock();
        st.objects
            .get(&(resource.into(), ns.into(), name.into()))
            .cloned()
    }

    /// Every stored object of a resource in namespace `ns`.
    pub fn list_in(&self, resource: &str, ns: &str) -> Vec<Value> {
        let st = self.lock();
        st.objects
            .iter()
            .filter(|(k, _)| k.0 == resource && k.1 == ns)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every stored object of a resource (all namespaces).
    pub fn list(&self, resource: &str) -> Vec<Value> {
        let st = self.lock();
        st.objects
            .iter()
            .filter(|(k, _)| k.0 == resource)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// How many stored objects of a resource satisfy `pred` (no copies: cheap to poll).
    pub fn count(&self, resource: &str, pred: impl Fn(&Value) -> bool) -> usize {
        let st = self.lock();
        st.objects
            .iter()
            .filter(|(k, v)| k.0 == resource && pred(v))
            .count()
    }

    /// Replaces an object as a user would (`kubectl replace`), keeping server fields right.
    pub fn update(&self, resource: &str, obj: Value) -> Value {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let mut obj = obj;
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        self.replace(resource, &ns, &name, obj, false)
            .unwrap_or_else(|(code, msg)| panic!("update {resource}: {code} {msg}"))
    }

    /// Deletes an object as a user would, with background garbage collection of dependents.
    pub fn delete(&self, resource: &str, ns: &str, name: &str) -> bool {
        self.remove(resource, ns, name).is_ok()
    }

    /// Adds a fault rule; it stays until [`FakeApi::clear_faults`].
    pub fn fail(&self, rule: impl Fn(&Method, &str) -> Option<u16> + Send + Sync + 'static) {
        self.lock().faults.push(Box::new(rule));
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Writes made through the HTTP API so far, as `"METHOD path"`.
    pub fn writes(&self) -> Vec<String> {
        self.lock().writes.clone()
    }

    /// The current resourceVersion of the whole store.
    pub fn revision(&self) -> u64 {
        self.lock().rv
    }

    /// The store, also after a panic elsewhere (a failed test must not hide behind a poisoned lock).
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self, rv: u64) {
        self.changed.send_replace(rv);
    }

    fn record(st: &mut State, resource: &str, ns: &str, kind: &'static str, object: &Value) {
        st.history.push(Event {
            rv: st.rv,
            resource: resource.to_string(),
            namespace: ns.to_string(),
            kind,
            object: object.clone(),
        });
    }

    pub(super) fn create(
        &self,
        resource: &str,
        ns: &str,
        mut obj: Value,
        from_api: bool,
    ) -> ApiResult {
        defaults(resource, &mut obj);
        let rv = {
            let mut st = self.lock();
            let meta = obj
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
                .ok_or((422, "metadata is required".to_string()))?;
            let mut name = meta
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if name.is_empty() {
                let Some(prefix) = meta.get("generateName").and_then(Value::as_str) else {
                    return Err((422, "metadata.name: Required value".into()));
                };
                name = format!("{prefix}{:05x}", st.next_uid + 1);
            }
            if let Some(own) = meta.get("namespace").and_then(Value::as_str) {
                if from_api && !ns.is_empty() && !own.is_empty() && own != ns {
                    return Err((
                        400,
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
            }
            let key: Key = (resource.into(), ns.into(), name.clone());
            if st.objects.contains_key(&key) {
                return Err((
                    409,
                    format!("{} \"{name}\" already exists", plural(resource)),
                ));
            }
            st.rv += 1;
            st.next_uid += 1;
            meta.insert("name".into(), json!(name));
            if ns.is_empty() && resources::is_cluster_scoped(resource) {
                meta.remove("namespace");
            } else {
                meta.insert("namespace".into(), json!(ns));
            }
            meta.insert("resourceVersion".into(), json!(st.rv.to_string()));
            meta.insert("uid".into(), json!(format!("uid-{:08}", st.next_uid)));
            meta.insert("generation".into(), json!(1));
            meta.insert("creationTimestamp".into(), json!(now()));
            if from_api && has_status(resource) {
                if let Some(o) = obj.as_object_mut() {
                    o.remove("status");
                }
            }
            if resource == "core/namespaces" {
                obj["status"] = json!({"phase": "Active"});
            }
            st.objects.insert(key, obj.clone());
            Self::record(&mut st, resource, ns, "ADDED", &obj);
            st.rv
        };
        self.notify(rv);
        Ok(obj)
    }

    pub(super) fn replace(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        mut obj: Value,
        status_only: bool,
    ) -> ApiResult {
        defaults(resource, &mut obj);
        let rv = {
            let mut st = self.lock();
            let key: Key = (resource.into(), ns.into(), name.into());
            let Some(old) = st.objects.get(&key).cloned() else {
                return Err((404, not_found(resource, name)));
            };
            if let Some(want) = obj["metadata"]["resourceVersion"].as_str() {
                if want != old["metadata"]["resourceVersion"] {
                    return Err((
                        409,
                        format!(
                            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                            plural(resource)
                        ),
                    ));
                }
            }
            if obj["metadata"]["name"].as_str().is_some_and(|n| n != name) {
                return Err((400, "the name of the object does not match the URL".into()));
            }
            let has_status = has_status(resource);
            if status_only {
                let status = obj.get("status").cloned();
                obj = old.clone();
                match status {
                    Some(s) => obj["status"] = s,
                    None => {
                        if let Some(o) = obj.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            } else if has_status {
                match old.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        if let Some(o) = obj.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            if old.get("immutable") == Some(&json!(true))
                && (old.get("data") != obj.get("data")
                    || old.get("type") != obj.get("type")
                    || obj.get("immutable") != Some(&json!(true)))
            {
                return Err((
                    422,
                    format!("{} \"{name}\" is invalid: data: Forbidden: field is immutable when `immutable` is set", plural(resource)),
                ));
            }
            // Server-owned metadata always comes from the stored object.
            for f in ["uid", "creationTimestamp", "generation"] {
                obj["metadata"][f] = old["metadata"][f].clone();
            }
            obj["metadata"]["name"] = json!(name);
            if !ns.is_empty() {
                obj["metadata"]["namespace"] = json!(ns);
            }
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            if without_server_fields(&obj) == without_server_fields(&old) {
                return Ok(old); // a no-op write does not bump the resourceVersion
            }
            if spec_of(&obj) != spec_of(&old) {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                obj["metadata"]["generation"] = json!(g + 1);
            }
            st.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
            st.objects.insert(key, obj.clone());
            Self::record(&mut st, resource, ns, "MODIFIED", &obj);
            st.rv
        };
        self.notify(rv);
        self.get(resource, ns, name).ok_or((404, "vanished".into()))
    }

    pub(super) fn remove(&self, resource: &str, ns: &str, name: &str) -> ApiResult {
        let (rv, obj) = {
            let mut st = self.lock();
            let key: Key = (resource.into(), ns.into(), name.into());
            let Some(mut obj) = st.objects.remove(&key) else {
                return Err((404, not_found(resource, name)));
            };
            st.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
            Self::record(&mut st, resource, ns, "DELETED", &obj);
            (st.rv, obj)
        };
        self.notify(rv);
        // Background garbage collection of dependents, and of a namespace's contents.
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let namespace_gone = resource == "core/namespaces";
        let dependents: Vec<Key> = {
            let st = self.lock();
            st.objects
                .iter()
                .filter(|(k, v)| {
                    (namespace_gone && k.1 == name)
                        || v["metadata"]["ownerReferences"]
                            .as_array()
                            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid.as_str()))
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        for (r, n, m) in dependents {
            let _ = self.remove(&r, &n, &m);
        }
        Ok(obj)
    }

    pub(super) fn patch(
        &self,
        target: &Target,
        name: &str,
        kind: PatchKind,
        patch: &Value,
    ) -> ApiResult {
        let Some(old) = self.get(&target.resource, &target.namespace, name) else {
            return Err((404, not_found(&target.resource, name)));
        };
        let mut new = old.clone();
        match kind {
            PatchKind::Merge => merge_patch(&mut new, patch),
            PatchKind::Strategic => strategic_merge(&mut new, patch),
            PatchKind::Json => json_patch(&mut new, patch).map_err(|e| (422, e))?,
        }
        if kind != PatchKind::Json && patch["metadata"]["resourceVersion"].is_null() {
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        }
        self.replace(
            &target.resource,
            &target.namespace,
            name,
            new,
            target.status,
        )
    }

    pub(super) fn matching(&self, target: &Target, query: &HashMap<String, String>) -> Vec<Value> {
        let labels = query.get("labelSelector").map(|s| s.as_str()).unwrap_or("");
        let fields = query.get("fieldSelector").map(|s| s.as_str()).unwrap_or("");
        let st = self.lock();
        st.objects
            .iter()
            .filter(|(k, v)| {
                k.0 == target.resource
                    && (target.all_namespaces || k.1 == target.namespace)
                    && selects(labels, fields, v)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(super) fn list_json(&self, target: &Target, query: &HashMap<String, String>) -> Value {
        let items = self.matching(target, query);
        let rv = self.revision();
        let (kind, api_version) = resources::list_kind(&target.resource);
        json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        })
    }
}

pub(super) type ApiResult = Result<Value, (u16, String)>;
fn spec_of(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v
}

fn without_server_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("generation");
        m.remove("managedFields");
    }
    v
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
