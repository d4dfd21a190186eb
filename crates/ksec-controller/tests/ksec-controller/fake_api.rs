//! An in-memory Kubernetes API server behind `kube::Client`, for tests and the benchmark.
//!
//! There is no kube-apiserver on these machines, so the controller is tested against this
//! fake. It models what the controller relies on, the way the real API server behaves:
//! - resourceVersions (one global counter, as etcd's revision), uids, creationTimestamp,
//!   `metadata.generation` bumped when anything but metadata/status changes;
//! - get, list (label and field selectors), watch (events streamed as newline-delimited
//!   JSON, resumable from a resourceVersion), create (409 AlreadyExists), replace (409
//!   Conflict on a stale resourceVersion), JSON merge patch (RFC 7386; every other patch
//!   type is refused with 415 so a test notices), delete;
//! - the status subresource (writes to the main resource keep the stored status, writes to
//!   `/status` change only the status; status is dropped on create);
//! - immutable Secrets (changing `data`/`type` of one is 422 Invalid);
//! - owner references: deleting an object deletes its dependents (background GC);
//! - faults injected by tests, and a log of the writes for idempotence checks.
//!
//! It knows nothing about the controller: it stores plain JSON by (resource, namespace, name).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use serde_json::{json, Value};

/// Resources whose CRD has a status subresource.
const WITH_STATUS: &[&str] = &["bitnami.com/sealedsecrets"];

type Key = (String, String, String); // (group/resource, namespace, name)

/// A rule that makes matching requests fail: (method, path) -> Some(status code).
pub type Fault = Box<dyn Fn(&Method, &str) -> Option<u16> + Send + Sync>;

#[derive(Clone)]
struct Event {
    rv: u64,
    resource: String,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Event>,
    faults: Vec<Fault>,
    writes: Vec<String>,
    next_uid: u64,
}

/// The fake API server. Cheap to clone; every clone shares the same store.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
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
    pub fn insert(&self, resource: &str, obj: Value) -> Value {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        self.create(resource, &ns, obj, false)
            .unwrap_or_else(|(code, msg)| panic!("insert {resource}: {code} {msg}"))
    }

    /// The stored object, if any.
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.objects
            .get(&(resource.into(), ns.into(), name.into()))
            .cloned()
    }

    /// Every stored object of a resource (all namespaces).
    pub fn list(&self, resource: &str) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        st.objects
            .iter()
            .filter(|(k, _)| k.0 == resource)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// How many stored objects of a resource satisfy `pred` (no copies: cheap to poll).
    pub fn count(&self, resource: &str, pred: impl Fn(&Value) -> bool) -> usize {
        let st = self.state.lock().unwrap();
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
        self.state.lock().unwrap().faults.push(Box::new(rule));
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// Writes made through the HTTP API so far, as `"METHOD path"`.
    pub fn writes(&self) -> Vec<String> {
        self.state.lock().unwrap().writes.clone()
    }

    /// The current resourceVersion of the whole store.
    pub fn revision(&self) -> u64 {
        self.state.lock().unwrap().rv
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

    fn create(&self, resource: &str, ns: &str, mut obj: Value, from_api: bool) -> ApiResult {
        let rv = {
            let mut st = self.state.lock().unwrap();
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
            let key: Key = (resource.into(), ns.into(), name.clone());
            if st.objects.contains_key(&key) {
                return Err((409, format!("{resource} \"{name}\" already exists")));
            }
            st.rv += 1;
            st.next_uid += 1;
            meta.insert("name".into(), json!(name));
            meta.insert("namespace".into(), json!(ns));
            meta.insert("resourceVersion".into(), json!(st.rv.to_string()));
            meta.insert("uid".into(), json!(format!("uid-{:08}", st.next_uid)));
            meta.insert("generation".into(), json!(1));
            meta.insert("creationTimestamp".into(), json!(now()));
            if from_api && WITH_STATUS.contains(&resource) {
                if let Some(o) = obj.as_object_mut() {
                    o.remove("status");
                }
            }
            st.objects.insert(key, obj.clone());
            Self::record(&mut st, resource, ns, "ADDED", &obj);
            st.rv
        };
        self.notify(rv);
        Ok(obj)
    }

    fn replace(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        mut obj: Value,
        status_only: bool,
    ) -> ApiResult {
        let rv = {
            let mut st = self.state.lock().unwrap();
            let key: Key = (resource.into(), ns.into(), name.into());
            let Some(old) = st.objects.get(&key).cloned() else {
                return Err((404, format!("{resource} \"{name}\" not found")));
            };
            if let Some(want) = obj["metadata"]["resourceVersion"].as_str() {
                if want != old["metadata"]["resourceVersion"] {
                    return Err((
                        409,
                        format!(
                            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                        ),
                    ));
                }
            }
            if obj["metadata"]["name"].as_str().is_some_and(|n| n != name) {
                return Err((400, "the name of the object does not match the URL".into()));
            }
            let has_status = WITH_STATUS.contains(&resource);
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
                    format!("{resource} \"{name}\" is invalid: data: Forbidden: field is immutable when `immutable` is set"),
                ));
            }
            // Server-owned metadata always comes from the stored object.
            for f in ["uid", "creationTimestamp", "generation"] {
                obj["metadata"][f] = old["metadata"][f].clone();
            }
            obj["metadata"]["name"] = json!(name);
            obj["metadata"]["namespace"] = json!(ns);
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

    fn remove(&self, resource: &str, ns: &str, name: &str) -> ApiResult {
        let (rv, obj) = {
            let mut st = self.state.lock().unwrap();
            let key: Key = (resource.into(), ns.into(), name.into());
            let Some(mut obj) = st.objects.remove(&key) else {
                return Err((404, format!("{resource} \"{name}\" not found")));
            };
            st.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
            Self::record(&mut st, resource, ns, "DELETED", &obj);
            (st.rv, obj)
        };
        self.notify(rv);
        // Background garbage collection of dependents.
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let dependents: Vec<Key> = {
            let st = self.state.lock().unwrap();
            st.objects
                .iter()
                .filter(|(_, v)| {
                    v["metadata"]["ownerReferences"]
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

    async fn handle(&self, req: Request<kube::client::Body>) -> Response<RespBody> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let query = parse_query(parts.uri.query().unwrap_or(""));
        let method = parts.method.clone();
        let meta_only = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
        let fault = {
            let st = self.state.lock().unwrap();
            st.faults.iter().find_map(|f| f(&method, &path))
        };
        if let Some(code) = fault {
            return status_response(code, &format!("injected fault on {method} {path}"));
        }
        let Some(target) = Target::parse(&path) else {
            return status_response(404, &format!("the server could not find {path}"));
        };
        let body = match body.collect_bytes().await {
            Ok(b) => b,
            Err(e) => return status_response(400, &format!("body: {e}")),
        };
        if method != Method::GET {
            self.state
                .lock()
                .unwrap()
                .writes
                .push(format!("{method} {path}"));
        }
        let result = match (method.clone(), &target.name) {
            (Method::GET, None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                return self.watch(&target, &query, meta_only);
            }
            (Method::GET, None) => {
                let mut l = self.list_json(&target, &query);
                if meta_only {
                    if let Some(items) = l["items"].as_array_mut() {
                        items.iter_mut().for_each(|i| *i = partial(i));
                    }
                }
                Ok(l)
            }
            (Method::GET, Some(name)) => self
                .get(&target.resource, &target.namespace, name)
                .map(|v| if meta_only { partial(&v) } else { v })
                .ok_or((404, format!("{} \"{name}\" not found", target.resource))),
            (Method::POST, None) => match serde_json::from_slice::<Value>(&body) {
                Ok(obj) => self.create(&target.resource, &target.namespace, obj, true),
                Err(e) => Err((400, format!("body is not JSON: {e}"))),
            },
            (Method::PUT, Some(name)) => match serde_json::from_slice::<Value>(&body) {
                Ok(obj) => self.replace(
                    &target.resource,
                    &target.namespace,
                    name,
                    obj,
                    target.status,
                ),
                Err(e) => Err((400, format!("body is not JSON: {e}"))),
            },
            (Method::PATCH, Some(name)) => {
                let ct = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if ct != "application/merge-patch+json" {
                    Err((
                        415,
                        format!("the fake API only supports merge patches, not {ct}"),
                    ))
                } else {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(patch) => self.patch(&target, name, &patch),
                        Err(e) => Err((400, format!("body is not JSON: {e}"))),
                    }
                }
            }
            (Method::DELETE, Some(name)) => self.remove(&target.resource, &target.namespace, name),
            _ => Err((405, format!("{method} {path} is not supported"))),
        };
        match result {
            Ok(v) => json_response(200, &v),
            Err((code, msg)) => status_response(code, &msg),
        }
    }

    fn patch(&self, target: &Target, name: &str, patch: &Value) -> ApiResult {
        let Some(old) = self.get(&target.resource, &target.namespace, name) else {
            return Err((404, format!("{} \"{name}\" not found", target.resource)));
        };
        let mut new = old.clone();
        merge_patch(&mut new, patch);
        if patch["metadata"]["resourceVersion"].is_null() {
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

    fn matching(&self, target: &Target, query: &HashMap<String, String>) -> Vec<Value> {
        let labels = query.get("labelSelector").map(|s| s.as_str()).unwrap_or("");
        let fields = query.get("fieldSelector").map(|s| s.as_str()).unwrap_or("");
        let st = self.state.lock().unwrap();
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

    fn list_json(&self, target: &Target, query: &HashMap<String, String>) -> Value {
        let items = self.matching(target, query);
        let rv = self.revision();
        json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        })
    }

    fn watch(
        &self,
        target: &Target,
        query: &HashMap<String, String>,
        meta_only: bool,
    ) -> Response<RespBody> {
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let labels = query.get("labelSelector").cloned().unwrap_or_default();
        let fields = query.get("fieldSelector").cloned().unwrap_or_default();
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(290u64);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(256);
        let api = self.clone();
        let target = target.clone();
        let mut changed = self.changed.subscribe();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
            let (first, mut next) = {
                let st = api.state.lock().unwrap();
                if from == 0 {
                    // "Any" semantics: the current state as ADDED events, then what follows.
                    let first: Vec<Value> = st
                        .objects
                        .iter()
                        .filter(|(k, v)| {
                            k.0 == target.resource
                                && (target.all_namespaces || k.1 == target.namespace)
                                && selects(&labels, &fields, v)
                        })
                        .map(|(_, v)| {
                            let v = if meta_only { partial(v) } else { v.clone() };
                            json!({"type": "ADDED", "object": v})
                        })
                        .collect();
                    (first, st.history.len())
                } else {
                    (Vec::new(), st.history.partition_point(|e| e.rv <= from))
                }
            };
            for e in first {
                let mut line = serde_json::to_vec(&e).unwrap_or_default();
                line.push(b'\n');
                if tx.send(line.into()).await.is_err() {
                    return;
                }
            }
            loop {
                let batch: Vec<Event> = {
                    let st = api.state.lock().unwrap();
                    let b = st.history[next..].to_vec();
                    next = st.history.len();
                    b
                };
                for e in batch {
                    if e.resource != target.resource
                        || !(target.all_namespaces || e.namespace == target.namespace)
                        || !selects(&labels, &fields, &e.object)
                    {
                        continue;
                    }
                    let object = if meta_only {
                        partial(&e.object)
                    } else {
                        e.object
                    };
                    let mut line = serde_json::to_vec(&json!({"type": e.kind, "object": object}))
                        .unwrap_or_default();
                    line.push(b'\n');
                    if tx.send(line.into()).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    r = changed.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                }
            }
        });
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).map_ok_frames();
        let body = StreamBody::new(stream).boxed_unsync();
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body)
            .expect("response")
    }
}

type ApiResult = Result<Value, (u16, String)>;
type RespBody = UnsyncBoxBody<Bytes, Infallible>;

type ToFrame = fn(Bytes) -> Result<Frame<Bytes>, Infallible>;

trait MapOkFrames: futures::Stream<Item = Bytes> + Sized {
    fn map_ok_frames(self) -> futures::stream::Map<Self, ToFrame> {
        use futures::StreamExt;
        self.map(|b| Ok(Frame::data(b)))
    }
}
impl<S: futures::Stream<Item = Bytes>> MapOkFrames for S {}

impl tower::Service<Request<kube::client::Body>> for FakeApi {
    type Response = Response<RespBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let api = self.clone();
        Box::pin(async move { Ok(api.handle(req).await) })
    }
}

#[derive(Clone, Debug)]
struct Target {
    resource: String,
    namespace: String,
    all_namespaces: bool,
    name: Option<String>,
    status: bool,
}

impl Target {
    /// `/api/v1[/namespaces/NS]/RES[/NAME[/status]]` or `/apis/G/V[/namespaces/NS]/RES[/NAME[/status]]`.
    fn parse(path: &str) -> Option<Self> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", "v1", rest @ ..] => ("core".to_string(), rest),
            ["apis", g, _v, rest @ ..] => (g.to_string(), rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
            _ => (None, rest),
        };
        let (res, name, sub) = match rest {
            [res] => (*res, None, None),
            [res, name] => (*res, Some(name.to_string()), None),
            [res, name, sub] => (*res, Some(name.to_string()), Some(*sub)),
            _ => return None,
        };
        if sub.is_some_and(|s| s != "status") {
            return None;
        }
        Some(Self {
            resource: format!("{group}/{res}"),
            all_namespaces: namespace.is_none(),
            namespace: namespace.unwrap_or_default(),
            name,
            status: sub == Some("status"),
        })
    }
}

/// The object as `PartialObjectMetadata` (what the API server sends for metadata-only requests).
fn partial(v: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": v["metadata"]})
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

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

/// Label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`) and
/// field selector (`metadata.name=`, `metadata.namespace=`) matching.
fn selects(labels: &str, fields: &str, obj: &Value) -> bool {
    let l = &obj["metadata"]["labels"];
    let get = |k: &str| l.get(k).and_then(Value::as_str);
    let label_ok = split_terms(labels).iter().all(|t| {
        let t = t.trim();
        if let Some((k, rest)) = t.split_once(" notin ") {
            let set = parse_set(rest);
            get(k.trim()).is_none_or(|v| !set.contains(&v.to_string()))
        } else if let Some((k, rest)) = t.split_once(" in ") {
            let set = parse_set(rest);
            get(k.trim()).is_some_and(|v| set.contains(&v.to_string()))
        } else if let Some((k, v)) = t.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            get(k.trim()) == Some(v.trim())
        } else if let Some(k) = t.strip_prefix('!') {
            get(k.trim()).is_none()
        } else {
            get(t).is_some()
        }
    });
    let field_ok = fields.split(',').filter(|t| !t.is_empty()).all(|t| {
        let (k, v, eq) = match t.split_once("!=") {
            Some((k, v)) => (k, v, false),
            None => match t.split_once("==").or_else(|| t.split_once('=')) {
                Some((k, v)) => (k, v, true),
                None => return false,
            },
        };
        let have = match k {
            "metadata.name" => obj["metadata"]["name"].as_str(),
            "metadata.namespace" => obj["metadata"]["namespace"].as_str(),
            "type" => obj["type"].as_str(),
            _ => None,
        };
        (have == Some(v)) == eq
    });
    label_ok && field_ok
}

fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.retain(|t| !t.trim().is_empty());
    out
}

fn parse_set(s: &str) -> Vec<String> {
    s.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(|x| x.trim().to_string())
        .collect()
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn json_response(code: u16, v: &Value) -> Response<RespBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
                .map_err(|e| match e {})
                .boxed_unsync(),
        )
        .expect("response")
}

fn status_response(code: u16, message: &str) -> Response<RespBody> {
    let reason = match code {
        404 => "NotFound",
        409 if message.contains("already exists") => "AlreadyExists",
        409 => "Conflict",
        422 => "Invalid",
        403 => "Forbidden",
        415 => "UnsupportedMediaType",
        _ => "InternalError",
    };
    json_response(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}
