//! Prometheus metrics under Bitnami's names, so existing dashboards and alerts keep working:
//! `sealed_secrets_controller_{unseal_requests_total, unseal_errors_total{reason,namespace},
//! condition_info{namespace,name,condition}, http_requests_total{path,code,method},
//! http_request_duration_seconds{path,method}, build_info{revision}}`.
//!
//! Served in the OpenMetrics text format (which Prometheus scrapes natively).
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Reasons of `unseal_errors_total`, as Bitnami labels them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorReason {
    /// The SealedSecret could not be read.
    Fetch,
    /// No key opened it (or it is malformed).
    Unseal,
    /// The Secret exists and belongs to someone else.
    Unmanaged,
    /// Writing the Secret failed.
    Update,
    /// Writing the status failed.
    Status,
}

impl ErrorReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Unseal => "unseal",
            Self::Unmanaged => "unmanaged",
            Self::Update => "update",
            Self::Status => "status",
        }
    }
}

fn default_buckets() -> Histogram {
    // Prometheus' DefBuckets, as Bitnami's histogram uses.
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// The controller's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    unseal_requests: Counter,
    unseal_errors: Family<Labels, Counter>,
    condition_info: Family<Labels, Gauge>,
    http_requests: Family<Labels, Counter>,
    http_duration: Family<Labels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric; `revision` labels `build_info`.
    pub fn new(revision: &str) -> Self {
        let mut registry = Registry::with_prefix("sealed_secrets_controller");
        let unseal_requests = Counter::default();
        registry.register(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            unseal_requests.clone(),
        );
        let unseal_errors = Family::<Labels, Counter>::default();
        registry.register(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            unseal_errors.clone(),
        );
        let condition_info = Family::<Labels, Gauge>::default();
        registry.register(
            "condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
            condition_info.clone(),
        );
        let http_requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "A counter for requests to the wrapped handler.",
            http_requests.clone(),
        );
        let http_duration =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(default_buckets);
        registry.register(
            "http_request_duration_seconds",
            "A histogram of latencies for requests.",
            http_duration.clone(),
        );
        let build_info = Family::<Labels, Gauge>::default();
        registry.register("build_info", "Build information.", build_info.clone());
        build_info
            .get_or_create(&vec![("revision".into(), revision.into())])
            .set(1);
        Self {
            registry: Mutex::new(registry),
            unseal_requests,
            unseal_errors,
            condition_info,
            http_requests,
            http_duration,
        }
    }

    /// One reconciliation of a SealedSecret.
    pub fn unseal_request(&self) {
        self.unseal_requests.inc();
    }

    /// One error, by reason and namespace.
    pub fn unseal_error(&self, reason: ErrorReason, namespace: &str) {
        self.unseal_errors
            .get_or_create(&vec![
                ("reason".into(), reason.as_str().into()),
                ("namespace".into(), namespace.into()),
            ])
            .inc();
    }

    /// Sets the `Synced` condition gauge: 1 true, -1 false, 0 unknown.
    pub fn condition(&self, namespace: &str, name: &str, synced: Option<bool>) {
        let v = match synced {
            Some(true) => 1,
            Some(false) => -1,
            None => 0,
        };
        self.condition_info
            .get_or_create(&condition_labels(namespace, name))
            .set(v);
    }

    /// Forgets the condition of a deleted SealedSecret.
    pub fn forget_condition(&self, namespace: &str, name: &str) {
        self.condition_info
            .remove(&condition_labels(namespace, name));
    }

    /// One HTTP request served.
    pub fn http_request(&self, path: &str, method: &str, code: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&vec![
                ("path".into(), path.into()),
                ("code".into(), code.to_string()),
                ("method".into(), method.to_lowercase()),
            ])
            .inc();
        self.http_duration
            .get_or_create(&vec![
                ("path".into(), path.into()),
                ("method".into(), method.to_lowercase()),
            ])
            .observe(seconds);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}

fn condition_labels(namespace: &str, name: &str) -> Labels {
    vec![
        ("namespace".into(), namespace.into()),
        ("name".into(), name.into()),
        ("condition".into(), "Synced".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_bitnami() {
        let m = Metrics::new("v1.2.3");
        m.unseal_request();
        m.unseal_error(ErrorReason::Unseal, "ns1");
        m.condition("ns1", "s1", Some(false));
        m.http_request("/v1/verify", "POST", 409, 0.01);
        let text = m.render();
        for want in [
            "sealed_secrets_controller_unseal_requests_total 1",
            "sealed_secrets_controller_unseal_errors_total{reason=\"unseal\",namespace=\"ns1\"} 1",
            "sealed_secrets_controller_condition_info{namespace=\"ns1\",name=\"s1\",condition=\"Synced\"} -1",
            "sealed_secrets_controller_http_requests_total{path=\"/v1/verify\",code=\"409\",method=\"post\"} 1",
            "sealed_secrets_controller_http_request_duration_seconds_bucket{le=\"0.025\",path=\"/v1/verify\",method=\"post\"} 1",
            "sealed_secrets_controller_build_info{revision=\"v1.2.3\"} 1",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
        m.forget_condition("ns1", "s1");
        assert!(!m.render().contains("name=\"s1\""));
    }
}
