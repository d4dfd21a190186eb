//! Prometheus metrics of the plugin: calls and errors by API version, operation,
//! backend and gRPC code, and latency histograms, in the text exposition format.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Labels of a call counter: API version, operation, backend, gRPC code.
type CallKey = (&'static str, &'static str, &'static str, &'static str);
/// Labels of a latency histogram: API version, operation, backend.
type LatencyKey = (&'static str, &'static str, &'static str);

/// Counters and histograms, keyed by labels.
#[derive(Default)]
pub struct Metrics {
    calls: Mutex<BTreeMap<CallKey, u64>>,
    latency: Mutex<BTreeMap<LatencyKey, Histogram>>,
}

impl Metrics {
    /// Records one call: `api` (v2, v1beta1), `op`, `backend`, outcome `code` (`OK` or a gRPC code name).
    pub(crate) fn record(
        &self,
        api: &'static str,
        op: &'static str,
        backend: &'static str,
        code: &'static str,
        took: Duration,
    ) {
        if let Ok(mut c) = self.calls.lock() {
            *c.entry((api, op, backend, code)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry((api, op, backend)).or_default();
            let s = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if s <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += s;
            h.count += 1;
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP ksec_kms_calls_total KMS plugin calls by API version, operation, backend and gRPC code.\n");
        out.push_str("# TYPE ksec_kms_calls_total counter\n");
        if let Ok(c) = self.calls.lock() {
            for ((api, op, backend, code), n) in c.iter() {
                let _ = writeln!(out, "ksec_kms_calls_total{{api=\"{api}\",operation=\"{op}\",backend=\"{backend}\",code=\"{code}\"}} {n}");
            }
        }
        out.push_str("# HELP ksec_kms_call_duration_seconds Latency of KMS plugin calls.\n");
        out.push_str("# TYPE ksec_kms_call_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for ((api, op, backend), h) in l.iter() {
                let labels = format!("api=\"{api}\",operation=\"{op}\",backend=\"{backend}\"");
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "ksec_kms_call_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "ksec_kms_call_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "ksec_kms_call_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "ksec_kms_call_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        out
    }
}

/// The name of a gRPC status code as the metrics label it (`OK` for success, else
/// the code's name as tonic spells it, e.g. `InvalidArgument`).
pub(crate) fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_tonics_debug_names() {
        for c in 1..=16 {
            let code = tonic::Code::from_i32(c);
            assert_eq!(code_name(code), format!("{code:?}"));
        }
        assert_eq!(code_name(tonic::Code::Ok), "OK");
    }

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("v2", "encrypt", "local", "OK", Duration::from_micros(300));
        m.record("v2", "encrypt", "local", "OK", Duration::from_millis(3));
        m.record(
            "v2",
            "decrypt",
            "local",
            "InvalidArgument",
            Duration::from_micros(100),
        );
        let t = m.render();
        assert!(t.contains("ksec_kms_calls_total{api=\"v2\",operation=\"encrypt\",backend=\"local\",code=\"OK\"} 2"), "{t}");
        assert!(t.contains("code=\"InvalidArgument\"} 1"), "{t}");
        assert!(
            t.contains("operation=\"encrypt\",backend=\"local\",le=\"0.001\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("operation=\"encrypt\",backend=\"local\",le=\"0.005\"} 2"),
            "{t}"
        );
        assert!(t.contains("ksec_kms_call_duration_seconds_count{api=\"v2\",operation=\"encrypt\",backend=\"local\"} 2"), "{t}");
    }
}
