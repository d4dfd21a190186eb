//! The service proxy (`/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`),
//! answered by forwarding to a local HTTP server a test registered with
//! [`FakeApi::forward_service`]: what `kubeseal` and `ksec seal` use to reach the
//! controller without a route into the cluster.
//!
//! As the API server does, the Service must exist (404 otherwise) and the port must be
//! one of its ports, by name or number (503 otherwise); a Service without a forward has
//! no endpoints (503). Only plain HTTP upstreams are forwarded.

use std::net::SocketAddr;

use bytes::Bytes;
use http::request::Parts;
use http::{header, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::http::{not_found, status_response, RespBody};
use super::store::FakeApi;

/// A service-proxy request, split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ProxyTarget {
    namespace: String,
    scheme: Option<String>,
    service: String,
    port: Option<String>,
    /// The path after `/proxy`, with its leading `/` (`/` when empty).
    rest: String,
}

impl ProxyTarget {
    /// Parses `/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy[/PATH]`.
    pub(super) fn parse(path: &str) -> Option<Self> {
        let tail = path.strip_prefix("/api/v1/namespaces/")?;
        let (namespace, tail) = tail.split_once("/services/")?;
        let (service, rest) = tail.split_once("/proxy").unwrap_or((tail, "\u{0}"));
        if rest == "\u{0}"
            || !(rest.is_empty() || rest.starts_with('/'))
            || namespace.contains('/')
            || service.contains('/')
        {
            return None;
        }
        let parts: Vec<&str> = service.split(':').collect();
        let (scheme, name, port) = match parts.as_slice() {
            [name] => (None, *name, None),
            [name, port] => (None, *name, Some(*port)),
            [scheme, name, port] => (Some(*scheme), *name, Some(*port)),
            _ => return None,
        };
        Some(Self {
            namespace: namespace.to_string(),
            scheme: scheme.filter(|s| !s.is_empty()).map(String::from),
            service: name.to_string(),
            port: port.filter(|p| !p.is_empty()).map(String::from),
            rest: if rest.is_empty() {
                "/".into()
            } else {
                rest.into()
            },
        })
    }
}

impl FakeApi {
    /// Forwards the proxy subresource of Service `namespace/name` (every port) to the
    /// plain-HTTP server at `to`. The Service object itself must be stored too (as in a
    /// cluster, where the proxy resolves it first).
    pub fn forward_service(&self, namespace: &str, name: &str, to: SocketAddr) {
        self.lock()
            .forwards
            .insert((namespace.to_string(), name.to_string()), to);
    }

    pub(super) async fn proxy(
        &self,
        target: ProxyTarget,
        parts: &Parts,
        body: Bytes,
    ) -> Response<RespBody> {
        let Some(service) = self.get("core/services", &target.namespace, &target.service) else {
            return status_response(404, &not_found("core/services", &target.service));
        };
        let ports = service["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let port_matches = |p: &Value, want: &str| {
            p["name"].as_str() == Some(want)
                || p["port"].as_i64().map(|n| n.to_string()).as_deref() == Some(want)
        };
        let found = match &target.port {
            Some(want) => ports.iter().any(|p| port_matches(p, want)),
            None => !ports.is_empty(),
        };
        if !found {
            return status_response(
                503,
                &format!(
                    "no service port {:?} found for service {:?}",
                    target.port.as_deref().unwrap_or(""),
                    target.service
                ),
            );
        }
        if target.scheme.as_deref().is_some_and(|s| s != "http") {
            return status_response(
                503,
                &format!(
                    "the fake API forwards plain HTTP only, not {}",
                    target.scheme.as_deref().unwrap_or("")
                ),
            );
        }
        let upstream = self
            .lock()
            .forwards
            .get(&(target.namespace.clone(), target.service.clone()))
            .copied();
        let Some(addr) = upstream else {
            return status_response(
                503,
                &format!("no endpoints available for service {:?}", target.service),
            );
        };
        match forward(addr, &target.rest, parts, body).await {
            Ok(resp) => resp,
            Err(e) => status_response(
                503,
                &format!("error trying to reach service: dial tcp {addr}: {e}"),
            ),
        }
    }
}

/// Sends the request on to `addr` over HTTP/1.1 and returns its answer.
async fn forward(
    addr: SocketAddr,
    path: &str,
    parts: &Parts,
    body: Bytes,
) -> Result<Response<RespBody>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let uri = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut req = Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .header(header::HOST, addr.to_string());
    for name in [header::CONTENT_TYPE, header::ACCEPT, header::USER_AGENT] {
        if let Some(v) = parts.headers.get(&name) {
            req = req.header(name, v);
        }
    }
    let resp = sender.send_request(req.body(Full::new(body))?).await?;
    let (head, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut out = Response::builder().status(head.status);
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(v) = head.headers.get(&name) {
            out = out.header(name, v);
        }
    }
    Ok(out.body(Full::new(body).map_err(|e| match e {}).boxed_unsync())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_in_every_form() {
        let t = ProxyTarget::parse(
            "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem",
        )
        .unwrap();
        assert_eq!(t.namespace, "kube-system");
        assert_eq!(t.scheme.as_deref(), Some("http"));
        assert_eq!(t.service, "sealed-secrets-controller");
        assert_eq!(t.port.as_deref(), Some("http"));
        assert_eq!(t.rest, "/v1/cert.pem");
        let t = ProxyTarget::parse("/api/v1/namespaces/a/services/web:8080/proxy").unwrap();
        assert_eq!((t.port.as_deref(), t.rest.as_str()), (Some("8080"), "/"));
        let t = ProxyTarget::parse("/api/v1/namespaces/a/services/web/proxy/x/y").unwrap();
        assert_eq!((t.scheme, t.port, t.rest.as_str()), (None, None, "/x/y"));
        assert!(ProxyTarget::parse("/api/v1/namespaces/a/services/web").is_none());
        assert!(ProxyTarget::parse("/api/v1/namespaces/a/services/web/status").is_none());
        assert!(ProxyTarget::parse("/api/v1/namespaces/a/services/web/proxyx").is_none());
    }
}
