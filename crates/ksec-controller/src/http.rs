//! The HTTP endpoints, as Bitnami's controller serves them (kubeseal talks to these
//! through the API server's service proxy):
//! - `GET /healthz` → `ok`;
//! - `GET /v1/cert.pem` → the newest sealing certificate (`application/x-pem-file`);
//! - `POST /v1/verify` → 200 if the posted SealedSecret opens with a registered key,
//!   409 Conflict if not (`kubeseal --validate`);
//! - `POST /v1/rotate` → the posted SealedSecret re-sealed with the newest key
//!   (`kubeseal --re-encrypt`), JSON; 409 if it does not open.
//!
//! `/v1/verify` and `/v1/rotate` are rate-limited per path and `X-Forwarded-For` value
//! (GCRA, `--rate-limit` per second with `--rate-limit-burst`), answering 429. Bad input
//! is a 400 with a message; nothing here ever returns or logs a secret value.
//! Metrics are served on their own listener (`/metrics`).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ksec_seal::SealedSecret;

use crate::error::{Error, Result};
use crate::keyring::KeyRing;
use crate::metrics::Metrics;
use crate::reconcile::unseal_with_ring;

/// Largest request body accepted (a SealedSecret is at most ~1 MiB, as any object).
const MAX_BODY: usize = 2 << 20;

/// State shared by the handlers.
#[derive(Debug)]
pub struct HttpState {
    /// Registered keys.
    pub keys: Arc<KeyRing>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The rate limiter of /v1/verify and /v1/rotate.
    pub limiter: RateLimiter,
}

/// A GCRA rate limiter keyed by (path, X-Forwarded-For), as Bitnami's (`throttled`):
/// `rate` requests per second sustained, `burst` more at once.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    tat: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// `rate` per second (at least 1), `burst` extra.
    pub fn new(rate: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(1) / rate.max(1);
        Self {
            interval,
            tolerance: interval * burst,
            tat: Mutex::new(HashMap::new()),
        }
    }

    /// True if a request under `key` may pass now.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut tats = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        if tats.len() > 65_536 {
            tats.retain(|_, t| *t > now);
        }
        let tat = tats.get(key).copied().unwrap_or(now).max(now);
        if tat.duration_since(now) > self.tolerance {
            return false;
        }
        tats.insert(key.to_string(), tat + self.interval);
        true
    }
}

/// The API router (`--listen-addr`).
pub fn router(state: Arc<HttpState>) -> Router {
    let limited = Router::new()
        .route("/v1/verify", post(verify))
        .route("/v1/rotate", post(rotate))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit,
        ));
    Router::new()
        .route(
            "/healthz",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "ok\n",
                )
            }),
        )
        .route("/v1/cert.pem", get(cert))
        .merge(limited)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            instrument,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The metrics router (`--listen-metrics-addr`).
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.render(),
                )
            }
        }),
    )
}

async fn instrument(State(state): State<Arc<HttpState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    if matches!(path.as_str(), "/v1/verify" | "/v1/rotate" | "/v1/cert.pem") {
        state.metrics.http_request(
            &path,
            &method,
            resp.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
    }
    resp
}

async fn rate_limit(State(state): State<Arc<HttpState>>, req: Request, next: Next) -> Response {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let key = format!("{}\n{forwarded}", req.uri().path());
    if !state.limiter.allow(&key) {
        return (StatusCode::TOO_MANY_REQUESTS, "limit exceeded\n").into_response();
    }
    next.run(req).await
}

async fn cert(State(state): State<Arc<HttpState>>) -> Response {
    match state.keys.cert_pem() {
        Some(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot get certificate\n",
        )
            .into_response(),
    }
}

/// Reads exactly one SealedSecret document (JSON or YAML) from a request body; the
/// error is the message of a 400 answer.
pub fn one_document(body: &[u8]) -> Result<serde_json::Value> {
    let docs =
        ksec_seal::docs::parse_documents(body).map_err(|source| Error::RequestBody { source })?;
    match <[serde_json::Value; 1]>::try_from(docs) {
        Ok([doc]) => {
            SealedSecret::from_value(&doc).map_err(|source| Error::NotASealedSecret { source })?;
            Ok(doc)
        }
        Err(docs) => Err(Error::DocumentCount { found: docs.len() }),
    }
}

fn bad_request(e: Error) -> Response {
    (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
}

async fn verify(State(state): State<Arc<HttpState>>, _h: HeaderMap, body: Bytes) -> Response {
    let doc = match one_document(&body) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    let keys = state.keys.clone();
    let ok = tokio::task::spawn_blocking(move || unseal_with_ring(&doc, &keys, None).is_ok())
        .await
        .unwrap_or(false);
    if ok {
        StatusCode::OK.into_response()
    } else {
        StatusCode::CONFLICT.into_response()
    }
}

async fn rotate(State(state): State<Arc<HttpState>>, body: Bytes) -> Response {
    let doc = match one_document(&body) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    let keys = state.keys.clone();
    let out = tokio::task::spawn_blocking(move || reseal(&doc, &keys)).await;
    match out {
        Ok(Ok(json)) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Ok(Err(e)) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Re-seals every value with the newest key ([`ksec_seal::reseal`], the same function
/// as `ksec reseal`): the scope, the template (with its `template.data` templates, which
/// Bitnami's rotate flattens) and the legacy `spec.data` blob are kept; the answer is
/// the SealedSecret as kubeseal's JSON.
pub fn reseal(doc: &serde_json::Value, keys: &KeyRing) -> Result<String> {
    let ss = SealedSecret::from_value(doc).map_err(|source| Error::NotASealedSecret { source })?;
    let newest = keys.newest().ok_or(Error::NoKeys)?;
    let ring = keys.preferred(None);
    let private: Vec<&ksec_crypto::rsa::RsaPrivateKey> = ring.iter().map(|k| &k.key.key).collect();
    let resealed = ksec_seal::reseal(&ss, &private, newest.key.public_key())
        .map_err(|source| Error::Reseal { source })?;
    Ok(ksec_seal::render::json::to_string_pretty(
        &resealed.to_value(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Request bodies come from anyone who can reach the Service: never a panic.
        #[test]
        fn request_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(doc) = one_document(&body) {
                let _ = reseal(&doc, &KeyRing::new());
                let _ = unseal_with_ring(&doc, &KeyRing::new(), None);
            }
        }

        #[test]
        fn sealedsecret_shaped_bodies_never_panic(
            name in "[a-z0-9.-]{0,12}",
            value in "[A-Za-z0-9+/=!]{0,80}",
            data in proptest::option::of("[A-Za-z0-9+/=]{0,40}"),
        ) {
            let doc = serde_json::json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"encryptedData": {"k": value}, "data": data}});
            let body = serde_json::to_vec(&doc).unwrap_or_default();
            if let Ok(doc) = one_document(&body) {
                let _ = reseal(&doc, &KeyRing::new());
                let _ = unseal_with_ring(&doc, &KeyRing::new(), None);
            }
        }
    }

    #[test]
    fn gcra_allows_burst_plus_one_then_the_rate() {
        let l = RateLimiter::new(10, 2);
        let passed = (0..10).filter(|_| l.allow("k")).count();
        assert_eq!(passed, 3);
        std::thread::sleep(Duration::from_millis(120));
        assert!(l.allow("k"));
        assert!(l.allow("other"));
    }
}
