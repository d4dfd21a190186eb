//! Per-call timeouts and bounded retries with exponential backoff.
use crate::{KeyError, Result};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// How a backend times out and retries one operation.
///
/// Each attempt gets `timeout`; only transient errors ([`KeyError::is_transient`])
/// are retried, at most `attempts` tries in all, sleeping `initial_backoff`,
/// doubling up to `max_backoff` (with jitter) in between. So a call never takes
/// longer than `attempts × timeout + backoffs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Time limit of one attempt (in configuration: milliseconds, `timeout_ms`).
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Tries in all, at least 1.
    pub attempts: u32,
    /// First pause between tries (`initial_backoff_ms`).
    #[serde(rename = "initial_backoff_ms", with = "millis")]
    pub initial_backoff: Duration,
    /// Longest pause between tries (`max_backoff_ms`).
    #[serde(rename = "max_backoff_ms", with = "millis")]
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// A policy of `attempts` tries that, with the pauses between them, ends within
    /// `budget`: each try gets `budget / (attempts + 1)`, and the pauses share at most
    /// a fifth of one more such slice (never more than 200 ms each). kube-apiserver
    /// gives a KMS call 3 s: two tries of 1 s, pauses of 50 to 200 ms.
    pub fn within(budget: Duration, attempts: u32) -> Self {
        let attempts = attempts.max(1);
        let slice = budget / (attempts + 1);
        let max_backoff = (slice / (5 * (attempts - 1).max(1))).min(Duration::from_millis(200));
        Self {
            timeout: slice,
            attempts,
            initial_backoff: (max_backoff / 4).min(Duration::from_millis(50)),
            max_backoff,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl RetryPolicy {
    /// Runs `op` under this policy. `operation` names it in a timeout error.
    pub async fn run<T, F, Fut>(
        &self,
        backend: &'static str,
        operation: &'static str,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let attempts = self.attempts.max(1);
        let mut backoff = self.initial_backoff;
        let mut attempt = 1;
        loop {
            let res = match tokio::time::timeout(self.timeout, op()).await {
                Ok(r) => r,
                Err(_) => Err(KeyError::Timeout {
                    backend,
                    operation,
                    after: self.timeout,
                }),
            };
            match res {
                Err(e) if e.is_transient() && attempt < attempts => {
                    tracing::debug!(backend, operation, attempt, error = %e, "transient failure, retrying");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Full jitter in [d/2, d], so that many callers retrying together spread out.
fn jitter(d: Duration) -> Duration {
    let r = ksec_crypto::rand::array::<2>()
        .map(u16::from_le_bytes)
        .unwrap_or(u16::MAX);
    d / 2 + (d / 2).mul_f64(r as f64 / u16::MAX as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            timeout: Duration::from_millis(50),
            attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        }
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        let n = AtomicU32::new(0);
        let r = fast(3)
            .run("test", "wrap", || async {
                if n.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(KeyError::Unavailable {
                        backend: "test",
                        endpoint: "x".into(),
                        message: "refused".into(),
                    })
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn never_retries_permanent_errors() {
        let n = AtomicU32::new(0);
        let r: Result<()> = fast(5)
            .run("test", "unwrap", || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(KeyError::Auth {
                    backend: "test",
                    message: "denied".into(),
                })
            })
            .await;
        assert!(matches!(r, Err(KeyError::Auth { .. })));
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn times_out_each_attempt_and_gives_up() {
        let n = AtomicU32::new(0);
        let start = std::time::Instant::now();
        let r: Result<()> = fast(2)
            .run("test", "wrap", || async {
                n.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            })
            .await;
        assert!(matches!(
            r,
            Err(KeyError::Timeout {
                operation: "wrap",
                ..
            })
        ));
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_budget_holds_every_try_and_pause() {
        assert_eq!(
            RetryPolicy::within(Duration::from_secs(3), 2),
            RetryPolicy {
                timeout: Duration::from_secs(1),
                attempts: 2,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(200),
            }
        );
        for budget_ms in [1, 100, 3_000, 10_000, 60_000] {
            for attempts in 0..8 {
                let budget = Duration::from_millis(budget_ms);
                let p = RetryPolicy::within(budget, attempts);
                let worst = p.timeout * p.attempts + p.max_backoff * (p.attempts - 1);
                assert!(worst < budget, "{budget:?} x{attempts}: {p:?}");
                assert!(p.initial_backoff <= p.max_backoff);
            }
        }
    }

    #[test]
    fn config_fields_in_milliseconds() {
        let p: RetryPolicy = serde_json::from_str(r#"{"timeout_ms": 250, "attempts": 1}"#).unwrap();
        assert_eq!(p.timeout, Duration::from_millis(250));
        assert_eq!(p.attempts, 1);
        assert_eq!(p.max_backoff, RetryPolicy::default().max_backoff);
        let e = serde_json::from_str::<RetryPolicy>(r#"{"timeout": 1}"#).unwrap_err();
        assert!(e.to_string().contains("timeout"), "{e}");
    }
}
