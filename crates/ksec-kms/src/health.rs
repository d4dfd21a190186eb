//! A cache of backend health checks, so that the apiserver's Status polling (and
//! several callers at once) cost at most one real check per interval.
use ksec_keys::{Health, KeyBackend, KeyError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Cached result of [`KeyBackend::health`].
pub(crate) struct HealthCache {
    ok_ttl: Duration,
    fail_ttl: Duration,
    last: Mutex<Option<(Instant, Result<Health, KeyError>)>>,
}

impl HealthCache {
    /// Keeps a healthy result for `ok_ttl`, a failure for `fail_ttl`.
    pub(crate) fn new(ok_ttl: Duration, fail_ttl: Duration) -> Self {
        Self {
            ok_ttl,
            fail_ttl,
            last: Mutex::new(None),
        }
    }

    /// Forgets the cached result (after a reload).
    pub(crate) fn invalidate(&self) {
        if let Ok(mut g) = self.last.try_lock() {
            *g = None;
        }
    }

    /// The cached result, or a fresh check when it is too old. Concurrent callers
    /// wait for one check instead of each running their own.
    pub(crate) async fn check(&self, backend: Arc<dyn KeyBackend>) -> Result<Health, KeyError> {
        let mut g = self.last.lock().await;
        if let Some((at, r)) = g.as_ref() {
            let ttl = if r.is_ok() {
                self.ok_ttl
            } else {
                self.fail_ttl
            };
            if at.elapsed() < ttl {
                return r.clone();
            }
        }
        let r = backend.health().await;
        if let Err(e) = &r {
            tracing::warn!(backend = backend.kind(), error = %e, "backend unhealthy");
        }
        *g = Some((Instant::now(), r.clone()));
        r
    }
}
