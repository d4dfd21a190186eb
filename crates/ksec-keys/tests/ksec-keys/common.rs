//! Shared helpers: a server that accepts connections and never answers, and a
//! concurrency exercise any backend must pass.
use ksec_keys::{KeyBackend, SecretBytes, WrapContext};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TCP listener on 127.0.0.1 that accepts and then says nothing (a hung service).
pub(crate) struct Silent {
    pub port: u16,
    _stop: std::sync::mpsc::Sender<()>,
}

impl Silent {
    pub(crate) fn start() -> Self {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let start = Instant::now();
            // Bounded: gives up after a minute or when the test drops the guard.
            while start.elapsed() < Duration::from_secs(60)
                && matches!(rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty))
            {
                if let Ok((s, _)) = l.accept() {
                    held.push(s);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self { port, _stop: tx }
    }
}

/// 64 tasks wrap and unwrap at once on one backend; every data key comes back.
pub(crate) async fn concurrent_round_trips(b: Arc<dyn KeyBackend>) {
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let dek = ksec_crypto::rand::secret(32).unwrap();
            let ctx = WrapContext::new().with("i", i.to_string());
            let w = b.wrap(&dek, &ctx).await.expect("wrap");
            let back = b.unwrap(&w, &ctx).await.expect("unwrap");
            assert_eq!(back, dek);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// A data key of recognisable bytes, to check that no error message carries it.
pub(crate) fn marked_dek() -> SecretBytes {
    SecretBytes::from_slice(b"SECRET-DEK-BYTES-0123456789abcde")
}

/// Short per-attempt timeouts, for the tests that a dead or silent peer fails fast.
pub(crate) fn fast_retry() -> ksec_keys::RetryPolicy {
    ksec_keys::RetryPolicy {
        timeout: Duration::from_millis(400),
        attempts: 2,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
    }
}

/// Generous timeouts, for load tests whose subject is correctness under concurrency, not
/// latency: 64 concurrent calls to moto or OpenBao on a busy 2-core machine can take
/// seconds each, and a per-attempt timeout would then fail a test that is not about it.
pub(crate) fn patient_retry() -> ksec_keys::RetryPolicy {
    ksec_keys::RetryPolicy {
        timeout: Duration::from_secs(30),
        ..fast_retry()
    }
}
