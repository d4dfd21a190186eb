//! `/healthz`, `/readyz`, `/livez` and `/metrics` over HTTP (axum).
use crate::Plugin;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;

async fn healthz(State(p): State<Arc<Plugin>>) -> impl IntoResponse {
    match p.health().await {
        Ok(h) => (StatusCode::OK, format!("ok {}\n", h.key_id)),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {e}\n")),
    }
}

async fn livez() -> &'static str {
    "ok\n"
}

async fn metrics(State(p): State<Arc<Plugin>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        p.metrics().render(),
    )
}

/// Serves the endpoints on `listener` until `shutdown` resolves. `/livez` says the
/// process runs; `/healthz` and `/readyz` that the backend wraps and unwraps (cached).
pub async fn serve_health(
    listener: tokio::net::TcpListener,
    plugin: Arc<Plugin>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics))
        .with_state(plugin);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
