//! The HTTP face of the fake: routes a request to the store and answers as
//! kube-apiserver does (JSON objects and lists, `Status` errors, newline-delimited watch
//! events, `PartialObjectMetadata` for metadata-only requests).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited, StreamBody};
use serde_json::{json, Value};

use super::selector::{parse_query, selects};
use super::store::{Event, FakeApi, PatchKind};
use super::target::Target;
use super::{protobuf, proxy, resources, table};

/// The largest request body the fake reads (kube-apiserver's limit is 3 MiB).
const MAX_BODY: usize = 3 << 20;

/// The patch format of a `Content-Type`, or the API server's 415 for the others.
fn patch_kind(content_type: &str, resource: &str) -> Result<PatchKind, (u16, String)> {
    let builtin = resources::by_key(resource).is_some_and(|r| r.group != "bitnami.com");
    match content_type.split(';').next().unwrap_or("").trim() {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/strategic-merge-patch+json" if builtin => Ok(PatchKind::Strategic),
        other => Err((
            415,
            format!(
                "the fake API applies merge patches (application/merge-patch+json), JSON patches and, for built-in kinds, strategic merge patches; not {other}"
            ),
        )),
    }
}

/// The object a POST or PUT carries, as JSON or as Kubernetes protobuf.
fn object(headers: &http::HeaderMap, body: &[u8]) -> Result<Value, (u16, String)> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with(protobuf::CONTENT_TYPE) {
        return protobuf::to_json(body);
    }
    serde_json::from_slice(body).map_err(|e| (400, format!("body is not JSON: {e}")))
}

/// The API server's message for a missing object: `secrets "name" not found`.
pub(super) fn not_found(resource: &str, name: &str) -> String {
    let plural = resource.rsplit('/').next().unwrap_or(resource);
    format!("{plural} \"{name}\" not found")
}

impl FakeApi {
    /// Answers one request as kube-apiserver would (after authentication, which is the
    /// HTTPS server's job).
    pub(super) async fn handle<B>(&self, req: Request<B>) -> Response<RespBody>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let query = parse_query(parts.uri.query().unwrap_or(""));
        let method = parts.method.clone();
        let accept = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let meta_only = accept.contains("as=PartialObjectMetadata");
        let as_table = accept.contains("as=Table");
        let fault = {
            let st = self.lock();
            st.faults.iter().find_map(|f| f(&method, &path))
        };
        if let Some(code) = fault {
            return status_response(code, &format!("injected fault on {method} {path}"));
        }
        if method == Method::GET {
            if let Some(doc) = resources::document(&path) {
                return json_response(200, &doc);
            }
        }
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return status_response(413, &format!("the request body could not be read: {e}"))
            }
        };
        if let Some(target) = proxy::ProxyTarget::parse(&path) {
            return self.proxy(target, &parts, body).await;
        }
        if method == Method::POST
            && path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        {
            // `kubectl auth can-i`: there is no authorization, so the answer is yes.
            return json_response(
                201,
                &json!({
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {},
                    "status": {"allowed": true, "reason": "the fake API lets every authenticated user do everything"},
                }),
            );
        }
        let Some(target) = Target::parse(&path) else {
            return status_response(404, &format!("the server could not find {path}"));
        };
        if method != Method::GET {
            self.lock().writes.push(format!("{method} {path}"));
        }
        let result = match (method.clone(), &target.name) {
            (Method::GET, None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                return self.watch(&target, &query, meta_only);
            }
            (Method::GET, None) => {
                let mut l = self.list_json(&target, &query);
                if as_table {
                    return json_response(200, &table::of_list(&l, &query));
                }
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
                .map(|v| {
                    if as_table {
                        table::of_object(&v, &query)
                    } else {
                        v
                    }
                })
                .ok_or((404, not_found(&target.resource, name))),
            (Method::POST, None)
                if target.all_namespaces
                    && !resources::is_cluster_scoped(&target.resource)
                    && resources::by_key(&target.resource).is_some() =>
            {
                Err((
                    405,
                    format!(
                        "{} are created in a namespace: POST to /…/namespaces/NAMESPACE/…",
                        target.resource
                    ),
                ))
            }
            (Method::POST, None) => match object(&parts.headers, &body) {
                Ok(obj) => self.create(&target.resource, &target.namespace, obj, true),
                Err(e) => Err(e),
            },
            (Method::PUT, Some(name)) => match object(&parts.headers, &body) {
                Ok(obj) => self.replace(
                    &target.resource,
                    &target.namespace,
                    name,
                    obj,
                    target.status,
                ),
                Err(e) => Err(e),
            },
            (Method::PATCH, Some(name)) => {
                let ct = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                match patch_kind(ct, &target.resource) {
                    Err(e) => Err(e),
                    Ok(kind) => match serde_json::from_slice::<Value>(&body) {
                        Ok(patch) => self.patch(&target, name, kind, &patch),
                        Err(e) => Err((400, format!("body is not JSON: {e}"))),
                    },
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
                let st = api.lock();
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
                    let st = api.lock();
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

pub(super) type RespBody = UnsyncBoxBody<Bytes, Infallible>;

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

/// The object as `PartialObjectMetadata` (what the API server sends for metadata-only requests).
pub(super) fn partial(v: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": v["metadata"]})
}

pub(super) fn json_response(code: u16, v: &Value) -> Response<RespBody> {
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

pub(super) fn status_response(code: u16, message: &str) -> Response<RespBody> {
    let reason = match code {
        404 => "NotFound",
        409 if message.contains("already exists") => "AlreadyExists",
        409 => "Conflict",
        422 => "Invalid",
        403 => "Forbidden",
        415 => "UnsupportedMediaType",
        400 => "BadRequest",
        401 => "Unauthorized",
        405 => "MethodNotAllowed",
        413 => "RequestEntityTooLarge",
        503 => "ServiceUnavailable",
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
